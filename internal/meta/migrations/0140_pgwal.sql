-- Continuous backup of PostgreSQL servers (internal/engine/pgwal). LSNs
-- are WAL byte positions, times Unix nanoseconds (0: none).
CREATE TABLE pw_streams (
	stream TEXT PRIMARY KEY,
	system_id TEXT NOT NULL,
	segment_size BIGINT NOT NULL,
	safe_lsn BIGINT NOT NULL,
	safe_time BIGINT NOT NULL,
	gap_lsn BIGINT NOT NULL,
	gap_at BIGINT NOT NULL,
	created_at BIGINT NOT NULL
);

-- One WAL segment, stored from its first byte to end_lsn (the whole
-- segment once end_lsn reaches the next one).
CREATE TABLE pw_segments (
	stream TEXT NOT NULL,
	timeline INTEGER NOT NULL,
	segno BIGINT NOT NULL,
	end_lsn BIGINT NOT NULL,
	manifest_id TEXT NOT NULL,
	first_commit BIGINT NOT NULL,
	last_commit BIGINT NOT NULL,
	stored_at BIGINT NOT NULL,
	PRIMARY KEY (stream, timeline, segno)
);

CREATE TABLE pw_timelines (
	stream TEXT NOT NULL,
	timeline INTEGER NOT NULL,
	history TEXT NOT NULL,
	PRIMARY KEY (stream, timeline)
);

CREATE TABLE pw_base_backups (
	stream TEXT NOT NULL,
	manifest_id TEXT NOT NULL,
	timeline INTEGER NOT NULL,
	start_lsn BIGINT NOT NULL,
	end_lsn BIGINT NOT NULL,
	completed_at BIGINT NOT NULL,
	metadata TEXT NOT NULL,
	PRIMARY KEY (stream, manifest_id)
);
CREATE INDEX pw_base_backups_time ON pw_base_backups (stream, completed_at);
