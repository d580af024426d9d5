package demo

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/coffer-dev/coffer/internal/blob"
	"github.com/coffer-dev/coffer/internal/blob/fs"
	"github.com/coffer-dev/coffer/internal/engine"
	"github.com/coffer-dev/coffer/internal/engine/pgphysical"
	"github.com/coffer-dev/coffer/internal/meta/sqlite"
	"github.com/coffer-dev/coffer/internal/pgaccount"
	"github.com/coffer-dev/coffer/internal/rds"
	"github.com/coffer-dev/coffer/internal/vaultstore"
	"github.com/coffer-dev/coffer/internal/vaultstore/localkeys"
)

// The physical benchmark: on one PostgreSQL cluster of its own, coffer's
// physical engine (pgphysical into a vault) against pgBackRest (zstd
// level 1, process-max 2, its repository on the same disk, WAL archived
// with archive-push) and against pg_dump/pg_restore, on the same data.

const physUser = "bench"

// physBench holds the benchmark's cluster and peers.
type physBench struct {
	o       BenchOptions
	dir     string
	bin     string
	cred    *syscall.Credential // the postgres account when we are root
	port    int
	sock    string
	data    string
	conf    string // pgBackRest's configuration file
	repo    string
	vault   string
	rows    []measurement
	dbSize  int64
	servers []string // data directories of started servers, stopped at the end
}

// benchPhysical runs the physical benchmark in o.DataDir/physical and
// returns its measurements.
func benchPhysical(ctx context.Context, o BenchOptions) ([]measurement, error) {
	if _, err := exec.LookPath("pgbackrest"); err != nil {
		return nil, fmt.Errorf("the physical backup benchmark compares with pgBackRest: install it (scripts/bench-deps.sh)")
	}
	bin, err := rds.PostgresBinDir()
	if err != nil {
		return nil, err
	}
	b := &physBench{o: o, dir: filepath.Join(o.DataDir, "physical"), bin: bin}
	if b.cred, err = pgaccount.Credential(); err != nil {
		return nil, err
	}
	defer b.stopAll()
	if err := b.setup(ctx); err != nil {
		return nil, err
	}
	if err := b.measure(ctx); err != nil {
		return nil, err
	}
	b.print()
	return b.rows, nil
}

// cmd runs a program as the PostgreSQL account.
func (b *physBench) cmd(ctx context.Context, name string, args ...string) error {
	c := exec.CommandContext(ctx, name, args...)
	c.SysProcAttr = &syscall.SysProcAttr{Credential: b.cred}
	c.Env = append(os.Environ(), "LC_ALL=C")
	c.Dir = b.dir
	if out, err := c.CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, lastLine(out))
	}
	return nil
}

func lastLine(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return strings.Join(lines, "\n")
}

// mkdir creates a directory the PostgreSQL account owns.
func (b *physBench) mkdir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if b.cred != nil {
		return os.Chown(dir, int(b.cred.Uid), int(b.cred.Gid))
	}
	return nil
}

func (b *physBench) pgctl(ctx context.Context, args ...string) error {
	return b.cmd(ctx, filepath.Join(b.bin, "pg_ctl"), args...)
}

// start starts a server on data at port; extra are -c settings.
func (b *physBench) start(ctx context.Context, data string, port int, extra string) error {
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 %s", port, b.sock, extra)
	if err := b.pgctl(ctx, "-D", data, "-o", opts, "-l", data+".log", "-w", "-t", "300", "start"); err != nil {
		return err
	}
	b.servers = append(b.servers, data)
	return nil
}

func (b *physBench) stopAll() {
	for _, d := range b.servers {
		b.pgctl(context.Background(), "-D", d, "-m", "fast", "-w", "stop")
	}
}

func (b *physBench) dsn(port int, db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", physUser, port, db)
}

func freeLocalPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (b *physBench) setup(ctx context.Context) error {
	if err := os.MkdirAll(b.o.DataDir, 0o755); err != nil {
		return err
	}
	if err := os.Chmod(b.o.DataDir, 0o755); err != nil {
		return err
	}
	b.data, b.sock, b.repo, b.vault = filepath.Join(b.dir, "data"), filepath.Join(b.dir, "run"), filepath.Join(b.dir, "pgbackrest-repo"), filepath.Join(b.dir, "vault")
	for _, d := range []string{b.dir, b.sock, b.repo, filepath.Join(b.dir, "pgbackrest-log"), filepath.Join(b.dir, "pgbackrest-lock")} {
		if err := b.mkdir(d); err != nil {
			return err
		}
	}
	var err error
	if b.port, err = freeLocalPort(); err != nil {
		return err
	}
	// Local trust on loopback only: a throwaway cluster.
	if err := b.cmd(ctx, filepath.Join(b.bin, "initdb"), "-D", b.data, "-U", physUser, "--auth=trust", "-E", "UTF8", "--no-sync"); err != nil {
		return err
	}
	b.conf = filepath.Join(b.dir, "pgbackrest.conf")
	conf := fmt.Sprintf(`[global]
repo1-path=%s
repo1-retention-full=4
compress-type=zst
compress-level=1
process-max=2
start-fast=y
log-path=%s
lock-path=%s
log-level-console=warn
log-level-file=off

[bench]
pg1-path=%s
pg1-port=%d
pg1-socket-path=%s
pg1-user=%s
`, b.repo, filepath.Join(b.dir, "pgbackrest-log"), filepath.Join(b.dir, "pgbackrest-lock"), b.data, b.port, b.sock, physUser)
	if err := os.WriteFile(b.conf, []byte(conf), 0o644); err != nil {
		return err
	}
	archive := fmt.Sprintf("-c archive_mode=on -c archive_command='pgbackrest --config=%s --stanza=bench archive-push %%p'", b.conf)
	if err := b.start(ctx, b.data, b.port, archive); err != nil {
		return err
	}
	if err := b.backrest(ctx, "stanza-create"); err != nil {
		return err
	}
	return b.backrest(ctx, "check")
}

func (b *physBench) backrest(ctx context.Context, args ...string) error {
	return b.cmd(ctx, "pgbackrest", append([]string{"--config=" + b.conf, "--stanza=bench"}, args...)...)
}

func (b *physBench) add(m measurement) {
	b.rows = append(b.rows, m)
	fmt.Fprintf(b.o.Out, "  %-48s %9s  %10s\n", m.what, m.took.Round(time.Millisecond), mib(m.bytes))
}

func (b *physBench) measure(ctx context.Context) error {
	db, err := sql.Open("pgx", b.dsn(b.port, "postgres"))
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE DATABASE bench`); err != nil {
		return err
	}
	conn, err := sql.Open("pgx", b.dsn(b.port, "bench"))
	if err != nil {
		return err
	}
	defer conn.Close()
	fmt.Fprintf(b.o.Out, "\nphysical backups: generating about %s of rows on a cluster of its own ...\n", mib(b.o.Size))
	if b.dbSize, err = generate(ctx, conn, b.o.Size); err != nil {
		return err
	}
	// Freeze, then mark every page all-visible (the second VACUUM), as a
	// database that autovacuum has visited looks.
	for _, q := range []string{`VACUUM (FREEZE, ANALYZE) orders`, `VACUUM orders`, `CHECKPOINT`} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	fmt.Fprintf(b.o.Out, "database: %s on disk (pg_database_size)\n\n", mib(b.dbSize))

	dump := filepath.Join(b.dir, "bench.dump")
	start := time.Now()
	if err := b.cmd(ctx, filepath.Join(b.bin, "pg_dump"), "-Fc", "-f", dump, "-h", b.sock, "-p", fmt.Sprint(b.port), "-U", physUser, "bench"); err != nil {
		return err
	}
	st, err := os.Stat(dump)
	if err != nil {
		return err
	}
	b.add(measurement{what: "pg_dump -Fc > file", took: time.Since(start), bytes: st.Size()})

	v, closeVault, err := b.openVault(ctx)
	if err != nil {
		return err
	}
	defer closeVault()
	eng, err := pgphysical.New(pgphysical.Options{PageChunk: b.o.PageChunk, Owner: b.cred})
	if err != nil {
		return err
	}
	if _, _, err := b.cofferBackup(ctx, v, eng, "coffer physical backup (full)"); err != nil {
		return err
	}
	if err := b.backrestBackup(ctx, "full", "pgBackRest backup (full)"); err != nil {
		return err
	}
	start = time.Now()
	changed, err := changeClusters(ctx, conn)
	if err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, `VACUUM orders`); err != nil {
		return err
	}
	fmt.Fprintf(b.o.Out, "  (changed %d rows, 2%% in clusters, and vacuumed, in %s)\n", changed, time.Since(start).Round(time.Millisecond))
	id, md, err := b.cofferBackup(ctx, v, eng, "coffer physical backup (after 2% changed)")
	if err != nil {
		return err
	}
	if err := b.backrestBackup(ctx, "incr", "pgBackRest backup (incr, after 2% changed)"); err != nil {
		return err
	}
	if err := b.cofferRestore(ctx, v, eng, id, md); err != nil {
		return err
	}
	if err := b.backrestRestore(ctx); err != nil {
		return err
	}
	return b.logicalRestore(ctx, db, dump)
}

// vaultDir is one directory for the benchmark's vault.
type vaultDir struct{ dir string }

func (s vaultDir) Store(region string) (blob.Store, error) {
	return fs.New(filepath.Join(s.dir, region))
}

func (b *physBench) openVault(ctx context.Context) (*vaultstore.Engine, func(), error) {
	if err := os.MkdirAll(b.vault, 0o700); err != nil {
		return nil, nil, err
	}
	meta, err := sqlite.Open(ctx, filepath.Join(b.dir, "vault-meta.db"))
	if err != nil {
		return nil, nil, err
	}
	// The vault's master key is wrapped by an in-process key (the
	// benchmark measures storage, not KMS).
	v, err := vaultstore.Open(meta, localkeys.New(), vaultDir{b.vault}, vaultstore.Options{SpoolDir: b.dir})
	if err != nil {
		meta.Close()
		return nil, nil, err
	}
	return v, func() { meta.Close() }, nil
}

var physDomain = vaultstore.Domain{Region: "us-east-1", Vault: "bench-vault", KeyARN: "arn:aws:kms:us-east-1:111122223333:key/00000000-0000-0000-0000-00000000bench"}

func (b *physBench) target(port int, db string) engine.Target {
	return engine.Target{Host: "127.0.0.1", Port: port, User: physUser, Database: db, SSLMode: "disable"}
}

func (b *physBench) cofferBackup(ctx context.Context, v *vaultstore.Engine, eng *pgphysical.Engine, what string) (vaultstore.ManifestID, *engine.Metadata, error) {
	before := dirSize(b.vault)
	start := time.Now()
	w, err := v.NewWriter(ctx, physDomain, nil)
	if err != nil {
		return "", nil, err
	}
	md, err := eng.Snapshot(ctx, b.target(b.port, "postgres"), w)
	if err != nil {
		w.Abort()
		return "", nil, err
	}
	id, _, err := w.Commit(ctx)
	if err != nil {
		return "", nil, err
	}
	b.add(measurement{what: what, took: time.Since(start), bytes: dirSize(b.vault) - before, logical: md.LogicalSize})
	return id, md, nil
}

func (b *physBench) backrestBackup(ctx context.Context, typ, what string) error {
	set := filepath.Join(b.repo, "backup")
	before := dirSize(set)
	start := time.Now()
	if err := b.backrest(ctx, "--type="+typ, "backup"); err != nil {
		return err
	}
	b.add(measurement{what: what, took: time.Since(start), bytes: dirSize(set) - before})
	return nil
}

// serve starts a restored data directory (no archiving: it is a copy),
// waits until it has left recovery and records the time since start as
// what.
func (b *physBench) serve(ctx context.Context, data, what string, start time.Time) (int, error) {
	port, err := b.startRestored(ctx, data)
	if err != nil {
		return 0, err
	}
	b.add(measurement{what: what, took: time.Since(start)})
	return port, nil
}

// startRestored starts a restored data directory on a free port and waits
// until it has left recovery.
func (b *physBench) startRestored(ctx context.Context, data string) (int, error) {
	port, err := freeLocalPort()
	if err != nil {
		return 0, err
	}
	if err := b.start(ctx, data, port, "-c archive_mode=off"); err != nil {
		return 0, err
	}
	return port, waitOutOfRecovery(ctx, b.dsn(port, "bench"))
}

func (b *physBench) cofferRestore(ctx context.Context, v *vaultstore.Engine, eng *pgphysical.Engine, id vaultstore.ManifestID, md *engine.Metadata) error {
	data := filepath.Join(b.dir, "restored-coffer")
	start := time.Now()
	r, err := v.OpenReader(ctx, id)
	if err != nil {
		return err
	}
	_, err = eng.Restore(ctx, r, data, md)
	r.Close()
	if err != nil {
		return err
	}
	port, err := b.serve(ctx, data, "coffer physical restore + recovery", start)
	if err != nil {
		return err
	}
	if _, err := pgphysical.Validate(ctx, b.target(port, "bench"), md); err != nil {
		return err
	}
	b.add(measurement{what: "coffer physical restore + recovery + validation", took: time.Since(start)})
	return nil
}

func (b *physBench) backrestRestore(ctx context.Context) error {
	data := filepath.Join(b.dir, "restored-pgbackrest")
	if err := b.mkdir(data); err != nil {
		return err
	}
	start := time.Now()
	if err := b.backrest(ctx, "--pg1-path="+data, "--type=immediate", "--target-action=promote", "restore"); err != nil {
		return err
	}
	_, err := b.serve(ctx, data, "pgBackRest restore + recovery", start)
	return err
}

func (b *physBench) logicalRestore(ctx context.Context, db *sql.DB, dump string) error {
	if _, err := db.ExecContext(ctx, `CREATE DATABASE bench_logical`); err != nil {
		return err
	}
	start := time.Now()
	if err := b.cmd(ctx, filepath.Join(b.bin, "pg_restore"), "--no-owner", "--no-privileges", "--single-transaction", "-h", b.sock, "-p", fmt.Sprint(b.port), "-U", physUser, "-d", "bench_logical", dump); err != nil {
		return err
	}
	b.add(measurement{what: "pg_restore of the dump", took: time.Since(start)})
	return nil
}

// waitOutOfRecovery waits until the server at dsn accepts connections
// and has finished recovery.
func waitOutOfRecovery(ctx context.Context, dsn string) error {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	for {
		var rec bool
		err := db.QueryRowContext(ctx, `SELECT pg_is_in_recovery()`).Scan(&rec)
		if err == nil && !rec {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (b *physBench) print() {
	find := func(what string) measurement { return findRow(b.rows, what) }
	chunk := b.o.PageChunk
	if chunk == 0 {
		chunk = pgphysical.DefaultPageChunk
	}
	fmt.Fprintf(b.o.Out, "\n| step (database %s, page chunk %d) | wall time | bytes added |\n|---|---|---|\n", mib(b.dbSize), chunk)
	for _, m := range b.rows {
		fmt.Fprintf(b.o.Out, "| %s | %s | %s |\n", m.what, m.took.Round(time.Millisecond), mib(m.bytes))
	}
	full, brFull := find("coffer physical backup (full)"), find("pgBackRest backup (full)")
	incr, brIncr := find("coffer physical backup (after 2% changed)"), find("pgBackRest backup (incr, after 2% changed)")
	rest, restVal, brRest, logical := find("coffer physical restore + recovery"), find("coffer physical restore + recovery + validation"), find("pgBackRest restore + recovery"), find("pg_restore of the dump")
	fmt.Fprintf(b.o.Out, "\nfull backup / pgBackRest full: %.2fx (target ≤ 0.6x)\n", ratio(full.took.Seconds(), brFull.took.Seconds()))
	fmt.Fprintf(b.o.Out, "bytes after 2%% changed / pgBackRest incr: %.3fx (target ≤ 0.25x)\n", ratio(float64(incr.bytes), float64(brIncr.bytes)))
	fmt.Fprintf(b.o.Out, "restore + recovery / pgBackRest: %.2fx (target ≤ 1.2x); with validation %.2fx\n", ratio(rest.took.Seconds(), brRest.took.Seconds()), ratio(restVal.took.Seconds(), brRest.took.Seconds()))
	fmt.Fprintf(b.o.Out, "restore + recovery / pg_restore: %.2fx (target ≤ 0.4x); with validation %.2fx\n", ratio(rest.took.Seconds(), logical.took.Seconds()), ratio(restVal.took.Seconds(), logical.took.Seconds()))
}
