// Package auditmanager is the API adapter for AWS Backup Audit Manager
// (frameworks, report plans and report jobs; restJson1): the routes join
// the Backup endpoint that internal/api/backup builds.
package auditmanager

import (
	"context"
	"time"

	"github.com/coffer-dev/coffer/internal/api/paginate"
	am "github.com/coffer-dev/coffer/internal/auditmanager"
	"github.com/coffer-dev/coffer/internal/protocol"
)

// Register adds the Audit Manager operations to the Backup endpoint;
// routes, statuses and input checks are the model's.
func Register(s *protocol.RESTService, svc *am.Service) {
	a := &adapter{svc: svc}
	protocol.RESTOperation(s, "CreateFramework", a.createFramework)
	protocol.RESTOperation(s, "ListFrameworks", a.listFrameworks)
	protocol.RESTOperation(s, "DescribeFramework", a.describeFramework)
	protocol.RESTOperation(s, "UpdateFramework", a.updateFramework)
	protocol.RESTOperation(s, "DeleteFramework", a.deleteFramework)
	protocol.RESTOperation(s, "CreateReportPlan", a.createReportPlan)
	protocol.RESTOperation(s, "ListReportPlans", a.listReportPlans)
	protocol.RESTOperation(s, "DescribeReportPlan", a.describeReportPlan)
	protocol.RESTOperation(s, "UpdateReportPlan", a.updateReportPlan)
	protocol.RESTOperation(s, "DeleteReportPlan", a.deleteReportPlan)
	protocol.RESTOperation(s, "StartReportJob", a.startReportJob)
	protocol.RESTOperation(s, "DescribeReportJob", a.describeReportJob)
	protocol.RESTOperation(s, "ListReportJobs", a.listReportJobs)
}

type adapter struct{ svc *am.Service }

// Frameworks and report plans are deployed as soon as they are stored.
const deployed = "COMPLETED"

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// Inputs, named as the model's members.

type frameworkName struct{ FrameworkName string }

type reportPlanName struct{ ReportPlanName string }

type page struct {
	MaxResults int
	NextToken  string
}

func (a *adapter) createFramework(ctx context.Context, in *struct {
	FrameworkName, FrameworkDescription, IdempotencyToken string
	FrameworkControls                                     []am.FrameworkControl
	FrameworkTags                                         map[string]string
}) (struct{ FrameworkName, FrameworkArn string }, error) {
	f, err := a.svc.CreateFramework(ctx, in.FrameworkName, in.FrameworkDescription, in.FrameworkControls, in.IdempotencyToken, in.FrameworkTags)
	if err != nil {
		return struct{ FrameworkName, FrameworkArn string }{}, err
	}
	return struct{ FrameworkName, FrameworkArn string }{f.Name, f.ARN}, nil
}

type frameworkOut struct {
	FrameworkName, FrameworkArn       string
	FrameworkDescription              *string `json:",omitempty"`
	FrameworkControls                 []am.FrameworkControl
	CreationTime                      protocol.Epoch
	DeploymentStatus, FrameworkStatus string
	IdempotencyToken                  *string `json:",omitempty"`
}

func (a *adapter) describeFramework(ctx context.Context, in *frameworkName) (frameworkOut, error) {
	f, err := a.svc.DescribeFramework(ctx, in.FrameworkName)
	if err != nil {
		return frameworkOut{}, err
	}
	return frameworkOut{f.Name, f.ARN, optString(f.Description), f.Controls, protocol.Epoch(f.Created), deployed, "ACTIVE", optString(f.IdempotencyToken)}, nil
}

type frameworkShape struct {
	FrameworkName, FrameworkArn string
	FrameworkDescription        *string `json:",omitempty"`
	NumberOfControls            int
	CreationTime                protocol.Epoch
	DeploymentStatus            string
}

type frameworksOut struct {
	Frameworks []frameworkShape
	NextToken  *string `json:",omitempty"`
}

func (a *adapter) listFrameworks(ctx context.Context, in *page) (frameworksOut, error) {
	fs, err := a.svc.ListFrameworks(ctx)
	if err != nil {
		return frameworksOut{}, err
	}
	out, next, err := paginate.Limited(fs, in.NextToken, in.MaxResults, func(f *am.Framework) frameworkShape {
		return frameworkShape{f.Name, f.ARN, optString(f.Description), len(f.Controls), protocol.Epoch(f.Created), deployed}
	})
	return frameworksOut{out, next}, err
}

type frameworkIDs struct {
	FrameworkName, FrameworkArn string
	CreationTime                protocol.Epoch
}

func (a *adapter) updateFramework(ctx context.Context, in *struct {
	frameworkName
	FrameworkDescription *string
	FrameworkControls    []am.FrameworkControl
}) (frameworkIDs, error) {
	f, err := a.svc.UpdateFramework(ctx, in.FrameworkName, in.FrameworkDescription, in.FrameworkControls)
	if err != nil {
		return frameworkIDs{}, err
	}
	return frameworkIDs{f.Name, f.ARN, protocol.Epoch(f.Created)}, nil
}

func (a *adapter) deleteFramework(ctx context.Context, in *frameworkName) (struct{}, error) {
	return struct{}{}, a.svc.DeleteFramework(ctx, in.FrameworkName)
}

type reportPlanShape struct {
	ReportPlanArn, ReportPlanName string
	ReportPlanDescription         *string `json:",omitempty"`
	ReportSetting                 am.Setting
	ReportDeliveryChannel         am.DeliveryChannel
	DeploymentStatus              string
	CreationTime                  protocol.Epoch
	LastAttemptedExecutionTime    *protocol.Epoch `json:",omitempty"`
	LastSuccessfulExecutionTime   *protocol.Epoch `json:",omitempty"`
}

func reportPlanOut(p *am.ReportPlan) reportPlanShape {
	return reportPlanShape{p.ARN, p.Name, optString(p.Description), p.Setting, p.Delivery, deployed, protocol.Epoch(p.Created),
		protocol.EpochPtr(p.LastAttempted), protocol.EpochPtr(p.LastSuccessful)}
}

type reportPlanIDs struct {
	ReportPlanName, ReportPlanArn string
	CreationTime                  protocol.Epoch
}

func (a *adapter) createReportPlan(ctx context.Context, in *struct {
	ReportPlanName, ReportPlanDescription, IdempotencyToken string
	ReportDeliveryChannel                                   am.DeliveryChannel
	ReportSetting                                           am.Setting
	ReportPlanTags                                          map[string]string
}) (reportPlanIDs, error) {
	p, err := a.svc.CreateReportPlan(ctx, am.ReportPlan{Name: in.ReportPlanName, Description: in.ReportPlanDescription, IdempotencyToken: in.IdempotencyToken,
		Delivery: in.ReportDeliveryChannel, Setting: in.ReportSetting}, in.ReportPlanTags)
	if err != nil {
		return reportPlanIDs{}, err
	}
	return reportPlanIDs{p.Name, p.ARN, protocol.Epoch(p.Created)}, nil
}

func (a *adapter) describeReportPlan(ctx context.Context, in *reportPlanName) (struct{ ReportPlan reportPlanShape }, error) {
	p, err := a.svc.DescribeReportPlan(ctx, in.ReportPlanName)
	if err != nil {
		return struct{ ReportPlan reportPlanShape }{}, err
	}
	return struct{ ReportPlan reportPlanShape }{reportPlanOut(p)}, nil
}

type reportPlansOut struct {
	ReportPlans []reportPlanShape
	NextToken   *string `json:",omitempty"`
}

func (a *adapter) listReportPlans(ctx context.Context, in *page) (reportPlansOut, error) {
	ps, err := a.svc.ListReportPlans(ctx)
	if err != nil {
		return reportPlansOut{}, err
	}
	out, next, err := paginate.Limited(ps, in.NextToken, in.MaxResults, reportPlanOut)
	return reportPlansOut{out, next}, err
}

func (a *adapter) updateReportPlan(ctx context.Context, in *struct {
	reportPlanName
	ReportPlanDescription *string
	ReportDeliveryChannel *am.DeliveryChannel
	ReportSetting         *am.Setting
}) (reportPlanIDs, error) {
	p, err := a.svc.UpdateReportPlan(ctx, in.ReportPlanName, in.ReportPlanDescription, in.ReportDeliveryChannel, in.ReportSetting)
	if err != nil {
		return reportPlanIDs{}, err
	}
	return reportPlanIDs{p.Name, p.ARN, protocol.Epoch(p.Created)}, nil
}

func (a *adapter) deleteReportPlan(ctx context.Context, in *reportPlanName) (struct{}, error) {
	return struct{}{}, a.svc.DeleteReportPlan(ctx, in.ReportPlanName)
}

func (a *adapter) startReportJob(ctx context.Context, in *struct {
	reportPlanName
	IdempotencyToken string
}) (struct{ ReportJobId string }, error) {
	j, err := a.svc.StartReportJob(ctx, in.ReportPlanName, in.IdempotencyToken)
	if err != nil {
		return struct{ ReportJobId string }{}, err
	}
	return struct{ ReportJobId string }{j.ID}, nil
}

type reportJobShape struct {
	ReportJobId, ReportPlanArn, ReportTemplate string
	CreationTime                               protocol.Epoch
	CompletionTime                             *protocol.Epoch `json:",omitempty"`
	Status                                     string
	StatusMessage                              *string `json:",omitempty"`
	ReportDestination                          struct {
		S3BucketName string
		S3Keys       []string
	}
}

func reportJobOut(j *am.ReportJob) reportJobShape {
	out := reportJobShape{ReportJobId: j.ID, ReportPlanArn: j.PlanARN, ReportTemplate: j.Template, CreationTime: protocol.Epoch(j.Created),
		CompletionTime: protocol.EpochPtr(j.Completed), Status: j.Status, StatusMessage: optString(j.StatusMessage)}
	out.ReportDestination.S3BucketName, out.ReportDestination.S3Keys = j.Bucket, j.Keys
	return out
}

func (a *adapter) describeReportJob(ctx context.Context, in *struct{ ReportJobId string }) (struct{ ReportJob reportJobShape }, error) {
	j, err := a.svc.DescribeReportJob(ctx, in.ReportJobId)
	if err != nil {
		return struct{ ReportJob reportJobShape }{}, err
	}
	return struct{ ReportJob reportJobShape }{reportJobOut(j)}, nil
}

type reportJobsOut struct {
	ReportJobs []reportJobShape
	NextToken  *string `json:",omitempty"`
}

func (a *adapter) listReportJobs(ctx context.Context, in *struct {
	page
	ByCreationAfter, ByCreationBefore *protocol.Epoch
	ByReportPlanName, ByStatus        string
}) (reportJobsOut, error) {
	f := am.ReportJobFilter{PlanName: in.ByReportPlanName, Status: in.ByStatus, CreatedAfter: epochTime(in.ByCreationAfter), CreatedBefore: epochTime(in.ByCreationBefore)}
	jobs, err := a.svc.ListReportJobs(ctx, f)
	if err != nil {
		return reportJobsOut{}, err
	}
	out, next, err := paginate.Limited(jobs, in.NextToken, in.MaxResults, reportJobOut)
	return reportJobsOut{out, next}, err
}

// epochTime is an optional timestamp member's time, zero when absent.
func epochTime(e *protocol.Epoch) time.Time {
	if e == nil {
		return time.Time{}
	}
	return time.Time(*e)
}
