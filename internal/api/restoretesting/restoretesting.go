// Package restoretesting is the API adapter for AWS Backup's restore
// testing plans and selections (restJson1): the routes join the Backup
// endpoint that internal/api/backup builds.
package restoretesting

import (
	"context"

	"github.com/coffer-dev/coffer/internal/api/paginate"
	"github.com/coffer-dev/coffer/internal/protocol"
	rt "github.com/coffer-dev/coffer/internal/restoretesting"
)

// Register adds the restore testing plan and selection operations to the
// Backup endpoint; routes, statuses and input checks are the model's.
func Register(s *protocol.RESTService, svc *rt.Service) {
	a := &adapter{svc: svc}
	protocol.RESTOperation(s, "CreateRestoreTestingPlan", a.createPlan)
	protocol.RESTOperation(s, "ListRestoreTestingPlans", a.listPlans)
	protocol.RESTOperation(s, "GetRestoreTestingPlan", a.getPlan)
	protocol.RESTOperation(s, "UpdateRestoreTestingPlan", a.updatePlan)
	protocol.RESTOperation(s, "DeleteRestoreTestingPlan", a.deletePlan)
	protocol.RESTOperation(s, "CreateRestoreTestingSelection", a.createSelection)
	protocol.RESTOperation(s, "ListRestoreTestingSelections", a.listSelections)
	protocol.RESTOperation(s, "GetRestoreTestingSelection", a.getSelection)
	protocol.RESTOperation(s, "UpdateRestoreTestingSelection", a.updateSelection)
	protocol.RESTOperation(s, "DeleteRestoreTestingSelection", a.deleteSelection)
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

// Inputs, named as the model's members.

type planName struct{ RestoreTestingPlanName string }

type selectionName struct {
	RestoreTestingPlanName, RestoreTestingSelectionName string
}

type page struct {
	MaxResults int
	NextToken  string
}

type planIDs struct {
	CreationTime           protocol.Epoch
	RestoreTestingPlanArn  string
	RestoreTestingPlanName string
}

func planIDsOf(p *rt.Plan) planIDs {
	return planIDs{protocol.Epoch(p.Created), p.ARN, p.RestoreTestingPlanName}
}

func (a *adapter) createPlan(ctx context.Context, in *struct {
	CreatorRequestId   string
	RestoreTestingPlan rt.PlanInput
	Tags               map[string]string
}) (planIDs, error) {
	p, err := a.svc.CreatePlan(ctx, in.RestoreTestingPlan, in.CreatorRequestId, in.Tags)
	if err != nil {
		return planIDs{}, err
	}
	return planIDsOf(p), nil
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

func (a *adapter) getPlan(ctx context.Context, in *planName) (struct{ RestoreTestingPlan planShape }, error) {
	p, err := a.svc.GetPlan(ctx, in.RestoreTestingPlanName)
	if err != nil {
		return struct{ RestoreTestingPlan planShape }{}, err
	}
	return struct{ RestoreTestingPlan planShape }{planOut(p, true)}, nil
}

type plansOut struct {
	NextToken           *string `json:",omitempty"`
	RestoreTestingPlans []planShape
}

func (a *adapter) listPlans(ctx context.Context, in *page) (plansOut, error) {
	ps, err := a.svc.ListPlans(ctx)
	if err != nil {
		return plansOut{}, err
	}
	shaped, next, err := paginate.Limited(ps, in.NextToken, in.MaxResults, func(p *rt.Plan) planShape { return planOut(p, false) })
	return plansOut{next, shaped}, err
}

type planUpdated struct {
	planIDs
	UpdateTime protocol.Epoch
}

func (a *adapter) updatePlan(ctx context.Context, in *struct {
	planName
	RestoreTestingPlan rt.PlanInput
}) (planUpdated, error) {
	p, err := a.svc.UpdatePlan(ctx, in.RestoreTestingPlanName, in.RestoreTestingPlan)
	if err != nil {
		return planUpdated{}, err
	}
	return planUpdated{planIDsOf(p), protocol.Epoch(p.Updated)}, nil
}

func (a *adapter) deletePlan(ctx context.Context, in *planName) (struct{}, error) {
	return struct{}{}, a.svc.DeletePlan(ctx, in.RestoreTestingPlanName)
}

type selectionIDs struct {
	CreationTime                protocol.Epoch
	RestoreTestingPlanArn       string
	RestoreTestingPlanName      string
	RestoreTestingSelectionName string
}

func selectionIDsOf(s *rt.Selection) selectionIDs {
	return selectionIDs{protocol.Epoch(s.Created), s.PlanARN, s.PlanName, s.RestoreTestingSelectionName}
}

func (a *adapter) createSelection(ctx context.Context, in *struct {
	planName
	CreatorRequestId        string
	RestoreTestingSelection rt.SelectionInput
}) (selectionIDs, error) {
	sel, err := a.svc.CreateSelection(ctx, in.RestoreTestingPlanName, in.RestoreTestingSelection, in.CreatorRequestId)
	if err != nil {
		return selectionIDs{}, err
	}
	return selectionIDsOf(sel), nil
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

func (a *adapter) getSelection(ctx context.Context, in *selectionName) (struct{ RestoreTestingSelection selectionShape }, error) {
	sel, err := a.svc.GetSelection(ctx, in.RestoreTestingPlanName, in.RestoreTestingSelectionName)
	if err != nil {
		return struct{ RestoreTestingSelection selectionShape }{}, err
	}
	return struct{ RestoreTestingSelection selectionShape }{selectionOut(sel, true)}, nil
}

type selectionsOut struct {
	NextToken                *string `json:",omitempty"`
	RestoreTestingSelections []selectionShape
}

func (a *adapter) listSelections(ctx context.Context, in *struct {
	planName
	page
}) (selectionsOut, error) {
	sels, err := a.svc.ListSelections(ctx, in.RestoreTestingPlanName)
	if err != nil {
		return selectionsOut{}, err
	}
	shaped, next, err := paginate.Limited(sels, in.NextToken, in.MaxResults, func(s *rt.Selection) selectionShape { return selectionOut(s, false) })
	return selectionsOut{next, shaped}, err
}

type selectionUpdated struct {
	selectionIDs
	UpdateTime protocol.Epoch
}

func (a *adapter) updateSelection(ctx context.Context, in *struct {
	selectionName
	RestoreTestingSelection rt.SelectionInput
}) (selectionUpdated, error) {
	sel, err := a.svc.UpdateSelection(ctx, in.RestoreTestingPlanName, in.RestoreTestingSelectionName, in.RestoreTestingSelection)
	if err != nil {
		return selectionUpdated{}, err
	}
	return selectionUpdated{selectionIDsOf(sel), protocol.Epoch(sel.Updated)}, nil
}

func (a *adapter) deleteSelection(ctx context.Context, in *selectionName) (struct{}, error) {
	return struct{}{}, a.svc.DeleteSelection(ctx, in.RestoreTestingPlanName, in.RestoreTestingSelectionName)
}
