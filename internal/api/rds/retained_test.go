package rds_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/rds"
)

// TestRetainedAutomatedBackups: DeleteDBInstance deletes an instance's
// automated backups by default; with DeleteAutomatedBackups false they
// are retained, listed by DescribeDBInstanceAutomatedBackups with
// Status retained and the window they held, until
// DeleteDBInstanceAutomatedBackup removes them. A current instance's
// automated backups cannot be deleted that way.
func TestRetainedAutomatedBackups(t *testing.T) {
	requirePostgres(t)
	c := start(t, nil)
	client, kmsClient := clients(t, c, "default")
	ctx := context.Background()
	key, err := kmsClient.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("app database")})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{} // identifier -> DbiResourceId
	for _, id := range []string{"kept", "gone"} {
		out, err := client.CreateDBInstance(ctx, &rds.CreateDBInstanceInput{
			DBInstanceIdentifier: aws.String(id), Engine: aws.String("postgres"), DBInstanceClass: aws.String("db.t3.micro"),
			AllocatedStorage: aws.Int32(20), MasterUsername: aws.String("app_admin"), MasterUserPassword: aws.String("app-secret-1"),
			DBName: aws.String("app"), BackupRetentionPeriod: aws.Int32(1), StorageEncrypted: aws.Bool(true), KmsKeyId: key.KeyMetadata.Arn,
		})
		if err != nil {
			t.Fatal(err)
		}
		ids[id] = aws.ToString(out.DBInstance.DbiResourceId)
	}
	for id := range ids {
		waitStatus(t, client, id, "available")
		waitRestorable(t, client, id, time.Time{})
	}
	_, err = client.DeleteDBInstanceAutomatedBackup(ctx, &rds.DeleteDBInstanceAutomatedBackupInput{DbiResourceId: aws.String(ids["kept"])})
	if errCode(err) != "InvalidDBInstanceAutomatedBackupState" {
		t.Errorf("delete a current instance's automated backups: %v, want InvalidDBInstanceAutomatedBackupState", err)
	}
	deleted := time.Now()
	for id, keep := range map[string]bool{"kept": true, "gone": false} {
		in := &rds.DeleteDBInstanceInput{DBInstanceIdentifier: aws.String(id), SkipFinalSnapshot: aws.Bool(true)}
		if keep {
			in.DeleteAutomatedBackups = aws.Bool(false)
		}
		if _, err := client.DeleteDBInstance(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	for id := range ids {
		waitGone(t, client, id)
	}
	if _, err := client.DescribeDBInstanceAutomatedBackups(ctx, &rds.DescribeDBInstanceAutomatedBackupsInput{DbiResourceId: aws.String(ids["gone"])}); errCode(err) != "DBInstanceAutomatedBackupNotFound" {
		t.Errorf("automated backups of an instance deleted with the default: %v, want DBInstanceAutomatedBackupNotFound", err)
	}
	all, err := client.DescribeDBInstanceAutomatedBackups(ctx, &rds.DescribeDBInstanceAutomatedBackupsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all.DBInstanceAutomatedBackups) != 1 {
		t.Fatalf("automated backups after the deletions: %d, want the retained one", len(all.DBInstanceAutomatedBackups))
	}
	ab := all.DBInstanceAutomatedBackups[0]
	if aws.ToString(ab.Status) != "retained" || aws.ToString(ab.DBInstanceIdentifier) != "kept" || aws.ToString(ab.DbiResourceId) != ids["kept"] ||
		aws.ToInt32(ab.BackupRetentionPeriod) != 1 || aws.ToString(ab.KmsKeyId) != aws.ToString(key.KeyMetadata.Arn) ||
		ab.RestoreWindow == nil || ab.RestoreWindow.LatestTime == nil || ab.RestoreWindow.LatestTime.After(deleted) {
		t.Fatalf("retained automated backup: %+v (window %+v)", ab, ab.RestoreWindow)
	}
	byID, err := client.DescribeDBInstanceAutomatedBackups(ctx, &rds.DescribeDBInstanceAutomatedBackupsInput{DBInstanceIdentifier: aws.String("kept")})
	if err != nil || len(byID.DBInstanceAutomatedBackups) != 1 || aws.ToString(byID.DBInstanceAutomatedBackups[0].Status) != "retained" {
		t.Fatalf("retained automated backup by identifier: %+v %v", byID, err)
	}

	_, err = client.RestoreDBInstanceToPointInTime(ctx, &rds.RestoreDBInstanceToPointInTimeInput{SourceDbiResourceId: aws.String(ids["kept"]),
		TargetDBInstanceIdentifier: aws.String("kept-again"), UseLatestRestorableTime: aws.Bool(true)})
	if errCode(err) != "InvalidParameterCombination" || !strings.Contains(err.Error(), "not available") {
		t.Errorf("restore from retained automated backups: %v, want InvalidParameterCombination saying it is not available", err)
	}

	out, err := client.DeleteDBInstanceAutomatedBackup(ctx, &rds.DeleteDBInstanceAutomatedBackupInput{DBInstanceAutomatedBackupsArn: ab.DBInstanceAutomatedBackupsArn})
	if err != nil {
		t.Fatal(err)
	}
	if got := out.DBInstanceAutomatedBackup; got == nil || aws.ToString(got.DbiResourceId) != ids["kept"] {
		t.Errorf("DeleteDBInstanceAutomatedBackup returned %+v", got)
	}
	if _, err := client.DescribeDBInstanceAutomatedBackups(ctx, &rds.DescribeDBInstanceAutomatedBackupsInput{DbiResourceId: aws.String(ids["kept"])}); errCode(err) != "DBInstanceAutomatedBackupNotFound" {
		t.Errorf("a deleted retained automated backup: %v, want DBInstanceAutomatedBackupNotFound", err)
	}
	if _, err := client.DeleteDBInstanceAutomatedBackup(ctx, &rds.DeleteDBInstanceAutomatedBackupInput{DbiResourceId: aws.String(ids["kept"])}); errCode(err) != "DBInstanceAutomatedBackupNotFound" {
		t.Errorf("delete it again: %v, want DBInstanceAutomatedBackupNotFound", err)
	}
}
