-- A backup vault's notification configuration: the SNS topic and the
-- events (a JSON array of BackupVaultEvent names) it is told about.
CREATE TABLE backup_vault_notifications (
	vault_arn TEXT PRIMARY KEY,
	topic_arn TEXT NOT NULL,
	events TEXT NOT NULL
);
