package pgwal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/klauspost/compress/zstd"

	"github.com/coffer-dev/coffer/internal/engine"
	"github.com/coffer-dev/coffer/internal/engine/pgphysical"
	"github.com/coffer-dev/coffer/internal/engine/postgres"
	"github.com/coffer-dev/coffer/internal/meta"
	"github.com/coffer-dev/coffer/internal/vaultstore"
)

// CaptureOptions configure Capture.
type CaptureOptions struct {
	// Slot is the physical replication slot (default "coffer_wal").
	Slot string
	// FlushInterval is how often what arrived is stored and confirmed
	// (default 2 s): the restorable window trails the server by about
	// twice this.
	FlushInterval time.Duration
	// SlotCheckInterval is how often pg_replication_slots is read
	// (default 10 s).
	SlotCheckInterval time.Duration
	// OnEvent, if set, receives the capture's events as they happen.
	OnEvent func(Event)
}

// Event kinds.
const (
	EventSlotCreated     = "slot-created"
	EventSlotUnreserved  = "slot-unreserved" // wal_status 'unreserved': the slot holds more than max_slot_wal_keep_size
	EventSlotLost        = "slot-lost"       // wal_status 'lost': the server removed WAL the slot needed
	EventGap             = "gap"             // WAL is missing from the archive; restores start after it
	EventTimelineChanged = "timeline"
	EventCaptureError    = "capture-error" // Capture failed; Run retries
)

// Event is something the capture reports (and logs).
type Event struct {
	Time    time.Time
	Kind    string
	Message string
}

// segmentBlock is how stored segments are cut: fixed blocks, so that
// rewriting a growing segment stores only its new blocks.
const segmentBlock = 256 << 10

// segmentLevel is the zstd level of stored WAL: zstd's default level
// (3), not the vault's fastest. WAL arrives at a fraction of the speed
// a backup reads data, and in 256 KiB blocks the fastest level stores
// 4% more than pgBackRest's zstd level 1 on whole segments, the default
// level 9% less (pgbench WAL).
const segmentLevel = zstd.SpeedDefault

// commitSlack is how long before reading the insert position a commit
// may have taken its timestamp and not yet inserted its record; the
// latest restorable time is the probe's time less this.
const commitSlack = 10 * time.Millisecond

const defaultSlot = "coffer_wal"

var slotName = regexp.MustCompile(`^[a-z0-9_]{1,63}$`)

// capture is one Capture call's state.
type capture struct {
	a       *Archive
	o       CaptureOptions
	repl    *pgconn.PgConn
	sql     *pgx.Conn
	segSize int64
	tli     uint32
	seg     *segBuf
	p       *parser
	probes  []probe
	confirm LSN // everything before it is stored
}

// segBuf is the segment being received.
type segBuf struct {
	segno    uint64
	buf      []byte
	stored   LSN // end of what the vault holds of it
	storedID vaultstore.ManifestID
	first    time.Time
	last     time.Time
}

// probe is the server's insert position at a server time.
type probe struct {
	at  time.Time
	lsn LSN
}

// Capture streams the WAL of the server t names (t.User needs
// REPLICATION; t.Database is used for status queries) over a physical
// replication slot into the archive until ctx ends or an error occurs.
// It confirms to the server only what the vault holds, so whatever
// stops it (a crash, an unreachable vault), the slot keeps the rest
// for the next call. Callers run it again after an error (Run does).
func (a *Archive) Capture(ctx context.Context, t engine.Target, o CaptureOptions) error {
	if o.Slot == "" {
		o.Slot = defaultSlot
	}
	if !slotName.MatchString(o.Slot) {
		return fmt.Errorf("pgwal: slot name %q is not 1 to 63 lower-case letters, digits and underscores", o.Slot)
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = 2 * time.Second
	}
	if o.SlotCheckInterval <= 0 {
		o.SlotCheckInterval = 10 * time.Second
	}
	if t.Database == "" {
		t.Database = "postgres"
	}
	c := &capture{a: a, o: o}
	var err error
	if c.sql, err = postgres.Connect(ctx, t); err != nil {
		return fmt.Errorf("capture WAL of %s: %w", a.stream, err)
	}
	defer c.sql.Close(context.Background())
	if c.repl, err = pgphysical.ConnectReplication(ctx, t); err != nil {
		return fmt.Errorf("capture WAL of %s: %w", a.stream, err)
	}
	defer c.repl.Close(context.Background())
	err = c.run(ctx)
	if ctx.Err() != nil {
		// Store what arrived before stopping, so the window is fresh.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if ferr := c.flush(fctx); ferr != nil {
			return fmt.Errorf("capture WAL of %s: final flush: %w", a.stream, ferr)
		}
		return nil
	}
	return fmt.Errorf("capture WAL of %s: %w", a.stream, err)
}

// Run calls Capture again after each error, waiting 1 s and doubling up
// to 10 s (the window's target lag), until ctx ends. Errors are logged and reported as events.
func (a *Archive) Run(ctx context.Context, t engine.Target, o CaptureOptions) {
	wait := time.Second
	for ctx.Err() == nil {
		began := time.Now()
		err := a.Capture(ctx, t, o)
		if err == nil || ctx.Err() != nil {
			return
		}
		if time.Since(began) > time.Minute { // it ran a while: back off from the start
			wait = time.Second
		}
		a.event(o, slog.LevelError, EventCaptureError, err.Error())
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		wait = min(2*wait, 10*time.Second)
	}
}

func (a *Archive) event(o CaptureOptions, level slog.Level, kind, msg string) {
	a.o.Logger.Log(context.Background(), level, "pgwal: "+msg, "stream", a.stream, "event", kind)
	if o.OnEvent != nil {
		o.OnEvent(Event{Time: a.o.Now().UTC(), Kind: kind, Message: msg})
	}
}

func (c *capture) run(ctx context.Context) error {
	ident, err := pglogrepl.IdentifySystem(ctx, c.repl)
	if err != nil {
		return fmt.Errorf("identify system: %w", err)
	}
	var block int
	if err := c.sql.QueryRow(ctx, `SELECT pg_size_bytes(current_setting('wal_segment_size')), current_setting('wal_block_size')::int`).Scan(&c.segSize, &block); err != nil {
		return fmt.Errorf("read wal_segment_size: %w", err)
	}
	if block != pageSize {
		return fmt.Errorf("the server's WAL pages are %d bytes; only %d is supported", block, pageSize)
	}
	if err := c.register(ctx, ident.SystemID); err != nil {
		return err
	}
	restart, err := c.slot(ctx)
	if err != nil {
		return err
	}
	start, tli, err := c.resumePoint(ctx, restart, uint32(ident.Timeline))
	if err != nil {
		return err
	}
	for {
		next, err := c.stream(ctx, start, tli)
		if err != nil || next == nil {
			return err
		}
		if err := c.flush(ctx); err != nil {
			return err
		}
		c.a.event(c.o, slog.LevelInfo, EventTimelineChanged, fmt.Sprintf("timeline %d ended at %s; following timeline %d", tli, next.LSN, next.Timeline))
		if err := c.history(ctx, uint32(next.Timeline)); err != nil {
			return err
		}
		tli = uint32(next.Timeline)
		start = LSN(uint64(next.LSN) / uint64(c.segSize) * uint64(c.segSize))
		c.seg = nil
	}
}

// register creates the stream's row or checks it belongs to this server.
func (c *capture) register(ctx context.Context, systemID string) error {
	st, err := c.a.streamRow(ctx, c.a.db)
	if err != nil {
		return err
	}
	if st != nil {
		if st.systemID != systemID || st.segSize != c.segSize {
			return fmt.Errorf("the server (system %s, %d-byte segments) is not the one archived as %s (system %s, %d-byte segments)", systemID, c.segSize, c.a.stream, st.systemID, st.segSize)
		}
		return nil
	}
	_, err = c.a.db.ExecContext(ctx, `INSERT INTO pw_streams (stream, system_id, segment_size, safe_lsn, safe_time, gap_lsn, gap_at, created_at) VALUES (?, ?, ?, 0, 0, 0, 0, ?)`,
		c.a.stream, systemID, c.segSize, c.a.o.Now().UnixNano())
	if err != nil {
		return fmt.Errorf("register WAL stream %s: %w", c.a.stream, err)
	}
	return nil
}

// SlotStatus is the slot's row of pg_replication_slots.
type SlotStatus struct {
	Exists     bool
	RestartLSN LSN
	// WALStatus: reserved, extended, unreserved (past
	// max_slot_wal_keep_size, the next checkpoint may remove it) or
	// lost.
	WALStatus string
	// SafeWALSize is how many more bytes of WAL may be written before
	// the slot loses some (-1: unbounded).
	SafeWALSize int64
}

// ReadSlot reads the slot's status through q (a connection to the
// server).
func ReadSlot(ctx context.Context, conn *pgx.Conn, slot string) (SlotStatus, error) {
	var s SlotStatus
	var restart, status *string
	var safe *int64
	err := conn.QueryRow(ctx, `SELECT restart_lsn::text, wal_status, safe_wal_size FROM pg_replication_slots WHERE slot_name = $1`, slot).Scan(&restart, &status, &safe)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, nil
	}
	if err != nil {
		return s, fmt.Errorf("read replication slot %s: %w", slot, err)
	}
	s.Exists, s.SafeWALSize = true, -1
	if safe != nil {
		s.SafeWALSize = *safe
	}
	if status != nil {
		s.WALStatus = *status
	}
	if restart != nil {
		if s.RestartLSN, err = ParseLSN(*restart); err != nil {
			return s, err
		}
	}
	return s, nil
}

// DropSlot drops the capture's replication slot on the server t names,
// for when continuous backup is turned off (the slot would otherwise
// hold WAL up to max_slot_wal_keep_size). Stop the capture first: a
// slot still in use is waited for (DROP_REPLICATION_SLOT ... WAIT) until
// ctx ends. A missing slot is no error.
func DropSlot(ctx context.Context, t engine.Target, slot string) error {
	if slot == "" {
		slot = defaultSlot
	}
	if !slotName.MatchString(slot) {
		return fmt.Errorf("pgwal: slot name %q is not 1 to 63 lower-case letters, digits and underscores", slot)
	}
	conn, err := pgphysical.ConnectReplication(ctx, t)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, "DROP_REPLICATION_SLOT "+slot+" WAIT").ReadAll()
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42704" { // undefined_object
		return nil
	}
	if err != nil {
		return fmt.Errorf("drop replication slot %s: %w", slot, err)
	}
	return nil
}

// slot makes sure the slot exists and holds WAL; a lost slot is
// reported, dropped and created again, and the gap recorded. It
// returns the slot's restart position.
func (c *capture) slot(ctx context.Context) (LSN, error) {
	s, err := ReadSlot(ctx, c.sql, c.o.Slot)
	if err != nil {
		return 0, err
	}
	lost := s.Exists && (s.WALStatus == "lost" || s.RestartLSN == 0)
	if lost {
		c.a.event(c.o, slog.LevelError, EventSlotLost, fmt.Sprintf("replication slot %s lost WAL (wal_status %q): the server removed WAL past max_slot_wal_keep_size before coffer stored it; recreating the slot", c.o.Slot, s.WALStatus))
		if _, err := c.repl.Exec(ctx, "DROP_REPLICATION_SLOT "+c.o.Slot+" WAIT").ReadAll(); err != nil {
			return 0, fmt.Errorf("drop lost slot %s: %w", c.o.Slot, err)
		}
	}
	if s.WALStatus == "unreserved" {
		c.a.event(c.o, slog.LevelWarn, EventSlotUnreserved, fmt.Sprintf("replication slot %s holds more WAL than max_slot_wal_keep_size (wal_status 'unreserved'): the next checkpoint removes WAL coffer has not stored", c.o.Slot))
	}
	if !s.Exists || lost {
		if _, err := c.repl.Exec(ctx, "CREATE_REPLICATION_SLOT "+c.o.Slot+" PHYSICAL RESERVE_WAL").ReadAll(); err != nil {
			return 0, fmt.Errorf("create replication slot %s: %w", c.o.Slot, err)
		}
		c.a.event(c.o, slog.LevelInfo, EventSlotCreated, "created physical replication slot "+c.o.Slot)
		if s, err = ReadSlot(ctx, c.sql, c.o.Slot); err != nil {
			return 0, err
		}
	}
	if s.RestartLSN == 0 {
		return 0, fmt.Errorf("replication slot %s reserves no WAL", c.o.Slot)
	}
	segs, err := c.a.Segments(ctx)
	if err != nil {
		return 0, err
	}
	// The slot was confirmed only up to what the archive holds: a
	// restart position beyond it means WAL was lost.
	if end := storedEnd(segs); end > 0 && s.RestartLSN > end {
		msg := fmt.Sprintf("WAL from %s to %s is not in the archive (the slot was lost or recreated); restores to times before %s are not possible until a new base backup is taken", end, s.RestartLSN, c.a.o.Now().UTC().Format(time.RFC3339))
		c.a.event(c.o, slog.LevelError, EventGap, msg)
		if _, err := c.a.db.ExecContext(ctx, `UPDATE pw_streams SET gap_lsn = ?, gap_at = ? WHERE stream = ?`, int64(s.RestartLSN), c.a.o.Now().UnixNano(), c.a.stream); err != nil {
			return 0, fmt.Errorf("record WAL gap: %w", err)
		}
	}
	return s.RestartLSN, nil
}

// resumePoint is where streaming starts: the start of the last stored
// segment when it is incomplete (the slot still has it: segment files
// are removed whole), the next segment when it is complete, or, first
// and after a gap, the start of the slot's restart segment. A stored
// copy of the segment streaming starts in is replaced as it grows.
func (c *capture) resumePoint(ctx context.Context, restart LSN, serverTLI uint32) (LSN, uint32, error) {
	segs, err := c.a.Segments(ctx)
	if err != nil {
		return 0, 0, err
	}
	size := uint64(c.segSize)
	start, tli := LSN(uint64(restart)/size*size), serverTLI
	if end := storedEnd(segs); len(segs) > 0 && restart <= end {
		last := segs[len(segs)-1]
		for _, s := range segs {
			if s.Segno == last.Segno && s.Timeline > last.Timeline {
				last = s
			}
		}
		c.confirm = last.End
		start, tli = LSN(last.Segno*size), last.Timeline
		if uint64(last.End) == (last.Segno+1)*size {
			return last.End, last.Timeline, nil
		}
	}
	for _, s := range segs {
		if s.Segno == uint64(start)/size && s.Timeline == tli {
			c.seg = &segBuf{segno: s.Segno, stored: s.End, storedID: s.ID, first: s.FirstCommit, last: s.LastCommit}
		}
	}
	return start, tli, nil
}

// storedEnd is the end of the stored WAL.
func storedEnd(segs []Segment) LSN {
	var end LSN
	for _, s := range segs {
		end = max(end, s.End)
	}
	return end
}

// history stores timeline tli's history file.
func (c *capture) history(ctx context.Context, tli uint32) error {
	h, err := pglogrepl.TimelineHistory(ctx, c.repl, int32(tli))
	if err != nil {
		return fmt.Errorf("timeline %d history: %w", tli, err)
	}
	_, err = c.a.db.ExecContext(ctx, `INSERT INTO pw_timelines (stream, timeline, history) VALUES (?, ?, ?) ON CONFLICT (stream, timeline) DO NOTHING`, c.a.stream, int64(tli), string(h.Content))
	if err != nil {
		return fmt.Errorf("record timeline %d history: %w", tli, err)
	}
	return nil
}

// stream runs START_REPLICATION from start on timeline tli until ctx
// ends or the timeline does (then it returns where the next begins).
func (c *capture) stream(ctx context.Context, start LSN, tli uint32) (*pglogrepl.CopyDoneResult, error) {
	if tli > 1 {
		if err := c.history(ctx, tli); err != nil {
			return nil, err
		}
	}
	err := pglogrepl.StartReplication(ctx, c.repl, c.o.Slot, pglogrepl.LSN(start), pglogrepl.StartReplicationOptions{Timeline: int32(tli), Mode: pglogrepl.PhysicalReplication})
	if err != nil {
		return nil, fmt.Errorf("START_REPLICATION SLOT %s PHYSICAL %s TIMELINE %d: %w", c.o.Slot, start, tli, err)
	}
	c.tli = tli
	c.p = newParser(start, c.segSize, c.onCommit)
	pos := start
	// A probe before anything arrives: when the vault is down and a
	// completed segment fails to store at once, each retry still records
	// the lag.
	if err := c.probe(ctx); err != nil {
		return nil, err
	}
	nextFlush := time.Now().Add(c.o.FlushInterval)
	nextCheck := time.Now().Add(c.o.SlotCheckInterval)
	for {
		if !time.Now().Before(nextFlush) {
			if err := c.tick(ctx); err != nil {
				return nil, err
			}
			nextFlush = time.Now().Add(c.o.FlushInterval)
		}
		if !time.Now().Before(nextCheck) {
			if err := c.checkSlot(ctx); err != nil {
				return nil, err
			}
			nextCheck = time.Now().Add(c.o.SlotCheckInterval)
		}
		rctx, cancel := context.WithDeadline(ctx, nextFlush)
		msg, err := c.repl.ReceiveMessage(rctx)
		cancel()
		if err != nil {
			if pgconn.Timeout(err) && ctx.Err() == nil {
				continue
			}
			return nil, err
		}
		switch msg := msg.(type) {
		case *pgproto3.CopyData:
			if len(msg.Data) == 0 {
				return nil, errors.New("empty replication message")
			}
			switch msg.Data[0] {
			case pglogrepl.XLogDataByteID:
				x, err := pglogrepl.ParseXLogData(msg.Data[1:])
				if err != nil {
					return nil, err
				}
				if LSN(x.WALStart) != pos {
					return nil, fmt.Errorf("WAL arrived at %s, expected %s", LSN(x.WALStart), pos)
				}
				if err := c.receive(ctx, pos, x.WALData); err != nil {
					return nil, err
				}
				pos += LSN(len(x.WALData))
			case pglogrepl.PrimaryKeepaliveMessageByteID:
				k, err := pglogrepl.ParsePrimaryKeepaliveMessage(msg.Data[1:])
				if err != nil {
					return nil, err
				}
				if k.ReplyRequested {
					if err := c.status(ctx); err != nil {
						return nil, err
					}
				}
			}
		case *pgproto3.CopyDone:
			return pglogrepl.SendStandbyCopyDone(ctx, c.repl)
		case *pgproto3.ErrorResponse:
			return nil, pgconn.ErrorResponseToPgError(msg)
		}
	}
}

// receive appends WAL at pos to the segment buffers, storing each
// segment as it completes.
func (c *capture) receive(ctx context.Context, pos LSN, data []byte) error {
	for len(data) > 0 {
		segno := uint64(pos) / uint64(c.segSize)
		if c.seg == nil || c.seg.segno != segno {
			if c.seg != nil {
				return fmt.Errorf("WAL jumped from segment %d to %d", c.seg.segno, segno)
			}
			c.seg = &segBuf{segno: segno}
		}
		if int64(len(c.seg.buf)) != int64(uint64(pos)-segno*uint64(c.segSize)) {
			return fmt.Errorf("WAL at %s does not follow segment %d's %d bytes", pos, segno, len(c.seg.buf))
		}
		n := min(int64(len(data)), c.segSize-int64(len(c.seg.buf)))
		// The buffer grows with the WAL received rather than holding a
		// whole segment from the start: an idle instance's capture then
		// keeps kilobytes, not 16 MiB, on the heap.
		c.seg.buf = append(c.seg.buf, data[:n]...)
		if err := c.p.feed(data[:n]); err != nil {
			return err
		}
		pos += LSN(n)
		data = data[n:]
		if int64(len(c.seg.buf)) == c.segSize {
			if err := c.flush(ctx); err != nil {
				return err
			}
			c.seg = nil
		}
	}
	return nil
}

// onCommit records a commit or abort time in the segment it ends in.
func (c *capture) onCommit(t time.Time, end LSN) {
	if c.seg == nil {
		return
	}
	if c.seg.first.IsZero() || t.Before(c.seg.first) {
		c.seg.first = t
	}
	if t.After(c.seg.last) {
		c.seg.last = t
	}
}

// tick probes the server's insert position, stores what arrived, and
// confirms it.
func (c *capture) tick(ctx context.Context) error {
	if err := c.probe(ctx); err != nil {
		return err
	}
	if err := c.flush(ctx); err != nil {
		return err
	}
	return c.status(ctx)
}

// probe records the server's insert position at a server time, and the
// replication lag for Status.
func (c *capture) probe(ctx context.Context) error {
	var p probe
	var ins, cur string
	var slot *string
	if err := c.sql.QueryRow(ctx, `SELECT clock_timestamp(), pg_current_wal_insert_lsn()::text, pg_current_wal_lsn()::text,
		(SELECT restart_lsn::text FROM pg_replication_slots WHERE slot_name = $1)`, c.o.Slot).Scan(&p.at, &ins, &cur, &slot); err != nil {
		return fmt.Errorf("read the server's WAL position: %w", err)
	}
	l, err := ParseLSN(ins)
	if err != nil {
		return err
	}
	p.lsn = pageBoundary(l, c.segSize)
	c.probes = append(c.probes, p)
	return c.recordLag(ctx, p.at, cur, slot)
}

// recordLag records the server's WAL position and the slot's (what the
// server was last told is stored) at a probe, for Status.
func (c *capture) recordLag(ctx context.Context, at time.Time, server string, slot *string) error {
	cur, err := ParseLSN(server)
	if err != nil {
		return err
	}
	var held LSN
	if slot != nil {
		if held, err = ParseLSN(*slot); err != nil {
			return err
		}
	}
	if _, err := c.a.db.ExecContext(ctx, `UPDATE pw_streams SET server_lsn = ?, slot_lsn = ?, probed_at = ? WHERE stream = ?`,
		int64(cur), int64(held), at.UnixNano(), c.a.stream); err != nil {
		return fmt.Errorf("record the replication lag: %w", err)
	}
	return nil
}

// flush stores the current segment's bytes if the vault lacks some,
// replacing the previous partial copy, then advances the latest
// restorable time by the probes now covered.
func (c *capture) flush(ctx context.Context) error {
	s := c.seg
	if s != nil {
		end := LSN(s.segno*uint64(c.segSize) + uint64(len(s.buf)))
		if end > s.stored && len(s.buf) > 0 {
			id, err := c.store(ctx, s, end)
			if err != nil {
				return err
			}
			if s.storedID != "" {
				if err := c.a.vault.DeleteManifest(ctx, s.storedID); err != nil && !errors.Is(err, vaultstore.ErrNotFound) {
					return fmt.Errorf("delete the previous copy of WAL segment %d: %w", s.segno, err)
				}
			}
			s.stored, s.storedID = end, id
		}
		if s.stored > c.confirm {
			c.confirm = s.stored
		}
	}
	var safe time.Time
	kept := c.probes[:0]
	for _, p := range c.probes {
		if p.lsn <= c.confirm {
			if t := p.at.Add(-commitSlack); t.After(safe) {
				safe = t
			}
		} else {
			kept = append(kept, p)
		}
	}
	c.probes = kept
	if safe.IsZero() {
		return nil
	}
	_, err := c.a.db.ExecContext(ctx, `UPDATE pw_streams SET safe_lsn = ?, safe_time = ? WHERE stream = ? AND safe_time < ?`,
		int64(c.confirm), safe.UnixNano(), c.a.stream, safe.UnixNano())
	if err != nil {
		return fmt.Errorf("record the latest restorable time: %w", err)
	}
	return nil
}

// store writes segment s's bytes up to end into the vault and indexes
// them.
func (c *capture) store(ctx context.Context, s *segBuf, end LSN) (vaultstore.ManifestID, error) {
	name := SegmentName(c.tli, s.segno, c.segSize)
	w, err := c.a.vault.NewWriterLevel(ctx, c.a.dom, map[string]string{
		"coffer:kind": "pgwal-segment", "coffer:stream": c.a.stream, "coffer:segment": name, "coffer:end-lsn": end.String(),
	}, segmentLevel)
	if err != nil {
		return "", fmt.Errorf("store WAL segment %s: %w", name, err)
	}
	if err := w.Boundary(segmentBlock); err != nil {
		return "", errors.Join(err, w.Abort())
	}
	if _, err := w.Write(s.buf); err != nil {
		return "", errors.Join(fmt.Errorf("store WAL segment %s: %w", name, err), w.Abort())
	}
	id, _, err := w.Commit(ctx)
	if err != nil {
		return "", fmt.Errorf("store WAL segment %s: %w", name, err)
	}
	err = c.a.db.InTx(ctx, func(q meta.Querier) error {
		_, err := q.ExecContext(ctx, `INSERT INTO pw_segments (stream, timeline, segno, end_lsn, manifest_id, first_commit, last_commit, stored_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (stream, timeline, segno) DO UPDATE SET end_lsn = excluded.end_lsn, manifest_id = excluded.manifest_id,
				first_commit = excluded.first_commit, last_commit = excluded.last_commit, stored_at = excluded.stored_at`,
			c.a.stream, int64(c.tli), int64(s.segno), int64(end), string(id), unixNano(s.first), unixNano(s.last), c.a.o.Now().UnixNano())
		return err
	})
	if err != nil {
		return "", errors.Join(fmt.Errorf("index WAL segment %s: %w", name, err), c.a.vault.DeleteManifest(ctx, id))
	}
	return id, nil
}

// status tells the server what the vault holds: the slot keeps the rest.
func (c *capture) status(ctx context.Context) error {
	if c.confirm == 0 {
		return nil
	}
	return pglogrepl.SendStandbyStatusUpdate(ctx, c.repl, pglogrepl.StandbyStatusUpdate{WALWritePosition: pglogrepl.LSN(c.confirm)})
}

// checkSlot reports a slot past its bound while streaming.
func (c *capture) checkSlot(ctx context.Context) error {
	s, err := ReadSlot(ctx, c.sql, c.o.Slot)
	if err != nil {
		return err
	}
	switch s.WALStatus {
	case "lost":
		return fmt.Errorf("%w: replication slot %s (wal_status 'lost')", ErrSlotLost, c.o.Slot)
	case "unreserved":
		c.a.event(c.o, slog.LevelWarn, EventSlotUnreserved, fmt.Sprintf("replication slot %s holds more WAL than max_slot_wal_keep_size (wal_status 'unreserved', %s behind)", c.o.Slot, strconv.FormatInt(-s.SafeWALSize, 10)+" bytes"))
	}
	return nil
}
