package identity_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/coffer-dev/coffer/internal/identity"
	"github.com/coffer-dev/coffer/internal/meta/sqlite"
	"github.com/coffer-dev/coffer/internal/rootkey"
	"github.com/coffer-dev/coffer/internal/sigv4"
)

// A change made through one node takes effect there at once, and on
// another node sharing the store within the cache's lifetime.
func TestCacheAcrossNodes(t *testing.T) {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	keys, _ := rootkey.NewLocal(make([]byte, 32))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, b := identity.New(store, keys, log), identity.New(store, keys, log)
	if _, err := a.ApplyBootstrap(ctx, identity.Bootstrap{
		Accounts: []identity.BootstrapAccount{{ID: member, Name: "a"}},
		Users:    []identity.BootstrapUser{{Account: member, Name: "admin", AccessKeyID: "AKIAMEMBER0000000001", SecretAccessKey: "secret-secret-secret"}},
	}); err != nil {
		t.Fatal(err)
	}
	_, p, err := a.Authenticate(ctx, "AKIAMEMBER0000000001")
	if err != nil {
		t.Fatal(err)
	}
	admin := identity.WithCaller(ctx, p)
	k, err := a.CreateAccessKey(admin, "admin")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []*identity.Service{a, b} {
		if _, _, err := n.Authenticate(ctx, k.AccessKeyID); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.DeleteAccessKey(admin, "admin", k.AccessKeyID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Authenticate(ctx, k.AccessKeyID); !errors.Is(err, sigv4.ErrUnknownAccessKey) {
		t.Fatalf("deleting node still accepts the key: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, _, err := b.Authenticate(ctx, k.AccessKeyID)
		if errors.Is(err, sigv4.ErrUnknownAccessKey) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the other node still accepts a deleted key: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
