-- KMS keys, their material versions, aliases, grants and tags. Times are
-- Unix nanoseconds; 0 means "not set".
CREATE TABLE kms_keys (
	id TEXT PRIMARY KEY,
	arn TEXT NOT NULL UNIQUE,
	account_id TEXT NOT NULL,
	region TEXT NOT NULL,
	description TEXT NOT NULL,
	key_spec TEXT NOT NULL,
	key_usage TEXT NOT NULL,
	key_manager TEXT NOT NULL,
	managed_service TEXT NOT NULL,
	state TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	deletion_date BIGINT NOT NULL,
	pending_window_days INTEGER NOT NULL,
	policy TEXT NOT NULL,
	policy_version BIGINT NOT NULL,
	current_material INTEGER NOT NULL,
	rotation_enabled INTEGER NOT NULL,
	rotation_period_days INTEGER NOT NULL,
	next_rotation BIGINT NOT NULL,
	on_demand_rotations INTEGER NOT NULL
);
CREATE INDEX kms_keys_account ON kms_keys (account_id, region, id);
CREATE INDEX kms_keys_deletion ON kms_keys (state, deletion_date);
CREATE INDEX kms_keys_rotation ON kms_keys (rotation_enabled, next_rotation);

CREATE TABLE kms_key_material (
	key_id TEXT NOT NULL REFERENCES kms_keys(id),
	version INTEGER NOT NULL,
	sealed BLOB NOT NULL,
	created_at BIGINT NOT NULL,
	rotation_type TEXT NOT NULL,
	PRIMARY KEY (key_id, version)
);

CREATE TABLE kms_aliases (
	account_id TEXT NOT NULL,
	region TEXT NOT NULL,
	name TEXT NOT NULL,
	key_id TEXT NOT NULL REFERENCES kms_keys(id),
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	PRIMARY KEY (account_id, region, name)
);
CREATE INDEX kms_aliases_key ON kms_aliases (key_id);

CREATE TABLE kms_grants (
	id TEXT PRIMARY KEY,
	key_id TEXT NOT NULL REFERENCES kms_keys(id),
	name TEXT NOT NULL,
	grantee TEXT NOT NULL,
	retiring TEXT NOT NULL,
	issuing_account TEXT NOT NULL,
	operations TEXT NOT NULL,
	constraints TEXT NOT NULL,
	token TEXT NOT NULL,
	created_at BIGINT NOT NULL
);
CREATE INDEX kms_grants_key ON kms_grants (key_id);
CREATE INDEX kms_grants_grantee ON kms_grants (grantee);
CREATE INDEX kms_grants_retiring ON kms_grants (retiring);

CREATE TABLE kms_tags (
	key_id TEXT NOT NULL REFERENCES kms_keys(id),
	tag_key TEXT NOT NULL,
	tag_value TEXT NOT NULL,
	PRIMARY KEY (key_id, tag_key)
);
