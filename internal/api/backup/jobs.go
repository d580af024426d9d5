package backup

import (
	"context"
	"time"

	"github.com/coffer-dev/coffer/internal/backup"
	"github.com/coffer-dev/coffer/internal/plans"
	"github.com/coffer-dev/coffer/internal/protocol"
)

func (a *adapter) registerJobs(s *protocol.RESTService) {
	s.Handle("PUT /backup-jobs", "StartBackupJob", a.startBackupJob)
	s.Handle("GET /backup-jobs/{backupJobId}", "DescribeBackupJob", a.describeBackupJob)
	s.Handle("GET /backup-jobs/{$}", "ListBackupJobs", a.listJobs(backup.KindBackup))
	s.Handle("POST /backup-jobs/{backupJobId}", "StopBackupJob", a.stopBackupJob)
	s.Handle("PUT /copy-jobs", "StartCopyJob", a.startCopyJob)
	s.Handle("GET /copy-jobs/{copyJobId}", "DescribeCopyJob", a.describeCopyJob)
	s.Handle("GET /copy-jobs/{$}", "ListCopyJobs", a.listJobs(backup.KindCopy))
	s.Handle("PUT /restore-jobs", "StartRestoreJob", a.startRestoreJob)
	s.Handle("GET /restore-jobs/{restoreJobId}", "DescribeRestoreJob", a.describeRestoreJob)
	s.Handle("GET /restore-jobs/{$}", "ListRestoreJobs", a.listJobs(backup.KindRestore))
}

// lifecycleIn is a request's lifecycle, checked as a plan rule's is.
func lifecycleIn(l *plans.Lifecycle) (backup.Lifecycle, error) {
	if err := l.Check("Lifecycle"); err != nil {
		return backup.Lifecycle{}, err
	}
	return l.Domain(), nil
}

func lifecycleOut(l backup.Lifecycle) *plans.Lifecycle {
	if l == (backup.Lifecycle{}) {
		return nil
	}
	out := &plans.Lifecycle{}
	if l.ColdAfterDays > 0 {
		out.MoveToColdStorageAfterDays = &l.ColdAfterDays
	}
	if l.DeleteAfterDays > 0 {
		out.DeleteAfterDays = &l.DeleteAfterDays
	}
	return out
}

func (a *adapter) startBackupJob(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	var in struct {
		BackupVaultName, ResourceArn, IamRoleArn, IdempotencyToken string
		StartWindowMinutes, CompleteWindowMinutes                  int64
		Lifecycle                                                  *plans.Lifecycle
		RecoveryPointTags                                          map[string]string
	}
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	lc, err := lifecycleIn(in.Lifecycle)
	if err != nil {
		return 0, nil, err
	}
	j, err := a.svc.StartBackupJob(ctx, backup.StartBackupJobInput{VaultName: in.BackupVaultName, ResourceARN: in.ResourceArn, IAMRoleARN: in.IamRoleArn,
		IdempotencyToken: in.IdempotencyToken, StartWindowMinutes: in.StartWindowMinutes, CompleteWindowMinutes: in.CompleteWindowMinutes,
		Lifecycle: lc, RecoveryPointTags: in.RecoveryPointTags})
	if err != nil {
		return 0, nil, err
	}
	return 0, struct {
		BackupJobId      string
		RecoveryPointArn string
		CreationDate     protocol.Epoch
	}{j.ID, j.RecoveryPointARN, protocol.Epoch(j.Created)}, nil
}

type createdByShape struct {
	BackupPlanId, BackupPlanArn, BackupPlanVersion, BackupRuleId, BackupRuleName string
}

func createdByOut(c backup.CreatedBy) *createdByShape {
	if c.PlanID == "" {
		return nil
	}
	return &createdByShape{c.PlanID, c.PlanARN, c.PlanVersion, c.RuleID, c.RuleName}
}

type backupJobShape struct {
	AccountId              string
	BackupJobId            string
	BackupVaultName        string
	BackupVaultArn         string
	RecoveryPointArn       string
	EncryptionKeyArn       *string `json:",omitempty"`
	IsEncrypted            bool
	ResourceArn            string
	ResourceType           string
	ResourceName           *string `json:",omitempty"`
	CreationDate           protocol.Epoch
	CompletionDate         *protocol.Epoch `json:",omitempty"`
	StartBy                *protocol.Epoch `json:",omitempty"`
	State                  string
	StatusMessage          *string `json:",omitempty"`
	PercentDone            string
	BackupSizeInBytes      int64
	BytesTransferred       int64
	IamRoleArn             string
	RecoveryPointLifecycle *plans.Lifecycle `json:",omitempty"`
	BackupType             string
	CreatedBy              *createdByShape `json:",omitempty"`
}

func backupJobOut(j *backup.Job) backupJobShape {
	return backupJobShape{
		AccountId: j.Account, BackupJobId: j.ID, BackupVaultName: j.VaultName, BackupVaultArn: j.VaultARN, RecoveryPointArn: j.RecoveryPointARN,
		EncryptionKeyArn: optString(j.EncryptionKeyARN), IsEncrypted: j.EncryptionKeyARN != "", ResourceArn: j.ResourceARN, ResourceType: j.ResourceType,
		ResourceName: optString(j.ResourceName), CreationDate: protocol.Epoch(j.Created), CompletionDate: protocol.EpochPtr(j.Completed),
		StartBy: protocol.EpochPtr(j.StartBy), State: j.State, StatusMessage: optString(j.StatusMessage), PercentDone: j.PercentDone,
		BackupSizeInBytes: j.Size, BytesTransferred: j.BytesTransferred, IamRoleArn: j.IAMRoleARN,
		RecoveryPointLifecycle: lifecycleOut(j.Lifecycle), BackupType: "FULL", CreatedBy: createdByOut(j.CreatedBy),
	}
}

func (a *adapter) describeBackupJob(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	j, err := a.svc.DescribeBackupJob(ctx, r.PathValue("backupJobId"))
	if err != nil {
		return 0, nil, err
	}
	return 0, backupJobOut(j), nil
}

func (a *adapter) stopBackupJob(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	return 0, struct{}{}, a.svc.StopBackupJob(ctx, r.PathValue("backupJobId"))
}

func (a *adapter) startCopyJob(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	var in struct {
		RecoveryPointArn, SourceBackupVaultName, DestinationBackupVaultArn, IamRoleArn, IdempotencyToken string
		Lifecycle                                                                                        *plans.Lifecycle
	}
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	lc, err := lifecycleIn(in.Lifecycle)
	if err != nil {
		return 0, nil, err
	}
	j, err := a.svc.StartCopyJob(ctx, backup.StartCopyJobInput{RecoveryPointARN: in.RecoveryPointArn, SourceVaultName: in.SourceBackupVaultName,
		DestinationVaultARN: in.DestinationBackupVaultArn, IAMRoleARN: in.IamRoleArn, IdempotencyToken: in.IdempotencyToken, Lifecycle: lc})
	if err != nil {
		return 0, nil, err
	}
	return 0, struct {
		CopyJobId    string
		CreationDate protocol.Epoch
	}{j.ID, protocol.Epoch(j.Created)}, nil
}

type copyJobShape struct {
	AccountId                         string
	CopyJobId                         string
	SourceBackupVaultArn              string
	SourceRecoveryPointArn            string
	DestinationBackupVaultArn         string
	DestinationRecoveryPointArn       string
	DestinationEncryptionKeyArn       *string          `json:",omitempty"`
	DestinationRecoveryPointLifecycle *plans.Lifecycle `json:",omitempty"`
	ResourceArn                       string
	ResourceType                      string
	ResourceName                      *string `json:",omitempty"`
	CreationDate                      protocol.Epoch
	CompletionDate                    *protocol.Epoch `json:",omitempty"`
	State                             string
	StatusMessage                     *string `json:",omitempty"`
	BackupSizeInBytes                 int64
	IamRoleArn                        string
	CreatedBy                         *createdByShape `json:",omitempty"`
}

func copyJobOut(j *backup.Job) copyJobShape {
	return copyJobShape{
		AccountId: j.Account, CopyJobId: j.ID, SourceBackupVaultArn: j.VaultARN, SourceRecoveryPointArn: j.RecoveryPointARN,
		DestinationBackupVaultArn: j.DestinationVaultARN, DestinationRecoveryPointArn: j.DestinationRecoveryPointARN,
		DestinationEncryptionKeyArn: optString(j.EncryptionKeyARN), DestinationRecoveryPointLifecycle: lifecycleOut(j.Lifecycle),
		ResourceArn: j.ResourceARN, ResourceType: j.ResourceType, ResourceName: optString(j.ResourceName),
		CreationDate: protocol.Epoch(j.Created), CompletionDate: protocol.EpochPtr(j.Completed), State: j.State,
		StatusMessage: optString(j.StatusMessage), BackupSizeInBytes: j.Size, IamRoleArn: j.IAMRoleARN, CreatedBy: createdByOut(j.CreatedBy),
	}
}

func (a *adapter) describeCopyJob(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	j, err := a.svc.DescribeCopyJob(ctx, r.PathValue("copyJobId"))
	if err != nil {
		return 0, nil, err
	}
	return 0, struct{ CopyJob copyJobShape }{copyJobOut(j)}, nil
}

func (a *adapter) startRestoreJob(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	var in struct {
		RecoveryPointArn, IamRoleArn, IdempotencyToken, ResourceType string
		Metadata                                                     map[string]string
	}
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	j, err := a.svc.StartRestoreJob(ctx, backup.StartRestoreJobInput{RecoveryPointARN: in.RecoveryPointArn, IAMRoleARN: in.IamRoleArn,
		IdempotencyToken: in.IdempotencyToken, ResourceType: in.ResourceType, Metadata: in.Metadata})
	if err != nil {
		return 0, nil, err
	}
	return 0, struct{ RestoreJobId string }{j.ID}, nil
}

type restoreJobShape struct {
	AccountId                 string
	RestoreJobId              string
	RecoveryPointArn          string
	SourceResourceArn         string
	BackupVaultArn            string
	CreationDate              protocol.Epoch
	CompletionDate            *protocol.Epoch `json:",omitempty"`
	Status                    string
	StatusMessage             *string `json:",omitempty"`
	PercentDone               string
	BackupSizeInBytes         int64
	IamRoleArn                string
	CreatedResourceArn        *string `json:",omitempty"`
	ResourceType              string
	ValidationStatus          *string                                 `json:",omitempty"`
	ValidationStatusMessage   *string                                 `json:",omitempty"`
	DeletionStatus            *string                                 `json:",omitempty"`
	DeletionStatusMessage     *string                                 `json:",omitempty"`
	CreatedBy                 *struct{ RestoreTestingPlanArn string } `json:",omitempty"`
	RecoveryPointCreationDate *protocol.Epoch                         `json:",omitempty"`
}

// restoreJobsOut is ListRestoreJobs's and
// ListRestoreJobsByProtectedResource's output.
func (a *adapter) restoreJobsOut(ctx context.Context, jobs []*backup.Job, next string) (int, any, error) {
	created, err := a.svc.RecoveryPointsCreated(ctx, jobs)
	if err != nil {
		return 0, nil, err
	}
	out := struct {
		RestoreJobs []restoreJobShape
		NextToken   *string `json:",omitempty"`
	}{RestoreJobs: []restoreJobShape{}, NextToken: optString(next)}
	for i, j := range jobs {
		out.RestoreJobs = append(out.RestoreJobs, restoreJobOut(j, created[i]))
	}
	return 0, out, nil
}

func restoreJobOut(j *backup.Job, recoveryPointCreated time.Time) restoreJobShape {
	out := restoreJobShape{
		AccountId: j.Account, RestoreJobId: j.ID, RecoveryPointArn: j.RecoveryPointARN, SourceResourceArn: j.ResourceARN, BackupVaultArn: j.VaultARN,
		CreationDate: protocol.Epoch(j.Created), CompletionDate: protocol.EpochPtr(j.Completed), Status: j.State,
		StatusMessage: optString(j.StatusMessage), PercentDone: j.PercentDone, BackupSizeInBytes: j.Size, IamRoleArn: j.IAMRoleARN,
		CreatedResourceArn: optString(j.CreatedResourceARN), ResourceType: j.ResourceType,
		ValidationStatus: optString(j.ValidationStatus), ValidationStatusMessage: optString(j.ValidationMessage),
		DeletionStatus: optString(j.DeletionStatus), DeletionStatusMessage: optString(j.DeletionMessage),
		RecoveryPointCreationDate: protocol.EpochPtr(recoveryPointCreated),
	}
	if j.CreatedBy.RestoreTestingPlanARN != "" {
		out.CreatedBy = &struct{ RestoreTestingPlanArn string }{j.CreatedBy.RestoreTestingPlanARN}
	}
	return out
}

func (a *adapter) describeRestoreJob(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	j, err := a.svc.DescribeRestoreJob(ctx, r.PathValue("restoreJobId"))
	if err != nil {
		return 0, nil, err
	}
	created, err := a.svc.RecoveryPointsCreated(ctx, []*backup.Job{j})
	if err != nil {
		return 0, nil, err
	}
	return 0, restoreJobOut(j, created[0]), nil
}

func (a *adapter) listJobs(kind string) protocol.RESTOp {
	return func(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
		p, err := page(r)
		if err != nil {
			return 0, nil, err
		}
		q := r.Query
		f := backup.JobFilter{ResourceARN: q.Get("resourceArn"), State: q.Get("state"), VaultName: q.Get("backupVaultName"),
			ResourceType: q.Get("resourceType"), DestinationVaultARN: q.Get("destinationVaultArn")}
		if kind == backup.KindRestore {
			f.State, f.RestoreTestingPlanARN = q.Get("status"), q.Get("restoreTestingPlanArn")
		}
		if f.CreatedAfter, err = queryTime(q.Get("createdAfter")); err != nil {
			return 0, nil, err
		}
		if f.CreatedBefore, err = queryTime(q.Get("createdBefore")); err != nil {
			return 0, nil, err
		}
		jobs, next, err := a.svc.ListJobs(ctx, kind, f, p)
		if err != nil {
			return 0, nil, err
		}
		token := optString(next)
		switch kind {
		case backup.KindBackup:
			out := struct {
				BackupJobs []backupJobShape
				NextToken  *string `json:",omitempty"`
			}{BackupJobs: []backupJobShape{}, NextToken: token}
			for _, j := range jobs {
				out.BackupJobs = append(out.BackupJobs, backupJobOut(j))
			}
			return 0, out, nil
		case backup.KindCopy:
			out := struct {
				CopyJobs  []copyJobShape
				NextToken *string `json:",omitempty"`
			}{CopyJobs: []copyJobShape{}, NextToken: token}
			for _, j := range jobs {
				out.CopyJobs = append(out.CopyJobs, copyJobOut(j))
			}
			return 0, out, nil
		default:
			return a.restoreJobsOut(ctx, jobs, next)
		}
	}
}

// queryTime parses a timestamp query member: the SDKs send ISO 8601.
func queryTime(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, time.RFC3339} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, backup.InvalidParam("timestamp %q is not ISO 8601", v)
}
