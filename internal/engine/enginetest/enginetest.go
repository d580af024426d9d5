// Package enginetest is the shared test suite every engine adapter must
// pass: snapshot, restore into a new database, verify, detection of
// changed tables and damaged streams, refusal of non-empty targets,
// unreachable databases, and consistency of a snapshot taken while other
// transactions keep writing.
package enginetest

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coffer-dev/coffer/internal/engine"
)

// Harness connects the suite to one engine.
type Harness struct {
	Engine engine.Engine
	// NewTarget returns a new, empty database (created if the engine
	// needs it to exist before Restore).
	NewTarget func(t *testing.T) engine.Target
	// Open opens a database/sql handle on a target; the suite runs
	// portable SQL through it (CREATE TABLE, INSERT with literals,
	// UPDATE, transactions).
	Open func(t *testing.T, tg engine.Target) *sql.DB
	// Fixture is engine-specific SQL creating a type-rich schema and data
	// (several tables, indexes, sequences, views) in a new target.
	Fixture []string
	// Check, if set, makes engine-specific assertions on a database
	// restored from Fixture (sequences continue, views and indexes
	// exist, values survived exactly).
	Check func(t *testing.T, db *sql.DB)
	// TableName maps a plain table name to the name Metadata uses
	// (PostgreSQL: "public.items").
	TableName func(string) string
	// Unreachable is a target that cannot be reached (a closed port, a
	// missing file). Its password, if any, must not appear in errors.
	Unreachable engine.Target
}

// Run runs the suite.
func Run(t *testing.T, h Harness) {
	if h.TableName == nil {
		h.TableName = func(s string) string { return s }
	}
	t.Run("RoundTrip", func(t *testing.T) { testRoundTrip(t, h) })
	t.Run("Mismatch", func(t *testing.T) { testMismatch(t, h) })
	t.Run("NotEmpty", func(t *testing.T) { testNotEmpty(t, h) })
	t.Run("DamagedStream", func(t *testing.T) { testDamaged(t, h) })
	t.Run("Unreachable", func(t *testing.T) { testUnreachable(t, h) })
	t.Run("ConcurrentWrites", func(t *testing.T) { testConcurrent(t, h) })
	t.Run("CheckQuery", func(t *testing.T) { testCheckQuery(t, h) })
}

func exec(t *testing.T, db *sql.DB, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// source creates a new target holding the fixture plus the suite's own
// items table.
func source(t *testing.T, h Harness) (engine.Target, *sql.DB) {
	t.Helper()
	tg := h.NewTarget(t)
	db := h.Open(t, tg)
	exec(t, db, h.Fixture...)
	exec(t, db,
		`CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, qty BIGINT)`,
		`INSERT INTO items (id, name, qty) VALUES (1, 'one', 10), (2, 'two', NULL), (3, 'three', 30)`)
	return tg, db
}

// snapshot runs Snapshot through a pipe drained by another goroutine into
// a file, as the vault does, and returns the file and the metadata after
// a JSON round trip.
func snapshot(t *testing.T, h Harness, tg engine.Target) (string, *engine.Metadata) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "snapshot")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pr, pw := io.Pipe()
	copied := make(chan error, 1)
	var n int64
	go func() {
		var err error
		n, err = io.Copy(f, pr)
		pr.CloseWithError(err)
		copied <- err
	}()
	md, err := h.Engine.Snapshot(context.Background(), tg, pw)
	pw.CloseWithError(err)
	if cerr := <-copied; err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("Snapshot(%s): %v", tg, err)
	}
	if md.StreamSize != n {
		t.Errorf("StreamSize = %d, stream had %d bytes", md.StreamSize, n)
	}
	b, err := json.Marshal(md)
	if err != nil {
		t.Fatal(err)
	}
	var back engine.Metadata
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	return path, &back
}

func restore(t *testing.T, h Harness, path string, md *engine.Metadata) (engine.Target, error) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tg := h.NewTarget(t)
	return tg, h.Engine.Restore(context.Background(), tg, f, md)
}

func testRoundTrip(t *testing.T, h Harness) {
	ctx := context.Background()
	src, _ := source(t, h)
	if err := h.Engine.Ready(ctx, src); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	path, md := snapshot(t, h, src)
	switch {
	case md.Engine != h.Engine.Name():
		t.Errorf("Engine = %q, want %q", md.Engine, h.Engine.Name())
	case md.FormatVersion != engine.FormatVersion, md.EngineVersion == "", md.DumpFormat == "", md.ChecksumAlgorithm == "":
		t.Errorf("incomplete metadata: %+v", md)
	case md.LogicalSize <= 0, md.StreamSize <= 0, len(md.StreamSHA256) != 64:
		t.Errorf("sizes: logical %d stream %d sha %q", md.LogicalSize, md.StreamSize, md.StreamSHA256)
	case md.StartedAt.IsZero(), md.CompletedAt.Before(md.StartedAt):
		t.Errorf("times: %v .. %v", md.StartedAt, md.CompletedAt)
	}
	items := findTable(t, md, h.TableName("items"))
	if items.Rows != 3 || items.Checksum == "" {
		t.Errorf("items = %+v, want 3 rows and a checksum", items)
	}
	if len(md.Tables) < 4 {
		t.Errorf("%d tables recorded, want the fixture's and items", len(md.Tables))
	}
	// The source itself verifies against its own snapshot.
	if res, err := h.Engine.Verify(ctx, src, md); err != nil || !res.OK() {
		t.Fatalf("Verify(source) = %+v, %v", res, err)
	}

	dst, err := restore(t, h, path, md)
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	res, err := h.Engine.Verify(ctx, dst, md)
	if err != nil {
		t.Fatalf("Verify(restored): %v", err)
	}
	if res.Tables != len(md.Tables) || res.Rows != md.Rows() {
		t.Errorf("Verify = %d tables %d rows, want %d and %d", res.Tables, res.Rows, len(md.Tables), md.Rows())
	}
	db := h.Open(t, dst)
	var name string
	if err := db.QueryRow(`SELECT name FROM items WHERE id = 3`).Scan(&name); err != nil || name != "three" {
		t.Errorf("restored items row 3 = %q, %v", name, err)
	}
	// A snapshot of the restored database has the same checksums.
	_, md2 := snapshot(t, h, dst)
	if _, err := engine.Compare(md.Tables, md2.Tables); err != nil {
		t.Errorf("snapshot of the restored database differs: %v", err)
	}
	if h.Check != nil {
		h.Check(t, db) // may write
	}
}

func findTable(t *testing.T, md *engine.Metadata, name string) engine.Table {
	t.Helper()
	for _, tb := range md.Tables {
		if tb.Name == name {
			return tb
		}
	}
	t.Fatalf("table %s not in metadata %+v", name, md.Tables)
	return engine.Table{}
}

func testMismatch(t *testing.T, h Harness) {
	ctx := context.Background()
	src, _ := source(t, h)
	path, md := snapshot(t, h, src)
	items := h.TableName("items")
	tests := []struct {
		name   string
		stmts  []string
		table  string
		reason string
	}{
		{"changed value", []string{`UPDATE items SET name = 'ONE' WHERE id = 1`}, items, "checksum"},
		{"null to value", []string{`UPDATE items SET qty = 0 WHERE id = 2`}, items, "checksum"},
		{"swapped values", []string{`UPDATE items SET qty = 30 WHERE id = 1`, `UPDATE items SET qty = 10 WHERE id = 3`}, items, "checksum"},
		{"deleted row", []string{`DELETE FROM items WHERE id = 2`}, items, "rows"},
		{"dropped table", []string{`DROP TABLE items`}, items, "missing"},
		{"extra table", []string{`CREATE TABLE intruder (x INTEGER)`}, h.TableName("intruder"), "unexpected"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dst, err := restore(t, h, path, md)
			if err != nil {
				t.Fatalf("Restore: %v", err)
			}
			exec(t, h.Open(t, dst), tc.stmts...)
			res, err := h.Engine.Verify(ctx, dst, md)
			if !errors.Is(err, engine.ErrMismatch) {
				t.Fatalf("Verify = %+v, %v; want ErrMismatch", res, err)
			}
			if !strings.Contains(err.Error(), tc.table) {
				t.Errorf("error %q does not name %s", err, tc.table)
			}
			if len(res.Mismatches) != 1 || res.Mismatches[0].Table != tc.table || res.Mismatches[0].Reason != tc.reason {
				t.Errorf("mismatches = %+v, want one %s on %s", res.Mismatches, tc.reason, tc.table)
			}
		})
	}
}

func testNotEmpty(t *testing.T, h Harness) {
	src, _ := source(t, h)
	path, md := snapshot(t, h, src)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dst := h.NewTarget(t)
	exec(t, h.Open(t, dst), `CREATE TABLE precious (x INTEGER)`, `INSERT INTO precious (x) VALUES (42)`)
	err = h.Engine.Restore(context.Background(), dst, f, md)
	if !errors.Is(err, engine.ErrNotEmpty) {
		t.Fatalf("Restore into a non-empty database = %v, want ErrNotEmpty", err)
	}
	var x int
	if err := h.Open(t, dst).QueryRow(`SELECT x FROM precious`).Scan(&x); err != nil || x != 42 {
		t.Fatalf("existing data after refused restore: %d, %v", x, err)
	}
}

func testDamaged(t *testing.T, h Harness) {
	src, _ := source(t, h)
	path, md := snapshot(t, h, src)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0x40
	other := *md
	other.Engine = "other"
	newer := *md
	newer.FormatVersion = engine.FormatVersion + 1
	tests := []struct {
		name string
		data []byte
		md   *engine.Metadata
		want error // nil: any error
	}{
		{"flipped byte", flipped, md, nil},
		{"truncated", good[:len(good)*2/3], md, nil},
		{"empty", nil, md, nil},
		{"other engine", good, &other, engine.ErrFormat},
		{"newer metadata", good, &newer, engine.ErrFormat},
		{"no metadata", good, nil, engine.ErrFormat},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dst := h.NewTarget(t)
			err := h.Engine.Restore(context.Background(), dst, bytes.NewReader(tc.data), tc.md)
			if err == nil {
				t.Fatal("Restore of a damaged stream succeeded")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("Restore = %v, want %v", err, tc.want)
			}
			t.Logf("Restore: %v", err)
		})
	}
}

func testUnreachable(t *testing.T, h Harness) {
	ctx := context.Background()
	tg := h.Unreachable
	check := func(op string, err error) {
		t.Helper()
		if !errors.Is(err, engine.ErrUnavailable) {
			t.Errorf("%s(unreachable) = %v, want ErrUnavailable", op, err)
			return
		}
		if tg.Password != "" && strings.Contains(err.Error(), tg.Password) {
			t.Errorf("%s error shows the password: %v", op, err)
		}
		t.Logf("%s: %v", op, err)
	}
	check("Ready", h.Engine.Ready(ctx, tg))
	var buf bytes.Buffer
	_, err := h.Engine.Snapshot(ctx, tg, &buf)
	check("Snapshot", err)
	src := h.NewTarget(t)
	exec(t, h.Open(t, src), `CREATE TABLE t (x INTEGER)`)
	path, md := snapshot(t, h, src)
	_, err = h.Engine.Verify(ctx, tg, md)
	check("Verify", err)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	check("Restore", h.Engine.Restore(ctx, tg, f, md))
}

// testConcurrent snapshots while writers move money between accounts and
// log each transfer, each move one transaction. A torn snapshot would
// break one of the invariants checked on the restored copy: the total is
// constant, and every balance equals its start plus the logged transfers.
func testConcurrent(t *testing.T, h Harness) {
	const accounts, start = 20, 1000
	src := h.NewTarget(t)
	db := h.Open(t, src)
	exec(t, db,
		`CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance BIGINT NOT NULL)`,
		`CREATE TABLE transfers (id INTEGER PRIMARY KEY, src INTEGER NOT NULL, dst INTEGER NOT NULL, amount BIGINT NOT NULL)`)
	var vals []string
	for i := 0; i < accounts; i++ {
		vals = append(vals, fmt.Sprintf("(%d, %d)", i, start))
	}
	exec(t, db, `INSERT INTO accounts (id, balance) VALUES `+strings.Join(vals, ", "))

	ctx, cancel := context.WithCancel(context.Background())
	var committed atomic.Int64
	var nextID atomic.Int64
	var wg sync.WaitGroup
	writerErr := make(chan error, 2)
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func(seed int64) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(seed))
			for ctx.Err() == nil {
				a, b, amt := rng.Intn(accounts), rng.Intn(accounts), rng.Intn(50)+1
				id := nextID.Add(1)
				err := transfer(ctx, db, id, a, b, amt)
				if ctx.Err() != nil {
					return
				}
				if err != nil && !retryable(err) {
					writerErr <- err
					return
				}
				if err == nil {
					committed.Add(1)
				}
			}
		}(int64(w + 1))
	}
	// Let the writers get going, then snapshot while they run.
	for committed.Load() < 20 {
		select {
		case err := <-writerErr:
			cancel()
			t.Fatalf("writer: %v", err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	path, md := snapshot(t, h, src)
	before := committed.Load()
	for committed.Load() < before+20 {
		select {
		case err := <-writerErr:
			cancel()
			t.Fatalf("writer: %v", err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	cancel()
	wg.Wait()
	t.Logf("%d transfers committed in all", committed.Load())

	dst, err := restore(t, h, path, md)
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if _, err := h.Engine.Verify(context.Background(), dst, md); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	rdb := h.Open(t, dst)
	var total, n int64
	if err := rdb.QueryRow(`SELECT sum(balance), count(*) FROM accounts`).Scan(&total, &n); err != nil {
		t.Fatal(err)
	}
	if total != accounts*start || n != accounts {
		t.Fatalf("restored accounts: %d rows summing to %d, want %d summing to %d", n, total, accounts, accounts*start)
	}
	var logged int64
	if err := rdb.QueryRow(`SELECT count(*) FROM transfers`).Scan(&logged); err != nil {
		t.Fatal(err)
	}
	if logged == 0 {
		t.Fatal("snapshot holds no transfers; the writers ran before it")
	}
	rows, err := rdb.Query(`SELECT a.id, a.balance,
		(SELECT coalesce(sum(amount), 0) FROM transfers WHERE dst = a.id) - (SELECT coalesce(sum(amount), 0) FROM transfers WHERE src = a.id)
		FROM accounts a`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, bal, net int64
		if err := rows.Scan(&id, &bal, &net); err != nil {
			t.Fatal(err)
		}
		if bal != start+net {
			t.Errorf("account %d: balance %d, but the logged transfers give %d: torn transaction", id, bal, start+net)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	t.Logf("snapshot holds %d of the transfers", logged)
}

func transfer(ctx context.Context, db *sql.DB, id int64, a, b, amt int) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, s := range []string{
		fmt.Sprintf(`UPDATE accounts SET balance = balance - %d WHERE id = %d`, amt, a),
		fmt.Sprintf(`UPDATE accounts SET balance = balance + %d WHERE id = %d`, amt, b),
		fmt.Sprintf(`INSERT INTO transfers (id, src, dst, amount) VALUES (%d, %d, %d, %d)`, id, a, b, amt),
	} {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// retryable reports lock conflicts between the two writers (PostgreSQL
// deadlocks, SQLite busy), which the writer simply retries with another
// transfer.
func retryable(err error) bool {
	s := strings.ToLower(err.Error())
	for _, m := range []string{"deadlock", "busy", "locked", "could not serialize"} {
		if strings.Contains(s, m) {
			return true
		}
	}
	return false
}
