// Package rds is the RDS domain: DB instances, the hosts they live on, and
// the internal API backup jobs use to snapshot and restore them.
//
// An instance is a real database. A PostgreSQL instance is, by default,
// a PostgreSQL server of its own (Servers, server.go): its own data
// directory, port, roles and Unix socket, so DBName and MasterUsername
// belong to the instance and two instances — in one account or two — may
// share them. A region given a shared host in config (rds.postgresHosts,
// an admin URL per region) places its new instances as databases of that
// server instead, each owned by its own role (MasterUsername), with
// CONNECT and TEMPORARY revoked from PUBLIC; names are then unique per
// host. SQLite instances are files in
// DATA-DIR/rds/sqlite/REGION/ACCOUNT/ID.db. Registered instances
// (RegisterDBInstance, `coffer db register`) point at a database coffer
// did not create; deleting them forgets them and leaves the database.
//
// Lifecycle: CreateDBInstance records the instance as creating and
// returns; the server (or database) is made in the background and the
// instance becomes available, or failed with a StatusMessage saying what
// to do (nothing is left behind). DeleteDBInstance marks it deleting and
// removes the server and its directory (or drops the database and role)
// in the background. StopDBInstance (available -> stopping -> stopped),
// StartDBInstance (stopped or failed -> starting -> available) and
// RebootDBInstance (available -> rebooting -> available) act on the
// server; ModifyDBInstance changes the class now (ApplyImmediately:
// modifying, the server restarts) or at the next reboot or start
// (PendingModifiedValues), and the master password, backup retention and
// deletion protection at once. An available instance whose KMS key is
// disabled, pending deletion or gone is reported as
// inaccessible-encryption-credentials, and recovers with its key.
//
// # One server per instance
//
// The servers live in DATA-DIR/pg:
//
//	template-MAJOR/        an initdb'd cluster per installed major version,
//	                       made once; every new server copies it (cp -a),
//	                       so a create costs a copy and a start, not an initdb
//	template-MAJOR.spare/  a copy of the template made in the background
//	                       after each create; the next create moves it into
//	                       place (a rename) instead of copying while it waits
//	db-XXXXXXXX…/          one server, named after the instance's
//	                       DbiResourceId (lower-cased), 0700:
//	  data/                PGDATA, 0700
//	  data/coffer.conf     written by coffer: port, listen_addresses,
//	                       unix_socket_directories (run/), and the class's
//	                       memory settings; wal_level = replica,
//	                       max_wal_senders = 10, max_replication_slots = 10
//	                       (concurrent backups, WAL capture), wal_keep_size
//	                       = 256MB (a base backup under heavy writes
//	                       still finds the WAL it fetches at its end)
//	  run/                 the Unix socket, 0700 (unix_socket_permissions 0700)
//	  log/postgresql.log   the server's log
//	.incoming-XXXX/        a directory a physical restore fills (IncomingDir)
//
// When coffer runs as root the servers run as the postgres user
// (PostgreSQL refuses root) and their directories belong to it; else they
// run as, and belong to, coffer's own account. Each template's
// pg_hba.conf lets coffer's administrator (coffer_admin, the servers'
// only superuser) in over the Unix socket only, by peer authentication
// mapped (pg_ident.conf, map "coffer") from the operating-system account
// coffer runs as, for normal and replication connections; every other
// role connects over TCP with scram-sha-256; coffer_admin over TCP and
// replication over TCP are rejected. The master user is created LOGIN
// CREATEDB CREATEROLE (not SUPERUSER, like rds_superuser), its password
// sent as a SCRAM verifier, and owns DBName.
//
// DBInstanceClass maps to memory by its size (the part after the last
// dot): micro 16MB shared_buffers / 25 connections / 1MB work_mem; small
// 32MB/50/2MB; medium 64MB/100/4MB; large 128MB/150/4MB; xlarge
// 256MB/200/8MB; 2xlarge 512MB/300/8MB; 4xlarge 1GB/400/16MB; 8xlarge
// 2GB/500/16MB; 12xlarge 3GB/600/32MB; 16xlarge 4GB/700/32MB; 24xlarge
// 6GB/800/32MB. Other sizes are refused (InvalidParameterValue).
// EngineVersion is an installed major version ("15", or its exact minor
// "15.14"); DescribeDBEngineVersions lists them; another version gets
// InvalidParameterCombination naming the installed ones.
//
// Supervision: coffer starts (or adopts, when a previous coffer left it
// running) every available instance's server of this node when it starts
// — instances whose server is not yet up show starting until it is —
// stops them cleanly (fast shutdown) on exit, checks them every second
// and restarts a server that died; a server that cannot be restarted
// makes its instance failed with a StatusMessage, and StartDBInstance
// tries again. The servers run in their own session, so a coffer killed
// hard leaves them running and the next coffer adopts them.
//
// Nodes: rds_instances.node_id records the node holding a server's data
// directory (HostsOptions.NodeID, the host name by default). Only that
// node starts, stops, modifies or backs up the server; on another node
// these answer InvalidDBInstanceState naming the node.
//
// Upgrade: instances that an earlier release made as databases of the
// region cluster (DATA-DIR/postgres/REGION, cluster.go) are moved into
// servers of their own on the first start (upgrade.go).
//
// # For physical backup and restore
//
//	inst, t, err := rdsSvc.AdminTarget(ctx, arn)
//	// t: coffer_admin on the server's Unix socket (Host is the socket
//	// directory), no password; replication connections are allowed, so
//	// BASE_BACKUP (pg_basebackup, pglogrepl) can run over it.
//	dir, err := rdsSvc.IncomingDir()  // fill dir/data with the restored PGDATA
//	inst, t, err := rdsSvc.CreateRestoredInstance(ctx, RestoreSpec{…, DataDir: dir + "/data"})
//	// the server is made from DataDir (Servers.CreateFromDataDir): coffer's
//	// pg_hba.conf, pg_ident.conf and coffer.conf replace the restored ones,
//	// postmaster.pid is removed, files are given to the server's user, the
//	// server starts (running recovery if recovery.signal / backup_label ask
//	// for it; pg_ctl waits up to 60 s), the master user gets the spec's
//	// password and DBName is created if missing. Then MarkAvailable or
//	// MarkFailed as for a logical restore.
//
// Keys: an instance has one KMS key: its storage key (KmsKeyId, or the
// account's aws/rds key when StorageEncrypted has no KmsKeyId), or, for an
// unencrypted instance, aws/rds alone for its credentials. At creation
// the caller must be allowed kms:DescribeKey and kms:CreateGrant through
// RDS (kms:ViaService rds.REGION.amazonaws.com); RDS then holds two
// grants for the service principal rds.REGION.amazonaws.com (also their
// retiring principal): Decrypt and GenerateDataKey constrained to the
// encryption context {"coffer:rds:db-arn": ARN}, and DescribeKey to watch
// the key's state. All later key use goes through them; deleting the
// instance retires them.
//
// # Automated backups (automated.go)
//
// BackupRetentionPeriod 1 to 35 (CreateDBInstance's default is 1, as
// RDS's API) turns on continuous backup of a PostgreSQL instance on a
// server of its own; 0 turns it off. SQLite instances are refused a
// retention above 0 (InvalidParameterCombination; their default is 0):
// they have no WAL to stream. The app (internal/app/continuous.go) runs,
// on the node holding the server, one pgwal capture per such instance
// (ContinuousInstances) over coffer_admin's replication connection, a
// base backup as soon as the capture has stored WAL and then daily in
// the PreferredBackupWindow (any time once the newest is two days old),
// and pgwal's Expire every 10 minutes; when retention goes to 0 the
// capture stops and the replication slot is dropped (CaptureOff).
// Events (slot-lost, gap, capture-error, ...) are logged and counted in
// coffer_rds_wal_capture_events_total; /_coffer/metrics shows
// coffer_rds_restore_window_{earliest,latest,lag}_seconds and
// coffer_rds_replication_lag_bytes (server's WAL position less the
// slot's) per instance, which coffer status shows too.
//
// Where: the vault storage engine's vault ACCOUNT.rds-automated-<the
// DbiResourceId, lower-cased> in the instance's region, encrypted under
// the instance's KMS key; the pgwal stream is the DbiResourceId,
// lower-cased. RDS uses the key there through a third grant made at
// creation (Decrypt, GenerateDataKey; encryption context subset
// {"coffer:vault": that vault}), as the service principal
// rds.REGION.amazonaws.com (the third ID of rds_instances.grant_id).
// Instances created before this grant existed have none: their WAL is
// not captured, which is logged once per start.
//
// PreferredBackupWindow is "hh24:mi-hh24:mi" in UTC, at least 30
// minutes, possibly across midnight; without one an instance gets a
// random 30 minutes of 03:00-11:00 UTC. It is kept in
// rds_backup_windows (arn, backup_window; migration 0170).
//
// RestoreDBInstanceToPointInTime checks the source's window (none yet,
// or a time outside it: InvalidRestoreFault with the window; retention
// 0: PointInTimeRestoreNotEnabled), restores the base backup and WAL into
// an IncomingDir, makes the new instance's server from it
// (CreateRestoredInstance; the server is written to only once recovery
// has promoted it), and validates it with pgphysical.Validate in the
// background before it becomes available (else failed, dropped).
// Registered PostgreSQL databases (replication.go): ModifyDBInstance
// with a BackupRetentionPeriod above 0 (and an AWS Backup continuous
// rule, EnableContinuous) checks that the registered role has
// REPLICATION (or is a superuser) and that the server accepts a
// replication connection from it, and refuses with what to grant
// (ALTER ROLE … REPLICATION, a pg_hba.conf replication entry); it
// refuses too when this node has no PostgreSQL binaries of the server's
// major version (restores would be impossible), and logs a warning when
// the server's max_slot_wal_keep_size is -1 (unbounded). Turning them on
// from 0 records this node in rds_instances.node_id: that node captures
// it, as the registered role (its password decrypted as the RDS
// service), over the slot coffer_<DbiResourceId lower-cased, - as _>
// (CaptureSlot; own servers use pgwal's default coffer_wal). Base
// backups are BASE_BACKUP over the same role's replication connection,
// so they and the WAL are the whole server's. A point-in-time restore
// makes a new instance server (class db.t3.micro unless given, the
// local binaries of the server's major version) from that data: the
// server's values of max_connections, max_worker_processes,
// max_wal_senders, max_prepared_transactions and
// max_locks_per_transaction (pg_controldata) are appended to its
// postgresql.auto.conf, since recovery needs them at least as high, and
// while coffer_admin does not exist the socket's pg_hba.conf starts
// with "local all all trust" (the socket directory is 0700): coffer
// connects as the registered role, then as the bootstrap superuser
// (OID 10), creates coffer_admin and removes that line
// (ServerSpec.Adopt). Deleting the registered instance drops its slot
// on its server (on the capturing node; elsewhere it logs the
// pg_drop_replication_slot to run).
//
// Deleting an instance stops its capture and deletes its archive
// (pgwal's Delete), unless DeleteDBInstance says DeleteAutomatedBackups
// false: then the archive is retained (retained.go), recorded in
// rds_retained_automated_backups (migration 0191: the instance's
// exported fields as JSON, the automated-backups grant, which is kept
// while the archive is, deleted_at, expires_at = deleted_at plus
// BackupRetentionPeriod days) when the instance is marked deleting, so a
// deletion resumed after a restart keeps it too.
// DescribeDBInstanceAutomatedBackups lists it with Status retained and
// the window it held; the app's sweep (every 10 minutes) deletes it once
// expired, and DeleteDBInstanceAutomatedBackup (by DbiResourceId or
// automated backups ARN) at once; a current instance's automated
// backups are refused there (InvalidDBInstanceAutomatedBackupState).
//
// # Credentials envelope (version 1)
//
// A master password or a registered database's password is stored in
// rds_instances.credentials as
//
//	offset  size   field
//	0       1      version, 0x01
//	1       2      n: length of the wrapped data key, uint16 big-endian
//	3       n      the data key's KMS ciphertext (GenerateDataKey, AES_256,
//	               encryption context {"coffer:rds:db-arn": instance ARN})
//	3+n     12     AES-GCM nonce, random
//	15+n    m+16   AES-256-GCM ciphertext of the m password bytes, then the tag
//
// with additional authenticated data "coffer/rds/credentials/v1\x00" ||
// instance ARN, so an envelope cannot be moved to another instance.
// Passwords never appear in logs, errors, the target JSON column or a
// command line.
//
// # The backup jobs' API
//
//	inst, eng, target, err := rdsSvc.Resource(ctx, arn)           // snapshot source, password included
//	inst, target, err := rdsSvc.CreateRestoredInstance(ctx, spec) // empty database + admin-as-owner target
//	err = rdsSvc.MarkAvailable(ctx, inst.ARN)                     // or MarkFailed(ctx, arn, msg): drops it
//
// The caller in ctx is the job's principal; Resource authorizes
// rds:DescribeDBInstances and CreateRestoredInstance rds:CreateDBInstance.
// A restored instance keeps the source's DBName, MasterUsername and
// password (the restore metadata carries them) unless the restore names
// others. For an instance on a server of its own, the restore target is
// coffer_admin on the server's socket acting as the master user
// (engine.Target.Role). Resource answers InvalidDBInstanceState when the
// instance's server is on another node.
//
// # DB snapshots
//
// CreateDBSnapshot (snapshot.go) records a manual snapshot in
// rds_snapshots as creating (node_id: this node, migration 0195) and
// takes it in the background, through SnapshotData, which the app serves
// with the backup jobs' machinery: an instance on a server of its own is
// snapshotted physically (engine/pgphysical, as Backup jobs do), the
// others logically (the engine adapter). The stream is a manifest of the
// vault storage engine in the domain (REGION, ACCOUNT.rds.snapshots
// (SnapshotVaultName), the instance's KMS key): the dot keeps it apart
// from backup vaults, whose names cannot hold one, and the manifest's
// metadata carries the master password, encrypted with the stream. The
// row keeps the manifest ID, the snapshot's engine.Metadata JSON and the
// source's DBName, MasterUsername, engine, class, storage and key; the
// snapshot becomes available, or failed (the error is logged: RDS's
// DBSnapshot has no status message). DeleteDBSnapshot deletes the
// manifest, unless another snapshot refers to it (a copy in the same
// account, region and key shares its source's manifest), then the row.
// Authorization: rds:OP on arn:aws:rds:REGION:ACCOUNT:snapshot:NAME
// (CreateDBSnapshot also on the instance's ARN; DescribeDBSnapshots on
// snapshot:*).
//
// Keys: the snapshot vault's KMS calls go through RDS
// (kms:ViaService rds.REGION.amazonaws.com). Every instance made since
// migration 0195 has a fourth grant on its key for the service principal
// rds.REGION.amazonaws.com (Decrypt, GenerateDataKey; encryption context
// subset {"coffer:vault": "ACCOUNT.rds.snapshots"}), recorded in
// rds_instances.grant_id as "snapshots=ID". When some instance of the
// caller's account and region holds that grant on a snapshot's key,
// taking, reading, copying (same region) and deleting the snapshot act
// as the service principal through it (SnapshotKeyContext), so a caller
// allowed rds:CreateDBSnapshot but no KMS action snapshots, as in AWS;
// otherwise (the instances under the key deleted, or made earlier; a
// snapshot of another account; a copy across regions) the caller's own
// KMS permissions are used.
//
// RestoreDBInstanceFromDBSnapshot answers at once: the new instance is
// recorded creating (RecordRestored: rds:CreateDBInstance on it, its
// grants made as the caller, which needs kms:CreateGrant and
// kms:DescribeKey on the key, as in RDS; KMSKeyNotAccessibleFault
// otherwise, nothing recorded) and filled in the background as a
// restore job does (a physical snapshot unpacked, recovered and
// validated into a new server: CreateRestoredInstance with
// RestoreSpec.Recorded), keeping the source's DBName, MasterUsername,
// password and key unless told; it becomes available, or failed with a
// StatusMessage, its server removed (MarkFailed). The source is the
// caller's snapshot or, named by ARN, one shared with the caller's
// account in the caller's region (another region's:
// InvalidParameterValue; copy it first).
//
// Resume (at start) marks failed the snapshots this node left creating
// (their uncommitted data is dropped by the vault storage engine's
// collector), fails the restores it left creating and removes their
// servers, and removes unfinished physical restores' directories
// (Servers.RemoveIncoming).
//
// DescribeDBSnapshots lists manual snapshots (SnapshotType manual, or
// empty), the snapshots other accounts share with the caller's account
// in the region (SnapshotType shared, or empty with IncludeShared;
// DBSnapshotIdentifier is then the snapshot's ARN, by which it is also
// described) or, with SnapshotType awsbackup (or an awsbackup:job-ID
// identifier), AWS Backup's completed recovery points of the account's
// RDS instances in the region (BackupSnapshots), named after their ARN
// arn:aws:rds:REGION:ACCOUNT:snapshot:awsbackup:job-ID; those are
// managed and restored through AWS Backup only. automated and public
// list nothing.
//
// Sharing (snapshot_share.go): ModifyDBSnapshotAttribute's restore
// attribute lists the accounts in rds_snapshot_shares. A snapshot under
// an AWS-managed key cannot be shared, as in RDS; nor an unencrypted
// one, whose data coffer keeps under the account's aws/rds key (copy it
// under a customer managed key first). "all" (public) is refused. The
// share acts as the source's resource policy for rds:CopyDBSnapshot and
// rds:RestoreDBInstanceFromDBSnapshot on it; a snapshot not shared with
// the caller is DBSnapshotNotFound.
//
// CopyDBSnapshot is called in the destination region and answers with
// the copy creating; the copy is filled in the background. The source is
// the caller's (re-encrypted under KmsKeyId when given), named by ARN a
// snapshot of the caller's in another region, or a snapshot shared with
// the caller's account. KmsKeyId (a key of the destination region;
// another region's is KMSKeyNotAccessibleFault) is required for a shared
// source and for an encrypted one of another region (an unencrypted one
// is copied under the account's aws/rds key of the destination region);
// the source's key policy must let the caller use it through RDS in the
// source's region (KMSKeyNotAccessibleFault otherwise). The vault
// storage engine re-seals the chunks under the destination domain's key
// and, across regions, moves them into the destination region's blob
// store, as a cross-region copy job of AWS Backup does. PreSignedUrl
// (which the SDKs generate from SourceRegion) is accepted and not
// verified: botocore's model says it applies to the GovCloud regions
// only and is ignored elsewhere; the request's own signature and the
// policies above authorize the copy.
//
// DeleteDBInstance with FinalDBSnapshotIdentifier (rds:CreateDBSnapshot on
// it too) needs the instance available, records the snapshot creating in
// the transaction that makes the instance deleting, takes it (Resource
// serves the deleting instance to its own final snapshot only), then
// drops the instance; when the snapshot fails the instance is left
// failed with a StatusMessage saying so, and is not dropped.
package rds
