package protocol

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

type echoIn struct {
	Name  string
	Count int
	Tags  map[string]string
	When  *Epoch
}

func fuzzJSONService() *JSONService {
	return &JSONService{Name: "kms", TargetPrefix: "TrentService", ContentType: "application/x-amz-json-1.1",
		Ops: map[string]JSONOp{"Echo": JSONHandler(func(_ context.Context, in *echoIn) (*echoIn, error) { return in, nil })}}
}

// Whatever arrives, the awsJson codec answers with a JSON document and an
// error type, never a panic.
func FuzzJSONService(f *testing.F) {
	f.Add("TrentService.Echo", "application/x-amz-json-1.1", `{"Name":"a","Count":1,"Tags":{"k":"v"},"When":1700000000.5}`)
	f.Add("TrentService.Echo", "application/x-amz-json-1.1", `{"Count":"x"}`)
	f.Add("Nope", "text/plain", `{`)
	f.Add("TrentService.", "", "")
	svc := fuzzJSONService()
	f.Fuzz(func(t *testing.T, target, contentType, body string) {
		r := httptest.NewRequest("POST", "/", strings.NewReader(body))
		r.Header.Set("X-Amz-Target", target)
		r.Header.Set("Content-Type", contentType)
		w := httptest.NewRecorder()
		svc.Serve(w, r, []byte(body))
		var doc map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
			t.Fatalf("response is not JSON: %q", w.Body.String())
		}
		if w.Code != http.StatusOK && doc["__type"] == "" {
			t.Fatalf("error response without __type: %q", w.Body.String())
		}
	})
}

// The awsQuery codec answers every form body with XML.
func FuzzQueryService(f *testing.F) {
	f.Add("Action=Echo&Version=2011-06-15&Name=a&Tags.member.1=x")
	f.Add("Action=%zz")
	f.Add("")
	svc := &QueryService{Name: "sts", Version: "2011-06-15", XMLNamespace: "https://sts.amazonaws.com/doc/2011-06-15/",
		Ops: map[string]QueryOp{"Echo": func(_ context.Context, form url.Values) (any, error) {
			return struct {
				Name string
				Tags []string `xml:"Tags>member"`
			}{form.Get("Name"), QueryMembers(form, "Tags", "member")}, nil
		}}}
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest("POST", "/", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		svc.Serve(w, r, []byte(body))
		if err := xml.Unmarshal(w.Body.Bytes(), new(struct{})); err != nil {
			t.Fatalf("response is not XML: %v: %q", err, w.Body.String())
		}
	})
}

// The restJson codec routes any method and path without panicking.
func FuzzRESTService(f *testing.F) {
	f.Add("GET", "/backup-vaults/v/recovery-points/arn%3Aaws%3Abackup", "")
	f.Add("PUT", "/backup-vaults/v", `{"Name":1}`)
	f.Add("DELETE", "/%zz", "{")
	svc := NewRESTService("backup")
	svc.Handle("GET /backup-vaults/{name}/recovery-points/{arn}", "Describe", func(_ context.Context, r *RESTRequest) (int, any, error) {
		return 0, map[string]string{"arn": r.PathValue("arn")}, nil
	})
	svc.Handle("PUT /backup-vaults/{name}", "Create", func(_ context.Context, r *RESTRequest) (int, any, error) {
		var in echoIn
		if err := r.Decode(&in); err != nil {
			return 0, nil, err
		}
		return 0, in, nil
	})
	f.Fuzz(func(t *testing.T, method, path, body string) {
		if !validMethod(method) {
			return
		}
		r, err := http.NewRequest(method, "http://coffer"+path, strings.NewReader(body))
		if err != nil {
			return // not a request a client could send
		}
		w := httptest.NewRecorder()
		svc.Serve(w, r, []byte(body))
		if w.Code != http.StatusOK && w.Header().Get("x-amzn-ErrorType") == "" {
			t.Fatalf("error %d without x-amzn-ErrorType: %q", w.Code, w.Body.String())
		}
	})
}

func validMethod(m string) bool {
	switch m {
	case "GET", "PUT", "POST", "DELETE", "HEAD", "PATCH":
		return true
	}
	return false
}
