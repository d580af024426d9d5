package pgwal

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/coffer-dev/coffer/internal/vaultstore"
)

// PruneStats report what Prune deleted.
type PruneStats struct {
	BaseBackupsDeleted int
	SegmentsDeleted    int
	Protected          int // kept: a vault lock or legal hold protects them
}

// Prune deletes the base backups and WAL that restores to keepFrom or
// later no longer need: every base backup older than the newest one
// completed at or before keepFrom, and every WAL segment before that
// one's end. The lifecycle sweeper calls it with now less the
// retention period; the window then starts at or before keepFrom.
// Deleted recovery point data is reclaimed by the vault's GC.
func (a *Archive) Prune(ctx context.Context, keepFrom time.Time) (PruneStats, error) {
	var ps PruneStats
	usable, _, err := a.plan(ctx)
	if errors.Is(err, ErrNoWindow) {
		return ps, nil
	}
	if err != nil {
		return ps, err
	}
	var anchor *BaseBackup
	for _, bb := range usable {
		if !bb.Completed.After(keepFrom) {
			anchor = bb
		}
	}
	if anchor == nil {
		return ps, nil
	}
	st, err := a.streamRow(ctx, a.db)
	if err != nil {
		return ps, err
	}
	bbs, err := a.BaseBackups(ctx)
	if err != nil {
		return ps, err
	}
	for _, bb := range bbs {
		if !bb.Completed.Before(anchor.Completed) {
			continue
		}
		deleted, err := a.deleteManifest(ctx, bb.ID, &ps)
		if err != nil {
			return ps, fmt.Errorf("prune base backup %s: %w", bb.ID, err)
		}
		if deleted {
			if _, err := a.db.ExecContext(ctx, `DELETE FROM pw_base_backups WHERE stream = ? AND manifest_id = ?`, a.stream, string(bb.ID)); err != nil {
				return ps, fmt.Errorf("prune base backup %s: %w", bb.ID, err)
			}
			ps.BaseBackupsDeleted++
		}
	}
	segs, err := a.Segments(ctx)
	if err != nil {
		return ps, err
	}
	keep := uint64(anchor.EndLSN) / uint64(st.segSize)
	for _, s := range segs {
		if s.Segno >= keep {
			break
		}
		deleted, err := a.deleteManifest(ctx, s.ID, &ps)
		if err != nil {
			return ps, fmt.Errorf("prune WAL segment %d: %w", s.Segno, err)
		}
		if deleted {
			if _, err := a.db.ExecContext(ctx, `DELETE FROM pw_segments WHERE stream = ? AND timeline = ? AND segno = ?`, a.stream, int64(s.Timeline), int64(s.Segno)); err != nil {
				return ps, fmt.Errorf("prune WAL segment %d: %w", s.Segno, err)
			}
			ps.SegmentsDeleted++
		}
	}
	return ps, nil
}

// Expire is Prune for a window of the given length ending now by the
// archive's clock: what the lifecycle sweeper calls with the retention
// period (BackupRetentionPeriod days, or the continuous backup rule's
// lifecycle).
func (a *Archive) Expire(ctx context.Context, retention time.Duration) (PruneStats, error) {
	return a.Prune(ctx, a.o.Now().Add(-retention))
}

// deleteManifest deletes a manifest unless it is protected; one already
// gone counts as deleted.
func (a *Archive) deleteManifest(ctx context.Context, id vaultstore.ManifestID, ps *PruneStats) (bool, error) {
	err := a.vault.DeleteManifest(ctx, id)
	switch {
	case err == nil, errors.Is(err, vaultstore.ErrNotFound):
		return true, nil
	case errors.Is(err, vaultstore.ErrProtected):
		ps.Protected++
		return false, nil
	}
	return false, err
}

// Delete deletes the whole archive: every base backup and WAL segment,
// then, unless a vault lock or legal hold kept some (counted in
// Protected), its timelines and its stream row. What a deleted DB
// instance's automated backups hold goes this way.
func (a *Archive) Delete(ctx context.Context) (PruneStats, error) {
	var ps PruneStats
	bbs, err := a.BaseBackups(ctx)
	if err != nil {
		return ps, err
	}
	for _, bb := range bbs {
		deleted, err := a.deleteManifest(ctx, bb.ID, &ps)
		if err == nil && deleted {
			_, err = a.db.ExecContext(ctx, `DELETE FROM pw_base_backups WHERE stream = ? AND manifest_id = ?`, a.stream, string(bb.ID))
			ps.BaseBackupsDeleted++
		}
		if err != nil {
			return ps, fmt.Errorf("delete base backup %s: %w", bb.ID, err)
		}
	}
	segs, err := a.Segments(ctx)
	if err != nil {
		return ps, err
	}
	for _, s := range segs {
		deleted, err := a.deleteManifest(ctx, s.ID, &ps)
		if err == nil && deleted {
			_, err = a.db.ExecContext(ctx, `DELETE FROM pw_segments WHERE stream = ? AND timeline = ? AND segno = ?`, a.stream, int64(s.Timeline), int64(s.Segno))
			ps.SegmentsDeleted++
		}
		if err != nil {
			return ps, fmt.Errorf("delete WAL segment %d: %w", s.Segno, err)
		}
	}
	if ps.Protected > 0 {
		return ps, nil
	}
	for _, table := range []string{"pw_timelines", "pw_streams"} {
		if _, err := a.db.ExecContext(ctx, `DELETE FROM `+table+` WHERE stream = ?`, a.stream); err != nil {
			return ps, fmt.Errorf("delete WAL stream %s: %w", a.stream, err)
		}
	}
	return ps, nil
}
