-- Organizations (roots, OUs, service access), the IAM subset (roles,
-- managed policies, attachments, tags), STS sessions and the audit trail.
-- Portable SQL: BLOB becomes BYTEA on PostgreSQL; times are Unix
-- nanoseconds in BIGINT columns.

-- The root and the organizational units of each organization. path is
-- the value of aws:PrincipalOrgPaths for an account directly under the
-- unit: o-xxx/r-xxxx/ou-xxxx-yyyyyyyy/.
CREATE TABLE org_units (
	id TEXT PRIMARY KEY,
	org_id TEXT NOT NULL REFERENCES organizations(id),
	parent_id TEXT,
	name TEXT NOT NULL,
	arn TEXT NOT NULL,
	path TEXT NOT NULL,
	created_at BIGINT NOT NULL
);
CREATE INDEX org_units_parent ON org_units (parent_id);

ALTER TABLE accounts ADD COLUMN parent_id TEXT;
ALTER TABLE accounts ADD COLUMN joined_at BIGINT;

CREATE TABLE org_service_access (
	org_id TEXT NOT NULL REFERENCES organizations(id),
	service_principal TEXT NOT NULL,
	enabled_at BIGINT NOT NULL,
	PRIMARY KEY (org_id, service_principal)
);

CREATE TABLE org_create_account_status (
	id TEXT PRIMARY KEY,
	org_id TEXT NOT NULL REFERENCES organizations(id),
	account_name TEXT NOT NULL,
	state TEXT NOT NULL,
	account_id TEXT,
	failure_reason TEXT,
	requested_at BIGINT NOT NULL,
	completed_at BIGINT
);

-- IAM names are unique regardless of case.
CREATE UNIQUE INDEX iam_users_lname ON iam_users (account_id, lower(name));

CREATE TABLE iam_roles (
	account_id TEXT NOT NULL REFERENCES accounts(id),
	name TEXT NOT NULL,
	role_id TEXT NOT NULL UNIQUE,
	path TEXT NOT NULL,
	trust_policy TEXT NOT NULL,
	description TEXT NOT NULL,
	max_session_duration INTEGER NOT NULL,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (account_id, name)
);
CREATE UNIQUE INDEX iam_roles_lname ON iam_roles (account_id, lower(name));

CREATE TABLE iam_role_policies (
	account_id TEXT NOT NULL,
	role_name TEXT NOT NULL,
	policy_name TEXT NOT NULL,
	document TEXT NOT NULL,
	PRIMARY KEY (account_id, role_name, policy_name),
	FOREIGN KEY (account_id, role_name) REFERENCES iam_roles(account_id, name)
);

-- Customer-managed policies; AWS-managed ones are built in.
CREATE TABLE iam_policies (
	arn TEXT PRIMARY KEY,
	account_id TEXT NOT NULL REFERENCES accounts(id),
	name TEXT NOT NULL,
	policy_id TEXT NOT NULL UNIQUE,
	path TEXT NOT NULL,
	description TEXT NOT NULL,
	default_version TEXT NOT NULL,
	next_version INTEGER NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX iam_policies_lname ON iam_policies (account_id, lower(name));

CREATE TABLE iam_policy_versions (
	policy_arn TEXT NOT NULL REFERENCES iam_policies(arn),
	version_id TEXT NOT NULL,
	document TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (policy_arn, version_id)
);

-- Managed policies attached to users ('user') and roles ('role').
CREATE TABLE iam_attachments (
	account_id TEXT NOT NULL,
	entity_type TEXT NOT NULL,
	entity_name TEXT NOT NULL,
	policy_arn TEXT NOT NULL,
	PRIMARY KEY (account_id, entity_type, entity_name, policy_arn)
);
CREATE INDEX iam_attachments_policy ON iam_attachments (policy_arn);

CREATE TABLE iam_tags (
	account_id TEXT NOT NULL,
	entity_type TEXT NOT NULL,
	entity_name TEXT NOT NULL,
	tag_key TEXT NOT NULL,
	tag_value TEXT NOT NULL,
	PRIMARY KEY (account_id, entity_type, entity_name, tag_key)
);

-- Temporary credentials. sealed holds the secret key and the session
-- token, sealed by the root key. kind is 'role' (AssumeRole) or 'user'
-- (GetSessionToken).
CREATE TABLE sts_sessions (
	access_key_id TEXT PRIMARY KEY,
	account_id TEXT NOT NULL,
	kind TEXT NOT NULL,
	role_name TEXT NOT NULL,
	role_id TEXT NOT NULL,
	user_name TEXT NOT NULL,
	session_name TEXT NOT NULL,
	source_arn TEXT NOT NULL,
	chained INTEGER NOT NULL,
	session_policy TEXT NOT NULL,
	sealed BLOB NOT NULL,
	created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL
);
CREATE INDEX sts_sessions_expiry ON sts_sessions (expires_at);

-- The audit trail: one row per API call, allowed, denied or failed.
-- account_id is '' when the caller could not be authenticated.
CREATE TABLE audit_events (
	event_id TEXT PRIMARY KEY,
	event_time BIGINT NOT NULL,
	account_id TEXT NOT NULL,
	principal_type TEXT NOT NULL,
	principal_arn TEXT NOT NULL,
	principal_id TEXT NOT NULL,
	user_name TEXT NOT NULL,
	access_key_id TEXT NOT NULL,
	service TEXT NOT NULL,
	operation TEXT NOT NULL,
	region TEXT NOT NULL,
	source_ip TEXT NOT NULL,
	user_agent TEXT NOT NULL,
	request_id TEXT NOT NULL,
	http_status INTEGER NOT NULL,
	error_code TEXT NOT NULL,
	error_message TEXT NOT NULL,
	read_only INTEGER NOT NULL,
	request_parameters TEXT NOT NULL,
	decision TEXT NOT NULL
);
CREATE INDEX audit_events_account_time ON audit_events (account_id, event_time);
CREATE INDEX audit_events_time ON audit_events (event_time);
