package protocol

import (
	"context"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/coffer-dev/coffer/internal/awsmodel"
)

// TestQueryOperation drives operations registered from IAM's model
// through the service: the form read by the input shape, checked with
// ValidationError, the result element or none.
func TestQueryOperation(t *testing.T) {
	s := &QueryService{Name: "iam", Version: "2010-05-08", XMLNamespace: "https://iam.amazonaws.com/doc/2010-05-08/", Ops: map[string]QueryOp{}, Model: awsmodel.Load("iam")}
	QueryOperation(s, "ListUsers", func(_ context.Context, in *struct {
		PathPrefix string
		MaxItems   int
	}) (any, error) {
		return struct{ PathPrefix, MaxItems string }{in.PathPrefix, strings.Repeat("x", in.MaxItems)}, nil
	})
	var untagged []string
	QueryAction(s, "UntagUser", func(_ context.Context, in *struct {
		UserName string
		TagKeys  []string
	}) error {
		untagged = in.TagKeys
		return nil
	})
	tests := []struct {
		name       string
		form       url.Values
		wantStatus int
		want       string
	}{
		{"result", url.Values{"Action": {"ListUsers"}, "PathPrefix": {"/ops/"}, "MaxItems": {"3"}}, 200, "<ListUsersResult><PathPrefix>/ops/</PathPrefix><MaxItems>xxx</MaxItems></ListUsersResult>"},
		{"range", url.Values{"Action": {"ListUsers"}, "MaxItems": {"1001"}}, 400, "<Code>ValidationError</Code><Message>1 validation error detected: Value &#39;1001&#39; at &#39;maxItems&#39; failed to satisfy constraint: Member must have value less than or equal to 1000</Message>"},
		{"no result element", url.Values{"Action": {"UntagUser"}, "UserName": {"bob"}, "TagKeys.member.1": {"team"}}, 200, "<UntagUserResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><ResponseMetadata>"},
		{"required", url.Values{"Action": {"UntagUser"}, "UserName": {"bob"}}, 400, "Value null at &#39;tagKeys&#39; failed to satisfy constraint: Member must not be null"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", nil)
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			w := httptest.NewRecorder()
			s.Serve(w, r, []byte(tt.form.Encode()))
			if w.Code != tt.wantStatus || !strings.Contains(w.Body.String(), tt.want) {
				t.Errorf("got %d %s\nwant %d containing %s", w.Code, w.Body, tt.wantStatus, tt.want)
			}
		})
	}
	if len(untagged) != 1 || untagged[0] != "team" {
		t.Errorf("UntagUser got TagKeys %q", untagged)
	}
}
