package demo

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	backuptypes "github.com/aws/aws-sdk-go-v2/service/backup/types"

	"github.com/coffer-dev/coffer/internal/rds"
	"github.com/coffer-dev/coffer/internal/scenario"
)

// BenchOptions size the backup benchmark.
type BenchOptions struct {
	Size    int64 // target database size in bytes
	DataDir string
	Out     io.Writer
	Log     io.Writer // coffer's log; nil discards it
	// Part picks what runs: "jobs" (coffer's backup jobs against
	// pg_dump/pg_restore), "physical" (physical backups against
	// pgBackRest and pg_dump/pg_restore, on a cluster of their own) or
	// "all" (the default).
	Part string
	// PageChunk is the physical engine's chunk size for relation files
	// (0: one page).
	PageChunk int
}

// measurement is one row of the benchmark's table.
type measurement struct {
	what    string
	took    time.Duration
	bytes   int64 // bytes written (to the dump file, or added to the vaults)
	logical int64 // bytes of the stream or database
}

// Bench measures the whole job path on a generated PostgreSQL database:
// a full backup, a second backup after 2% of rows changed in clusters,
// the cross-account copy of each, and a restore, against bare pg_dump -Fc
// to a local file and pg_restore of it, in the same run.
func Bench(ctx context.Context, o BenchOptions) error {
	if !postgresInstalled() {
		return fmt.Errorf("the backup benchmark needs PostgreSQL's binaries (apt-get install -y postgresql)")
	}
	cleanup, err := scratchDir(&o.DataDir)
	if err != nil {
		return err
	}
	defer cleanup()
	switch o.Part {
	case "", "all":
	case "jobs":
	case "physical":
		_, err := benchPhysical(ctx, o)
		return err
	default:
		return fmt.Errorf("bench part %q is not jobs, physical or all", o.Part)
	}
	r := &run{o: &Options{DataDir: o.DataDir, Engine: "postgres", Out: o.Out, Log: o.Log}, out: o.Out}
	stop, err := r.start(ctx)
	if err != nil {
		return err
	}
	defer stop()
	b := &bench{run: r, size: o.Size, vaults: filepath.Join(o.DataDir, "coffer", "regions")}
	if err := b.measure(ctx); err != nil {
		return err
	}
	b.print()
	if o.Part == "jobs" {
		return nil
	}
	phys, err := benchPhysical(ctx, o)
	if err != nil {
		return err
	}
	b.printJobsAgainstPgBackRest(phys)
	return nil
}

type bench struct {
	*run
	size   int64
	vaults string
	rows   []measurement
	dbSize int64
}

func (b *bench) add(m measurement) {
	b.rows = append(b.rows, m)
	fmt.Fprintf(b.out, "  %-44s %9s  %10s\n", m.what, m.took.Round(time.Millisecond), mib(m.bytes))
}

// dirSize is the bytes stored under dir.
// scratchDir makes *dir a new temporary directory when it is empty;
// cleanup removes the directories it made.
func scratchDir(dir *string) (cleanup func(), err error) {
	if *dir != "" {
		return func() {}, nil
	}
	if *dir, err = os.MkdirTemp("", "coffer-bench-"); err != nil {
		return nil, err
	}
	made := *dir
	return func() { os.RemoveAll(made) }, nil
}

func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

// pgBin is a PostgreSQL client binary from the newest server installation,
// the one coffer's embedded clusters run.
func pgBin(name string) (string, error) {
	dir, err := rds.PostgresBinDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, name), nil
}

func (b *bench) measure(ctx context.Context) error {
	const pw = "bench-Passw0rd-orders"
	if err := b.mgmt.EnableCrossAccountBackup(ctx); err != nil {
		return err
	}
	org, err := b.mgmt.OrgID(ctx)
	if err != nil {
		return err
	}
	srcKey, err := b.src.CreateKey(ctx, "source-cmk", scenario.KeyPolicy(Source, BackupAcct))
	if err != nil {
		return err
	}
	db, err := b.src.CreateDB(ctx, scenario.DBSpec{ID: "bench-db", Engine: "postgres", KeyID: srcKey, DBName: "bench", User: "bench_admin", Password: pw})
	if err != nil {
		return err
	}
	conn, err := db.Open()
	if err != nil {
		return err
	}
	defer conn.Close()
	fmt.Fprintf(b.out, "generating about %s of rows in %s ...\n", mib(b.size), db.ARN)
	if b.dbSize, err = generate(ctx, conn, b.size); err != nil {
		return err
	}
	role, err := b.src.BackupRole(ctx, "backup-role")
	if err != nil {
		return err
	}
	if _, err := b.src.Vault(ctx, "source-vault", srcKey); err != nil {
		return err
	}
	dstKey, err := b.dst.CreateKey(ctx, "backup-cmk", scenario.KeyPolicy(BackupAcct))
	if err != nil {
		return err
	}
	if _, err := b.dst.BackupRole(ctx, "AWSBackupDefaultServiceRole"); err != nil {
		return err
	}
	if err := b.dst.AllowKeyUse(ctx, "AWSBackupDefaultServiceRole", srcKey); err != nil {
		return err
	}
	dstVault, err := b.dst.Vault(ctx, "backup-vault", dstKey)
	if err != nil {
		return err
	}
	if err := b.dst.AllowOrgCopies(ctx, "backup-vault", org); err != nil {
		return err
	}
	fmt.Fprintf(b.out, "database: %s on disk (pg_database_size)\n\n", mib(b.dbSize))

	dump := filepath.Join(b.o.DataDir, "bare.dump")
	if err := b.pgDump(ctx, db, pw, dump); err != nil {
		return err
	}
	rp1, err := b.backup(ctx, "coffer backup (full)", db.ARN, role)
	if err != nil {
		return err
	}
	if err := b.copy(ctx, "coffer cross-account copy (full)", rp1, dstVault, role); err != nil {
		return err
	}
	start := time.Now()
	changed, err := changeClusters(ctx, conn)
	if err != nil {
		return err
	}
	fmt.Fprintf(b.out, "  (changed %d rows, 2%% in clusters, in %s)\n", changed, time.Since(start).Round(time.Millisecond))
	rp2, err := b.backup(ctx, "coffer backup (after 2% changed)", db.ARN, role)
	if err != nil {
		return err
	}
	if err := b.copy(ctx, "coffer cross-account copy (after 2% changed)", rp2, dstVault, role); err != nil {
		return err
	}
	if err := b.pgRestore(ctx, dump, pw); err != nil {
		return err
	}
	start = time.Now()
	rj, err := b.src.RestoreJob(ctx, rp2, role, map[string]string{"DBInstanceIdentifier": "bench-restored", "KmsKeyId": srcKey})
	if err != nil {
		return err
	}
	if rj.Status != backuptypes.RestoreJobStatusCompleted {
		return fmt.Errorf("restore job %s: %s", rj.Status, aws.ToString(rj.StatusMessage))
	}
	b.add(measurement{what: "coffer restore (with validation)", took: time.Since(start), logical: aws.ToInt64(rj.BackupSizeInBytes)})
	return nil
}

func (b *bench) pgDump(ctx context.Context, db *scenario.DB, pw, file string) error {
	bin, err := pgBin("pg_dump")
	if err != nil {
		return err
	}
	start := time.Now()
	cmd := exec.CommandContext(ctx, bin, "-Fc", "-f", file, "-h", db.Address, "-p", fmt.Sprint(db.Port), "-U", db.User, db.DBName)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+pw)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pg_dump: %v: %s", err, out)
	}
	st, err := os.Stat(file)
	if err != nil {
		return err
	}
	b.add(measurement{what: "bare pg_dump -Fc > file", took: time.Since(start), bytes: st.Size()})
	return nil
}

func (b *bench) pgRestore(ctx context.Context, file, pw string) error {
	bin, err := pgBin("pg_restore")
	if err != nil {
		return err
	}
	target, err := b.src.CreateDB(ctx, scenario.DBSpec{ID: "bench-bare", Engine: "postgres", DBName: "bench_bare", User: "bench_bare_admin", Password: pw})
	if err != nil {
		return err
	}
	start := time.Now()
	cmd := exec.CommandContext(ctx, bin, "--no-owner", "--no-privileges", "--single-transaction", "-h", target.Address, "-p", fmt.Sprint(target.Port), "-U", target.User, "-d", target.DBName, file)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+pw)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pg_restore: %v: %s", err, out)
	}
	b.add(measurement{what: "bare pg_restore of the file", took: time.Since(start)})
	return nil
}

func (b *bench) backup(ctx context.Context, what, resource, role string) (string, error) {
	before := dirSize(b.vaults)
	start := time.Now()
	j, err := b.src.BackupJob(ctx, "source-vault", resource, role)
	if err != nil {
		return "", err
	}
	if j.State != backuptypes.BackupJobStateCompleted {
		return "", fmt.Errorf("backup job %s: %s", j.State, aws.ToString(j.StatusMessage))
	}
	b.add(measurement{what: what, took: time.Since(start), bytes: dirSize(b.vaults) - before, logical: aws.ToInt64(j.BackupSizeInBytes)})
	return aws.ToString(j.RecoveryPointArn), nil
}

func (b *bench) copy(ctx context.Context, what, rp, dest, role string) error {
	before := dirSize(b.vaults)
	start := time.Now()
	j, err := b.src.CopyJob(ctx, rp, "source-vault", dest, role)
	if err != nil {
		return err
	}
	if j.State != backuptypes.CopyJobStateCompleted {
		return fmt.Errorf("copy job %s: %s", j.State, aws.ToString(j.StatusMessage))
	}
	b.add(measurement{what: what, took: time.Since(start), bytes: dirSize(b.vaults) - before, logical: aws.ToInt64(j.BackupSizeInBytes)})
	return nil
}

// generate fills orders with rows of realistic entropy (hex digests,
// numbers, timestamps) until the database reaches size bytes.
func generate(ctx context.Context, db *sql.DB, size int64) (int64, error) {
	if _, err := db.ExecContext(ctx, `CREATE TABLE orders (id bigint PRIMARY KEY, customer text NOT NULL, amount numeric(12,2) NOT NULL,
		placed timestamptz NOT NULL, payload text NOT NULL)`); err != nil {
		return 0, err
	}
	const batch = 50000
	var dbSize int64
	for next := int64(1); ; next += batch {
		if _, err := db.ExecContext(ctx, `INSERT INTO orders SELECT i, 'customer-' || (i % 9973), (i * 7919 % 100000) / 100.0,
			timestamptz '2026-01-01' + i * interval '1 second',
			md5(i::text) || md5((i * 31)::text) || md5((i * 131)::text) || md5((i * 1031)::text) || md5((i * 10037)::text) || md5((i * 100049)::text)
			FROM generate_series($1::bigint, $2::bigint) i`, next, next+batch-1); err != nil {
			return 0, err
		}
		if err := db.QueryRowContext(ctx, `SELECT pg_database_size(current_database())`).Scan(&dbSize); err != nil {
			return 0, err
		}
		if dbSize >= size {
			return dbSize, nil
		}
	}
}

// changeClusters updates 2% of the rows, in 20 runs of consecutive ids.
func changeClusters(ctx context.Context, db *sql.DB) (int64, error) {
	var rows int64
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM orders`).Scan(&rows); err != nil {
		return 0, err
	}
	run := rows / 50 / 20
	var changed int64
	for c := int64(0); c < 20; c++ {
		from := (c*rows/20 + rows/40) + 1
		res, err := db.ExecContext(ctx, `UPDATE orders SET amount = amount + 1, payload = md5(payload) || substr(payload, 33) WHERE id BETWEEN $1 AND $2`, from, from+run-1)
		if err != nil {
			return 0, err
		}
		n, _ := res.RowsAffected()
		changed += n
	}
	return changed, nil
}

// findRow is the measurement named what, zero when missing.
func findRow(rows []measurement, what string) measurement {
	for _, m := range rows {
		if m.what == what {
			return m
		}
	}
	return measurement{}
}

// ratio is a/b, 0 when b is.
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// printJobsAgainstPgBackRest sets coffer's backup jobs (physical
// snapshots of an instance's server, through the vault, as a user runs
// them) against pgBackRest and pg_restore on the physical part's cluster
// (the same generator and size, another server).
func (b *bench) printJobsAgainstPgBackRest(phys []measurement) {
	full, second, restore := findRow(b.rows, "coffer backup (full)"), findRow(b.rows, "coffer backup (after 2% changed)"), findRow(b.rows, "coffer restore (with validation)")
	brFull, brIncr, brRest, logical := findRow(phys, "pgBackRest backup (full)"), findRow(phys, "pgBackRest backup (incr, after 2% changed)"), findRow(phys, "pgBackRest restore + recovery"), findRow(phys, "pg_restore of the dump")
	fmt.Fprintf(b.out, "\nbackup jobs (physical) against pgBackRest:\n")
	fmt.Fprintf(b.out, "full backup job / pgBackRest full: %.2fx (target ≤ 0.6x)\n", ratio(full.took.Seconds(), brFull.took.Seconds()))
	fmt.Fprintf(b.out, "bytes of the job after 2%% changed / pgBackRest incr: %.3fx (target ≤ 0.25x)\n", ratio(float64(second.bytes), float64(brIncr.bytes)))
	fmt.Fprintf(b.out, "restore job (available, validated) / pgBackRest restore + recovery: %.2fx (target ≤ 1.2x)\n", ratio(restore.took.Seconds(), brRest.took.Seconds()))
	fmt.Fprintf(b.out, "restore job / pg_restore: %.2fx (target ≤ 0.4x)\n", ratio(restore.took.Seconds(), logical.took.Seconds()))
}

func (b *bench) print() {
	fmt.Fprintf(b.out, "\n| step | wall time | MB/s of database | bytes written |\n|---|---|---|---|\n")
	for _, m := range b.rows {
		rate := float64(b.dbSize) / (1 << 20) / m.took.Seconds()
		fmt.Fprintf(b.out, "| %s | %s | %.1f | %s |\n", m.what, m.took.Round(time.Millisecond), rate, mib(m.bytes))
	}
	find := func(what string) measurement { return findRow(b.rows, what) }
	dump, full, second := find("bare pg_dump -Fc > file"), find("coffer backup (full)"), find("coffer backup (after 2% changed)")
	copy2 := find("coffer cross-account copy (after 2% changed)")
	restore, bare := find("coffer restore (with validation)"), find("bare pg_restore of the file")
	fmt.Fprintf(b.out, "\nfull backup / bare pg_dump: %.2fx (target ≤ 1.3x)\n", full.took.Seconds()/dump.took.Seconds())
	fmt.Fprintf(b.out, "second backup bytes / first: %.1f%%; its copy: %.1f%% (target < 10%%)\n",
		100*float64(second.bytes)/float64(full.bytes), 100*float64(copy2.bytes)/float64(full.bytes))
	fmt.Fprintf(b.out, "restore / bare pg_restore: %.2fx (target ≤ 1.3x)\n", restore.took.Seconds()/bare.took.Seconds())
}
