-- IAM virtual MFA devices (TOTP). serial_number is the device's ARN,
-- arn:aws:iam::ACCOUNT:mfa/PATH/NAME; sealed_seed is the TOTP secret
-- sealed by the root key; user_name is '' until EnableMFADevice assigns
-- the device. last_step is the newest TOTP time step accepted, so that
-- a code is never accepted twice.
CREATE TABLE iam_mfa_devices (
	serial_number TEXT PRIMARY KEY,
	account_id TEXT NOT NULL REFERENCES accounts(id),
	name TEXT NOT NULL,
	path TEXT NOT NULL,
	sealed_seed BLOB NOT NULL,
	user_name TEXT NOT NULL,
	enabled_at BIGINT NOT NULL,
	created_at BIGINT NOT NULL,
	last_step BIGINT NOT NULL
);
CREATE INDEX iam_mfa_devices_user ON iam_mfa_devices (account_id, user_name);
