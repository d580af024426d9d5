package main

import (
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/coffer-dev/coffer/internal/testenv"
)

type ctEvent struct {
	EventId, EventName, EventSource, Username, ReadOnly string
	CloudTrailEvent                                     string
}

type ctDetail struct {
	UserIdentity struct {
		Type, Arn string
		AccountID string `json:"accountId"`
	} `json:"userIdentity"`
	EventName         string         `json:"eventName"`
	ErrorCode         string         `json:"errorCode"`
	ErrorMessage      string         `json:"errorMessage"`
	SourceIPAddress   string         `json:"sourceIPAddress"`
	RequestID         string         `json:"requestID"`
	RequestParameters map[string]any `json:"requestParameters"`
	Authorization     []string       `json:"cofferAuthorization"`
}

// Every call — allowed, denied, failed, unauthenticated — lands in the
// audit trail with secrets redacted; LookupEvents (AWS CLI v2) shows a
// caller its own account's events, and coffer audit shows all of them.
func TestAuditTrail(t *testing.T) {
	cli := testenv.AWSCLIv2(t)
	testenv.ForEachStore(t, func(t *testing.T, c *testenv.Coffer) { testAuditTrail(t, cli, c) })
}

func testAuditTrail(t *testing.T, cli string, c *testenv.Coffer) {
	ctx := context.Background()
	src := c.AWSConfig(t, c.Profile(t, "source"))
	admin := iam.NewFromConfig(src)

	// Allowed, and a secret in the answer that must not be recorded.
	if _, err := admin.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("eve")}); err != nil {
		t.Fatal(err)
	}
	k, err := admin.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("eve")})
	if err != nil {
		t.Fatal(err)
	}
	secret := aws.ToString(k.AccessKey.SecretAccessKey)
	// Denied.
	eve := iam.NewFromConfig(c.AWSConfig(t, aws.Credentials{AccessKeyID: *k.AccessKey.AccessKeyId, SecretAccessKey: secret}))
	if _, err := eve.ListRoles(ctx, &iam.ListRolesInput{}); err == nil {
		t.Fatal("eve listed roles without a policy")
	}
	// Failed.
	if _, err := admin.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("missing")}); err == nil {
		t.Fatal("GetRole of a missing role succeeded")
	}
	// Unauthenticated.
	if _, err := sts.NewFromConfig(c.AWSConfig(t, aws.Credentials{AccessKeyID: "AKIAUNKNOWN000000000", SecretAccessKey: "whatever-secret"})).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err == nil {
		t.Fatal("unknown key accepted")
	}
	// A secret parameter in a request.
	if _, err := admin.CreateLoginProfile(ctx, &iam.CreateLoginProfileInput{UserName: aws.String("eve"), Password: aws.String("hunter2-plain")}); err != nil {
		t.Fatal(err)
	}
	// Another account's call, which the source account must not see.
	if _, err := iam.NewFromConfig(c.AWSConfig(t, c.Profile(t, "backup"))).ListUsers(ctx, &iam.ListUsersInput{}); err != nil {
		t.Fatal(err)
	}

	// LookupEvents through the AWS CLI as the source administrator.
	cmd := exec.Command(cli, "--endpoint-url", c.URL, "--output", "json", "cloudtrail", "lookup-events", "--max-results", "50")
	cmd.Env = c.CLIEnv("source")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("lookup-events: %v\n%s", err, out)
	}
	if strings.Contains(string(out), secret) || strings.Contains(string(out), "hunter2-plain") {
		t.Fatal("a secret reached the audit trail")
	}
	var resp struct{ Events []ctEvent }
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatal(err)
	}
	seen := map[string]ctDetail{}
	for _, e := range resp.Events {
		var d ctDetail
		if err := json.Unmarshal([]byte(e.CloudTrailEvent), &d); err != nil {
			t.Fatal(err)
		}
		if d.UserIdentity.AccountID != testenv.SourceAccount {
			t.Errorf("event of account %s shown to %s", d.UserIdentity.AccountID, testenv.SourceAccount)
		}
		if e.EventSource != "iam.amazonaws.com" || d.RequestID == "" || d.SourceIPAddress == "" {
			t.Errorf("event %+v lacks source, request ID or IP", e)
		}
		key := e.EventName + "/" + d.ErrorCode
		if _, ok := seen[key]; !ok {
			seen[key] = d
		}
	}
	for _, want := range []string{"CreateUser/", "CreateAccessKey/", "ListRoles/AccessDenied", "GetRole/NoSuchEntity", "CreateLoginProfile/"} {
		if _, ok := seen[want]; !ok {
			t.Errorf("no %s event among %d", want, len(resp.Events))
		}
	}
	if d := seen["ListRoles/AccessDenied"]; d.UserIdentity.Arn != "arn:aws:iam::"+testenv.SourceAccount+":user/eve" || !strings.Contains(d.ErrorMessage, "is not authorized to perform: iam:ListRoles") ||
		len(d.Authorization) == 0 || !strings.Contains(d.Authorization[0], "implicitly denied") {
		t.Errorf("denied event = %+v", d)
	}
	if p := seen["CreateLoginProfile/"].RequestParameters; p["Password"] != "HIDDEN_DUE_TO_SECURITY_REASONS" || p["UserName"] != "eve" {
		t.Errorf("parameters = %v, want the password hidden", p)
	}
	if d := seen["CreateUser/"]; d.RequestParameters["UserName"] != "eve" || len(d.Authorization) == 0 || !strings.Contains(d.Authorization[0], "allowed by") {
		t.Errorf("create event = %+v", d)
	}

	// coffer audit reads the store directly and sees every account,
	// the unauthenticated call too.
	bin := binary(t)
	store := []string{"--data-dir", c.Config.DataDir}
	if c.Config.Database != "" {
		store = []string{"--database", c.Config.Database}
	}
	var lines []string
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, err := exec.Command(bin, append([]string{"audit", "--json", "--all"}, store...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("coffer audit: %v\n%s", err, out)
		}
		if strings.Contains(string(out), secret) || strings.Contains(string(out), "hunter2-plain") {
			t.Fatal("a secret reached coffer audit's output")
		}
		lines = strings.Split(strings.TrimSpace(string(out)), "\n")
		if strings.Contains(string(out), "InvalidClientTokenId") && strings.Contains(string(out), testenv.BackupAccount) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	var unauth, backup bool
	for _, l := range lines {
		var d ctDetail
		if err := json.Unmarshal([]byte(l), &d); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		unauth = unauth || (d.ErrorCode == "InvalidClientTokenId" && d.UserIdentity.AccountID == "")
		backup = backup || d.UserIdentity.AccountID == testenv.BackupAccount
	}
	if !unauth || !backup {
		t.Errorf("coffer audit: unauthenticated call seen %v, backup account's call seen %v", unauth, backup)
	}
	out, err = exec.Command(bin, append([]string{"audit", "--errors", "--account", testenv.SourceAccount}, store...)...).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "AccessDenied") || strings.Contains(string(out), "CreateUser") {
		t.Fatalf("coffer audit --errors: %v\n%s", err, out)
	}
}
