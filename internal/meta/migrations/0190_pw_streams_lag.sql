-- Replication lag of a WAL capture (internal/engine/pgwal): at each
-- probe (every flush interval) the server's pg_current_wal_lsn()
-- (server_lsn) and the replication slot's restart_lsn, what coffer
-- confirmed as stored (slot_lsn), at probed_at (Unix nanoseconds).
-- coffer status and /_coffer/metrics show server_lsn - slot_lsn.
ALTER TABLE pw_streams ADD COLUMN server_lsn BIGINT NOT NULL DEFAULT 0;
ALTER TABLE pw_streams ADD COLUMN slot_lsn BIGINT NOT NULL DEFAULT 0;
ALTER TABLE pw_streams ADD COLUMN probed_at BIGINT NOT NULL DEFAULT 0;
