package backup

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/coffer-dev/coffer/internal/engine"
	"github.com/coffer-dev/coffer/internal/meta"
)

// Continuous backup (AWS Backup's point-in-time recovery for RDS): a
// plan rule with EnableContinuousBackup keeps one continuous recovery
// point per resource and vault. Its data is not a manifest of the vault
// but the instance's automated backups (base backups and WAL, under the
// instance's key), which the rule's backup jobs turn on with the rule's
// retention, as AWS Backup manages an RDS instance's automated backups;
// the same machinery serves RDS's BackupRetentionPeriod. The recovery
// point restores to any time of its window (StartRestoreJob with
// RestoreTime or UseLatestRestorableTime in its metadata); a copy of it
// is a snapshot at its latest restorable time.

// Continuous is the resources' continuous backup, as the app wires it
// (the RDS instances' WAL capture). The caller in ctx is the job's role
// session or the API caller; each call is authorized as the equivalent
// RDS operation.
type Continuous interface {
	// Enable turns continuous backup of a resource on, or changes its
	// retention, keeping days of restorable time; it returns the
	// resource's DbiResourceId. Resources whose changes coffer cannot
	// capture (SQLite, databases on the shared host) are refused with a message
	// saying why.
	Enable(ctx context.Context, resourceARN string, days int) (string, error)
	// Associate records the continuous recovery point managing the
	// resource's continuous backup (RDS's AwsBackupRecoveryPointArn);
	// Release forgets it (disassociated or deleted), unless another
	// took over.
	Associate(ctx context.Context, resourceARN, recoveryPointARN string) error
	Release(ctx context.Context, resourceARN, recoveryPointARN string) error
	// Disable turns it off: capture stops and the data no restore needs
	// any more is deleted.
	Disable(ctx context.Context, resourceARN string) error
	// Window is the span of times the resource can be restored to;
	// ErrNoRestoreWindow until the first base backup and the WAL after
	// it are stored.
	Window(ctx context.Context, resourceARN string) (earliest, latest time.Time, err error)
	// BaseBackup takes a base backup now (the rule's schedule).
	BaseBackup(ctx context.Context, resourceARN string) error
	// Restore creates a new instance holding the resource's data at the
	// time at (or at its latest restorable time), validated; a time
	// outside the window gets an *OutsideWindowError.
	Restore(ctx context.Context, resourceARN string, spec RestoreSpec, at time.Time, latest bool) (*Restored, string, time.Time, error)
	// SnapshotLatest writes a physical snapshot of the resource's data at
	// its latest restorable time into sink.
	SnapshotLatest(ctx context.Context, resourceARN string, sink Sink) (*engine.Metadata, time.Time, error)
}

// ErrNoRestoreWindow: nothing is restorable yet.
var ErrNoRestoreWindow = errors.New("no restorable time yet")

// OutsideWindowError is a restore time outside a restore window.
type OutsideWindowError struct {
	Time, Earliest, Latest time.Time
}

func (e *OutsideWindowError) Error() string {
	return fmt.Sprintf("restore time %s is outside the restorable window %s to %s", e.Time.UTC().Format(time.RFC3339), e.Earliest.UTC().Format(time.RFC3339Nano), e.Latest.UTC().Format(time.RFC3339Nano))
}

// UseContinuous gives the service the resources' continuous backup.
func (s *Service) UseContinuous(c Continuous) { s.cont = c }

// MaxContinuousDays bounds a continuous backup's retention, as AWS.
const MaxContinuousDays = 35

// Restore metadata keys of a point-in-time restore, as RDS's
// RestoreDBInstanceToPointInTime names them.
const (
	RestoreTimeKey = "RestoreTime"
	UseLatestKey   = "UseLatestRestorableTime"
)

// LifecycleStart is when the recovery point's lifecycle counts from: its
// creation, or for a continuous recovery point its last backup job's
// completion. Each job of its rule renews it, so it expires (its data
// and its capture with it) only when the rule stopped running for its
// retention, as AWS Backup remembers a deleted rule's retention.
func (rp *RecoveryPoint) LifecycleStart() time.Time {
	if IsContinuous(rp.ARN) && !rp.Completed.IsZero() {
		return rp.Completed
	}
	return rp.Created
}

// continuousMarker is in the ARN of every continuous recovery point:
// arn:aws:backup:REGION:ACCOUNT:recovery-point:continuous:db-ID-SUFFIX.
const continuousMarker = ":recovery-point:continuous:"

// IsContinuous reports whether a recovery point ARN is a continuous
// backup's.
func IsContinuous(arn string) bool { return strings.Contains(arn, continuousMarker) }

func continuousARN(region, account, resourceID string) string {
	return fmt.Sprintf("arn:aws:backup:%s:%s%s%s-%s", region, account, continuousMarker, strings.ToLower(resourceID), strings.ToLower(newJobID()[:8]))
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// CheckContinuousLifecycle applies AWS Backup's rules to a continuous
// backup rule's lifecycle: required, DeleteAfterDays 1 to 35, no cold
// storage.
func CheckContinuousLifecycle(rule string, l *Lifecycle) error {
	switch {
	case l == nil:
		return InvalidParam("Error in rule %s : Lifecycle must be specified for backup rule enabled continuous backup", rule)
	case l.ColdAfterDays != 0:
		return InvalidParam("Error in rule %s : Invalid lifecycle. MoveToColdStorageAfterDays is unavailable", rule)
	case l.DeleteAfterDays < 1 || l.DeleteAfterDays > MaxContinuousDays:
		return InvalidParam("Error in rule %s : Invalid lifecycle. DeleteAfterDays cannot be less than 1 or more than %d days", rule, MaxContinuousDays)
	}
	return nil
}

// continuousRP is the resource's continuous recovery point in a vault,
// nil when it has none.
func (s *Service) continuousRP(ctx context.Context, q meta.Querier, account, region, vault, resourceARN string) (*RecoveryPoint, error) {
	rp, err := scanRP(q.QueryRowContext(ctx, `SELECT `+rpColumns+` FROM backup_recovery_points WHERE account_id = ? AND region = ? AND vault_name = ? AND resource_arn = ? AND arn LIKE ?`,
		account, region, vault, resourceARN, "%"+continuousMarker+"%"))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return rp, err
}

// continuousPoll is how often a continuous backup job looks for its
// first restorable time.
const continuousPoll = time.Second

// runContinuousBackup is a continuous rule's backup job: it turns the
// resource's continuous backup on with the rule's retention (or updates
// it), creates the vault's continuous recovery point when it has none,
// and completes once the recovery point is restorable; when it already
// was, it takes a base backup (the rule's schedule).
func (s *Service) runContinuousBackup(ctx context.Context, j *Job, v *Vault) error {
	if s.cont == nil {
		return invalidRequest("continuous backup is not available on this coffer server")
	}
	src, err := s.dbs.Source(ctx, j.ResourceARN)
	if err != nil {
		return err
	}
	days := j.Lifecycle.DeleteAfterDays
	if days < 1 || days > MaxContinuousDays {
		return InvalidParam("continuous backup keeps 1 to %d days, not %d", MaxContinuousDays, days)
	}
	// The resource's capture keeps what its longest continuous recovery
	// point (of any vault) needs.
	var others sql.NullInt64
	if err := s.store.QueryRowContext(ctx, `SELECT MAX(delete_after_days) FROM backup_recovery_points WHERE resource_arn = ? AND vault_name <> ? AND arn LIKE ? AND status <> 'DELETING'`,
		j.ResourceARN, v.Name, "%"+continuousMarker+"%").Scan(&others); err != nil {
		return err
	}
	resourceID, err := s.cont.Enable(ctx, j.ResourceARN, int(max(days, others.Int64)))
	if err != nil {
		return err
	}
	_, _, werr := s.cont.Window(ctx, j.ResourceARN)
	established := werr == nil
	if werr != nil && !errors.Is(werr, ErrNoRestoreWindow) {
		return werr
	}
	rp, err := s.continuousRP(ctx, s.store, j.Account, j.Region, v.Name, j.ResourceARN)
	if err != nil {
		return err
	}
	fresh, rpTags, err := newBackupRP(j, v, src, continuousARN(j.Region, j.Account, resourceID))
	if err != nil {
		return err
	}
	fresh.Lifecycle = Lifecycle{DeleteAfterDays: days}
	j.EncryptionKeyARN, j.ResourceName = fresh.EncryptionKeyARN, src.Name
	if err := s.store.InTx(ctx, func(q meta.Querier) error {
		if rp == nil {
			rp = fresh
			if err := insertRP(ctx, q, rp); err != nil {
				return err
			}
			if err := putTags(ctx, q, rp.ARN, rpTags); err != nil {
				return err
			}
		} else if _, err := q.ExecContext(ctx, `UPDATE backup_recovery_points SET delete_after_days = ?, restore_metadata = ? WHERE arn = ?`,
			days, mustJSON(src.RestoreMetadata), rp.ARN); err != nil {
			// AWS Backup updates the one continuous recovery point of an
			// RDS resource with the rule's retention.
			return err
		}
		j.RecoveryPointARN = rp.ARN
		return s.update(ctx, q, j)
	}); err != nil {
		return err
	}
	if err := s.cont.Associate(ctx, j.ResourceARN, rp.ARN); err != nil {
		return err
	}
	if established {
		if err := s.cont.BaseBackup(ctx, j.ResourceARN); err != nil {
			return fmt.Errorf("base backup of %s: %w", j.ResourceARN, err)
		}
	}
	for {
		_, _, err := s.cont.Window(ctx, j.ResourceARN)
		if err == nil {
			break
		}
		if !errors.Is(err, ErrNoRestoreWindow) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("continuous backup of %s had no restorable time yet: %w", j.ResourceARN, context.Cause(ctx))
		case <-time.After(continuousPoll):
		}
	}
	now := s.now()
	return s.store.InTx(ctx, func(q meta.Querier) error {
		// Its completion date is the last job's: the newest base backup
		// (what the RPO view counts a continuous recovery point's age from).
		if _, err := q.ExecContext(ctx, `UPDATE backup_recovery_points SET status = 'COMPLETED', completion_date = ? WHERE arn = ? AND status IN ('CREATING', 'COMPLETED')`,
			now.UnixNano(), rp.ARN); err != nil {
			return err
		}
		j.State, j.PercentDone, j.Completed = StateCompleted, "100.0", now
		return s.update(ctx, q, j)
	})
}

func mustJSON(m map[string]string) string {
	b, _ := json.Marshal(m)
	return string(b)
}

// pointInTime reads a continuous restore's RestoreTime or
// UseLatestRestorableTime; with neither it restores to the latest
// restorable time.
func pointInTime(md map[string]string) (at time.Time, latest bool, err error) {
	rt, hasTime := md[RestoreTimeKey]
	if v, ok := md[UseLatestKey]; ok {
		if latest, err = strconv.ParseBool(v); err != nil {
			return time.Time{}, false, InvalidParam("UseLatestRestorableTime %q is neither true nor false", v)
		}
	}
	switch {
	case hasTime && latest:
		return time.Time{}, false, InvalidParam("RestoreTime and UseLatestRestorableTime cannot both be given")
	case !hasTime:
		// Neither: the latest restorable time (what restore testing
		// and a plain GetRecoveryPointRestoreMetadata round trip ask).
		return time.Time{}, true, nil
	}
	if at, err = time.Parse(time.RFC3339Nano, rt); err != nil {
		return time.Time{}, false, InvalidParam("RestoreTime %q is not an ISO 8601 time (2009-09-07T23:45:00Z)", rt)
	}
	return at, false, nil
}

func outsideWindow(rp *RecoveryPoint, at, earliest, latest time.Time) error {
	return InvalidParam("Restore time %s is outside the restorable window of recovery point %s: the earliest restorable time is %s and the latest restorable time is %s",
		at.UTC().Format(time.RFC3339), rp.ARN, earliest.UTC().Format(time.RFC3339Nano), latest.UTC().Format(time.RFC3339Nano))
}

// checkPointInTime validates a continuous recovery point's restore
// request against its window, for StartRestoreJob.
func (s *Service) checkPointInTime(ctx context.Context, rp *RecoveryPoint, md map[string]string) error {
	at, latest, err := pointInTime(md)
	if err != nil {
		return err
	}
	if s.cont == nil {
		return invalidRequest("continuous backup is not available on this coffer server")
	}
	earliest, last, err := s.cont.Window(ctx, rp.ResourceARN)
	if errors.Is(err, ErrNoRestoreWindow) {
		return invalidRequest("recovery point %s has no restorable time yet", rp.ARN)
	}
	if err != nil {
		return err
	}
	if !latest && (at.Before(earliest) || at.After(last)) {
		return outsideWindow(rp, at, earliest, last)
	}
	return nil
}

// restoreContinuous restores a continuous recovery point to the time its
// job asks into a new, validated instance.
func (s *Service) restoreContinuous(ctx context.Context, j *Job, rp *RecoveryPoint, spec RestoreSpec, override map[string]string) error {
	at, latest, err := pointInTime(override)
	if err != nil {
		return err
	}
	t := trackerFrom(ctx)
	target, message, restored, err := s.cont.Restore(ctx, rp.ResourceARN, spec, at, latest)
	if target != nil {
		j.CreatedResourceARN = target.ARN
	}
	var we *OutsideWindowError
	if errors.As(err, &we) {
		return outsideWindow(rp, we.Time, we.Earliest, we.Latest)
	}
	if err != nil {
		return fmt.Errorf("restore %s to a point in time: %w", rp.ARN, err)
	}
	if err := s.update(ctx, s.store, j); err != nil {
		target.Finish(context.WithoutCancel(ctx), false)
		return err
	}
	j.ValidationStatus = ValidationSuccessful
	j.ValidationMessage = fmt.Sprintf("restored to %s: %s", restored.UTC().Format(time.RFC3339Nano), message)
	return s.finishRestore(ctx, j, target, override, t)
}

// snapshotForCopy writes a snapshot of a continuous recovery point's
// resource at its latest restorable time into the recovery point's own
// domain (its vault, under the resource's key), as AWS Backup copies a
// continuous backup: the copy job then copies that snapshot like any
// other and deletes it. It returns the written manifest and the
// snapshot's engine metadata.
func (s *Service) snapshotForCopy(ctx context.Context, rp *RecoveryPoint) (Written, string, error) {
	if s.cont == nil {
		return Written{}, "", invalidRequest("continuous backup is not available on this coffer server")
	}
	src, err := s.dbs.Source(ctx, rp.ResourceARN)
	if err != nil {
		return Written{}, "", err
	}
	var md *engine.Metadata
	var at time.Time
	w, err := s.data.Write(ctx, rp.domain(), src.Secrets, func(sink Sink) error {
		var err error
		md, at, err = s.cont.SnapshotLatest(ctx, rp.ResourceARN, sink)
		return err
	})
	if err != nil {
		return Written{}, "", fmt.Errorf("snapshot of %s at its latest restorable time: %w", rp.ARN, err)
	}
	s.log.Info("continuous recovery point snapshotted for a copy", "recovery_point", rp.ARN, "time", at.UTC().Format(time.RFC3339Nano))
	b, err := json.Marshal(md)
	if err != nil {
		return Written{}, "", err
	}
	return w, string(b), nil
}

// stopContinuous turns a continuous recovery point's capture off, unless
// another vault's continuous recovery point of the resource still keeps
// it.
func (s *Service) stopContinuous(ctx context.Context, rp *RecoveryPoint) error {
	var n int
	if err := s.store.QueryRowContext(ctx, `SELECT COUNT(*) FROM backup_recovery_points WHERE resource_arn = ? AND arn <> ? AND arn LIKE ? AND status <> 'DELETING'`,
		rp.ResourceARN, rp.ARN, "%"+continuousMarker+"%").Scan(&n); err != nil {
		return err
	}
	if s.cont == nil {
		return nil
	}
	if err := s.cont.Release(ctx, rp.ResourceARN, rp.ARN); err != nil || n > 0 {
		return err
	}
	return s.cont.Disable(ctx, rp.ResourceARN)
}

// disassociateContinuous removes a continuous recovery point from AWS
// Backup and leaves its continuous backup to RDS, which keeps capturing
// with the same retention (the instance's BackupRetentionPeriod).
func (s *Service) disassociateContinuous(ctx context.Context, v *Vault, rp *RecoveryPoint) error {
	if err := s.notHeld(ctx, rp, "DisassociateRecoveryPoint"); err != nil {
		return err
	}
	if err := s.mayShorten(ctx, v, rp, "DisassociateRecoveryPoint"); err != nil {
		return err
	}
	if s.cont != nil {
		if err := s.cont.Release(ctx, rp.ResourceARN, rp.ARN); err != nil {
			return err
		}
	}
	return s.deleteRP(ctx, rp)
}
