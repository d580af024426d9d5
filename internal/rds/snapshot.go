package rds

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/coffer-dev/coffer/internal/awserr"
	"github.com/coffer-dev/coffer/internal/identity"
	"github.com/coffer-dev/coffer/internal/meta"
	"github.com/coffer-dev/coffer/internal/reqctx"
)

// Snapshot statuses and types (botocore rds DBSnapshot).
const (
	SnapshotCreating  = "creating"
	SnapshotAvailable = "available"
	SnapshotFailed    = "failed"
	SnapshotDeleting  = "deleting"
	SnapshotDeleted   = "deleted" // DeleteDBSnapshot's answer
	SnapshotManual    = "manual"
	SnapshotAWSBackup = "awsbackup"
	// SnapshotShared is the type of a snapshot another account shares
	// with the caller (its restore attribute names the caller's
	// account); its DBSnapshotIdentifier is its ARN, as in RDS.
	SnapshotShared = "shared"
)

// snapshotTypes are DescribeDBSnapshots' SnapshotType values (botocore);
// coffer lists manual, shared and awsbackup snapshots, and none of the
// others.
var snapshotTypes = map[string]bool{"automated": true, SnapshotManual: true, SnapshotShared: true, "public": true, SnapshotAWSBackup: true}

// BackupSnapshots lists the recovery points AWS Backup made of RDS
// instances, as awsbackup snapshots (Type SnapshotAWSBackup).
type BackupSnapshots interface {
	RDSSnapshots(ctx context.Context, account, region, instanceARN string) ([]*Snapshot, error)
}

// UseBackupSnapshots sets where DescribeDBSnapshots finds awsbackup
// snapshots.
func (s *Service) UseBackupSnapshots(b BackupSnapshots) { s.backupSnaps = b }

// Snapshot is a manual DB snapshot (CreateDBSnapshot).
type Snapshot struct {
	Identifier string
	// Type is SnapshotManual, or SnapshotAWSBackup for a recovery point
	// of AWS Backup (Identifier awsbackup:JOB-ID).
	Type               string
	ARN                string
	Account, Region    string
	InstanceIdentifier string
	InstanceARN        string
	Engine             string
	EngineVersion      string
	InstanceClass      string
	AllocatedStorage   int
	DBName             string
	MasterUsername     string
	StorageEncrypted   bool
	KMSKeyARN          string
	Status             string
	ManifestID         string
	// EngineMetadata is the snapshot's engine.Metadata as JSON.
	EngineMetadata string
	Size           int64
	CreatedAt      time.Time
}

// SnapshotVaultName is the vault of the vault storage engine that holds
// an account's DB snapshots, ACCOUNT.SnapshotVaultName in their region
// (the dot keeps it apart from backup vaults, whose names cannot hold
// one).
const SnapshotVaultName = "rds.snapshots"

// snapshotGrantTag marks, in rds_instances.grant_id, the grant RDS holds
// on an instance's key for the account's DB snapshots.
const snapshotGrantTag = "snapshots="

// snapshotGrant is the grant RDS holds to encrypt and decrypt the
// account's DB snapshots under an instance's key (its snapshots, and
// those restored into it): encryption context subset {"coffer:vault":
// ACCOUNT.rds.snapshots}.
func snapshotGrant(inst *Instance, keyARN string) Grant {
	return Grant{
		KeyARN: keyARN, Grantee: ServicePrincipal(inst.Region), Name: inst.ResourceID + "-snapshots",
		Operations: []string{"Decrypt", "GenerateDataKey"},
		Context:    map[string]string{"coffer:vault": inst.Account + "." + SnapshotVaultName},
	}
}

// SnapshotKeyContext is the context a DB snapshot operation of the
// caller in ctx uses keys of the caller's snapshot vault with: acting as
// the RDS service of the region through the grant RDS holds on each key
// (an instance's, see snapshotGrant) when it holds one on all of them,
// as the caller otherwise (snapshots of instances deleted, or created
// before coffer made the grant; snapshots of other accounts).
func (s *Service) SnapshotKeyContext(ctx context.Context, account, region string, keyARNs ...string) (context.Context, error) {
	if p := identity.Caller(ctx); p == nil || p.AccountID != account {
		return ctx, nil
	}
	for _, key := range keyARNs {
		var n int
		if err := s.store.QueryRowContext(ctx, `SELECT COUNT(*) FROM rds_instances WHERE account_id = ? AND region = ? AND kms_key_arn = ? AND grant_id LIKE ?`,
			account, region, key, "%"+snapshotGrantTag+"%").Scan(&n); err != nil {
			return nil, fmt.Errorf("find RDS's grant on %s: %w", key, err)
		}
		if n == 0 {
			return ctx, nil
		}
	}
	return s.ServiceContext(ctx, region), nil
}

// SnapshotWritten is where SnapshotData.Take put a snapshot.
type SnapshotWritten struct {
	ManifestID     string
	EngineMetadata string
	Size           int64
}

// SnapshotData moves snapshots' data: the app serves it from the backup
// machinery (physical snapshots of servers of their own, logical of the
// others) and the vault storage engine.
type SnapshotData interface {
	// Take snapshots the instance into the snapshot domain of its
	// account and region under the instance's key, as the caller in ctx.
	Take(ctx context.Context, inst *Instance) (SnapshotWritten, error)
	// Restore fills the instance RecordRestored recorded
	// (spec.Recorded) from the snapshot and makes it available; on
	// error the instance is failed (or still creating) and holds no
	// data.
	Restore(ctx context.Context, snap *Snapshot, spec RestoreSpec) error
	// Copy copies src's data into dst's domain (its account, region and
	// key), as the caller in ctx.
	Copy(ctx context.Context, src, dst *Snapshot) (SnapshotWritten, error)
	// Delete drops the snapshot's data.
	Delete(ctx context.Context, snap *Snapshot) error
}

// UseSnapshotData sets how snapshots' data is stored; without it the
// snapshot operations answer that they are not available.
func (s *Service) UseSnapshotData(d SnapshotData) { s.snaps = d }

// SnapshotARN is arn:aws:rds:REGION:ACCOUNT:snapshot:NAME.
func SnapshotARN(region, account, id string) string {
	return "arn:aws:rds:" + region + ":" + account + ":snapshot:" + id
}

func snapshotNotFound(id string) *awserr.Error {
	return awserr.New(awserr.NotFound, "DBSnapshotNotFound", "DBSnapshot %s not found.", id).WithStatus(404)
}

func snapshotExists(id string) *awserr.Error {
	return awserr.New(awserr.Conflict, "DBSnapshotAlreadyExists", "Cannot create the snapshot because a snapshot with the identifier %s already exists.", id)
}

func invalidSnapshotState(format string, args ...any) *awserr.Error {
	return awserr.New(awserr.Conflict, "InvalidDBSnapshotState", format, args...)
}

// snapshotIdentifierOf accepts a snapshot identifier or an ARN of the
// caller's account and region.
func snapshotIdentifierOf(sc scope, idOrARN string) (string, error) {
	if strings.HasPrefix(idOrARN, "arn:") {
		parts := strings.SplitN(idOrARN, ":", 7)
		if len(parts) != 7 || parts[2] != "rds" || parts[5] != "snapshot" {
			return "", invalidParam("%s is not a DB snapshot ARN (arn:aws:rds:REGION:ACCOUNT:snapshot:NAME)", idOrARN)
		}
		if parts[3] != sc.Region || parts[4] != sc.Account {
			return "", snapshotNotFound(parts[6])
		}
		idOrARN = parts[6]
	}
	if strings.HasPrefix(idOrARN, SnapshotAWSBackup+":") {
		return "", invalidParam("%s is a recovery point of AWS Backup; manage and restore it with AWS Backup (backup start-restore-job)", idOrARN)
	}
	if err := ValidIdentifier(idOrARN); err != nil {
		return "", invalidParam("DBSnapshotIdentifier %q: %v", idOrARN, err)
	}
	return strings.ToLower(idOrARN), nil
}

func (s *Service) snapshotScope(ctx context.Context, op, idOrARN string) (scope, string, error) {
	if s.snaps == nil {
		return scope{}, "", awserr.New(awserr.Invalid, "InvalidParameterCombination", "DB snapshots are not available on this coffer: it has no vault storage")
	}
	sc, err := s.scope(ctx)
	if err != nil {
		return scope{}, "", err
	}
	if idOrARN == "" {
		return scope{}, "", missingParam("DBSnapshotIdentifier")
	}
	id, err := snapshotIdentifierOf(sc, idOrARN)
	if err != nil {
		return scope{}, "", err
	}
	if err := s.authorize(ctx, op, SnapshotARN(sc.Region, sc.Account, id), nil); err != nil {
		return scope{}, "", err
	}
	return sc, id, nil
}

// CreateSnapshot records a snapshot of the instance as creating and takes
// it in the background; the snapshot becomes available, or failed.
func (s *Service) CreateSnapshot(ctx context.Context, snapshotID, instanceID string) (*Snapshot, error) {
	sc, id, err := s.snapshotScope(ctx, "CreateDBSnapshot", snapshotID)
	if err != nil {
		return nil, err
	}
	if instanceID == "" {
		return nil, missingParam("DBInstanceIdentifier")
	}
	iid, err := s.identifierOf(sc, instanceID)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, "CreateDBSnapshot", InstanceARN(sc.Region, sc.Account, iid), nil); err != nil {
		return nil, err
	}
	inst, err := s.load(ctx, s.store, sc, iid)
	if isNotFound(err) {
		return nil, instanceNotFound(iid)
	}
	if err != nil {
		return nil, err
	}
	if inst.Status != StatusAvailable {
		return nil, invalidState("DB instance %s is %s; a snapshot needs it available", iid, inst.Status)
	}
	snap := (&Snapshot{Identifier: id, ARN: SnapshotARN(sc.Region, sc.Account, id), Account: sc.Account, Region: sc.Region, CreatedAt: s.now()}).of(inst)
	if err := s.store.InTx(ctx, func(q meta.Querier) error { return s.insertSnapshot(ctx, q, snap) }); err != nil {
		return nil, err
	}
	s.takeSnapshot(ctx, snap, inst, false, func(context.Context, error) {})
	return snap, nil
}

// of fills the snapshot's source fields from the instance and makes it
// creating.
func (snap *Snapshot) of(inst *Instance) *Snapshot {
	snap.InstanceIdentifier, snap.InstanceARN, snap.Engine, snap.EngineVersion = inst.Identifier, inst.ARN, inst.Engine, inst.EngineVersion
	snap.InstanceClass, snap.AllocatedStorage, snap.DBName, snap.MasterUsername = inst.InstanceClass, inst.AllocatedStorage, inst.DBName, inst.MasterUsername
	snap.StorageEncrypted, snap.KMSKeyARN, snap.Status, snap.Type = inst.StorageEncrypted, inst.KMSKeyARN, SnapshotCreating, SnapshotManual
	return snap
}

// finalSnapshotKey marks, in a snapshot's context, the instance whose
// final snapshot (DeleteDBInstance) it is: Resource serves that instance
// while it is deleting.
type finalSnapshotKey struct{}

func finalSnapshotOf(ctx context.Context) string {
	arn, _ := ctx.Value(finalSnapshotKey{}).(string)
	return arn
}

// finalSnapshot checks DeleteDBInstance's FinalDBSnapshotIdentifier: the
// caller must be allowed rds:CreateDBSnapshot on it. The instance fills
// it (of) once loaded.
func (s *Service) finalSnapshot(ctx context.Context, sc scope, snapshotID, instanceID string) (*Snapshot, error) {
	if snapshotID == "" {
		return nil, invalidCombination("FinalDBSnapshotIdentifier is required unless SkipFinalSnapshot is specified.")
	}
	_, id, err := s.snapshotScope(ctx, "CreateDBSnapshot", snapshotID)
	if err != nil {
		return nil, err
	}
	return &Snapshot{Identifier: id, ARN: SnapshotARN(sc.Region, sc.Account, id), Account: sc.Account, Region: sc.Region, CreatedAt: s.now()}, nil
}

// takeSnapshot takes the recorded snapshot of the instance in the
// background as the caller in ctx, records it available or failed, then
// calls then with the outcome.
func (s *Service) takeSnapshot(ctx context.Context, snap *Snapshot, inst *Instance, final bool, then func(context.Context, error)) {
	s.fillSnapshot(ctx, snap, func(bg context.Context) (SnapshotWritten, error) {
		if final {
			bg = context.WithValue(bg, finalSnapshotKey{}, inst.ARN)
		}
		return s.snaps.Take(bg, inst)
	}, then)
}

// copyInBackground copies src into the recorded snapshot dst in the
// background as the caller in ctx.
func (s *Service) copyInBackground(ctx context.Context, src, dst *Snapshot) {
	s.fillSnapshot(ctx, dst, func(bg context.Context) (SnapshotWritten, error) {
		return s.snaps.Copy(bg, src, dst)
	}, func(context.Context, error) {})
}

// fillSnapshot runs fill in the background as the caller in ctx and
// records the snapshot available or failed, then calls then.
func (s *Service) fillSnapshot(ctx context.Context, snap *Snapshot, fill func(context.Context) (SnapshotWritten, error), then func(context.Context, error)) {
	caller, call := identity.Caller(ctx), reqctx.CallFrom(ctx)
	s.background(func(bg context.Context) {
		bg = reqctx.WithCall(identity.WithCaller(context.WithoutCancel(bg), caller), call)
		w, err := fill(bg)
		if err != nil {
			s.log.Error("DB snapshot failed", "snapshot", snap.ARN, "err", err)
			s.setSnapshotStatus(bg, snap.ARN, SnapshotFailed, SnapshotWritten{})
		} else {
			s.setSnapshotStatus(bg, snap.ARN, SnapshotAvailable, w)
		}
		then(bg, err)
	})
}

// DescribeSnapshots lists the caller's manual snapshots (snapshotType
// manual, or empty), AWS Backup's recovery points of RDS instances
// (awsbackup) or the snapshots other accounts share with the caller
// (shared, or empty with includeShared), of one instance or one snapshot
// when named.
func (s *Service) DescribeSnapshots(ctx context.Context, snapshotID, instanceID, snapshotType string, includeShared bool) ([]*Snapshot, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	if snapshotType != "" && !snapshotTypes[snapshotType] {
		return nil, invalidParam("SnapshotType %q is not one of automated, manual, shared, public, awsbackup", snapshotType)
	}
	if err := s.authorize(ctx, "DescribeDBSnapshots", SnapshotARN(sc.Region, sc.Account, "*"), nil); err != nil {
		return nil, err
	}
	var id, iid, sharedARN string
	if snapshotID != "" {
		switch {
		case strings.HasPrefix(snapshotID, SnapshotAWSBackup+":"):
			id = snapshotID
		case isOtherAccountARN(sc, snapshotID):
			sharedARN = snapshotID
		default:
			if id, err = snapshotIdentifierOf(sc, snapshotID); err != nil {
				return nil, err
			}
		}
	}
	if instanceID != "" {
		if iid, err = s.identifierOf(sc, instanceID); err != nil {
			return nil, err
		}
	}
	var out []*Snapshot
	switch {
	case snapshotType == SnapshotAWSBackup || strings.HasPrefix(id, SnapshotAWSBackup+":"):
		if out, err = s.awsBackupSnapshots(ctx, sc, id, iid); err != nil {
			return nil, err
		}
	case sharedARN != "":
		if snapshotType == "" || snapshotType == SnapshotShared {
			out, err = s.sharedSnapshots(ctx, sc, sharedARN)
		}
	case snapshotType == "" || snapshotType == SnapshotManual:
		if out, err = s.manualSnapshots(ctx, sc, id, iid); err != nil {
			return nil, err
		}
		if snapshotType == "" && includeShared && id == "" && iid == "" {
			var shared []*Snapshot
			shared, err = s.sharedSnapshots(ctx, sc, "")
			out = append(out, shared...)
		}
	case snapshotType == SnapshotShared && id == "" && iid == "":
		out, err = s.sharedSnapshots(ctx, sc, "")
	}
	if err != nil {
		return nil, err
	}
	if snapshotID != "" && len(out) == 0 {
		return nil, snapshotNotFound(snapshotID)
	}
	return out, nil
}

// isOtherAccountARN reports whether idOrARN is an ARN naming another
// account than the caller's.
func isOtherAccountARN(sc scope, idOrARN string) bool {
	parts := strings.SplitN(idOrARN, ":", 7)
	return strings.HasPrefix(idOrARN, "arn:") && len(parts) == 7 && parts[4] != sc.Account
}

// sharedSnapshots lists the snapshots of the caller's region other
// accounts share with the caller's account, or the one named by arn.
func (s *Service) sharedSnapshots(ctx context.Context, sc scope, arn string) ([]*Snapshot, error) {
	q := `SELECT ` + prefixed("s.", snapshotColumns) + ` FROM rds_snapshots s JOIN rds_snapshot_shares h ON h.snapshot_arn = s.arn
		WHERE h.account_id = ? AND s.region = ?`
	args := []any{sc.Account, sc.Region}
	if arn != "" {
		q, args = q+` AND s.arn = ?`, append(args, arn)
	}
	snaps, err := s.querySnapshots(ctx, q+` ORDER BY s.arn`, args...)
	if err != nil {
		return nil, fmt.Errorf("list the DB snapshots shared with %s: %w", sc.Account, err)
	}
	for _, snap := range snaps {
		snap.Type, snap.Identifier = SnapshotShared, snap.ARN
	}
	return snaps, nil
}

// prefixed qualifies each of a comma-separated column list with prefix.
func prefixed(prefix, columns string) string {
	cols := strings.Split(columns, ",")
	for i, c := range cols {
		cols[i] = prefix + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}

func (s *Service) querySnapshots(ctx context.Context, q string, args ...any) ([]*Snapshot, error) {
	rows, err := s.store.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Snapshot
	for rows.Next() {
		snap, err := scanSnapshot(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, snap)
	}
	return out, rows.Err()
}

func (s *Service) awsBackupSnapshots(ctx context.Context, sc scope, id, iid string) ([]*Snapshot, error) {
	if s.backupSnaps == nil {
		return nil, nil
	}
	instanceARN := ""
	if iid != "" {
		instanceARN = InstanceARN(sc.Region, sc.Account, iid)
	}
	all, err := s.backupSnaps.RDSSnapshots(ctx, sc.Account, sc.Region, instanceARN)
	if err != nil {
		return nil, err
	}
	var out []*Snapshot
	for _, snap := range all {
		if id == "" || snap.Identifier == id {
			out = append(out, snap)
		}
	}
	return out, nil
}

func (s *Service) manualSnapshots(ctx context.Context, sc scope, id, iid string) ([]*Snapshot, error) {
	q := `SELECT ` + snapshotColumns + ` FROM rds_snapshots WHERE account_id = ? AND region = ?`
	args := []any{sc.Account, sc.Region}
	if id != "" {
		q, args = q+` AND identifier = ?`, append(args, id)
	}
	if iid != "" {
		q, args = q+` AND instance_identifier = ?`, append(args, iid)
	}
	out, err := s.querySnapshots(ctx, q+` ORDER BY identifier`, args...)
	if err != nil {
		return nil, fmt.Errorf("list DB snapshots: %w", err)
	}
	return out, nil
}

// DeleteSnapshot deletes an available or failed snapshot and its data.
func (s *Service) DeleteSnapshot(ctx context.Context, snapshotID string) (*Snapshot, error) {
	sc, id, err := s.snapshotScope(ctx, "DeleteDBSnapshot", snapshotID)
	if err != nil {
		return nil, err
	}
	snap, err := s.loadSnapshot(ctx, sc, id)
	if err != nil {
		return nil, err
	}
	if snap.Status == SnapshotCreating || snap.Status == SnapshotDeleting {
		return nil, invalidSnapshotState("DB snapshot %s is %s; it can be deleted once available", id, snap.Status)
	}
	shared, err := s.manifestShared(ctx, snap)
	if err != nil {
		return nil, err
	}
	res, err := s.store.ExecContext(ctx, `UPDATE rds_snapshots SET status = ? WHERE arn = ? AND status = ?`, SnapshotDeleting, snap.ARN, snap.Status)
	if err != nil {
		return nil, fmt.Errorf("delete DB snapshot %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, invalidSnapshotState("DB snapshot %s changed state; try again", id)
	}
	if snap.ManifestID != "" && !shared {
		if err := s.snaps.Delete(ctx, snap); err != nil {
			// Back to its state so that the delete can be retried.
			if _, uerr := s.store.ExecContext(context.WithoutCancel(ctx), `UPDATE rds_snapshots SET status = ? WHERE arn = ?`, snap.Status, snap.ARN); uerr != nil {
				s.log.Error("restore DB snapshot status", "snapshot", snap.ARN, "err", uerr)
			}
			return nil, fmt.Errorf("delete the data of DB snapshot %s: %w", id, err)
		}
	}
	if _, err := s.store.ExecContext(ctx, `DELETE FROM rds_snapshots WHERE arn = ?`, snap.ARN); err != nil {
		return nil, fmt.Errorf("delete DB snapshot %s: %w", id, err)
	}
	snap.Status = SnapshotDeleted
	return snap, nil
}

// manifestShared reports whether another snapshot refers to the
// snapshot's data: a copy in the same account, region and key shares its
// source's (SnapshotData.Copy), which is deleted with the last snapshot
// referring to it. Two such snapshots deleted at the same moment may each
// see the other and leave the data behind: never data lost, at worst
// data kept.
func (s *Service) manifestShared(ctx context.Context, snap *Snapshot) (bool, error) {
	if snap.ManifestID == "" {
		return false, nil
	}
	var n int
	if err := s.store.QueryRowContext(ctx, `SELECT COUNT(*) FROM rds_snapshots WHERE manifest_id = ? AND arn <> ?`, snap.ManifestID, snap.ARN).Scan(&n); err != nil {
		return false, fmt.Errorf("find the DB snapshots sharing %s's data: %w", snap.ARN, err)
	}
	return n > 0, nil
}

// RestoreFromSnapshotInput is RestoreDBInstanceFromDBSnapshot's.
type RestoreFromSnapshotInput struct {
	SnapshotIdentifier string
	Identifier         string
	InstanceClass      string
	DBName             string
}

// RestoreFromSnapshot creates a new instance from an available snapshot
// of the caller's or shared with the caller: it keeps the source's
// DBName, MasterUsername, password, engine and key unless told
// otherwise. It answers at once with the instance creating; the data is
// restored in the background, after which the instance is available, or
// failed with what went wrong and nothing of the restore left.
func (s *Service) RestoreFromSnapshot(ctx context.Context, in RestoreFromSnapshotInput) (*Instance, error) {
	if s.snaps == nil {
		return nil, awserr.New(awserr.Invalid, "InvalidParameterCombination", "DB snapshots are not available on this coffer: it has no vault storage")
	}
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	if in.SnapshotIdentifier == "" {
		return nil, missingParam("DBSnapshotIdentifier")
	}
	if in.Identifier == "" {
		return nil, missingParam("DBInstanceIdentifier")
	}
	snap, err := s.sourceSnapshot(ctx, sc, "RestoreDBInstanceFromDBSnapshot", in.SnapshotIdentifier, false)
	if err != nil {
		return nil, err
	}
	if snap.Status != SnapshotAvailable {
		return nil, invalidSnapshotState("DB snapshot %s is %s; a restore needs it available", snap.Identifier, snap.Status)
	}
	spec := RestoreSpec{Region: sc.Region, Identifier: in.Identifier, Engine: snap.Engine, EngineVersion: snap.EngineVersion,
		DBName: snap.DBName, MasterUsername: snap.MasterUsername, InstanceClass: snap.InstanceClass, AllocatedStorage: snap.AllocatedStorage,
		StorageEncrypted: snap.StorageEncrypted}
	if snap.StorageEncrypted {
		spec.KMSKeyID = snap.KMSKeyARN
	}
	if in.InstanceClass != "" {
		spec.InstanceClass = in.InstanceClass
	}
	if in.DBName != "" {
		spec.DBName = in.DBName
	}
	inst, _, err := s.RecordRestored(ctx, spec)
	if err != nil {
		return nil, err
	}
	spec.Identifier, spec.Recorded = inst.Identifier, inst.ARN
	caller, call := identity.Caller(ctx), reqctx.CallFrom(ctx)
	s.background(func(bg context.Context) {
		bg = reqctx.WithCall(identity.WithCaller(context.WithoutCancel(bg), caller), call)
		if err := s.snaps.Restore(bg, snap, spec); err != nil {
			s.log.Error("restore from DB snapshot failed", "snapshot", snap.ARN, "instance", inst.ARN, "err", err)
			if err := s.MarkFailed(bg, inst.ARN, fmt.Sprintf("the restore from DB snapshot %s failed: %v", snap.ARN, err)); err != nil {
				s.log.Error("release a failed restore", "instance", inst.ARN, "err", err)
			}
		}
	})
	return inst, nil
}

const snapshotColumns = `account_id, region, identifier, arn, instance_identifier, instance_arn, engine, engine_version, instance_class,
	allocated_storage, db_name, master_username, storage_encrypted, kms_key_arn, status, manifest_id, engine_metadata, size_bytes, created_at`

func (s *Service) insertSnapshot(ctx context.Context, q meta.Querier, snap *Snapshot) error {
	var n int
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM rds_snapshots WHERE account_id = ? AND region = ? AND identifier = ?`,
		snap.Account, snap.Region, snap.Identifier).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return snapshotExists(snap.Identifier)
	}
	// The node that fills it: Resume fails it there if cut short.
	_, err := q.ExecContext(ctx, `INSERT INTO rds_snapshots (`+snapshotColumns+`, node_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		snap.Account, snap.Region, snap.Identifier, snap.ARN, snap.InstanceIdentifier, snap.InstanceARN, snap.Engine, snap.EngineVersion,
		snap.InstanceClass, snap.AllocatedStorage, snap.DBName, snap.MasterUsername, boolInt(snap.StorageEncrypted), snap.KMSKeyARN,
		snap.Status, snap.ManifestID, snap.EngineMetadata, snap.Size, snap.CreatedAt.UnixMilli(), s.hosts.NodeID())
	return err
}

// resumeSnapshots marks failed the snapshots this node was taking or
// copying when it stopped: their data was never committed, and the vault
// storage engine's collector drops what they wrote.
func (s *Service) resumeSnapshots(ctx context.Context) error {
	res, err := s.store.ExecContext(ctx, `UPDATE rds_snapshots SET status = ? WHERE status = ? AND node_id IN (?, '')`,
		SnapshotFailed, SnapshotCreating, s.hosts.NodeID())
	if err != nil {
		return fmt.Errorf("fail the DB snapshots cut short: %w", err)
	}
	if n, err := res.RowsAffected(); err == nil && n > 0 {
		s.log.Warn("DB snapshots cut short when coffer stopped are failed; delete them and take them again", "snapshots", n)
	}
	return nil
}

func (s *Service) setSnapshotStatus(ctx context.Context, arn, status string, w SnapshotWritten) {
	if _, err := s.store.ExecContext(ctx, `UPDATE rds_snapshots SET status = ?, manifest_id = ?, engine_metadata = ?, size_bytes = ? WHERE arn = ?`,
		status, w.ManifestID, w.EngineMetadata, w.Size, arn); err != nil {
		s.log.Error("record DB snapshot status", "snapshot", arn, "status", status, "err", err)
	}
}

func (s *Service) loadSnapshot(ctx context.Context, sc scope, id string) (*Snapshot, error) {
	snap, err := scanSnapshot(s.store.QueryRowContext(ctx, `SELECT `+snapshotColumns+` FROM rds_snapshots WHERE account_id = ? AND region = ? AND identifier = ?`,
		sc.Account, sc.Region, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, snapshotNotFound(id)
	}
	return snap, err
}

func scanSnapshot(row scanner) (*Snapshot, error) {
	var snap Snapshot
	var encrypted int
	var created int64
	if err := row.Scan(&snap.Account, &snap.Region, &snap.Identifier, &snap.ARN, &snap.InstanceIdentifier, &snap.InstanceARN, &snap.Engine,
		&snap.EngineVersion, &snap.InstanceClass, &snap.AllocatedStorage, &snap.DBName, &snap.MasterUsername, &encrypted, &snap.KMSKeyARN,
		&snap.Status, &snap.ManifestID, &snap.EngineMetadata, &snap.Size, &created); err != nil {
		return nil, err
	}
	snap.StorageEncrypted, snap.CreatedAt, snap.Type = encrypted != 0, time.UnixMilli(created).UTC(), SnapshotManual
	return &snap, nil
}
