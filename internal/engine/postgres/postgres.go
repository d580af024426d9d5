// Package postgres is the PostgreSQL engine adapter: snapshots with
// pg_dump in custom format, restores with pg_restore into a new database,
// verifies with per-table checksums computed in SQL.
//
// # Stream format
//
// The stream ("pg_dump-custom") is exactly what `pg_dump --format=custom`
// writes to its standard output: pg_dump's custom archive (header "PGDMP",
// archive version, table of contents, then one data block per table),
// uncompressed by default (Options.Compress), since the vault storage
// engine compresses and deduplicates chunks itself and a zlib stream
// would defeat both. `pg_restore -l` lists it.
//
// # Consistency
//
// Snapshot opens a REPEATABLE READ, READ ONLY transaction, exports its
// snapshot with pg_export_snapshot() and runs `pg_dump --snapshot=<id>`,
// which dumps in that very snapshot, while the same transaction computes
// the table checksums. The dump and the checksums therefore describe the
// same committed state, however many transactions commit meanwhile. The
// transaction stays open until pg_dump has finished.
//
// # Checksums ("postgres-hash-sum/v1")
//
// Checksums cover every ordinary table (relkind 'r', including partitions
// and unlogged tables; not in pg_catalog, information_schema, pg_toast or
// temporary schemas; not belonging to an extension), read with SELECT ...
// FROM ONLY the table, so inheritance children count once, under their
// own name. Each row is hashed to signed 64-bit integers and the hashes
// are summed over the table modulo 2^64: a multiset hash, independent of
// row order, so no sort is needed, and any changed, added or removed row
// changes it with overwhelming probability. Two row hashes are used:
//
//   - "r:" + 16 hex digits: hashint8extended(hash_record_extended(ROW(r.*),
//     0), 0). hash_record_extended combines each column's own extended
//     hash function (the ones hash partitioning uses) linearly
//     (h = 31*h + column hash), so summed as is it would miss values
//     swapped between rows; hashint8extended mixes each row's hash first.
//     Used when every column type has a hash function (PostgreSQL 14 and
//     later).
//   - "t:" + 32 hex digits: otherwise (json, money, point, xml columns;
//     older servers), hashtextextended of the row's text, ROW(r.*)::text,
//     with seeds 0 and 1, two sums. The session fixes TimeZone UTC,
//     DateStyle ISO, IntervalStyle postgres, extra_float_digits 1,
//     bytea_output hex and lc_monetary C, which shape that text.
//
// The choice depends only on the column types, so a restored copy takes
// the same path. Value hashes follow each type's equality (numeric 1.0
// and 1.00, float 0 and -0 hash alike); pg_dump and pg_restore preserve
// values exactly, so nothing a restore can damage escapes. Column order
// is part of both hashes; pg_dump preserves it.
//
// These hash functions are kept stable across major versions (pg_upgrade
// keeps hash partitions valid); like hash partitions they depend on the
// CPU's byte order, so a checksum verifies on servers of the same
// endianness. They were chosen over md5(t::text) for speed: on the
// benchmark machine md5 of the row text plus the hex-to-integer
// conversions made checksumming three times slower than pg_dump's own
// COPY; the row text alone costs about 1.8 times the COPY; the value
// hashes about half of it, so the checksum query finishes before the
// dump it runs beside (see bench_test.go).
//
// # Restore
//
// pg_restore runs with --single-transaction --exit-on-error (a failure
// leaves no half-restored objects), --no-owner and --no-privileges (the
// source's roles do not exist on the target; restored objects belong to
// the connecting user, or to Target.Role through --role).
//
// # Passwords
//
// Passwords reach pg_dump and pg_restore through a 0600 libpq password
// file (PGPASSFILE) removed when the tool exits; never through the command
// line or PGPASSWORD. Other PG* variables of coffer's environment are not
// passed on.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/coffer-dev/coffer/internal/engine"
)

// Names recorded in the metadata.
const (
	Name              = "postgres"
	DumpFormat        = "pg_dump-custom"
	ChecksumAlgorithm = "postgres-hash-sum/v1"
)

// Options configure the engine.
type Options struct {
	// BinDir, when set, is the only directory searched for pg_dump and
	// pg_restore. Empty: /usr/lib/postgresql/<server major>/bin, PATH,
	// then newer /usr/lib/postgresql/*/bin.
	BinDir string
	// TempDir holds the short-lived password files; empty means
	// os.TempDir().
	TempDir string
	// Compress is pg_dump's --compress level: 0 (the default) writes an
	// uncompressed archive for the vault to compress and deduplicate;
	// 1-9 are zlib levels.
	Compress int
}

// Engine is the PostgreSQL adapter.
type Engine struct {
	binDir     string
	debianRoot string
	tempDir    string
	compress   int
	tools      toolCache
}

var _ engine.Engine = (*Engine)(nil)

// New returns the PostgreSQL engine.
func New(opts Options) (*Engine, error) {
	if opts.Compress < 0 || opts.Compress > 9 {
		return nil, fmt.Errorf("postgres engine: compress level %d is not 0-9", opts.Compress)
	}
	return &Engine{binDir: opts.BinDir, debianRoot: "/usr/lib/postgresql", tempDir: opts.TempDir, compress: opts.Compress}, nil
}

// Name is "postgres".
func (*Engine) Name() string { return Name }

// quoteConnValue quotes a libpq keyword/value connection string value.
func quoteConnValue(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// ConnString is t as a libpq keyword/value connection string without
// the password.
func ConnString(t engine.Target) string {
	var kv []string
	add := func(k, v string) {
		if v != "" {
			kv = append(kv, k+"="+quoteConnValue(v))
		}
	}
	add("host", t.Host)
	if t.Port != 0 {
		add("port", strconv.Itoa(t.Port))
	}
	add("dbname", t.Database)
	add("user", t.User)
	add("sslmode", t.SSLMode)
	add("connect_timeout", "15")
	return strings.Join(kv, " ")
}

// Connect opens a connection to t (its password set directly, not read
// from the environment). Failures wrap engine.ErrUnavailable.
func Connect(ctx context.Context, t engine.Target) (*pgx.Conn, error) {
	if t.Host == "" || t.Database == "" || t.User == "" {
		return nil, fmt.Errorf("%w: postgres target needs host, database and user (got %s)", engine.ErrUnavailable, t)
	}
	cfg, err := pgx.ParseConfig(ConnString(t))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", engine.ErrUnavailable, t, err)
	}
	cfg.Password = t.Password
	cfg.RuntimeParams["application_name"] = "coffer"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: connect to %s: %v; check that the server is running and accepts this user and password", engine.ErrUnavailable, t, redact(err.Error(), t.Password))
	}
	return conn, nil
}

// redact removes a password from a message, in case a driver ever
// echoes it.
func redact(s, password string) string {
	if password == "" {
		return s
	}
	return strings.ReplaceAll(s, password, "********")
}

// server describes the connected server.
type server struct {
	version string // "15.18"
	major   int
}

func serverInfo(ctx context.Context, conn *pgx.Conn) (server, error) {
	var num int
	var v string
	if err := conn.QueryRow(ctx, `SELECT current_setting('server_version_num')::int, current_setting('server_version')`).Scan(&num, &v); err != nil {
		return server{}, fmt.Errorf("server version: %w", err)
	}
	if i := strings.IndexByte(v, ' '); i > 0 {
		v = v[:i]
	}
	return server{version: v, major: num / 10000}, nil
}

// Ready connects to t and locates pg_dump and pg_restore for its server.
func (e *Engine) Ready(ctx context.Context, t engine.Target) error {
	conn, err := Connect(ctx, t)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	srv, err := serverInfo(ctx, conn)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", engine.ErrUnavailable, t, err)
	}
	for _, name := range []string{"pg_dump", "pg_restore"} {
		if _, err := e.find(ctx, name, srv.major, srv.version); err != nil {
			return err
		}
	}
	return nil
}

// Snapshot dumps t with pg_dump in an exported snapshot and computes the
// checksums in the same snapshot while the dump runs.
func (e *Engine) Snapshot(ctx context.Context, t engine.Target, w io.Writer) (*engine.Metadata, error) {
	conn, err := Connect(ctx, t)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	srv, err := serverInfo(ctx, conn)
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", t, err)
	}
	dump, err := e.find(ctx, "pg_dump", srv.major, srv.version)
	if err != nil {
		return nil, err
	}
	md := &engine.Metadata{
		FormatVersion:     engine.FormatVersion,
		Engine:            Name,
		EngineVersion:     srv.version,
		DumpFormat:        DumpFormat,
		ToolVersion:       dump.Banner,
		ChecksumAlgorithm: ChecksumAlgorithm,
		StartedAt:         time.Now().UTC(),
	}
	if err := prepareSession(ctx, conn); err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", t, err)
	}
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: begin: %w", t, err)
	}
	defer tx.Rollback(context.Background())
	var snapID string
	if err := tx.QueryRow(ctx, `SELECT pg_export_snapshot()`).Scan(&snapID); err != nil {
		return nil, fmt.Errorf("snapshot %s: export snapshot: %w", t, err)
	}

	passfile, removePass, err := e.writePassfile(t.Password)
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", t, err)
	}
	defer removePass()

	// pg_dump and the checksums run side by side; the first failure
	// stops the other.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	args := []string{
		"--format=custom",
		"--compress=" + strconv.Itoa(e.compress),
		"--snapshot=" + snapID,
		"--no-password",
		"--dbname=" + ConnString(t),
	}
	cmd := exec.CommandContext(ctx, dump.Path, args...)
	cmd.Env = toolEnv(passfile)
	d := engine.NewDigest()
	out := &errWriter{w: w}
	cmd.Stdout = io.MultiWriter(out, d)
	stderr := &tail{max: 4096}
	cmd.Stderr = stderr
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("snapshot %s: start %s: %w", t, dump.Path, err)
	}

	var once sync.Once
	var failed error
	fail := func(err error) {
		once.Do(func() { failed = err; cancel() })
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := tx.QueryRow(ctx, `SELECT pg_database_size(current_database())`).Scan(&md.LogicalSize); err != nil {
			fail(fmt.Errorf("database size: %w", err))
			return
		}
		tables, err := checksums(ctx, tx)
		if err != nil {
			fail(fmt.Errorf("checksums: %w", err))
			return
		}
		md.Tables = tables
	}()
	if err := cmd.Wait(); err != nil {
		switch {
		case out.err != nil:
			fail(fmt.Errorf("write stream: %w", out.err))
		default:
			fail(fmt.Errorf("pg_dump failed: %v: %s", err, redact(stderr.String(), t.Password)))
		}
	}
	wg.Wait()
	if failed != nil {
		return nil, fmt.Errorf("snapshot %s: %w", t, failed)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("snapshot %s: end transaction: %w", t, err)
	}
	md.StreamSize, md.StreamSHA256 = d.Size(), d.Sum()
	md.CompletedAt = time.Now().UTC()
	return md, nil
}

// errWriter remembers the first write error of the snapshot's consumer,
// which pg_dump only sees as a broken pipe.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

// prepareSession fixes the settings that shape a row's text, so checksums
// computed on two servers or sessions agree, and lifts timeouts that
// would end a long snapshot.
func prepareSession(ctx context.Context, conn *pgx.Conn) error {
	for _, s := range []string{
		`SET TimeZone = 'UTC'`,
		`SET DateStyle = 'ISO, MDY'`,
		`SET IntervalStyle = 'postgres'`,
		`SET extra_float_digits = 1`,
		`SET bytea_output = 'hex'`,
		`SET lc_monetary = 'C'`,
		`SET statement_timeout = 0`,
		`SET idle_in_transaction_session_timeout = 0`,
	} {
		if _, err := conn.Exec(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	return nil
}

// userTables lists the tables the checksums cover, as quoted
// schema.table names.
const userTables = `
SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r'
  AND c.relpersistence <> 't'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_toast%'
  AND n.nspname NOT LIKE 'pg\_temp\_%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1`

// checksums computes every user table's row count and checksum in q's
// snapshot.
func checksums(ctx context.Context, q pgx.Tx) ([]engine.Table, error) {
	rows, err := q.Query(ctx, userTables)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	tables := make([]engine.Table, 0, len(names))
	for _, name := range names {
		tb, err := tableChecksum(ctx, q, name)
		if err != nil {
			return nil, fmt.Errorf("table %s: %w", name, err)
		}
		tables = append(tables, tb)
	}
	return tables, nil
}

// tableChecksum computes one table's checksum: from the values' own
// hash functions where every column type has one, else from the row's
// text. name is quoted (quote_ident). ROW(r.*) is the whole row even when
// a column is named r.
func tableChecksum(ctx context.Context, q pgx.Tx, name string) (engine.Table, error) {
	tb := engine.Table{Name: name}
	sp, err := q.Begin(ctx) // a savepoint: a type without a hash function fails the query
	if err != nil {
		return tb, err
	}
	var sum string
	err = sp.QueryRow(ctx, `SELECT count(*), coalesce(sum(hashint8extended(hash_record_extended(ROW(r.*), 0), 0)), 0)::text FROM ONLY `+name+` r`).Scan(&tb.Rows, &sum)
	if err == nil {
		if err := sp.Commit(ctx); err != nil {
			return tb, err
		}
		v, err := mod64(sum)
		tb.Checksum = fmt.Sprintf("r:%016x", v)
		return tb, err
	}
	if rerr := sp.Rollback(ctx); rerr != nil {
		return tb, rerr
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "42883" { // undefined_function
		return tb, err
	}
	// OFFSET 0 keeps the subquery, so each row is cast to text once.
	var hi, lo string
	err = q.QueryRow(ctx, `SELECT count(*),
		coalesce(sum(hashtextextended(s, 0)), 0)::text,
		coalesce(sum(hashtextextended(s, 1)), 0)::text
		FROM (SELECT ROW(r.*)::text AS s FROM ONLY `+name+` r OFFSET 0) x`).Scan(&tb.Rows, &hi, &lo)
	if err != nil {
		return tb, err
	}
	sum, err = sum128(hi, lo)
	tb.Checksum = "t:" + sum
	return tb, err
}

// sum128 formats two decimal sums modulo 2^64 as 32 hex digits.
func sum128(hi, lo string) (string, error) {
	a, err := mod64(hi)
	if err != nil {
		return "", err
	}
	b, err := mod64(lo)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%016x%016x", a, b), nil
}

// mod64 reduces a decimal integer (possibly beyond 64 bits, possibly
// negative) modulo 2^64.
func mod64(s string) (uint64, error) {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var v uint64
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("bad sum %q", s)
		}
		v = v*10 + uint64(c-'0') // wraps modulo 2^64
	}
	if neg {
		v = -v
	}
	return v, nil
}

// Restore loads a pg_dump stream into t, which must hold no tables, views
// or sequences outside the system schemas (ErrNotEmpty). Create it with
// `CREATE DATABASE ... OWNER <instance role> TEMPLATE template0`, so
// nothing added to template1 gets in the way, and connect either as the
// owner or as an administrator with Target.Role set to the owner. On
// error, drop the database: with a damaged stream pg_restore may already
// have committed.
func (e *Engine) Restore(ctx context.Context, t engine.Target, r io.Reader, md *engine.Metadata) error {
	if err := md.Check(Name, DumpFormat); err != nil {
		return err
	}
	conn, err := Connect(ctx, t)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	srv, err := serverInfo(ctx, conn)
	if err != nil {
		return fmt.Errorf("restore %s: %w", t, err)
	}
	need := srv.major
	if dumped, ok := parseBanner(md.ToolVersion); ok && dumped.Major > need {
		need = dumped.Major // pg_restore must read what this pg_dump wrote
	}
	restore, err := e.find(ctx, "pg_restore", need, srv.version)
	if err != nil {
		return err
	}
	var objects int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp\_%'`).Scan(&objects); err != nil {
		return fmt.Errorf("restore %s: %w", t, err)
	}
	if objects > 0 {
		return fmt.Errorf("%w: database %s already holds %d tables, views, sequences or indexes; restore into a new, empty database", engine.ErrNotEmpty, t, objects)
	}
	conn.Close(ctx)

	passfile, removePass, err := e.writePassfile(t.Password)
	if err != nil {
		return fmt.Errorf("restore %s: %w", t, err)
	}
	defer removePass()
	args := []string{
		"--dbname=" + ConnString(t),
		"--no-owner",
		"--no-privileges",
		"--single-transaction",
		"--exit-on-error",
		"--no-password",
	}
	if t.Role != "" {
		args = append(args, "--role="+t.Role)
	}
	cmd := exec.CommandContext(ctx, restore.Path, args...)
	cmd.Env = toolEnv(passfile)
	d := engine.NewDigest()
	in := io.TeeReader(r, d)
	cmd.Stdin = in
	stderr := &tail{max: 4096}
	cmd.Stderr = stderr
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("restore %s: %w", t, ctx.Err())
		}
		// A damaged stream is the likelier story when its digest is off.
		io.Copy(io.Discard, in)
		if derr := d.Check(md); derr != nil {
			return fmt.Errorf("restore %s: %w (pg_restore: %s)", t, derr, redact(stderr.String(), t.Password))
		}
		return fmt.Errorf("restore %s: pg_restore failed: %v: %s", t, err, redact(stderr.String(), t.Password))
	}
	// pg_restore may stop reading at the archive's end; count the rest.
	if _, err := io.Copy(io.Discard, in); err != nil {
		return fmt.Errorf("restore %s: read stream: %w", t, err)
	}
	if err := d.Check(md); err != nil {
		return fmt.Errorf("restore %s: %w; drop the restored database", t, err)
	}
	return nil
}

// Verify recomputes t's table checksums in one snapshot and compares them
// with md.
func (e *Engine) Verify(ctx context.Context, t engine.Target, md *engine.Metadata) (*engine.VerifyResult, error) {
	if err := md.Check(Name, DumpFormat); err != nil {
		return nil, err
	}
	tables, err := Checksums(ctx, t)
	if err != nil {
		return nil, fmt.Errorf("verify %s: %w", t, err)
	}
	return engine.Compare(md.Tables, tables)
}

// Checksums computes the row count and checksum of every user table of
// t's database in one snapshot, as Snapshot records them (algorithm
// ChecksumAlgorithm).
func Checksums(ctx context.Context, t engine.Target) ([]engine.Table, error) {
	conn, err := Connect(ctx, t)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	if err := prepareSession(ctx, conn); err != nil {
		return nil, err
	}
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(context.Background())
	return checksums(ctx, tx)
}
