package pgphysical_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coffer-dev/coffer/internal/blob"
	"github.com/coffer-dev/coffer/internal/blob/fs"
	"github.com/coffer-dev/coffer/internal/engine"
	"github.com/coffer-dev/coffer/internal/engine/pgphysical"
	"github.com/coffer-dev/coffer/internal/engine/postgres"
	"github.com/coffer-dev/coffer/internal/meta/sqlite"
	"github.com/coffer-dev/coffer/internal/testenv"
	"github.com/coffer-dev/coffer/internal/vaultstore"
	"github.com/coffer-dev/coffer/internal/vaultstore/localkeys"
)

const keyARN = "arn:aws:kms:us-east-1:111122223333:key/aaaaaaaa-1111-2222-3333-444444444444"

var domain = vaultstore.Domain{Region: "us-east-1", Vault: "pg-vault", KeyARN: keyARN}

type stores struct{ root string }

func (s stores) Store(region string) (blob.Store, error) {
	return fs.New(filepath.Join(s.root, region))
}

func newVault(t *testing.T) *vaultstore.Engine {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	v, err := vaultstore.Open(db, localkeys.New(), stores{t.TempDir()}, vaultstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func newEngine(t *testing.T) *pgphysical.Engine {
	t.Helper()
	owner, err := testenv.PostgresOwner()
	if err != nil {
		t.Fatal(err)
	}
	e, err := pgphysical.New(pgphysical.Options{Owner: owner})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func target(s *testenv.PostgresServer, db string) engine.Target {
	return engine.Target{Host: s.Host, Port: s.Port, User: s.User, Password: s.Password, Database: db, SSLMode: "disable"}
}

// backup takes a physical backup of s into the vault.
func backup(t *testing.T, e *pgphysical.Engine, v *vaultstore.Engine, s *testenv.PostgresServer) (vaultstore.ManifestID, vaultstore.Stats, *engine.Metadata) {
	t.Helper()
	ctx := context.Background()
	w, err := v.NewWriter(ctx, domain, nil)
	if err != nil {
		t.Fatal(err)
	}
	md, err := e.Snapshot(ctx, target(s, "postgres"), w)
	if err != nil {
		w.Abort()
		t.Fatal(err)
	}
	id, st, err := w.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return id, st, md
}

// restoreDir restores recovery point id into a new data directory.
func restoreDir(t *testing.T, e *pgphysical.Engine, v *vaultstore.Engine, id vaultstore.ManifestID, md *engine.Metadata) string {
	t.Helper()
	parent, err := os.MkdirTemp("", "coffer-pgphysical-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(parent) })
	if err := os.Chmod(parent, 0o711); err != nil { // the server's account must reach its data directory
		t.Fatal(err)
	}
	dir := filepath.Join(parent, "data")
	r, err := v.OpenReader(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := e.Restore(context.Background(), r, dir, md); err != nil {
		t.Fatal(err)
	}
	return dir
}

func exec(t *testing.T, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
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

// TestBackupWhileWritingRestores: a backup taken while a writer commits
// rows restores into a new data directory; a server started on it with
// pg_ctl recovers to a consistent state: the static table's checksum
// equals the source's, the busy table holds a gap-free prefix of the
// committed rows, at least those committed before the backup began.
func TestBackupWhileWritingRestores(t *testing.T) {
	src := testenv.StartPostgres(t)
	db := openDB(t, src.CreateDatabase(t, "app"))
	exec(t, db, `CREATE TABLE steady (id int PRIMARY KEY, name text, amount numeric(10,2))`)
	exec(t, db, `INSERT INTO steady SELECT i, md5(i::text), i / 7.0 FROM generate_series(1, 20000) i`)
	exec(t, db, `CREATE TABLE busy (id bigint PRIMARY KEY, payload text)`)
	e, v := newEngine(t), newVault(t)

	var committed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	writerDone := make(chan struct{})
	go func() {
		defer wg.Done()
		defer close(writerDone)
		for i := int64(1); ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := db.Exec(`INSERT INTO busy VALUES ($1::bigint, repeat(md5($1::bigint::text), 20))`, i); err != nil {
				t.Errorf("writer: %v", err)
				return
			}
			committed.Store(i)
		}
	}()
	for committed.Load() < 200 {
		select {
		case <-writerDone:
			t.Fatal("the writer stopped")
		case <-time.After(10 * time.Millisecond):
		}
	}
	before := committed.Load()
	id, _, md := backup(t, e, v, src)
	after := committed.Load()
	close(stop)
	wg.Wait()
	if md.Physical == nil || md.Physical.EndLSN == "" || md.Physical.Files == 0 || md.DumpFormat != pgphysical.DumpFormat {
		t.Fatalf("metadata without the backup's position: %+v", md)
	}

	dir := restoreDir(t, e, v, id, md)
	if err := pgphysical.VerifyDir(dir); err != nil {
		t.Fatalf("a fresh restore fails its manifest: %v", err)
	}
	restored := testenv.StartPostgresDir(t, dir, src)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	val, err := pgphysical.Validate(ctx, target(restored, "app"), md)
	if err != nil {
		t.Fatal(err)
	}
	want, err := postgres.Checksums(ctx, target(src, "app"))
	if err != nil {
		t.Fatal(err)
	}
	find := func(ts []engine.Table, name string) engine.Table {
		for _, tb := range ts {
			if tb.Name == name {
				return tb
			}
		}
		t.Fatalf("table %s missing from %v", name, ts)
		return engine.Table{}
	}
	if got, w := find(val.Tables, "public.steady"), find(want, "public.steady"); got != w || got.Rows != 20000 {
		t.Fatalf("steady restored as %+v, source has %+v", got, w)
	}
	rdb := openDB(t, restored.DSN("app"))
	var n, maxID int64
	if err := rdb.QueryRow(`SELECT count(*), coalesce(max(id), 0) FROM busy`).Scan(&n, &maxID); err != nil {
		t.Fatal(err)
	}
	if n != maxID || n < before || n > after {
		t.Fatalf("busy restored with %d rows up to id %d; committed before the backup %d, after it %d", n, maxID, before, after)
	}
	if find(val.Tables, "public.busy").Rows != n {
		t.Fatal("validation counted other rows than the restored server holds")
	}
	// The restored server writes: it left recovery.
	exec(t, rdb, `INSERT INTO busy VALUES (-1, 'after restore')`)

	// Recorded tables are compared: a differing recorded checksum fails.
	md.Tables = append([]engine.Table(nil), val.Tables...)
	md.Tables[0].Checksum = "r:0000000000000000"
	if _, err := pgphysical.Validate(ctx, target(restored, "app"), md); !errors.Is(err, engine.ErrMismatch) {
		t.Fatalf("validation against a wrong recorded checksum: %v", err)
	}
}

// TestManifestCatchesCorruption: a file changed after the restore fails
// VerifyDir, and a stream whose file differs from what the manifest
// recorded (even with a matching stream digest) fails Restore, which
// leaves the directory empty.
func TestManifestCatchesCorruption(t *testing.T) {
	src := testenv.StartPostgres(t)
	db := openDB(t, src.CreateDatabase(t, "app"))
	exec(t, db, `CREATE TABLE items AS SELECT i AS id, md5(i::text) AS name FROM generate_series(1, 5000) i`)
	e := newEngine(t)
	var buf bytes.Buffer
	md, err := e.Snapshot(context.Background(), target(src, "postgres"), pgphysical.PlainSink(&buf))
	if err != nil {
		t.Fatal(err)
	}
	stream := buf.Bytes()
	ctx := context.Background()

	dir := filepath.Join(t.TempDir(), "data")
	if _, err := e.Restore(ctx, bytes.NewReader(stream), dir, md); err != nil {
		t.Fatal(err)
	}
	if err := pgphysical.VerifyDir(dir); err != nil {
		t.Fatal(err)
	}
	var oid string
	if err := db.QueryRow(`SELECT pg_relation_filepath('items')`).Scan(&oid); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, oid), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0xff}, 9000); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := pgphysical.VerifyDir(dir); !errors.Is(err, engine.ErrCorrupt) || !strings.Contains(err.Error(), oid) {
		t.Fatalf("VerifyDir after corrupting %s: %v", oid, err)
	}

	// The stream with PG_VERSION's content changed, digest recomputed.
	rec := []byte("\x0aPG_VERSION")
	i := bytes.Index(stream, rec)
	if i < 0 {
		t.Fatal("PG_VERSION record not found in the stream")
	}
	bad := bytes.Clone(stream)
	content := i + len(rec) + 3 // mode (2-byte varint), size (1 byte)
	if string(bad[content:content+3]) != "15\n" {
		t.Fatalf("unexpected PG_VERSION content %q", bad[content:content+3])
	}
	bad[content+1] = '4'
	badMD := *md
	dig := engine.NewDigest()
	dig.Write(bad)
	badMD.StreamSHA256 = dig.Sum()
	dir2 := filepath.Join(t.TempDir(), "data")
	_, err = e.Restore(ctx, bytes.NewReader(bad), dir2, &badMD)
	if !errors.Is(err, engine.ErrCorrupt) || !strings.Contains(err.Error(), "PG_VERSION checksum differs") {
		t.Fatalf("restore of a stream with a changed file: %v", err)
	}
	if entries, _ := os.ReadDir(dir2); len(entries) != 0 {
		t.Fatalf("a failed restore left %d entries", len(entries))
	}
	// Without the digest recomputed the stream check catches it too.
	if _, err := e.Restore(ctx, bytes.NewReader(bad), dir2, md); !errors.Is(err, engine.ErrCorrupt) {
		t.Fatalf("restore of a stream that differs from its digest: %v", err)
	}
	// A truncated stream fails.
	if _, err := e.Restore(ctx, bytes.NewReader(stream[:len(stream)/2]), dir2, md); !errors.Is(err, engine.ErrCorrupt) {
		t.Fatalf("restore of a truncated stream: %v", err)
	}
	// A non-empty directory is refused.
	if _, err := e.Restore(ctx, bytes.NewReader(stream), dir, md); !errors.Is(err, engine.ErrNotEmpty) {
		t.Fatalf("restore into a non-empty directory: %v", err)
	}
}

// TestIncrementalBytes: the second backup of an unchanged cluster adds
// almost nothing to the vault; after 2% of rows changed it adds little.
func TestIncrementalBytes(t *testing.T) {
	src := testenv.StartPostgres(t)
	db := openDB(t, src.CreateDatabase(t, "app"))
	const rows = 300000
	// No autovacuum: it would set page flags between the backups at
	// its own pace.
	exec(t, db, `CREATE TABLE orders (id bigint PRIMARY KEY, customer text, amount numeric(12,2), payload text) WITH (autovacuum_enabled = false)`)
	exec(t, db, `INSERT INTO orders SELECT i, 'customer-' || (i % 997), (i * 7919 % 100000) / 100.0, md5(i::text) || md5((i*31)::text)
		FROM generate_series(1, $1::bigint) i`, rows)
	// The first VACUUM freezes the rows, the second marks every page
	// all-visible (PD_ALL_VISIBLE in each page header): after both the
	// pages stay as they are until rows change.
	exec(t, db, `VACUUM (FREEZE, ANALYZE) orders`)
	exec(t, db, `VACUUM orders`)
	exec(t, db, `CHECKPOINT`)
	e, v := newEngine(t), newVault(t)
	_, st1, md1 := backup(t, e, v, src)
	_, st2, _ := backup(t, e, v, src)
	t.Logf("full: %d bytes of files, %d bytes stored; unchanged: %d bytes stored (%d new chunks)", md1.LogicalSize, st1.BytesWritten, st2.BytesWritten, st2.ChunksNew)
	if st2.BytesWritten > st1.BytesWritten/50 {
		t.Fatalf("second backup of an unchanged cluster stored %d bytes, the first %d", st2.BytesWritten, st1.BytesWritten)
	}
	// 2% of the rows, in 20 runs of consecutive ids.
	run := rows / 50 / 20
	for c := 0; c < 20; c++ {
		from := c*rows/20 + rows/40
		exec(t, db, `UPDATE orders SET amount = amount + 1 WHERE id BETWEEN $1 AND $2`, from, from+run-1)
	}
	exec(t, db, `VACUUM orders`)
	id3, st3, md3 := backup(t, e, v, src)

	t.Logf("after 2%% changed: %d bytes stored (%d new chunks)", st3.BytesWritten, st3.ChunksNew)
	if st3.BytesWritten > st1.BytesWritten/5 {
		t.Fatalf("backup after 2%% of rows changed stored %d bytes, the full one %d", st3.BytesWritten, st1.BytesWritten)
	}
	// The incremental restores whole: everything it reuses is there.
	dir := restoreDir(t, e, v, id3, md3)
	if err := pgphysical.VerifyDir(dir); err != nil {
		t.Fatal(err)
	}
}

// TestSnapshotNeedsReplication: a role without REPLICATION (a registered
// database's usual owner) gets ErrUnavailable saying what it lacks, and
// the sink receives nothing.
func TestSnapshotNeedsReplication(t *testing.T) {
	src := testenv.StartPostgres(t)
	db := openDB(t, src.DSN("postgres"))
	exec(t, db, `CREATE ROLE app LOGIN PASSWORD 'app-Passw0rd' NOREPLICATION`)
	e := newEngine(t)
	var buf bytes.Buffer
	tg := target(src, "postgres")
	tg.User, tg.Password = "app", "app-Passw0rd"
	_, err := e.Snapshot(context.Background(), tg, pgphysical.PlainSink(&buf))
	if !errors.Is(err, engine.ErrUnavailable) || !strings.Contains(err.Error(), "REPLICATION") || strings.Contains(err.Error(), "app-Passw0rd") {
		t.Fatalf("snapshot as a role without REPLICATION: %v", err)
	}
	if buf.Len() != 0 {
		t.Fatalf("the sink received %d bytes", buf.Len())
	}
}

// TestStreamHashedOnce: a snapshot into the vault records the stream's
// length and SHA-256 without hashing it itself, and they are those of
// the bytes the vault gives back; a restore from the vault relies on
// the reader's check of that digest, and one whose metadata records
// another digest hashes the stream itself and fails, leaving nothing.
func TestStreamHashedOnce(t *testing.T) {
	src := testenv.StartPostgres(t)
	db := openDB(t, src.CreateDatabase(t, "app"))
	exec(t, db, `CREATE TABLE items AS SELECT i AS id, md5(i::text) AS name FROM generate_series(1, 5000) i`)
	e, v := newEngine(t), newVault(t)
	id, _, md := backup(t, e, v, src)
	ctx := context.Background()
	r, err := v.OpenReader(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	dig := engine.NewDigest()
	_, err = io.Copy(dig, r)
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(dig.Size(), " ", dig.Sum()), fmt.Sprint(md.StreamSize, " ", md.StreamSHA256); got != want {
		t.Fatalf("stream read back: %s; the snapshot recorded %s", got, want)
	}
	dir := restoreDir(t, e, v, id, md)
	if err := pgphysical.VerifyDir(dir); err != nil {
		t.Fatal(err)
	}

	other := *md
	other.StreamSHA256 = strings.Repeat("0", 64)
	r, err = v.OpenReader(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	dir2 := filepath.Join(t.TempDir(), "data")
	if _, err := e.Restore(ctx, r, dir2, &other); !errors.Is(err, engine.ErrCorrupt) || !strings.Contains(err.Error(), "SHA-256") {
		t.Fatalf("restore with another digest in the metadata: %v", err)
	}
	if entries, _ := os.ReadDir(dir2); len(entries) != 0 {
		t.Fatalf("a failed restore left %d entries", len(entries))
	}
}
