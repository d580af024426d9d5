package postgres_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coffer-dev/coffer/internal/engine"
	"github.com/coffer-dev/coffer/internal/engine/postgres"
	"github.com/coffer-dev/coffer/internal/testenv"
)

// BenchmarkSnapshotRestore compares the engine's Snapshot and Restore of
// a generated database with bare `pg_dump -Fc > file` and `pg_restore` of
// the same database on the same run. It only runs when
// COFFER_BENCH_PG_SIZE gives the database size (e.g. 1GiB, 64MiB):
//
//	COFFER_BENCH_PG_SIZE=1GiB nice go test -run '^$' -bench SnapshotRestore -benchtime 1x -timeout 60m ./internal/engine/postgres/
//
// COFFER_BENCH_ROUNDS (default 1) repeats the measurements and reports
// medians; each round runs every contender in turn. Throughput is the
// database size (pg_database_size) over the time taken. The metrics
// snapshot/pg_dump and restore/pg_restore compare the uncompressed
// Snapshot and Restore with bare pg_dump -Fc -Z0 and its pg_restore.
func BenchmarkSnapshotRestore(b *testing.B) {
	spec := os.Getenv("COFFER_BENCH_PG_SIZE")
	if spec == "" {
		b.Skip("set COFFER_BENCH_PG_SIZE (e.g. 1GiB) to run the PostgreSQL snapshot benchmark")
	}
	size, err := parseSize(spec)
	if err != nil {
		b.Fatal(err)
	}
	rounds := 1
	if s := os.Getenv("COFFER_BENCH_ROUNDS"); s != "" {
		if rounds, err = strconv.Atoi(s); err != nil || rounds < 1 {
			b.Fatalf("COFFER_BENCH_ROUNDS=%q", s)
		}
	}
	ctx := context.Background()
	srv := testenv.StartPostgres(b)
	dir := b.TempDir()
	h := &benchDB{srv: srv}
	src := h.create(b)
	db := h.open(b, src.Database)
	start := time.Now()
	dbSize := generate(b, db, size)
	fmt.Printf("generated %s in %s (%d tables)\n", human(dbSize), time.Since(start).Round(time.Second), 3)

	e0, _ := postgres.New(postgres.Options{Compress: 0})
	e6, _ := postgres.New(postgres.Options{Compress: 6})
	pgDump := filepath.Join(srv.BinDir, "pg_dump")
	pgRestore := filepath.Join(srv.BinDir, "pg_restore")
	env := append(os.Environ(), "PGPASSWORD="+srv.Password)
	conn := postgres.ConnString(src)

	type result struct {
		name  string
		times []time.Duration
		bytes int64
	}
	// measure registers an operation; every round runs all of them in
	// turn, so the contenders see the same machine load. fn times its own
	// operation (set-up such as creating the target database is left out).
	var ops []func()
	measure := func(name string, fn func() (int64, time.Duration)) *result {
		r := &result{name: name}
		ops = append(ops, func() {
			n, d := fn()
			r.bytes = n
			r.times = append(r.times, d)
		})
		return r
	}
	bare := func(out string, args ...string) (int64, time.Duration) {
		f, err := os.Create(out)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		cmd := exec.Command(pgDump, append(args, "--dbname="+conn)...)
		var stderr strings.Builder
		cmd.Env, cmd.Stdout, cmd.Stderr = env, f, &stderr
		t0 := time.Now()
		if err := cmd.Run(); err != nil {
			b.Fatalf("pg_dump: %v: %s", err, stderr.String())
		}
		d := time.Since(t0)
		fi, _ := f.Stat()
		return fi.Size(), d
	}
	var md0 *engine.Metadata
	snap := func(e *postgres.Engine, out string) (int64, time.Duration) {
		f, err := os.Create(out)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		t0 := time.Now()
		md, err := e.Snapshot(ctx, src, f)
		if err != nil {
			b.Fatal(err)
		}
		d := time.Since(t0)
		md0 = md
		return md.StreamSize, d
	}
	// Warm the cache and settle hint bits so the first contender is not
	// penalised.
	bare(filepath.Join(dir, "warm.dump"), "-Fc", "-Z0")
	os.Remove(filepath.Join(dir, "warm.dump"))

	dumpZ := measure("pg_dump-Fc", func() (int64, time.Duration) { return bare(filepath.Join(dir, "bare.dump"), "-Fc") })
	snapZ := measure("Snapshot-Z6", func() (int64, time.Duration) { return snap(e6, filepath.Join(dir, "coffer6.dump")) })
	dump0 := measure("pg_dump-Fc-Z0", func() (int64, time.Duration) { return bare(filepath.Join(dir, "bare0.dump"), "-Fc", "-Z0") })
	snap0 := measure("Snapshot-Z0", func() (int64, time.Duration) { return snap(e0, filepath.Join(dir, "coffer0.dump")) })
	verify := measure("Verify-source", func() (int64, time.Duration) {
		t0 := time.Now()
		if _, err := e0.Verify(ctx, src, md0); err != nil {
			b.Fatal(err)
		}
		return 0, time.Since(t0)
	})

	bareRestore := func(file string) (int64, time.Duration) {
		tg := h.create(b)
		defer h.drop(b, tg.Database)
		cmd := exec.Command(pgRestore, "--no-owner", "--dbname="+postgres.ConnString(tg), file)
		cmd.Env = env
		t0 := time.Now()
		if o, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("pg_restore: %v: %s", err, o)
		}
		return 0, time.Since(t0)
	}
	restZ := measure("pg_restore-Fc", func() (int64, time.Duration) { return bareRestore(filepath.Join(dir, "bare.dump")) })
	rest0 := measure("pg_restore-Fc-Z0", func() (int64, time.Duration) { return bareRestore(filepath.Join(dir, "bare0.dump")) })
	var restoredVerify []time.Duration
	restC := measure("Restore-Z0", func() (int64, time.Duration) {
		tg := h.create(b)
		defer h.drop(b, tg.Database)
		f, err := os.Open(filepath.Join(dir, "coffer0.dump"))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		t0 := time.Now()
		if err := e0.Restore(ctx, tg, f, md0); err != nil {
			b.Fatal(err)
		}
		d := time.Since(t0)
		t1 := time.Now()
		if _, err := e0.Verify(ctx, tg, md0); err != nil {
			b.Fatal(err)
		}
		restoredVerify = append(restoredVerify, time.Since(t1))
		return 0, d
	})

	for i := 0; i < b.N; i++ {
		for round := 0; round < rounds; round++ {
			for _, op := range ops {
				op()
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(median(snap0.times).Seconds()/median(dump0.times).Seconds(), "snapshot/pg_dump")
	b.ReportMetric(median(restC.times).Seconds()/median(rest0.times).Seconds(), "restore/pg_restore")

	mbps := func(d time.Duration) string {
		return fmt.Sprintf("%.1f MB/s", float64(dbSize)/1e6/d.Seconds())
	}
	fmt.Printf("\nPostgreSQL %s, database %s (pg_database_size), %d tables, %d rows, %d round(s), median times\n",
		md0.EngineVersion, human(dbSize), len(md0.Tables), md0.Rows(), rounds)
	fmt.Printf("%-34s %10s %12s %12s %8s\n", "operation", "time", "throughput", "stream", "ratio")
	row := func(label string, r *result, base *result) {
		ratio := ""
		if base != nil {
			ratio = fmt.Sprintf("%.2fx", median(r.times).Seconds()/median(base.times).Seconds())
		}
		stream := ""
		if r.bytes > 0 {
			stream = human(r.bytes)
		}
		fmt.Printf("%-34s %10s %12s %12s %8s\n", label, median(r.times).Round(10*time.Millisecond), mbps(median(r.times)), stream, ratio)
	}
	row("pg_dump -Fc > file (zlib default)", dumpZ, nil)
	row("coffer Snapshot, Compress 6", snapZ, dumpZ)
	row("pg_dump -Fc -Z0 > file", dump0, nil)
	row("coffer Snapshot, Compress 0", snap0, dump0)
	row("  checksums alone (Verify source)", verify, nil)
	row("pg_restore (zlib dump)", restZ, nil)
	row("pg_restore (-Z0 dump)", rest0, nil)
	row("coffer Restore (-Z0 stream)", restC, rest0)
	fmt.Printf("%-34s %10s %12s\n", "  + Verify of the restored copy", median(restoredVerify).Round(10*time.Millisecond), mbps(median(restoredVerify)))
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

type benchDB struct {
	srv *testenv.PostgresServer
	n   int
}

func (h *benchDB) create(b *testing.B) engine.Target {
	h.n++
	name := fmt.Sprintf("bench%d", h.n)
	h.srv.CreateDatabase(b, name)
	return engine.Target{Host: h.srv.Host, Port: h.srv.Port, Database: name, User: h.srv.User, Password: h.srv.Password, SSLMode: "disable"}
}

func (h *benchDB) open(b *testing.B, name string) *sql.DB {
	db, err := sql.Open("pgx", h.srv.DSN(name))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

func (h *benchDB) drop(b *testing.B, name string) {
	if _, err := h.open(b, "postgres").Exec(`DROP DATABASE "` + name + `"`); err != nil {
		b.Fatal(err)
	}
}

// generate fills db with orders (narrow rows, numeric, timestamps, text),
// events (jsonb) and blobs (1 KiB incompressible bytea) until it holds
// about size bytes, then vacuums it; it returns pg_database_size.
func generate(b *testing.B, db *sql.DB, size int64) int64 {
	stmts := []string{
		`CREATE TABLE orders (id bigserial PRIMARY KEY, customer int NOT NULL, amount numeric(12,2) NOT NULL, status text NOT NULL, created timestamptz NOT NULL, note text)`,
		`CREATE INDEX orders_customer ON orders (customer)`,
		`CREATE TABLE events (id bigserial PRIMARY KEY, at timestamptz NOT NULL, payload jsonb NOT NULL)`,
		`CREATE TABLE blobs (id bigserial PRIMARY KEY, name text NOT NULL, data bytea NOT NULL)`,
	}
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			b.Fatal(err)
		}
	}
	round := []string{
		`INSERT INTO orders (customer, amount, status, created, note)
		 SELECT (random() * 100000)::int, round((random() * 10000)::numeric, 2),
		        (ARRAY['new', 'paid', 'shipped', 'returned'])[1 + floor(random() * 4)::int],
		        timestamptz '2024-01-01' - random() * interval '3 years',
		        md5(g::text || random()) || ' ' || repeat(chr(97 + (random() * 25)::int), (random() * 60)::int)
		 FROM generate_series(1, 100000) g`,
		`INSERT INTO events (at, payload)
		 SELECT timestamptz '2024-01-01' + g * interval '1 second',
		        jsonb_build_object('user', (random() * 1e6)::int, 'action', (ARRAY['login', 'view', 'buy'])[1 + floor(random() * 3)::int],
		                           'tags', jsonb_build_array(md5(g::text), (random() * 100)::int), 'score', random())
		 FROM generate_series(1, 50000) g`,
		`INSERT INTO blobs (name, data)
		 SELECT 'blob-' || g, (SELECT decode(string_agg(md5(g::text || i || random()), ''), 'hex') FROM generate_series(1, 64) i)
		 FROM generate_series(1, 5000) g`,
	}
	var cur int64
	for cur < size {
		for _, s := range round {
			if _, err := db.Exec(s); err != nil {
				b.Fatal(err)
			}
		}
		if err := db.QueryRow(`SELECT pg_database_size(current_database())`).Scan(&cur); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := db.Exec(`VACUUM ANALYZE`); err != nil {
		b.Fatal(err)
	}
	if err := db.QueryRow(`SELECT pg_database_size(current_database())`).Scan(&cur); err != nil {
		b.Fatal(err)
	}
	return cur
}

var sizeRE = regexp.MustCompile(`^(\d+(?:\.\d+)?)\s*([KMGT]i?B?)?$`)

func parseSize(s string) (int64, error) {
	m := sizeRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, fmt.Errorf("size %q: want e.g. 1GiB, 500MB or 1048576", s)
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	unit := strings.TrimSuffix(m[2], "B")
	mult := map[string]float64{"": 1, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40}[unit]
	return int64(v * mult), nil
}

func human(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	default:
		return fmt.Sprintf("%d B", n)
	}
}
