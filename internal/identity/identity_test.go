package identity_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	stsapi "github.com/coffer-dev/coffer/internal/api/sts"
	"github.com/coffer-dev/coffer/internal/authz"
	"github.com/coffer-dev/coffer/internal/awserr"
	"github.com/coffer-dev/coffer/internal/identity"
	"github.com/coffer-dev/coffer/internal/meta/sqlite"
	"github.com/coffer-dev/coffer/internal/policy"
	"github.com/coffer-dev/coffer/internal/protocol"
	"github.com/coffer-dev/coffer/internal/rootkey"
	"github.com/coffer-dev/coffer/internal/server"
)

const (
	mgmt   = "123456789012"
	member = "111122223333"
)

type fixture struct {
	ids      *identity.Service
	admin    context.Context // member account's administrator
	mgmtUser context.Context
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	keys, _ := rootkey.NewLocal(make([]byte, 32))
	ids := identity.New(store, keys, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if _, err := ids.ApplyBootstrap(ctx, identity.Bootstrap{
		Organizations: []identity.BootstrapOrg{{ManagementAccount: mgmt, Members: []string{member}}},
		Accounts:      []identity.BootstrapAccount{{ID: mgmt, Name: "m"}, {ID: member, Name: "a"}},
		Users: []identity.BootstrapUser{
			{Account: mgmt, Name: "admin", AccessKeyID: "AKIAMGMT000000000001", SecretAccessKey: "secret-secret-secret"},
			{Account: member, Name: "admin", AccessKeyID: "AKIAMEMBER0000000001", SecretAccessKey: "secret-secret-secret"},
		},
	}); err != nil {
		t.Fatal(err)
	}
	as := func(key string) context.Context {
		_, p, err := ids.Authenticate(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		return identity.WithCaller(ctx, p)
	}
	return &fixture{ids: ids, admin: as("AKIAMEMBER0000000001"), mgmtUser: as("AKIAMGMT000000000001")}
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	var e *awserr.Error
	if !errors.As(err, &e) || e.Code != code {
		t.Fatalf("err = %v, want %s", err, code)
	}
}

// A backup job acts through a role trusting backup.amazonaws.com, with
// that role's permissions; the default service role is created on request
// with the AWS-managed backup policies, which use keys only via services.
func TestServiceRoleSessions(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	role, err := f.ids.EnsureBackupDefaultServiceRole(ctx, member)
	if err != nil {
		t.Fatal(err)
	}
	if role.ARN != "arn:aws:iam::"+member+":role/service-role/AWSBackupDefaultServiceRole" {
		t.Fatalf("role ARN %s", role.ARN)
	}
	again, err := f.ids.EnsureBackupDefaultServiceRole(ctx, member)
	if err != nil || again.RoleID != role.RoleID {
		t.Fatalf("second call: %+v, %v", again, err)
	}
	attached, err := f.ids.ListAttachedPolicies(f.admin, "role", identity.BackupDefaultServiceRoleName)
	if err != nil || len(attached) != 2 {
		t.Fatalf("attached = %+v, %v", attached, err)
	}

	sess, err := f.ids.AssumeRoleForService(ctx, role.ARN, identity.BackupServicePrincipal, "AWSBackup-job-1")
	if err != nil {
		t.Fatal(err)
	}
	if sess.ARN != "arn:aws:sts::"+member+":assumed-role/AWSBackupDefaultServiceRole/AWSBackup-job-1" {
		t.Fatalf("session ARN %s", sess.ARN)
	}
	jobCtx := identity.WithCaller(ctx, sess)
	key := "arn:aws:kms:us-east-1:" + member + ":key/1234abcd-12ab-34cd-56ef-1234567890ab"
	az := f.ids.Authorizer()
	if err := az.Authorize(jobCtx, authz.Request{Action: "kms:Decrypt", Resource: key, Context: map[string][]string{policy.KeyKMSViaService: {"backup.us-east-1.amazonaws.com"}}}); err != nil {
		t.Fatalf("decrypt via backup: %v", err)
	}
	err = az.Authorize(jobCtx, authz.Request{Action: "kms:Decrypt", Resource: key})
	if err == nil || !strings.Contains(err.Error(), "assumed-role/AWSBackupDefaultServiceRole/AWSBackup-job-1 is not authorized to perform: kms:Decrypt") {
		t.Fatalf("direct decrypt: %v", err)
	}

	// Another service, or a role that does not trust backup, is refused.
	_, err = f.ids.AssumeRoleForService(ctx, role.ARN, "rds.amazonaws.com", "x1")
	wantCode(t, err, "AccessDenied")
	oaar := "arn:aws:iam::" + member + ":role/OrganizationAccountAccessRole"
	_, err = f.ids.AssumeRoleForService(ctx, oaar, identity.BackupServicePrincipal, "x1")
	wantCode(t, err, "AccessDenied")
	_, err = f.ids.AssumeRoleForService(ctx, "arn:aws:iam::"+member+":role/nope", identity.BackupServicePrincipal, "x1")
	wantCode(t, err, "AccessDenied")
}

// The caller's subject: organization, path, tags, role policies and the
// session policy as a guard.
func TestSubject(t *testing.T) {
	f := newFixture(t)
	if err := f.ids.TagEntity(f.admin, "user", "admin", []identity.Tag{{Key: "team", Value: "dba"}}); err != nil {
		t.Fatal(err)
	}
	sub, err := f.ids.Subject(f.admin)
	if err != nil {
		t.Fatal(err)
	}
	p := sub.Principal
	if !strings.HasPrefix(p.OrgID, "o-") || len(p.OrgPaths) != 1 || !strings.HasPrefix(p.OrgPaths[0], p.OrgID+"/r-") || p.Tags["team"] != "dba" {
		t.Fatalf("principal = %+v", p)
	}
	// aws:PrincipalTag through the evaluator.
	pol := policy.MustParse(`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalTag/team":"dba"}}}]}`)
	err = f.ids.Authorizer().Authorize(f.admin, authz.Request{Action: "kms:Decrypt", Resource: "*", ResourcePolicy: pol})
	if err == nil || !strings.Contains(err.Error(), "explicit deny in a resource-based policy") {
		t.Fatalf("tag deny: %v", err)
	}

	// The management account's administrator assumes the member's
	// OrganizationAccountAccessRole that bootstrap created, with a session
	// policy.
	ar, err := f.ids.AssumeRole(f.mgmtUser, identity.AssumeRoleInput{RoleARN: "arn:aws:iam::" + member + ":role/OrganizationAccountAccessRole", RoleSessionName: "ops",
		Policy: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:Get*","Resource":"*"}]}`})
	if err != nil {
		t.Fatal(err)
	}
	_, sp, err := f.ids.Authenticate(context.Background(), ar.Credentials.AccessKeyID)
	if err != nil {
		t.Fatal(err)
	}
	sub, err = f.ids.SubjectOf(context.Background(), sp)
	if err != nil {
		t.Fatal(err)
	}
	if sub.Principal.RoleARN != "arn:aws:iam::"+member+":role/OrganizationAccountAccessRole" || len(sub.Identity) != 1 || len(sub.Guards) != 1 || sub.Guards[0].Type != policy.SessionPolicy {
		t.Fatalf("session subject = %+v", sub)
	}
}

// Credentials past their expiry are refused with ExpiredToken.
func TestExpiredSession(t *testing.T) {
	f := newFixture(t)
	past := time.Now().Add(-2 * time.Hour)
	f.ids.SetClock(func() time.Time { return past })
	ar, err := f.ids.AssumeRole(f.mgmtUser, identity.AssumeRoleInput{RoleARN: "arn:aws:iam::" + member + ":role/OrganizationAccountAccessRole", RoleSessionName: "old", DurationSeconds: 900})
	if err != nil {
		t.Fatal(err)
	}
	f.ids.SetClock(time.Now)
	h := server.New(server.Options{Auth: f.ids, Services: []protocol.Service{stsapi.New(f.ids)}, Regions: []string{"us-east-1"}, MaxBodyBytes: 1 << 20,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), RequireAuthorization: true})
	srv := httptest.NewServer(h)
	defer srv.Close()
	cfg, err := awsconfig.LoadDefaultConfig(context.Background(), awsconfig.WithRegion("us-east-1"), awsconfig.WithBaseEndpoint(srv.URL),
		awsconfig.WithRetryMaxAttempts(1), awsconfig.WithSharedConfigFiles([]string{}), awsconfig.WithSharedCredentialsFiles([]string{}),
		awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(ar.Credentials.AccessKeyID, ar.Credentials.SecretAccessKey, ar.Credentials.SessionToken)))
	if err != nil {
		t.Fatal(err)
	}
	_, err = sts.NewFromConfig(cfg).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "ExpiredToken" || !strings.Contains(ae.ErrorMessage(), "expired") {
		t.Fatalf("err = %v, want ExpiredToken", err)
	}
}

// Principals that do not exist are rejected wherever a policy names them.
func TestCheckPrincipals(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		principal string
		ok        bool
	}{
		{`"` + member + `"`, true},
		{`"arn:aws:iam::` + member + `:user/admin"`, true},
		{`"arn:aws:iam::` + member + `:role/OrganizationAccountAccessRole"`, true},
		{`"arn:aws:sts::` + member + `:assumed-role/OrganizationAccountAccessRole/any"`, true},
		{`"arn:aws:iam::` + member + `:user/ghost"`, false},
		{`"arn:aws:iam::` + member + `:role/path/OrganizationAccountAccessRole"`, false},
		{`"222233334444"`, false},
	}
	for _, tt := range tests {
		p := policy.MustParse(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":` + tt.principal + `},"Action":"kms:*","Resource":"*"}]}`)
		err := f.ids.CheckPrincipals(context.Background(), p)
		var up *identity.UnknownPrincipalError
		if tt.ok != (err == nil) || (!tt.ok && !errors.As(err, &up)) {
			t.Errorf("%s: err = %v, want ok=%v", tt.principal, err, tt.ok)
		}
	}
}
