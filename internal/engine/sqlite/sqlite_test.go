package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coffer-dev/coffer/internal/engine"
	"github.com/coffer-dev/coffer/internal/engine/enginetest"
	"github.com/coffer-dev/coffer/internal/engine/sqlite"
)

// openRW opens (creating) a database the way an application would: WAL,
// a busy timeout, writers taking the lock when they begin.
func openRW(t *testing.T, path string) *sql.DB {
	t.Helper()
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "busy_timeout(30000)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

var fixture = []string{
	`PRAGMA user_version = 7`,
	`CREATE TABLE kinds (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		i INTEGER, r REAL, n NUMERIC, t TEXT, b BLOB, j TEXT CHECK (j IS NULL OR json_valid(j)),
		ts DATETIME, flag BOOLEAN)`,
	`INSERT INTO kinds (i, r, n, t, b, j, ts, flag) VALUES
		(9223372036854775807, 0.1, '12345678901234567890.123456789', 'Grüße, 世界, 🎉', X'00FF10', '{"a": [1, 2, {"b": null}]}', '2024-02-29 23:59:59.123456', 1),
		(-9223372036854775808, -1.7976931348623157e308, 0, '', X'', '[]', '1970-01-01 00:00:00', 0),
		(NULL, 2.2250738585072014e-308, NULL, NULL, NULL, NULL, NULL, NULL),
		(0, 1e-320, '3.14', 'it''s "quoted"' || char(10) || 'newline', zeroblob(16), '"s"', '9999-12-31T23:59:59Z', 1)`,
	`DELETE FROM kinds WHERE id = 3`,
	`CREATE INDEX kinds_t ON kinds (t)`,
	`CREATE UNIQUE INDEX kinds_ij ON kinds (i, j)`,
	`CREATE TABLE big (id INTEGER PRIMARY KEY, payload BLOB NOT NULL, note TEXT NOT NULL)`,
	`INSERT INTO big (id, payload, note) VALUES (1, randomblob(1048576), printf('%.*c', 300000, 'x')), (2, randomblob(70000), 'small')`,
	`CREATE TABLE nopk (a TEXT, b REAL)`,
	`INSERT INTO nopk VALUES ('dup', 1.5), ('dup', 1.5), ('other', NULL)`,
	`CREATE TABLE wr (k TEXT PRIMARY KEY, v INTEGER) WITHOUT ROWID`,
	`INSERT INTO wr VALUES ('a', 1), ('b', 2)`,
	`CREATE VIEW kinds_text AS SELECT id, t FROM kinds WHERE t IS NOT NULL`,
	`CREATE TRIGGER wr_audit AFTER UPDATE ON wr BEGIN INSERT INTO nopk VALUES (new.k, new.v); END`,
}

func check(t *testing.T, db *sql.DB) {
	var uv int
	if err := db.QueryRow(`PRAGMA user_version`).Scan(&uv); err != nil || uv != 7 {
		t.Errorf("user_version = %d, %v; want 7", uv, err)
	}
	var s string
	if err := db.QueryRow(`SELECT t FROM kinds WHERE i = 9223372036854775807`).Scan(&s); err != nil || s != "Grüße, 世界, 🎉" {
		t.Errorf("unicode text = %q, %v", s, err)
	}
	var r float64
	if err := db.QueryRow(`SELECT r FROM kinds WHERE i = 0`).Scan(&r); err != nil || r != 1e-320 {
		t.Errorf("subnormal real = %g, %v", r, err)
	}
	var n int
	if err := db.QueryRow(`SELECT length(payload) + length(note) FROM big WHERE id = 1`).Scan(&n); err != nil || n != 1048576+300000 {
		t.Errorf("large row length = %d, %v", n, err)
	}
	if err := db.QueryRow(`SELECT count(*) FROM kinds_text`).Scan(&n); err != nil || n != 3 {
		t.Errorf("view rows = %d, %v; want 3", n, err)
	}
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_schema WHERE type IN ('index', 'trigger') AND name IN ('kinds_t', 'kinds_ij', 'wr_audit')`).Scan(&n); err != nil || n != 3 {
		t.Errorf("indexes and trigger = %d, %v; want 3", n, err)
	}
	// AUTOINCREMENT continues after the highest id ever used (4), not
	// after the highest present.
	var id int64
	if err := db.QueryRow(`INSERT INTO kinds (t) VALUES ('next') RETURNING id`).Scan(&id); err != nil || id != 5 {
		t.Errorf("next autoincrement id = %d, %v; want 5", id, err)
	}
}

func harness(t *testing.T) enginetest.Harness {
	dir := t.TempDir()
	n := 0
	return enginetest.Harness{
		Engine: sqlite.New(sqlite.Options{TempDir: t.TempDir()}),
		NewTarget: func(t *testing.T) engine.Target {
			n++
			return engine.Target{Path: filepath.Join(dir, fmt.Sprintf("db%d.sqlite", n))}
		},
		Open:        func(t *testing.T, tg engine.Target) *sql.DB { return openRW(t, tg.Path) },
		Fixture:     fixture,
		Check:       check,
		Unreachable: engine.Target{Path: filepath.Join(dir, "missing", "nothing.sqlite")},
	}
}

func TestSuite(t *testing.T) { enginetest.Run(t, harness(t)) }

// TestStreamIsDatabase checks the stream is a plain SQLite file.
func TestStreamIsDatabase(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.sqlite")
	db := openRW(t, src)
	if _, err := db.Exec(`CREATE TABLE t (x TEXT); INSERT INTO t VALUES ('hello')`); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	md, err := sqlite.New(sqlite.Options{}).Snapshot(context.Background(), engine.Target{Path: src}, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(buf.Bytes(), []byte("SQLite format 3\x00")) {
		t.Fatalf("stream starts %q", buf.Bytes()[:16])
	}
	if md.LogicalSize != int64(buf.Len()) {
		t.Errorf("LogicalSize = %d, stream %d bytes", md.LogicalSize, buf.Len())
	}
}

// TestRestoreCorruptDatabase feeds a stream whose digest matches (as if
// the snapshot itself were damaged) but whose pages are not a valid
// database: the integrity check must refuse it and leave nothing behind.
func TestRestoreCorruptDatabase(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.sqlite")
	db := openRW(t, src)
	if _, err := db.Exec(`CREATE TABLE t (x TEXT); CREATE INDEX tx ON t (x);`); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 200; i++ {
		if _, err := db.Exec(`INSERT INTO t VALUES (printf('%0500d', ?))`, i); err != nil {
			t.Fatal(err)
		}
	}
	e := sqlite.New(sqlite.Options{})
	var buf bytes.Buffer
	md, err := e.Snapshot(context.Background(), engine.Target{Path: src}, &buf)
	if err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	// Scribble over the middle of a page beyond the first.
	for i := 3*4096 + 100; i < 3*4096+400; i++ {
		data[i] = 0x5a
	}
	md.StreamSHA256 = "" // no digest recorded: only the integrity check can tell
	dst := filepath.Join(dir, "dst.sqlite")
	err = e.Restore(context.Background(), engine.Target{Path: dst}, bytes.NewReader(data), md)
	if !errors.Is(err, engine.ErrCorrupt) {
		t.Fatalf("Restore = %v, want ErrCorrupt", err)
	}
	t.Logf("Restore: %v", err)
	entries, _ := os.ReadDir(dir)
	for _, en := range entries {
		if strings.HasPrefix(en.Name(), "dst") || strings.Contains(en.Name(), "coffer-restore") {
			t.Errorf("left behind: %s", en.Name())
		}
	}
}
