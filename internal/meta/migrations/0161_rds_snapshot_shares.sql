-- The accounts a manual DB snapshot is shared with (its restore
-- attribute, ModifyDBSnapshotAttribute); "all" is refused by coffer.
CREATE TABLE rds_snapshot_shares (
	snapshot_arn TEXT NOT NULL,
	account_id TEXT NOT NULL,
	PRIMARY KEY (snapshot_arn, account_id)
);
CREATE INDEX rds_snapshot_shares_account ON rds_snapshot_shares (account_id);
