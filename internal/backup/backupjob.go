package backup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/coffer-dev/coffer/internal/authz"
	"github.com/coffer-dev/coffer/internal/engine"
	"github.com/coffer-dev/coffer/internal/meta"
)

// ServicePrincipal is the principal jobs act as when they assume their
// IAM role.
const ServicePrincipal = "backup.amazonaws.com"

// StartBackupJobInput is StartBackupJob's input.
type StartBackupJobInput struct {
	VaultName, ResourceARN, IAMRoleARN, IdempotencyToken string
	StartWindowMinutes, CompleteWindowMinutes            int64
	Lifecycle                                            Lifecycle
	RecoveryPointTags                                    map[string]string
}

// StartBackupJob validates and queues an on-demand backup.
func (s *Service) StartBackupJob(ctx context.Context, in StartBackupJobInput) (*Job, error) {
	sc, _, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	switch {
	case in.VaultName == "":
		return nil, missingParam("BackupVaultName")
	case in.ResourceARN == "":
		return nil, missingParam("ResourceArn")
	case in.IAMRoleARN == "":
		return nil, missingParam("IamRoleArn")
	}
	if j, err := byIdempotencyToken(ctx, s.store, sc.Account, KindBackup, in.IdempotencyToken); j != nil || err != nil {
		return j, err
	}
	v, err := s.vault(ctx, in.VaultName, "backup:StartBackupJob")
	if err != nil {
		return nil, err
	}
	res, err := parseARN(in.ResourceARN)
	if err != nil {
		return nil, err
	}
	rtype, err := resourceType(res)
	if err != nil {
		return nil, err
	}
	if res.Account != sc.Account || res.Region != sc.Region {
		return nil, InvalidParam("resource %s is not in account %s, region %s; back it up from its own account and region", in.ResourceARN, sc.Account, sc.Region)
	}
	if opted, err := s.regionSettings(ctx, sc); err != nil {
		return nil, err
	} else if !opted[rtype] {
		return nil, invalidRequest("resource type %s is not opted in for account %s in %s; opt in with UpdateRegionSettings", rtype, sc.Account, sc.Region)
	}
	if err := s.checkJobRole(ctx, sc, in.IAMRoleARN); err != nil {
		return nil, err
	}
	if err := in.Lifecycle.Validate(); err != nil {
		return nil, err
	}
	if err := validateTags(in.RecoveryPointTags); err != nil {
		return nil, err
	}
	startWindow := in.StartWindowMinutes
	if startWindow == 0 {
		startWindow = 480
	}
	if startWindow < 60 || startWindow > MaxWindowMinutes {
		return nil, InvalidParam("StartWindowMinutes must be at least 60 and at most %d, not %d", MaxWindowMinutes, in.StartWindowMinutes)
	}
	if in.CompleteWindowMinutes < 0 || in.CompleteWindowMinutes > MaxWindowMinutes {
		return nil, InvalidParam("CompleteWindowMinutes must be between %d and %d, not %d", startWindow, MaxWindowMinutes, in.CompleteWindowMinutes)
	}
	if in.CompleteWindowMinutes > 0 && in.CompleteWindowMinutes < startWindow {
		return nil, InvalidParam("CompleteWindowMinutes (%d) must not be shorter than StartWindowMinutes (%d)", in.CompleteWindowMinutes, startWindow)
	}
	tags, _ := json.Marshal(in.RecoveryPointTags)
	now := s.now().UTC()
	j := &Job{
		ID: newJobID(), Kind: KindBackup, Account: sc.Account, Region: sc.Region, State: StateCreated, PercentDone: "0.0",
		ResourceARN: in.ResourceARN, ResourceType: rtype, VaultName: v.Name, VaultARN: v.ARN,
		IAMRoleARN: in.IAMRoleARN, IdempotencyToken: in.IdempotencyToken, Lifecycle: in.Lifecycle, RecoveryPointTags: string(tags),
		Created: now, StartBy: now.Add(time.Duration(startWindow) * time.Minute),
	}
	j.RecoveryPointARN = fmt.Sprintf("arn:aws:rds:%s:%s:snapshot:awsbackup:job-%s", sc.Region, sc.Account, strings.ToLower(j.ID))
	if in.CompleteWindowMinutes > 0 {
		j.CompleteBy = now.Add(time.Duration(in.CompleteWindowMinutes) * time.Minute)
	}
	_, err = s.enqueue(ctx, j)
	return j, err
}

// checkJobRole applies AWS's rules to a job's IamRoleArn: a role of the
// caller's account, which the caller may pass (iam:PassRole) and which
// trusts the backup service.
func (s *Service) checkJobRole(ctx context.Context, sc Scope, roleARN string) error {
	role, err := parseRoleARN(roleARN)
	if err != nil {
		return err
	}
	if role.Account != sc.Account {
		return InvalidParam("IAM role %s belongs to account %s; a job runs with a role of its own account %s", roleARN, role.Account, sc.Account)
	}
	if err := s.authz.Authorize(ctx, authz.Request{Action: "iam:PassRole", Resource: roleARN,
		Context: map[string][]string{"iam:PassedToService": {ServicePrincipal}}}); err != nil {
		return err
	}
	if _, err := s.roles.AssumeRoleAsService(ctx, roleARN, ServicePrincipal); err != nil {
		return InvalidParam("IAM role %s cannot be assumed by %s: %s", roleARN, ServicePrincipal, failMessage(err))
	}
	return nil
}

// runArgs is the queued work: one row of backup_jobs.
type runArgs struct {
	JobID string `json:"job_id"`
}

func (runArgs) Kind() string { return "backup_job" }

// enqueue records the job and queues its run in one transaction. When a
// concurrent call with the same idempotency token won the race, j becomes
// that call's job and created is false.
func (s *Service) enqueue(ctx context.Context, j *Job) (created bool, err error) {
	err = s.store.InTx(ctx, func(q meta.Querier) error {
		if err := insertJob(ctx, q, j); err != nil {
			return err
		}
		return s.queue.InsertTx(ctx, q, runArgs{JobID: j.ID}, nil)
	})
	if errors.Is(err, meta.ErrConflict) && j.IdempotencyToken != "" {
		return false, s.sameAs(ctx, j)
	}
	return err == nil, err
}

func (s *Service) sameAs(ctx context.Context, j *Job) error {
	orig, err := byIdempotencyToken(ctx, s.store, j.Account, j.Kind, j.IdempotencyToken)
	if err != nil || orig == nil {
		return fmt.Errorf("idempotency token %s: %v", j.IdempotencyToken, err)
	}
	*j = *orig
	return nil
}

// DescribeBackupJob returns a backup job of the caller's account.
func (s *Service) DescribeBackupJob(ctx context.Context, id string) (*Job, error) {
	return s.describeJob(ctx, KindBackup, id, "backup:DescribeBackupJob")
}

// StopBackupJob asks a backup job that has not finished to stop.
func (s *Service) StopBackupJob(ctx context.Context, id string) error {
	j, err := s.describeJob(ctx, KindBackup, id, "backup:StopBackupJob")
	if err != nil {
		return err
	}
	if j.Finished() {
		return invalidRequest("backup job %s already ended %s", id, j.State)
	}
	err = s.store.InTx(ctx, func(q meta.Querier) error {
		j.State, j.StatusMessage, j.Completed = StateAborted, "stopped by "+callerARN(ctx), s.now()
		if err := s.update(ctx, q, j); err != nil {
			if errors.Is(err, errJobFinished) {
				return invalidRequest("backup job %s already ended", id)
			}
			return err
		}
		return discardUncommitted(ctx, q, j)
	})
	if err == nil {
		s.notifyJob(ctx, j)
	}
	return err
}

// runBackup snapshots the resource into the vault as the job's role.
func (s *Service) runBackup(ctx context.Context, j *Job) error {
	v, err := s.loadVault(ctx, s.store, Scope{Account: j.Account, Region: j.Region}, j.VaultName)
	if err != nil {
		return err
	}
	if err := checkLockRange(v, j.Lifecycle, j.Created); err != nil {
		return err
	}
	if j.Continuous {
		return s.runContinuousBackup(ctx, j, v)
	}
	src, err := s.dbs.Source(ctx, j.ResourceARN)
	if err != nil {
		return err
	}
	rp, rpTags, err := newBackupRP(j, v, src, j.RecoveryPointARN)
	if err != nil {
		return err
	}
	j.EncryptionKeyARN, j.ResourceName = rp.EncryptionKeyARN, src.Name
	if err := s.store.InTx(ctx, func(q meta.Querier) error {
		if err := s.update(ctx, q, j); err != nil {
			return err
		}
		if err := insertRP(ctx, q, rp); err != nil {
			return err
		}
		return putTags(ctx, q, rp.ARN, rpTags)
	}); err != nil {
		return err
	}
	t := trackerFrom(ctx)
	t.expect(s.previousSize(ctx, j.ResourceARN))
	started := s.now()
	var md *engine.Metadata
	var snapErr error
	cs := &countingSink{add: t.add}
	w, err := s.data.Write(ctx, rp.domain(), src.Secrets, func(sink Sink) error {
		cs.Sink = sink
		if src.Physical != nil {
			md, snapErr = src.Physical.Snapshot(ctx, src.Target, cs)
		} else {
			md, snapErr = src.Engine.Snapshot(ctx, src.Target, cs)
		}
		return snapErr
	})
	switch {
	case err == nil:
	case cs.err != nil:
		// When storage fails first, the snapshot only fails because its
		// writes do: report the storage's error.
		return fmt.Errorf("write to backup vault %s: %w", v.Name, cs.err)
	case snapErr != nil:
		return fmt.Errorf("snapshot of %s failed: %w", j.ResourceARN, snapErr)
	default:
		return fmt.Errorf("write to backup vault %s: %w", v.Name, err)
	}
	s.log.Info("backup job", "job", j.ID, "snapshot_and_write", s.now().Sub(started), "bytes", w.Size, "written", w.BytesWritten)
	mdJSON, err := json.Marshal(md)
	if err != nil {
		return err
	}
	now := s.now()
	err = s.store.InTx(ctx, func(q meta.Querier) error {
		if err := completeRP(ctx, q, rp.ARN, w, now); err != nil {
			return err
		}
		if _, err := q.ExecContext(ctx, `UPDATE backup_recovery_points SET engine_metadata = ? WHERE arn = ?`, string(mdJSON), rp.ARN); err != nil {
			return err
		}
		j.State, j.PercentDone, j.Size, j.BytesTransferred, j.Completed = StateCompleted, "100.0", w.Size, w.BytesWritten, now
		return s.update(ctx, q, j)
	})
	return s.dropIfUncommitted(ctx, rp.domain(), w, err)
}

// newBackupRP is the recovery point (CREATING) a backup job of src into
// v creates, and its tags: under the resource's own key, or the vault's
// for an unencrypted resource.
func newBackupRP(j *Job, v *Vault, src *Source, arn string) (*RecoveryPoint, map[string]string, error) {
	key, keyService := src.KeyARN, KeyServiceRDS
	if key == "" {
		key, keyService = v.EncryptionKeyARN, KeyServiceBackup
	}
	var tags map[string]string
	if err := json.Unmarshal([]byte(j.RecoveryPointTags), &tags); err != nil && j.RecoveryPointTags != "" {
		return nil, nil, fmt.Errorf("recovery point tags of job %s: %w", j.ID, err)
	}
	return &RecoveryPoint{
		ARN: arn, Account: j.Account, Region: j.Region, VaultName: v.Name,
		ResourceARN: j.ResourceARN, ResourceType: j.ResourceType, ResourceName: src.Name, Status: RPCreating,
		EncryptionKeyARN: key, IAMRoleARN: j.IAMRoleARN, CreatedByJobID: j.ID, Created: j.Created,
		RestoreMetadata: src.RestoreMetadata, Lifecycle: j.Lifecycle, StorageClass: StorageWarm, KeyService: keyService,
	}, tags, nil
}

// countingSink counts the bytes a snapshot writes and keeps the first
// error storage answered.
type countingSink struct {
	Sink
	add func(int64)
	err error
}

func (c *countingSink) Write(p []byte) (int, error) {
	n, err := c.Sink.Write(p)
	c.add(int64(n))
	if err != nil && c.err == nil {
		c.err = err
	}
	return n, err
}

// dropIfUncommitted deletes the data a job stored when its recovery point
// could not be committed (the job was stopped or failed meanwhile), so no
// manifest outlives its recovery point.
func (s *Service) dropIfUncommitted(ctx context.Context, d Domain, w Written, err error) error {
	if err != nil {
		if derr := s.data.Delete(context.WithoutCancel(ctx), d, w.ManifestID); derr != nil {
			s.log.Warn("drop the data of an uncommitted recovery point", "manifest", w.ManifestID, "error", derr)
		}
	}
	return err
}

// previousSize is the size of the resource's last recovery point, to
// estimate PercentDone; 0 when unknown.
func (s *Service) previousSize(ctx context.Context, resourceARN string) int64 {
	var n int64
	s.store.QueryRowContext(ctx, `SELECT size_bytes FROM backup_recovery_points WHERE resource_arn = ? AND status = 'COMPLETED' ORDER BY creation_date DESC LIMIT 1`, resourceARN).Scan(&n)
	return n
}
