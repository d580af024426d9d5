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
		conn := must[*sql.DB](t)(db.Open())
		if _, err := conn.Exec(`CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB)`); err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewSource(int64(i)))
		buf := make([]byte, 8192)
		tx, _ := conn.Begin()
		for r := 0; r < 2000; r++ { // 16 MiB of incompressible rows
			rng.Read(buf)
			tx.Exec(`INSERT INTO blobs (data) VALUES (?)`, buf)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		conn.Close()
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
