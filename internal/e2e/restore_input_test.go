package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/backup"
	backuptypes "github.com/aws/aws-sdk-go-v2/service/backup/types"
)

// TestRestoreCallerErrors: a restore that fails for a reason the caller
// caused (a name already taken, metadata RDS refuses, a key that does not
// exist) is either refused by StartRestoreJob or fails with RDS's or
// KMS's reason in StatusMessage, never as "internal error:".
func TestRestoreCallerErrors(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, nil)
	key := w.src.createKey(t, "source-cmk", sharedKeyPolicy(source))
	db := w.src.createDB(t, "orders-db", key, 5)
	role := w.src.backupRole(t, "backup-role")
	w.src.vault(t, "source-vault", key)
	bj := w.src.backupJob(t, "source-vault", db, role)
	if bj.State != backuptypes.BackupJobStateCompleted {
		t.Fatalf("backup %s: %s", bj.State, aws.ToString(bj.StatusMessage))
	}
	for name, c := range map[string]struct {
		md   map[string]string
		want string
	}{
		"identifier taken":        {map[string]string{"DBInstanceIdentifier": "orders-db"}, "already exists"},
		"identifier malformed":    {map[string]string{"DBInstanceIdentifier": "-bad--name-"}, "DBInstanceIdentifier"},
		"engine of another kind":  {map[string]string{"DBInstanceIdentifier": "r6", "Engine": "postgres"}, "postgres"},
		"storage not a number":    {map[string]string{"DBInstanceIdentifier": "r1", "AllocatedStorage": "lots"}, "AllocatedStorage"},
		"engine not the backup's": {map[string]string{"DBInstanceIdentifier": "r2", "Engine": "oracle-ee"}, "oracle-ee"},
		"key that does not exist": {map[string]string{"DBInstanceIdentifier": "r3", "KmsKeyId": "alias/nope"}, "alias/nope"},
		"encryption not a bool":   {map[string]string{"DBInstanceIdentifier": "r5", "StorageEncrypted": "maybe"}, "StorageEncrypted"},
	} {
		start, err := w.src.Backup.StartRestoreJob(ctx, &backup.StartRestoreJobInput{RecoveryPointArn: bj.RecoveryPointArn, IamRoleArn: aws.String(role), Metadata: c.md})
		if err != nil {
			if code := errCode(err); code != "InvalidParameterValueException" && code != "InvalidRequestException" || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s: StartRestoreJob = %v; want a refusal naming %q", name, err, c.want)
			}
			continue
		}
		var rj *backup.DescribeRestoreJobOutput
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			rj = must[*backup.DescribeRestoreJobOutput](t)(w.src.Backup.DescribeRestoreJob(ctx, &backup.DescribeRestoreJobInput{RestoreJobId: start.RestoreJobId}))
			if rj.Status == backuptypes.RestoreJobStatusCompleted || rj.Status == backuptypes.RestoreJobStatusFailed || rj.Status == backuptypes.RestoreJobStatusAborted {
				break
			}
		}
		msg := aws.ToString(rj.StatusMessage)
		if rj.Status != backuptypes.RestoreJobStatusFailed || strings.Contains(msg, "internal error") || !strings.Contains(msg, c.want) {
			t.Errorf("%s: restore job %s %q; want FAILED naming %q, not an internal error", name, rj.Status, msg, c.want)
		}
	}
}
