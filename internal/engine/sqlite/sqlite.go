// Package sqlite is the SQLite engine adapter: it snapshots a live SQLite
// database file with VACUUM INTO, restores by writing a new file, and
// verifies with PRAGMA integrity_check plus per-table checksums. It uses
// the pure-Go modernc.org/sqlite driver, so no sqlite3 binary is needed.
//
// # Stream format
//
// The stream ("sqlite3-database") is a complete SQLite database file as
// VACUUM INTO writes it: the SQLite file format
// (https://www.sqlite.org/fileformat.html), page 1 starting with
// "SQLite format 3\x00". Any sqlite3 tool opens it.
//
// # Consistency
//
// VACUUM INTO runs inside one read transaction of the source, so the file
// holds exactly one committed state even while other connections write
// (in WAL mode writers are not blocked; in rollback-journal mode they wait
// for the copy). The snapshot is written to a temporary file, checked,
// checksummed and then streamed, so the checksums describe exactly the
// bytes streamed.
//
// # Checksums ("sqlite-quote-sha256-sum128/v1")
//
// For every table in sqlite_schema (type 'table', virtual tables excluded;
// sqlite_sequence and sqlite_stat* included) each row is read as the
// quote() of each column in table_info order - quote() renders a value with
// its storage class (NULL, integer, a real that round-trips, 'text',
// X'blob'), independent of declared types and driver conversions. A row's
// hash is the SHA-256 of those texts, each preceded by its length as a
// uvarint. The table's checksum is the sum modulo 2^64 of the first eight
// bytes of every row hash (big-endian) followed by the same sum over bytes
// 8 to 16, printed as 32 hex digits: a multiset hash, independent of row
// order, so it needs no sort and detects any changed, added or removed row
// with overwhelming probability.
package sqlite

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"crypto/sha256"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/coffer-dev/coffer/internal/engine"
)

// Names recorded in the metadata.
const (
	Name              = "sqlite"
	DumpFormat        = "sqlite3-database"
	ChecksumAlgorithm = "sqlite-quote-sha256-sum128/v1"
)

// Options configure the engine.
type Options struct {
	// TempDir holds snapshot files while they are streamed; empty means
	// os.TempDir(). It needs room for one copy of the largest database.
	TempDir string
}

// Engine is the SQLite adapter.
type Engine struct {
	tempDir string
}

var _ engine.Engine = (*Engine)(nil)

// New returns the SQLite engine.
func New(opts Options) *Engine { return &Engine{tempDir: opts.TempDir} }

// Name is "sqlite".
func (*Engine) Name() string { return Name }

// open opens an existing database file. Read-only handles cannot create
// the file by accident.
func open(path string, readOnly bool) (*sql.DB, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	if readOnly {
		q.Set("mode", "ro")
	} else {
		q.Set("mode", "rw")
	}
	q.Add("_pragma", "busy_timeout(30000)")
	return sql.Open("sqlite", "file:"+(&url.URL{Path: abs}).EscapedPath()+"?"+q.Encode())
}

func unavailable(t engine.Target, err error) error {
	return fmt.Errorf("%w: sqlite database %s: %v", engine.ErrUnavailable, t.Path, err)
}

// Ready reports whether the file is an SQLite database that opens.
func (e *Engine) Ready(ctx context.Context, t engine.Target) error {
	if t.Path == "" {
		return fmt.Errorf("%w: no sqlite database path given", engine.ErrUnavailable)
	}
	if _, err := os.Stat(t.Path); err != nil {
		return unavailable(t, err)
	}
	db, err := open(t.Path, true)
	if err != nil {
		return unavailable(t, err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema`).Scan(&n); err != nil {
		return unavailable(t, err)
	}
	return nil
}

// Snapshot copies the database with VACUUM INTO into a temporary file,
// checksums the copy and streams it to w.
func (e *Engine) Snapshot(ctx context.Context, t engine.Target, w io.Writer) (*engine.Metadata, error) {
	if err := e.Ready(ctx, t); err != nil {
		return nil, err
	}
	md := &engine.Metadata{
		FormatVersion:     engine.FormatVersion,
		Engine:            Name,
		DumpFormat:        DumpFormat,
		ChecksumAlgorithm: ChecksumAlgorithm,
		StartedAt:         time.Now().UTC(),
	}
	dir, err := os.MkdirTemp(e.tempDir, "coffer-sqlite-snapshot-")
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: temporary directory: %w", t.Path, err)
	}
	defer os.RemoveAll(dir)
	snap := filepath.Join(dir, "snapshot.db")

	src, err := open(t.Path, true)
	if err != nil {
		return nil, unavailable(t, err)
	}
	_, err = src.ExecContext(ctx, `VACUUM INTO ?`, snap)
	src.Close()
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: vacuum into %s: %w", t.Path, snap, err)
	}

	db, err := open(snap, true)
	if err != nil {
		return nil, err
	}
	err = describe(ctx, db, md)
	db.Close()
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", t.Path, err)
	}

	f, err := os.Open(snap)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	d := engine.NewDigest()
	if _, err := io.Copy(io.MultiWriter(w, d), f); err != nil {
		return nil, fmt.Errorf("snapshot %s: write stream: %w", t.Path, err)
	}
	md.StreamSize, md.StreamSHA256 = d.Size(), d.Sum()
	md.CompletedAt = time.Now().UTC()
	return md, nil
}

// describe fills the version, size and table checksums of md from db,
// after checking db's integrity.
func describe(ctx context.Context, db *sql.DB, md *engine.Metadata) error {
	if err := integrity(ctx, db); err != nil {
		return err
	}
	if err := db.QueryRowContext(ctx, `SELECT sqlite_version()`).Scan(&md.EngineVersion); err != nil {
		return err
	}
	var pages, pageSize int64
	if err := db.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages); err != nil {
		return err
	}
	if err := db.QueryRowContext(ctx, `PRAGMA page_size`).Scan(&pageSize); err != nil {
		return err
	}
	md.LogicalSize = pages * pageSize
	tables, err := Checksums(ctx, db)
	if err != nil {
		return err
	}
	md.Tables = tables
	return nil
}

// integrity runs PRAGMA integrity_check and returns ErrCorrupt with its
// first findings unless it says "ok".
func integrity(ctx context.Context, db *sql.DB) error {
	rows, err := db.QueryContext(ctx, `PRAGMA integrity_check(20)`)
	if err != nil {
		return fmt.Errorf("%w: integrity check: %v", engine.ErrCorrupt, err)
	}
	defer rows.Close()
	var found []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return err
		}
		if s != "ok" {
			found = append(found, s)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("%w: integrity check: %v", engine.ErrCorrupt, err)
	}
	if len(found) > 0 {
		return fmt.Errorf("%w: integrity check: %s", engine.ErrCorrupt, strings.Join(found, "; "))
	}
	return nil
}

// Checksums computes every table's row count and checksum in one read
// transaction of db (see the package documentation for the algorithm).
func Checksums(ctx context.Context, db *sql.DB) ([]engine.Table, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `BEGIN DEFERRED`); err != nil {
		return nil, err
	}
	defer conn.ExecContext(context.Background(), `ROLLBACK`)

	var names []string
	rows, err := conn.QueryContext(ctx, `SELECT name FROM sqlite_schema WHERE type = 'table' AND coalesce(sql, '') NOT LIKE 'CREATE VIRTUAL TABLE%' ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return nil, err
		}
		names = append(names, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}

	tables := make([]engine.Table, 0, len(names))
	for _, name := range names {
		tb, err := checksum(ctx, conn, name)
		if err != nil {
			return nil, fmt.Errorf("checksum table %s: %w", name, err)
		}
		tables = append(tables, tb)
	}
	return tables, nil
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func checksum(ctx context.Context, conn *sql.Conn, table string) (engine.Table, error) {
	tb := engine.Table{Name: table}
	var cols []string
	rows, err := conn.QueryContext(ctx, `SELECT name FROM pragma_table_info(?) ORDER BY cid`, table)
	if err != nil {
		return tb, err
	}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			rows.Close()
			return tb, err
		}
		cols = append(cols, "quote("+quoteIdent(c)+")")
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return tb, err
	}
	if len(cols) == 0 {
		return tb, fmt.Errorf("no columns")
	}
	rows, err = conn.QueryContext(ctx, `SELECT `+strings.Join(cols, ", ")+` FROM `+quoteIdent(table))
	if err != nil {
		return tb, err
	}
	defer rows.Close()
	vals := make([]sql.RawBytes, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var sum Sum128
	var lenBuf [binary.MaxVarintLen64]byte
	h := sha256.New()
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return tb, err
		}
		h.Reset()
		for _, v := range vals {
			h.Write(lenBuf[:binary.PutUvarint(lenBuf[:], uint64(len(v)))])
			h.Write(v)
		}
		sum.Add(h.Sum(nil))
		tb.Rows++
	}
	if err := rows.Err(); err != nil {
		return tb, err
	}
	tb.Checksum = sum.String()
	return tb, nil
}

// Sum128 is an order-independent multiset hash: the sums modulo 2^64 of
// the two big-endian 64-bit halves of each added 16-byte (or longer) hash.
type Sum128 struct{ hi, lo uint64 }

// Add adds one element's hash (at least 16 bytes).
func (s *Sum128) Add(h []byte) {
	s.hi += binary.BigEndian.Uint64(h[0:8])
	s.lo += binary.BigEndian.Uint64(h[8:16])
}

func (s Sum128) String() string { return fmt.Sprintf("%016x%016x", s.hi, s.lo) }

// Restore writes the stream to a temporary file next to t.Path, checks its
// digest and integrity, and links it into place. t.Path must not exist
// (or be an empty file); its directory must exist.
func (e *Engine) Restore(ctx context.Context, t engine.Target, r io.Reader, md *engine.Metadata) error {
	if err := md.Check(Name, DumpFormat); err != nil {
		return err
	}
	if t.Path == "" {
		return fmt.Errorf("restore: no sqlite database path given")
	}
	if err := checkEmpty(t.Path); err != nil {
		return err
	}
	dir := filepath.Dir(t.Path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(t.Path)+".coffer-restore-*")
	if err != nil {
		return fmt.Errorf("restore: %w", unavailable(t, err))
	}
	tmp := f.Name()
	published := false
	defer func() {
		if !published {
			os.Remove(tmp)
		}
	}()
	d := engine.NewDigest()
	_, err = io.Copy(io.MultiWriter(f, d), ctxReader{ctx, r})
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("restore %s: write: %w", t.Path, err)
	}
	if err := d.Check(md); err != nil {
		return fmt.Errorf("restore %s: %w", t.Path, err)
	}
	db, err := open(tmp, false)
	if err != nil {
		return err
	}
	err = integrity(ctx, db)
	db.Close()
	if err != nil {
		return fmt.Errorf("restore %s: %w", t.Path, err)
	}
	if err := publish(tmp, t.Path); err != nil {
		return fmt.Errorf("restore %s: %w", t.Path, err)
	}
	published = true
	return syncDir(dir)
}

func checkEmpty(path string) error {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("restore %s: %w", path, err)
	}
	if fi.Size() > 0 || !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: %s already exists; restore into a new path", engine.ErrNotEmpty, path)
	}
	return nil
}

// publish moves tmp to path without replacing a database that appeared
// meanwhile: a hard link fails if path exists. Where links are not
// supported it falls back to a rename.
func publish(tmp, path string) error {
	err := os.Link(tmp, path)
	if err == nil {
		return os.Remove(tmp)
	}
	if errors.Is(err, fs.ErrExist) {
		if cerr := checkEmpty(path); cerr != nil {
			return cerr
		}
	}
	return os.Rename(tmp, path)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// ctxReader stops a copy when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Verify checks t's integrity and compares its tables with md.
func (e *Engine) Verify(ctx context.Context, t engine.Target, md *engine.Metadata) (*engine.VerifyResult, error) {
	if err := md.Check(Name, DumpFormat); err != nil {
		return nil, err
	}
	if err := e.Ready(ctx, t); err != nil {
		return nil, err
	}
	db, err := open(t.Path, true)
	if err != nil {
		return nil, unavailable(t, err)
	}
	defer db.Close()
	if err := integrity(ctx, db); err != nil {
		return nil, fmt.Errorf("verify %s: %w", t.Path, err)
	}
	tables, err := Checksums(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("verify %s: %w", t.Path, err)
	}
	return engine.Compare(md.Tables, tables)
}
