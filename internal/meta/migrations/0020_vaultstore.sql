-- Vault storage engine (internal/vaultstore). Times are Unix nanoseconds.
CREATE TABLE vs_domains (
	domain_id TEXT PRIMARY KEY,
	region TEXT NOT NULL,
	vault TEXT NOT NULL,
	key_arn TEXT NOT NULL,
	wrapped_key BLOB NOT NULL,
	chunk_min INTEGER NOT NULL,
	chunk_avg INTEGER NOT NULL,
	chunk_max INTEGER NOT NULL,
	created_at BIGINT NOT NULL
);
CREATE INDEX vs_domains_vault ON vs_domains (region, vault);

-- state: live (visible to dedup), condemned (invisible, kept until the
-- delete delay passes), deleting (index rows gone, blob being removed).
CREATE TABLE vs_packs (
	domain_id TEXT NOT NULL,
	pack TEXT NOT NULL,
	size BIGINT NOT NULL,
	state TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	condemned_at BIGINT NOT NULL DEFAULT 0,
	verified_at BIGINT NOT NULL DEFAULT 0,
	lock_seq BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (domain_id, pack)
);
CREATE INDEX vs_packs_state ON vs_packs (domain_id, state);

CREATE TABLE vs_chunks (
	domain_id TEXT NOT NULL,
	chunk_id BLOB NOT NULL,
	pack TEXT NOT NULL,
	pack_offset BIGINT NOT NULL,
	length BIGINT NOT NULL,
	raw_length BIGINT NOT NULL,
	flags INTEGER NOT NULL,
	PRIMARY KEY (domain_id, chunk_id, pack)
);
CREATE INDEX vs_chunks_pack ON vs_chunks (domain_id, pack);

-- state: writing (a lease until lease_expires), committed, deleting.
CREATE TABLE vs_manifests (
	manifest_id TEXT PRIMARY KEY,
	domain_id TEXT NOT NULL,
	state TEXT NOT NULL,
	lease_expires BIGINT NOT NULL,
	size BIGINT NOT NULL DEFAULT 0,
	chunks BIGINT NOT NULL DEFAULT 0,
	sha256 BLOB,
	created_at BIGINT NOT NULL,
	committed_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX vs_manifests_domain ON vs_manifests (domain_id, state);

-- The chunks each manifest (committed or still writing) uses.
CREATE TABLE vs_refs (
	manifest_id TEXT NOT NULL,
	domain_id TEXT NOT NULL,
	chunk_id BLOB NOT NULL,
	PRIMARY KEY (manifest_id, chunk_id)
);
CREATE INDEX vs_refs_chunk ON vs_refs (domain_id, chunk_id);

-- One garbage collector per domain at a time.
CREATE TABLE vs_gc (
	domain_id TEXT PRIMARY KEY,
	holder TEXT NOT NULL,
	expires BIGINT NOT NULL
);
