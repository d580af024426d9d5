package e2e

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/backup"
	backuptypes "github.com/aws/aws-sdk-go-v2/service/backup/types"
	"github.com/aws/aws-sdk-go-v2/service/rds"

	"github.com/coffer-dev/coffer/internal/scenario"
	"github.com/coffer-dev/coffer/internal/testenv"
)

// TestPhysicalSeed runs the seed flow on a PostgreSQL instance, whose
// backups are physical: back up in the source account, copy into the
// backup account (re-encrypted under its key), restore there with the
// source's names; the restore is checked against the backup's manifest
// and recovered before it completes, psql-equivalent reads with the
// source's credentials see the source's rows, the first restore records
// the table checksums and the second compares with them, and a restore
// that fails after unpacking leaves no instance and no data directory.
func TestPhysicalSeed(t *testing.T) {
	if _, err := testenv.PostgresBinDir(); err != nil {
		testenv.Missing(t, "%v", err)
	}
	ctx := context.Background()
	w := newWorld(t, nil)
	w.enableCrossAccount(t)
	org := w.orgID(t)

	srcKey := w.src.createKey(t, "source-cmk", sharedKeyPolicy(source, backupAcct))
	const password = "source-Secret-9"
	src := must[*scenario.DB](t)(w.src.CreateDB(ctx, scenario.DBSpec{ID: "orders", Engine: "postgres", KeyID: srcKey, DBName: "appdb", User: "app", Password: password}))
	src.Password = password
	conn := must[*sql.DB](t)(src.Open())
	if err := scenario.FillOrders(conn, 300); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	wantN, wantSum := count(t, src)

	srcRole := w.src.backupRole(t, "backup-role")
	w.src.vault(t, "source-vault", srcKey)
	job := w.src.backupJob(t, "source-vault", src.ARN, srcRole)
	if job.State != backuptypes.BackupJobStateCompleted {
		t.Fatalf("backup job %s: %s", job.State, aws.ToString(job.StatusMessage))
	}
	rp := aws.ToString(job.RecoveryPointArn)
	if !strings.Contains(rp, ":snapshot:awsbackup:job-") {
		t.Errorf("recovery point ARN %s is not an RDS awsbackup snapshot's", rp)
	}

	dstKey, dstRole, copyARN := w.copyToBackupAccount(t, rp, srcKey, srcRole, org)

	restore := func(id string, extra map[string]string) *backup.DescribeRestoreJobOutput {
		md := map[string]string{"DBInstanceIdentifier": id, "KmsKeyId": dstKey}
		for k, v := range extra {
			md[k] = v
		}
		return w.dst.restoreJob(t, copyARN, dstRole, md)
	}
	check := func(id, wantMsg string) {
		t.Helper()
		rj := restore(id, nil)
		msg := aws.ToString(rj.ValidationStatusMessage)
		if rj.Status != backuptypes.RestoreJobStatusCompleted || rj.ValidationStatus != backuptypes.RestoreValidationStatusSuccessful {
			t.Fatalf("restore job %s (%s): %s %s", rj.Status, rj.ValidationStatus, aws.ToString(rj.StatusMessage), msg)
		}
		if !strings.Contains(msg, "match the backup's manifest") || !strings.Contains(msg, wantMsg) {
			t.Errorf("validation message %q; want the manifest checked and %q", msg, wantMsg)
		}
		got := w.dst.waitDB(t, id)
		if got.DBName != "appdb" || got.User != "app" || got.KeyID != dstKey {
			t.Errorf("restored %s is %s/%s under %s; want the source's appdb/app under %s", id, got.DBName, got.User, got.KeyID, dstKey)
		}
		got.Password = password
		if n, sum := count(t, got); n != wantN || sum != wantSum || n != 300 {
			t.Errorf("restored %s: %d rows (sum %d), source %d (sum %d)", id, n, sum, wantN, wantSum)
		}
	}
	check("orders-restored", "recorded with the recovery point for later restores")
	check("orders-again", "match the checksums recorded with the recovery point")

	// A restore failing after the data was unpacked (no such engine
	// version) leaves neither an instance nor a data directory.
	rj := restore("orders-bad", map[string]string{"EngineVersion": "9.6"})
	if rj.Status != backuptypes.RestoreJobStatusFailed || !strings.Contains(aws.ToString(rj.StatusMessage), "installed versions") {
		t.Fatalf("restore with EngineVersion 9.6: %s %q; want FAILED naming the installed versions", rj.Status, aws.ToString(rj.StatusMessage))
	}
	if out, err := w.dst.RDS.DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String("orders-bad")}); err == nil {
		if s := aws.ToString(out.DBInstances[0].DBInstanceStatus); s != "failed" {
			t.Errorf("the failed restore's instance is %s", s)
		}
	}
	left, err := filepath.Glob(filepath.Join(w.c.Config.DataDir, "pg", ".incoming-*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range left {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("the failed restore left %s", d)
		}
	}
}
