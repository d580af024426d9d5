package vaultstore_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/coffer-dev/coffer/internal/blob/fs"
	"github.com/coffer-dev/coffer/internal/vaultstore"
	"github.com/coffer-dev/coffer/internal/vaultstore/dumpgen"
	"github.com/coffer-dev/coffer/internal/vaultstore/localkeys"
)

// TestReleaseOwner: releasing a job's earlier attempts fences out their
// writer (it cannot commit) and deletes its packs at once, but keeps
// every chunk a committed recovery point uses and leaves the current
// attempt alone; an aborted writer's packs go at once too.
func TestReleaseOwner(t *testing.T) {
	ctx := context.Background()
	disk, err := fs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e, err := vaultstore.Open(openSQLite(t), localkeys.New(), oneStore{disk}, vaultstore.Options{PackSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	d := vaultstore.Domain{Region: "us-east-1", Vault: "v", KeyARN: "arn:aws:kms:us-east-1:111122223333:key/k"}
	shared, _ := io.ReadAll(dumpgen.Reader(dumpgen.Base, 3<<20))
	own, _ := io.ReadAll(dumpgen.Reader(dumpgen.Random, 3<<20))
	// Attempt 1 of job-1 writes data a committed recovery point shares,
	// and data of its own.
	dead, err := e.NewWriter(vaultstore.WithOwner(ctx, "job-1", 1), d, nil)
	if err != nil {
		t.Fatal(err)
	}
	dead.Write(shared)
	dead.Write(own)
	w, _ := e.NewWriter(ctx, d, nil)
	w.Write(shared)
	kept, _, err := w.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Attempt 2 takes the job over, releasing attempt 1 but not itself.
	cur, _ := e.NewWriter(vaultstore.WithOwner(ctx, "job-1", 2), d, nil)
	cur.Write(shared)
	if _, err := e.ReleaseOwner(ctx, "job-1", 2); err != nil {
		t.Fatal(err)
	}
	if _, _, err := dead.Commit(ctx); !errors.Is(err, vaultstore.ErrLeaseExpired) {
		t.Fatalf("commit of a released attempt: %v; want ErrLeaseExpired", err)
	}
	if _, _, err := cur.Commit(ctx); err != nil {
		t.Fatalf("the current attempt was released with the earlier one: %v", err)
	}
	committed := countObjects(t, disk)
	// Attempt 2 fails: its packs go with it.
	failed, _ := e.NewWriter(vaultstore.WithOwner(ctx, "job-1", 2), d, nil)
	failed.Write(own)
	failed.Abort()
	if n := countObjects(t, disk); n != committed {
		t.Errorf("an aborted writer left %d packs beside the %d committed ones", n-committed, committed)
	}
	r, err := e.OpenReader(ctx, kept)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, shared) {
		t.Fatalf("the committed recovery point lost data to the release: %v", err)
	}
	rep, err := e.Verify(ctx, vaultstore.VerifyOptions{DataPercent: 100})
	if err != nil || !rep.OK() {
		t.Fatalf("verify: %+v %v", rep, err)
	}
}
