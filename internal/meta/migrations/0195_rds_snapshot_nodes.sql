-- The coffer node (jobs.nodeId) that takes or copies a DB snapshot
-- while it is creating: when that node starts again, a snapshot of its
-- still creating was cut short and is marked failed (internal/rds
-- Resume); the vault storage engine's collector drops its uncommitted
-- data. '' for snapshots recorded before this column.
ALTER TABLE rds_snapshots ADD COLUMN node_id TEXT NOT NULL DEFAULT '';
