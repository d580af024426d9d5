-- The root key's check value: a fixed text sealed under the root key
-- (package rootkey, CheckValue). At start coffer opens it to prove its
-- root key is the one the store's secrets are sealed with; a store that
-- has the row is populated, so a missing key is never replaced by a new
-- one. sealed is NULL on a store populated before this migration: the
-- next start records the value with the key it has (which must exist).
CREATE TABLE root_key_check (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	sealed BLOB,
	recorded_at BIGINT NOT NULL
);
INSERT INTO root_key_check (id, sealed, recorded_at)
	SELECT 1, NULL, 0 WHERE EXISTS (SELECT 1 FROM accounts);
