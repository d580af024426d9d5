package e2e

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	backuptypes "github.com/aws/aws-sdk-go-v2/service/backup/types"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	rdstypes "github.com/aws/aws-sdk-go-v2/service/rds/types"
)

// TestMissedWindowsExpire: when no node ran for five hours, the next tick
// records the four windows whose start window closed as EXPIRED jobs and
// runs the fifth: no window is silently lost, none runs late.
func TestMissedWindowsExpire(t *testing.T) {
	ctx := context.Background()
	start := time.Now().UTC().Truncate(time.Hour).Add(time.Minute)
	clock := &fakeClock{t: start}
	n := startNode(t, clockedConfig(t, filepath.Join(t.TempDir(), "data"), ""), clock)
	src := n.clients(t, source, "source", "")
	key := src.createKey(t, "source-cmk", sharedKeyPolicy(source))
	dbARN := src.createDB(t, "orders-db", "alias/source-cmk", 10)
	must[*rds.AddTagsToResourceOutput](t)(src.RDS.AddTagsToResource(ctx, &rds.AddTagsToResourceInput{ResourceName: aws.String(dbARN), Tags: []rdstypes.Tag{{Key: aws.String("backup"), Value: aws.String("hourly")}}}))
	role := src.backupRole(t, "backup-role")
	src.vault(t, "source-vault", key)
	hourlyPlan(t, src, "", role, dbARN)

	clock.Set(start.Add(5 * time.Hour))
	res, err := n.app.Plans().Tick(ctx)
	if err != nil || len(res.Errors) > 0 || res.Windows != 5 || res.Expired != 4 || res.Started != 1 {
		t.Fatalf("tick after 5 hours: %+v %v", res, err)
	}
	waitJobs(t, src, 5, 0)
	states := map[backuptypes.BackupJobState]int{}
	for _, j := range allBackupJobs(t, src) {
		states[j.State]++
	}
	if states[backuptypes.BackupJobStateExpired] != 4 || states[backuptypes.BackupJobStateCompleted] != 1 || len(states) != 2 {
		t.Fatalf("job states %v, want 4 EXPIRED and 1 COMPLETED", states)
	}
	if res, _ := n.app.Plans().Tick(ctx); res.Windows != 0 {
		t.Fatalf("second tick at the same time handed over %d windows", res.Windows)
	}
}
