package awsmodel

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
)

func TestValidateJSON(t *testing.T) {
	m := Load("kms")
	tests := []struct {
		name, op, body string
		want           string // the message, "" for none
	}{
		{"valid", "TagResource", `{"KeyId":"k","Tags":[{"TagKey":"a","TagValue":""}]}`, ""},
		{"empty body", "ListKeys", ``, ""},
		{"missing required", "DescribeKey", `{}`, "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null"},
		{"nested required", "TagResource", `{"KeyId":"k","Tags":[{"TagKey":"a"}]}`, "Value null at 'tags.1.member.tagValue' failed to satisfy constraint: Member must not be null"},
		{"too long", "DescribeKey", `{"KeyId":"` + strings.Repeat("x", 2049) + `"}`, "at 'keyId' failed to satisfy constraint: Member must have length less than or equal to 2048"},
		{"too short", "DescribeKey", `{"KeyId":""}`, "Value '' at 'keyId' failed to satisfy constraint: Member must have length greater than or equal to 1"},
		{"enum", "CreateKey", `{"KeySpec":"RSA_1024"}`, "Value 'RSA_1024' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [RSA_2048, "},
		{"pattern", "CreateAlias", `{"AliasName":"alias/a b","TargetKeyId":"k"}`, "Value 'alias/a b' at 'aliasName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$"},
		{"pattern with Java's \\u escapes", "PutKeyPolicy", `{"KeyId":"k","Policy":"{\"Version\":\"2012-10-17\",\"Sid\":\"\u20ac\"}"}`, "failed to satisfy constraint: Member must satisfy regular expression pattern: [\\u0009\\u000A\\u000D\\u0020-\\u00FF]+"},
		{"Latin-1 within that pattern", "PutKeyPolicy", `{"KeyId":"k","Policy":"{\"Sid\":\"caf\u00e9\"}"}`, ""},
		{"range", "ScheduleKeyDeletion", `{"KeyId":"k","PendingWindowInDays":0}`, "Value '0' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value greater than or equal to 1"},
		{"range max", "GenerateRandom", `{"NumberOfBytes":1025}`, "Member must have value less than or equal to 1024"},
		{"blob length, value not echoed", "Encrypt", `{"KeyId":"k","Plaintext":""}`, "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length greater than or equal to 1"},
		{"NUL", "UpdateKeyDescription", `{"KeyId":"k","Description":"a\u0000"}`, "Value 'a\uFFFD' at 'description' failed to satisfy constraint: Member must not contain NUL characters"},
		{"invalid UTF-8", "UpdateKeyDescription", "{\"KeyId\":\"k\",\"Description\":\"a\xff\"}", "1 validation error detected: Value at 'description' failed to satisfy constraint: Member must be valid UTF-8"},
		{"invalid UTF-8 in an unknown member", "UpdateKeyDescription", "{\"KeyId\":\"k\",\"Description\":\"\",\"X\xff\":1}", "Value at 'body' failed to satisfy constraint: Request body must be valid UTF-8"},
		{"U+FFFD itself is text", "UpdateKeyDescription", `{"KeyId":"k","Description":"\ufffd"}`, ""},
		{"wrong JSON type left to the decoder", "DescribeKey", `{"KeyId":5}`, ""},
		{"two errors", "CreateAlias", `{}`, "2 validation errors detected: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vs := m.ValidateJSON(tt.op, []byte(tt.body))
			got := ""
			if len(vs) > 0 {
				got = Message(vs)
			}
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Errorf("got %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestModelsLoad checks every embedded model decodes and that each
// operation's shapes exist.
func TestModelsLoad(t *testing.T) {
	for _, svc := range []string{"backup", "kms", "organizations", "cloudtrail", "iam"} {
		m := Load(svc)
		if len(m.Operations) == 0 {
			t.Fatalf("%s: no operations", svc)
		}
		for name, op := range m.Operations {
			for _, r := range op.Errors {
				if m.ErrorShape(r.Shape) == nil {
					t.Errorf("%s %s: error %s is not an exception shape", svc, name, r.Shape)
				}
			}
			if op.Input != nil && m.Shapes[op.Input.Shape] == nil {
				t.Errorf("%s %s: no input shape %s", svc, name, op.Input.Shape)
			}
		}
	}
}

func TestOperationPattern(t *testing.T) {
	tests := []struct{ method, uri, want string }{
		{"GET", "/audit/frameworks/{frameworkName}", "GET /audit/frameworks/{frameworkName}"},
		{"GET", "/backup-vaults/", "GET /backup-vaults/{$}"},
		{"DELETE", "/resources/{resourceArn+}", "DELETE /resources/{resourceArn...}"},
		{"POST", "/backup-vaults/{backupVaultName}/mpaApprovalTeam?delete", "POST /backup-vaults/{backupVaultName}/mpaApprovalTeam"},
	}
	for _, tt := range tests {
		op := Operation{HTTP: HTTP{Method: tt.method, RequestURI: tt.uri}}
		if got := op.Pattern(); got != tt.want {
			t.Errorf("Pattern(%s %s) = %q, want %q", tt.method, tt.uri, got, tt.want)
		}
	}
}

func TestQueryInput(t *testing.T) {
	m := Load("iam")
	tests := []struct {
		name, op string
		form     url.Values
		want     string // the document as JSON
		problem  string // a violation's text, "" for none
	}{
		{"scalars and a list of structures", "CreateUser", url.Values{"Action": {"CreateUser"}, "UserName": {"bob"}, "Path": {"/ops/"},
			"Tags.member.1.Key": {"team"}, "Tags.member.1.Value": {"db"}, "Tags.member.2.Key": {"env"}, "Tags.member.2.Value": {""}, "Tags.member.4.Key": {"after a gap"}},
			`{"Path":"/ops/","Tags":[{"Key":"team","Value":"db"},{"Key":"env","Value":""}],"UserName":"bob"}`, ""},
		{"list of strings", "UntagUser", url.Values{"UserName": {"bob"}, "TagKeys.member.1": {"a"}, "TagKeys.member.2": {"b"}}, `{"TagKeys":["a","b"],"UserName":"bob"}`, ""},
		{"empty list", "UntagUser", url.Values{"UserName": {"bob"}, "TagKeys": {""}}, `{"TagKeys":[],"UserName":"bob"}`, ""},
		{"number and boolean", "ListPolicies", url.Values{"MaxItems": {"5"}, "OnlyAttached": {"true"}}, `{"MaxItems":5,"OnlyAttached":true}`, ""},
		{"not a number", "ListUsers", url.Values{"MaxItems": {"five"}}, `{}`, "Value 'five' at 'maxItems' failed to satisfy constraint: Member must be a whole number"},
		{"not a boolean", "ListPolicies", url.Values{"OnlyAttached": {"yes"}}, `{}`, "Value 'yes' at 'onlyAttached' failed to satisfy constraint: Member must be true or false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, vs := m.QueryInput(tt.op, tt.form)
			b, err := json.Marshal(doc)
			if err != nil || string(b) != tt.want {
				t.Errorf("document %s, %v; want %s", b, err, tt.want)
			}
			got := ""
			if len(vs) > 0 {
				got = Message(vs)
			}
			if (tt.problem == "") != (got == "") || !strings.Contains(got, tt.problem) {
				t.Errorf("violations %q, want %q", got, tt.problem)
			}
		})
	}
	// What the form holds is then checked against the shapes.
	doc, _ := m.QueryInput("ListUsers", url.Values{"MaxItems": {"0"}})
	if got := Message(m.Validate("ListUsers", doc)); !strings.Contains(got, "Value '0' at 'maxItems' failed to satisfy constraint: Member must have value greater than or equal to 1") {
		t.Errorf("MaxItems=0: %q", got)
	}
}
