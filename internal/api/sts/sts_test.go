package sts_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/coffer-dev/coffer/internal/testenv"
)

func sessionCreds(c *sts.AssumeRoleOutput) aws.Credentials {
	return aws.Credentials{AccessKeyID: *c.Credentials.AccessKeyId, SecretAccessKey: *c.Credentials.SecretAccessKey, SessionToken: *c.Credentials.SessionToken}
}

// The scenario: create an account through Organizations, assume
// OrganizationAccountAccessRole into it, create a role there trusting
// another account, and assume it from that account.
func TestOrganizationAccountAndCrossAccountRole(t *testing.T) {
	testenv.ForEachStore(t, testOrganizationAccountAndCrossAccountRole)
}

func testOrganizationAccountAndCrossAccountRole(t *testing.T, c *testenv.Coffer) {
	ctx := context.Background()
	mgmt := c.AWSConfig(t, c.Profile(t, "default"))
	orgs := organizations.NewFromConfig(mgmt)

	created, err := orgs.CreateAccount(ctx, &organizations.CreateAccountInput{Email: aws.String("workload@example.com"), AccountName: aws.String("workload")})
	if err != nil {
		t.Fatal(err)
	}
	var newID string
	for i := 0; i < 50 && newID == ""; i++ {
		st, err := orgs.DescribeCreateAccountStatus(ctx, &organizations.DescribeCreateAccountStatusInput{CreateAccountRequestId: created.CreateAccountStatus.Id})
		if err != nil {
			t.Fatal(err)
		}
		switch st.CreateAccountStatus.State {
		case "SUCCEEDED":
			newID = aws.ToString(st.CreateAccountStatus.AccountId)
		case "FAILED":
			t.Fatalf("account creation failed: %s", st.CreateAccountStatus.FailureReason)
		default:
			time.Sleep(100 * time.Millisecond)
		}
	}
	if len(newID) != 12 {
		t.Fatalf("account ID %q", newID)
	}

	// The management account's administrator enters the new account.
	ar, err := sts.NewFromConfig(mgmt).AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::" + newID + ":role/OrganizationAccountAccessRole"), RoleSessionName: aws.String("setup")})
	if err != nil {
		t.Fatal(err)
	}
	setup := c.AWSConfig(t, sessionCreds(ar))
	id, err := sts.NewFromConfig(setup).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := aws.ToString(id.Arn), "arn:aws:sts::"+newID+":assumed-role/OrganizationAccountAccessRole/setup"; got != want {
		t.Fatalf("session ARN = %s, want %s", got, want)
	}
	if aws.ToString(id.Account) != newID || !strings.HasSuffix(aws.ToString(id.UserId), ":setup") {
		t.Fatalf("identity = %+v", id)
	}

	// Inside, a role trusting the backup account, allowed to list roles.
	newIAM := iam.NewFromConfig(setup)
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + testenv.BackupAccount + `:root"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"ext-1234"}}}]}`
	if _, err := newIAM.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("auditor"), AssumeRolePolicyDocument: aws.String(trust)}); err != nil {
		t.Fatal(err)
	}
	if _, err := newIAM.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("auditor"), PolicyName: aws.String("list"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:ListRoles","Resource":"*"}]}`)}); err != nil {
		t.Fatal(err)
	}
	roleARN := "arn:aws:iam::" + newID + ":role/auditor"

	backupSTS := sts.NewFromConfig(c.AWSConfig(t, c.Profile(t, "backup")))
	t.Run("without the external ID", func(t *testing.T) {
		_, err := backupSTS.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("xx")})
		testenv.WantAPIError(t, err, "AccessDenied", "User: arn:aws:iam::"+testenv.BackupAccount+":user/admin is not authorized to perform: sts:AssumeRole on resource: "+roleARN)
	})
	t.Run("cross account with the external ID", func(t *testing.T) {
		ar, err := backupSTS.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("audit"),
			ExternalId: aws.String("ext-1234"), DurationSeconds: aws.Int32(900)})
		if err != nil {
			t.Fatal(err)
		}
		if left := time.Until(*ar.Credentials.Expiration); left > 900*time.Second || left < 800*time.Second {
			t.Errorf("expiration in %v, want 15 minutes", left)
		}
		sess := iam.NewFromConfig(c.AWSConfig(t, sessionCreds(ar)))
		roles, err := sess.ListRoles(ctx, &iam.ListRolesInput{})
		if err != nil {
			t.Fatal(err)
		}
		if len(roles.Roles) != 2 { // OrganizationAccountAccessRole and auditor
			t.Errorf("roles = %d, want 2", len(roles.Roles))
		}
		_, err = sess.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("intruder")})
		testenv.WantAPIError(t, err, "AccessDenied", "User: arn:aws:sts::"+newID+":assumed-role/auditor/audit is not authorized to perform: iam:CreateUser on resource: arn:aws:iam::"+newID+":user/intruder because no identity-based policy allows the iam:CreateUser action")
	})
	t.Run("trusted account but no identity policy", func(t *testing.T) {
		backupIAM := iam.NewFromConfig(c.AWSConfig(t, c.Profile(t, "backup")))
		if _, err := backupIAM.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("nobody")}); err != nil {
			t.Fatal(err)
		}
		k, err := backupIAM.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("nobody")})
		if err != nil {
			t.Fatal(err)
		}
		nobody := sts.NewFromConfig(c.AWSConfig(t, aws.Credentials{AccessKeyID: *k.AccessKey.AccessKeyId, SecretAccessKey: *k.AccessKey.SecretAccessKey}))
		_, err = nobody.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("xx"), ExternalId: aws.String("ext-1234")})
		testenv.WantAPIError(t, err, "AccessDenied", "because no identity-based policy allows the sts:AssumeRole action")
	})
	t.Run("account the trust policy does not name", func(t *testing.T) {
		_, err := sts.NewFromConfig(c.AWSConfig(t, c.Profile(t, "source"))).AssumeRole(ctx, &sts.AssumeRoleInput{
			RoleArn: aws.String(roleARN), RoleSessionName: aws.String("xx"), ExternalId: aws.String("ext-1234")})
		testenv.WantAPIError(t, err, "AccessDenied", "because no resource-based policy allows the sts:AssumeRole action")
	})
	t.Run("role that does not exist", func(t *testing.T) {
		_, err := backupSTS.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + newID + ":role/nope"), RoleSessionName: aws.String("xx")})
		testenv.WantAPIError(t, err, "AccessDenied", "is not authorized to perform: sts:AssumeRole")
	})
}

// aws:PrincipalOrgID in a trust policy admits the organization's accounts
// and refuses another organization's.
func TestPrincipalOrgID(t *testing.T) {
	c := testenv.StartSeed(t, nil)
	ctx := context.Background()
	org, err := organizations.NewFromConfig(c.AWSConfig(t, c.Profile(t, "backup"))).DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{})
	if err != nil {
		t.Fatal(err)
	}
	orgID := aws.ToString(org.Organization.Id)
	backupIAM := iam.NewFromConfig(c.AWSConfig(t, c.Profile(t, "backup")))
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Condition":{"StringEquals":{"aws:PrincipalOrgID":"` + orgID + `"}}}]}`
	if _, err := backupIAM.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("org-readers"), AssumeRolePolicyDocument: aws.String(trust)}); err != nil {
		t.Fatal(err)
	}
	roleARN := "arn:aws:iam::" + testenv.BackupAccount + ":role/org-readers"
	if _, err := sts.NewFromConfig(c.AWSConfig(t, c.Profile(t, "source"))).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("member")}); err != nil {
		t.Fatalf("member of the organization refused: %v", err)
	}
	_, err = sts.NewFromConfig(c.AWSConfig(t, c.Profile(t, "outsider"))).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("outsider")})
	testenv.WantAPIError(t, err, "AccessDenied", "User: arn:aws:iam::"+testenv.OutsiderAccount+":user/admin is not authorized to perform: sts:AssumeRole on resource: "+roleARN+" because no resource-based policy allows the sts:AssumeRole action")
}

// Role chaining is limited to an hour, a role assumes itself only when its
// trust policy names it, and a session policy narrows the session.
func TestRoleChainingAndSessionPolicy(t *testing.T) {
	testenv.ForEachStore(t, testRoleChainingAndSessionPolicy)
}

func testRoleChainingAndSessionPolicy(t *testing.T, c *testenv.Coffer) {
	ctx := context.Background()
	srcCfg := c.AWSConfig(t, c.Profile(t, "source"))
	srcIAM := iam.NewFromConfig(srcCfg)
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + testenv.SourceAccount + `"},"Action":"sts:AssumeRole"}]}`
	for _, name := range []string{"a", "b"} {
		if _, err := srcIAM.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(name), AssumeRolePolicyDocument: aws.String(trust), MaxSessionDuration: aws.Int32(43200)}); err != nil {
			t.Fatal(err)
		}
		if _, err := srcIAM.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(name), PolicyName: aws.String("all"),
			PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sts:AssumeRole","iam:List*"],"Resource":"*"}]}`)}); err != nil {
			t.Fatal(err)
		}
	}
	arn := func(n string) *string { return aws.String("arn:aws:iam::" + testenv.SourceAccount + ":role/" + n) }
	a, err := sts.NewFromConfig(srcCfg).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: arn("a"), RoleSessionName: aws.String("one"), DurationSeconds: aws.Int32(7200)})
	if err != nil {
		t.Fatal(err)
	}
	aSTS := sts.NewFromConfig(c.AWSConfig(t, sessionCreds(a)))
	_, err = aSTS.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: arn("b"), RoleSessionName: aws.String("two"), DurationSeconds: aws.Int32(7200)})
	testenv.WantAPIError(t, err, "ValidationError", "1 hour session limit for roles assumed by role chaining")
	if _, err := aSTS.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: arn("b"), RoleSessionName: aws.String("two")}); err != nil {
		t.Fatalf("chaining within an hour: %v", err)
	}
	_, err = aSTS.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: arn("a"), RoleSessionName: aws.String("loop")})
	testenv.WantAPIError(t, err, "AccessDenied", "sts:AssumeRole on resource: arn:aws:iam::"+testenv.SourceAccount+":role/a")

	// A session policy that allows only ListRoles.
	sp, err := sts.NewFromConfig(srcCfg).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: arn("a"), RoleSessionName: aws.String("narrow"),
		Policy: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:ListRoles","Resource":"*"}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	narrow := iam.NewFromConfig(c.AWSConfig(t, sessionCreds(sp)))
	if _, err := narrow.ListRoles(ctx, &iam.ListRolesInput{}); err != nil {
		t.Fatal(err)
	}
	_, err = narrow.ListUsers(ctx, &iam.ListUsersInput{})
	testenv.WantAPIError(t, err, "AccessDenied", "because no session policy allows the iam:ListUsers action")
}

// Sessions of a deleted role, deleted and deactivated access keys, and
// GetSessionToken's limits.
func TestRevokedCredentials(t *testing.T) {
	testenv.ForEachStore(t, testRevokedCredentials)
}

func testRevokedCredentials(t *testing.T, c *testenv.Coffer) {
	ctx := context.Background()
	srcCfg := c.AWSConfig(t, c.Profile(t, "source"))
	srcIAM := iam.NewFromConfig(srcCfg)
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + testenv.SourceAccount + `"},"Action":"sts:AssumeRole"}]}`
	if _, err := srcIAM.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("temp"), AssumeRolePolicyDocument: aws.String(trust)}); err != nil {
		t.Fatal(err)
	}
	ar, err := sts.NewFromConfig(srcCfg).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + testenv.SourceAccount + ":role/temp"), RoleSessionName: aws.String("s1")})
	if err != nil {
		t.Fatal(err)
	}
	sess := sts.NewFromConfig(c.AWSConfig(t, sessionCreds(ar)))
	if _, err := sess.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatal(err)
	}
	t.Run("wrong session token", func(t *testing.T) {
		creds := sessionCreds(ar)
		creds.SessionToken += "x"
		_, err := sts.NewFromConfig(c.AWSConfig(t, creds)).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		testenv.WantAPIError(t, err, "InvalidClientTokenId", "security token included in the request is invalid")
	})
	t.Run("deleted role", func(t *testing.T) {
		if _, err := srcIAM.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: aws.String("temp")}); err != nil {
			t.Fatal(err)
		}
		_, err := sess.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		testenv.WantAPIError(t, err, "InvalidClientTokenId", "security token included in the request is invalid")
	})
	t.Run("inactive and deleted keys", func(t *testing.T) {
		if _, err := srcIAM.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("carol")}); err != nil {
			t.Fatal(err)
		}
		k, err := srcIAM.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("carol")})
		if err != nil {
			t.Fatal(err)
		}
		carol := sts.NewFromConfig(c.AWSConfig(t, aws.Credentials{AccessKeyID: *k.AccessKey.AccessKeyId, SecretAccessKey: *k.AccessKey.SecretAccessKey}))
		if _, err := carol.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
			t.Fatal(err)
		}
		// GetSessionToken needs no permission; its credentials act as carol.
		st, err := carol.GetSessionToken(ctx, &sts.GetSessionTokenInput{DurationSeconds: aws.Int32(900)})
		if err != nil {
			t.Fatal(err)
		}
		tmp := aws.Credentials{AccessKeyID: *st.Credentials.AccessKeyId, SecretAccessKey: *st.Credentials.SecretAccessKey, SessionToken: *st.Credentials.SessionToken}
		id, err := sts.NewFromConfig(c.AWSConfig(t, tmp)).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil || aws.ToString(id.Arn) != "arn:aws:iam::"+testenv.SourceAccount+":user/carol" {
			t.Fatalf("session identity = %v, %v", id, err)
		}
		_, err = sts.NewFromConfig(c.AWSConfig(t, tmp)).GetSessionToken(ctx, &sts.GetSessionTokenInput{})
		testenv.WantAPIError(t, err, "AccessDenied", "Cannot call GetSessionToken with session credentials")

		if _, err := srcIAM.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("carol"), AccessKeyId: k.AccessKey.AccessKeyId, Status: "Inactive"}); err != nil {
			t.Fatal(err)
		}
		_, err = carol.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		testenv.WantAPIError(t, err, "InvalidClientTokenId", "security token included in the request is invalid")
		if _, err := srcIAM.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String("carol"), AccessKeyId: k.AccessKey.AccessKeyId}); err != nil {
			t.Fatal(err)
		}
		_, err = carol.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		testenv.WantAPIError(t, err, "InvalidClientTokenId", "security token included in the request is invalid")
	})
}

func TestAssumeRoleBadInput(t *testing.T) {
	c := testenv.StartSeed(t, nil)
	ctx := context.Background()
	s := sts.NewFromConfig(c.AWSConfig(t, c.Profile(t, "source")))
	role := aws.String("arn:aws:iam::" + testenv.BackupAccount + ":role/x")
	tests := []struct {
		name      string
		in        sts.AssumeRoleInput
		code, msg string
	}{
		{"not a role ARN", sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::123:user/x"), RoleSessionName: aws.String("ab")}, "ValidationError", "RoleArn must be the ARN of a role"},
		{"session name too short", sts.AssumeRoleInput{RoleArn: role, RoleSessionName: aws.String("a")}, "ValidationError", "roleSessionName"},
		{"duration too short", sts.AssumeRoleInput{RoleArn: role, RoleSessionName: aws.String("ab"), DurationSeconds: aws.Int32(60)}, "ValidationError", "between 900 and 43200"},
		{"malformed session policy", sts.AssumeRoleInput{RoleArn: role, RoleSessionName: aws.String("ab"), Policy: aws.String(`{"Statement":[{"Effect":"Maybe","Action":"*","Resource":"*"}]}`)}, "MalformedPolicyDocument", "Invalid effect: Maybe"},
		{"bad external ID", sts.AssumeRoleInput{RoleArn: role, RoleSessionName: aws.String("ab"), ExternalId: aws.String("x")}, "ValidationError", "externalId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.AssumeRole(ctx, &tt.in)
			testenv.WantAPIError(t, err, tt.code, tt.msg)
		})
	}
}
