-- vs_refs without domain_id: the manifest names its domain, and chunk IDs
-- are keyed per domain, so a chunk ID is one domain's chunk. Keyed by
-- chunk first (the collector asks whether a chunk is referenced) and
-- indexed by manifest (a manifest's references are dropped together).
-- COMPACT keeps each row once, in key order (WITHOUT ROWID on SQLite): a
-- recovery point of 1 GiB has some 16,000 references.
CREATE TABLE vs_refs_by_chunk (
	chunk_id BLOB NOT NULL,
	manifest_id TEXT NOT NULL,
	PRIMARY KEY (chunk_id, manifest_id)
) COMPACT;
INSERT INTO vs_refs_by_chunk (chunk_id, manifest_id) SELECT chunk_id, manifest_id FROM vs_refs;
DROP TABLE vs_refs;
ALTER TABLE vs_refs_by_chunk RENAME TO vs_refs;
CREATE INDEX vs_refs_manifest ON vs_refs (manifest_id);
