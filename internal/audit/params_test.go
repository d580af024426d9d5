package audit

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coffer-dev/coffer/internal/meta/sqlite"

	"github.com/coffer-dev/coffer/internal/protocol"
)

func TestParametersRedactSecrets(t *testing.T) {
	tests := []struct {
		name   string
		kind   protocol.Kind
		target string
		body   string
		hidden []string // parameter paths that must be redacted
		kept   map[string]string
	}{
		{"kms plaintext", protocol.AWSJSON, "/", `{"KeyId":"alias/k","Plaintext":"c2VjcmV0"}`, []string{"Plaintext"}, map[string]string{"KeyId": "alias/k"}},
		{"rds password", protocol.Query, "/", "Action=CreateDBInstance&DBInstanceIdentifier=db1&MasterUserPassword=hunter2", []string{"MasterUserPassword"}, map[string]string{"DBInstanceIdentifier": "db1"}},
		{"restore metadata password", protocol.RESTJSON, "/restore-jobs", `{"Metadata":{"DBInstanceIdentifier":"r1","MasterUserPassword":"hunter2"}}`, nil, nil},
		{"sign message", protocol.AWSJSON, "/", `{"KeyId":"k","Message":"aGVsbG8="}`, []string{"Message"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", tt.target, strings.NewReader(tt.body))
			got := decodeParams(t, Parameters(tt.kind, r, []byte(tt.body)))
			for _, k := range tt.hidden {
				if got[k] != Redacted {
					t.Errorf("%s = %v, want it hidden", k, got[k])
				}
			}
			for k, v := range tt.kept {
				if got[k] != v {
					t.Errorf("%s = %v, want %s", k, got[k], v)
				}
			}
			if s := strings.ToLower(fmtAny(got)); strings.Contains(s, "hunter2") || strings.Contains(s, "c2vjcmv0") {
				t.Errorf("a secret survived: %v", got)
			}
		})
	}
}

// A presigned request carries its session token and signature in the
// query string; neither may reach the audit trail.
func TestPresignedQueryRedacted(t *testing.T) {
	target := "/?Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=ASIAEXAMPLE%2F20261127%2Fus-east-1%2Fsts%2Faws4_request" +
		"&X-Amz-Security-Token=tok-SECRET-SESSION&X-Amz-Signature=0123abcdef"
	for _, kind := range []protocol.Kind{protocol.Query, protocol.RESTJSON} {
		raw := Parameters(kind, httptest.NewRequest("GET", target, nil), nil)
		if s := string(raw); strings.Contains(s, "tok-SECRET-SESSION") || strings.Contains(s, "0123abcdef") {
			t.Errorf("%v: presigned credentials recorded: %s", kind, s)
		}
		if !strings.Contains(string(raw), "ASIAEXAMPLE") {
			t.Errorf("%v: the credential scope (not secret) is missing: %s", kind, raw)
		}
	}
}

// Like CloudTrail, the audit trail leaves out the binary payloads of KMS
// calls (ciphertexts, signatures, MACs) and keeps the rest.
func TestBlobsOmitted(t *testing.T) {
	body := `{"CiphertextBlob":"AQIDBA==","EncryptionContext":{"a":"b"},"KeyId":"k","Signature":"c2ln","Mac":"bWFj","SourceKeyId":"s"}`
	got := decodeParams(t, Parameters(protocol.AWSJSON, httptest.NewRequest("POST", "/", strings.NewReader(body)), []byte(body)))
	for _, k := range []string{"CiphertextBlob", "Signature", "Mac"} {
		if _, ok := got[k]; ok {
			t.Errorf("%s recorded: %v", k, got)
		}
	}
	if got["KeyId"] != "k" || got["SourceKeyId"] != "s" || got["EncryptionContext"] == nil {
		t.Errorf("other parameters lost: %v", got)
	}
}

func decodeParams(t *testing.T, raw []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("parameters %q are not a JSON object: %v", raw, err)
	}
	return m
}

func fmtAny(v any) string {
	var b strings.Builder
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				b.WriteString(k + "=")
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		case string:
			b.WriteString(x + ";")
		}
	}
	walk(v)
	return b.String()
}

func TestLongValuesClipped(t *testing.T) {
	body := `{"Policy":"` + strings.Repeat("A", 5000) + `"}`
	got := decodeParams(t, Parameters(protocol.AWSJSON, httptest.NewRequest("POST", "/", strings.NewReader(body)), []byte(body)))
	if s, _ := got["Policy"].(string); len(s) > maxValue+20 || !strings.HasSuffix(s, "(truncated)") {
		t.Fatalf("Policy kept %d characters", len(s))
	}
}

func TestRetention(t *testing.T) {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	r := NewRecorder(store, slog.New(slog.NewTextHandler(io.Discard, nil)))
	r.Record(Event{RequestID: "old", Time: time.Now().Add(-Retention - time.Hour)})
	r.Record(Event{RequestID: "new"})
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	r.pruned = time.Time{} // prune with the next batch
	r.Record(Event{RequestID: "newer"})
	r.Close()
	evs, _, err := Lookup(ctx, store, Query{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range evs {
		ids = append(ids, e.RequestID)
	}
	if strings.Join(ids, ",") != "newer,new" {
		t.Fatalf("events = %v, want newer,new", ids)
	}
}
