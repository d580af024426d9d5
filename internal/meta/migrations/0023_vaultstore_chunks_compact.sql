-- vs_chunks stored as its primary key (COMPACT: WITHOUT ROWID on SQLite):
-- as a rowid table every row was kept twice, in the table and in the key's
-- index, some 440 bytes a chunk in all. Same columns, key and index.
CREATE TABLE vs_chunks_compact (
	domain_id TEXT NOT NULL,
	chunk_id BLOB NOT NULL,
	pack TEXT NOT NULL,
	pack_offset BIGINT NOT NULL,
	length BIGINT NOT NULL,
	raw_length BIGINT NOT NULL,
	flags INTEGER NOT NULL,
	PRIMARY KEY (domain_id, chunk_id, pack)
) COMPACT;
INSERT INTO vs_chunks_compact SELECT domain_id, chunk_id, pack, pack_offset, length, raw_length, flags FROM vs_chunks;
DROP TABLE vs_chunks;
ALTER TABLE vs_chunks_compact RENAME TO vs_chunks;
CREATE INDEX vs_chunks_pack ON vs_chunks (domain_id, pack);
