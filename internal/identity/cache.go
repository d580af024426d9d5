package identity

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coffer-dev/coffer/internal/meta"
)

// Every signed request resolves its access key and, for each
// authorization, its caller's policies: several queries that rarely change
// answers. cache keeps those answers for cacheTTL, and forgets them all
// whenever this process writes to the identity tables (writes go through
// writeStore, which bumps the generation). Another coffer node sharing
// the database sees a change within cacheTTL, as IAM changes reach all of
// AWS within seconds.
const cacheTTL = time.Second

type cache struct {
	gen     *atomic.Uint64
	mu      sync.Mutex
	entries map[string]cacheEntry
}

type cacheEntry struct {
	gen uint64
	at  time.Time
	val any
}

func newCache(gen *atomic.Uint64) *cache {
	return &cache{gen: gen, entries: map[string]cacheEntry{}}
}

func (c *cache) get(key string, now time.Time) (any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || e.gen != c.gen.Load() || now.Sub(e.at) > cacheTTL || now.Before(e.at) {
		return nil, false
	}
	return e.val, true
}

// put stores val computed at generation gen (read before computing it, so
// that a write during the computation makes the entry stale at once).
func (c *cache) put(key string, gen uint64, now time.Time, val any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= 8192 {
		clear(c.entries)
	}
	c.entries[key] = cacheEntry{gen: gen, at: now, val: val}
}

// writeStore is the metadata store as the identity service uses it: every
// write invalidates the caches.
type writeStore struct {
	meta.Store
	gen *atomic.Uint64
}

func (w writeStore) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	defer w.gen.Add(1)
	return w.Store.ExecContext(ctx, query, args...)
}

func (w writeStore) InTx(ctx context.Context, fn func(q meta.Querier) error) error {
	defer w.gen.Add(1)
	return w.Store.InTx(ctx, fn)
}
