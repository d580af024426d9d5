package rds

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/coffer-dev/coffer/internal/awserr"
	"github.com/coffer-dev/coffer/internal/engine"
	"github.com/coffer-dev/coffer/internal/engine/pgwal"
	"github.com/coffer-dev/coffer/internal/meta"
)

// Retained automated backups: DeleteDBInstance with
// DeleteAutomatedBackups false keeps a PostgreSQL instance's automated
// backups (its WAL archive, ContinuousBackup) after the instance is
// gone. DescribeDBInstanceAutomatedBackups lists them with Status
// "retained" and the window they held at deletion; they are removed
// BackupRetentionPeriod days after the deletion (ExpireRetained), or by
// DeleteDBInstanceAutomatedBackup. The default, DeleteAutomatedBackups
// true, deletes the archive with the instance.

// RetainedBackup is a deleted instance's retained automated backups.
type RetainedBackup struct {
	ARN       string    // arn:aws:rds:REGION:ACCOUNT:auto-backup:ab-…
	Instance  *Instance // as it was when deleted
	DeletedAt time.Time
	ExpiresAt time.Time
	grantID   string // the automated-backups grant (automatedGrant)
}

// hasAutomatedBackups says whether an instance's WAL was captured, so
// deleting it has automated backups to delete or retain.
func hasAutomatedBackups(inst *Instance) bool {
	return capturable(inst)
}

// automatedGrantID is the third of an instance's untagged grants
// (attachKey): the one for its automated backups; "" when it has none
// (instances made before coffer had automated backups).
func automatedGrantID(inst *Instance) string {
	var untagged []string
	for _, g := range strings.Fields(inst.GrantID) {
		if !strings.HasPrefix(g, snapshotGrantTag) {
			untagged = append(untagged, g)
		}
	}
	if len(untagged) >= 3 {
		return untagged[2]
	}
	return ""
}

// settleAutomatedBackups stops a deleted instance's capture and
// deletes its automated backups unless they are retained (DeleteInstance
// recorded them so); it returns the grants to retire: all of them, or
// all but the automated-backups one that a retained archive needs.
func (s *Service) settleAutomatedBackups(ctx context.Context, inst *Instance) ([]string, error) {
	grants := strings.Fields(inst.GrantID)
	if !hasAutomatedBackups(inst) || s.continuous == nil {
		return grants, nil
	}
	if err := s.continuous.StopCapture(ctx, inst); err != nil {
		return nil, err
	}
	s.dropRegisteredSlot(ctx, inst)
	var n int
	if err := s.store.QueryRowContext(ctx, `SELECT count(*) FROM rds_retained_automated_backups WHERE arn = ?`, AutomatedBackupsARN(inst)).Scan(&n); err != nil {
		return nil, fmt.Errorf("read the retained automated backups: %w", err)
	}
	if n > 0 {
		return slices.DeleteFunc(grants, func(g string) bool { return g == automatedGrantID(inst) }), nil
	}
	if err := s.continuous.DeleteArchive(ctx, inst); err != nil {
		return nil, fmt.Errorf("delete the automated backups: %w", err)
	}
	return grants, nil
}

// recordRetention records, in the transaction marking an instance
// deleting, whether its automated backups are to be retained: with
// retain, an instance with a retention period keeps them (the row
// DescribeDBInstanceAutomatedBackups lists as retained); otherwise any
// earlier record (a deletion that failed) goes.
func (s *Service) recordRetention(ctx context.Context, q meta.Querier, inst *Instance, retain bool) error {
	if !retain || !hasAutomatedBackups(inst) || inst.BackupRetentionPeriod == 0 || automatedGrantID(inst) == "" {
		_, err := q.ExecContext(ctx, `DELETE FROM rds_retained_automated_backups WHERE arn = ?`, AutomatedBackupsARN(inst))
		return err
	}
	b, err := json.Marshal(inst)
	if err != nil {
		return err
	}
	now := s.now()
	expires := now.Add(time.Duration(inst.BackupRetentionPeriod) * 24 * time.Hour)
	_, err = q.ExecContext(ctx, `INSERT INTO rds_retained_automated_backups (arn, account_id, region, identifier, resource_id, instance, grant_id, deleted_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (arn) DO UPDATE SET instance = excluded.instance, deleted_at = excluded.deleted_at, expires_at = excluded.expires_at`,
		AutomatedBackupsARN(inst), inst.Account, inst.Region, inst.Identifier, inst.ResourceID, string(b),
		automatedGrantID(inst), now.UnixNano(), expires.UnixNano())
	if err != nil {
		return fmt.Errorf("record the retained automated backups: %w", err)
	}
	return nil
}

const retainedColumns = `arn, instance, grant_id, deleted_at, expires_at`

func scanRetained(row scanner) (*RetainedBackup, error) {
	var rb RetainedBackup
	var inst string
	var deleted, expires int64
	if err := row.Scan(&rb.ARN, &inst, &rb.grantID, &deleted, &expires); err != nil {
		return nil, err
	}
	rb.Instance = &Instance{}
	if err := json.Unmarshal([]byte(inst), rb.Instance); err != nil {
		return nil, fmt.Errorf("retained automated backup %s: %w", rb.ARN, err)
	}
	rb.DeletedAt, rb.ExpiresAt = time.Unix(0, deleted).UTC(), time.Unix(0, expires).UTC()
	return &rb, nil
}

func (s *Service) queryRetained(ctx context.Context, where string, args ...any) ([]*RetainedBackup, error) {
	rows, err := s.store.QueryContext(ctx, `SELECT `+retainedColumns+` FROM rds_retained_automated_backups WHERE `+where+` ORDER BY identifier, deleted_at`, args...)
	if err != nil {
		return nil, fmt.Errorf("read retained automated backups: %w", err)
	}
	defer rows.Close()
	var out []*RetainedBackup
	for rows.Next() {
		rb, err := scanRetained(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, rb)
	}
	return out, rows.Err()
}

// retained lists the scope's retained automated backups, of one
// instance identifier or DbiResourceId when given.
func (s *Service) retained(ctx context.Context, sc scope, id, resourceID string) ([]*RetainedBackup, error) {
	where, args := `account_id = ? AND region = ?`, []any{sc.Account, sc.Region}
	if id != "" {
		where, args = where+` AND identifier = ?`, append(args, id)
	}
	if resourceID != "" {
		where, args = where+` AND resource_id = ?`, append(args, resourceID)
	}
	return s.queryRetained(ctx, where, args...)
}

// ExpireRetained removes the retained automated backups whose retention
// period has passed (the app's sweep): their archives, then their rows
// and grants.
func (s *Service) ExpireRetained(ctx context.Context) (int, error) {
	if s.continuous == nil {
		return 0, nil
	}
	rbs, err := s.queryRetained(ctx, `expires_at <= ?`, s.now().UnixNano())
	if err != nil {
		return 0, err
	}
	for i, rb := range rbs {
		if err := s.removeRetained(ctx, rb); err != nil {
			return i, err
		}
		s.log.Info("retained automated backups expired", "automated_backups", rb.ARN, "instance", rb.Instance.ARN)
	}
	return len(rbs), nil
}

// removeRetained deletes a retained automated backup's archive, row and
// grant.
func (s *Service) removeRetained(ctx context.Context, rb *RetainedBackup) error {
	if err := s.continuous.DeleteArchive(ctx, rb.Instance); err != nil {
		return fmt.Errorf("delete the retained automated backups %s: %w", rb.ARN, err)
	}
	if _, err := s.store.ExecContext(ctx, `DELETE FROM rds_retained_automated_backups WHERE arn = ?`, rb.ARN); err != nil {
		return fmt.Errorf("forget the retained automated backups %s: %w", rb.ARN, err)
	}
	if rb.grantID != "" {
		if err := s.keys.RetireGrant(s.serviceCtx(rb.Instance.Region), rb.Instance.Region, rb.Instance.KMSKeyARN, rb.grantID); err != nil {
			s.log.Warn("retire KMS grant", "automated_backups", rb.ARN, "grant", rb.grantID, "error", err)
		}
	}
	return nil
}

// DeleteAutomatedBackup is DeleteDBInstanceAutomatedBackup: it deletes
// a retained automated backup, named by DbiResourceId or its ARN. An
// instance's current automated backups are refused (turn them off with
// BackupRetentionPeriod 0 or delete the instance).
func (s *Service) DeleteAutomatedBackup(ctx context.Context, resourceID, arn string) (*RetainedBackup, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	if resourceID == "" && arn == "" {
		return nil, missingParam("DbiResourceId")
	}
	where, args := `account_id = ? AND region = ?`, []any{sc.Account, sc.Region}
	if resourceID != "" {
		where, args = where+` AND resource_id = ?`, append(args, resourceID)
	}
	if arn != "" {
		where, args = where+` AND arn = ?`, append(args, arn)
	}
	rbs, err := s.queryRetained(ctx, where, args...)
	if err != nil {
		return nil, err
	}
	if len(rbs) == 0 {
		var active string
		err := s.store.QueryRowContext(ctx, `SELECT identifier FROM rds_instances WHERE account_id = ? AND region = ? AND resource_id = ? AND backup_retention_period > 0`,
			sc.Account, sc.Region, resourceID).Scan(&active)
		if err == nil {
			return nil, awserr.New(awserr.Invalid, "InvalidDBInstanceAutomatedBackupState",
				"The automated backup %s belongs to DB instance %s, which exists: delete the instance, or set its BackupRetentionPeriod to 0.", resourceID+arn, active)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return nil, err
		}
		return nil, awserr.New(awserr.NotFound, "DBInstanceAutomatedBackupNotFound", "No automated backup for DB instance %s was found.", resourceID+arn).WithStatus(404)
	}
	rb := rbs[0]
	if err := s.authorize(ctx, "DeleteDBInstanceAutomatedBackup", rb.ARN, nil); err != nil {
		return nil, err
	}
	if s.continuous == nil {
		return nil, errors.New("automated backups are not served by this node")
	}
	if err := s.removeRetained(ctx, rb); err != nil {
		return nil, err
	}
	return rb, nil
}

// dropRegisteredSlot drops the replication slot of a deleted registered
// database's stopped capture on its server, which would otherwise keep
// WAL there; failing that (or when another node captured it) it logs
// what to run on the server.
func (s *Service) dropRegisteredSlot(ctx context.Context, inst *Instance) {
	if inst.Origin != OriginRegistered || inst.BackupRetentionPeriod == 0 {
		return
	}
	slot := CaptureSlot(inst)
	err := fmt.Errorf("node %s captured it, not this one (%s)", inst.NodeID, s.hosts.NodeID())
	if inst.NodeID == s.hosts.NodeID() {
		var t engine.Target
		if t, err = s.captureTarget(ctx, inst); err == nil {
			err = pgwal.DropSlot(ctx, t, slot)
		}
	}
	if err != nil {
		s.log.Warn("the replication slot of a deleted registered database was not dropped; drop it on its server: SELECT pg_drop_replication_slot('"+slot+"')", "instance", inst.ARN, "error", err)
	}
}
