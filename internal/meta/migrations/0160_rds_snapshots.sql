-- Manual RDS DB snapshots (CreateDBSnapshot). The data is a manifest
-- (manifest_id) in the vault storage domain REGION / ACCOUNT.rds.snapshots
-- under kms_key_arn; engine_metadata is the snapshot's engine.Metadata
-- JSON. identifier is lower-cased, as RDS stores it.
CREATE TABLE rds_snapshots (
	account_id TEXT NOT NULL,
	region TEXT NOT NULL,
	identifier TEXT NOT NULL,
	arn TEXT NOT NULL UNIQUE,
	instance_identifier TEXT NOT NULL,
	instance_arn TEXT NOT NULL,
	engine TEXT NOT NULL,
	engine_version TEXT NOT NULL,
	instance_class TEXT NOT NULL,
	allocated_storage INTEGER NOT NULL,
	db_name TEXT NOT NULL,
	master_username TEXT NOT NULL,
	storage_encrypted INTEGER NOT NULL,
	kms_key_arn TEXT NOT NULL,
	status TEXT NOT NULL,
	manifest_id TEXT NOT NULL DEFAULT '',
	engine_metadata TEXT NOT NULL DEFAULT '',
	size_bytes BIGINT NOT NULL DEFAULT 0,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (account_id, region, identifier)
);
