// Package rds is the RDS domain: DB instances, the hosts they live on, and
// the internal API backup jobs use to snapshot and restore them.
//
// An instance is a real database. PostgreSQL instances are databases on
// the region's PostgreSQL host — a server given in config (an admin URL
// per region) or, by default, a cluster coffer initialises and runs in
// DATA-DIR/postgres/REGION (see cluster.go) — each owned by its own role
// (MasterUsername), with CONNECT and TEMPORARY revoked from PUBLIC so
// instances cannot reach each other's data. SQLite instances are files in
// DATA-DIR/rds/sqlite/REGION/ACCOUNT/ID.db. Registered instances
// (RegisterDBInstance, `coffer db register`) point at a database coffer
// did not create; deleting them forgets them and leaves the database.
//
// Lifecycle: CreateDBInstance records the instance as creating and
// returns; the database is made in the background and the instance
// becomes available, or failed with a StatusMessage saying what to do
// (nothing is left on the host). DeleteDBInstance marks it deleting and
// drops the database and role in the background. An available instance
// whose KMS key is disabled, pending deletion or gone is reported as
// inaccessible-encryption-credentials, and recovers with its key.
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
package rds
