package backup

import (
	"context"
	"strconv"
	"time"

	"github.com/coffer-dev/coffer/internal/backup"
	"github.com/coffer-dev/coffer/internal/protocol"
)

func (a *adapter) putVaultLock(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	var in struct{ MinRetentionDays, MaxRetentionDays, ChangeableForDays *int64 }
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	return 0, struct{}{}, a.svc.PutVaultLock(ctx, backup.PutVaultLockInput{VaultName: r.PathValue("backupVaultName"),
		MinRetentionDays: in.MinRetentionDays, MaxRetentionDays: in.MaxRetentionDays, ChangeableForDays: in.ChangeableForDays})
}

func (a *adapter) deleteVaultLock(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	return 0, struct{}{}, a.svc.DeleteVaultLock(ctx, r.PathValue("backupVaultName"))
}

func (a *adapter) registerLegalHolds(s *protocol.RESTService) {
	s.Handle("POST /legal-holds/{$}", "CreateLegalHold", a.createLegalHold)
	s.Handle("GET /legal-holds/{legalHoldId}/{$}", "GetLegalHold", a.getLegalHold)
	s.Handle("GET /legal-holds/{$}", "ListLegalHolds", a.listLegalHolds)
	s.Handle("DELETE /legal-holds/{legalHoldId}", "CancelLegalHold", a.cancelLegalHold)
	s.Handle("GET /legal-holds/{legalHoldId}/recovery-points", "ListRecoveryPointsByLegalHold", a.listHeldRPs)
}

type selectionShape struct {
	VaultNames          []string `json:",omitempty"`
	ResourceIdentifiers []string `json:",omitempty"`
	DateRange           *struct {
		FromDate, ToDate protocol.Epoch
	} `json:",omitempty"`
}

func (sel *selectionShape) domain() backup.HoldSelection {
	if sel == nil {
		return backup.HoldSelection{}
	}
	out := backup.HoldSelection{VaultNames: sel.VaultNames, ResourceIdentifiers: sel.ResourceIdentifiers}
	if sel.DateRange != nil {
		out.From, out.To = timeOf(sel.DateRange.FromDate), timeOf(sel.DateRange.ToDate)
	}
	return out
}

type holdShape struct {
	Title                  string
	Status                 string
	Description            string
	CancelDescription      *string `json:",omitempty"`
	LegalHoldId            string
	LegalHoldArn           string
	CreationDate           protocol.Epoch
	CancellationDate       *protocol.Epoch `json:",omitempty"`
	RetainRecordUntil      *protocol.Epoch `json:",omitempty"`
	RecoveryPointSelection *selectionShape `json:",omitempty"`
}

// listedHold is ListLegalHolds' LegalHold: no selection, cancel
// description or retention.
type listedHold struct {
	Title, Status, Description, LegalHoldId, LegalHoldArn string
	CreationDate                                          protocol.Epoch
	CancellationDate                                      *protocol.Epoch `json:",omitempty"`
}

func holdOut(h *backup.LegalHold) holdShape {
	sel := &selectionShape{VaultNames: h.Selection.VaultNames, ResourceIdentifiers: h.Selection.ResourceIdentifiers}
	return holdShape{Title: h.Title, Status: h.Status, Description: h.Description, CancelDescription: optString(h.CancelDescription),
		LegalHoldId: h.ID, LegalHoldArn: h.ARN, CreationDate: protocol.Epoch(h.Created), CancellationDate: protocol.EpochPtr(h.Canceled),
		RetainRecordUntil: protocol.EpochPtr(h.RetainRecordUntil), RecoveryPointSelection: sel}
}

func (a *adapter) createLegalHold(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	var in struct {
		Title, Description, IdempotencyToken string
		RecoveryPointSelection               *selectionShape
		Tags                                 map[string]string
	}
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	h, err := a.svc.CreateLegalHold(ctx, backup.CreateLegalHoldInput{Title: in.Title, Description: in.Description,
		IdempotencyToken: in.IdempotencyToken, Selection: in.RecoveryPointSelection.domain(), Tags: in.Tags})
	if err != nil {
		return 0, nil, err
	}
	return 0, holdOut(h), nil
}

func (a *adapter) getLegalHold(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	h, err := a.svc.GetLegalHold(ctx, r.PathValue("legalHoldId"))
	if err != nil {
		return 0, nil, err
	}
	return 0, holdOut(h), nil
}

func (a *adapter) listLegalHolds(ctx context.Context, _ *protocol.RESTRequest) (int, any, error) {
	hs, err := a.svc.ListLegalHolds(ctx)
	if err != nil {
		return 0, nil, err
	}
	out := struct{ LegalHolds []listedHold }{LegalHolds: []listedHold{}}
	for _, h := range hs {
		out.LegalHolds = append(out.LegalHolds, listedHold{Title: h.Title, Status: h.Status, Description: h.Description, LegalHoldId: h.ID, LegalHoldArn: h.ARN,
			CreationDate: protocol.Epoch(h.Created), CancellationDate: protocol.EpochPtr(h.Canceled)})
	}
	return 0, out, nil
}

func (a *adapter) cancelLegalHold(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	var days int64
	if v := r.Query.Get("retainRecordInDays"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return 0, nil, backup.InvalidParam("retainRecordInDays %q is not a number of days", v)
		}
		days = n
	}
	return 201, struct{}{}, a.svc.CancelLegalHold(ctx, r.PathValue("legalHoldId"), r.Query.Get("cancelDescription"), days)
}

func (a *adapter) listHeldRPs(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	rps, err := a.svc.RecoveryPointsByLegalHold(ctx, r.PathValue("legalHoldId"))
	if err != nil {
		return 0, nil, err
	}
	type member struct{ RecoveryPointArn, ResourceArn, ResourceType, BackupVaultName string }
	out := struct{ RecoveryPoints []member }{RecoveryPoints: []member{}}
	for _, rp := range rps {
		out.RecoveryPoints = append(out.RecoveryPoints, member{rp.ARN, rp.ResourceARN, rp.ResourceType, rp.VaultName})
	}
	return 0, out, nil
}

func timeOf(e protocol.Epoch) time.Time { return time.Time(e) }
