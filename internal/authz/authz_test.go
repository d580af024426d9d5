package authz_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coffer-dev/coffer/internal/authz"
	"github.com/coffer-dev/coffer/internal/awserr"
	"github.com/coffer-dev/coffer/internal/identity"
	"github.com/coffer-dev/coffer/internal/meta/sqlite"
	"github.com/coffer-dev/coffer/internal/policy"
	"github.com/coffer-dev/coffer/internal/reqctx"
	"github.com/coffer-dev/coffer/internal/rootkey"
)

func TestAuthorize(t *testing.T) {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	keys, _ := rootkey.NewLocal(make([]byte, 32))
	ids := identity.New(store, keys, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if _, err := ids.ApplyBootstrap(ctx, identity.Bootstrap{
		Organizations: []identity.BootstrapOrg{{ManagementAccount: "111122223333", Members: []string{"444455556666"}}},
		Accounts:      []identity.BootstrapAccount{{ID: "111122223333", Name: "a"}, {ID: "444455556666", Name: "b"}},
		Users: []identity.BootstrapUser{
			{Account: "111122223333", Name: "admin", AccessKeyID: "AKIAADMIN00000000001", SecretAccessKey: "secret-secret-secret"},
			{Account: "444455556666", Name: "admin", AccessKeyID: "AKIAADMIN00000000002", SecretAccessKey: "secret-secret-secret"},
		},
	}); err != nil {
		t.Fatal(err)
	}
	caller := func(key string) context.Context {
		_, p, err := ids.Authenticate(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		return identity.WithCaller(ctx, p)
	}
	a := authz.New(ids)
	vaultPolicy := policy.MustParse(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"backup:CopyIntoBackupVault","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalOrgID":"` + orgOf(t, ids, caller("AKIAADMIN00000000001")) + `"}}}]}`)
	vault := "arn:aws:backup:us-east-1:111122223333:backup-vault:v"
	tests := []struct {
		name    string
		ctx     context.Context
		req     authz.Request
		wantErr string
	}{
		{"admin in own account", caller("AKIAADMIN00000000001"), authz.Request{Action: "backup:DeleteBackupVault", Resource: vault}, ""},
		{"other account without resource policy", caller("AKIAADMIN00000000002"), authz.Request{Action: "backup:DeleteBackupVault", Resource: vault},
			"User: arn:aws:iam::444455556666:user/admin is not authorized to perform: backup:DeleteBackupVault on resource: " + vault + " because no resource-based policy allows the backup:DeleteBackupVault action"},
		{"org member copies in", caller("AKIAADMIN00000000002"), authz.Request{Action: "backup:CopyIntoBackupVault", Resource: vault, ResourcePolicy: vaultPolicy}, ""},
		{"no caller", ctx, authz.Request{Action: "backup:ListBackupVaults", Resource: "*"}, "Authentication Token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := a.Authorize(tt.ctx, tt.req)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("denied: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(awserr.As(err).Message, tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// aws:SecureTransport and aws:SourceIp come from the request's connection.
func TestRequestFacts(t *testing.T) {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	keys, _ := rootkey.NewLocal(make([]byte, 32))
	ids := identity.New(store, keys, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if _, err := ids.ApplyBootstrap(ctx, identity.Bootstrap{
		Accounts: []identity.BootstrapAccount{{ID: "111122223333", Name: "a"}},
		Users:    []identity.BootstrapUser{{Account: "111122223333", Name: "admin", AccessKeyID: "AKIAADMIN00000000001", SecretAccessKey: "secret-secret-secret"}},
	}); err != nil {
		t.Fatal(err)
	}
	_, p, err := ids.Authenticate(ctx, "AKIAADMIN00000000001")
	if err != nil {
		t.Fatal(err)
	}
	denyInsecure := policy.MustParse(`{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"backup:*","Resource":"*"},
		{"Effect":"Deny","Principal":"*","Action":"backup:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}},
		{"Effect":"Deny","Principal":"*","Action":"backup:*","Resource":"*","Condition":{"NotIpAddress":{"aws:SourceIp":"127.0.0.0/8"}}}]}`)
	a := authz.New(ids)
	tests := []struct {
		name    string
		call    reqctx.Call
		allowed bool
	}{
		{"tls from loopback", reqctx.Call{SecureTransport: true, SourceIP: "127.0.0.1"}, true},
		{"plain http", reqctx.Call{SecureTransport: false, SourceIP: "127.0.0.1"}, false},
		{"tls from elsewhere", reqctx.Call{SecureTransport: true, SourceIP: "203.0.113.9"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			call := tt.call
			c := reqctx.WithCall(identity.WithCaller(ctx, p), &call)
			err := a.Authorize(c, authz.Request{Action: "backup:DescribeBackupVault", Resource: "arn:aws:backup:us-east-1:111122223333:backup-vault:v", ResourcePolicy: denyInsecure})
			if (err == nil) != tt.allowed {
				t.Fatalf("allowed = %v (%v), want %v", err == nil, err, tt.allowed)
			}
		})
	}
}

func orgOf(t *testing.T, ids *identity.Service, ctx context.Context) string {
	sub, err := ids.Subject(ctx)
	if err != nil || sub.Principal.OrgID == "" {
		t.Fatalf("no organization: %v", err)
	}
	return sub.Principal.OrgID
}
