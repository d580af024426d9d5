package vaultstore

import (
	"context"
	"fmt"
	"sort"

	"github.com/coffer-dev/coffer/internal/meta"
)

// maxBatch bounds the chunk IDs in one statement.
const maxBatch = 200

// checkLease renews a writer's lease inside a transaction and fails with
// ErrLeaseExpired when it already ran out (or GC dropped it): a fenced
// writer can no longer add references or commit.
func (e *Engine) checkLease(ctx context.Context, q meta.Querier, mid ManifestID) error {
	now := e.now()
	res, err := q.ExecContext(ctx, `UPDATE vs_manifests SET lease_expires = ? WHERE manifest_id = ? AND state = 'writing' AND lease_expires > ?`,
		now+e.o.Lease.Nanoseconds(), string(mid), now)
	if err != nil {
		return fmt.Errorf("renew lease: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrLeaseExpired
	}
	return nil
}

func insertRefs(ctx context.Context, q meta.Querier, ds *domainState, mid ManifestID, ids []ChunkID) error {
	for len(ids) > 0 {
		n := min(len(ids), maxBatch)
		args := make([]any, 0, 2*n)
		for _, id := range ids[:n] {
			args = append(args, id[:], string(mid))
		}
		vals := placeholders(2)
		stmt := `INSERT INTO vs_refs (chunk_id, manifest_id) VALUES (` + vals + `)` + repeatValues(vals, n-1) + ` ON CONFLICT DO NOTHING`
		if _, err := q.ExecContext(ctx, stmt, args...); err != nil {
			return fmt.Errorf("record chunk references: %w", err)
		}
		ids = ids[n:]
	}
	return nil
}

func repeatValues(vals string, n int) string {
	s := ""
	for i := 0; i < n; i++ {
		s += ", (" + vals + ")"
	}
	return s
}

func idArgs(ids []ChunkID) []any {
	a := make([]any, len(ids))
	for i, id := range ids {
		a[i] = id[:]
	}
	return a
}

// reuse looks ids up among the domain's live packs, then locks the packs
// that hold them (so GC cannot condemn them in between) and records
// references for the manifest, in one transaction with the lease check.
// It returns the IDs found. The look-up is a read of its own: most
// chunks of a first backup are new, and a batch without a hit costs no
// write transaction. The lock re-checks that each pack is still live, so
// a pack condemned since the look-up only turns its chunks into misses.
func (e *Engine) reuse(ctx context.Context, ds *domainState, mid ManifestID, ids []ChunkID) (map[ChunkID]bool, error) {
	found := map[ChunkID]bool{}
	where, err := e.livePacks(ctx, ds, ids)
	if err != nil || len(where) == 0 {
		return found, err
	}
	packs := make([]string, 0, len(where))
	for p := range where {
		packs = append(packs, p)
	}
	sort.Strings(packs)
	err = e.db.InTx(ctx, func(q meta.Querier) error {
		clear(found)
		if err := e.checkLease(ctx, q, mid); err != nil {
			return err
		}
		args := []any{ds.id.String()}
		for _, p := range packs {
			args = append(args, p)
		}
		rows, err := q.QueryContext(ctx, `UPDATE vs_packs SET lock_seq = lock_seq + 1 WHERE domain_id = ? AND state = 'live' AND pack IN (`+placeholders(len(packs))+`) RETURNING pack`, args...)
		if err != nil {
			return err
		}
		var refs []ChunkID
		for rows.Next() {
			var p string
			if err := rows.Scan(&p); err != nil {
				rows.Close()
				return err
			}
			for _, id := range where[p] {
				if !found[id] {
					found[id] = true
					refs = append(refs, id)
				}
			}
		}
		if err := rows.Close(); err != nil {
			return err
		}
		return insertRefs(ctx, q, ds, mid, refs)
	})
	return found, err
}

// livePacks finds which of ids the domain's live packs hold, by pack.
func (e *Engine) livePacks(ctx context.Context, ds *domainState, ids []ChunkID) (map[string][]ChunkID, error) {
	args := append([]any{ds.id.String()}, idArgs(ids)...)
	rows, err := e.db.QueryContext(ctx, `SELECT c.chunk_id, c.pack FROM vs_chunks c JOIN vs_packs p ON p.domain_id = c.domain_id AND p.pack = c.pack
		WHERE c.domain_id = ? AND p.state = 'live' AND c.chunk_id IN (`+placeholders(len(ids))+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("look up chunks: %w", err)
	}
	where := map[string][]ChunkID{}
	for rows.Next() {
		var b []byte
		var pack string
		if err := rows.Scan(&b, &pack); err != nil {
			rows.Close()
			return nil, err
		}
		var id ChunkID
		copy(id[:], b)
		where[pack] = append(where[pack], id)
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	return where, nil
}

// registerPack records a pack about to be uploaded (state uploading),
// so that GC tells it from the leftover of a crashed upload: it deletes
// uploading packs only when their owner (a writer's manifest or a
// collector) is gone.
func (e *Engine) registerPack(ctx context.Context, ds *domainState, owner, pack string, size int64) error {
	_, err := e.db.ExecContext(ctx, `INSERT INTO vs_packs (domain_id, pack, size, state, created_at, owner) VALUES (?, ?, ?, 'uploading', ?, ?)`,
		ds.id.String(), pack, size, e.now(), owner)
	if err != nil {
		return fmt.Errorf("register pack %s: %w", pack, err)
	}
	return nil
}

// addPack makes an uploaded pack live, indexes its chunks and records
// the writer's references to them (mid "" for a repack).
func (e *Engine) addPack(ctx context.Context, ds *domainState, mid ManifestID, pack string, es []Entry) error {
	return e.db.InTx(ctx, func(q meta.Querier) error {
		if mid != "" {
			if err := e.checkLease(ctx, q, mid); err != nil {
				return err
			}
		}
		res, err := q.ExecContext(ctx, `UPDATE vs_packs SET state = 'live', created_at = ? WHERE domain_id = ? AND pack = ? AND state = 'uploading'`,
			e.now(), ds.id.String(), pack)
		if err != nil {
			return fmt.Errorf("index pack %s: %w", pack, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("index pack %s: %w", pack, ErrLeaseExpired)
		}
		if err := insertChunks(ctx, q, ds, pack, es); err != nil {
			return err
		}
		if mid == "" {
			return nil
		}
		ids := make([]ChunkID, len(es))
		for i, en := range es {
			ids[i] = en.ID
		}
		return insertRefs(ctx, q, ds, mid, ids)
	})
}

func insertPack(ctx context.Context, q meta.Querier, ds *domainState, pack string, size int64, es []Entry, now int64) error {
	if _, err := q.ExecContext(ctx, `INSERT INTO vs_packs (domain_id, pack, size, state, created_at) VALUES (?, ?, ?, 'live', ?) ON CONFLICT DO NOTHING`,
		ds.id.String(), pack, size, now); err != nil {
		return fmt.Errorf("index pack %s: %w", pack, err)
	}
	return insertChunks(ctx, q, ds, pack, es)
}

func insertChunks(ctx context.Context, q meta.Querier, ds *domainState, pack string, es []Entry) error {
	for len(es) > 0 {
		n := min(len(es), maxBatch)
		args := make([]any, 0, 7*n)
		for _, en := range es[:n] {
			args = append(args, ds.id.String(), en.ID[:], pack, en.Offset, en.Length, en.RawLen, int(en.Flags))
		}
		vals := placeholders(7)
		if _, err := q.ExecContext(ctx, `INSERT INTO vs_chunks (domain_id, chunk_id, pack, pack_offset, length, raw_length, flags) VALUES (`+vals+`)`+
			repeatValues(vals, n-1)+` ON CONFLICT DO NOTHING`, args...); err != nil {
			return fmt.Errorf("index pack %s: %w", pack, err)
		}
		es = es[n:]
	}
	return nil
}

// location is where a chunk can be read.
type location struct {
	Entry
	Pack string
}

// locate finds a readable copy (live first, else condemned) of each ID.
func (e *Engine) locate(ctx context.Context, ds *domainState, ids []ChunkID) (map[ChunkID]location, error) {
	out := make(map[ChunkID]location, len(ids))
	live := map[ChunkID]bool{}
	for len(ids) > 0 {
		n := min(len(ids), maxBatch)
		args := append([]any{ds.id.String()}, idArgs(ids[:n])...)
		rows, err := e.db.QueryContext(ctx, `SELECT c.chunk_id, c.pack, c.pack_offset, c.length, c.raw_length, c.flags, p.state
			FROM vs_chunks c JOIN vs_packs p ON p.domain_id = c.domain_id AND p.pack = c.pack
			WHERE c.domain_id = ? AND p.state IN ('live', 'condemned') AND c.chunk_id IN (`+placeholders(n)+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("look up chunks: %w", err)
		}
		for rows.Next() {
			var b []byte
			var l location
			var flags int
			var state string
			if err := rows.Scan(&b, &l.Pack, &l.Offset, &l.Length, &l.RawLen, &flags, &state); err != nil {
				rows.Close()
				return nil, err
			}
			copy(l.ID[:], b)
			l.Flags = byte(flags)
			if _, ok := out[l.ID]; ok && (live[l.ID] || state != "live") {
				continue
			}
			out[l.ID] = l
			live[l.ID] = state == "live"
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
		ids = ids[n:]
	}
	return out, nil
}
