-- RDS: DB instances and their tags. An instance is a database on a host
-- (a PostgreSQL server, or a SQLite file) that coffer created, restored
-- or was told about (registered).
CREATE TABLE rds_instances (
	account_id TEXT NOT NULL,
	region TEXT NOT NULL,
	-- identifier is lower-cased, as RDS stores it.
	identifier TEXT NOT NULL,
	arn TEXT NOT NULL UNIQUE,
	resource_id TEXT NOT NULL UNIQUE,
	engine TEXT NOT NULL,
	engine_version TEXT NOT NULL DEFAULT '',
	instance_class TEXT NOT NULL,
	allocated_storage INTEGER NOT NULL,
	master_username TEXT NOT NULL,
	db_name TEXT NOT NULL,
	status TEXT NOT NULL,
	status_message TEXT NOT NULL DEFAULT '',
	-- origin: created, registered or restored. Only created and restored
	-- instances are dropped from their host on delete.
	origin TEXT NOT NULL,
	storage_encrypted INTEGER NOT NULL,
	-- kms_key_arn is the storage key when storage_encrypted, and the key
	-- sealing the credentials always (aws/rds for unencrypted instances).
	kms_key_arn TEXT NOT NULL,
	grant_id TEXT NOT NULL DEFAULT '', -- the grant IDs, space-separated
	-- target is the engine.Target as JSON, without its password.
	target TEXT NOT NULL,
	-- credentials is the sealed envelope described in internal/rds/doc.go.
	credentials BLOB,
	deletion_protection INTEGER NOT NULL DEFAULT 0,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	PRIMARY KEY (account_id, region, identifier)
);

CREATE TABLE rds_tags (
	resource_arn TEXT NOT NULL,
	tag_key TEXT NOT NULL,
	tag_value TEXT NOT NULL,
	PRIMARY KEY (resource_arn, tag_key)
);
