package vaultstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/coffer-dev/coffer/internal/meta"
)

// ownerKey carries the owner of the writers a context starts.
type ownerKey struct{}

type owner struct {
	name    string
	attempt int64
}

// WithOwner tags the writers started with ctx (NewWriter, Copy) as
// attempt of owner (a job), so that ReleaseOwner can drop them once the
// attempt is known to be dead.
func WithOwner(ctx context.Context, name string, attempt int64) context.Context {
	return context.WithValue(ctx, ownerKey{}, owner{name, attempt})
}

func ownerOf(ctx context.Context) owner {
	o, _ := ctx.Value(ownerKey{}).(owner)
	return o
}

// ReleaseOwner drops the uncommitted recovery points of owner's attempts
// before attempt (attempts the caller has fenced out, so they can commit
// nothing) and deletes at once the packs that only they used. It returns
// the bytes reclaimed. A writer of a dropped attempt that is still
// running fails at its next index update (its lease row is gone).
func (e *Engine) ReleaseOwner(ctx context.Context, name string, attempt int64) (int64, error) {
	if name == "" {
		return 0, errors.New("vaultstore: release needs an owner")
	}
	rows, err := e.db.QueryContext(ctx, `SELECT manifest_id, domain_id FROM vs_manifests WHERE owner = ? AND state = 'writing' AND owner_attempt < ?`, name, attempt)
	if err != nil {
		return 0, fmt.Errorf("find the writers of %s: %w", name, err)
	}
	type writer struct{ id, dom string }
	var ws []writer
	for rows.Next() {
		var w writer
		if err := rows.Scan(&w.id, &w.dom); err != nil {
			rows.Close()
			return 0, err
		}
		ws = append(ws, w)
	}
	if err := rows.Close(); err != nil {
		return 0, err
	}
	var st GCStats
	for _, w := range ws {
		dropped, err := e.dropWriting(ctx, ManifestID(w.id), 0)
		if err != nil {
			return st.BytesReclaimed, err
		}
		if !dropped {
			continue
		}
		id, err := parseDomainID(w.dom)
		if err != nil {
			return st.BytesReclaimed, err
		}
		ds, err := e.domainByID(ctx, id)
		if err != nil {
			return st.BytesReclaimed, err
		}
		if err := e.release(ctx, ds, ManifestID(w.id), &st); err != nil {
			return st.BytesReclaimed, err
		}
	}
	return st.BytesReclaimed, nil
}

// dropWriting deletes an uncommitted manifest row and its references,
// which fences its writer out; expiredBefore, when not 0, drops it only
// if its lease ran out before then. dropped reports whether it was there.
func (e *Engine) dropWriting(ctx context.Context, id ManifestID, expiredBefore int64) (dropped bool, err error) {
	err = e.db.InTx(ctx, func(q meta.Querier) error {
		stmt, args := `DELETE FROM vs_manifests WHERE manifest_id = ? AND state = 'writing'`, []any{string(id)}
		if expiredBefore != 0 {
			stmt, args = stmt+` AND lease_expires < ?`, append(args, expiredBefore)
		}
		res, err := q.ExecContext(ctx, stmt, args...)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		if dropped = n == 1; !dropped {
			return nil
		}
		_, err = q.ExecContext(ctx, `DELETE FROM vs_refs WHERE manifest_id = ?`, string(id))
		return err
	})
	if err != nil {
		return false, fmt.Errorf("drop uncommitted recovery point %s: %w", id, err)
	}
	return dropped, nil
}

// release deletes what the dropped writer id left: its manifest object,
// if it got as far as writing one, and the packs only it used.
func (e *Engine) release(ctx context.Context, ds *domainState, id ManifestID, st *GCStats) error {
	if err := ds.store.Delete(ctx, ds.manifestName(id)); err != nil {
		return err
	}
	return e.releasePacks(ctx, ds, id, st)
}

// releasePacks deletes, right away, the packs the dropped writer id
// created that no recovery point, committed or being written, refers to.
// No reader can need them (readers read committed recovery points, whose
// chunks are referenced), and the state change takes the pack's row lock
// before the references are counted, as condemn does, so a writer
// reusing one of its chunks either has recorded its reference (the pack
// stays, for GC's usual course) or finds the pack gone and writes the
// chunk anew.
func (e *Engine) releasePacks(ctx context.Context, ds *domainState, id ManifestID, st *GCStats) error {
	dom := ds.id.String()
	packs, err := e.queryStrings(ctx, `SELECT pack FROM vs_packs WHERE domain_id = ? AND owner = ? AND state IN ('live', 'uploading')`, dom, string(id))
	if err != nil {
		return fmt.Errorf("find the packs of %s: %w", id, err)
	}
	for _, p := range packs {
		gone := false
		err := e.db.InTx(ctx, func(q meta.Querier) error {
			gone = false
			res, err := q.ExecContext(ctx, `UPDATE vs_packs SET state = 'deleting' WHERE domain_id = ? AND pack = ? AND state IN ('live', 'uploading')`, dom, p)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return nil
			}
			var used int
			if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM vs_chunks c WHERE c.domain_id = ? AND c.pack = ?
				AND EXISTS (SELECT 1 FROM vs_refs r WHERE r.chunk_id = c.chunk_id)`, dom, p).Scan(&used); err != nil {
				return err
			}
			if used > 0 {
				return errRollback
			}
			gone = true
			_, err = q.ExecContext(ctx, `DELETE FROM vs_chunks WHERE domain_id = ? AND pack = ?`, dom, p)
			return err
		})
		if err != nil && !errors.Is(err, errRollback) {
			return fmt.Errorf("release pack %s: %w", p, err)
		}
		if gone {
			if err := e.removePack(ctx, ds, p, st); err != nil {
				return err
			}
		}
	}
	return nil
}
