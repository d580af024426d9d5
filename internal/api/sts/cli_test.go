package sts_test

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/coffer-dev/coffer/internal/testenv"
)

// The scenario with the AWS CLI v2: create an account, enter it
// through OrganizationAccountAccessRole, create a role there trusting the
// backup account, and assume it from that account but not from another
// organization's.
func TestCLIScenario(t *testing.T) {
	cli := testenv.AWSCLIv2(t)
	c := testenv.StartSeed(t, nil)
	run := func(profile string, env []string, args ...string) (string, error) {
		cmd := exec.Command(cli, append([]string{"--endpoint-url", c.URL, "--output", "json"}, args...)...)
		cmd.Env = append(c.CLIEnv(profile), env...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	must := func(profile string, env []string, v any, args ...string) {
		t.Helper()
		out, err := run(profile, env, args...)
		if err != nil {
			t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		if v != nil {
			if err := json.Unmarshal([]byte(out), v); err != nil {
				t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		}
	}
	var created struct {
		CreateAccountStatus struct{ Id, State, AccountId string }
	}
	must("default", nil, &created, "organizations", "create-account", "--email", "cli@example.com", "--account-name", "cli")
	var status struct {
		CreateAccountStatus struct{ State, AccountId string }
	}
	must("default", nil, &status, "organizations", "describe-create-account-status", "--create-account-request-id", created.CreateAccountStatus.Id)
	id := status.CreateAccountStatus.AccountId
	if status.CreateAccountStatus.State != "SUCCEEDED" || len(id) != 12 {
		t.Fatalf("status = %+v", status)
	}

	type assumed struct {
		Credentials     struct{ AccessKeyId, SecretAccessKey, SessionToken, Expiration string }
		AssumedRoleUser struct{ Arn string }
	}
	var ar assumed
	must("default", nil, &ar, "sts", "assume-role", "--role-arn", "arn:aws:iam::"+id+":role/OrganizationAccountAccessRole", "--role-session-name", "cli")
	session := []string{"AWS_ACCESS_KEY_ID=" + ar.Credentials.AccessKeyId, "AWS_SECRET_ACCESS_KEY=" + ar.Credentials.SecretAccessKey, "AWS_SESSION_TOKEN=" + ar.Credentials.SessionToken}
	var who struct{ Arn, Account string }
	must("default", session, &who, "sts", "get-caller-identity")
	if who.Arn != "arn:aws:sts::"+id+":assumed-role/OrganizationAccountAccessRole/cli" || who.Account != id {
		t.Fatalf("caller = %+v", who)
	}
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + testenv.BackupAccount + `"},"Action":"sts:AssumeRole"}]}`
	must("default", session, nil, "iam", "create-role", "--role-name", "from-backup", "--assume-role-policy-document", trust)

	role := "arn:aws:iam::" + id + ":role/from-backup"
	var cross assumed
	must("backup", nil, &cross, "sts", "assume-role", "--role-arn", role, "--role-session-name", "copy")
	if cross.AssumedRoleUser.Arn != "arn:aws:sts::"+id+":assumed-role/from-backup/copy" {
		t.Fatalf("assumed = %+v", cross.AssumedRoleUser)
	}
	out, err := run("outsider", nil, "sts", "assume-role", "--role-arn", role, "--role-session-name", "copy")
	if err == nil || !strings.Contains(out, "AccessDenied") || !strings.Contains(out, "arn:aws:iam::"+testenv.OutsiderAccount+":user/admin is not authorized to perform: sts:AssumeRole on resource: "+role) {
		t.Fatalf("outsider: %v\n%s", err, out)
	}
}
