package pgwal

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/coffer-dev/coffer/internal/engine"
	"github.com/coffer-dev/coffer/internal/engine/pgphysical"
	"github.com/coffer-dev/coffer/internal/meta"
	"github.com/coffer-dev/coffer/internal/vaultstore"
)

// Vault is the part of the vault storage engine the archive uses.
type Vault interface {
	NewWriter(ctx context.Context, d vaultstore.Domain, meta map[string]string) (*vaultstore.Writer, error)
	NewWriterLevel(ctx context.Context, d vaultstore.Domain, meta map[string]string, level zstd.EncoderLevel) (*vaultstore.Writer, error)
	OpenReader(ctx context.Context, id vaultstore.ManifestID) (*vaultstore.Reader, error)
	DeleteManifest(ctx context.Context, id vaultstore.ManifestID) error
}

var _ Vault = (*vaultstore.Engine)(nil)

// Sentinel errors.
var (
	// ErrNoWindow: nothing is restorable yet (no base backup followed by
	// the WAL to replay it), or the WAL broke off since.
	ErrNoWindow = errors.New("pgwal: no point-in-time restore window")
	// ErrSlotLost: the server removed WAL the replication slot held
	// (max_slot_wal_keep_size exceeded); restores need a base backup
	// taken after the gap.
	ErrSlotLost = errors.New("pgwal: the replication slot lost WAL")
	errNotWAL   = errors.New("pgwal: not WAL")
)

// Options configure an Archive.
type Options struct {
	// Physical takes and restores base backups.
	Physical *pgphysical.Engine
	// Logger receives the capture's events (slot status, gaps).
	Logger *slog.Logger
	// Now is the clock (default time.Now); retention tests move it.
	Now func() time.Time
}

// Archive is one server's continuous backup in one vault domain: its
// base backups and the WAL streamed since, indexed in the metadata
// store under the stream's name (an instance's).
type Archive struct {
	db     meta.Store
	vault  Vault
	dom    vaultstore.Domain
	stream string
	o      Options
}

// Open returns the archive named stream in domain d.
func Open(db meta.Store, v Vault, d vaultstore.Domain, stream string, o Options) (*Archive, error) {
	if stream == "" {
		return nil, errors.New("pgwal: an archive needs a stream name")
	}
	if o.Physical == nil {
		return nil, errors.New("pgwal: an archive needs the physical backup engine")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Archive{db: db, vault: v, dom: d, stream: stream, o: o}, nil
}

// BaseBackup is a base backup recorded in the archive.
type BaseBackup struct {
	ID        vaultstore.ManifestID
	Timeline  uint32
	StartLSN  LSN
	EndLSN    LSN
	Completed time.Time
	Metadata  *engine.Metadata
}

// TakeBaseBackup takes a physical base backup of the server t names
// into the vault and records it as a starting point for restores.
func (a *Archive) TakeBaseBackup(ctx context.Context, t engine.Target) (*BaseBackup, error) {
	w, err := a.vault.NewWriter(ctx, a.dom, map[string]string{"coffer:kind": "pgwal-base-backup", "coffer:stream": a.stream})
	if err != nil {
		return nil, fmt.Errorf("base backup of %s: %w", a.stream, err)
	}
	md, err := a.o.Physical.Snapshot(ctx, t, w)
	if err != nil {
		return nil, errors.Join(err, w.Abort())
	}
	id, _, err := w.Commit(ctx)
	if err != nil {
		return nil, fmt.Errorf("base backup of %s: %w", a.stream, err)
	}
	bb, err := baseBackupOf(id, md)
	if err != nil {
		return nil, err
	}
	if err := a.AddBaseBackup(ctx, bb); err != nil {
		return nil, err
	}
	return bb, nil
}

// baseBackupOf reads a physical backup's positions from its metadata.
func baseBackupOf(id vaultstore.ManifestID, md *engine.Metadata) (*BaseBackup, error) {
	if md.Physical == nil {
		return nil, fmt.Errorf("%w: not a physical backup's metadata", engine.ErrFormat)
	}
	start, err := ParseLSN(md.Physical.StartLSN)
	if err != nil {
		return nil, err
	}
	end, err := ParseLSN(md.Physical.EndLSN)
	if err != nil {
		return nil, err
	}
	return &BaseBackup{ID: id, Timeline: uint32(md.Physical.Timeline), StartLSN: start, EndLSN: end, Completed: md.CompletedAt, Metadata: md}, nil
}

// AddBaseBackup records a physical base backup already in the vault
// (one a backup job took) as a starting point for restores.
func (a *Archive) AddBaseBackup(ctx context.Context, bb *BaseBackup) error {
	js, err := json.Marshal(bb.Metadata)
	if err != nil {
		return fmt.Errorf("record base backup %s: %w", bb.ID, err)
	}
	_, err = a.db.ExecContext(ctx, `INSERT INTO pw_base_backups (stream, manifest_id, timeline, start_lsn, end_lsn, completed_at, metadata) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		a.stream, string(bb.ID), int64(bb.Timeline), int64(bb.StartLSN), int64(bb.EndLSN), bb.Completed.UnixNano(), string(js))
	if err != nil {
		return fmt.Errorf("record base backup %s: %w", bb.ID, err)
	}
	return nil
}

// BaseBackups lists the archive's base backups, oldest first.
func (a *Archive) BaseBackups(ctx context.Context) ([]*BaseBackup, error) {
	rows, err := a.db.QueryContext(ctx, `SELECT manifest_id, metadata FROM pw_base_backups WHERE stream = ? ORDER BY completed_at`, a.stream)
	if err != nil {
		return nil, fmt.Errorf("list base backups of %s: %w", a.stream, err)
	}
	defer rows.Close()
	var out []*BaseBackup
	for rows.Next() {
		var id, js string
		if err := rows.Scan(&id, &js); err != nil {
			return nil, fmt.Errorf("list base backups of %s: %w", a.stream, err)
		}
		md := &engine.Metadata{}
		if err := json.Unmarshal([]byte(js), md); err != nil {
			return nil, fmt.Errorf("base backup %s: %w", id, err)
		}
		bb, err := baseBackupOf(vaultstore.ManifestID(id), md)
		if err != nil {
			return nil, err
		}
		out = append(out, bb)
	}
	return out, rows.Err()
}

// Segment is a stored WAL segment: its bytes from the segment's start
// to End.
type Segment struct {
	Timeline    uint32
	Segno       uint64
	End         LSN
	ID          vaultstore.ManifestID
	FirstCommit time.Time // zero when no commit or abort record ends in it
	LastCommit  time.Time
}

// Segments lists the stored segments in WAL order.
func (a *Archive) Segments(ctx context.Context) ([]Segment, error) {
	rows, err := a.db.QueryContext(ctx, `SELECT timeline, segno, end_lsn, manifest_id, first_commit, last_commit FROM pw_segments WHERE stream = ? ORDER BY segno, timeline`, a.stream)
	if err != nil {
		return nil, fmt.Errorf("list WAL segments of %s: %w", a.stream, err)
	}
	defer rows.Close()
	var out []Segment
	for rows.Next() {
		var s Segment
		var tli, segno, end, first, last int64
		var id string
		if err := rows.Scan(&tli, &segno, &end, &id, &first, &last); err != nil {
			return nil, fmt.Errorf("list WAL segments of %s: %w", a.stream, err)
		}
		s.Timeline, s.Segno, s.End, s.ID = uint32(tli), uint64(segno), LSN(end), vaultstore.ManifestID(id)
		s.FirstCommit, s.LastCommit = unixTime(first), unixTime(last)
		out = append(out, s)
	}
	return out, rows.Err()
}

func unixTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// streamRow is the archive's pw_streams row.
type streamRow struct {
	systemID string
	segSize  int64
	safeLSN  LSN
	safeTime time.Time
	gapLSN   LSN // WAL before it was lost: restores start from base backups after it
	gapAt    time.Time
}

func (a *Archive) streamRow(ctx context.Context, q meta.Querier) (*streamRow, error) {
	var r streamRow
	var safe, gap, safeT, gapAt int64
	err := q.QueryRowContext(ctx, `SELECT system_id, segment_size, safe_lsn, safe_time, gap_lsn, gap_at FROM pw_streams WHERE stream = ?`, a.stream).
		Scan(&r.systemID, &r.segSize, &safe, &safeT, &gap, &gapAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read WAL stream %s: %w", a.stream, err)
	}
	r.safeLSN, r.safeTime, r.gapLSN, r.gapAt = LSN(safe), unixTime(safeT), LSN(gap), unixTime(gapAt)
	return &r, nil
}

// Window is the span of times a restore can reach.
type Window struct {
	Earliest time.Time
	Latest   time.Time
}

func (w Window) String() string {
	return w.Earliest.UTC().Format(time.RFC3339Nano) + " to " + w.Latest.UTC().Format(time.RFC3339Nano)
}

// WindowError reports a restore time outside the window.
type WindowError struct {
	Time   time.Time
	Window Window
}

func (e *WindowError) Error() string {
	return fmt.Sprintf("pgwal: restore time %s is outside the restorable window %s", e.Time.UTC().Format(time.RFC3339Nano), e.Window)
}

// Window is the archive's restore window: from the completion of the
// oldest base backup that the stored WAL continues without a gap, to
// the latest restorable time (every commit at or before it is stored).
func (a *Archive) Window(ctx context.Context) (Window, error) {
	_, w, err := a.plan(ctx)
	return w, err
}

// plan finds the base backups restores can start from (oldest first)
// and the window.
func (a *Archive) plan(ctx context.Context) ([]*BaseBackup, Window, error) {
	st, err := a.streamRow(ctx, a.db)
	if err != nil {
		return nil, Window{}, err
	}
	if st == nil {
		return nil, Window{}, fmt.Errorf("%w: no WAL has been captured for %s", ErrNoWindow, a.stream)
	}
	bbs, err := a.BaseBackups(ctx)
	if err != nil {
		return nil, Window{}, err
	}
	segs, err := a.Segments(ctx)
	if err != nil {
		return nil, Window{}, err
	}
	var usable []*BaseBackup
	for _, bb := range bbs {
		if bb.StartLSN >= st.gapLSN && bb.EndLSN <= st.safeLSN && continuous(segs, bb.EndLSN, st.safeLSN, st.segSize) {
			usable = append(usable, bb)
		}
	}
	if len(usable) == 0 || st.safeTime.Before(usable[0].Completed) {
		return nil, Window{}, fmt.Errorf("%w: %s has no base backup followed by its WAL yet", ErrNoWindow, a.stream)
	}
	return usable, Window{Earliest: usable[0].Completed, Latest: st.safeTime}, nil
}

// continuous says whether the stored segments hold every WAL byte from
// the segment of from up to to.
func continuous(segs []Segment, from, to LSN, segSize int64) bool {
	if to <= from {
		return true
	}
	want := uint64(from) / uint64(segSize)
	last := (uint64(to) - 1) / uint64(segSize)
	for _, s := range segs {
		switch {
		case s.Segno < want:
		case s.Segno > want:
			return false
		case s.Segno == last && s.End >= to:
			return true
		case uint64(s.End) >= (want+1)*uint64(segSize):
			want++
		}
	}
	return false
}

// Status is an archive's state for monitoring: its restore window and
// how far the capture trails the server.
type Status struct {
	// Window is the restore window; nil when nothing is restorable yet.
	Window *Window
	// ServerLSN is the server's pg_current_wal_lsn() and SlotLSN the
	// replication slot's restart_lsn (the end of what coffer confirmed
	// as stored) at the capture's last probe, ProbedAt (zero: none yet).
	ServerLSN LSN
	SlotLSN   LSN
	ProbedAt  time.Time
}

// LagBytes is how many bytes of WAL the server had written that the
// vault did not hold yet, at the last probe.
func (s Status) LagBytes() int64 {
	if s.SlotLSN >= s.ServerLSN {
		return 0
	}
	return int64(s.ServerLSN - s.SlotLSN)
}

// ReadStatus reads the status of the archive named stream from the
// index alone (no vault, no server): what coffer status shows.
func ReadStatus(ctx context.Context, db meta.Store, stream string) (Status, error) {
	a := &Archive{db: db, stream: stream}
	return a.Status(ctx)
}

// Status is the archive's window and replication lag.
func (a *Archive) Status(ctx context.Context) (Status, error) {
	var st Status
	var server, slot, at int64
	err := a.db.QueryRowContext(ctx, `SELECT server_lsn, slot_lsn, probed_at FROM pw_streams WHERE stream = ?`, a.stream).Scan(&server, &slot, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("read WAL stream %s: %w", a.stream, err)
	}
	st.ServerLSN, st.SlotLSN, st.ProbedAt = LSN(server), LSN(slot), unixTime(at)
	w, err := a.Window(ctx)
	switch {
	case err == nil:
		st.Window = &w
	case !errors.Is(err, ErrNoWindow):
		return st, err
	}
	return st, nil
}
