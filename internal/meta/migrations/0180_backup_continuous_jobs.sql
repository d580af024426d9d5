-- AWS Backup continuous backup (internal/backup/continuous.go): a backup
-- job started by a plan rule with EnableContinuousBackup creates or
-- updates the resource's continuous recovery point instead of taking a
-- snapshot.
ALTER TABLE backup_jobs ADD COLUMN continuous INTEGER NOT NULL DEFAULT 0;
