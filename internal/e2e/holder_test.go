package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/backup"
	backuptypes "github.com/aws/aws-sdk-go-v2/service/backup/types"

	"github.com/coffer-dev/coffer/internal/scenario"
	"github.com/coffer-dev/coffer/internal/testenv"
)

// TestHolderWindowEnds: a backup of a DB instance whose server node-a
// holds waits, PENDING, while node-a is away; when the job's completion
// window ends (the clock moved past it) it fails with a message naming
// node-a and the window, and no recovery point is left.
func TestHolderWindowEnds(t *testing.T) {
	ctx := context.Background()
	pg := testenv.StartPostgres(t)
	dsn := pg.CreateDatabase(t, "coffer")
	start := time.Now().UTC()
	clock := &fakeClock{t: start}
	dataDir := filepath.Join(t.TempDir(), "data")
	cfgA, cfgB := clockedConfig(t, dataDir, dsn), clockedConfig(t, dataDir, dsn)
	cfgA.Jobs.NodeID, cfgB.Jobs.NodeID = "node-a", "node-b"
	cfgA.Jobs.StaleAfter, cfgB.Jobs.StaleAfter = 3*time.Second, 3*time.Second
	a := startNode(t, cfgA, clock)

	src := a.clients(t, source, "source", "")
	key := src.createKey(t, "source-cmk", sharedKeyPolicy(source))
	db := must[*scenario.DB](t)(src.CreateDB(ctx, scenario.DBSpec{ID: "placed", Engine: "postgres", KeyID: key, DBName: "app", User: "app", Password: "app-secret-1"}))
	role := src.backupRole(t, "backup-role")
	src.vault(t, "source-vault", key)
	b := startNode(t, cfgB, clock)
	a.stop()
	src = b.clients(t, source, "source", "")

	out := must[*backup.StartBackupJobOutput](t)(src.Backup.StartBackupJob(ctx, &backup.StartBackupJobInput{BackupVaultName: aws.String("source-vault"),
		ResourceArn: aws.String(db.ARN), IamRoleArn: aws.String(role), StartWindowMinutes: aws.Int64(60), CompleteWindowMinutes: aws.Int64(120)}))
	id := aws.ToString(out.BackupJobId)
	describe := func() *backup.DescribeBackupJobOutput {
		return must[*backup.DescribeBackupJobOutput](t)(src.Backup.DescribeBackupJob(ctx, &backup.DescribeBackupJobInput{BackupJobId: aws.String(id)}))
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		j := describe()
		if j.State == backuptypes.BackupJobStatePending && strings.Contains(aws.ToString(j.StatusMessage), "node-a") {
			break
		}
		if (j.State != backuptypes.BackupJobStateCreated && j.State != backuptypes.BackupJobStatePending) || time.Now().After(deadline) {
			t.Fatalf("backup job %s of an instance on the stopped node-a: %s %q; want PENDING, waiting for node-a", id, j.State, aws.ToString(j.StatusMessage))
		}
	}
	// The completion window ends with node-a still away.
	clock.Set(start.Add(121 * time.Minute))
	var j *backup.DescribeBackupJobOutput
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		if j = describe(); j.State != backuptypes.BackupJobStatePending && j.State != backuptypes.BackupJobStateCreated {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("backup job %s still %s %q after its completion window", id, j.State, aws.ToString(j.StatusMessage))
		}
	}
	msg := aws.ToString(j.StatusMessage)
	if j.State != backuptypes.BackupJobStateFailed || !strings.Contains(msg, "node-a") || !strings.Contains(msg, "completion window") {
		t.Errorf("backup job %s after its completion window: %s %q; want FAILED naming node-a and the window", id, j.State, msg)
	}
	if rps := allRecoveryPoints(t, src, "source-vault"); len(rps) != 0 {
		t.Errorf("%d recovery points after the failed job", len(rps))
	}
}
