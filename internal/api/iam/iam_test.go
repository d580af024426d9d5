package iam_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/coffer-dev/coffer/internal/testenv"
)

const allowAll = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`

// Users, access keys, inline policies and tags through the SDK, and a
// user without policies denied in AWS's words.
func TestUsersAndAccessKeys(t *testing.T) { testenv.ForEachStore(t, testUsersAndAccessKeys) }

func testUsersAndAccessKeys(t *testing.T, c *testenv.Coffer) {
	ctx := context.Background()
	admin := iam.NewFromConfig(c.AWSConfig(t, c.Profile(t, "source")))
	acct := testenv.SourceAccount

	u := testenv.Must[*iam.CreateUserOutput](t)(admin.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("bob"), Path: aws.String("/team/"),
		Tags: []types.Tag{{Key: aws.String("dept"), Value: aws.String("ops")}}}))
	if got, want := aws.ToString(u.User.Arn), "arn:aws:iam::"+acct+":user/team/bob"; got != want {
		t.Fatalf("Arn = %s, want %s", got, want)
	}
	_, err := admin.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("BOB")})
	testenv.WantAPIError(t, err, "EntityAlreadyExists", "User with name BOB already exists.")

	got := testenv.Must[*iam.GetUserOutput](t)(admin.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("bob")}))
	if !strings.HasPrefix(aws.ToString(got.User.UserId), "AIDA") || len(got.User.Tags) != 1 || aws.ToString(got.User.Path) != "/team/" {
		t.Fatalf("GetUser = %+v", got.User)
	}
	list := testenv.Must[*iam.ListUsersOutput](t)(admin.ListUsers(ctx, &iam.ListUsersInput{PathPrefix: aws.String("/team/")}))
	if len(list.Users) != 1 || aws.ToString(list.Users[0].UserName) != "bob" {
		t.Fatalf("ListUsers = %+v", list.Users)
	}

	k := testenv.Must[*iam.CreateAccessKeyOutput](t)(admin.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("bob")}))
	if len(aws.ToString(k.AccessKey.SecretAccessKey)) != 40 || !strings.HasPrefix(aws.ToString(k.AccessKey.AccessKeyId), "AKIA") {
		t.Fatalf("key = %+v", k.AccessKey)
	}
	keys := testenv.Must[*iam.ListAccessKeysOutput](t)(admin.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("bob")}))
	if len(keys.AccessKeyMetadata) != 1 || keys.AccessKeyMetadata[0].Status != types.StatusTypeActive {
		t.Fatalf("ListAccessKeys = %+v", keys.AccessKeyMetadata)
	}
	testenv.Must[*iam.CreateAccessKeyOutput](t)(admin.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("bob")}))
	_, err = admin.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("bob")})
	testenv.WantAPIError(t, err, "LimitExceeded", "AccessKeysPerUser: 2")

	bobCfg := c.AWSConfig(t, aws.Credentials{AccessKeyID: *k.AccessKey.AccessKeyId, SecretAccessKey: *k.AccessKey.SecretAccessKey})
	bob := iam.NewFromConfig(bobCfg)
	id := testenv.Must[*sts.GetCallerIdentityOutput](t)(sts.NewFromConfig(bobCfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}))
	if aws.ToString(id.Arn) != "arn:aws:iam::"+acct+":user/team/bob" {
		t.Fatalf("bob is %s", aws.ToString(id.Arn))
	}

	// A user without policies is denied, in AWS's words.
	_, err = bob.ListUsers(ctx, &iam.ListUsersInput{})
	testenv.WantAPIError(t, err, "AccessDenied", "User: arn:aws:iam::"+acct+":user/team/bob is not authorized to perform: iam:ListUsers on resource: arn:aws:iam::"+acct+":user/ because no identity-based policy allows the iam:ListUsers action")

	// The AWS documentation's self-management example: ${aws:username}.
	selfManage := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:ListAccessKeys","iam:GetUser"],"Resource":"arn:aws:iam::*:user/*/${aws:username}"}]}`
	testenv.Must[*iam.PutUserPolicyOutput](t)(admin.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("bob"), PolicyName: aws.String("self"), PolicyDocument: aws.String(selfManage)}))
	if _, err := bob.ListAccessKeys(ctx, &iam.ListAccessKeysInput{}); err != nil {
		t.Fatalf("bob lists his own keys: %v", err)
	}
	_, err = bob.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("admin")})
	testenv.WantAPIError(t, err, "AccessDenied", "iam:GetUser on resource: arn:aws:iam::"+acct+":user/admin because no identity-based policy allows")

	pol := testenv.Must[*iam.GetUserPolicyOutput](t)(admin.GetUserPolicy(ctx, &iam.GetUserPolicyInput{UserName: aws.String("bob"), PolicyName: aws.String("self")}))
	if doc, err := url.QueryUnescape(aws.ToString(pol.PolicyDocument)); err != nil || doc != selfManage {
		t.Fatalf("policy document = %q (%v)", aws.ToString(pol.PolicyDocument), err)
	}
	names := testenv.Must[*iam.ListUserPoliciesOutput](t)(admin.ListUserPolicies(ctx, &iam.ListUserPoliciesInput{UserName: aws.String("bob")}))
	if len(names.PolicyNames) != 1 {
		t.Fatalf("policies = %v", names.PolicyNames)
	}

	// Deleting needs the keys and policies gone first.
	_, err = admin.DeleteUser(ctx, &iam.DeleteUserInput{UserName: aws.String("bob")})
	testenv.WantAPIError(t, err, "DeleteConflict", "must delete access keys first")
	for _, km := range testenv.Must[*iam.ListAccessKeysOutput](t)(admin.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("bob")})).AccessKeyMetadata {
		testenv.Must[*iam.DeleteAccessKeyOutput](t)(admin.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String("bob"), AccessKeyId: km.AccessKeyId}))
	}
	_, err = admin.DeleteUser(ctx, &iam.DeleteUserInput{UserName: aws.String("bob")})
	testenv.WantAPIError(t, err, "DeleteConflict", "must delete policies first")
	testenv.Must[*iam.DeleteUserPolicyOutput](t)(admin.DeleteUserPolicy(ctx, &iam.DeleteUserPolicyInput{UserName: aws.String("bob"), PolicyName: aws.String("self")}))
	testenv.Must[*iam.DeleteUserOutput](t)(admin.DeleteUser(ctx, &iam.DeleteUserInput{UserName: aws.String("bob")}))
	_, err = admin.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("bob")})
	testenv.WantAPIError(t, err, "NoSuchEntity", "The user with name bob cannot be found.")
}

// Roles, managed policies (customer and AWS-managed), attachments and tags.
func TestRolesAndManagedPolicies(t *testing.T) { testenv.ForEachStore(t, testRolesAndManagedPolicies) }

func testRolesAndManagedPolicies(t *testing.T, c *testenv.Coffer) {
	ctx := context.Background()
	admin := iam.NewFromConfig(c.AWSConfig(t, c.Profile(t, "backup")))
	acct := testenv.BackupAccount
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"backup.amazonaws.com"},"Action":"sts:AssumeRole"}]}`

	r := testenv.Must[*iam.CreateRoleOutput](t)(admin.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("backup-role"), Path: aws.String("/service-role/"),
		AssumeRolePolicyDocument: aws.String(trust), Description: aws.String("jobs"), Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}}))
	if got, want := aws.ToString(r.Role.Arn), "arn:aws:iam::"+acct+":role/service-role/backup-role"; got != want || !strings.HasPrefix(aws.ToString(r.Role.RoleId), "AROA") {
		t.Fatalf("role = %+v", r.Role)
	}
	g := testenv.Must[*iam.GetRoleOutput](t)(admin.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("backup-role")}))
	if doc, _ := url.QueryUnescape(aws.ToString(g.Role.AssumeRolePolicyDocument)); doc != trust || aws.ToInt32(g.Role.MaxSessionDuration) != 3600 || len(g.Role.Tags) != 1 {
		t.Fatalf("GetRole = %+v", g.Role)
	}

	// AWS-managed policies are there to attach.
	for _, arn := range []string{"arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup", "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForRestores"} {
		testenv.Must[*iam.AttachRolePolicyOutput](t)(admin.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String("backup-role"), PolicyArn: aws.String(arn)}))
	}
	awsPolicies := testenv.Must[*iam.ListPoliciesOutput](t)(admin.ListPolicies(ctx, &iam.ListPoliciesInput{Scope: types.PolicyScopeTypeAws}))
	if len(awsPolicies.Policies) != 3 {
		t.Fatalf("AWS-managed policies = %d, want 3", len(awsPolicies.Policies))
	}
	gp := testenv.Must[*iam.GetPolicyOutput](t)(admin.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: aws.String("arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup")}))
	if aws.ToInt32(gp.Policy.AttachmentCount) != 1 {
		t.Fatalf("AttachmentCount = %d", aws.ToInt32(gp.Policy.AttachmentCount))
	}
	_, err := admin.DeletePolicy(ctx, &iam.DeletePolicyInput{PolicyArn: aws.String("arn:aws:iam::aws:policy/AdministratorAccess")})
	testenv.WantAPIError(t, err, "UnmodifiableEntity", "AWS managed policy")

	// A customer-managed policy.
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Decrypt","Resource":"arn:aws:kms:*:111222333444:key/*"}]}`
	p := testenv.Must[*iam.CreatePolicyOutput](t)(admin.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("use-source-key"), PolicyDocument: aws.String(doc)}))
	parn := aws.ToString(p.Policy.Arn)
	if parn != "arn:aws:iam::"+acct+":policy/use-source-key" || aws.ToString(p.Policy.DefaultVersionId) != "v1" {
		t.Fatalf("policy = %+v", p.Policy)
	}
	v := testenv.Must[*iam.GetPolicyVersionOutput](t)(admin.GetPolicyVersion(ctx, &iam.GetPolicyVersionInput{PolicyArn: aws.String(parn), VersionId: aws.String("v1")}))
	if d, _ := url.QueryUnescape(aws.ToString(v.PolicyVersion.Document)); d != doc || !v.PolicyVersion.IsDefaultVersion {
		t.Fatalf("version = %+v", v.PolicyVersion)
	}
	testenv.Must[*iam.AttachRolePolicyOutput](t)(admin.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String("backup-role"), PolicyArn: aws.String(parn)}))
	att := testenv.Must[*iam.ListAttachedRolePoliciesOutput](t)(admin.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: aws.String("backup-role")}))
	if len(att.AttachedPolicies) != 3 {
		t.Fatalf("attached = %+v", att.AttachedPolicies)
	}
	_, err = admin.DeletePolicy(ctx, &iam.DeletePolicyInput{PolicyArn: aws.String(parn)})
	testenv.WantAPIError(t, err, "DeleteConflict", "attached")
	_, err = admin.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: aws.String("backup-role")})
	testenv.WantAPIError(t, err, "DeleteConflict", "must detach all policies first")
	_, err = admin.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String("backup-role"), PolicyArn: aws.String("arn:aws:iam::aws:policy/NoSuchPolicy")})
	testenv.WantAPIError(t, err, "NoSuchEntity", "does not exist or is not attachable")
	// Another account's policy cannot be read or attached.
	_, err = iam.NewFromConfig(c.AWSConfig(t, c.Profile(t, "source"))).GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: aws.String(parn)})
	testenv.WantAPIError(t, err, "AccessDenied", "because no resource-based policy allows the iam:GetPolicy action")

	// Tags.
	testenv.Must[*iam.TagRoleOutput](t)(admin.TagRole(ctx, &iam.TagRoleInput{RoleName: aws.String("backup-role"), Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("prod")}}}))
	testenv.Must[*iam.UntagRoleOutput](t)(admin.UntagRole(ctx, &iam.UntagRoleInput{RoleName: aws.String("backup-role"), TagKeys: []string{"k"}}))
	tags := testenv.Must[*iam.ListRoleTagsOutput](t)(admin.ListRoleTags(ctx, &iam.ListRoleTagsInput{RoleName: aws.String("backup-role")}))
	if len(tags.Tags) != 1 || aws.ToString(tags.Tags[0].Key) != "env" {
		t.Fatalf("tags = %+v", tags.Tags)
	}

	// Detach everything, then delete.
	for _, a := range att.AttachedPolicies {
		testenv.Must[*iam.DetachRolePolicyOutput](t)(admin.DetachRolePolicy(ctx, &iam.DetachRolePolicyInput{RoleName: aws.String("backup-role"), PolicyArn: a.PolicyArn}))
	}
	testenv.Must[*iam.DeletePolicyOutput](t)(admin.DeletePolicy(ctx, &iam.DeletePolicyInput{PolicyArn: aws.String(parn)}))
	testenv.Must[*iam.DeleteRoleOutput](t)(admin.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: aws.String("backup-role")}))
	roles := testenv.Must[*iam.ListRolesOutput](t)(admin.ListRoles(ctx, &iam.ListRolesInput{}))
	for _, r := range roles.Roles {
		if aws.ToString(r.RoleName) == "backup-role" {
			t.Fatal("deleted role still listed")
		}
	}
}

// Bad policies get AWS's codes, clear messages, and leave nothing behind.
func TestPolicyValidation(t *testing.T) {
	c := testenv.StartSeed(t, nil)
	ctx := context.Background()
	admin := iam.NewFromConfig(c.AWSConfig(t, c.Profile(t, "source")))
	testenv.Must[*iam.CreateUserOutput](t)(admin.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("dave")}))
	big := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::` + strings.Repeat("a", 2100) + `"}]}`
	inline := []struct{ name, doc, code, msg string }{
		{"not JSON", `{"Version":`, "MalformedPolicyDocument", "Syntax errors in policy."},
		{"missing Effect", `{"Version":"2012-10-17","Statement":[{"Action":"*","Resource":"*"}]}`, "MalformedPolicyDocument", "Missing required field Effect"},
		{"unknown operator", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEqualz":{"aws:username":"x"}}}]}`, "MalformedPolicyDocument", "StringEqualz"},
		{"principal in identity policy", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]}`, "MalformedPolicyDocument", "should not specify a principal"},
		{"over 2048 characters", big, "LimitExceeded", "Maximum policy size of 2048 bytes exceeded for user dave"},
	}
	for _, tt := range inline {
		t.Run("user policy/"+tt.name, func(t *testing.T) {
			_, err := admin.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("dave"), PolicyName: aws.String("p"), PolicyDocument: aws.String(tt.doc)})
			testenv.WantAPIError(t, err, tt.code, tt.msg)
		})
	}
	if l := testenv.Must[*iam.ListUserPoliciesOutput](t)(admin.ListUserPolicies(ctx, &iam.ListUserPoliciesInput{UserName: aws.String("dave")})); len(l.PolicyNames) != 0 {
		t.Fatalf("a rejected policy was stored: %v", l.PolicyNames)
	}
	trusts := []struct{ name, doc, code, msg string }{
		{"unknown user principal", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111222333444:user/nobody"},"Action":"sts:AssumeRole"}]}`, "MalformedPolicyDocument", `Invalid principal in policy: "AWS":"arn:aws:iam::111222333444:user/nobody"`},
		{"unknown account", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"210987654321"},"Action":"sts:AssumeRole"}]}`, "MalformedPolicyDocument", "Invalid principal in policy"},
		{"bad principal", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"bob"},"Action":"sts:AssumeRole"}]}`, "MalformedPolicyDocument", "Invalid principal in policy"},
		{"non-sts action", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"111222333444"},"Action":"s3:GetObject"}]}`, "MalformedPolicyDocument", "AssumeRole policy may only specify STS AssumeRole actions."},
		{"resource in trust policy", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"111222333444"},"Action":"sts:AssumeRole","Resource":"*"}]}`, "MalformedPolicyDocument", "Has prohibited field Resource"},
	}
	for _, tt := range trusts {
		t.Run("trust policy/"+tt.name, func(t *testing.T) {
			_, err := admin.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("r"), AssumeRolePolicyDocument: aws.String(tt.doc)})
			testenv.WantAPIError(t, err, tt.code, tt.msg)
		})
	}
	_, err := admin.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("r")})
	testenv.WantAPIError(t, err, "NoSuchEntity", "cannot be found")
	_, err = admin.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("no spaces")})
	testenv.WantAPIError(t, err, "ValidationError", "userName")
	_, err = admin.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("big"), PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::` + strings.Repeat("a", 6200) + `"}]}`)})
	testenv.WantAPIError(t, err, "LimitExceeded", "PolicySize: 6144")
}

// The AWS CLI v2 drives IAM end to end; it decodes policy documents.
func TestCLI(t *testing.T) {
	cli := testenv.AWSCLIv2(t)
	c := testenv.StartSeed(t, nil)
	run := func(args ...string) string {
		t.Helper()
		out, err := runCLI(cli, c, "source", args...)
		if err != nil {
			t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	run("iam", "create-role", "--role-name", "cli-role", "--assume-role-policy-document",
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"666777888999"},"Action":"sts:AssumeRole"}]}`)
	out := run("iam", "get-role", "--role-name", "cli-role", "--query", "Role.AssumeRolePolicyDocument.Statement[0].Principal.AWS", "--output", "text")
	if strings.TrimSpace(out) != "666777888999" {
		t.Fatalf("decoded principal = %q", out)
	}
	out = run("iam", "list-roles", "--query", "Roles[].RoleName", "--output", "text")
	if !strings.Contains(out, "cli-role") {
		t.Fatalf("list-roles = %q", out)
	}
	out, err := runCLI(cli, c, "source", "iam", "create-role", "--role-name", "bad", "--assume-role-policy-document", `{"Statement":[]`)
	if err == nil || !strings.Contains(out, "MalformedPolicyDocument") {
		t.Fatalf("malformed trust policy: %v\n%s", err, out)
	}
}
