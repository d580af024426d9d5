package e2e

import (
	"context"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	backuptypes "github.com/aws/aws-sdk-go-v2/service/backup/types"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	rdstypes "github.com/aws/aws-sdk-go-v2/service/rds/types"

	"github.com/coffer-dev/coffer/internal/testenv"
)

// TestSchedulerAcrossDatabaseRestart: two nodes share one PostgreSQL
// that stops at the start of some hourly windows: both nodes' ticks
// during the outage fail, and once it is back (the nodes reconnect by
// themselves) a tick within the window runs it. Every window runs
// exactly once: none skipped, none doubled.
func TestSchedulerAcrossDatabaseRestart(t *testing.T) {
	ctx := context.Background()
	w := newHourlyNodes(t)
	a, b, src, clock, start, pg := w.a, w.b, w.src, w.clock, w.start, w.pg
	tick := func(hour int, outage bool) {
		var wg sync.WaitGroup
		for _, n := range []*node{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := n.app.Plans().Tick(ctx)
				if !outage && (err != nil || len(res.Errors) > 0) {
					t.Errorf("hour %d: tick: %v %v", hour, err, res.Errors)
				}
				if outage {
					t.Logf("hour %d: tick during the outage: %+v %v", hour, res, err)
				}
			}()
		}
		wg.Wait()
	}
	const hours = 6
	for hour := 1; hour <= hours; hour++ {
		clock.Set(start.Add(time.Duration(hour) * time.Hour))
		if hour%2 == 1 {
			pg.Stop(t)
			tick(hour, true)
			pg.Start(t)
			for _, n := range []*node{a, b} {
				testenv.WaitHealthy(t, http.DefaultClient, n.c.URL)
			}
			// Later in the same window.
			clock.Set(start.Add(time.Duration(hour)*time.Hour + 20*time.Minute))
		}
		tick(hour, false)
		waitJobs(t, src, hour, 0)
	}

	checkEachWindowOnce(t, src, start, hours)
}

// hourlyNodes are two nodes on one PostgreSQL and a fake clock, with an
// hourly plan backing up a tagged instance of the source account.
type hourlyNodes struct {
	pg    *testenv.PostgresServer
	clock *fakeClock
	start time.Time
	a, b  *node
	src   *account
}

func newHourlyNodes(t *testing.T) *hourlyNodes {
	t.Helper()
	ctx := context.Background()
	pg := testenv.StartPostgres(t)
	dsn := pg.CreateDatabase(t, "coffer")
	w := &hourlyNodes{pg: pg, start: time.Now().UTC().Truncate(time.Hour).Add(time.Minute)}
	w.clock = &fakeClock{t: w.start}
	cfg := clockedConfig(t, filepath.Join(t.TempDir(), "data"), dsn)
	w.a = startNode(t, cfg, w.clock)
	w.b = startNode(t, cfg, w.clock)
	src := w.a.clients(t, source, "source", "")
	key := src.createKey(t, "source-cmk", sharedKeyPolicy(source))
	dbARN := src.createDB(t, "orders-db", "alias/source-cmk", 100)
	must[*rds.AddTagsToResourceOutput](t)(src.RDS.AddTagsToResource(ctx, &rds.AddTagsToResourceInput{ResourceName: aws.String(dbARN), Tags: []rdstypes.Tag{{Key: aws.String("backup"), Value: aws.String("hourly")}}}))
	role := src.backupRole(t, "backup-role")
	src.vault(t, "source-vault", key)
	hourlyPlan(t, src, "", role, dbARN)
	w.src = src
	return w
}

// checkEachWindowOnce checks that each of the hourly windows after start
// made one COMPLETED backup job and one recovery point.
func checkEachWindowOnce(t *testing.T, src *account, start time.Time, hours int) {
	t.Helper()
	jobs := allBackupJobs(t, src)
	windows := map[time.Time]int{}
	for _, j := range jobs {
		if j.State != backuptypes.BackupJobStateCompleted {
			t.Errorf("backup job %s %s: %s", aws.ToString(j.BackupJobId), j.State, aws.ToString(j.StatusMessage))
		}
		windows[aws.ToTime(j.CreationDate).Truncate(time.Hour)]++
	}
	for hour := 1; hour <= hours; hour++ {
		if w := start.Add(time.Duration(hour) * time.Hour).Truncate(time.Hour); windows[w] != 1 {
			t.Errorf("window %s ran %d times", w, windows[w])
		}
	}
	if len(jobs) != hours {
		t.Errorf("%d backup jobs for %d windows", len(jobs), hours)
	}
	if rps := allRecoveryPoints(t, src, "source-vault"); len(rps) != hours {
		t.Errorf("%d recovery points for %d windows", len(rps), hours)
	}
}
