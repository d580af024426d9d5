package backup

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"github.com/coffer-dev/coffer/internal/awserr"
	"github.com/coffer-dev/coffer/internal/blob"
	"github.com/coffer-dev/coffer/internal/meta"
)

// Job kinds.
const (
	KindBackup  = "BACKUP"
	KindCopy    = "COPY"
	KindRestore = "RESTORE"
)

// Job states (restore jobs call theirs Status, with the same words).
const (
	StateCreated   = "CREATED"
	StatePending   = "PENDING"
	StateRunning   = "RUNNING"
	StateAborting  = "ABORTING"
	StateAborted   = "ABORTED"
	StateCompleted = "COMPLETED"
	StateFailed    = "FAILED"
	StateExpired   = "EXPIRED"
)

// Job is a backup, copy or restore job.
type Job struct {
	ID, Kind, Account, Region, State, StatusMessage, PercentDone string
	ResourceARN, ResourceType, ResourceName                      string
	VaultName, VaultARN, RecoveryPointARN, EncryptionKeyARN      string
	IAMRoleARN, IdempotencyToken                                 string
	DestinationVaultARN, DestinationRecoveryPointARN             string
	RestoreMetadata, CreatedResourceARN                          string
	ValidationStatus, ValidationMessage                          string
	DeletionStatus, DeletionMessage                              string
	Lifecycle                                                    Lifecycle
	RecoveryPointTags                                            string
	CreatedBy                                                    CreatedBy
	BytesTransferred, Size                                       int64
	Created, StartBy, CompleteBy, Completed                      time.Time
	// Continuous: a backup job of a continuous backup rule, which
	// creates or updates the resource's continuous recovery point.
	Continuous bool

	// attempt fences a worker's writes: the job's attempt it holds, 0
	// outside a worker (an API call stopping the job).
	attempt int64
}

// Finished reports whether the job reached a final state.
func (j *Job) Finished() bool {
	switch j.State {
	case StateCompleted, StateFailed, StateAborted, StateExpired:
		return true
	}
	return false
}

// CreatedBy names the backup plan rule that started a job, or the
// restore testing plan that started a restore job; empty for on-demand
// jobs.
type CreatedBy struct {
	PlanID, PlanARN, PlanVersion, RuleID, RuleName string
	RestoreTestingPlanARN                          string
}

const jobColumns = `id, kind, account_id, region, state, status_message, percent_done, resource_arn, resource_type, resource_name,
	vault_name, vault_arn, recovery_point_arn, encryption_key_arn, iam_role_arn, idempotency_token,
	destination_vault_arn, destination_recovery_point_arn, restore_metadata, created_resource_arn, validation_status, validation_message,
	cold_after_days, delete_after_days, recovery_point_tags, bytes_transferred, size_bytes, creation_date, start_by, complete_by, completion_date,
	plan_id, plan_arn, plan_version, rule_id, rule_name, restore_testing_plan_arn, deletion_status, deletion_status_message, continuous`

func scanJob(row interface{ Scan(...any) error }) (*Job, error) {
	var j Job
	var created, startBy, completeBy, completed, continuous int64
	err := row.Scan(&j.ID, &j.Kind, &j.Account, &j.Region, &j.State, &j.StatusMessage, &j.PercentDone, &j.ResourceARN, &j.ResourceType, &j.ResourceName,
		&j.VaultName, &j.VaultARN, &j.RecoveryPointARN, &j.EncryptionKeyARN, &j.IAMRoleARN, &j.IdempotencyToken,
		&j.DestinationVaultARN, &j.DestinationRecoveryPointARN, &j.RestoreMetadata, &j.CreatedResourceARN, &j.ValidationStatus, &j.ValidationMessage,
		&j.Lifecycle.ColdAfterDays, &j.Lifecycle.DeleteAfterDays, &j.RecoveryPointTags, &j.BytesTransferred, &j.Size, &created, &startBy, &completeBy, &completed,
		&j.CreatedBy.PlanID, &j.CreatedBy.PlanARN, &j.CreatedBy.PlanVersion, &j.CreatedBy.RuleID, &j.CreatedBy.RuleName,
		&j.CreatedBy.RestoreTestingPlanARN, &j.DeletionStatus, &j.DeletionMessage, &continuous)
	if err != nil {
		return nil, err
	}
	j.Continuous = continuous != 0
	j.Created, j.StartBy, j.CompleteBy, j.Completed = unixTime(created), unixTime(startBy), unixTime(completeBy), unixTime(completed)
	return &j, nil
}

func unixTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func insertJob(ctx context.Context, q meta.Querier, j *Job) error {
	_, err := q.ExecContext(ctx, `INSERT INTO backup_jobs (`+jobColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		j.ID, j.Kind, j.Account, j.Region, j.State, j.StatusMessage, j.PercentDone, j.ResourceARN, j.ResourceType, j.ResourceName,
		j.VaultName, j.VaultARN, j.RecoveryPointARN, j.EncryptionKeyARN, j.IAMRoleARN, j.IdempotencyToken,
		j.DestinationVaultARN, j.DestinationRecoveryPointARN, j.RestoreMetadata, j.CreatedResourceARN, j.ValidationStatus, j.ValidationMessage,
		j.Lifecycle.ColdAfterDays, j.Lifecycle.DeleteAfterDays, j.RecoveryPointTags, j.BytesTransferred, j.Size,
		unixNano(j.Created), unixNano(j.StartBy), unixNano(j.CompleteBy), unixNano(j.Completed),
		j.CreatedBy.PlanID, j.CreatedBy.PlanARN, j.CreatedBy.PlanVersion, j.CreatedBy.RuleID, j.CreatedBy.RuleName,
		j.CreatedBy.RestoreTestingPlanARN, j.DeletionStatus, j.DeletionMessage, boolInt(j.Continuous))
	return err
}

func loadJob(ctx context.Context, q meta.Querier, id string) (*Job, error) {
	j, err := scanJob(q.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM backup_jobs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("job %s does not exist", id)
	}
	return j, err
}

// byIdempotencyToken returns the job an earlier call with the same token
// created, if any.
func byIdempotencyToken(ctx context.Context, q meta.Querier, account, kind, token string) (*Job, error) {
	if token == "" {
		return nil, nil
	}
	j, err := scanJob(q.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM backup_jobs WHERE account_id = ? AND kind = ? AND idempotency_token = ?`, account, kind, token))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return j, err
}

func newJobID() string {
	var b [16]byte
	rand.Read(b[:])
	s := strings.ToUpper(hex.EncodeToString(b[:]))
	return s[0:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:32]
}

// describeJob returns a job of the caller's account after authorizing
// action on it.
func (s *Service) describeJob(ctx context.Context, kind, id, action string) (*Job, error) {
	sc, _, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	if id == "" {
		return nil, missingParam("job ID")
	}
	j, err := loadJob(ctx, s.store, id)
	if err != nil || j.Kind != kind || j.Account != sc.Account {
		if err := s.authorizeAny(ctx, action); err != nil {
			return nil, err
		}
		return nil, notFound("%s job %s does not exist in account %s", strings.ToLower(kind), id, sc.Account)
	}
	if err := s.authorizeAny(ctx, action); err != nil {
		return nil, err
	}
	return j, nil
}

// JobFilter narrows ListBackupJobs, ListCopyJobs and ListRestoreJobs.
type JobFilter struct {
	ResourceARN, State, VaultName, ResourceType, DestinationVaultARN string
	RestoreTestingPlanARN                                            string
	CreatedAfter, CreatedBefore                                      time.Time
	// RecoveryPointCreatedAfter and ...Before select restore jobs by
	// when their (still existing) recovery point was created.
	RecoveryPointCreatedAfter, RecoveryPointCreatedBefore time.Time
}

// ListJobs lists the caller's jobs of a kind, newest first.
func (s *Service) ListJobs(ctx context.Context, kind string, f JobFilter, page Page) ([]*Job, string, error) {
	sc, _, err := s.scope(ctx)
	if err != nil {
		return nil, "", err
	}
	action := map[string]string{KindBackup: "backup:ListBackupJobs", KindCopy: "backup:ListCopyJobs", KindRestore: "backup:ListRestoreJobs"}[kind]
	if err := s.authorizeAny(ctx, action); err != nil {
		return nil, "", err
	}
	return s.queryJobs(ctx, sc, kind, f, page)
}

// queryJobs lists the jobs of a kind in the scope that pass the filter,
// newest first, without authorizing.
func (s *Service) queryJobs(ctx context.Context, sc Scope, kind string, f JobFilter, page Page) ([]*Job, string, error) {
	after, limit, err := page.decode()
	if err != nil {
		return nil, "", err
	}
	query := `SELECT ` + jobColumns + ` FROM backup_jobs WHERE account_id = ? AND kind = ? AND region = ?`
	args := []any{sc.Account, kind, sc.Region}
	add := func(cond string, v any) { query += " AND " + cond; args = append(args, v) }
	if after != "" {
		add("id < ?", after)
	}
	if f.ResourceARN != "" {
		add("resource_arn = ?", f.ResourceARN)
	}
	if f.State != "" {
		add("state = ?", f.State)
	}
	if f.VaultName != "" {
		add("vault_name = ?", f.VaultName)
	}
	if f.ResourceType != "" {
		add("resource_type = ?", f.ResourceType)
	}
	if f.DestinationVaultARN != "" {
		add("destination_vault_arn = ?", f.DestinationVaultARN)
	}
	if f.RestoreTestingPlanARN != "" {
		add("restore_testing_plan_arn = ?", f.RestoreTestingPlanARN)
	}
	if !f.CreatedAfter.IsZero() {
		add("creation_date > ?", f.CreatedAfter.UnixNano())
	}
	if !f.CreatedBefore.IsZero() {
		add("creation_date < ?", f.CreatedBefore.UnixNano())
	}
	if !f.RecoveryPointCreatedAfter.IsZero() {
		add("recovery_point_arn IN (SELECT arn FROM backup_recovery_points WHERE creation_date > ?)", f.RecoveryPointCreatedAfter.UnixNano())
	}
	if !f.RecoveryPointCreatedBefore.IsZero() {
		add("recovery_point_arn IN (SELECT arn FROM backup_recovery_points WHERE creation_date < ?)", f.RecoveryPointCreatedBefore.UnixNano())
	}
	// IDs are random, so page by ID in descending order: stable, if not
	// chronological across pages.
	query += " ORDER BY id DESC LIMIT ?"
	args = append(args, limit+1)
	rows, err := s.store.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, "", err
	}
	defer rows.Close()
	var out []*Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, "", err
		}
		out = append(out, j)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = encodeToken(out[limit-1].ID)
	}
	return out, next, nil
}

// update writes a job's progress or outcome, unless it already finished
// or, from a worker, another attempt took it over (an attempt that lost
// its lease and wakes up changes nothing).
func (s *Service) update(ctx context.Context, q meta.Querier, j *Job) error {
	res, err := q.ExecContext(ctx, `UPDATE backup_jobs SET state = ?, status_message = ?, percent_done = ?, recovery_point_arn = ?, destination_recovery_point_arn = ?,
		encryption_key_arn = ?, created_resource_arn = ?, validation_status = ?, validation_message = ?, bytes_transferred = ?, size_bytes = ?,
		completion_date = ?, resource_name = ?, heartbeat_at = ?
		WHERE id = ? AND state NOT IN ('COMPLETED', 'FAILED', 'ABORTED', 'EXPIRED') AND (? = 0 OR attempt = ?)`,
		j.State, j.StatusMessage, j.PercentDone, j.RecoveryPointARN, j.DestinationRecoveryPointARN,
		j.EncryptionKeyARN, j.CreatedResourceARN, j.ValidationStatus, j.ValidationMessage, j.BytesTransferred, j.Size,
		unixNano(j.Completed), j.ResourceName, s.now().UnixNano(), j.ID, j.attempt, j.attempt)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errJobFinished
	}
	return nil
}

var errJobFinished = errors.New("job already finished")

// discardUncommitted removes the recovery point a failed backup or copy
// was creating; committed ones are never touched.
func discardUncommitted(ctx context.Context, q meta.Querier, j *Job) error {
	rp := j.RecoveryPointARN
	if j.Kind == KindCopy {
		rp = j.DestinationRecoveryPointARN
	}
	if j.Kind == KindRestore || rp == "" {
		return nil
	}
	_, err := q.ExecContext(ctx, `DELETE FROM backup_recovery_points WHERE arn = ? AND status = 'CREATING'`, rp)
	return err
}

// failMessage is what a failed job's StatusMessage says about err: the
// AWS-style message of a domain error, a generic line for the rest.
func failMessage(err error) string {
	if errors.Is(err, blob.ErrFull) {
		return "the backup storage is full: the job stopped and what it had written was deleted; free space in the store, then start the job again (" + err.Error() + ")"
	}
	var e *awserr.Error
	if errors.As(err, &e) && e.Kind != awserr.Internal {
		return e.Message
	}
	return "internal error: " + err.Error()
}
