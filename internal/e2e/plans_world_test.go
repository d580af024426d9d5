package e2e

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/backup"
	backuptypes "github.com/aws/aws-sdk-go-v2/service/backup/types"

	"github.com/coffer-dev/coffer/internal/app"
	"github.com/coffer-dev/coffer/internal/config"
	"github.com/coffer-dev/coffer/internal/scenario"
	"github.com/coffer-dev/coffer/internal/testenv"
)

// fakeClock is the backup domain's and the scheduler's clock in the plan
// tests: they advance it an hour at a time.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *fakeClock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// node is a coffer server on a fake clock, stoppable mid-test.
type node struct {
	app  *app.App
	c    *testenv.Coffer
	stop func()
}

// clockedConfig is the configuration of plan-test nodes: the seed's
// accounts from the bootstrap file, in dataDir, on database ("" for
// SQLite in dataDir).
func clockedConfig(t *testing.T, dataDir, database string) config.Config {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bootstrap.yaml")
	if err := os.WriteFile(path, []byte(bootstrapYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = dataDir
	cfg.Database = database
	cfg.Bootstrap = path
	cfg.Log.Level = "warn"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// startNode runs a server with the given clock until stop or the end of
// the test.
func startNode(t *testing.T, cfg config.Config, clock *fakeClock) *node {
	t.Helper()
	return serveNode(t, openNode(t, cfg, clock), cfg)
}

// openNode opens a server with the given clock without serving it: its
// job queue does not run yet.
func openNode(t *testing.T, cfg config.Config, clock *fakeClock) *app.App {
	t.Helper()
	var logw io.Writer = io.Discard
	if os.Getenv("COFFER_TEST_LOG") != "" {
		logw = os.Stderr
	}
	a, err := app.OpenWithClock(context.Background(), cfg, app.NewLogger(cfg.Log, logw).With("test", t.Name()), clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// serveNode serves an opened server until stop or the end of the test.
func serveNode(t *testing.T, a *app.App, cfg config.Config) *node {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ln, err := a.Listen()
	if err != nil {
		cancel()
		a.Close()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("coffer shutdown: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	c := &testenv.Coffer{App: a, URL: "http://" + ln.Addr().String(), Config: cfg, CredentialsFile: a.CredentialsFile, ConfigFile: a.ConfigFile}
	return &node{app: a, c: c, stop: stop}
}

// clients returns an account's SDK clients on the node, in region ("" for
// the default one).
func (n *node) clients(t *testing.T, id, profile, region string) *account {
	cfg := n.c.AWSConfig(t, n.c.Profile(t, profile))
	if region != "" {
		cfg.Region = region
	}
	return &account{Account: scenario.NewAccount(id, cfg), id: id, t: t}
}

// allJobs lists an account's backup (or copy) jobs in its clients'
// region.
func allBackupJobs(t *testing.T, a *account) []backuptypes.BackupJob {
	t.Helper()
	var out []backuptypes.BackupJob
	p := backup.NewListBackupJobsPaginator(a.Backup, &backup.ListBackupJobsInput{})
	for p.HasMorePages() {
		page := must[*backup.ListBackupJobsOutput](t)(p.NextPage(context.Background()))
		out = append(out, page.BackupJobs...)
	}
	return out
}

func allCopyJobs(t *testing.T, a *account) []backuptypes.CopyJob {
	t.Helper()
	var out []backuptypes.CopyJob
	p := backup.NewListCopyJobsPaginator(a.Backup, &backup.ListCopyJobsInput{})
	for p.HasMorePages() {
		page := must[*backup.ListCopyJobsOutput](t)(p.NextPage(context.Background()))
		out = append(out, page.CopyJobs...)
	}
	return out
}

func allRecoveryPoints(t *testing.T, a *account, vault string) []backuptypes.RecoveryPointByBackupVault {
	t.Helper()
	var out []backuptypes.RecoveryPointByBackupVault
	p := backup.NewListRecoveryPointsByBackupVaultPaginator(a.Backup, &backup.ListRecoveryPointsByBackupVaultInput{BackupVaultName: aws.String(vault)})
	for p.HasMorePages() {
		page := must[*backup.ListRecoveryPointsByBackupVaultOutput](t)(p.NextPage(context.Background()))
		out = append(out, page.RecoveryPoints...)
	}
	return out
}

// waitJobs waits until the account has wantBackups finished backup jobs
// and wantCopies finished copy jobs, and none still running: the clock
// must not move while a job runs (its heartbeat would look stale).
func waitJobs(t *testing.T, a *account, wantBackups, wantCopies int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		bj, cj := allBackupJobs(t, a), allCopyJobs(t, a)
		done, running := 0, 0
		for _, j := range bj {
			switch j.State {
			case backuptypes.BackupJobStateCompleted, backuptypes.BackupJobStateFailed, backuptypes.BackupJobStateExpired, backuptypes.BackupJobStateAborted:
				done++
			default:
				running++
			}
		}
		cdone := 0
		for _, j := range cj {
			switch j.State {
			case backuptypes.CopyJobStateCompleted, backuptypes.CopyJobStateFailed:
				cdone++
			default:
				running++
			}
		}
		if done >= wantBackups && cdone >= wantCopies && running == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("jobs did not finish: %d/%d backups, %d/%d copies, %d running", done, wantBackups, cdone, wantCopies, running)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
