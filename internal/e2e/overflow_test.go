package e2e

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/backup"
	backuptypes "github.com/aws/aws-sdk-go-v2/service/backup/types"
)

// TestLifecycleOverflow is the attack of issue 12 item 1: under a
// compliance-mode lock, a lifecycle of 106,752 days (one past what a
// time.Duration holds) or of 2^63-1 days must neither wrap the deletion
// date into the past nor open the way to deleting the recovery point.
// Every figure out of AWS's range is refused where it enters.
func TestLifecycleOverflow(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{t: time.Now().UTC()}
	n := startNode(t, clockedConfig(t, t.TempDir(), ""), clock)
	src := n.clients(t, source, "source", "")
	key := src.createKey(t, "source-cmk", sharedKeyPolicy(source))
	db := src.createDB(t, "orders-db", key, 20)
	role := src.backupRole(t, "backup-role")
	vaultARN := src.vault(t, "compliance", key)
	must[*backup.PutBackupVaultLockConfigurationOutput](t)(src.Backup.PutBackupVaultLockConfiguration(ctx, &backup.PutBackupVaultLockConfigurationInput{
		BackupVaultName: aws.String("compliance"), MinRetentionDays: aws.Int64(30), ChangeableForDays: aws.Int64(3)}))
	start := must[*backup.StartBackupJobOutput](t)(src.Backup.StartBackupJob(ctx, &backup.StartBackupJobInput{BackupVaultName: aws.String("compliance"),
		ResourceArn: aws.String(db), IamRoleArn: aws.String(role), Lifecycle: &backuptypes.Lifecycle{DeleteAfterDays: aws.Int64(60)}}))
	var rp string
	for deadline := time.Now().Add(time.Minute); rp == "" && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		j := must[*backup.DescribeBackupJobOutput](t)(src.Backup.DescribeBackupJob(ctx, &backup.DescribeBackupJobInput{BackupJobId: start.BackupJobId}))
		switch j.State {
		case backuptypes.BackupJobStateCompleted:
			rp = aws.ToString(j.RecoveryPointArn)
		case backuptypes.BackupJobStateFailed:
			t.Fatalf("backup job failed: %s", aws.ToString(j.StatusMessage))
		}
	}
	if rp == "" {
		t.Fatal("backup job did not end")
	}
	clock.Set(clock.Now().Add(4 * 24 * time.Hour)) // the lock is in compliance mode now

	for _, d := range []int64{106752, math.MaxInt64, 36501, -5} {
		_, err := src.Backup.UpdateRecoveryPointLifecycle(ctx, &backup.UpdateRecoveryPointLifecycleInput{BackupVaultName: aws.String("compliance"),
			RecoveryPointArn: aws.String(rp), Lifecycle: &backuptypes.Lifecycle{DeleteAfterDays: aws.Int64(d)}})
		if errCode(err) != "InvalidParameterValueException" {
			t.Errorf("UpdateRecoveryPointLifecycle DeleteAfterDays=%d: %v, want InvalidParameterValueException", d, err)
		}
	}
	desc := must[*backup.DescribeRecoveryPointOutput](t)(src.Backup.DescribeRecoveryPoint(ctx, &backup.DescribeRecoveryPointInput{BackupVaultName: aws.String("compliance"), RecoveryPointArn: aws.String(rp)}))
	created := aws.ToTime(desc.CreationDate)
	if got, want := aws.ToTime(desc.CalculatedLifecycle.DeleteAt), created.AddDate(0, 0, 60); !got.Equal(want) {
		t.Errorf("DeleteAt = %s, want %s", got, want)
	}
	if _, err := src.Backup.DeleteRecoveryPoint(ctx, &backup.DeleteRecoveryPointInput{BackupVaultName: aws.String("compliance"), RecoveryPointArn: aws.String(rp)}); errCode(err) != "InvalidRequestException" {
		t.Errorf("DeleteRecoveryPoint under the compliance lock: %v, want InvalidRequestException", err)
	}
	// The longest retention AWS allows is a calendar date 100 years on.
	up := must[*backup.UpdateRecoveryPointLifecycleOutput](t)(src.Backup.UpdateRecoveryPointLifecycle(ctx, &backup.UpdateRecoveryPointLifecycleInput{BackupVaultName: aws.String("compliance"),
		RecoveryPointArn: aws.String(rp), Lifecycle: &backuptypes.Lifecycle{DeleteAfterDays: aws.Int64(36500)}}))
	if got, want := aws.ToTime(up.CalculatedLifecycle.DeleteAt), created.AddDate(0, 0, 36500); !got.Equal(want) {
		t.Errorf("DeleteAt after 36500 days = %s, want %s", got, want)
	}

	huge := &backuptypes.Lifecycle{DeleteAfterDays: aws.Int64(math.MaxInt64)}
	if _, err := src.Backup.StartBackupJob(ctx, &backup.StartBackupJobInput{BackupVaultName: aws.String("compliance"), ResourceArn: aws.String(db),
		IamRoleArn: aws.String(role), Lifecycle: huge}); errCode(err) != "InvalidParameterValueException" {
		t.Errorf("StartBackupJob DeleteAfterDays=2^63-1: %v, want InvalidParameterValueException", err)
	}
	for name, in := range map[string]*backup.StartBackupJobInput{
		"StartWindowMinutes=2^63-1":    {StartWindowMinutes: aws.Int64(math.MaxInt64)},
		"CompleteWindowMinutes=2^63-1": {CompleteWindowMinutes: aws.Int64(math.MaxInt64)},
	} {
		in.BackupVaultName, in.ResourceArn, in.IamRoleArn = aws.String("compliance"), aws.String(db), aws.String(role)
		in.Lifecycle = &backuptypes.Lifecycle{DeleteAfterDays: aws.Int64(60)}
		if _, err := src.Backup.StartBackupJob(ctx, in); errCode(err) != "InvalidParameterValueException" {
			t.Errorf("StartBackupJob %s: %v, want InvalidParameterValueException", name, err)
		}
	}
	if _, err := src.Backup.StartCopyJob(ctx, &backup.StartCopyJobInput{SourceBackupVaultName: aws.String("compliance"), RecoveryPointArn: aws.String(rp),
		DestinationBackupVaultArn: aws.String(vaultARN), IamRoleArn: aws.String(role), Lifecycle: &backuptypes.Lifecycle{MoveToColdStorageAfterDays: aws.Int64(106752)}}); errCode(err) != "InvalidParameterValueException" {
		t.Errorf("StartCopyJob MoveToColdStorageAfterDays=106752: %v, want InvalidParameterValueException", err)
	}
	for name, mutate := range map[string]func(*backuptypes.BackupRuleInput){
		"rule":              func(r *backuptypes.BackupRuleInput) { r.Lifecycle = huge },
		"completion window": func(r *backuptypes.BackupRuleInput) { r.CompletionWindowMinutes = aws.Int64(math.MaxInt64) },
		"copy action": func(r *backuptypes.BackupRuleInput) {
			r.CopyActions = []backuptypes.CopyAction{{DestinationBackupVaultArn: aws.String(vaultARN), Lifecycle: huge}}
		},
	} {
		_, err := src.Backup.CreateBackupPlan(ctx, &backup.CreateBackupPlanInput{BackupPlan: planInput("huge-"+name[:4], rule("r", "compliance", mutate))})
		if errCode(err) != "InvalidParameterValueException" {
			t.Errorf("CreateBackupPlan with a %s lifecycle of 2^63-1 days: %v, want InvalidParameterValueException", name, err)
		}
	}
	hold := must[*backup.CreateLegalHoldOutput](t)(src.Backup.CreateLegalHold(ctx, &backup.CreateLegalHoldInput{Title: aws.String("audit"), Description: aws.String("audit"),
		RecoveryPointSelection: &backuptypes.RecoveryPointSelection{VaultNames: []string{"compliance"}}}))
	if _, err := src.Backup.CancelLegalHold(ctx, &backup.CancelLegalHoldInput{LegalHoldId: hold.LegalHoldId, CancelDescription: aws.String("done"),
		RetainRecordInDays: aws.Int64(math.MaxInt64)}); errCode(err) != "InvalidParameterValueException" {
		t.Errorf("CancelLegalHold RetainRecordInDays=2^63-1: %v, want InvalidParameterValueException", err)
	}
}
