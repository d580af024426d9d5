package backup

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/coffer-dev/coffer/internal/engine"
)

// What restore testing needs from the backup domain: restore jobs it
// starts as the AWS Backup service (the selection's creator was
// authorized, iam:PassRole included, when the selection was made), the
// recovery points it may pick, the validation and deletion outcomes it
// records, and the two API operations about a restore job's validation
// and metadata.

// Restore validation statuses (RestoreValidationStatus).
const (
	ValidationFailed     = "FAILED"
	ValidationSuccessful = "SUCCESSFUL"
	ValidationTimedOut   = "TIMED_OUT"
	ValidationValidating = "VALIDATING"
)

// Deletion statuses of a restore test's temporary resource
// (RestoreDeletionStatus).
const (
	DeletionDeleting   = "DELETING"
	DeletionFailed     = "FAILED"
	DeletionSuccessful = "SUCCESSFUL"
)

// ValidationQueryKey is the restore metadata key of a validation query:
// SQL that, run on the restored database after the checksums matched,
// must return one row whose first column is true, or the restore's
// validation FAILED. A restore testing selection gives it in its
// RestoreMetadataOverrides; StartRestoreJob takes it in Metadata.
const ValidationQueryKey = "ValidationQuery"

// ErrDataCorrupt is wrapped by the errors of a Storage.Read stream whose
// stored bytes fail their integrity check.
var ErrDataCorrupt = errors.New("recovery point data corrupt")

// QueryChecker is an engine that runs validation queries.
type QueryChecker interface {
	// CheckQuery runs query read-only on t and reports whether its first
	// row's first column is true.
	CheckQuery(ctx context.Context, t engine.Target, query string) (bool, error)
}

// PlannedRestore is a restore a restore testing plan starts.
type PlannedRestore struct {
	RecoveryPointARN, IAMRoleARN, RestoreTestingPlanARN string
	// Metadata is the restore's metadata over the recovery point's (it
	// names the temporary instance's DBInstanceIdentifier).
	Metadata map[string]string
	StartBy  time.Time
	// Key is unique per plan run, selection and resource: the job's
	// idempotency token.
	Key string
}

// StartPlannedRestore creates the restore job of a restore test, or
// returns the one created before; created reports which.
func (s *Service) StartPlannedRestore(ctx context.Context, pr PlannedRestore) (j *Job, created bool, err error) {
	if pr.Key == "" || pr.Metadata["DBInstanceIdentifier"] == "" {
		return nil, false, errors.New("a planned restore needs a key and a DBInstanceIdentifier")
	}
	rp, err := loadRP(ctx, s.store, pr.RecoveryPointARN)
	if err != nil {
		return nil, false, err
	}
	if j, err := byIdempotencyToken(ctx, s.store, rp.Account, KindRestore, pr.Key); j != nil || err != nil {
		return j, false, err
	}
	if rp.Status != RPCompleted {
		return nil, false, invalidRequest("recovery point %s is %s; only a COMPLETED recovery point can be restored", rp.ARN, rp.Status)
	}
	md, err := json.Marshal(pr.Metadata)
	if err != nil {
		return nil, false, err
	}
	j = &Job{
		ID: newJobID(), Kind: KindRestore, Account: rp.Account, Region: rp.Region, State: StatePending, PercentDone: "0.0",
		ResourceARN: rp.ResourceARN, ResourceType: rp.ResourceType, VaultName: rp.VaultName, VaultARN: rp.VaultARN(),
		RecoveryPointARN: rp.ARN, EncryptionKeyARN: rp.EncryptionKeyARN, IAMRoleARN: pr.IAMRoleARN, IdempotencyToken: pr.Key,
		RestoreMetadata: string(md), Size: rp.Size, Created: s.now().UTC(), StartBy: pr.StartBy,
		CreatedBy: CreatedBy{RestoreTestingPlanARN: pr.RestoreTestingPlanARN},
	}
	created, err = s.enqueue(ctx, j)
	return j, created, err
}

// Job returns a job whatever the caller (the schedulers' view).
func (s *Service) Job(ctx context.Context, id string) (*Job, error) {
	return loadJob(ctx, s.store, id)
}

// SetDeletionStatus records what became of a finished restore test's
// temporary resource.
func (s *Service) SetDeletionStatus(ctx context.Context, id, status, message string) error {
	_, err := s.store.ExecContext(ctx, `UPDATE backup_jobs SET deletion_status = ?, deletion_status_message = ? WHERE id = ? AND kind = 'RESTORE'`, status, message, id)
	return err
}

// PutRestoreValidationResult records the caller's own validation of a
// restore test, while its temporary resource exists.
func (s *Service) PutRestoreValidationResult(ctx context.Context, id, status, message string) error {
	switch status {
	case "":
		return missingParam("ValidationStatus")
	case ValidationFailed, ValidationSuccessful, ValidationTimedOut, ValidationValidating:
	default:
		return InvalidParam("ValidationStatus %q must be FAILED, SUCCESSFUL, TIMED_OUT or VALIDATING", status)
	}
	j, err := s.describeJob(ctx, KindRestore, id, "backup:PutRestoreValidationResult")
	if err != nil {
		return err
	}
	switch {
	case j.CreatedBy.RestoreTestingPlanARN == "":
		return invalidRequest("restore job %s was not started by a restore testing plan; only restore tests take validation results", id)
	case j.State != StateCompleted:
		return invalidRequest("restore job %s is %s; a validation result is taken once the restore COMPLETED", id, j.State)
	case j.DeletionStatus == DeletionSuccessful:
		return invalidRequest("the resource restore job %s created was already deleted at the end of its validation window", id)
	}
	_, err = s.store.ExecContext(ctx, `UPDATE backup_jobs SET validation_status = ?, validation_message = ? WHERE id = ?`, status, message, id)
	return err
}

// RestoreJobMetadata is GetRestoreJobMetadata: the metadata the restore
// job was started with.
func (s *Service) RestoreJobMetadata(ctx context.Context, id string) (map[string]string, error) {
	j, err := s.describeJob(ctx, KindRestore, id, "backup:GetRestoreJobMetadata")
	if err != nil {
		return nil, err
	}
	md := map[string]string{}
	if err := json.Unmarshal([]byte(j.RestoreMetadata), &md); err != nil {
		return nil, fmt.Errorf("restore job %s metadata: %w", id, err)
	}
	return md, nil
}

// TestableRecoveryPoint is a completed recovery point a restore test
// may pick.
type TestableRecoveryPoint struct {
	ARN, ResourceARN, ResourceType, VaultName, VaultARN string
	Created                                             time.Time
	RestoreMetadata                                     map[string]string
}

// TestableRecoveryPoints lists the completed recovery points of an
// account's vaults in a region created at or after since, oldest first.
func (s *Service) TestableRecoveryPoints(ctx context.Context, account, region string, since time.Time) ([]TestableRecoveryPoint, error) {
	rows, err := s.store.QueryContext(ctx, `SELECT `+rpColumns+` FROM backup_recovery_points
		WHERE account_id = ? AND region = ? AND status = 'COMPLETED' AND creation_date >= ? ORDER BY creation_date, arn`, account, region, since.UnixNano())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []TestableRecoveryPoint
	for rows.Next() {
		rp, err := scanRP(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, TestableRecoveryPoint{ARN: rp.ARN, ResourceARN: rp.ResourceARN, ResourceType: rp.ResourceType,
			VaultName: rp.VaultName, VaultARN: rp.VaultARN(), Created: rp.Created, RestoreMetadata: rp.RestoreMetadata})
	}
	return out, rows.Err()
}

// RestoreTestingInferredMetadata is GetRestoreTestingInferredMetadata:
// the metadata a restore test of the recovery point would restore with
// (the recovery point's, without the source's instance identifier, which
// a test replaces with a temporary one).
func (s *Service) RestoreTestingInferredMetadata(ctx context.Context, vaultAccount, vaultName, arn string) (map[string]string, error) {
	sc, _, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	switch {
	case vaultName == "":
		return nil, missingParam("BackupVaultName")
	case arn == "":
		return nil, missingParam("RecoveryPointArn")
	case vaultAccount != "" && vaultAccount != sc.Account:
		return nil, InvalidParam("BackupVaultAccountId %s: restore tests restore recovery points of the caller's account %s", vaultAccount, sc.Account)
	}
	_, rp, err := s.recoveryPoint(ctx, vaultName, arn, "backup:GetRestoreTestingInferredMetadata")
	if err != nil {
		return nil, err
	}
	md := maps.Clone(rp.RestoreMetadata)
	if md == nil {
		md = map[string]string{}
	}
	delete(md, "DBInstanceIdentifier")
	return md, nil
}

// RestoreTestCounts counts restore tests by account, region, plan and
// validation status, for metrics.
type RestoreTestCounts struct {
	Account, Region, PlanARN, ValidationStatus string
	Jobs                                       int
	LastCreated                                time.Time
}

// CountRestoreTests counts the restore jobs restore testing plans
// started, per plan and validation status.
func (s *Service) CountRestoreTests(ctx context.Context) ([]RestoreTestCounts, error) {
	rows, err := s.store.QueryContext(ctx, `SELECT account_id, region, restore_testing_plan_arn, validation_status, COUNT(*), MAX(creation_date)
		FROM backup_jobs WHERE kind = 'RESTORE' AND restore_testing_plan_arn <> ''
		GROUP BY account_id, region, restore_testing_plan_arn, validation_status ORDER BY 1, 2, 3, 4`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []RestoreTestCounts
	for rows.Next() {
		var c RestoreTestCounts
		var last sql.NullInt64
		if err := rows.Scan(&c.Account, &c.Region, &c.PlanARN, &c.ValidationStatus, &c.Jobs, &last); err != nil {
			return nil, err
		}
		c.LastCreated = unixTime(last.Int64)
		out = append(out, c)
	}
	return out, rows.Err()
}

// RestoreTests lists the restore jobs restore testing plans started,
// newest first, at most limit (the operator's view: coffer status).
func (s *Service) RestoreTests(ctx context.Context, limit int) ([]*Job, error) {
	return s.selectJobs(ctx, `SELECT `+jobColumns+` FROM backup_jobs WHERE kind = 'RESTORE' AND restore_testing_plan_arn <> ''
		ORDER BY creation_date DESC, id LIMIT ?`, limit)
}
