// Package backupplans is the API adapter for AWS Backup's plans and
// selections (restJson1): the routes join the Backup endpoint that
// internal/api/backup builds.
package backupplans

import (
	"context"
	"strconv"
	"time"

	"github.com/coffer-dev/coffer/internal/api/paginate"
	"github.com/coffer-dev/coffer/internal/awserr"
	"github.com/coffer-dev/coffer/internal/plans"
	"github.com/coffer-dev/coffer/internal/protocol"
)

// Register adds the plan and selection operations to the Backup
// endpoint.
func Register(s *protocol.RESTService, p *plans.Service) {
	a := &adapter{p: p}
	// AWS's request URIs end with a slash; RESTService also routes them
	// without it, as the Go SDK sends them.
	both := func(method, path, op string, h protocol.RESTOp) { s.Handle(method+" "+path+"/{$}", op, h) }
	both("PUT", "/backup/plans", "CreateBackupPlan", a.createPlan)
	both("GET", "/backup/plans", "ListBackupPlans", a.listPlans)
	both("GET", "/backup/plans/{backupPlanId}", "GetBackupPlan", a.getPlan)
	s.Handle("POST /backup/plans/{backupPlanId}", "UpdateBackupPlan", a.updatePlan)
	s.Handle("DELETE /backup/plans/{backupPlanId}", "DeleteBackupPlan", a.deletePlan)
	both("GET", "/backup/plans/{backupPlanId}/versions", "ListBackupPlanVersions", a.listVersions)
	both("GET", "/backup/plans/{backupPlanId}/toTemplate", "ExportBackupPlanTemplate", a.exportTemplate)
	s.Handle("POST /backup/template/json/toPlan", "GetBackupPlanFromJSON", a.fromJSON)
	both("PUT", "/backup/plans/{backupPlanId}/selections", "CreateBackupSelection", a.createSelection)
	both("GET", "/backup/plans/{backupPlanId}/selections", "ListBackupSelections", a.listSelections)
	s.Handle("GET /backup/plans/{backupPlanId}/selections/{selectionId}", "GetBackupSelection", a.getSelection)
	s.Handle("DELETE /backup/plans/{backupPlanId}/selections/{selectionId}", "DeleteBackupSelection", a.deleteSelection)
	a.registerTemplates(s)
}

type adapter struct{ p *plans.Service }

func invalid(format string, args ...any) error {
	return awserr.New(awserr.Invalid, "InvalidParameterValueException", format, args...)
}

// page reads nextToken and maxResults (1 to 1000).
func page[T any](r *protocol.RESTRequest, items []T) ([]T, *string, error) {
	limit := 1000
	if v := r.Query.Get("maxResults"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return nil, nil, invalid("maxResults must be a number from 1 to 1000, not %q", v)
		}
		limit = n
	}
	out, next, ok := paginate.Page(items, r.Query.Get("nextToken"), limit)
	if !ok {
		return nil, nil, invalid("nextToken is not a token this service issued")
	}
	return out, optString(next), nil
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func optTime(t time.Time) *protocol.Epoch {
	if t.IsZero() {
		return nil
	}
	e := protocol.Epoch(t)
	return &e
}

type planInput struct {
	BackupPlan       *plans.Document
	BackupPlanTags   map[string]string
	CreatorRequestId string
}

type planIDOutput struct {
	BackupPlanId  string
	BackupPlanArn string
	CreationDate  protocol.Epoch
	VersionId     string
}

func (a *adapter) createPlan(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	var in planInput
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	if in.BackupPlan == nil {
		return 0, nil, awserr.New(awserr.Invalid, "MissingParameterValueException", "BackupPlan is required")
	}
	p, err := a.p.CreatePlan(ctx, *in.BackupPlan, in.BackupPlanTags, in.CreatorRequestId)
	if err != nil {
		return 0, nil, err
	}
	return 0, planIDOutput{p.ID, p.ARN, protocol.Epoch(p.VersionCreated), p.VersionID}, nil
}

func (a *adapter) updatePlan(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	var in planInput
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	if in.BackupPlan == nil {
		return 0, nil, awserr.New(awserr.Invalid, "MissingParameterValueException", "BackupPlan is required")
	}
	p, err := a.p.UpdatePlan(ctx, r.PathValue("backupPlanId"), *in.BackupPlan)
	if err != nil {
		return 0, nil, err
	}
	return 0, planIDOutput{p.ID, p.ARN, protocol.Epoch(p.VersionCreated), p.VersionID}, nil
}

type planOutput struct {
	BackupPlan        plans.Document
	BackupPlanId      string
	BackupPlanArn     string
	VersionId         string
	CreatorRequestId  *string `json:",omitempty"`
	CreationDate      protocol.Epoch
	DeletionDate      *protocol.Epoch `json:",omitempty"`
	LastExecutionDate *protocol.Epoch `json:",omitempty"`
}

func (a *adapter) getPlan(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	p, err := a.p.GetPlan(ctx, r.PathValue("backupPlanId"), r.Query.Get("versionId"))
	if err != nil {
		return 0, nil, err
	}
	return 0, planOutput{p.Document, p.ID, p.ARN, p.VersionID, optString(p.CreatorRequestID), protocol.Epoch(p.VersionCreated),
		optTime(p.Deleted), optTime(p.LastExecution)}, nil
}

type planListMember struct {
	BackupPlanArn     string
	BackupPlanId      string
	BackupPlanName    string
	VersionId         string
	CreationDate      protocol.Epoch
	DeletionDate      *protocol.Epoch `json:",omitempty"`
	LastExecutionDate *protocol.Epoch `json:",omitempty"`
	CreatorRequestId  *string         `json:",omitempty"`
}

func listMember(p *plans.Plan) planListMember {
	return planListMember{p.ARN, p.ID, p.Document.BackupPlanName, p.VersionID, protocol.Epoch(p.VersionCreated),
		optTime(p.Deleted), optTime(p.LastExecution), optString(p.CreatorRequestID)}
}

func (a *adapter) listPlans(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	include := false
	if v := r.Query.Get("includeDeleted"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return 0, nil, invalid("includeDeleted must be true or false, not %q", v)
		}
		include = b
	}
	all, err := a.p.ListPlans(ctx, include)
	if err != nil {
		return 0, nil, err
	}
	items, next, err := page(r, all)
	if err != nil {
		return 0, nil, err
	}
	out := struct {
		BackupPlansList []planListMember
		NextToken       *string `json:",omitempty"`
	}{BackupPlansList: []planListMember{}, NextToken: next}
	for _, p := range items {
		out.BackupPlansList = append(out.BackupPlansList, listMember(p))
	}
	return 0, out, nil
}

func (a *adapter) listVersions(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	all, err := a.p.ListPlanVersions(ctx, r.PathValue("backupPlanId"))
	if err != nil {
		return 0, nil, err
	}
	items, next, err := page(r, all)
	if err != nil {
		return 0, nil, err
	}
	out := struct {
		BackupPlanVersionsList []planListMember
		NextToken              *string `json:",omitempty"`
	}{BackupPlanVersionsList: []planListMember{}, NextToken: next}
	for _, p := range items {
		out.BackupPlanVersionsList = append(out.BackupPlanVersionsList, listMember(p))
	}
	return 0, out, nil
}

func (a *adapter) deletePlan(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	p, err := a.p.DeletePlan(ctx, r.PathValue("backupPlanId"))
	if err != nil {
		return 0, nil, err
	}
	return 0, struct {
		BackupPlanId  string
		BackupPlanArn string
		DeletionDate  protocol.Epoch
		VersionId     string
	}{p.ID, p.ARN, protocol.Epoch(p.Deleted), p.VersionID}, nil
}

func (a *adapter) exportTemplate(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	t, err := a.p.ExportTemplate(ctx, r.PathValue("backupPlanId"))
	if err != nil {
		return 0, nil, err
	}
	return 0, struct{ BackupPlanTemplateJson string }{t}, nil
}

func (a *adapter) fromJSON(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	var in struct{ BackupPlanTemplateJson string }
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	d, err := a.p.PlanFromJSON(ctx, in.BackupPlanTemplateJson)
	if err != nil {
		return 0, nil, err
	}
	return 0, struct{ BackupPlan *plans.Document }{d}, nil
}

func (a *adapter) createSelection(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	var in struct {
		BackupSelection  *plans.Selection
		CreatorRequestId string
	}
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	if in.BackupSelection == nil {
		return 0, nil, awserr.New(awserr.Invalid, "MissingParameterValueException", "BackupSelection is required")
	}
	sel, err := a.p.CreateSelection(ctx, r.PathValue("backupPlanId"), *in.BackupSelection, in.CreatorRequestId)
	if err != nil {
		return 0, nil, err
	}
	return 0, struct {
		SelectionId  string
		BackupPlanId string
		CreationDate protocol.Epoch
	}{sel.ID, sel.PlanID, protocol.Epoch(sel.Created)}, nil
}

func (a *adapter) getSelection(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	sel, err := a.p.GetSelection(ctx, r.PathValue("backupPlanId"), r.PathValue("selectionId"))
	if err != nil {
		return 0, nil, err
	}
	body := sel.Selection
	if body.Conditions == nil {
		body.Conditions = &plans.Conditions{}
	}
	return 0, struct {
		BackupSelection  plans.Selection
		SelectionId      string
		BackupPlanId     string
		CreationDate     protocol.Epoch
		CreatorRequestId *string `json:",omitempty"`
	}{body, sel.ID, sel.PlanID, protocol.Epoch(sel.Created), optString(sel.CreatorRequestID)}, nil
}

func (a *adapter) listSelections(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	all, err := a.p.ListSelections(ctx, r.PathValue("backupPlanId"))
	if err != nil {
		return 0, nil, err
	}
	items, next, err := page(r, all)
	if err != nil {
		return 0, nil, err
	}
	type member struct {
		SelectionId      string
		SelectionName    string
		BackupPlanId     string
		CreationDate     protocol.Epoch
		CreatorRequestId *string `json:",omitempty"`
		IamRoleArn       string
	}
	out := struct {
		BackupSelectionsList []member
		NextToken            *string `json:",omitempty"`
	}{BackupSelectionsList: []member{}, NextToken: next}
	for _, s := range items {
		out.BackupSelectionsList = append(out.BackupSelectionsList, member{s.ID, s.SelectionName, s.PlanID, protocol.Epoch(s.Created), optString(s.CreatorRequestID), s.IamRoleArn})
	}
	return 0, out, nil
}

func (a *adapter) deleteSelection(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	return 0, struct{}{}, a.p.DeleteSelection(ctx, r.PathValue("backupPlanId"), r.PathValue("selectionId"))
}
