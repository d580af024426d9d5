package vaultstore_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coffer-dev/coffer/internal/blob"
	"github.com/coffer-dev/coffer/internal/blob/fs"
	"github.com/coffer-dev/coffer/internal/vaultstore"
	"github.com/coffer-dev/coffer/internal/vaultstore/dumpgen"
	"github.com/coffer-dev/coffer/internal/vaultstore/localkeys"
)

// fullDisk is a directory store whose writes fail with ENOSPC once full
// is set, as a full disk does.
type fullDisk struct {
	*fs.Store
	full   atomic.Bool
	budget atomic.Int64 // creates allowed before the disk is full (<0: no limit)
}

func (d *fullDisk) isFull() bool {
	return d.full.Load() || d.budget.Add(-1) < 0 && d.budget.Load() > -1<<40
}

func (d *fullDisk) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	if d.full.Load() {
		return &blobErr{name}
	}
	return d.Store.Put(ctx, name, r, size)
}

func (d *fullDisk) Create(ctx context.Context, name string, r io.Reader, size int64) error {
	if d.isFull() {
		return &blobErr{name}
	}
	return d.Store.Create(ctx, name, r, size)
}

type blobErr struct{ name string }

func (e *blobErr) Error() string { return "write " + e.name + ": " + syscall.ENOSPC.Error() }
func (e *blobErr) Unwrap() error { return syscall.ENOSPC }

type oneStore struct{ s blob.Store }

func (o oneStore) Store(string) (blob.Store, error) { return o.s, nil }

func TestFullDisk(t *testing.T) {
	ctx := context.Background()
	base, err := fs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	disk := &fullDisk{Store: base}
	disk.budget.Store(-1 << 50)
	now := time.Now()
	e, err := vaultstore.Open(openSQLite(t), localkeys.New(), oneStore{disk}, vaultstore.Options{PackSize: 1 << 20, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	d := vaultstore.Domain{Region: "us-east-1", Vault: "v", KeyARN: "arn:aws:kms:us-east-1:111122223333:key/k"}
	v1, _ := io.ReadAll(dumpgen.Reader(dumpgen.Base, 4<<20))
	w, _ := e.NewWriter(ctx, d, nil)
	w.Write(v1)
	id1, _, err := w.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	committed := countObjects(t, disk)
	// The disk fills up in the middle of the next backup.
	w, _ = e.NewWriter(ctx, d, nil)
	v2, _ := io.ReadAll(dumpgen.Reader(dumpgen.Random, 6<<20))
	// One more pack fits.
	disk.budget.Store(1)
	_, werr := w.Write(v2)
	_, _, err = w.Commit(ctx)
	if err == nil || !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("commit on a full disk: %v (write: %v)", err, werr)
	}
	if _, err := e.Stat(ctx, w.ID()); !errors.Is(err, vaultstore.ErrNotFound) {
		t.Fatalf("failed recovery point is visible: %v", err)
	}
	disk.budget.Store(-1 << 50)
	r, err := e.OpenReader(ctx, id1)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, v1) {
		t.Fatalf("committed recovery point damaged: %v", err)
	}
	// The failed backup's packs went with it, at once, without GC.
	if after := countObjects(t, disk); after != committed {
		t.Fatalf("the failed backup left %d packs (%d before it)", after, committed)
	}
	now = now.Add(3 * time.Hour)
	if _, err := e.GC(ctx, "", "", vaultstore.GCOptions{}); err != nil {
		t.Fatal(err)
	}
	rep, err := e.Verify(ctx, vaultstore.VerifyOptions{DataPercent: 100})
	if err != nil || !rep.OK() {
		t.Fatalf("verify: %+v %v", rep, err)
	}
}

func countObjects(t *testing.T, s blob.Store) int {
	n := 0
	s.List(context.Background(), "", func(fi blob.Info) error {
		if strings.Contains(fi.Name, "/data/") {
			n++
		}
		return nil
	})
	return n
}
