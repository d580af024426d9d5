-- AWS Backup jobs: backup, copy and restore jobs share one table; the
-- columns of the other kinds stay empty. A running job's worker renews
-- heartbeat_at; a job whose heartbeat stops (its node died) is failed by
-- the sweeper.
CREATE TABLE backup_jobs (
	id TEXT PRIMARY KEY,
	kind TEXT NOT NULL,
	account_id TEXT NOT NULL,
	region TEXT NOT NULL,
	state TEXT NOT NULL,
	status_message TEXT NOT NULL DEFAULT '',
	percent_done TEXT NOT NULL DEFAULT '0.0',
	resource_arn TEXT NOT NULL DEFAULT '',
	resource_type TEXT NOT NULL DEFAULT '',
	resource_name TEXT NOT NULL DEFAULT '',
	vault_name TEXT NOT NULL DEFAULT '',
	vault_arn TEXT NOT NULL DEFAULT '',
	recovery_point_arn TEXT NOT NULL DEFAULT '',
	encryption_key_arn TEXT NOT NULL DEFAULT '',
	iam_role_arn TEXT NOT NULL DEFAULT '',
	idempotency_token TEXT NOT NULL DEFAULT '',
	destination_vault_arn TEXT NOT NULL DEFAULT '',
	destination_recovery_point_arn TEXT NOT NULL DEFAULT '',
	restore_metadata TEXT NOT NULL DEFAULT '',
	created_resource_arn TEXT NOT NULL DEFAULT '',
	validation_status TEXT NOT NULL DEFAULT '',
	validation_message TEXT NOT NULL DEFAULT '',
	cold_after_days BIGINT NOT NULL DEFAULT 0,
	delete_after_days BIGINT NOT NULL DEFAULT 0,
	recovery_point_tags TEXT NOT NULL DEFAULT '',
	bytes_transferred BIGINT NOT NULL DEFAULT 0,
	size_bytes BIGINT NOT NULL DEFAULT 0,
	creation_date BIGINT NOT NULL,
	start_by BIGINT NOT NULL DEFAULT 0,
	complete_by BIGINT NOT NULL DEFAULT 0,
	completion_date BIGINT NOT NULL DEFAULT 0,
	heartbeat_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX backup_jobs_list ON backup_jobs (account_id, kind, creation_date);
CREATE INDEX backup_jobs_active ON backup_jobs (state, heartbeat_at);
CREATE UNIQUE INDEX backup_jobs_idempotency ON backup_jobs (account_id, kind, idempotency_token) WHERE idempotency_token <> '';
