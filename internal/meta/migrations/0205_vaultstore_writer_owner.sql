-- Who runs a writer (a job's ID) and which of its attempts: when the job
-- is taken over, the uncommitted recovery points of its earlier attempts
-- are dropped and their packs deleted at once (vaultstore.ReleaseOwner).
ALTER TABLE vs_manifests ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE vs_manifests ADD COLUMN owner_attempt BIGINT NOT NULL DEFAULT 0;
CREATE INDEX vs_manifests_owner ON vs_manifests (owner, state);
