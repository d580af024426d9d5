// Package restoretesting is the API adapter for AWS Backup's restore
// testing plans and selections (restJson1): the routes join the Backup
// endpoint that internal/api/backup builds.
package restoretesting

import (
	"context"

	"github.com/coffer-dev/coffer/internal/api/paginate"
	"github.com/coffer-dev/coffer/internal/awserr"
	"github.com/coffer-dev/coffer/internal/protocol"
	rt "github.com/coffer-dev/coffer/internal/restoretesting"
)

// Register adds the restore testing plan and selection operations to the
// Backup endpoint.
func Register(s *protocol.RESTService, svc *rt.Service) {
	a := &adapter{svc: svc}
	s.Handle("PUT /restore-testing/plans", "CreateRestoreTestingPlan", a.createPlan)
	s.Handle("GET /restore-testing/plans", "ListRestoreTestingPlans", a.listPlans)
	s.Handle("GET /restore-testing/plans/{RestoreTestingPlanName}", "GetRestoreTestingPlan", a.getPlan)
	s.Handle("PUT /restore-testing/plans/{RestoreTestingPlanName}", "UpdateRestoreTestingPlan", a.updatePlan)
	s.Handle("DELETE /restore-testing/plans/{RestoreTestingPlanName}", "DeleteRestoreTestingPlan", a.deletePlan)
	s.Handle("PUT /restore-testing/plans/{RestoreTestingPlanName}/selections", "CreateRestoreTestingSelection", a.createSelection)
	s.Handle("GET /restore-testing/plans/{RestoreTestingPlanName}/selections", "ListRestoreTestingSelections", a.listSelections)
	s.Handle("GET /restore-testing/plans/{RestoreTestingPlanName}/selections/{RestoreTestingSelectionName}", "GetRestoreTestingSelection", a.getSelection)
	s.Handle("PUT /restore-testing/plans/{RestoreTestingPlanName}/selections/{RestoreTestingSelectionName}", "UpdateRestoreTestingSelection", a.updateSelection)
	s.Handle("DELETE /restore-testing/plans/{RestoreTestingPlanName}/selections/{RestoreTestingSelectionName}", "DeleteRestoreTestingSelection", a.deleteSelection)
}

type adapter struct{ svc *rt.Service }

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func optInt(n int32) *int32 {
	if n == 0 {
		return nil
	}
	return &n
}

func (a *adapter) createPlan(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	var in struct {
		CreatorRequestId   string
		RestoreTestingPlan *rt.PlanInput
		Tags               map[string]string
	}
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	if in.RestoreTestingPlan == nil {
		return 0, nil, awserr.New(awserr.Invalid, "MissingParameterValueException", "RestoreTestingPlan is required")
	}
	p, err := a.svc.CreatePlan(ctx, *in.RestoreTestingPlan, in.CreatorRequestId, in.Tags)
	if err != nil {
		return 0, nil, err
	}
	return 201, struct {
		CreationTime           protocol.Epoch
		RestoreTestingPlanArn  string
		RestoreTestingPlanName string
	}{protocol.Epoch(p.Created), p.ARN, p.RestoreTestingPlanName}, nil
}

type planShape struct {
	CreationTime               protocol.Epoch
	CreatorRequestId           *string                    `json:",omitempty"`
	LastExecutionTime          *protocol.Epoch            `json:",omitempty"`
	LastUpdateTime             *protocol.Epoch            `json:",omitempty"`
	RecoveryPointSelection     *rt.RecoveryPointSelection `json:",omitempty"`
	RestoreTestingPlanArn      string
	RestoreTestingPlanName     string
	ScheduleExpression         string
	ScheduleExpressionTimezone *string `json:",omitempty"`
	StartWindowHours           *int32  `json:",omitempty"`
}

func planOut(p *rt.Plan, full bool) planShape {
	out := planShape{
		CreationTime: protocol.Epoch(p.Created), LastExecutionTime: protocol.EpochPtr(p.LastExecution), LastUpdateTime: protocol.EpochPtr(p.Updated),
		RestoreTestingPlanArn: p.ARN, RestoreTestingPlanName: p.RestoreTestingPlanName, ScheduleExpression: p.ScheduleExpression,
		ScheduleExpressionTimezone: optString(p.ScheduleExpressionTimezone), StartWindowHours: optInt(p.StartWindowHours),
	}
	if full {
		out.CreatorRequestId, out.RecoveryPointSelection = optString(p.CreatorRequestID), p.RecoveryPointSelection
	}
	return out
}

func (a *adapter) getPlan(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	p, err := a.svc.GetPlan(ctx, r.PathValue("RestoreTestingPlanName"))
	if err != nil {
		return 0, nil, err
	}
	return 0, struct{ RestoreTestingPlan planShape }{planOut(p, true)}, nil
}

func (a *adapter) listPlans(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	ps, err := a.svc.ListPlans(ctx)
	if err != nil {
		return 0, nil, err
	}
	shaped, next, err := paginate.Shaped(ps, r.Query.Get("NextToken"), r.Query.Get("MaxResults"), func(p *rt.Plan) planShape { return planOut(p, false) })
	if err != nil {
		return 0, nil, err
	}
	return 0, struct {
		NextToken           *string `json:",omitempty"`
		RestoreTestingPlans []planShape
	}{next, shaped}, nil
}

func (a *adapter) updatePlan(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	var in struct{ RestoreTestingPlan *rt.PlanInput }
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	if in.RestoreTestingPlan == nil {
		return 0, nil, awserr.New(awserr.Invalid, "MissingParameterValueException", "RestoreTestingPlan is required")
	}
	p, err := a.svc.UpdatePlan(ctx, r.PathValue("RestoreTestingPlanName"), *in.RestoreTestingPlan)
	if err != nil {
		return 0, nil, err
	}
	return 0, struct {
		CreationTime           protocol.Epoch
		RestoreTestingPlanArn  string
		RestoreTestingPlanName string
		UpdateTime             protocol.Epoch
	}{protocol.Epoch(p.Created), p.ARN, p.RestoreTestingPlanName, protocol.Epoch(p.Updated)}, nil
}

func (a *adapter) deletePlan(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	if err := a.svc.DeletePlan(ctx, r.PathValue("RestoreTestingPlanName")); err != nil {
		return 0, nil, err
	}
	return 204, nil, nil
}

func (a *adapter) createSelection(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	var in struct {
		CreatorRequestId        string
		RestoreTestingSelection *rt.SelectionInput
	}
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	if in.RestoreTestingSelection == nil {
		return 0, nil, awserr.New(awserr.Invalid, "MissingParameterValueException", "RestoreTestingSelection is required")
	}
	sel, err := a.svc.CreateSelection(ctx, r.PathValue("RestoreTestingPlanName"), *in.RestoreTestingSelection, in.CreatorRequestId)
	if err != nil {
		return 0, nil, err
	}
	return 201, struct {
		CreationTime                protocol.Epoch
		RestoreTestingPlanArn       string
		RestoreTestingPlanName      string
		RestoreTestingSelectionName string
	}{protocol.Epoch(sel.Created), sel.PlanARN, sel.PlanName, sel.RestoreTestingSelectionName}, nil
}

type selectionShape struct {
	CreationTime                protocol.Epoch
	CreatorRequestId            *string `json:",omitempty"`
	IamRoleArn                  string
	ProtectedResourceArns       []string               `json:",omitempty"`
	ProtectedResourceConditions *rt.ResourceConditions `json:",omitempty"`
	ProtectedResourceType       string
	RestoreMetadataOverrides    map[string]string `json:",omitempty"`
	RestoreTestingPlanName      string
	RestoreTestingSelectionName string
	ValidationWindowHours       *int32 `json:",omitempty"`
}

func selectionOut(s *rt.Selection, full bool) selectionShape {
	out := selectionShape{
		CreationTime: protocol.Epoch(s.Created), IamRoleArn: s.IamRoleArn, ProtectedResourceType: s.ProtectedResourceType,
		RestoreTestingPlanName: s.PlanName, RestoreTestingSelectionName: s.RestoreTestingSelectionName, ValidationWindowHours: s.ValidationWindowHours,
	}
	if full {
		out.CreatorRequestId, out.ProtectedResourceArns = optString(s.CreatorRequestID), s.ProtectedResourceArns
		out.ProtectedResourceConditions, out.RestoreMetadataOverrides = s.ProtectedResourceConditions, s.RestoreMetadataOverrides
	}
	return out
}

func (a *adapter) getSelection(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	sel, err := a.svc.GetSelection(ctx, r.PathValue("RestoreTestingPlanName"), r.PathValue("RestoreTestingSelectionName"))
	if err != nil {
		return 0, nil, err
	}
	return 0, struct{ RestoreTestingSelection selectionShape }{selectionOut(sel, true)}, nil
}

func (a *adapter) listSelections(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	sels, err := a.svc.ListSelections(ctx, r.PathValue("RestoreTestingPlanName"))
	if err != nil {
		return 0, nil, err
	}
	shaped, next, err := paginate.Shaped(sels, r.Query.Get("NextToken"), r.Query.Get("MaxResults"), func(s *rt.Selection) selectionShape { return selectionOut(s, false) })
	if err != nil {
		return 0, nil, err
	}
	return 0, struct {
		NextToken                *string `json:",omitempty"`
		RestoreTestingSelections []selectionShape
	}{next, shaped}, nil
}

func (a *adapter) updateSelection(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	var in struct{ RestoreTestingSelection *rt.SelectionInput }
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	if in.RestoreTestingSelection == nil {
		return 0, nil, awserr.New(awserr.Invalid, "MissingParameterValueException", "RestoreTestingSelection is required")
	}
	sel, err := a.svc.UpdateSelection(ctx, r.PathValue("RestoreTestingPlanName"), r.PathValue("RestoreTestingSelectionName"), *in.RestoreTestingSelection)
	if err != nil {
		return 0, nil, err
	}
	return 0, struct {
		CreationTime                protocol.Epoch
		RestoreTestingPlanArn       string
		RestoreTestingPlanName      string
		RestoreTestingSelectionName string
		UpdateTime                  protocol.Epoch
	}{protocol.Epoch(sel.Created), sel.PlanARN, sel.PlanName, sel.RestoreTestingSelectionName, protocol.Epoch(sel.Updated)}, nil
}

func (a *adapter) deleteSelection(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	if err := a.svc.DeleteSelection(ctx, r.PathValue("RestoreTestingPlanName"), r.PathValue("RestoreTestingSelectionName")); err != nil {
		return 0, nil, err
	}
	return 204, nil, nil
}
