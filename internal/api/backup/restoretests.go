package backup

import (
	"context"

	"github.com/coffer-dev/coffer/internal/protocol"
)

// The restore job operations of restore testing; the plans and
// selections are internal/api/restoretesting's.
func (a *adapter) registerRestoreTests(s *protocol.RESTService) {
	s.Handle("GET /restore-jobs/{restoreJobId}/metadata", "GetRestoreJobMetadata", a.getRestoreJobMetadata)
	s.Handle("PUT /restore-jobs/{restoreJobId}/validations", "PutRestoreValidationResult", a.putRestoreValidationResult)
	s.Handle("GET /restore-testing/inferred-metadata", "GetRestoreTestingInferredMetadata", a.getRestoreTestingInferredMetadata)
}

func (a *adapter) getRestoreJobMetadata(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	id := r.PathValue("restoreJobId")
	md, err := a.svc.RestoreJobMetadata(ctx, id)
	if err != nil {
		return 0, nil, err
	}
	return 0, struct {
		RestoreJobId string
		Metadata     map[string]string
	}{id, md}, nil
}

func (a *adapter) putRestoreValidationResult(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	var in struct{ ValidationStatus, ValidationStatusMessage string }
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	if err := a.svc.PutRestoreValidationResult(ctx, r.PathValue("restoreJobId"), in.ValidationStatus, in.ValidationStatusMessage); err != nil {
		return 0, nil, err
	}
	return 204, nil, nil
}

func (a *adapter) getRestoreTestingInferredMetadata(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	q := r.Query
	md, err := a.svc.RestoreTestingInferredMetadata(ctx, q.Get("BackupVaultAccountId"), q.Get("BackupVaultName"), q.Get("RecoveryPointArn"))
	if err != nil {
		return 0, nil, err
	}
	return 0, struct{ InferredMetadata map[string]string }{md}, nil
}
