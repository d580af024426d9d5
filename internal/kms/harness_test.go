package kms_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/coffer-dev/coffer/internal/awserr"
	"github.com/coffer-dev/coffer/internal/blob"
	blobfs "github.com/coffer-dev/coffer/internal/blob/fs"
	"github.com/coffer-dev/coffer/internal/identity"
	"github.com/coffer-dev/coffer/internal/kms"
	"github.com/coffer-dev/coffer/internal/meta/sqlite"
	"github.com/coffer-dev/coffer/internal/reqctx"
	"github.com/coffer-dev/coffer/internal/rootkey"
)

const (
	acctA  = "111122223333"
	acctB  = "444455556666"
	region = "us-east-1"
)

// clock is a settable clock for deletion windows and rotation.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type env struct {
	t     *testing.T
	svc   *kms.Service
	ids   *identity.Service
	clock *clock
	dir   string
	open  func(now func() time.Time) *kms.Service
}

// newEnv builds the KMS domain on a fresh SQLite store with accounts A
// and B, each with an administrator.
func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	store, err := sqlite.Open(ctx, filepath.Join(dir, "coffer.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	root, err := rootkey.NewLocal(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	ids := identity.New(store, root, nil)
	_, err = ids.ApplyBootstrap(ctx, identity.Bootstrap{
		Accounts: []identity.BootstrapAccount{{ID: acctA, Name: "a"}, {ID: acctB, Name: "b"}},
		Users: []identity.BootstrapUser{
			{Account: acctA, Name: "admin", AccessKeyID: "AKIAAAAAAAAAAAAAAAAA", SecretAccessKey: "secret-key-of-account-a"},
			{Account: acctB, Name: "admin", AccessKeyID: "AKIABBBBBBBBBBBBBBBB", SecretAccessKey: "secret-key-of-account-b"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	e := &env{t: t, ids: ids, clock: c, dir: dir}
	e.open = func(now func() time.Time) *kms.Service {
		return kms.New(kms.Options{Store: store, RootKey: root, Authorizer: ids.Authorizer(), Now: now,
			RegionStore: func(r string) (blob.Store, error) { return blobfs.New(filepath.Join(dir, "regions", r, "kms")) }})
	}
	e.svc = e.open(c.Now)
	return e
}

// as returns a context whose caller is the user with the access key.
func (e *env) as(accessKeyID string) context.Context {
	e.t.Helper()
	ctx := context.Background()
	_, p, err := e.ids.Authenticate(ctx, accessKeyID)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx = identity.WithCaller(ctx, p)
	return reqctx.WithCall(ctx, &reqctx.Call{Region: region})
}

func (e *env) adminA() context.Context { return e.as("AKIAAAAAAAAAAAAAAAAA") }
func (e *env) adminB() context.Context { return e.as("AKIABBBBBBBBBBBBBBBB") }

// user creates an IAM user in the admin's account with the given inline
// policy (none when doc is empty) and returns its context.
func (e *env) user(admin context.Context, name, doc string) context.Context {
	e.t.Helper()
	if _, err := e.ids.CreateUser(admin, name, "/", nil); err != nil {
		e.t.Fatal(err)
	}
	if doc != "" {
		if err := e.ids.PutEntityPolicy(admin, "user", name, "inline", doc); err != nil {
			e.t.Fatal(err)
		}
	}
	k, err := e.ids.CreateAccessKey(admin, name)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.as(k.AccessKeyID)
}

func (e *env) createKey(ctx context.Context, in *kms.CreateKeyInput) *kms.KeyMetadata {
	e.t.Helper()
	if in == nil {
		in = &kms.CreateKeyInput{}
	}
	m, err := e.svc.CreateKey(ctx, in)
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

// wantCode fails unless err is an AWS error with the code.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	var ae *awserr.Error
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v, want %s", err, code)
	}
	if ae.Code != code {
		t.Fatalf("err = %s: %s, want %s", ae.Code, ae.Message, code)
	}
}
