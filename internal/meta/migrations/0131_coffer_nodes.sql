-- The coffer serve processes sharing this store: each renews its row
-- (heartbeat_at, Unix nanoseconds) while it runs and removes it when it
-- stops cleanly; a row whose heartbeat is older than the job lease is a
-- node that died. id is also the node's River client ID, which River
-- records in river_job.attempted_by and river_leader.leader_id.
CREATE TABLE coffer_nodes (
	id TEXT PRIMARY KEY,
	address TEXT NOT NULL,
	started_at BIGINT NOT NULL,
	heartbeat_at BIGINT NOT NULL
);
