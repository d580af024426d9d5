-- Vault lock: a retention range; compliance mode once lock_date passes
-- (lock_date 0: governance mode, removable by allowed principals).
ALTER TABLE backup_vaults ADD COLUMN lock_enabled INTEGER NOT NULL DEFAULT 0;
ALTER TABLE backup_vaults ADD COLUMN lock_min_days BIGINT NOT NULL DEFAULT 0;
ALTER TABLE backup_vaults ADD COLUMN lock_max_days BIGINT NOT NULL DEFAULT 0;
ALTER TABLE backup_vaults ADD COLUMN lock_date BIGINT NOT NULL DEFAULT 0;

CREATE TABLE backup_legal_holds (
	id TEXT PRIMARY KEY,
	arn TEXT NOT NULL,
	account_id TEXT NOT NULL,
	region TEXT NOT NULL,
	title TEXT NOT NULL,
	description TEXT NOT NULL,
	status TEXT NOT NULL,
	cancel_description TEXT NOT NULL DEFAULT '',
	idempotency_token TEXT NOT NULL DEFAULT '',
	selection TEXT NOT NULL,
	creation_date BIGINT NOT NULL,
	cancellation_date BIGINT NOT NULL DEFAULT 0,
	retain_record_until BIGINT NOT NULL DEFAULT 0
);

-- The recovery points a hold covers, fixed when it is created.
CREATE TABLE backup_legal_hold_points (
	hold_id TEXT NOT NULL REFERENCES backup_legal_holds(id),
	recovery_point_arn TEXT NOT NULL,
	PRIMARY KEY (hold_id, recovery_point_arn)
);
CREATE INDEX backup_legal_hold_points_rp ON backup_legal_hold_points (recovery_point_arn);
