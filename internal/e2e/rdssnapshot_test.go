package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	backuptypes "github.com/aws/aws-sdk-go-v2/service/backup/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	rdstypes "github.com/aws/aws-sdk-go-v2/service/rds/types"
)

// TestRDSSnapshotsSQLite takes a manual DB snapshot of an encrypted SQLite
// instance (logical) and restores it with its rows, and lists AWS
// Backup's recovery point of the instance as an awsbackup snapshot.
func TestRDSSnapshotsSQLite(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, nil)
	key := w.src.createKey(t, "source-cmk", sharedKeyPolicy(source))
	dbARN := w.src.createDB(t, "notes", key, 40)
	wantN, wantSum := count(t, w.src.waitDB(t, "notes"))
	client := w.src.RDS

	if _, err := client.CreateDBSnapshot(ctx, &rds.CreateDBSnapshotInput{DBSnapshotIdentifier: aws.String("notes-snap"), DBInstanceIdentifier: aws.String("notes")}); err != nil {
		t.Fatal(err)
	}
	var snap rdstypes.DBSnapshot
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		out := must[*rds.DescribeDBSnapshotsOutput](t)(client.DescribeDBSnapshots(ctx, &rds.DescribeDBSnapshotsInput{DBSnapshotIdentifier: aws.String("notes-snap")}))
		if snap = out.DBSnapshots[0]; aws.ToString(snap.Status) != "creating" || time.Now().After(deadline) {
			break
		}
	}
	if aws.ToString(snap.Status) != "available" || aws.ToString(snap.Engine) != "sqlite" || aws.ToString(snap.KmsKeyId) != key {
		t.Fatalf("snapshot: status %s engine %s key %s", aws.ToString(snap.Status), aws.ToString(snap.Engine), aws.ToString(snap.KmsKeyId))
	}
	if _, err := client.RestoreDBInstanceFromDBSnapshot(ctx, &rds.RestoreDBInstanceFromDBSnapshotInput{DBSnapshotIdentifier: aws.String("notes-snap"), DBInstanceIdentifier: aws.String("notes-copy")}); err != nil {
		t.Fatal(err)
	}
	if n, sum := count(t, w.src.waitDB(t, "notes-copy")); n != wantN || sum != wantSum {
		t.Errorf("restored %d orders (sum %d), want %d (sum %d)", n, sum, wantN, wantSum)
	}

	role := w.src.backupRole(t, "backup-role")
	w.src.vault(t, "vault", key)
	job := w.src.backupJob(t, "vault", dbARN, role)
	if job.State != backuptypes.BackupJobStateCompleted {
		t.Fatalf("backup job %s: %s", job.State, aws.ToString(job.StatusMessage))
	}
	rp := aws.ToString(job.RecoveryPointArn)
	manual := must[*rds.DescribeDBSnapshotsOutput](t)(client.DescribeDBSnapshots(ctx, &rds.DescribeDBSnapshotsInput{DBInstanceIdentifier: aws.String("notes")}))
	if len(manual.DBSnapshots) != 1 || aws.ToString(manual.DBSnapshots[0].SnapshotType) != "manual" {
		t.Errorf("manual snapshots of notes: %+v", manual.DBSnapshots)
	}
	backups := must[*rds.DescribeDBSnapshotsOutput](t)(client.DescribeDBSnapshots(ctx, &rds.DescribeDBSnapshotsInput{DBInstanceIdentifier: aws.String("notes"), SnapshotType: aws.String("awsbackup")}))
	if len(backups.DBSnapshots) != 1 || aws.ToString(backups.DBSnapshots[0].DBSnapshotArn) != rp || aws.ToString(backups.DBSnapshots[0].SnapshotType) != "awsbackup" ||
		aws.ToString(backups.DBSnapshots[0].DBInstanceIdentifier) != "notes" || aws.ToString(backups.DBSnapshots[0].Status) != "available" {
		t.Fatalf("awsbackup snapshots of notes: %+v, want %s", backups.DBSnapshots, rp)
	}
	id := aws.ToString(backups.DBSnapshots[0].DBSnapshotIdentifier)
	if one, err := client.DescribeDBSnapshots(ctx, &rds.DescribeDBSnapshotsInput{DBSnapshotIdentifier: aws.String(id)}); err != nil || len(one.DBSnapshots) != 1 {
		t.Errorf("describe %s: %v", id, err)
	}
	if _, err := client.DeleteDBSnapshot(ctx, &rds.DeleteDBSnapshotInput{DBSnapshotIdentifier: aws.String(id)}); errCode(err) != "InvalidParameterValue" {
		t.Errorf("delete an awsbackup snapshot through RDS: %v, want InvalidParameterValue", err)
	}
	if _, err := client.DescribeDBSnapshots(ctx, &rds.DescribeDBSnapshotsInput{SnapshotType: aws.String("weekly")}); errCode(err) != "InvalidParameterValue" {
		t.Errorf("SnapshotType weekly: %v, want InvalidParameterValue", err)
	}

	// Authorization: an operator allowed to describe snapshots only.
	must[*iam.CreateUserOutput](t)(w.src.IAM.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("operator")}))
	must[*iam.PutUserPolicyOutput](t)(w.src.IAM.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("operator"), PolicyName: aws.String("read"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"rds:DescribeDBSnapshots","Resource":"arn:aws:rds:us-east-1:` + source + `:snapshot:*"}]}`)}))
	keys := must[*iam.CreateAccessKeyOutput](t)(w.src.IAM.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("operator")}))
	op := rds.NewFromConfig(w.c.AWSConfig(t, awsCreds(keys)))
	if out, err := op.DescribeDBSnapshots(ctx, &rds.DescribeDBSnapshotsInput{}); err != nil || len(out.DBSnapshots) != 1 {
		t.Errorf("operator's DescribeDBSnapshots: %v", err)
	}
	if _, err := op.CreateDBSnapshot(ctx, &rds.CreateDBSnapshotInput{DBSnapshotIdentifier: aws.String("op-snap"), DBInstanceIdentifier: aws.String("notes")}); errCode(err) != "AccessDenied" {
		t.Errorf("operator's CreateDBSnapshot: %v, want AccessDenied", err)
	}
	if _, err := op.DeleteDBSnapshot(ctx, &rds.DeleteDBSnapshotInput{DBSnapshotIdentifier: aws.String("notes-snap")}); errCode(err) != "AccessDenied" {
		t.Errorf("operator's DeleteDBSnapshot: %v, want AccessDenied", err)
	}
}
