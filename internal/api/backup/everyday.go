package backup

import (
	"context"
	"net/http"

	"github.com/coffer-dev/coffer/internal/api/paginate"
	"github.com/coffer-dev/coffer/internal/backup"
	"github.com/coffer-dev/coffer/internal/protocol"
)

func (a *adapter) registerEveryday(s *protocol.RESTService) {
	s.Handle("GET /audit/backup-job-summaries", "ListBackupJobSummaries", a.jobSummaries(backup.KindBackup))
	s.Handle("GET /audit/copy-job-summaries", "ListCopyJobSummaries", a.jobSummaries(backup.KindCopy))
	s.Handle("GET /audit/restore-job-summaries", "ListRestoreJobSummaries", a.jobSummaries(backup.KindRestore))
	s.Handle("GET /backup-vaults/{backupVaultName}/resources/{$}", "ListProtectedResourcesByBackupVault", a.protectedByVault)
	s.Handle("GET /resources/{resourceArn}/restore-jobs/{$}", "ListRestoreJobsByProtectedResource", a.restoreJobsByResource)
	s.Handle("GET /supported-resource-types", "GetSupportedResourceTypes", a.supportedResourceTypes)
	s.Handle("POST /backup-vaults/{backupVaultName}/recovery-points/{recoveryPointArn}/disassociate", "DisassociateRecoveryPoint", a.disassociateRP)
	s.Handle("DELETE /backup-vaults/{backupVaultName}/recovery-points/{recoveryPointArn}/parentAssociation", "DisassociateRecoveryPointFromParent", a.disassociateFromParent)
}

// pageItems cuts a listing computed whole into the page the nextToken
// and maxResults query members (or query names given) ask for.
func pageItems[T any](r *protocol.RESTRequest, items []T, tokenName, maxName string) ([]T, *string, error) {
	p, err := pageOf(r.Query.Get(tokenName), r.Query.Get(maxName))
	if err != nil {
		return nil, nil, err
	}
	limit := p.Max
	if limit == 0 {
		limit = 1000
	}
	if limit < 1 || limit > 1000 {
		return nil, nil, backup.InvalidParam("MaxResults must be between 1 and 1000, not %s", r.Query.Get(maxName))
	}
	out, next, ok := paginate.Page(items, p.Token, limit)
	if !ok {
		return nil, nil, backup.InvalidParam("NextToken is not a token this service issued")
	}
	return out, optString(next), nil
}

type jobSummaryShape struct {
	Region, AccountId, State, ResourceType string
	MessageCategory                        *string `json:",omitempty"`
	Count                                  int
	StartTime, EndTime                     protocol.Epoch
}

func (a *adapter) jobSummaries(kind string) protocol.RESTOp {
	list := map[string]string{backup.KindBackup: "BackupJobSummaries", backup.KindCopy: "CopyJobSummaries", backup.KindRestore: "RestoreJobSummaries"}[kind]
	return func(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
		q := r.Query
		f := backup.SummaryFilter{Account: q.Get("AccountId"), State: q.Get("State"), ResourceType: q.Get("ResourceType"), Period: q.Get("AggregationPeriod")}
		if kind != backup.KindRestore {
			f.MessageCategory = q.Get("MessageCategory")
		}
		sums, period, err := a.svc.JobSummaries(ctx, kind, f)
		if err != nil {
			return 0, nil, err
		}
		shapes := make([]jobSummaryShape, len(sums))
		for i, s := range sums {
			shapes[i] = jobSummaryShape{Region: s.Region, AccountId: s.Account, State: s.State, ResourceType: s.ResourceType,
				MessageCategory: optString(s.MessageCategory), Count: s.Count, StartTime: protocol.Epoch(s.Start), EndTime: protocol.Epoch(s.End)}
		}
		shapes, next, err := pageItems(r, shapes, "NextToken", "MaxResults")
		if err != nil {
			return 0, nil, err
		}
		out := map[string]any{list: shapes, "AggregationPeriod": period}
		if next != nil {
			out["NextToken"] = *next
		}
		return 0, out, nil
	}
}

func (a *adapter) protectedByVault(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	all, err := a.svc.ProtectedResourcesByVault(ctx, r.PathValue("backupVaultName"), r.Query.Get("backupVaultAccountId"))
	if err != nil {
		return 0, nil, err
	}
	return protectedPage(r, all)
}

// protectedPage answers a listing of protected resources.
func protectedPage(r *protocol.RESTRequest, all []backup.ProtectedResource) (int, any, error) {
	results := make([]protectedShape, len(all))
	for i, p := range all {
		results[i] = protectedOut(p)
	}
	results, next, err := pageItems(r, results, "nextToken", "maxResults")
	if err != nil {
		return 0, nil, err
	}
	return 0, struct {
		Results   []protectedShape
		NextToken *string `json:",omitempty"`
	}{results, next}, nil
}

func (a *adapter) restoreJobsByResource(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	p, err := page(r)
	if err != nil {
		return 0, nil, err
	}
	q := r.Query
	f := backup.JobFilter{ResourceARN: r.PathValue("resourceArn"), State: q.Get("status")}
	if f.RecoveryPointCreatedAfter, err = queryTime(q.Get("recoveryPointCreationDateAfter")); err != nil {
		return 0, nil, err
	}
	if f.RecoveryPointCreatedBefore, err = queryTime(q.Get("recoveryPointCreationDateBefore")); err != nil {
		return 0, nil, err
	}
	jobs, next, err := a.svc.RestoreJobsByResource(ctx, f, p)
	if err != nil {
		return 0, nil, err
	}
	return a.restoreJobsOut(ctx, jobs, next)
}

func (a *adapter) supportedResourceTypes(ctx context.Context, _ *protocol.RESTRequest) (int, any, error) {
	types, err := a.svc.GetSupportedResourceTypes(ctx)
	if err != nil {
		return 0, nil, err
	}
	return 0, struct{ ResourceTypes []string }{types}, nil
}

func (a *adapter) disassociateRP(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	return 0, struct{}{}, a.svc.DisassociateRecoveryPoint(ctx, r.PathValue("backupVaultName"), r.PathValue("recoveryPointArn"))
}

func (a *adapter) disassociateFromParent(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	return http.StatusNoContent, nil, a.svc.DisassociateRecoveryPointFromParent(ctx, r.PathValue("backupVaultName"), r.PathValue("recoveryPointArn"))
}
