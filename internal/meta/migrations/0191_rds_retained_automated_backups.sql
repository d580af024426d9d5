-- Retained automated backups (internal/rds, retained.go): the automated
-- backups (WAL archive) of a PostgreSQL instance deleted with
-- DeleteAutomatedBackups false, kept until deleted_at plus the
-- instance's BackupRetentionPeriod days or DeleteDBInstanceAutomatedBackup.
-- instance is the deleted instance's exported fields as JSON (rds.Instance);
-- grant_id the KMS grant RDS reads the archive with, retired with it.
CREATE TABLE rds_retained_automated_backups (
	arn TEXT PRIMARY KEY,
	account_id TEXT NOT NULL,
	region TEXT NOT NULL,
	identifier TEXT NOT NULL,
	resource_id TEXT NOT NULL,
	instance TEXT NOT NULL,
	grant_id TEXT NOT NULL,
	deleted_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL
);
CREATE INDEX rds_retained_automated_backups_owner ON rds_retained_automated_backups (account_id, region, identifier);
