-- AWS Backup recovery points. A recovery point is COMPLETED only once its
-- data is committed in the vault's storage (manifest_id set).
CREATE TABLE backup_recovery_points (
	arn TEXT PRIMARY KEY,
	account_id TEXT NOT NULL,
	region TEXT NOT NULL,
	vault_name TEXT NOT NULL,
	resource_arn TEXT NOT NULL,
	resource_type TEXT NOT NULL,
	resource_name TEXT NOT NULL DEFAULT '',
	status TEXT NOT NULL,
	status_message TEXT NOT NULL DEFAULT '',
	encryption_key_arn TEXT NOT NULL,
	iam_role_arn TEXT NOT NULL DEFAULT '',
	source_vault_arn TEXT NOT NULL DEFAULT '',
	parent_recovery_point_arn TEXT NOT NULL DEFAULT '',
	created_by_job_id TEXT NOT NULL DEFAULT '',
	creation_date BIGINT NOT NULL,
	completion_date BIGINT NOT NULL DEFAULT 0,
	size_bytes BIGINT NOT NULL DEFAULT 0,
	manifest_id TEXT NOT NULL DEFAULT '',
	engine_metadata TEXT NOT NULL DEFAULT '',
	restore_metadata TEXT NOT NULL DEFAULT '',
	cold_after_days BIGINT NOT NULL DEFAULT 0,
	delete_after_days BIGINT NOT NULL DEFAULT 0,
	storage_class TEXT NOT NULL DEFAULT 'WARM'
);
CREATE INDEX backup_recovery_points_vault ON backup_recovery_points (account_id, region, vault_name, creation_date);
CREATE INDEX backup_recovery_points_resource ON backup_recovery_points (resource_arn, creation_date);
