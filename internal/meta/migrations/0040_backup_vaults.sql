-- AWS Backup: vaults, their tags, and the organization's and account's
-- settings.
CREATE TABLE backup_vaults (
	account_id TEXT NOT NULL,
	region TEXT NOT NULL,
	name TEXT NOT NULL,
	arn TEXT NOT NULL UNIQUE,
	encryption_key_arn TEXT NOT NULL,
	creator_request_id TEXT NOT NULL DEFAULT '',
	access_policy TEXT,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (account_id, region, name)
);

CREATE TABLE backup_tags (
	resource_arn TEXT NOT NULL,
	tag_key TEXT NOT NULL,
	tag_value TEXT NOT NULL,
	PRIMARY KEY (resource_arn, tag_key)
);

-- Global settings are the organization's, kept under its management
-- account, which alone may change them.
CREATE TABLE backup_global_settings (
	management_account_id TEXT NOT NULL,
	name TEXT NOT NULL,
	value TEXT NOT NULL,
	updated_at BIGINT NOT NULL,
	PRIMARY KEY (management_account_id, name)
);

CREATE TABLE backup_region_settings (
	account_id TEXT NOT NULL,
	region TEXT NOT NULL,
	resource_type TEXT NOT NULL,
	opted_in INTEGER NOT NULL,
	PRIMARY KEY (account_id, region, resource_type)
);
