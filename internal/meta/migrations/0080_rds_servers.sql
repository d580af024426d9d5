-- RDS: one PostgreSQL server per instance.
-- server names the instance's own server (DATA-DIR/pg/SERVER, see
-- internal/rds/doc.go); '' for SQLite files, registered databases and
-- databases on a shared host (the opt-in rds.postgresHosts, or the region
-- cluster of releases before this one, moved on first start).
ALTER TABLE rds_instances ADD COLUMN server TEXT NOT NULL DEFAULT '';
-- node_id is the coffer node holding the server's data directory.
ALTER TABLE rds_instances ADD COLUMN node_id TEXT NOT NULL DEFAULT '';
ALTER TABLE rds_instances ADD COLUMN backup_retention_period INTEGER NOT NULL DEFAULT 1;
-- pending_instance_class is a DBInstanceClass modified without
-- ApplyImmediately, applied at the next reboot or start.
ALTER TABLE rds_instances ADD COLUMN pending_instance_class TEXT NOT NULL DEFAULT '';
