-- Portable SQL: BLOB becomes BYTEA on PostgreSQL; times are Unix
-- nanoseconds in BIGINT columns.
CREATE TABLE organizations (
	id TEXT PRIMARY KEY,
	arn TEXT NOT NULL,
	management_account_id TEXT NOT NULL,
	feature_set TEXT NOT NULL,
	created_at BIGINT NOT NULL
);

CREATE TABLE accounts (
	id TEXT PRIMARY KEY,
	name TEXT NOT NULL,
	email TEXT NOT NULL,
	org_id TEXT REFERENCES organizations(id),
	status TEXT NOT NULL,
	joined_method TEXT NOT NULL,
	created_at BIGINT NOT NULL
);

CREATE TABLE iam_users (
	account_id TEXT NOT NULL REFERENCES accounts(id),
	name TEXT NOT NULL,
	user_id TEXT NOT NULL UNIQUE,
	path TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (account_id, name)
);

CREATE TABLE access_keys (
	access_key_id TEXT PRIMARY KEY,
	account_id TEXT NOT NULL REFERENCES accounts(id),
	user_name TEXT NOT NULL,
	sealed_secret BLOB NOT NULL,
	status TEXT NOT NULL,
	created_at BIGINT NOT NULL
);
CREATE INDEX access_keys_user ON access_keys (account_id, user_name);

-- The IAM policies attached to users; the identity issue adds roles and
-- managed policies.
CREATE TABLE iam_user_policies (
	account_id TEXT NOT NULL,
	user_name TEXT NOT NULL,
	policy_name TEXT NOT NULL,
	document TEXT NOT NULL,
	PRIMARY KEY (account_id, user_name, policy_name),
	FOREIGN KEY (account_id, user_name) REFERENCES iam_users(account_id, name)
);
