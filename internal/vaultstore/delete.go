package vaultstore

import (
	"context"
	"fmt"

	"github.com/coffer-dev/coffer/internal/meta"
)

// DeleteManifest deletes a committed recovery point's manifest; GC later
// reclaims the chunks no other manifest uses. It refuses with
// ErrProtected while the Protector says a vault lock or legal hold
// protects it. Deleting needs no KMS permission.
func (e *Engine) DeleteManifest(ctx context.Context, id ManifestID) error {
	info, ds, err := e.manifestRow(ctx, id)
	if err != nil {
		return err
	}
	if e.o.Protector != nil {
		p, err := e.o.Protector.Protected(ctx, info.Domain, id)
		if err != nil {
			return fmt.Errorf("check protection of recovery point %s: %w", id, err)
		}
		if p {
			return fmt.Errorf("%w: %s", ErrProtected, id)
		}
	}
	res, err := e.db.ExecContext(ctx, `UPDATE vs_manifests SET state = 'deleting' WHERE manifest_id = ? AND state = 'committed'`, string(id))
	if err != nil {
		return fmt.Errorf("delete recovery point %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return e.finishDelete(ctx, ds, id)
}

// finishDelete removes a manifest in state deleting: first its object (so
// rebuild-index cannot bring it back), then its row and references. GC
// finishes deletions a crash interrupted.
func (e *Engine) finishDelete(ctx context.Context, ds *domainState, id ManifestID) error {
	if err := ds.store.Delete(ctx, ds.manifestName(id)); err != nil {
		return fmt.Errorf("delete manifest object of %s: %w", id, err)
	}
	return e.db.InTx(ctx, func(q meta.Querier) error {
		if _, err := q.ExecContext(ctx, `DELETE FROM vs_refs WHERE manifest_id = ?`, string(id)); err != nil {
			return err
		}
		_, err := q.ExecContext(ctx, `DELETE FROM vs_manifests WHERE manifest_id = ? AND state = 'deleting'`, string(id))
		return err
	})
}
