package backup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/coffer-dev/coffer/internal/identity"
	"github.com/coffer-dev/coffer/internal/meta"
	"github.com/coffer-dev/coffer/internal/reqctx"
)

// The internal API of backup plans: the scheduler starts jobs as the AWS
// Backup service, for a rule's selection, without an API caller; the
// plan's creator was authorized (iam:PassRole included) when the
// selection was made.

// PlannedBackup is a backup a plan rule starts for one resource in one
// window.
type PlannedBackup struct {
	Account, Region, VaultName, ResourceARN, IAMRoleARN string
	Lifecycle                                           Lifecycle
	RecoveryPointTags                                   map[string]string
	StartWindowMinutes, CompleteWindowMinutes           int64
	CreatedBy                                           CreatedBy
	// Continuous: the rule has EnableContinuousBackup; the job creates or
	// updates the resource's continuous recovery point in the vault.
	Continuous bool
	// WindowKey is unique per rule, resource and window: the job's
	// idempotency token, so a window never runs twice, whichever node
	// and however often the scheduler asks.
	WindowKey string
}

// StartPlannedBackup creates the window's backup job, or returns the one
// created before; created reports which.
func (s *Service) StartPlannedBackup(ctx context.Context, pb PlannedBackup) (j *Job, created bool, err error) {
	if pb.WindowKey == "" {
		return nil, false, errors.New("a planned backup needs a window key")
	}
	if j, err := byIdempotencyToken(ctx, s.store, pb.Account, KindBackup, pb.WindowKey); j != nil || err != nil {
		return j, false, err
	}
	res, err := parseARN(pb.ResourceARN)
	if err != nil {
		return nil, false, err
	}
	rtype, err := resourceType(res)
	if err != nil {
		return nil, false, err
	}
	startWindow := pb.StartWindowMinutes
	if startWindow == 0 {
		startWindow = 480
	}
	tags, _ := json.Marshal(pb.RecoveryPointTags)
	now := s.now().UTC()
	j = &Job{
		ID: newJobID(), Kind: KindBackup, Account: pb.Account, Region: pb.Region, State: StateCreated, PercentDone: "0.0",
		ResourceARN: pb.ResourceARN, ResourceType: rtype, VaultName: pb.VaultName, VaultARN: VaultARN(pb.Region, pb.Account, pb.VaultName),
		IAMRoleARN: pb.IAMRoleARN, IdempotencyToken: pb.WindowKey, Lifecycle: pb.Lifecycle, RecoveryPointTags: string(tags),
		Created: now, StartBy: now.Add(time.Duration(startWindow) * time.Minute), CreatedBy: pb.CreatedBy, Continuous: pb.Continuous,
	}
	j.RecoveryPointARN = fmt.Sprintf("arn:aws:rds:%s:%s:snapshot:awsbackup:job-%s", pb.Region, pb.Account, strings.ToLower(j.ID))
	if pb.Continuous {
		// The job names the continuous recovery point once it runs (it
		// creates it when the vault has none).
		j.RecoveryPointARN = ""
		if rp, err := s.continuousRP(ctx, s.store, pb.Account, pb.Region, pb.VaultName, pb.ResourceARN); err != nil {
			return nil, false, err
		} else if rp != nil {
			j.RecoveryPointARN = rp.ARN
		}
	}
	if pb.CompleteWindowMinutes > 0 {
		j.CompleteBy = now.Add(time.Duration(pb.CompleteWindowMinutes) * time.Minute)
	}
	created, err = s.enqueue(ctx, j)
	return j, created, err
}

// PlannedCopy is a rule's copy action for a recovery point its backup
// made.
type PlannedCopy struct {
	SourceRecoveryPointARN, DestinationVaultARN, IAMRoleARN string
	Lifecycle                                               Lifecycle
	CreatedBy                                               CreatedBy
	Key                                                     string // idempotency: one copy per action and recovery point
}

// StartPlannedCopy creates a copy job for a copy action, or returns the
// one created before.
func (s *Service) StartPlannedCopy(ctx context.Context, pc PlannedCopy) (*Job, error) {
	rp, err := loadRP(ctx, s.store, pc.SourceRecoveryPointARN)
	if err != nil {
		return nil, err
	}
	if j, err := byIdempotencyToken(ctx, s.store, rp.Account, KindCopy, pc.Key); j != nil || err != nil {
		return j, err
	}
	dst, _, err := parseVaultARN(pc.DestinationVaultARN)
	if err != nil {
		return nil, err
	}
	j := &Job{
		ID: newJobID(), Kind: KindCopy, Account: rp.Account, Region: rp.Region, State: StateCreated, PercentDone: "0.0",
		ResourceARN: rp.ResourceARN, ResourceType: rp.ResourceType, ResourceName: rp.ResourceName,
		VaultName: rp.VaultName, VaultARN: rp.VaultARN(), RecoveryPointARN: rp.ARN,
		DestinationVaultARN: pc.DestinationVaultARN, IAMRoleARN: pc.IAMRoleARN, IdempotencyToken: pc.Key,
		Lifecycle: pc.Lifecycle, Created: s.now().UTC(), CreatedBy: pc.CreatedBy,
	}
	j.DestinationRecoveryPointARN = fmt.Sprintf("arn:aws:rds:%s:%s:snapshot:awsbackup:copyjob-%s", dst.Region, dst.Account, strings.ToLower(j.ID))
	_, err = s.enqueue(ctx, j)
	return j, err
}

// OnBackupCompleted registers fn to run after each backup job completes
// (the scheduler starts the rule's copy actions from it). Set it before
// the job queue starts.
func (s *Service) OnBackupCompleted(fn func(ctx context.Context, j *Job)) { s.onBackupDone = fn }

// serviceContext is the context the AWS Backup service acts in for an
// account without a caller: its AWSBackupDefaultServiceRole session in
// the region.
func (s *Service) serviceContext(ctx context.Context, account, region string) (context.Context, error) {
	role, err := s.roles.EnsureBackupServiceRole(ctx, account)
	if err != nil {
		return nil, err
	}
	session, err := s.roles.AssumeRoleAsService(ctx, role, ServicePrincipal)
	if err != nil {
		return nil, err
	}
	ctx = identity.WithCaller(ctx, session)
	return reqctx.WithCall(ctx, &reqctx.Call{Service: "backup", Region: region, Operation: "lifecycle"}), nil
}

// LifecycleResult counts what ApplyLifecycle did.
type LifecycleResult struct {
	MovedToCold, Deleted, Held int
	Errors                     []error
}

// ApplyLifecycle moves recovery points due for cold storage there and
// deletes those whose retention ended, except the ones under a legal
// hold; it also finishes deletions a crash interrupted (DELETING). It works through each recovery point independently, so one
// failure does not stop the others.
func (s *Service) ApplyLifecycle(ctx context.Context) (LifecycleResult, error) {
	var res LifecycleResult
	now := s.now()
	rows, err := s.store.QueryContext(ctx, `SELECT `+rpColumns+` FROM backup_recovery_points WHERE status = 'DELETING' OR (status = 'COMPLETED' AND (cold_after_days > 0 OR delete_after_days > 0))`)
	if err != nil {
		return res, err
	}
	var due []*RecoveryPoint
	for rows.Next() {
		rp, err := scanRP(rows)
		if err != nil {
			rows.Close()
			return res, err
		}
		cold, del := rp.Lifecycle.At(rp.LifecycleStart())
		if (!del.IsZero() && !now.Before(del)) || rp.Status == RPDeleting || (!cold.IsZero() && !now.Before(cold) && rp.StorageClass == StorageWarm) {
			due = append(due, rp)
		}
	}
	rows.Close()
	for _, rp := range due {
		sctx, err := s.serviceContext(ctx, rp.Account, rp.Region)
		if err != nil {
			res.Errors = append(res.Errors, fmt.Errorf("%s: %w", rp.ARN, err))
			continue
		}
		_, del := rp.Lifecycle.At(rp.LifecycleStart())
		if rp.Status != RPDeleting && !del.IsZero() && !del.After(rp.Created) {
			s.log.Error("lifecycle: refusing to delete a recovery point whose deletion date is not after its creation", "recovery_point", rp.ARN,
				"created", rp.Created, "delete_at", del, "delete_after_days", rp.Lifecycle.DeleteAfterDays)
			res.Errors = append(res.Errors, fmt.Errorf("%s: deletion date %s is not after its creation %s; not deleted", rp.ARN, del, rp.Created))
			continue
		}
		if rp.Status == RPDeleting || (!del.IsZero() && !now.Before(del)) {
			if err := s.notHeld(ctx, rp, "lifecycle deletion"); err != nil {
				res.Held++
				continue
			}
			if IsContinuous(rp.ARN) {
				if err := s.stopContinuous(sctx, rp); err != nil {
					res.Errors = append(res.Errors, fmt.Errorf("stop the continuous backup of expired %s: %w", rp.ARN, err))
					continue
				}
			}
			if err := s.deleteRP(sctx, rp); err != nil {
				res.Errors = append(res.Errors, fmt.Errorf("delete expired %s: %w", rp.ARN, err))
				continue
			}
			res.Deleted++
			continue
		}
		if err := s.moveToCold(sctx, rp); err != nil {
			res.Errors = append(res.Errors, fmt.Errorf("move %s to cold storage: %w", rp.ARN, err))
			continue
		}
		res.MovedToCold++
	}
	return res, nil
}

// moveToCold copies the recovery point's data into its vault's cold
// domain, points the recovery point at it, then drops the warm copy.
func (s *Service) moveToCold(ctx context.Context, rp *RecoveryPoint) error {
	warm := rp.domain()
	cold := *rp
	cold.StorageClass = StorageCold
	w, err := s.data.Copy(ctx, warm, cold.domain(), rp.ManifestID)
	if err != nil {
		return err
	}
	err = s.store.InTx(ctx, func(q meta.Querier) error {
		res, err := q.ExecContext(ctx, `UPDATE backup_recovery_points SET manifest_id = ?, storage_class = 'COLD' WHERE arn = ? AND manifest_id = ?`, w.ManifestID, rp.ARN, rp.ManifestID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("recovery point %s changed while moving to cold storage", rp.ARN)
		}
		return nil
	})
	if err != nil {
		s.data.Delete(ctx, cold.domain(), w.ManifestID)
		return err
	}
	return s.data.Delete(ctx, warm, rp.ManifestID)
}
