-- RDS automated backups (internal/rds/automated.go): an instance's
-- PreferredBackupWindow, "hh24:mi-hh24:mi" in UTC, in which its daily
-- base backup is taken.
CREATE TABLE rds_backup_windows (
	arn TEXT PRIMARY KEY,
	backup_window TEXT NOT NULL
);
