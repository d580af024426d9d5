package memo

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coffer-dev/coffer/internal/meta"
	"github.com/coffer-dev/coffer/internal/meta/sqlite"
)

func TestCacheFreshness(t *testing.T) {
	var gen atomic.Uint64
	c := New[string](&gen)
	t0 := time.Unix(1000, 0)
	if _, ok := c.Get("k", t0); ok {
		t.Fatal("empty cache answered")
	}
	c.Put("k", gen.Load(), t0, "v")
	if v, ok := c.Get("k", t0.Add(TTL)); !ok || v != "v" {
		t.Fatalf("fresh entry: %q %v", v, ok)
	}
	if _, ok := c.Get("k", t0.Add(TTL+time.Nanosecond)); ok {
		t.Fatal("entry older than TTL answered")
	}
	if _, ok := c.Get("k", t0.Add(-time.Second)); ok {
		t.Fatal("entry from the future (clock stepped back) answered")
	}
	gen.Add(1)
	if _, ok := c.Get("k", t0); ok {
		t.Fatal("entry answered after a write")
	}
	// A value computed while a write happened is stale at once.
	before := gen.Load()
	gen.Add(1)
	c.Put("k", before, t0, "old")
	if _, ok := c.Get("k", t0); ok {
		t.Fatal("entry computed across a write answered")
	}
}

func TestCacheBounded(t *testing.T) {
	var gen atomic.Uint64
	c := New[int](&gen)
	now := time.Now()
	for i := range maxEntries + 10 {
		c.Put(string(rune(i)), 0, now, i)
	}
	if len(c.entries) > maxEntries {
		t.Fatalf("%d entries, bound %d", len(c.entries), maxEntries)
	}
}

func TestStoreWritesBumpGeneration(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var gen atomic.Uint64
	s := Store{Store: db, Gen: &gen}
	s.QueryRowContext(ctx, `SELECT 1`).Scan(new(int))
	if gen.Load() != 0 {
		t.Fatal("a read bumped the generation")
	}
	s.ExecContext(ctx, `CREATE TABLE memo_t (x INTEGER)`)
	if gen.Load() != 1 {
		t.Fatalf("after ExecContext: %d", gen.Load())
	}
	s.InTx(ctx, func(q meta.Querier) error {
		_, err := q.ExecContext(ctx, `INSERT INTO memo_t VALUES (1)`)
		return err
	})
	if gen.Load() != 2 {
		t.Fatalf("after InTx: %d", gen.Load())
	}
}
