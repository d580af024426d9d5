package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/backup"
	backuptypes "github.com/aws/aws-sdk-go-v2/service/backup/types"

	"github.com/coffer-dev/coffer/internal/scenario"
)

// One account's burst of backups runs at most two at a time, so it
// cannot take every worker.
func TestJobsPerAccount(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, nil)
	key := w.src.createKey(t, "source-cmk", sharedKeyPolicy(source))
	role := w.src.backupRole(t, "backup-role")
	w.src.vault(t, "source-vault", key)
	var ids []*string
	for i := 0; i < 4; i++ {
		db := must[*scenario.DB](t)(w.src.CreateDB(ctx, scenario.DBSpec{ID: fmt.Sprintf("db-%d", i), Engine: "sqlite", KeyID: key}))
		fillBlobs(t, db, 16, int64(i))
		out := must[*backup.StartBackupJobOutput](t)(w.src.Backup.StartBackupJob(ctx, &backup.StartBackupJobInput{BackupVaultName: aws.String("source-vault"), ResourceArn: aws.String(db.ARN), IamRoleArn: aws.String(role)}))
		ids = append(ids, out.BackupJobId)
	}
	most := 0
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		running, done := 0, 0
		for _, id := range ids {
			j := must[*backup.DescribeBackupJobOutput](t)(w.src.Backup.DescribeBackupJob(ctx, &backup.DescribeBackupJobInput{BackupJobId: id}))
			switch j.State {
			case backuptypes.BackupJobStateRunning:
				running++
			case backuptypes.BackupJobStateCompleted:
				done++
			case backuptypes.BackupJobStateFailed:
				t.Fatalf("job failed: %s", aws.ToString(j.StatusMessage))
			}
		}
		most = max(most, running)
		if done == len(ids) {
			if most > 2 {
				t.Fatalf("%d jobs of one account ran at once; the limit is 2", most)
			}
			return
		}
	}
	t.Fatal("the jobs did not finish")
}

// fillBlobs adds mib MiB of incompressible rows to an SQLite instance, so
// its backup lasts long enough to watch or stop.
func fillBlobs(t *testing.T, db *scenario.DB, mib int, seed int64) {
	t.Helper()
	conn := must[*sql.DB](t)(db.Open())
	defer conn.Close()
	if _, err := conn.Exec(`CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB)`); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(seed))
	buf := make([]byte, 8192)
	tx := must[*sql.Tx](t)(conn.Begin())
	for r := 0; r < mib*128; r++ {
		rng.Read(buf)
		if _, err := tx.Exec(`INSERT INTO blobs (data) VALUES (?)`, buf); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// StopBackupJob ends a running backup ABORTED and leaves no recovery
// point behind.
func TestStopBackupJob(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, nil)
	key := w.src.createKey(t, "source-cmk", sharedKeyPolicy(source))
	role := w.src.backupRole(t, "backup-role")
	w.src.vault(t, "source-vault", key)
	db := must[*scenario.DB](t)(w.src.CreateDB(ctx, scenario.DBSpec{ID: "big", Engine: "sqlite", KeyID: key}))
	fillBlobs(t, db, 64, 1)
	out := must[*backup.StartBackupJobOutput](t)(w.src.Backup.StartBackupJob(ctx, &backup.StartBackupJobInput{BackupVaultName: aws.String("source-vault"), ResourceArn: aws.String(db.ARN), IamRoleArn: aws.String(role)}))
	// A recovery point still being created can be neither copied nor
	// restored.
	_, err := w.src.Backup.StartCopyJob(ctx, &backup.StartCopyJobInput{RecoveryPointArn: out.RecoveryPointArn, SourceBackupVaultName: aws.String("source-vault"),
		DestinationBackupVaultArn: aws.String("arn:aws:backup:us-east-1:111222333444:backup-vault:Default"), IamRoleArn: aws.String(role)})
	if c := errCode(err); c != "InvalidRequestException" && c != "ResourceNotFoundException" {
		t.Errorf("copying a recovery point being created: %v", err)
	}
	_, err = w.src.Backup.StartRestoreJob(ctx, &backup.StartRestoreJobInput{RecoveryPointArn: out.RecoveryPointArn, IamRoleArn: aws.String(role),
		Metadata: map[string]string{"DBInstanceIdentifier": "too-early"}})
	if c := errCode(err); c != "InvalidRequestException" && c != "ResourceNotFoundException" {
		t.Errorf("restoring a recovery point being created: %v", err)
	}
	must[*backup.StopBackupJobOutput](t)(w.src.Backup.StopBackupJob(ctx, &backup.StopBackupJobInput{BackupJobId: out.BackupJobId}))
	j := must[*backup.DescribeBackupJobOutput](t)(w.src.Backup.DescribeBackupJob(ctx, &backup.DescribeBackupJobInput{BackupJobId: out.BackupJobId}))
	if j.State != backuptypes.BackupJobStateAborted {
		t.Fatalf("state after StopBackupJob = %s", j.State)
	}
	if _, err = w.src.Backup.StopBackupJob(ctx, &backup.StopBackupJobInput{BackupJobId: out.BackupJobId}); errCode(err) != "InvalidRequestException" {
		t.Fatalf("stopping an aborted job: %v", err)
	}
	time.Sleep(2 * time.Second) // let a worker that already started notice
	rps := must[*backup.ListRecoveryPointsByBackupVaultOutput](t)(w.src.Backup.ListRecoveryPointsByBackupVault(ctx, &backup.ListRecoveryPointsByBackupVaultInput{BackupVaultName: aws.String("source-vault")}))
	if len(rps.RecoveryPoints) != 0 {
		t.Fatalf("the stopped job left %d recovery points", len(rps.RecoveryPoints))
	}
	if j := must[*backup.DescribeBackupJobOutput](t)(w.src.Backup.DescribeBackupJob(ctx, &backup.DescribeBackupJobInput{BackupJobId: out.BackupJobId})); j.State != backuptypes.BackupJobStateAborted {
		t.Fatalf("the stopped job became %s", j.State)
	}
}

// A job's lifecycle is checked as a plan rule's is: a setting coffer does
// not have, or a period below one day, is refused, not dropped.
func TestJobLifecycleChecked(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, nil)
	key := w.src.createKey(t, "source-cmk", sharedKeyPolicy(source))
	role := w.src.backupRole(t, "backup-role")
	w.src.vault(t, "source-vault", key)
	db := must[*scenario.DB](t)(w.src.CreateDB(ctx, scenario.DBSpec{ID: "db-lifecycle", Engine: "sqlite", KeyID: key}))
	for name, lc := range map[string]*backuptypes.Lifecycle{
		"archive opt-in":    {OptInToArchiveForSupportedResources: aws.Bool(true)},
		"zero-day delete":   {DeleteAfterDays: aws.Int64(0)},
		"cold after delete": {MoveToColdStorageAfterDays: aws.Int64(30), DeleteAfterDays: aws.Int64(60)},
	} {
		_, err := w.src.Backup.StartBackupJob(ctx, &backup.StartBackupJobInput{BackupVaultName: aws.String("source-vault"), ResourceArn: aws.String(db.ARN),
			IamRoleArn: aws.String(role), Lifecycle: lc})
		if errCode(err) != "InvalidParameterValueException" {
			t.Errorf("%s: StartBackupJob = %v, want InvalidParameterValueException", name, err)
		}
	}
}
