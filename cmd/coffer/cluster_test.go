package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/backup"
	backuptypes "github.com/aws/aws-sdk-go-v2/service/backup/types"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/smithy-go"
	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/coffer-dev/coffer/internal/clusterenv"
	"github.com/coffer-dev/coffer/internal/demo"
	"github.com/coffer-dev/coffer/internal/scenario"
	"github.com/coffer-dev/coffer/internal/testenv"
)

// cluster is several coffer serve processes on one PostgreSQL database
// and one data directory, with a short job lease.
type cluster struct {
	t       *testing.T
	env     *clusterenv.Cluster
	dataDir string
	pg      *testenv.PostgresServer
	dsn     string
	db      *sql.DB
}

// clusterLease is the job lease of the test nodes: short, so a node's
// jobs move within seconds, long enough for a loaded machine to renew.
const clusterLease = "3s"

// newCluster sets up the nodes' store: PostgreSQL, and region us-east-1
// on s3 when it is not nil.
func newCluster(t *testing.T, s3 *testenv.MinIOServer) *cluster {
	pg := testenv.StartPostgres(t)
	c := &cluster{t: t, pg: pg, dsn: pg.CreateDatabase(t, "coffer")}
	env, err := clusterenv.New(clusterenv.Options{Exe: binary(t), Dir: t.TempDir(), DSN: c.dsn, S3: s3, Bootstrap: demo.Bootstrap,
		Env: []string{"COFFER_JOB_STALE_AFTER=" + clusterLease, "COFFER_GC_INTERVAL=2s"}})
	if err != nil {
		t.Fatal(err)
	}
	c.env, c.dataDir = env, env.DataDir
	db, err := sql.Open("pgx", c.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	c.db = db
	return c
}

func (c *cluster) node(env ...string) *process {
	c.t.Helper()
	p := &process{stderr: &syncBuffer{}}
	n, err := c.env.StartNode(context.Background(), p.stderr, env...)
	if n != nil {
		c.t.Cleanup(func() { n.Cmd.Process.Kill(); n.Cmd.Wait() })
	}
	if err != nil {
		c.t.Fatalf("%v\n%s", err, p.stderr)
	}
	p.Node = n
	return p
}

func (c *cluster) account(p *process, id, profile string) *scenario.Account {
	cfg, err := p.AWSConfig(context.Background(), profile, awsconfig.WithRetryMaxAttempts(1))
	c.check(err)
	a := scenario.NewAccount(id, cfg)
	a.Timeout = 2 * time.Minute
	return a
}

// backupSetup creates what a backup of a large SQLite instance needs in
// the source account.
type backupSetup struct{ vault, role, dbARN, dbPath, key string }

func (c *cluster) setup(a *scenario.Account) backupSetup {
	ctx := context.Background()
	key, err := a.CreateKey(ctx, "source-cmk", scenario.KeyPolicy("111222333444"))
	c.check(err)
	db, err := a.CreateDB(ctx, scenario.DBSpec{ID: "big", Engine: "sqlite", KeyID: key})
	c.check(err)
	role, err := a.BackupRole(ctx, "backup-role")
	c.check(err)
	_, err = a.Vault(ctx, "source-vault", key)
	c.check(err)
	return backupSetup{vault: "source-vault", role: role, dbARN: db.ARN, dbPath: db.Address, key: key}
}

func (c *cluster) check(err error) {
	c.t.Helper()
	if err != nil {
		c.t.Fatal(err)
	}
}

// startRunning starts a backup of new data and waits until a node runs it.
func (c *cluster) startRunning(a *scenario.Account, s backupSetup, seed int64) string {
	c.t.Helper()
	ctx := context.Background()
	// New rows each time, so deduplication does not make the job quick.
	if _, err := exec.Command("rm", "-f", s.dbPath).CombinedOutput(); err != nil {
		c.t.Fatal(err)
	}
	fillRandom(c.t, s.dbPath, 150<<20, seed)
	out, err := a.Backup.StartBackupJob(ctx, &backup.StartBackupJobInput{BackupVaultName: aws.String(s.vault), ResourceArn: aws.String(s.dbARN), IamRoleArn: aws.String(s.role)})
	c.check(err)
	id := aws.ToString(out.BackupJobId)
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		j, err := a.Backup.DescribeBackupJob(ctx, &backup.DescribeBackupJobInput{BackupJobId: aws.String(id)})
		c.check(err)
		switch j.State {
		case backuptypes.BackupJobStateRunning:
			return id
		case backuptypes.BackupJobStateCreated, backuptypes.BackupJobStatePending:
		default:
			c.t.Fatalf("backup job %s ended %s before the fault could be injected: %s", id, j.State, aws.ToString(j.StatusMessage))
		}
	}
	c.t.Fatalf("backup job %s never ran", id)
	return ""
}

// runningBackup starts a node and a backup job running on it: the node,
// the source account, its setup and the job's ID.
func (c *cluster) runningBackup(seed int64) (*process, *scenario.Account, backupSetup, string) {
	a := c.node()
	src := c.account(a, "111222333444", "source")
	s := c.setup(src)
	return a, src, s, c.startRunning(src, s, seed)
}

// waitTakenOver waits, through the surviving node, for the job to end,
// and checks it COMPLETED on a later attempt with one recovery point.
func (c *cluster) waitTakenOver(a *scenario.Account, s backupSetup, id string, within time.Duration) {
	c.t.Helper()
	if msg := c.waitCompleted(a, s, id, within); !strings.Contains(msg, "attempt 2") {
		c.t.Errorf("backup job %s status message %q does not show the retry", id, msg)
	}
}

// waitEnded waits for the job to end.
func (c *cluster) waitEnded(a *scenario.Account, id string, within time.Duration) *backup.DescribeBackupJobOutput {
	c.t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(within)
	for {
		j, err := a.Backup.DescribeBackupJob(ctx, &backup.DescribeBackupJobInput{BackupJobId: aws.String(id)})
		c.check(err)
		if j.State != backuptypes.BackupJobStateCreated && j.State != backuptypes.BackupJobStatePending && j.State != backuptypes.BackupJobStateRunning {
			return j
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("backup job %s still %s %q after %s", id, j.State, aws.ToString(j.StatusMessage), within)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitCompleted waits for the job to end and checks it COMPLETED with one
// recovery point; it returns the job's status message.
func (c *cluster) waitCompleted(a *scenario.Account, s backupSetup, id string, within time.Duration) string {
	c.t.Helper()
	ctx := context.Background()
	j := c.waitEnded(a, id, within)
	msg := aws.ToString(j.StatusMessage)
	if j.State != backuptypes.BackupJobStateCompleted {
		c.t.Fatalf("backup job %s ended %s %q; want COMPLETED", id, j.State, msg)
	}
	var rps int
	c.check(c.db.QueryRow(`SELECT COUNT(*) FROM backup_recovery_points WHERE created_by_job_id = $1`, id).Scan(&rps))
	if rps != 1 {
		c.t.Errorf("backup job %s made %d recovery points; want 1", id, rps)
	}
	rp := aws.ToString(j.RecoveryPointArn)
	got, err := a.Backup.DescribeRecoveryPoint(ctx, &backup.DescribeRecoveryPointInput{BackupVaultName: aws.String(s.vault), RecoveryPointArn: aws.String(rp)})
	c.check(err)
	if got.Status != backuptypes.RecoveryPointStatusCompleted {
		c.t.Errorf("recovery point %s is %s", rp, got.Status)
	}
	return msg
}

// verify checks the vaults with coffer vault verify (reading every pack)
// and that no committed manifest is left without its recovery point.
func (c *cluster) verify() {
	c.t.Helper()
	out, err := exec.Command(binary(c.t), append([]string{"vault", "verify", "--data", "100"}, c.env.StoreArgs()...)...).CombinedOutput()
	if err != nil {
		c.t.Fatalf("coffer vault verify: %v\n%s", err, out)
	}
	var orphans int
	c.check(c.db.QueryRow(`SELECT COUNT(*) FROM vs_manifests m WHERE m.state = 'committed'
		AND NOT EXISTS (SELECT 1 FROM backup_recovery_points r WHERE r.manifest_id = m.manifest_id)`).Scan(&orphans))
	if orphans != 0 {
		c.t.Errorf("%d committed manifests belong to no recovery point", orphans)
	}
	// What failed or fenced-out attempts wrote went with them, without
	// waiting for GC's grace.
	var packs, bytes int64
	c.check(c.db.QueryRow(`SELECT COUNT(*), COALESCE(SUM(size), 0) FROM vs_packs p
		WHERE NOT EXISTS (SELECT 1 FROM vs_manifests m WHERE m.manifest_id = p.owner AND m.state = 'committed')`).Scan(&packs, &bytes))
	if packs != 0 {
		c.t.Errorf("%d packs (%d bytes) of attempts that did not commit are left", packs, bytes)
	}
}

// TestNodeLoss: the node running a backup is killed (SIGKILL); the other
// node takes the job over through River's rescue of its expired lease and
// completes it, with one recovery point, the retry in its status message,
// and vaults that verify.
func TestNodeLoss(t *testing.T) {
	c := newCluster(t, nil)
	a, _, s, id := c.runningBackup(2)
	// The job runs on a, the only node; b joins, then a dies.
	b := c.node()
	a.Cmd.Process.Signal(syscall.SIGKILL)
	a.Cmd.Wait()
	c.waitTakenOver(c.account(b, "111222333444", "source"), s, id, time.Minute)
	c.checkNodes(a, b)
	// The surviving node collects garbage itself, on the leader's
	// schedule, once it has become the leader (a's leadership expires).
	for deadline := time.Now().Add(time.Minute); !strings.Contains(b.stderr.String(), "vault garbage collected"); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Errorf("the surviving node never collected garbage (jobs.gcInterval 2s):\n%s", tail(b.stderr.String(), 2000))
			break
		}
	}
	b.stop(t)
	c.verify()
}

// TestNodeRemoved: the node running a backup is stopped (SIGTERM) while
// another runs: the job either finishes within the shutdown grace or is
// taken over, and completes either way; it is never failed for the stop.
func TestNodeRemoved(t *testing.T) {
	c := newCluster(t, nil)
	a, _, s, id := c.runningBackup(6)
	b := c.node()
	a.stop(t)
	t.Logf("job after its node stopped: %s", c.waitCompleted(c.account(b, "111222333444", "source"), s, id, 2*time.Minute))
	b.stop(t)
	c.verify()
}

// checkNodes checks coffer status --nodes and /_coffer/metrics after dead
// was killed: live is UP and River's leader, dead is LOST.
func (c *cluster) checkNodes(dead, live *process) {
	c.t.Helper()
	out, err := exec.Command(binary(c.t), "status", "--nodes", "--data-dir", c.dataDir, "--database", c.dsn).CombinedOutput()
	if err != nil {
		c.t.Fatalf("coffer status --nodes: %v\n%s", err, out)
	}
	port := func(p *process) string { return p.URL[strings.LastIndex(p.URL, ":"):] }
	var deadLine, liveLine string
	for _, l := range strings.Split(string(out), "\n") {
		switch {
		case strings.Contains(l, port(dead)+" "):
			deadLine = l
		case strings.Contains(l, port(live)+" "):
			liveLine = l
		}
	}
	if !strings.Contains(deadLine, "LOST") || !strings.Contains(liveLine, "UP") || !strings.Contains(liveLine, "leader") {
		c.t.Errorf("coffer status --nodes after a node was killed: want the dead node LOST and the live one UP and leader:\n%s", out)
	}
	if !strings.Contains(string(out), "queue: ") || !strings.Contains(string(out), "completed ") {
		c.t.Errorf("coffer status --nodes shows no queue depth:\n%s", out)
	}
	resp, err := http.Get(live.URL + "/_coffer/metrics")
	c.check(err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"coffer_node_heartbeat_timestamp_seconds{", "coffer_node_leader{", `coffer_jobs_queue{state="completed"}`, "coffer_node_running_jobs{"} {
		if !strings.Contains(string(body), want) {
			c.t.Errorf("/_coffer/metrics has no %s", want)
		}
	}
}

// TestNodePause: the node running a backup is paused (SIGSTOP) past its
// lease, the other node takes the job over, then the first resumes
// (SIGCONT): its attempt, fenced out, stops without writing anything, and
// the job completes once, on the other node.
func TestNodePause(t *testing.T) {
	c := newCluster(t, nil)
	a, _, s, id := c.runningBackup(3)
	b := c.node()
	a.Cmd.Process.Signal(syscall.SIGSTOP)
	srcB := c.account(b, "111222333444", "source")
	ctx := context.Background()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		j, err := srcB.Backup.DescribeBackupJob(ctx, &backup.DescribeBackupJobInput{BackupJobId: aws.String(id)})
		c.check(err)
		if strings.Contains(aws.ToString(j.StatusMessage), "attempt 2") || j.State != backuptypes.BackupJobStateRunning {
			break
		}
		if time.Now().After(deadline) {
			a.Cmd.Process.Signal(syscall.SIGCONT)
			t.Fatalf("backup job %s was not taken over while its node was paused", id)
		}
	}
	a.Cmd.Process.Signal(syscall.SIGCONT)
	c.waitTakenOver(srcB, s, id, 2*time.Minute)
	a.stop(t)
	b.stop(t)
	if !strings.Contains(a.stderr.String(), "job lost its lease") && !strings.Contains(a.stderr.String(), "lost") {
		t.Logf("the paused node's log does not mention the lost lease (its attempt may have been between writes):\n%s", tail(a.stderr.String(), 2000))
	}
	c.verify()
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// TestDatabaseOutage: the metadata PostgreSQL stops while a backup runs.
// Meanwhile API calls answer 503 ServiceUnavailable (which the SDKs
// retry), not 500 InternalFailure, and /_coffer/health reports the store
// down; once PostgreSQL is back the node reconnects by itself and the job
// completes, once.
func TestDatabaseOutage(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t, nil)
	a, src, s, id := c.runningBackup(4)
	c.pg.Stop(t)
	_, err := src.Backup.ListBackupVaults(ctx, &backup.ListBackupVaultsInput{}, func(o *backup.Options) { o.RetryMaxAttempts = 1 })
	var re *awshttp.ResponseError
	var ae smithy.APIError
	if !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusServiceUnavailable || !errors.As(err, &ae) || ae.ErrorCode() != "ServiceUnavailable" {
		t.Errorf("ListBackupVaults while PostgreSQL is down: %v; want 503 ServiceUnavailable", err)
	}
	resp, err := http.Get(a.URL + "/_coffer/health")
	c.check(err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), `"store":"down"`) {
		t.Errorf("health while PostgreSQL is down: %d %s; want 503 with the store down", resp.StatusCode, body)
	}
	// Longer than the job's lease.
	time.Sleep(5 * time.Second)
	c.pg.Start(t)
	testenv.WaitHealthy(t, http.DefaultClient, a.URL)
	t.Logf("job after the outage: %s", c.waitCompleted(src, s, id, 2*time.Minute))
	a.stop(t)
	c.verify()
}

// TestDatabaseOutageCopy: the metadata PostgreSQL stops, for longer
// than the job lease, while a copy job runs; once it is back the copy is
// run again and COMPLETES, with one destination recovery point (not
// FAILED for a recovery point "already existing", its own earlier
// attempt's), and the vaults verify.
func TestDatabaseOutageCopy(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t, nil)
	a := c.node()
	src := c.account(a, "111222333444", "source")
	s := c.setup(src)
	c.check(os.Remove(s.dbPath))
	fillRandom(t, s.dbPath, 150<<20, 11)
	first, err := src.BackupJob(ctx, s.vault, s.dbARN, s.role)
	c.check(err)
	if first.State != backuptypes.BackupJobStateCompleted {
		t.Fatalf("backup: %s %s", first.State, aws.ToString(first.StatusMessage))
	}
	dst, err := src.Vault(ctx, "copy-vault", s.key)
	c.check(err)
	out, err := src.Backup.StartCopyJob(ctx, &backup.StartCopyJobInput{RecoveryPointArn: first.RecoveryPointArn, SourceBackupVaultName: aws.String(s.vault),
		DestinationBackupVaultArn: aws.String(dst), IamRoleArn: aws.String(s.role)})
	c.check(err)
	id := aws.ToString(out.CopyJobId)
	copyJob := func() *backuptypes.CopyJob {
		j, err := src.Backup.DescribeCopyJob(ctx, &backup.DescribeCopyJobInput{CopyJobId: aws.String(id)})
		c.check(err)
		return j.CopyJob
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		j := copyJob()
		if j.State == backuptypes.CopyJobStateRunning {
			break
		}
		if j.State != backuptypes.CopyJobStateCreated || time.Now().After(deadline) {
			t.Fatalf("copy job %s %s %q before the outage", id, j.State, aws.ToString(j.StatusMessage))
		}
	}
	c.pg.Stop(t)
	// Longer than the job's lease.
	time.Sleep(5 * time.Second)
	c.pg.Start(t)
	testenv.WaitHealthy(t, http.DefaultClient, a.URL)
	var j *backuptypes.CopyJob
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		if j = copyJob(); j.State != backuptypes.CopyJobStateCreated && j.State != backuptypes.CopyJobStateRunning {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("copy job %s still %s %q after the outage", id, j.State, aws.ToString(j.StatusMessage))
		}
	}
	if j.State != backuptypes.CopyJobStateCompleted {
		t.Fatalf("copy job after the outage: %s %q; want COMPLETED", j.State, aws.ToString(j.StatusMessage))
	}
	t.Logf("copy job after the outage: %s", aws.ToString(j.StatusMessage))
	var rps int
	c.check(c.db.QueryRow(`SELECT COUNT(*) FROM backup_recovery_points WHERE created_by_job_id = $1 AND status = 'COMPLETED'`, id).Scan(&rps))
	if rps != 1 {
		t.Errorf("copy job %s made %d recovery points; want 1", id, rps)
	}
	a.stop(t)
	c.verify()
}

// TestStorageOutage: the S3 store (MinIO) stops while a backup writes to
// it and comes back 20 s later: the job waits, retrying with backoff, and
// completes on its first attempt with data that verifies.
func TestStorageOutage(t *testing.T) {
	m := testenv.StartMinIO(t)
	c := newCluster(t, &m)
	a := c.node()
	src := c.account(a, "111222333444", "source")
	s := c.setup(src)
	// A first backup opens the region's bucket (a node checks it on first
	// use); the outage hits a node that has been working.
	first, err := src.BackupJob(context.Background(), s.vault, s.dbARN, s.role)
	c.check(err)
	if first.State != backuptypes.BackupJobStateCompleted {
		t.Fatalf("first backup: %s %s", first.State, aws.ToString(first.StatusMessage))
	}
	id := c.startRunning(src, s, 5)
	m.Stop()
	time.Sleep(20 * time.Second)
	c.check(m.Restart())
	t.Cleanup(m.Stop)
	msg := c.waitCompleted(src, s, id, 3*time.Minute)
	if strings.Contains(msg, "attempt") {
		t.Errorf("backup job %s was run again (%q); want it to wait out the outage", id, msg)
	}
	a.stop(t)
	c.verify()
}

// TestMissingBucket: coffer serve refuses to start on a bucket that does
// not exist, saying so and how to fix it; with create_bucket it creates
// the bucket and backs up into it.
func TestMissingBucket(t *testing.T) {
	c := newCluster(t, nil)
	m := testenv.StartMinIO(t)
	c.check(c.env.UseConfig(clusterenv.S3Config(m, "coffer-absent", false)))
	out, err := exec.Command(binary(t), append([]string{"serve", "--listen", "127.0.0.1:0", "--bootstrap", c.env.BootstrapFile()}, c.env.StoreArgs()...)...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "bucket coffer-absent does not exist") || !strings.Contains(string(out), "create_bucket: true") {
		t.Fatalf("coffer serve on a missing bucket: %v; want it refused with a message naming the bucket and create_bucket:\n%s", err, tail(string(out), 2000))
	}
	c.check(c.env.UseConfig(clusterenv.S3Config(m, "coffer-absent", true)))
	a := c.node()
	src := c.account(a, "111222333444", "source")
	s := c.setup(src)
	fillRandom(t, s.dbPath, 1<<20, 7)
	j, err := src.BackupJob(context.Background(), s.vault, s.dbARN, s.role)
	c.check(err)
	if j.State != backuptypes.BackupJobStateCompleted {
		t.Fatalf("backup into the created bucket: %s %s", j.State, aws.ToString(j.StatusMessage))
	}
	a.stop(t)
	c.verify()
}

// mountTmpfs mounts a tmpfs of size at dir until the test ends.
func mountTmpfs(t *testing.T, dir, size string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		testenv.Missing(t, "mount a tmpfs at %s (needs root): %v %s", dir, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
}

// storeFiles lists the files under dir with their sizes.
func storeFiles(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	files := map[string]int64{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		files[strings.TrimPrefix(p, dir)] = fi.Size()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestStorageFull: the directory store of a region (a 64 MiB tmpfs)
// fills up during a backup: the job fails saying the storage is full,
// and every file it wrote is gone at once, without coffer vault gc, so
// the next backup has the room again.
func TestStorageFull(t *testing.T) {
	c := newCluster(t, nil)
	dir := filepath.Join(t.TempDir(), "store")
	mountTmpfs(t, dir, "64m")
	c.check(c.env.UseConfig(fmt.Sprintf("storage:\n  regions:\n    us-east-1: {type: dir, dir: %q}\n", dir)))
	a := c.node()
	src := c.account(a, "111222333444", "source")
	s := c.setup(src)
	ctx := context.Background()
	small := func(seed int64) {
		t.Helper()
		c.check(os.Remove(s.dbPath))
		fillRandom(t, s.dbPath, 4<<20, seed)
		j, err := src.BackupJob(ctx, s.vault, s.dbARN, s.role)
		c.check(err)
		if j.State != backuptypes.BackupJobStateCompleted {
			t.Fatalf("small backup: %s %s", j.State, aws.ToString(j.StatusMessage))
		}
	}
	small(8)
	before := storeFiles(t, dir)
	// 150 MB of new data into 64 MiB.
	id := c.startRunning(src, s, 9)
	j := c.waitEnded(src, id, 3*time.Minute)
	msg := aws.ToString(j.StatusMessage)
	if j.State != backuptypes.BackupJobStateFailed || !strings.Contains(msg, "storage is full") || !strings.Contains(msg, "no space left") {
		t.Fatalf("backup onto a full disk: %s %q; want FAILED saying the storage is full", j.State, msg)
	}
	var rps int
	c.check(c.db.QueryRow(`SELECT COUNT(*) FROM backup_recovery_points WHERE created_by_job_id = $1`, id).Scan(&rps))
	if rps != 0 {
		t.Errorf("the failed backup left %d recovery points", rps)
	}
	after := storeFiles(t, dir)
	for f, size := range after {
		if _, ok := before[f]; !ok {
			t.Errorf("the failed backup left %s (%d bytes)", f, size)
		}
	}
	// The room is back: another backup fits.
	small(10)
	a.stop(t)
	c.verify()
}

// TestHolderNodeStopped: a backup of a DB instance whose server node-a
// holds is started while node-a is stopped: node-b does not fail it but
// leaves it PENDING, saying it waits for node-a; node-a comes back and
// runs it to COMPLETED.
func TestHolderNodeStopped(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t, nil)
	a := c.node("COFFER_NODE_ID=node-a")
	src := c.account(a, "111222333444", "source")
	key, err := src.CreateKey(ctx, "source-cmk", scenario.KeyPolicy("111222333444"))
	c.check(err)
	// A server of its own on node-a; no automated backups, so the only
	// data in the vaults is the job's.
	_, err = src.RDS.CreateDBInstance(ctx, &rds.CreateDBInstanceInput{DBInstanceIdentifier: aws.String("placed"), Engine: aws.String("postgres"),
		DBInstanceClass: aws.String("db.t3.micro"), AllocatedStorage: aws.Int32(20), StorageEncrypted: aws.Bool(true), KmsKeyId: aws.String(key),
		DBName: aws.String("app"), MasterUsername: aws.String("app"), MasterUserPassword: aws.String("app-secret-1"), BackupRetentionPeriod: aws.Int32(0)})
	c.check(err)
	db, err := src.WaitDB(ctx, "placed")
	c.check(err)
	role, err := src.BackupRole(ctx, "backup-role")
	c.check(err)
	_, err = src.Vault(ctx, "source-vault", key)
	c.check(err)
	b := c.node("COFFER_NODE_ID=node-b")
	a.stop(t)
	srcB := c.account(b, "111222333444", "source")
	out, err := srcB.Backup.StartBackupJob(ctx, &backup.StartBackupJobInput{BackupVaultName: aws.String("source-vault"), ResourceArn: aws.String(db.ARN), IamRoleArn: aws.String(role)})
	c.check(err)
	id := aws.ToString(out.BackupJobId)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		j, err := srcB.Backup.DescribeBackupJob(ctx, &backup.DescribeBackupJobInput{BackupJobId: aws.String(id)})
		c.check(err)
		msg := aws.ToString(j.StatusMessage)
		if j.State == backuptypes.BackupJobStatePending && strings.Contains(msg, "waiting for coffer node node-a") {
			t.Logf("while node-a is stopped: %s %s", j.State, msg)
			break
		}
		if (j.State != backuptypes.BackupJobStateCreated && j.State != backuptypes.BackupJobStatePending) || time.Now().After(deadline) {
			t.Fatalf("backup job %s of an instance on the stopped node-a: %s %q; want PENDING, waiting for node-a", id, j.State, msg)
		}
	}
	a = c.node("COFFER_NODE_ID=node-a")
	c.waitCompleted(srcB, backupSetup{vault: "source-vault"}, id, 3*time.Minute)
	a.stop(t)
	b.stop(t)
	c.verify()
}
