// Package memo keeps answers read from the metadata store for a short
// while. Hot paths (authenticating a request, resolving its caller's
// policies, loading the KMS key it names) read rows that rarely change;
// a Cache keeps each answer for TTL and forgets them all as soon as this
// process writes (writes go through a Store, which bumps the generation).
// Another coffer node sharing the database sees a change within TTL, as
// IAM and KMS changes reach all of AWS within seconds.
package memo

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coffer-dev/coffer/internal/meta"
)

// TTL is how long an answer is kept.
const TTL = time.Second

// maxEntries bounds a cache; a full cache starts over.
const maxEntries = 8192

// Cache maps keys to values read at a generation.
type Cache[V any] struct {
	gen     *atomic.Uint64
	mu      sync.Mutex
	entries map[string]entry[V]
}

type entry[V any] struct {
	gen uint64
	at  time.Time
	val V
}

// New returns a cache whose entries go stale when gen changes.
func New[V any](gen *atomic.Uint64) *Cache[V] {
	return &Cache[V]{gen: gen, entries: map[string]entry[V]{}}
}

// Get returns the value for key if it is fresh at now.
func (c *Cache[V]) Get(key string, now time.Time) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || e.gen != c.gen.Load() || now.Sub(e.at) > TTL || now.Before(e.at) {
		var zero V
		return zero, false
	}
	return e.val, true
}

// Put stores val computed at generation gen (read before computing it, so
// that a write during the computation makes the entry stale at once).
func (c *Cache[V]) Put(key string, gen uint64, now time.Time, val V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= maxEntries {
		clear(c.entries)
	}
	c.entries[key] = entry[V]{gen: gen, at: now, val: val}
}

// Store is a metadata store whose every write bumps Gen, making the
// caches built on Gen stale.
type Store struct {
	meta.Store
	Gen *atomic.Uint64
}

func (w Store) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	defer w.Gen.Add(1)
	return w.Store.ExecContext(ctx, query, args...)
}

func (w Store) InTx(ctx context.Context, fn func(q meta.Querier) error) error {
	defer w.Gen.Add(1)
	return w.Store.InTx(ctx, fn)
}
