package pgwal_test

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coffer-dev/coffer/internal/blob"
	"github.com/coffer-dev/coffer/internal/blob/fs"
	"github.com/coffer-dev/coffer/internal/engine"
	"github.com/coffer-dev/coffer/internal/engine/pgphysical"
	"github.com/coffer-dev/coffer/internal/engine/pgwal"
	"github.com/coffer-dev/coffer/internal/engine/postgres"
	"github.com/coffer-dev/coffer/internal/meta/sqlite"
	"github.com/coffer-dev/coffer/internal/testenv"
	"github.com/coffer-dev/coffer/internal/vaultstore"
	"github.com/coffer-dev/coffer/internal/vaultstore/localkeys"
)

const keyARN = "arn:aws:kms:us-east-1:111122223333:key/aaaaaaaa-1111-2222-3333-444444444444"

var domain = vaultstore.Domain{Region: "us-east-1", Vault: "pitr-vault", KeyARN: keyARN}

// stores are directories; while down is set their writes fail, as an
// unreachable vault's would.
type stores struct {
	root string
	down *atomic.Bool
}

func (s stores) Store(region string) (blob.Store, error) {
	st, err := fs.New(filepath.Join(s.root, region))
	if err != nil || s.down == nil {
		return st, err
	}
	return outage{st, s.down}, nil
}

type outage struct {
	blob.Store
	down *atomic.Bool
}

var errDown = errors.New("the vault's storage is unreachable")

func (o outage) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	if o.down.Load() {
		return errDown
	}
	return o.Store.Put(ctx, name, r, size)
}

// newArchive opens an archive over a fresh SQLite metadata store and
// vault.
func newArchive(t *testing.T, stream string, now func() time.Time, down *atomic.Bool) (*pgwal.Archive, *vaultstore.Engine) {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	v, err := vaultstore.Open(db, localkeys.New(), stores{t.TempDir(), down}, vaultstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	owner, err := testenv.PostgresOwner()
	if err != nil {
		t.Fatal(err)
	}
	phys, err := pgphysical.New(pgphysical.Options{Owner: owner})
	if err != nil {
		t.Fatal(err)
	}
	a, err := pgwal.Open(db, v, domain, stream, pgwal.Options{Physical: phys, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return a, v
}

func target(s *testenv.PostgresServer, db string) engine.Target {
	return engine.Target{Host: s.Host, Port: s.Port, User: s.User, Password: s.Password, Database: db, SSLMode: "disable"}
}

func openDB(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func exec(t *testing.T, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// capturer runs Capture in the background until stopped.
type capturer struct {
	cancel context.CancelFunc
	done   chan struct{} // closed when Capture returned err
	err    error
	mu     sync.Mutex
	events []pgwal.Event
}

func startCapture(t *testing.T, a *pgwal.Archive, tg engine.Target) *capturer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := &capturer{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		c.err = a.Capture(ctx, tg, pgwal.CaptureOptions{FlushInterval: 500 * time.Millisecond, SlotCheckInterval: time.Second, OnEvent: func(e pgwal.Event) {
			c.mu.Lock()
			c.events = append(c.events, e)
			c.mu.Unlock()
		}})
	}()
	t.Cleanup(func() { c.stop(t) })
	return c
}

// stop ends the capture; an error it ended with fails the test.
func (c *capturer) stop(t *testing.T) {
	t.Helper()
	if c.cancel == nil {
		return
	}
	c.cancel()
	c.cancel = nil
	<-c.done
	if c.err != nil {
		t.Errorf("capture: %v", c.err)
	}
}

func (c *capturer) kinds() map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := map[string]string{}
	for _, e := range c.events {
		m[e.Kind] = e.Message
	}
	return m
}

// waitLatest waits until the latest restorable time reaches t.
func waitLatest(t *testing.T, a *pgwal.Archive, done <-chan struct{}, at time.Time) pgwal.Window {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		w, err := a.Window(context.Background())
		if err == nil && !w.Latest.Before(at) {
			return w
		}
		select {
		case <-done:
			t.Fatal("the capture ended")
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the latest restorable time did not reach %s: %+v %v", at, w, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitStatus waits until the archive's status satisfies ok.
func waitStatus(t *testing.T, a *pgwal.Archive, ok func(pgwal.Status) bool) pgwal.Status {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		st, err := a.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never came: %+v (lag %d bytes)", st, st.LagBytes())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// restoreAt restores the archive to at (or its latest time) into a new
// data directory, starts a server on it and validates it.
func restoreAt(t *testing.T, a *pgwal.Archive, src *testenv.PostgresServer, at time.Time, latest bool) (*testenv.PostgresServer, *pgwal.RestoreResult) {
	t.Helper()
	parent, err := os.MkdirTemp("", "coffer-pitr-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(parent) })
	if err := os.Chmod(parent, 0o711); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(parent, "data")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := a.Restore(ctx, at, latest, dir)
	if err != nil {
		t.Fatal(err)
	}
	srv := testenv.StartPostgresDir(t, dir, src)
	if _, err := pgphysical.Validate(ctx, target(srv, "app"), res.BaseBackup.Metadata); err != nil {
		t.Fatal(err)
	}
	return srv, res
}

type batch struct {
	start, done time.Time // before the transaction began, after its commit returned
}

// TestPointInTimeRestore: rows committed in batches over about a
// minute, with the capture stopped and restarted in between and a
// second base backup taken; a restore to a time between two batches
// holds exactly the batches committed before it; the latest
// restorable time after heavy writes matches the source; times before
// the window and in the future are refused with the window; retention
// drops the first base backup and the WAL before the second, and
// restores inside the window still work.
func TestPointInTimeRestore(t *testing.T) {
	src := testenv.StartPostgres(t)
	db := openDB(t, src.CreateDatabase(t, "app"))
	exec(t, db, `CREATE TABLE events (id bigserial PRIMARY KEY, batch int NOT NULL, payload text NOT NULL)`)
	var clock atomic.Pointer[time.Time] // nil: the real time
	a, _ := newArchive(t, "db-1", func() time.Time {
		if c := clock.Load(); c != nil {
			return *c
		}
		return time.Now()
	}, nil)
	ctx := context.Background()
	tg := target(src, "postgres")

	c := startCapture(t, a, tg)
	bb1, err := a.TakeBaseBackup(ctx, tg)
	if err != nil {
		t.Fatal(err)
	}
	const batches, rows = 20, 25
	var bs []batch
	var bb2 *pgwal.BaseBackup
	for i := 1; i <= batches; i++ {
		switch i {
		case 6: // the capture stops; writes go on; the slot keeps the WAL
			c.stop(t)
		case 10:
			c = startCapture(t, a, tg)
		case 12:
			if bb2, err = a.TakeBaseBackup(ctx, tg); err != nil {
				t.Fatal(err)
			}
		}
		b := batch{start: time.Now()}
		tx, err := db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(`INSERT INTO events (batch, payload) SELECT $1, repeat(md5(g::text), 10) FROM generate_series(1, $2) g`, i, rows); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		b.done = time.Now()
		bs = append(bs, b)
		time.Sleep(2500 * time.Millisecond)
	}
	// Between batch i (1-based) and the next.
	between := func(i int) time.Time { return bs[i-1].done.Add(bs[i].start.Sub(bs[i-1].done) / 2) }
	w := waitLatest(t, a, c.done, bs[batches-1].done)
	if !w.Earliest.Equal(bb1.Completed) {
		t.Fatalf("window %s does not start at the first base backup's completion %s", w, bb1.Completed)
	}

	check := func(at time.Time, wantBatches int, wantBB *pgwal.BaseBackup) {
		t.Helper()
		srv, res := restoreAt(t, a, src, at, false)
		if res.ToEnd {
			t.Errorf("restore to %s replays all the WAL, but later commits are stored", at)
		}
		if res.BaseBackup.ID != wantBB.ID {
			t.Errorf("restore to %s started from base backup %s, want %s", at, res.BaseBackup.ID, wantBB.ID)
		}
		var n, maxBatch int
		if err := openDB(t, srv.DSN("app")).QueryRow(`SELECT count(*), coalesce(max(batch), 0) FROM events`).Scan(&n, &maxBatch); err != nil {
			t.Fatal(err)
		}
		if n != wantBatches*rows || maxBatch != wantBatches {
			t.Fatalf("restore to %s (after batch %d): %d rows up to batch %d", at.Format(time.RFC3339Nano), wantBatches, n, maxBatch)
		}
	}
	check(between(2), 2, bb1)
	check(between(7), 7, bb1) // committed while the capture was stopped

	// Outside the window: before the first base backup, in the future.
	for _, at := range []time.Time{bb1.Completed.Add(-time.Second), time.Now().Add(time.Hour)} {
		var we *pgwal.WindowError
		if _, err := a.Restore(ctx, at, false, filepath.Join(t.TempDir(), "data")); !errors.As(err, &we) || !we.Window.Earliest.Equal(w.Earliest) {
			t.Fatalf("restore to %s outside the window: %v", at, err)
		}
	}

	// Heavy writes, then the latest restorable time matches the source.
	exec(t, db, `CREATE TABLE heavy (id bigint PRIMARY KEY, payload text)`)
	for k := 0; k < 5; k++ {
		exec(t, db, `INSERT INTO heavy SELECT g, repeat(md5(g::text), 8) FROM generate_series($1::bigint * 40000 + 1, ($1::bigint + 1) * 40000) g`, k)
	}
	exec(t, db, `UPDATE events SET payload = 'updated' WHERE batch % 3 = 0`)
	lastWrite := time.Now()
	waitLatest(t, a, c.done, lastWrite)
	srv, res := restoreAt(t, a, src, time.Time{}, true)
	if res.BaseBackup.ID != bb2.ID {
		t.Errorf("latest restore started from %s, want the newest base backup %s", res.BaseBackup.ID, bb2.ID)
	}
	want, err := postgres.Checksums(ctx, target(src, "app"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := postgres.Checksums(ctx, target(srv, "app"))
	if err != nil {
		t.Fatal(err)
	}
	if r, err := engine.Compare(want, got); err != nil {
		t.Fatalf("latest restore differs from the source: %v %+v", err, r)
	}

	// Retention of a day, on a clock a day after the second base
	// backup: the window starts there.
	day := bb2.Completed.Add(24*time.Hour + time.Millisecond)
	clock.Store(&day)
	ps, err := a.Expire(ctx, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if ps.BaseBackupsDeleted != 1 || ps.SegmentsDeleted == 0 {
		t.Fatalf("prune: %+v", ps)
	}
	w2, err := a.Window(ctx)
	if err != nil || !w2.Earliest.Equal(bb2.Completed) {
		t.Fatalf("window after pruning: %s, %v", w2, err)
	}
	var we *pgwal.WindowError
	if _, err := a.Restore(ctx, between(7), false, filepath.Join(t.TempDir(), "data")); !errors.As(err, &we) {
		t.Fatalf("restore to a pruned time: %v", err)
	}
	check(between(13), 13, bb2)
	check(between(19), 19, bb2)
}

// TestSlotBound: with the capture stopped and writes going past
// max_slot_wal_keep_size, the server removes the WAL (the instance
// keeps running); the capture, started again, reports the lost slot
// and the gap, recreates the slot, and the window resumes once a new
// base backup is taken.
func TestSlotBound(t *testing.T) {
	src := testenv.StartPostgresWith(t, "max_slot_wal_keep_size=32MB", "min_wal_size=32MB", "max_wal_size=64MB")
	db := openDB(t, src.CreateDatabase(t, "app"))
	a, _ := newArchive(t, "db-2", nil, nil)
	ctx := context.Background()
	tg := target(src, "postgres")
	c := startCapture(t, a, tg)
	if _, err := a.TakeBaseBackup(ctx, tg); err != nil {
		t.Fatal(err)
	}
	exec(t, db, `CREATE TABLE t (id bigint, payload text)`)
	waitLatest(t, a, c.done, time.Now())
	c.stop(t)

	for i := 0; i < 8; i++ {
		exec(t, db, `INSERT INTO t SELECT g, repeat(md5(g::text), 20) FROM generate_series(1, 10000) g`)
		exec(t, db, `SELECT pg_switch_wal()`)
	}
	exec(t, db, `CHECKPOINT`)
	var status string
	if err := db.QueryRow(`SELECT coalesce(wal_status, '') FROM pg_replication_slots WHERE slot_name = 'coffer_wal'`).Scan(&status); err != nil {
		t.Fatal(err)
	}
	if status != "lost" {
		t.Fatalf("slot wal_status after writing past the bound: %q", status)
	}
	exec(t, db, `INSERT INTO t VALUES (-1, 'the instance keeps running')`)

	c = startCapture(t, a, tg)
	deadline := time.Now().Add(time.Minute)
	for c.kinds()[pgwal.EventGap] == "" {
		if time.Now().After(deadline) {
			t.Fatalf("no gap reported; events %v", c.kinds())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if c.kinds()[pgwal.EventSlotLost] == "" {
		t.Fatalf("the lost slot was not reported: %v", c.kinds())
	}
	if _, err := a.Window(ctx); !errors.Is(err, pgwal.ErrNoWindow) {
		t.Fatalf("window across the gap: %v", err)
	}
	bb, err := a.TakeBaseBackup(ctx, tg)
	if err != nil {
		t.Fatal(err)
	}
	exec(t, db, `INSERT INTO t VALUES (-2, 'after the new base backup')`)
	w := waitLatest(t, a, c.done, time.Now())
	if !w.Earliest.Equal(bb.Completed) {
		t.Fatalf("window after the gap %s does not start at the new base backup %s", w, bb.Completed)
	}

	// Turned off: the slot goes, and dropping it again is no error.
	c.stop(t)
	for range 2 {
		if err := pgwal.DropSlot(ctx, tg, ""); err != nil {
			t.Fatal(err)
		}
	}
	var slots int
	if err := db.QueryRow(`SELECT count(*) FROM pg_replication_slots`).Scan(&slots); err != nil || slots != 0 {
		t.Fatalf("%d slots left after DropSlot (%v)", slots, err)
	}
}

// TestVaultOutage: while the vault's storage refuses writes the capture
// fails and Run retries; the slot keeps the WAL, so once the storage is
// back a restore to a time inside the outage holds exactly the rows
// committed before it.
func TestVaultOutage(t *testing.T) {
	src := testenv.StartPostgres(t)
	db := openDB(t, src.CreateDatabase(t, "app"))
	exec(t, db, `CREATE TABLE events (id bigserial PRIMARY KEY, batch int NOT NULL)`)
	var down atomic.Bool
	a, _ := newArchive(t, "db-3", nil, &down)
	ctx, cancel := context.WithCancel(context.Background())
	tg := target(src, "postgres")
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		a.Run(ctx, tg, pgwal.CaptureOptions{FlushInterval: 500 * time.Millisecond})
	}()
	t.Cleanup(func() { cancel(); <-ran })
	if _, err := a.TakeBaseBackup(context.Background(), tg); err != nil {
		t.Fatal(err)
	}
	insert := func(b int) time.Time {
		exec(t, db, `INSERT INTO events (batch) SELECT $1 FROM generate_series(1, 10)`, b)
		return time.Now()
	}
	insert(1)
	down.Store(true)
	time.Sleep(time.Second)
	inOutage := insert(2)
	time.Sleep(1500 * time.Millisecond)
	target := inOutage.Add(750 * time.Millisecond)
	time.Sleep(1500 * time.Millisecond)
	insert(3)
	if w, err := a.Window(context.Background()); err == nil && !w.Latest.Before(target) {
		t.Fatalf("the window reached %s while the vault was down", w.Latest)
	}
	// The status shows the lag: the server's WAL ran past the slot.
	st := waitStatus(t, a, func(st pgwal.Status) bool { return st.ProbedAt.After(target) && st.LagBytes() > 0 })
	if st.Window != nil && st.Window.Latest.After(target) {
		t.Fatalf("status while the vault is down: %+v", st)
	}
	down.Store(false)
	waitLatest(t, a, nil, time.Now()) // Run does not end
	// Caught up: the slot reaches the server's position again.
	waitStatus(t, a, func(st pgwal.Status) bool { return st.ProbedAt.After(target) && st.LagBytes() == 0 && st.Window != nil })
	srv, _ := restoreAt(t, a, src, target, false)
	var n, maxBatch int
	if err := openDB(t, srv.DSN("app")).QueryRow(`SELECT count(*), max(batch) FROM events`).Scan(&n, &maxBatch); err != nil {
		t.Fatal(err)
	}
	if n != 20 || maxBatch != 2 {
		t.Fatalf("restore to a time inside the outage: %d rows up to batch %d, want 20 up to batch 2", n, maxBatch)
	}
}

// TestTimelineAfterPromotion: a server restored to a point in time has
// promoted onto timeline 2; captured in an archive of its own, its WAL
// is stored under timeline 2 with the timeline's history, and a restore
// from that archive recovers along it.
func TestTimelineAfterPromotion(t *testing.T) {
	src := testenv.StartPostgres(t)
	db := openDB(t, src.CreateDatabase(t, "app"))
	exec(t, db, `CREATE TABLE events (id bigserial PRIMARY KEY, batch int NOT NULL)`)
	a, _ := newArchive(t, "db-4", nil, nil)
	ctx := context.Background()
	c := startCapture(t, a, target(src, "postgres"))
	if _, err := a.TakeBaseBackup(ctx, target(src, "postgres")); err != nil {
		t.Fatal(err)
	}
	exec(t, db, `INSERT INTO events (batch) SELECT 1 FROM generate_series(1, 10)`)
	waitLatest(t, a, c.done, time.Now())
	c.stop(t)
	promoted, _ := restoreAt(t, a, src, time.Time{}, true)

	b, _ := newArchive(t, "db-4-restored", nil, nil)
	tg := target(promoted, "postgres")
	c = startCapture(t, b, tg)
	if _, err := b.TakeBaseBackup(ctx, tg); err != nil {
		t.Fatal(err)
	}
	exec(t, openDB(t, promoted.DSN("app")), `INSERT INTO events (batch) SELECT 2 FROM generate_series(1, 10)`)
	waitLatest(t, b, c.done, time.Now())
	segs, err := b.Segments(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range segs {
		if s.Timeline != 2 {
			t.Fatalf("segment %d of the promoted server stored on timeline %d", s.Segno, s.Timeline)
		}
	}
	again, _ := restoreAt(t, b, promoted, time.Time{}, true)
	var n, batches int
	if err := openDB(t, again.DSN("app")).QueryRow(`SELECT count(*), count(DISTINCT batch) FROM events`).Scan(&n, &batches); err != nil {
		t.Fatal(err)
	}
	if n != 20 || batches != 2 {
		t.Fatalf("restore of the promoted server: %d rows in %d batches, want 20 in 2", n, batches)
	}
	var tli int
	if err := openDB(t, again.DSN("postgres")).QueryRow(`SELECT ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int`).Scan(&tli); err != nil {
		t.Fatal(err)
	}
	if tli != 3 {
		t.Fatalf("the second restore promoted onto timeline %d, want 3", tli)
	}
}
