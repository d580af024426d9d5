package demo

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/coffer-dev/coffer/internal/engine/pgphysical"
	"github.com/coffer-dev/coffer/internal/engine/pgwal"
	"github.com/coffer-dev/coffer/internal/meta/sqlite"
	"github.com/coffer-dev/coffer/internal/pgaccount"
	"github.com/coffer-dev/coffer/internal/rds"
	"github.com/coffer-dev/coffer/internal/vaultstore"
)

// PITROptions size the continuous backup benchmark.
type PITROptions struct {
	Scale    int           // pgbench scale
	Duration time.Duration // each pgbench run
	Clients  int           // pgbench -c (-j is half, at least 1)
	DataDir  string
	Out      io.Writer
}

// BenchPITR compares coffer's continuous backup (WAL streamed over a
// replication slot into a vault, package pgwal) with pgBackRest's WAL
// archiving (archive-push, zstd 1, process-max 2) on one cluster of its
// own, set up as the physical benchmark sets it up: pgbench TPS with
// the capture off, on, and off again (pgBackRest archives throughout;
// the two off runs show how much the machine drifts), the lag of
// the latest restorable time sampled every second during the second
// run, the bytes each stores for the WAL generated, and a
// point-in-time restore to the middle of that run by each, with the
// restored row counts compared.
func BenchPITR(ctx context.Context, o PITROptions) error {
	if _, err := exec.LookPath("pgbackrest"); err != nil {
		return fmt.Errorf("the point-in-time benchmark compares with pgBackRest: install it (scripts/bench-deps.sh)")
	}
	if !postgresInstalled() {
		return fmt.Errorf("the point-in-time benchmark needs PostgreSQL's binaries (apt-get install -y postgresql)")
	}
	cleanup, err := scratchDir(&o.DataDir)
	if err != nil {
		return err
	}
	defer cleanup()
	bin, err := rds.PostgresBinDir()
	if err != nil {
		return err
	}
	b := &physBench{o: BenchOptions{DataDir: o.DataDir, Out: o.Out}, dir: filepath.Join(o.DataDir, "pitr"), bin: bin}
	if b.cred, err = pgaccount.Credential(); err != nil {
		return err
	}
	defer b.stopAll()
	if err := b.setup(ctx); err != nil {
		return err
	}
	p := &pitrBench{physBench: b, o: o}
	if err := p.measure(ctx); err != nil {
		return err
	}
	p.print()
	return nil
}

type pitrBench struct {
	*physBench
	o           PITROptions
	tpsOff      float64
	tpsOn       float64
	tpsOff2     float64 // off again after the capture stopped: the machine's drift
	lags        []time.Duration
	walBytes    int64 // WAL generated during the measured run
	cofferWAL   int64 // vault bytes added for it (after GC)
	cofferRaw   int64 // before GC (partial segments rewritten)
	brWAL       int64 // pgBackRest archive bytes added for it
	cofferPITR  time.Duration
	cofferFiles time.Duration // of which: base backup and WAL written into the data directory
	brPITR      time.Duration
	rowsCoffer  int64
	rowsBR      int64
}

func (p *pitrBench) pgbench(ctx context.Context, args ...string) (string, error) {
	c := exec.CommandContext(ctx, filepath.Join(p.bin, "pgbench"), append([]string{"-h", p.sock, "-p", strconv.Itoa(p.port), "-U", physUser}, args...)...)
	c.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	c.Env = append(os.Environ(), "LC_ALL=C")
	c.Dir = p.dir
	out, err := c.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("pgbench %v: %v\n%s", args, err, lastLine(out))
	}
	return string(out), nil
}

var tpsLine = regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`)

func (p *pitrBench) run(ctx context.Context) (float64, error) {
	j := max(p.o.Clients/2, 1)
	out, err := p.pgbench(ctx, "-c", strconv.Itoa(p.o.Clients), "-j", strconv.Itoa(j), "-T", strconv.Itoa(int(p.o.Duration.Seconds())), "bench")
	if err != nil {
		return 0, err
	}
	m := tpsLine.FindStringSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("no TPS in pgbench's output:\n%s", lastLine([]byte(out)))
	}
	return strconv.ParseFloat(m[1], 64)
}

func (p *pitrBench) measure(ctx context.Context) error {
	db, err := sql.Open("pgx", p.dsn(p.port, "postgres"))
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE DATABASE bench`); err != nil {
		return err
	}
	fmt.Fprintf(p.o.Out, "\npoint-in-time: pgbench scale %d, %d clients, %s per run, on a cluster of its own ...\n", p.o.Scale, p.o.Clients, p.o.Duration)
	if _, err := p.pgbench(ctx, "-i", "-q", "-s", strconv.Itoa(p.o.Scale), "bench"); err != nil {
		return err
	}
	v, closeVault, err := p.openVault(ctx)
	if err != nil {
		return err
	}
	defer closeVault()
	idx, err := sqlite.Open(ctx, filepath.Join(p.dir, "pitr-index.db"))
	if err != nil {
		return err
	}
	defer idx.Close()
	phys, err := pgphysical.New(pgphysical.Options{Owner: p.cred})
	if err != nil {
		return err
	}
	a, err := pgwal.Open(idx, v, physDomain, "bench", pgwal.Options{Physical: phys, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return err
	}
	tg := p.target(p.port, "postgres")

	// Base backups by both, then the run without coffer's capture.
	if err := p.backrest(ctx, "--type=full", "backup"); err != nil {
		return err
	}
	if p.tpsOff, err = p.run(ctx); err != nil {
		return err
	}
	fmt.Fprintf(p.o.Out, "  pgbench, capture off: %.1f TPS\n", p.tpsOff)

	cctx, stopCapture := context.WithCancel(ctx)
	captured := make(chan error, 1)
	go func() { captured <- a.Capture(cctx, tg, pgwal.CaptureOptions{}) }()
	defer stopCapture()
	if _, err := a.TakeBaseBackup(ctx, tg); err != nil {
		return err
	}
	if err := p.backrest(ctx, "--type=incr", "backup"); err != nil {
		return err
	}
	if err := p.waitWindow(ctx, a, time.Now(), captured); err != nil {
		return err
	}
	var lsn0, lsn1 string
	if err := db.QueryRowContext(ctx, `SELECT pg_current_wal_lsn()::text`).Scan(&lsn0); err != nil {
		return err
	}
	vault0, br0 := dirSize(p.vault), dirSize(filepath.Join(p.repo, "archive"))

	// The run with the capture on, sampling the window each second.
	runStart := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for time.Since(runStart) < p.o.Duration {
			time.Sleep(time.Second)
			if w, err := a.Window(ctx); err == nil {
				p.lags = append(p.lags, time.Since(w.Latest))
			}
		}
	}()
	p.tpsOn, err = p.run(ctx)
	<-done
	if err != nil {
		return err
	}
	fmt.Fprintf(p.o.Out, "  pgbench, capture on: %.1f TPS\n", p.tpsOn)
	target := runStart.Add(p.o.Duration / 2)
	if _, err := db.ExecContext(ctx, `SELECT pg_switch_wal()`); err != nil {
		return err
	}
	if err := db.QueryRowContext(ctx, `SELECT pg_current_wal_lsn()::text`).Scan(&lsn1); err != nil {
		return err
	}
	if err := p.waitWindow(ctx, a, time.Now(), captured); err != nil {
		return err
	}
	if err := p.backrest(ctx, "check"); err != nil { // waits for the switched segment's archive-push
		return err
	}
	stopCapture()
	if err := <-captured; err != nil {
		return err
	}
	l0, err := pgwal.ParseLSN(lsn0)
	if err != nil {
		return err
	}
	l1, err := pgwal.ParseLSN(lsn1)
	if err != nil {
		return err
	}
	p.walBytes = int64(l1 - l0)
	p.brWAL = dirSize(filepath.Join(p.repo, "archive")) - br0
	p.cofferRaw = dirSize(p.vault) - vault0
	for range 2 { // condemn, then delete the packs only rewritten partial segments used
		if _, err := v.GC(ctx, "", "", vaultstore.GCOptions{Grace: time.Nanosecond, DeleteDelay: time.Nanosecond}); err != nil {
			return err
		}
	}
	p.cofferWAL = dirSize(p.vault) - vault0
	if p.tpsOff2, err = p.run(ctx); err != nil {
		return err
	}
	fmt.Fprintf(p.o.Out, "  pgbench, capture off again: %.1f TPS\n", p.tpsOff2)

	// Point-in-time restores to the middle of the run.
	start := time.Now()
	dir := filepath.Join(p.dir, "pitr-coffer")
	if _, err := a.Restore(ctx, target, false, dir); err != nil {
		return err
	}
	p.cofferFiles = time.Since(start)
	port, err := p.startRestored(ctx, dir)
	if err != nil {
		return err
	}
	p.cofferPITR = time.Since(start)
	if p.rowsCoffer, err = p.historyRows(ctx, port); err != nil {
		return err
	}

	dir = filepath.Join(p.dir, "pitr-pgbackrest")
	if err := p.mkdir(dir); err != nil {
		return err
	}
	start = time.Now()
	if err := p.backrest(ctx, "--pg1-path="+dir, "--type=time", "--target="+target.UTC().Format("2006-01-02 15:04:05.999999-07"), "--target-action=promote", "restore"); err != nil {
		return err
	}
	if port, err = p.startRestored(ctx, dir); err != nil {
		return err
	}
	p.brPITR = time.Since(start)
	if p.rowsBR, err = p.historyRows(ctx, port); err != nil {
		return err
	}
	if p.rowsCoffer != p.rowsBR {
		return fmt.Errorf("restores to %s differ: coffer's has %d pgbench_history rows, pgBackRest's %d", target.Format(time.RFC3339Nano), p.rowsCoffer, p.rowsBR)
	}
	return nil
}

func (p *pitrBench) offMean() float64 { return (p.tpsOff + p.tpsOff2) / 2 }

func (p *pitrBench) historyRows(ctx context.Context, port int) (int64, error) {
	db, err := sql.Open("pgx", p.dsn(port, "bench"))
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var n int64
	err = db.QueryRowContext(ctx, `SELECT count(*) FROM pgbench_history`).Scan(&n)
	return n, err
}

// waitWindow waits until the latest restorable time reaches at.
func (p *pitrBench) waitWindow(ctx context.Context, a *pgwal.Archive, at time.Time, captured chan error) error {
	for {
		w, err := a.Window(ctx)
		if err == nil && !w.Latest.Before(at) {
			return nil
		}
		select {
		case err := <-captured:
			return fmt.Errorf("the capture stopped: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (p *pitrBench) print() {
	slices.Sort(p.lags)
	pct := func(q float64) time.Duration {
		if len(p.lags) == 0 {
			return 0
		}
		return p.lags[min(len(p.lags)-1, int(q*float64(len(p.lags))))].Round(10 * time.Millisecond)
	}
	perGiB := func(n int64) string {
		if p.walBytes == 0 {
			return "-"
		}
		return mib(int64(float64(n) / float64(p.walBytes) * (1 << 30)))
	}
	out := p.o.Out
	fmt.Fprintf(out, "\n| measure (pgbench scale %d, -c %d, %s) | coffer | pgBackRest |\n|---|---|---|\n", p.o.Scale, p.o.Clients, p.o.Duration)
	fmt.Fprintf(out, "| pgbench TPS, capture off / on / off again (pgBackRest archiving throughout) | %.1f / %.1f / %.1f (on / mean off %.2fx) | |\n", p.tpsOff, p.tpsOn, p.tpsOff2, p.tpsOn/p.offMean())
	fmt.Fprintf(out, "| latest restorable time behind now, 1 s samples (%d): median / p90 / max | %s / %s / %s | |\n", len(p.lags), pct(0.5), pct(0.9), pct(1))
	fmt.Fprintf(out, "| WAL generated during the run | %s | %s |\n", mib(p.walBytes), mib(p.walBytes))
	fmt.Fprintf(out, "| stored for it (coffer: before GC / after GC) | %s / %s | %s |\n", mib(p.cofferRaw), mib(p.cofferWAL), mib(p.brWAL))
	fmt.Fprintf(out, "| stored per GiB of WAL | %s | %s |\n", perGiB(p.cofferWAL), perGiB(p.brWAL))
	fmt.Fprintf(out, "| point-in-time restore to mid-run + recovery | %s (files %s) | %s |\n", p.cofferPITR.Round(time.Millisecond), p.cofferFiles.Round(time.Millisecond), p.brPITR.Round(time.Millisecond))
	fmt.Fprintf(out, "| pgbench_history rows restored (must match) | %d | %d |\n", p.rowsCoffer, p.rowsBR)
	fmt.Fprintf(out, "\nTPS on / off: %.2fx (target ≥ 0.9x); max lag %s (target ≤ 10 s); restore / pgBackRest: %.2fx (target ≤ 1.2x); bytes / pgBackRest: %.2fx (target ≤ 1x)\n",
		p.tpsOn/p.offMean(), pct(1), p.cofferPITR.Seconds()/p.brPITR.Seconds(), float64(p.cofferWAL)/float64(p.brWAL))
}
