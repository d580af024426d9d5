package pgwal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/coffer-dev/coffer/internal/engine"
)

// RestoreResult says what Restore prepared.
type RestoreResult struct {
	// BaseBackup is the backup restored; pgphysical.Validate with its
	// Metadata checks the started server.
	BaseBackup *BaseBackup
	// Target is the restore time (the latest restorable time for a
	// latest restore).
	Target time.Time
	// ToEnd: no stored commit is later than Target, so recovery replays
	// all the WAL written to pg_wal instead of stopping at Target.
	ToEnd bool
	// Segments and WALBytes are the WAL written to pg_wal.
	Segments int
	WALBytes int64
}

// Restore prepares dir (absent or empty) so that a server started on it
// recovers to the state at target, or at the latest restorable time
// when latest is set: it restores the newest base backup completed at
// or before the target, writes the stored WAL from that backup's end
// into pg_wal up to the first commit after the target, and sets
// recovery to stop before that commit (recovery_target_time, inclusive)
// and promote. A target outside the window gets a *WindowError. The
// caller starts the server and checks it with pgphysical.Validate.
func (a *Archive) Restore(ctx context.Context, target time.Time, latest bool, dir string) (*RestoreResult, error) {
	bbs, w, err := a.plan(ctx)
	if err != nil {
		return nil, err
	}
	if latest {
		target = w.Latest
	}
	if target.Before(w.Earliest) || target.After(w.Latest) {
		return nil, &WindowError{Time: target, Window: w}
	}
	bb := bbs[0]
	for _, b := range bbs {
		if !b.Completed.After(target) {
			bb = b
		}
	}
	res := &RestoreResult{BaseBackup: bb, Target: target.UTC()}
	r, err := a.vault.OpenReader(ctx, bb.ID)
	if err != nil {
		return nil, fmt.Errorf("restore %s to %s: base backup %s: %w", a.stream, res.Target.Format(time.RFC3339Nano), bb.ID, err)
	}
	_, err = a.o.Physical.Restore(ctx, r, dir, bb.Metadata)
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("restore %s: base backup %s: %w", a.stream, bb.ID, err)
	}
	if err := a.writeWAL(ctx, dir, bb, res, latest); err != nil {
		return nil, errors.Join(fmt.Errorf("restore %s: %w", a.stream, err), emptyDir(dir))
	}
	return res, nil
}

// writeWAL writes the stored segments from the base backup's end into
// dir's pg_wal and the recovery target into postgresql.auto.conf.
func (a *Archive) writeWAL(ctx context.Context, dir string, bb *BaseBackup, res *RestoreResult, latest bool) error {
	st, err := a.streamRow(ctx, a.db)
	if err != nil {
		return err
	}
	segs, err := a.Segments(ctx)
	if err != nil {
		return err
	}
	walDir := filepath.Join(dir, "pg_wal")
	fi, err := os.Stat(walDir)
	if err != nil {
		return err
	}
	owner, _ := fi.Sys().(*syscall.Stat_t)
	first := uint64(bb.EndLSN) / uint64(st.segSize)
	var stop LSN // end of the first commit after the target
	p := newParser(LSN(first*uint64(st.segSize)), st.segSize, func(t time.Time, end LSN) {
		if stop == 0 && !latest && end > bb.EndLSN && t.After(res.Target) {
			stop = end
		}
	})
	for _, s := range segs {
		if s.Segno < first {
			continue
		}
		if stop != 0 && uint64(stop-1)/uint64(st.segSize) < s.Segno {
			break
		}
		n, err := a.writeSegment(ctx, walDir, s, st.segSize, p, owner)
		if err != nil {
			return err
		}
		res.Segments++
		res.WALBytes += n
	}
	if err := a.writeHistories(ctx, walDir, owner); err != nil {
		return err
	}
	res.ToEnd = stop == 0
	settings := "\n# coffer point-in-time restore: replay all the WAL in pg_wal\nrecovery_target = ''\nrecovery_target_timeline = 'latest'\n"
	if !res.ToEnd {
		settings = fmt.Sprintf("\n# coffer point-in-time restore\nrecovery_target = ''\nrecovery_target_time = '%s'\nrecovery_target_inclusive = on\nrecovery_target_action = 'promote'\nrecovery_target_timeline = 'latest'\n",
			res.Target.Format("2006-01-02 15:04:05.999999-07"))
	}
	f, err := os.OpenFile(filepath.Join(dir, "postgresql.auto.conf"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("recovery target: %w", err)
	}
	_, err = f.WriteString(settings)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("recovery target: %w", err)
	}
	return nil
}

// writeSegment writes one stored segment into walDir, zero-filled to
// the segment size (PostgreSQL reads the zeros as the end of the WAL),
// feeding its bytes to p.
func (a *Archive) writeSegment(ctx context.Context, walDir string, s Segment, segSize int64, p *parser, owner *syscall.Stat_t) (int64, error) {
	name := SegmentName(s.Timeline, s.Segno, segSize)
	r, err := a.vault.OpenReader(ctx, s.ID)
	if err != nil {
		return 0, fmt.Errorf("WAL segment %s: %w", name, err)
	}
	defer r.Close()
	if start := s.Segno * uint64(segSize); p.pos != start { // after a partial segment, or another timeline's copy
		*p = *newParser(LSN(start), segSize, p.onTime)
	}
	path := filepath.Join(walDir, name)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(f, io.TeeReader(r, parserWriter{p}))
	if err == nil && n != int64(uint64(s.End)-s.Segno*uint64(segSize)) {
		err = fmt.Errorf("%w: WAL segment %s holds %d bytes, its index says %d", engine.ErrCorrupt, name, n, uint64(s.End)-s.Segno*uint64(segSize))
	}
	if err == nil {
		err = f.Truncate(segSize)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && owner != nil {
		err = os.Chown(path, int(owner.Uid), int(owner.Gid))
	}
	if err != nil {
		return 0, fmt.Errorf("WAL segment %s: %w", name, err)
	}
	return n, nil
}

// parserWriter feeds a parser as an io.Writer.
type parserWriter struct{ p *parser }

func (w parserWriter) Write(b []byte) (int, error) {
	if err := w.p.feed(b); err != nil {
		return 0, err
	}
	return len(b), nil
}

// writeHistories writes the timeline history files.
func (a *Archive) writeHistories(ctx context.Context, walDir string, owner *syscall.Stat_t) error {
	rows, err := a.db.QueryContext(ctx, `SELECT timeline, history FROM pw_timelines WHERE stream = ?`, a.stream)
	if err != nil {
		return fmt.Errorf("timeline histories: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var tli int64
		var h string
		if err := rows.Scan(&tli, &h); err != nil {
			return fmt.Errorf("timeline histories: %w", err)
		}
		path := filepath.Join(walDir, HistoryName(uint32(tli)))
		if err := os.WriteFile(path, []byte(h), 0o600); err != nil {
			return err
		}
		if owner != nil {
			if err := os.Chown(path, int(owner.Uid), int(owner.Gid)); err != nil {
				return err
			}
		}
	}
	return rows.Err()
}

// emptyDir removes what a failed restore left in dir.
func emptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, en := range entries {
		errs = append(errs, os.RemoveAll(filepath.Join(dir, en.Name())))
	}
	return errors.Join(errs...)
}
