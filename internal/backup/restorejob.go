package backup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/coffer-dev/coffer/internal/engine"
	"github.com/coffer-dev/coffer/internal/meta"
)

// StartRestoreJobInput is StartRestoreJob's input.
type StartRestoreJobInput struct {
	RecoveryPointARN, IAMRoleARN, IdempotencyToken, ResourceType string
	Metadata                                                     map[string]string
}

// StartRestoreJob validates and queues a restore of a recovery point of
// the caller's account into a new resource.
func (s *Service) StartRestoreJob(ctx context.Context, in StartRestoreJobInput) (*Job, error) {
	sc, _, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	if in.RecoveryPointARN == "" {
		return nil, missingParam("RecoveryPointArn")
	}
	if len(in.Metadata) == 0 {
		return nil, missingParam("Metadata")
	}
	if _, err := parseARN(in.RecoveryPointARN); err != nil {
		return nil, err
	}
	if j, err := byIdempotencyToken(ctx, s.store, sc.Account, KindRestore, in.IdempotencyToken); j != nil || err != nil {
		return j, err
	}
	rp, err := loadRP(ctx, s.store, in.RecoveryPointARN)
	if err == nil && (rp.Account != sc.Account || rp.Region != sc.Region) {
		err = notFound("recovery point %s does not exist in account %s, region %s", in.RecoveryPointARN, sc.Account, sc.Region)
	}
	if err != nil {
		if aerr := s.authorizeAny(ctx, "backup:StartRestoreJob"); aerr != nil {
			return nil, aerr
		}
		return nil, err
	}
	if _, _, err := s.recoveryPoint(ctx, rp.VaultName, rp.ARN, "backup:StartRestoreJob"); err != nil {
		return nil, err
	}
	if rp.Status != RPCompleted {
		return nil, invalidRequest("recovery point %s is %s; only a COMPLETED recovery point can be restored", rp.ARN, rp.Status)
	}
	if rp.ResourceType == "RDS" && in.Metadata["DBInstanceIdentifier"] == "" {
		return nil, InvalidParam("Metadata must name the DBInstanceIdentifier of the instance to create")
	}
	if in.ResourceType != "" && in.ResourceType != rp.ResourceType {
		return nil, InvalidParam("ResourceType %s does not match the recovery point's type %s", in.ResourceType, rp.ResourceType)
	}
	if err := s.dbs.CheckRestore(rp.RestoreMetadata, in.Metadata); err != nil {
		return nil, err
	}
	if IsContinuous(rp.ARN) {
		if err := s.checkPointInTime(ctx, rp, in.Metadata); err != nil {
			return nil, err
		}
	} else if _, ok := in.Metadata[RestoreTimeKey]; ok {
		return nil, InvalidParam("RestoreTime applies to continuous backup recovery points; %s is a snapshot", rp.ARN)
	}
	role := in.IAMRoleARN
	if role == "" {
		if role, err = s.roles.EnsureBackupServiceRole(ctx, sc.Account); err != nil {
			return nil, err
		}
	}
	if err := s.checkJobRole(ctx, sc, role); err != nil {
		return nil, err
	}
	meta, err := json.Marshal(in.Metadata)
	if err != nil {
		return nil, err
	}
	j := &Job{
		ID: newJobID(), Kind: KindRestore, Account: sc.Account, Region: sc.Region, State: StatePending, PercentDone: "0.0",
		ResourceARN: rp.ResourceARN, ResourceType: rp.ResourceType, VaultName: rp.VaultName, VaultARN: rp.VaultARN(),
		RecoveryPointARN: rp.ARN, EncryptionKeyARN: rp.EncryptionKeyARN, IAMRoleARN: role, IdempotencyToken: in.IdempotencyToken,
		RestoreMetadata: string(meta), Size: rp.Size, Created: s.now().UTC(),
	}
	_, err = s.enqueue(ctx, j)
	return j, err
}

// DescribeRestoreJob returns a restore job of the caller's account.
func (s *Service) DescribeRestoreJob(ctx context.Context, id string) (*Job, error) {
	return s.describeJob(ctx, KindRestore, id, "backup:DescribeRestoreJob")
}

// runRestore creates the new instance, loads the recovery point into it
// and validates it against the checksums recorded at backup time.
func (s *Service) runRestore(ctx context.Context, j *Job) error {
	rp, err := loadRP(ctx, s.store, j.RecoveryPointARN)
	if err != nil {
		return err
	}
	if IsContinuous(rp.ARN) {
		return s.runContinuousRestore(ctx, j, rp)
	}
	var mdJSON string
	if err := s.store.QueryRowContext(ctx, `SELECT engine_metadata FROM backup_recovery_points WHERE arn = ?`, rp.ARN).Scan(&mdJSON); err != nil {
		return err
	}
	var md engine.Metadata
	if err := json.Unmarshal([]byte(mdJSON), &md); err != nil {
		return fmt.Errorf("engine metadata of %s: %w", rp.ARN, err)
	}
	override, merged, err := restoreMetadata(j, rp)
	if err != nil {
		return err
	}
	// The secrets (the master password) travel in the recovery point's
	// encrypted manifest, readable only with its key.
	stream, secrets, err := s.data.Read(ctx, rp.domain(), rp.ManifestID)
	if err != nil {
		return fmt.Errorf("read recovery point %s: %w", rp.ARN, err)
	}
	defer stream.Close()
	spec := RestoreSpec{Account: j.Account, Region: j.Region, Metadata: merged, Requested: override, Recorded: rp.RestoreMetadata, Secrets: secrets}
	if md.Physical != nil {
		return s.restorePhysical(ctx, j, rp, spec, stream, &md, override)
	}
	target, err := s.dbs.CreateRestored(ctx, spec)
	if err != nil {
		return err
	}
	j.CreatedResourceARN = target.ARN
	if err := s.update(ctx, s.store, j); err != nil {
		target.Finish(context.WithoutCancel(ctx), false)
		return err
	}
	t := trackerFrom(ctx)
	t.expect(rp.Size)
	started := s.now()
	if err := target.Engine.Restore(ctx, target.Target, &countingReader{r: stream, add: t.add}, &md); err != nil {
		target.Finish(context.WithoutCancel(ctx), false)
		if errors.Is(err, ErrDataCorrupt) || errors.Is(err, engine.ErrCorrupt) {
			// The job fails, and its validation with it: the data does
			// not match what the recovery point recorded.
			j.ValidationStatus, j.ValidationMessage = ValidationFailed, "the recovery point's data failed its integrity check: "+err.Error()
		}
		return fmt.Errorf("restore into %s: %w", target.ARN, err)
	}
	restored := s.now()
	j.ValidationStatus, j.ValidationMessage = ValidationSuccessful, fmt.Sprintf("%d tables and %d rows match the checksums recorded at backup time", len(md.Tables), md.Rows())
	if res, err := target.Engine.Verify(ctx, target.Target, &md); err != nil {
		if !errors.Is(err, engine.ErrMismatch) {
			target.Finish(context.WithoutCancel(ctx), false)
			return fmt.Errorf("validate %s: %w", target.ARN, err)
		}
		j.ValidationStatus, j.ValidationMessage = ValidationFailed, mismatchMessage(res)
	}
	s.log.Info("restore job", "job", j.ID, "restore", restored.Sub(started), "validation", s.now().Sub(restored))
	return s.finishRestore(ctx, j, target, override, t)
}

// restoreMetadata is a restore job's requested metadata and that over
// the recovery point's.
func restoreMetadata(j *Job, rp *RecoveryPoint) (override, merged map[string]string, err error) {
	if err := json.Unmarshal([]byte(j.RestoreMetadata), &override); err != nil {
		return nil, nil, err
	}
	merged = map[string]string{}
	for k, v := range rp.RestoreMetadata {
		merged[k] = v
	}
	for k, v := range override {
		merged[k] = v
	}
	return override, merged, nil
}

// runContinuousRestore restores a continuous recovery point to a point
// in time; the master password is the source instance's, which the
// restore opens through RDS.
func (s *Service) runContinuousRestore(ctx context.Context, j *Job, rp *RecoveryPoint) error {
	override, merged, err := restoreMetadata(j, rp)
	if err != nil {
		return err
	}
	spec := RestoreSpec{Account: j.Account, Region: j.Region, Metadata: merged, Requested: override, Recorded: rp.RestoreMetadata}
	return s.restoreContinuous(ctx, j, rp, spec, override)
}

// finishRestore runs the restore's validation query, makes the instance
// available and completes the job.
func (s *Service) finishRestore(ctx context.Context, j *Job, target *Restored, override map[string]string, t *tracker) error {
	if q := override[ValidationQueryKey]; q != "" && j.ValidationStatus == ValidationSuccessful {
		j.ValidationStatus, j.ValidationMessage = runValidationQuery(ctx, target, q, j.ValidationMessage)
	}
	if err := target.Finish(ctx, true); err != nil {
		return err
	}
	now := s.now()
	return s.store.InTx(ctx, func(q meta.Querier) error {
		j.State, j.PercentDone, j.Completed = StateCompleted, "100.0", now
		j.BytesTransferred, _ = t.snapshot()
		return s.update(ctx, q, j)
	})
}

// restorePhysical restores a physical recovery point into a new
// instance: unpacked, checked against the backup's manifest, recovered
// to its consistent point and validated before the instance is made
// available. The first validated restore records the tables' checksums
// with the recovery point (a physical backup has no single SQL snapshot
// to take them from), so later restores of it compare with them.
func (s *Service) restorePhysical(ctx context.Context, j *Job, rp *RecoveryPoint, spec RestoreSpec, stream io.Reader, md *engine.Metadata, override map[string]string) error {
	t := trackerFrom(ctx)
	t.expect(rp.Size)
	started := s.now()
	target, v, err := s.dbs.RestorePhysical(ctx, spec, &countingReader{r: stream, add: t.add}, md)
	if target != nil {
		j.CreatedResourceARN = target.ARN
	}
	if err != nil {
		if errors.Is(err, ErrDataCorrupt) || errors.Is(err, engine.ErrCorrupt) {
			j.ValidationStatus, j.ValidationMessage = ValidationFailed, "the recovery point's data failed its integrity check: "+err.Error()
		}
		return fmt.Errorf("restore %s: %w", rp.ARN, err)
	}
	if err := s.update(ctx, s.store, j); err != nil {
		target.Finish(context.WithoutCancel(ctx), false)
		return err
	}
	rows := (&engine.Metadata{Tables: v.Tables}).Rows()
	j.ValidationStatus = ValidationSuccessful
	j.ValidationMessage = fmt.Sprintf("%d files match the backup's manifest; recovery reached the backup's consistent point %s; %d tables and %d rows", v.Files, md.Physical.EndLSN, len(v.Tables), rows)
	switch {
	case v.Result != nil && len(v.Result.Mismatches) > 0:
		j.ValidationStatus, j.ValidationMessage = ValidationFailed, mismatchMessage(v.Result)
	case md.Tables != nil:
		j.ValidationMessage += " match the checksums recorded with the recovery point"
	default:
		j.ValidationMessage += " checksummed and recorded with the recovery point for later restores"
		recorded := *md
		recorded.Tables = v.Tables
		b, err := json.Marshal(&recorded)
		if err == nil {
			_, err = s.store.ExecContext(ctx, `UPDATE backup_recovery_points SET engine_metadata = ? WHERE arn = ?`, string(b), rp.ARN)
		}
		if err != nil {
			target.Finish(context.WithoutCancel(ctx), false)
			return fmt.Errorf("record the table checksums of %s: %w", rp.ARN, err)
		}
	}
	s.log.Info("restore job", "job", j.ID, "physical_restore_and_validation", s.now().Sub(started), "unpack", v.Unpacked, "start_and_recover", v.Recovered, "validate", v.Validated)
	return s.finishRestore(ctx, j, target, override, t)
}

// runValidationQuery runs a restore's validation query on the restored
// database: it must return one row whose first column is true.
func runValidationQuery(ctx context.Context, target *Restored, query, checksums string) (status, message string) {
	qc, ok := target.Engine.(QueryChecker)
	if !ok {
		return ValidationFailed, fmt.Sprintf("the %s engine cannot run a validation query", target.Engine.Name())
	}
	ok, err := qc.CheckQuery(ctx, target.Target, query)
	switch {
	case err != nil:
		return ValidationFailed, "the validation query failed: " + err.Error()
	case !ok:
		return ValidationFailed, "the validation query returned false (" + checksums + ")"
	}
	return ValidationSuccessful, checksums + "; the validation query returned true"
}

func mismatchMessage(res *engine.VerifyResult) string {
	if res == nil {
		return "the restored database does not match the backup"
	}
	var parts []string
	for _, m := range res.Mismatches {
		parts = append(parts, m.String())
	}
	sort.Strings(parts)
	return "the restored database does not match the backup: " + strings.Join(parts, "; ")
}

type countingReader struct {
	r   interface{ Read([]byte) (int, error) }
	add func(int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.add(int64(n))
	return n, err
}
