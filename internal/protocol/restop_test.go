package protocol

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coffer-dev/coffer/internal/awsmodel"
)

// TestRESTOperation drives operations registered from Backup's model
// through the service as a client's request reaches it: route and status
// from the model, members gathered from path, query and body, checked
// against the input shape with the model's error codes.
func TestRESTOperation(t *testing.T) {
	s := NewRESTService("backup")
	s.Model = awsmodel.Load("backup")
	type plan struct {
		ScheduleExpression string
		StartWindowHours   int
	}
	RESTOperation(s, "UpdateRestoreTestingPlan", func(_ context.Context, in *struct {
		RestoreTestingPlanName string
		RestoreTestingPlan     plan
	}) (any, error) {
		return map[string]any{"Name": in.RestoreTestingPlanName, "Hours": in.RestoreTestingPlan.StartWindowHours}, nil
	})
	RESTOperation(s, "DeleteRestoreTestingPlan", func(context.Context, *struct{ RestoreTestingPlanName string }) (struct{}, error) {
		return struct{}{}, nil
	})
	RESTOperation(s, "ListReportJobs", func(_ context.Context, in *struct {
		MaxResults      int
		ByCreationAfter *Epoch
		ByStatus        string
	}) (any, error) {
		return map[string]any{"Max": in.MaxResults, "After": time.Time(*in.ByCreationAfter).Unix(), "Status": in.ByStatus}, nil
	})
	RESTOperation(s, "DescribeFramework", func(_ context.Context, in *struct{ FrameworkName string }) (any, error) {
		return in, nil
	})

	tests := []struct {
		name, method, target, body string
		wantStatus                 int
		want                       string // in the body
	}{
		{"path and body", "PUT", "/restore-testing/plans/p1", `{"RestoreTestingPlan":{"ScheduleExpression":"cron(0 5 ? * * *)","StartWindowHours":3}}`, 200, `{"Hours":3,"Name":"p1"}`},
		{"body cannot override a path label", "PUT", "/restore-testing/plans/p1", `{"restoreTestingPlanName":"p2","RestoreTestingPlan":{"ScheduleExpression":"x"}}`, 200, `"Name":"p1"`},
		{"model's status", "DELETE", "/restore-testing/plans/p1", ``, 204, ``},
		{"required member", "PUT", "/restore-testing/plans/p1", `{}`, 400, `"Code":"MissingParameterValueException","Message":"1 validation error detected: Value null at 'restoreTestingPlan' failed to satisfy constraint: Member must not be null"`},
		{"wrong JSON type", "PUT", "/restore-testing/plans/p1", `{"RestoreTestingPlan":{"ScheduleExpression":"x","StartWindowHours":"3"}}`, 400, `SerializationException`},
		{"not JSON", "PUT", "/restore-testing/plans/p1", `{`, 400, `SerializationException`},
		{"query members", "GET", "/audit/report-jobs?MaxResults=5&CreationAfter=2024-01-02T03:04:05Z&Status=COMPLETED", ``, 200, `{"After":1704164645,"Max":5,"Status":"COMPLETED"}`},
		{"query range", "GET", "/audit/report-jobs?MaxResults=0", ``, 400, `"Code":"InvalidParameterValueException","Message":"1 validation error detected: Value '0' at 'maxResults' failed to satisfy constraint: Member must have value greater than or equal to 1"`},
		{"query number", "GET", "/audit/report-jobs?MaxResults=ten", ``, 400, `Value 'ten' at 'maxResults' failed to satisfy constraint: Member must be a whole number`},
		{"query timestamp", "GET", "/audit/report-jobs?CreationAfter=yesterday", ``, 400, `at 'byCreationAfter' failed to satisfy constraint: Member must be an ISO 8601 timestamp`},
		{"path label pattern", "GET", "/audit/frameworks/not-a-name", ``, 400, `"Code":"InvalidParameterValueException","Message":"1 validation error detected: Value 'not-a-name' at 'frameworkName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z][_a-zA-Z0-9]*`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.target, nil)
			w := httptest.NewRecorder()
			s.Serve(w, r, []byte(tt.body))
			if w.Code != tt.wantStatus || !strings.Contains(w.Body.String(), tt.want) {
				t.Errorf("got %d %s\nwant %d containing %s", w.Code, w.Body, tt.wantStatus, tt.want)
			}
		})
	}
}
