-- AWS Backup continuous backup of RDS instances (internal/rds/backupcontinuous.go):
-- the continuous recovery point that manages an instance's automated
-- backups (DescribeDBInstances' AwsBackupRecoveryPointArn); while it
-- does, ModifyDBInstance keeps the instance's BackupRetentionPeriod.
CREATE TABLE rds_backup_recovery_points (
	arn TEXT PRIMARY KEY,
	recovery_point_arn TEXT NOT NULL
);
