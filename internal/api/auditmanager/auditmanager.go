// Package auditmanager is the API adapter for AWS Backup Audit Manager
// (frameworks, report plans and report jobs; restJson1): the routes join
// the Backup endpoint that internal/api/backup builds.
package auditmanager

import (
	"context"
	"time"

	"github.com/coffer-dev/coffer/internal/api/paginate"
	am "github.com/coffer-dev/coffer/internal/auditmanager"
	"github.com/coffer-dev/coffer/internal/awserr"
	"github.com/coffer-dev/coffer/internal/protocol"
)

// Register adds the Audit Manager operations to the Backup endpoint.
func Register(s *protocol.RESTService, svc *am.Service) {
	a := &adapter{svc: svc}
	s.Handle("POST /audit/frameworks", "CreateFramework", a.createFramework)
	s.Handle("GET /audit/frameworks", "ListFrameworks", a.listFrameworks)
	s.Handle("GET /audit/frameworks/{frameworkName}", "DescribeFramework", a.describeFramework)
	s.Handle("PUT /audit/frameworks/{frameworkName}", "UpdateFramework", a.updateFramework)
	s.Handle("DELETE /audit/frameworks/{frameworkName}", "DeleteFramework", a.deleteFramework)
	s.Handle("POST /audit/report-plans", "CreateReportPlan", a.createReportPlan)
	s.Handle("GET /audit/report-plans", "ListReportPlans", a.listReportPlans)
	s.Handle("GET /audit/report-plans/{reportPlanName}", "DescribeReportPlan", a.describeReportPlan)
	s.Handle("PUT /audit/report-plans/{reportPlanName}", "UpdateReportPlan", a.updateReportPlan)
	s.Handle("DELETE /audit/report-plans/{reportPlanName}", "DeleteReportPlan", a.deleteReportPlan)
	s.Handle("POST /audit/report-jobs/{reportPlanName}", "StartReportJob", a.startReportJob)
	s.Handle("GET /audit/report-jobs/{reportJobId}", "DescribeReportJob", a.describeReportJob)
	s.Handle("GET /audit/report-jobs", "ListReportJobs", a.listReportJobs)
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

func (a *adapter) createFramework(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	var in struct {
		FrameworkName, FrameworkDescription, IdempotencyToken string
		FrameworkControls                                     []am.FrameworkControl
		FrameworkTags                                         map[string]string
	}
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	f, err := a.svc.CreateFramework(ctx, in.FrameworkName, in.FrameworkDescription, in.FrameworkControls, in.IdempotencyToken, in.FrameworkTags)
	if err != nil {
		return 0, nil, err
	}
	return 0, struct{ FrameworkName, FrameworkArn string }{f.Name, f.ARN}, nil
}

func (a *adapter) describeFramework(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	f, err := a.svc.DescribeFramework(ctx, r.PathValue("frameworkName"))
	if err != nil {
		return 0, nil, err
	}
	return 0, struct {
		FrameworkName, FrameworkArn       string
		FrameworkDescription              *string `json:",omitempty"`
		FrameworkControls                 []am.FrameworkControl
		CreationTime                      protocol.Epoch
		DeploymentStatus, FrameworkStatus string
		IdempotencyToken                  *string `json:",omitempty"`
	}{f.Name, f.ARN, optString(f.Description), f.Controls, protocol.Epoch(f.Created), deployed, "ACTIVE", optString(f.IdempotencyToken)}, nil
}

type frameworkShape struct {
	FrameworkName, FrameworkArn string
	FrameworkDescription        *string `json:",omitempty"`
	NumberOfControls            int
	CreationTime                protocol.Epoch
	DeploymentStatus            string
}

func (a *adapter) listFrameworks(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	fs, err := a.svc.ListFrameworks(ctx)
	if err != nil {
		return 0, nil, err
	}
	out, next, err := paginate.Shaped(fs, r.Query.Get("NextToken"), r.Query.Get("MaxResults"), func(f *am.Framework) frameworkShape {
		return frameworkShape{f.Name, f.ARN, optString(f.Description), len(f.Controls), protocol.Epoch(f.Created), deployed}
	})
	if err != nil {
		return 0, nil, err
	}
	return 0, struct {
		Frameworks []frameworkShape
		NextToken  *string `json:",omitempty"`
	}{out, next}, nil
}

func (a *adapter) updateFramework(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	var in struct {
		FrameworkDescription *string
		FrameworkControls    []am.FrameworkControl
	}
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	f, err := a.svc.UpdateFramework(ctx, r.PathValue("frameworkName"), in.FrameworkDescription, in.FrameworkControls)
	if err != nil {
		return 0, nil, err
	}
	return 0, struct {
		FrameworkName, FrameworkArn string
		CreationTime                protocol.Epoch
	}{f.Name, f.ARN, protocol.Epoch(f.Created)}, nil
}

func (a *adapter) deleteFramework(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	return 0, struct{}{}, a.svc.DeleteFramework(ctx, r.PathValue("frameworkName"))
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

func (a *adapter) createReportPlan(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	var in struct {
		ReportPlanName, ReportPlanDescription, IdempotencyToken string
		ReportDeliveryChannel                                   *am.DeliveryChannel
		ReportSetting                                           *am.Setting
		ReportPlanTags                                          map[string]string
	}
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	if in.ReportDeliveryChannel == nil {
		return 0, nil, missing("ReportDeliveryChannel")
	}
	if in.ReportSetting == nil {
		return 0, nil, missing("ReportSetting")
	}
	p, err := a.svc.CreateReportPlan(ctx, am.ReportPlan{Name: in.ReportPlanName, Description: in.ReportPlanDescription, IdempotencyToken: in.IdempotencyToken,
		Delivery: *in.ReportDeliveryChannel, Setting: *in.ReportSetting}, in.ReportPlanTags)
	if err != nil {
		return 0, nil, err
	}
	return 0, struct {
		ReportPlanName, ReportPlanArn string
		CreationTime                  protocol.Epoch
	}{p.Name, p.ARN, protocol.Epoch(p.Created)}, nil
}

func missing(name string) error {
	return awserr.New(awserr.Invalid, "MissingParameterValueException", "%s is required", name)
}

func (a *adapter) describeReportPlan(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	p, err := a.svc.DescribeReportPlan(ctx, r.PathValue("reportPlanName"))
	if err != nil {
		return 0, nil, err
	}
	return 0, struct{ ReportPlan reportPlanShape }{reportPlanOut(p)}, nil
}

func (a *adapter) listReportPlans(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	ps, err := a.svc.ListReportPlans(ctx)
	if err != nil {
		return 0, nil, err
	}
	out, next, err := paginate.Shaped(ps, r.Query.Get("NextToken"), r.Query.Get("MaxResults"), reportPlanOut)
	if err != nil {
		return 0, nil, err
	}
	return 0, struct {
		ReportPlans []reportPlanShape
		NextToken   *string `json:",omitempty"`
	}{out, next}, nil
}

func (a *adapter) updateReportPlan(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	var in struct {
		ReportPlanDescription *string
		ReportDeliveryChannel *am.DeliveryChannel
		ReportSetting         *am.Setting
	}
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	p, err := a.svc.UpdateReportPlan(ctx, r.PathValue("reportPlanName"), in.ReportPlanDescription, in.ReportDeliveryChannel, in.ReportSetting)
	if err != nil {
		return 0, nil, err
	}
	return 0, struct {
		ReportPlanName, ReportPlanArn string
		CreationTime                  protocol.Epoch
	}{p.Name, p.ARN, protocol.Epoch(p.Created)}, nil
}

func (a *adapter) deleteReportPlan(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	return 0, struct{}{}, a.svc.DeleteReportPlan(ctx, r.PathValue("reportPlanName"))
}

func (a *adapter) startReportJob(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	var in struct{ IdempotencyToken string }
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	j, err := a.svc.StartReportJob(ctx, r.PathValue("reportPlanName"), in.IdempotencyToken)
	if err != nil {
		return 0, nil, err
	}
	return 0, struct{ ReportJobId string }{j.ID}, nil
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

func (a *adapter) describeReportJob(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	j, err := a.svc.DescribeReportJob(ctx, r.PathValue("reportJobId"))
	if err != nil {
		return 0, nil, err
	}
	return 0, struct{ ReportJob reportJobShape }{reportJobOut(j)}, nil
}

func (a *adapter) listReportJobs(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	q := r.Query
	f := am.ReportJobFilter{PlanName: q.Get("ReportPlanName"), Status: q.Get("Status")}
	var err error
	if f.CreatedAfter, err = queryTime(q.Get("CreationAfter")); err != nil {
		return 0, nil, err
	}
	if f.CreatedBefore, err = queryTime(q.Get("CreationBefore")); err != nil {
		return 0, nil, err
	}
	jobs, err := a.svc.ListReportJobs(ctx, f)
	if err != nil {
		return 0, nil, err
	}
	out, next, err := paginate.Shaped(jobs, q.Get("NextToken"), q.Get("MaxResults"), reportJobOut)
	if err != nil {
		return 0, nil, err
	}
	return 0, struct {
		ReportJobs []reportJobShape
		NextToken  *string `json:",omitempty"`
	}{out, next}, nil
}

// queryTime parses a timestamp query member: the SDKs send ISO 8601.
func queryTime(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, awserr.New(awserr.Invalid, "InvalidParameterValueException", "timestamp %q is not ISO 8601", v)
	}
	return t, nil
}
