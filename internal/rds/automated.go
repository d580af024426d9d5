package rds

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/coffer-dev/coffer/internal/awserr"
	"github.com/coffer-dev/coffer/internal/engine"
	"github.com/coffer-dev/coffer/internal/engine/pgphysical"
	"github.com/coffer-dev/coffer/internal/identity"
	"github.com/coffer-dev/coffer/internal/meta"
)

// Automated backups: an instance on a PostgreSQL server of its own, or
// a registered PostgreSQL database whose role may replicate
// (replication.go), with BackupRetentionPeriod 1 to 35 has its WAL
// captured continuously
// (the app runs it, package pgwal) into the vault named by
// AutomatedBackupVault, so it can be restored to any time of its
// restore window (RestoreToPointInTime). 0 turns capture off and drops
// the replication slot. SQLite instances have no WAL to stream: they
// are refused a retention above 0.

// ContinuousBackup is the instances' WAL archives, as the app wires
// them (package pgwal).
type ContinuousBackup interface {
	// Window is the instance's restore window; ErrNoRestoreWindow when
	// nothing is restorable yet.
	Window(ctx context.Context, inst *Instance) (RestoreWindow, error)
	// Restore fills dir (absent or empty) with the instance's data at
	// the time at (or at the latest restorable time), ready for a server
	// to recover and promote; it returns the base backup's metadata
	// (for pgphysical.Validate) and the time restored to. A time outside
	// the window gets an *OutsideWindowError.
	Restore(ctx context.Context, inst *Instance, at time.Time, latest bool, dir string) (*engine.Metadata, time.Time, error)
	// StopCapture stops an instance's capture (it is being deleted) and
	// waits until it has stopped.
	StopCapture(ctx context.Context, inst *Instance) error
	// DeleteArchive deletes an instance's automated backups (its WAL
	// archive), once nothing captures it.
	DeleteArchive(ctx context.Context, inst *Instance) error
}

// RestoreWindow is the span of times an instance can be restored to.
type RestoreWindow struct {
	Earliest time.Time
	Latest   time.Time
}

func (w RestoreWindow) String() string {
	return w.Earliest.UTC().Format(time.RFC3339) + " to " + w.Latest.UTC().Format(time.RFC3339)
}

// ErrNoRestoreWindow: the instance's first base backup and the WAL
// after it are not stored yet.
var ErrNoRestoreWindow = errors.New("no restorable time yet")

// OutsideWindowError is a restore time outside the restore window.
type OutsideWindowError struct {
	Time   time.Time
	Window RestoreWindow
}

func (e *OutsideWindowError) Error() string {
	return fmt.Sprintf("restore time %s is outside the restorable window %s", e.Time.UTC().Format(time.RFC3339Nano), e.Window)
}

// SetContinuousBackup gives the service the WAL archives.
func (s *Service) SetContinuousBackup(c ContinuousBackup) { s.continuous = c }

// AutomatedBackupVault is the vault (of the vault storage engine,
// ACCOUNT.NAME as backup vaults are) holding an instance's automated
// backups: its base backups and WAL, under the instance's KMS key. The
// instance's grant for it is constrained to this vault
// (encryption context coffer:vault).
func AutomatedBackupVault(inst *Instance) string {
	return inst.Account + ".rds-automated-" + strings.ToLower(inst.ResourceID)
}

// AutomatedBackupStream names an instance's WAL archive (package pgwal)
// in its automated-backups vault: its DbiResourceId, in lower case.
func AutomatedBackupStream(inst *Instance) string {
	return strings.ToLower(inst.ResourceID)
}

// automatedGrant is the grant RDS holds to encrypt and decrypt an
// instance's automated backups with its key.
func automatedGrant(inst *Instance, keyARN string) Grant {
	return Grant{
		KeyARN: keyARN, Grantee: ServicePrincipal(inst.Region), Name: inst.ResourceID + "-automated-backups",
		Operations: []string{"Decrypt", "GenerateDataKey"},
		Context:    map[string]string{"coffer:vault": AutomatedBackupVault(inst)},
	}
}

// retentionFor validates BackupRetentionPeriod for an engine: SQLite
// instances are refused automated backups (their default is 0).
func retentionFor(engineName string, days *int) (int, error) {
	if engineName != EngineSQLite {
		return retention(days)
	}
	if days != nil && *days != 0 {
		return 0, invalidCombination("Automated backups (BackupRetentionPeriod %d) are not available for %s instances: point-in-time restore streams PostgreSQL's WAL, which SQLite has none of. Set BackupRetentionPeriod to 0; snapshots (AWS Backup, CreateDBSnapshot) remain available.", *days, EngineSQLite)
	}
	return 0, nil
}

// ServiceContext is a context acting as the RDS service of the
// region, the principal the instances' grants name: the app's WAL
// capture writes the vault with it.
func (s *Service) ServiceContext(ctx context.Context, region string) context.Context {
	return identity.WithCaller(ctx, identity.ServicePrincipal(ServicePrincipal(region)))
}

// capturable says whether coffer can capture an instance's WAL: a
// PostgreSQL instance on a server of its own, or a registered
// PostgreSQL database (over the network, as its role).
func capturable(inst *Instance) bool {
	return inst.Engine == EnginePostgres && (inst.server != "" || inst.Origin == OriginRegistered)
}

// CaptureSlot is the replication slot an instance's capture holds: the
// default (pgwal's) on a server of its own, one named after the
// instance on a registered database's server, which other registered
// databases (of this or another coffer) may share.
func CaptureSlot(inst *Instance) string {
	if inst.Origin != OriginRegistered {
		return ""
	}
	return "coffer_" + strings.ReplaceAll(strings.ToLower(inst.ResourceID), "-", "_")
}

// ContinuousInstances are the instances whose WAL this node captures:
// available PostgreSQL instances on a server of their own on this node,
// and registered PostgreSQL databases whose automated backups were
// turned on on this node (node_id, replication.go), with
// BackupRetentionPeriod above 0; each with the target to capture
// through: coffer's administrator on its own server, the registered
// role (its password decrypted as the RDS service) on a registered one.
func (s *Service) ContinuousInstances(ctx context.Context) ([]*Instance, []engine.Target, error) {
	rows, err := s.store.QueryContext(ctx, `SELECT `+instanceColumns+` FROM rds_instances WHERE backup_retention_period > 0 AND status = ? AND node_id = ? ORDER BY created_at`,
		StatusAvailable, s.hosts.NodeID())
	if err != nil {
		return nil, nil, fmt.Errorf("find instances with automated backups: %w", err)
	}
	var insts []*Instance
	for rows.Next() {
		inst, err := scanInstance(rows)
		if err != nil {
			rows.Close()
			return nil, nil, err
		}
		if !capturable(inst) {
			continue
		}
		if automatedGrantID(inst) == "" {
			if _, warned := s.noGrantWarned.LoadOrStore(inst.ARN, true); !warned {
				s.log.Warn("automated backups need a KMS grant this instance was created without (before coffer had automated backups); restore it into a new instance to get one", "instance", inst.ARN)
			}
			continue
		}
		insts = append(insts, inst)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	var kept []*Instance
	var targets []engine.Target
	for _, inst := range insts {
		t, err := s.captureTarget(ctx, inst)
		if err != nil {
			if _, warned := s.noGrantWarned.LoadOrStore("target "+inst.ARN, true); !warned {
				s.log.Warn("automated backups cannot reach the instance's server", "instance", inst.ARN, "error", err)
			}
			continue
		}
		kept, targets = append(kept, inst), append(targets, t)
	}
	return kept, targets, nil
}

// captureTarget is what an instance's capture connects as: coffer's
// administrator on its own server, or the registered database's role
// with its password decrypted as the RDS service.
func (s *Service) captureTarget(ctx context.Context, inst *Instance) (engine.Target, error) {
	if inst.Origin == OriginRegistered {
		password, err := s.open(ctx, inst)
		if err != nil {
			return engine.Target{}, err
		}
		t := inst.target
		t.Password = password
		return t, nil
	}
	srv, err := s.hosts.Servers()
	if err != nil {
		return engine.Target{}, err
	}
	return srv.AdminTarget(inst.server, "postgres")
}

// AutomatedBackupInstances are every instance whose WAL is captured,
// on any node and in any account: PostgreSQL instances on a server of
// their own and registered PostgreSQL databases with
// BackupRetentionPeriod above 0 (coffer status).
func (s *Service) AutomatedBackupInstances(ctx context.Context) ([]*Instance, error) {
	rows, err := s.store.QueryContext(ctx, `SELECT `+instanceColumns+` FROM rds_instances WHERE backup_retention_period > 0 ORDER BY account_id, region, identifier`)
	if err != nil {
		return nil, fmt.Errorf("find instances with automated backups: %w", err)
	}
	defer rows.Close()
	var insts []*Instance
	for rows.Next() {
		inst, err := scanInstance(rows)
		if err != nil {
			return nil, err
		}
		if capturable(inst) {
			insts = append(insts, inst)
		}
	}
	return insts, rows.Err()
}

// CaptureOff says whether an instance whose capture stopped had its
// automated backups turned off (retention 0) and is still on this
// node's server (or is a registered database this node captured), so
// its replication slot (CaptureSlot) should be dropped, with the target
// to drop it through.
func (s *Service) CaptureOff(ctx context.Context, arn string) (bool, engine.Target, error) {
	inst, err := s.loadARN(ctx, arn)
	if isNotFound(err) {
		return false, engine.Target{}, nil
	}
	if err != nil {
		return false, engine.Target{}, err
	}
	if inst.BackupRetentionPeriod != 0 || inst.Status != StatusAvailable || !capturable(inst) || inst.NodeID != s.hosts.NodeID() {
		return false, engine.Target{}, nil
	}
	t, err := s.captureTarget(ctx, inst)
	return err == nil, t, err
}

// restoreWindow is an instance's window for the API: none when
// automated backups are off or nothing is restorable yet.
func (s *Service) restoreWindow(ctx context.Context, inst *Instance) (RestoreWindow, bool) {
	if s.continuous == nil || inst.BackupRetentionPeriod == 0 || !capturable(inst) {
		return RestoreWindow{}, false
	}
	w, err := s.continuous.Window(ctx, inst)
	if err != nil {
		if !errors.Is(err, ErrNoRestoreWindow) {
			s.log.Warn("read the restore window", "instance", inst.ARN, "error", err)
		}
		return RestoreWindow{}, false
	}
	return w, true
}

// LatestRestorableTime is DescribeDBInstances' LatestRestorableTime:
// false when the instance cannot be restored to a point in time (yet).
func (s *Service) LatestRestorableTime(ctx context.Context, inst *Instance) (time.Time, bool) {
	w, ok := s.restoreWindow(ctx, inst)
	return w.Latest, ok
}

// AutomatedBackup is an instance's automated backups, as
// DescribeDBInstanceAutomatedBackups shows them.
type AutomatedBackup struct {
	Instance *Instance // the instance, or the deleted one a retained backup was of
	// Window is the restore window; nil when nothing is restorable yet.
	Window *RestoreWindow
	// Status is active (a current instance's), creating (nothing
	// restorable yet) or retained (a deleted instance's).
	Status string
}

// Automated backups' statuses.
const (
	AutomatedBackupActive   = "active"
	AutomatedBackupCreating = "creating"
	AutomatedBackupRetained = "retained"
)

// DescribeAutomatedBackups lists the automated backups of the caller's
// instances in the region (those with BackupRetentionPeriod above 0)
// and the retained ones of deleted instances, or those of one
// instance, by identifier or DbiResourceId.
func (s *Service) DescribeAutomatedBackups(ctx context.Context, id, resourceID string) ([]AutomatedBackup, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	if id != "" {
		if id, err = s.identifierOf(sc, id); err != nil {
			return nil, err
		}
	}
	resource := InstanceARN(sc.Region, sc.Account, "*")
	if id != "" {
		resource = InstanceARN(sc.Region, sc.Account, id)
	}
	if err := s.authorize(ctx, "DescribeDBInstanceAutomatedBackups", resource, nil); err != nil {
		return nil, err
	}
	insts, err := s.list(ctx, sc, id, "")
	if err != nil {
		return nil, err
	}
	var out []AutomatedBackup
	for _, inst := range insts {
		// A deleting instance's automated backups are being deleted, or are retained.
		if inst.BackupRetentionPeriod == 0 || inst.Status == StatusDeleting || resourceID != "" && inst.ResourceID != resourceID {
			continue
		}
		ab := AutomatedBackup{Instance: inst, Status: AutomatedBackupCreating}
		if w, ok := s.restoreWindow(ctx, inst); ok {
			ab.Window, ab.Status = &w, AutomatedBackupActive
		}
		out = append(out, ab)
	}
	rbs, err := s.retained(ctx, sc, id, resourceID)
	if err != nil {
		return nil, err
	}
	for _, rb := range rbs {
		ab := AutomatedBackup{Instance: rb.Instance, Status: AutomatedBackupRetained}
		if s.continuous != nil {
			w, err := s.continuous.Window(ctx, rb.Instance)
			switch {
			case err == nil:
				ab.Window = &w
			case !errors.Is(err, ErrNoRestoreWindow):
				s.log.Warn("read the restore window of retained automated backups", "automated_backups", rb.ARN, "error", err)
			}
		}
		out = append(out, ab)
	}
	if len(out) == 0 && (id != "" || resourceID != "") {
		return nil, awserr.New(awserr.NotFound, "DBInstanceAutomatedBackupNotFound", "No automated backup for DB instance %s was found.", id+resourceID).WithStatus(404)
	}
	return out, nil
}

// PointInTimeInput is RestoreDBInstanceToPointInTime's input.
type PointInTimeInput struct {
	Source      string // SourceDBInstanceIdentifier (or its ARN)
	Target      string // TargetDBInstanceIdentifier
	RestoreTime *time.Time
	UseLatest   bool
	// InstanceClass is the new instance's class; empty: the source's.
	// The new instance is encrypted as the source is, with its key
	// (the operation takes no KmsKeyId).
	InstanceClass string
	Tags          map[string]string
}

func invalidRestore(format string, args ...any) *awserr.Error {
	return awserr.New(awserr.Invalid, "InvalidRestoreFault", format, args...)
}

// RestoreToPointInTime creates a new instance holding the source's data
// as of a time of its restore window: the newest base backup before it
// plus the WAL up to it, replayed by the new server, which is then
// checked (pgphysical.Validate) before the instance becomes available.
// The restore runs in the request; the instance is returned creating
// and becomes available once validated, or failed with what went wrong.
func (s *Service) RestoreToPointInTime(ctx context.Context, in PointInTimeInput) (*Instance, error) {
	if in.Source == "" {
		return nil, missingParam("SourceDBInstanceIdentifier")
	}
	if in.Target == "" {
		return nil, missingParam("TargetDBInstanceIdentifier")
	}
	if in.RestoreTime != nil && in.UseLatest {
		return nil, invalidCombination("RestoreTime and UseLatestRestorableTime cannot both be given")
	}
	if in.RestoreTime == nil && !in.UseLatest {
		return nil, invalidCombination("Either RestoreTime or UseLatestRestorableTime must be given")
	}
	sc, id, err := s.authorizeInstance(ctx, "RestoreDBInstanceToPointInTime", in.Source)
	if err != nil {
		return nil, err
	}
	if err := ValidIdentifier(in.Target); err != nil {
		return nil, err
	}
	target := strings.ToLower(in.Target)
	if err := s.authorize(ctx, "RestoreDBInstanceToPointInTime", InstanceARN(sc.Region, sc.Account, target), nil); err != nil {
		return nil, err
	}
	src, err := s.load(ctx, s.store, sc, id)
	if err != nil {
		return nil, err
	}
	if src.BackupRetentionPeriod == 0 {
		return nil, awserr.New(awserr.Invalid, "PointInTimeRestoreNotEnabled",
			"DB instance %s has BackupRetentionPeriod 0: automated backups are off, so it cannot be restored to a point in time. Turn them on with ModifyDBInstance BackupRetentionPeriod 1 to 35.", src.Identifier)
	}
	if !capturable(src) || s.continuous == nil {
		return nil, awserr.New(awserr.Invalid, "PointInTimeRestoreNotEnabled",
			"DB instance %s is %s: coffer captures the WAL of PostgreSQL instances on a server of their own and of registered PostgreSQL databases only", src.Identifier, placementOf(src))
	}
	if err := s.onThisNode(src); err != nil {
		return nil, err
	}
	if err := s.restorableHere(src); err != nil {
		return nil, err
	}
	if _, err := s.load(ctx, s.store, sc, target); err == nil {
		return nil, alreadyExists(target)
	} else if !isNotFound(err) {
		return nil, err
	}
	password, err := s.open(ctx, src)
	if err != nil {
		return nil, keyNotAccessible("the credentials of DB instance %s cannot be decrypted: %v", src.Identifier, err)
	}
	keyID := "" // an unencrypted instance's credentials: aws/rds
	if src.StorageEncrypted {
		keyID = src.KMSKeyARN
	}
	class := in.InstanceClass
	if class == "" {
		class = restoredClass(src)
	}
	var at time.Time
	if in.RestoreTime != nil {
		at = *in.RestoreTime
	}
	inst, t, md, restored, err := s.pointInTime(ctx, src, at, in.UseLatest, RestoreSpec{
		Region: sc.Region, Identifier: target, Engine: src.Engine, DBName: src.DBName, MasterUsername: src.MasterUsername,
		MasterUserPassword: password, InstanceClass: class, AllocatedStorage: src.AllocatedStorage,
		StorageEncrypted: src.StorageEncrypted, KMSKeyID: keyID, EngineVersion: restoredVersion(src), Tags: in.Tags,
		Adopt: src.Origin == OriginRegistered,
	})
	var we *OutsideWindowError
	if errors.As(err, &we) {
		return nil, restoreOutside(src, we.Time, we.Window)
	}
	if err != nil {
		return nil, err
	}
	s.log.Info("restored to a point in time", "source", src.ARN, "instance", inst.ARN, "time", restored.UTC().Format(time.RFC3339Nano))
	s.background(func(ctx context.Context) { s.validateRestored(ctx, inst, t, md) })
	return inst, nil
}

// pointInTime creates the instance spec describes from src's data at
// the time at (or its latest restorable time): the newest base backup
// before it plus the WAL up to it, replayed by the new server, which is
// not validated yet. A time outside the window is refused with the
// window in the message.
func (s *Service) pointInTime(ctx context.Context, src *Instance, at time.Time, latest bool, spec RestoreSpec) (*Instance, engine.Target, *engine.Metadata, time.Time, error) {
	dir, data, md, restored, err := s.pointInTimeDir(ctx, src, at, latest)
	if err != nil {
		return nil, engine.Target{}, nil, time.Time{}, err
	}
	defer os.RemoveAll(dir)
	spec.DataDir = data
	inst, t, err := s.CreateRestoredInstance(ctx, spec)
	return inst, t, md, restored, err
}

// pointInTimeDir fills data, in a new directory dir from IncomingDir
// (the caller removes it), with src's data at the time at (or its latest
// restorable time), ready for a server to recover and promote.
func (s *Service) pointInTimeDir(ctx context.Context, src *Instance, at time.Time, latest bool) (dir, data string, md *engine.Metadata, restored time.Time, err error) {
	w, err := s.continuous.Window(ctx, src)
	if errors.Is(err, ErrNoRestoreWindow) {
		return "", "", nil, time.Time{}, invalidRestore("DB instance %s has no restorable time yet: its first automated backup and the WAL after it are not stored yet; try again in a few minutes", src.Identifier)
	}
	if err != nil {
		return "", "", nil, time.Time{}, err
	}
	if !latest && (at.Before(w.Earliest) || at.After(w.Latest)) {
		return "", "", nil, time.Time{}, &OutsideWindowError{Time: at, Window: w}
	}
	if dir, err = s.IncomingDir(); err != nil {
		return "", "", nil, time.Time{}, err
	}
	data = filepath.Join(dir, "data")
	md, restored, err = s.continuous.Restore(ctx, src, at, latest, data)
	if err != nil {
		os.RemoveAll(dir)
		return "", "", nil, time.Time{}, fmt.Errorf("restore %s to a point in time: %w", src.Identifier, err)
	}
	return dir, data, md, restored, nil
}

func restoreOutside(src *Instance, at time.Time, w RestoreWindow) error {
	return invalidRestore("Restore time %s is outside the restorable window of DB instance %s: the earliest restorable time is %s and the latest restorable time is %s",
		at.UTC().Format(time.RFC3339), src.Identifier, w.Earliest.UTC().Format(time.RFC3339Nano), w.Latest.UTC().Format(time.RFC3339Nano))
}

// validateRestored checks a point-in-time restore's server and makes
// the instance available, or failed (dropping the server).
func (s *Service) validateRestored(ctx context.Context, inst *Instance, t engine.Target, md *engine.Metadata) {
	vctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	t.Role = ""
	_, err := pgphysical.Validate(vctx, t, md)
	if err == nil {
		err = s.MarkAvailable(ctx, inst.ARN)
	}
	if err != nil {
		s.log.Error("point-in-time restore failed validation", "instance", inst.ARN, "error", err)
		if merr := s.MarkFailed(ctx, inst.ARN, "the restored server failed validation: "+err.Error()+"; delete the instance and restore again"); merr != nil {
			s.log.Error("drop a failed point-in-time restore", "instance", inst.ARN, "error", merr)
		}
	}
}

// AutomatedBackupsARN is arn:aws:rds:REGION:ACCOUNT:auto-backup:ab-…,
// named after the instance's DbiResourceId.
func AutomatedBackupsARN(inst *Instance) string {
	return fmt.Sprintf("arn:%s:rds:%s:%s:auto-backup:ab-%s", identity.Partition, inst.Region, inst.Account, strings.ToLower(strings.TrimPrefix(inst.ResourceID, "db-")))
}

// backupWindowRe is PreferredBackupWindow's format, hh24:mi-hh24:mi.
var backupWindowRe = regexp.MustCompile(`^([01][0-9]|2[0-3]):([0-5][0-9])-([01][0-9]|2[0-3]):([0-5][0-9])$`)

// parseBackupWindow returns a window's start and end as minutes of the
// UTC day (the end may be smaller: the window spans midnight).
func parseBackupWindow(w string) (start, end int, err error) {
	m := backupWindowRe.FindStringSubmatch(w)
	if m == nil {
		return 0, 0, invalidParam("Invalid backup window %q: the format is hh24:mi-hh24:mi, in UTC (for example 03:00-03:30)", w)
	}
	at := func(h, mi string) int { hh, _ := strconv.Atoi(h); mm, _ := strconv.Atoi(mi); return hh*60 + mm }
	start, end = at(m[1], m[2]), at(m[3], m[4])
	if (end-start+24*60)%(24*60) < 30 {
		return 0, 0, invalidParam("The backup window must be at least 30 minutes.")
	}
	return start, end, nil
}

// validBackupWindow checks a PreferredBackupWindow ("" is none given).
func validBackupWindow(w string) error {
	if w == "" {
		return nil
	}
	_, _, err := parseBackupWindow(w)
	return err
}

// defaultBackupWindow is a random 30-minute window of the 8-hour block
// 03:00-11:00 UTC, as RDS assigns one when none is given.
func defaultBackupWindow() string {
	start := 3*60 + 30*mrand.IntN(16)
	end := start + 30
	return fmt.Sprintf("%02d:%02d-%02d:%02d", start/60, start%60, end/60, end%60)
}

// InBackupWindow says whether t falls in the window.
func InBackupWindow(w string, t time.Time) bool {
	start, end, err := parseBackupWindow(w)
	if err != nil {
		return false
	}
	t = t.UTC()
	m := t.Hour()*60 + t.Minute()
	if start <= end {
		return m >= start && m < end
	}
	return m >= start || m < end
}

// setBackupWindow records an instance's PreferredBackupWindow; "" keeps
// the one it has, or gives a new instance RDS's default.
func (s *Service) setBackupWindow(ctx context.Context, arn, w string) error {
	if w == "" {
		if _, err := s.backupWindow(ctx, arn); err == nil {
			return nil
		} else if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		w = defaultBackupWindow()
	}
	_, err := s.store.ExecContext(ctx, `INSERT INTO rds_backup_windows (arn, backup_window) VALUES (?, ?)
		ON CONFLICT (arn) DO UPDATE SET backup_window = excluded.backup_window`, arn, w)
	if err != nil {
		return fmt.Errorf("record the backup window: %w", err)
	}
	return nil
}

// BackupWindow is an instance's PreferredBackupWindow; "" when none is
// recorded (restored and registered instances) or it cannot be read
// (logged).
func (s *Service) BackupWindow(ctx context.Context, arn string) string {
	w, err := s.backupWindow(ctx, arn)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		s.log.Warn("read the backup window", "instance", arn, "error", err)
	}
	return w
}

func (s *Service) backupWindow(ctx context.Context, arn string) (string, error) {
	var w string
	err := s.store.QueryRowContext(ctx, `SELECT backup_window FROM rds_backup_windows WHERE arn = ?`, arn).Scan(&w)
	return w, err
}

// forgetBackupWindow removes a deleted instance's window.
func (s *Service) forgetBackupWindow(ctx context.Context, q meta.Querier, arn string) error {
	_, err := q.ExecContext(ctx, `DELETE FROM rds_backup_windows WHERE arn = ?`, arn)
	return err
}
