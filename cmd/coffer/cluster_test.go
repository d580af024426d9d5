package main

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/backup"
	backuptypes "github.com/aws/aws-sdk-go-v2/service/backup/types"
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

func (c *cluster) node() *process {
	c.t.Helper()
	p := &process{stderr: &syncBuffer{}}
	n, err := c.env.StartNode(context.Background(), p.stderr)
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
type backupSetup struct{ vault, role, dbARN, dbPath string }

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
	return backupSetup{vault: "source-vault", role: role, dbARN: db.ARN, dbPath: db.Address}
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

// waitCompleted waits for the job to end and checks it COMPLETED with one
// recovery point; it returns the job's status message.
func (c *cluster) waitCompleted(a *scenario.Account, s backupSetup, id string, within time.Duration) string {
	c.t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(within)
	var j *backup.DescribeBackupJobOutput
	for {
		var err error
		j, err = a.Backup.DescribeBackupJob(ctx, &backup.DescribeBackupJobInput{BackupJobId: aws.String(id)})
		c.check(err)
		if j.State != backuptypes.BackupJobStateCreated && j.State != backuptypes.BackupJobStatePending && j.State != backuptypes.BackupJobStateRunning {
			break
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("backup job %s still %s %q %s after its node was lost", id, j.State, aws.ToString(j.StatusMessage), within)
		}
		time.Sleep(200 * time.Millisecond)
	}
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
	b.stop(t)
	// The surviving node collects garbage itself, on the leader's schedule.
	if !strings.Contains(b.stderr.String(), "vault garbage collected") {
		t.Errorf("the surviving node never collected garbage (jobs.gcInterval 2s):\n%s", tail(b.stderr.String(), 2000))
	}
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
