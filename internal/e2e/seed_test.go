package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/backup"
	backuptypes "github.com/aws/aws-sdk-go-v2/service/backup/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/rds"
)

// TestSeed runs the seed's walkthrough with aws-sdk-go-v2, as DESIGN.md's
// table lists it: back up a CMK-encrypted database in the source account,
// copy the recovery point into the backup account's vault (re-encrypted
// under its key), copy it back, restore it in the backup account, and
// check that the source account's administrator cannot touch the copy.
func TestSeed(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, nil)
	w.enableCrossAccount(t)
	org := w.orgID(t)

	srcKey := w.src.createKey(t, "source-cmk", sharedKeyPolicy(source, backupAcct))
	dbARN := w.src.createDB(t, "orders-db", "alias/source-cmk", 500)
	srcRole := w.src.backupRole(t, "backup-role")
	srcVault := w.src.vault(t, "source-vault", srcKey)

	job := w.src.backupJob(t, "source-vault", dbARN, srcRole)
	if job.State != backuptypes.BackupJobStateCompleted {
		t.Fatalf("backup job %s: %s", job.State, aws.ToString(job.StatusMessage))
	}
	rp := aws.ToString(job.RecoveryPointArn)
	srcRP := must[*backup.DescribeRecoveryPointOutput](t)(w.src.Backup.DescribeRecoveryPoint(ctx, &backup.DescribeRecoveryPointInput{BackupVaultName: aws.String("source-vault"), RecoveryPointArn: aws.String(rp)}))
	if got := aws.ToString(srcRP.EncryptionKeyArn); got != srcKey {
		t.Errorf("recovery point key = %s, want the database's key %s", got, srcKey)
	}
	if srcRP.Status != backuptypes.RecoveryPointStatusCompleted || aws.ToString(srcRP.ResourceType) != "RDS" {
		t.Errorf("recovery point = %s %s", srcRP.Status, aws.ToString(srcRP.ResourceType))
	}

	dstKey, dstRole, copyARN := w.copyToBackupAccount(t, rp, srcKey, srcRole, org)
	copied := must[*backup.DescribeRecoveryPointOutput](t)(w.dst.Backup.DescribeRecoveryPoint(ctx, &backup.DescribeRecoveryPointInput{BackupVaultName: aws.String("backup-vault"), RecoveryPointArn: aws.String(copyARN)}))
	if got := aws.ToString(copied.EncryptionKeyArn); got != dstKey {
		t.Errorf("copy is encrypted under %s, want the backup account's key %s", got, dstKey)
	}
	if got := aws.ToString(copied.SourceBackupVaultArn); got != srcVault {
		t.Errorf("SourceBackupVaultArn = %s, want %s", got, srcVault)
	}

	// Copy back into the source vault, once its policy allows it. It
	// works as the first copy did: the destination (now the source
	// account) must be able to use the key of the copy, so the backup
	// account lets the source account's backup service role, and only
	// it, use its key; the source account's administrators still cannot.
	w.src.allowOrgCopies(t, "source-vault", org)
	srcDefault := w.src.backupRole(t, "AWSBackupDefaultServiceRole")
	w.src.allowKeyUse(t, "AWSBackupDefaultServiceRole", dstKey)
	must[*kms.PutKeyPolicyOutput](t)(w.dst.KMS.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: aws.String(dstKey), PolicyName: aws.String("default"),
		Policy: aws.String(sharedKeyPolicyFor(backupAcct, srcDefault))}))
	back := w.dst.copyJob(t, copyARN, "backup-vault", srcVault, dstRole)
	if back.State != backuptypes.CopyJobStateCompleted {
		t.Fatalf("copy back %s: %s", back.State, aws.ToString(back.StatusMessage))
	}

	// Restore in the backup account with the backup key.
	md := must[*backup.GetRecoveryPointRestoreMetadataOutput](t)(w.dst.Backup.GetRecoveryPointRestoreMetadata(ctx, &backup.GetRecoveryPointRestoreMetadataInput{BackupVaultName: aws.String("backup-vault"), RecoveryPointArn: aws.String(copyARN)}))
	if _, ok := md.RestoreMetadata["MasterUserPassword"]; ok {
		t.Error("restore metadata shows the master password")
	}
	restoreMD := map[string]string{"DBInstanceIdentifier": "orders-restored", "KmsKeyId": dstKey}
	rj := w.dst.restoreJob(t, copyARN, dstRole, restoreMD)
	if rj.Status != backuptypes.RestoreJobStatusCompleted || rj.ValidationStatus != backuptypes.RestoreValidationStatusSuccessful {
		t.Fatalf("restore job %s (%s): %s %s", rj.Status, rj.ValidationStatus, aws.ToString(rj.StatusMessage), aws.ToString(rj.ValidationStatusMessage))
	}
	restored := w.dst.waitDB(t, "orders-restored")
	if restored.KeyID != dstKey {
		t.Errorf("restored instance key = %s, want %s", restored.KeyID, dstKey)
	}
	srcInst := w.src.waitDB(t, "orders-db")
	wantN, wantSum := count(t, srcInst)
	gotN, gotSum := count(t, restored)
	if gotN != wantN || gotSum != wantSum || wantN != 500 {
		t.Fatalf("restored rows %d (sum %d), source %d (sum %d)", gotN, gotSum, wantN, wantSum)
	}

	// The drill: the source account's administrator can neither read,
	// delete nor shorten the backup account's recovery point, nor use
	// its key.
	for name, err := range map[string]error{
		"describe": second(w.src.Backup.DescribeRecoveryPoint(ctx, &backup.DescribeRecoveryPointInput{BackupVaultName: aws.String("backup-vault"), RecoveryPointArn: aws.String(copyARN)})),
		"delete":   second(w.src.Backup.DeleteRecoveryPoint(ctx, &backup.DeleteRecoveryPointInput{BackupVaultName: aws.String("backup-vault"), RecoveryPointArn: aws.String(copyARN)})),
		"shorten": second(w.src.Backup.UpdateRecoveryPointLifecycle(ctx, &backup.UpdateRecoveryPointLifecycleInput{BackupVaultName: aws.String("backup-vault"), RecoveryPointArn: aws.String(copyARN),
			Lifecycle: &backuptypes.Lifecycle{DeleteAfterDays: aws.Int64(1)}})),
		"key": second(w.src.KMS.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(dstKey)})),
	} {
		if err == nil {
			t.Errorf("source admin %s on the backup account's copy: allowed", name)
		}
	}
	still := must[*backup.DescribeRecoveryPointOutput](t)(w.dst.Backup.DescribeRecoveryPoint(ctx, &backup.DescribeRecoveryPointInput{BackupVaultName: aws.String("backup-vault"), RecoveryPointArn: aws.String(copyARN)}))
	if still.Status != backuptypes.RecoveryPointStatusCompleted || still.Lifecycle != nil {
		t.Errorf("the copy changed: %s %+v", still.Status, still.Lifecycle)
	}
	// The instance in the source account is invisible to the backup account.
	if _, err := w.dst.RDS.DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String("orders-db")}); !strings.Contains(errCode(err), "DBInstanceNotFound") {
		t.Errorf("backup account sees the source instance: %v", err)
	}
}

func second[T any](_ T, err error) error { return err }
