-- IAM console passwords (login profiles), the accounts' password
-- policies, the passwords a user had before (PasswordReusePrevention),
-- and virtual MFA devices. Portable SQL; times are Unix nanoseconds.

-- password_hash is an argon2id PHC string (identity/doc.go).
-- failed_attempts counts console sign-ins with a wrong password since the
-- last good one; locked_until (0 = not locked) is when sign-in opens again.
CREATE TABLE iam_login_profiles (
	account_id TEXT NOT NULL,
	user_name TEXT NOT NULL,
	password_hash TEXT NOT NULL,
	reset_required INTEGER NOT NULL,
	created_at BIGINT NOT NULL,
	password_changed_at BIGINT NOT NULL,
	failed_attempts INTEGER NOT NULL DEFAULT 0,
	locked_until BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (account_id, user_name),
	FOREIGN KEY (account_id, user_name) REFERENCES iam_users(account_id, name)
);

CREATE TABLE iam_password_history (
	account_id TEXT NOT NULL,
	user_name TEXT NOT NULL,
	password_hash TEXT NOT NULL,
	changed_at BIGINT NOT NULL
);
CREATE INDEX iam_password_history_user ON iam_password_history (account_id, user_name, changed_at);

-- max_password_age and reuse_prevention are 0 when not set.
CREATE TABLE iam_password_policies (
	account_id TEXT PRIMARY KEY REFERENCES accounts(id),
	min_length INTEGER NOT NULL,
	require_symbols INTEGER NOT NULL,
	require_numbers INTEGER NOT NULL,
	require_uppercase INTEGER NOT NULL,
	require_lowercase INTEGER NOT NULL,
	allow_users_to_change INTEGER NOT NULL,
	max_password_age INTEGER NOT NULL,
	reuse_prevention INTEGER NOT NULL,
	hard_expiry INTEGER NOT NULL
);
