package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/backup"
	backuptypes "github.com/aws/aws-sdk-go-v2/service/backup/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
)

// TestVaultLock: after its LockDate a compliance-mode lock lets nobody,
// the account root included, delete or shorten a recovery point, change
// or remove the lock, or delete the vault; a governance-mode lock lets a principal allowed to
// remove it do all of that, and refuses the others. Jobs whose retention
// falls outside the lock's range fail, and a legal hold keeps a recovery
// point from everyone.
func TestVaultLock(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{t: time.Now().UTC()}
	n := startNode(t, clockedConfig(t, t.TempDir(), ""), clock)
	src := n.clients(t, source, "source", "")
	key := src.createKey(t, "source-cmk", sharedKeyPolicy(source))
	db := src.createDB(t, "orders-db", key, 20)
	role := src.backupRole(t, "backup-role")
	src.vault(t, "compliance", key)
	src.vault(t, "governance", key)
	lock := func(vault string, changeable *int64) error {
		_, err := src.Backup.PutBackupVaultLockConfiguration(ctx, &backup.PutBackupVaultLockConfigurationInput{BackupVaultName: aws.String(vault),
			MinRetentionDays: aws.Int64(7), MaxRetentionDays: aws.Int64(30), ChangeableForDays: changeable})
		return err
	}
	if err := lock("compliance", aws.Int64(3)); err != nil {
		t.Fatal(err)
	}
	if err := lock("governance", nil); err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string]*backup.PutBackupVaultLockConfigurationInput{
		"changeable 2 days": {BackupVaultName: aws.String("governance"), ChangeableForDays: aws.Int64(2)},
		"min above max":     {BackupVaultName: aws.String("governance"), MinRetentionDays: aws.Int64(40), MaxRetentionDays: aws.Int64(30)},
		"max 36501":         {BackupVaultName: aws.String("governance"), MaxRetentionDays: aws.Int64(36501)},
	} {
		if _, err := src.Backup.PutBackupVaultLockConfiguration(ctx, bad); errCode(err) != "InvalidParameterValueException" {
			t.Errorf("%s: %v", name, err)
		}
	}

	backupInto := func(vault string, l *backuptypes.Lifecycle) *backup.DescribeBackupJobOutput {
		start := must[*backup.StartBackupJobOutput](t)(src.Backup.StartBackupJob(ctx, &backup.StartBackupJobInput{BackupVaultName: aws.String(vault),
			ResourceArn: aws.String(db), IamRoleArn: aws.String(role), Lifecycle: l}))
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			j := must[*backup.DescribeBackupJobOutput](t)(src.Backup.DescribeBackupJob(ctx, &backup.DescribeBackupJobInput{BackupJobId: start.BackupJobId}))
			if j.State == backuptypes.BackupJobStateCompleted || j.State == backuptypes.BackupJobStateFailed {
				return j
			}
		}
		t.Fatal("backup job did not end")
		return nil
	}
	// Retention outside the lock's range fails the job.
	for name, l := range map[string]*backuptypes.Lifecycle{"kept forever": nil, "kept 3 days": {DeleteAfterDays: aws.Int64(3)}, "kept 60 days": {DeleteAfterDays: aws.Int64(60)}} {
		if j := backupInto("compliance", l); j.State != backuptypes.BackupJobStateFailed || !strings.Contains(aws.ToString(j.StatusMessage), "vault lock") {
			t.Errorf("%s: %s %q", name, j.State, aws.ToString(j.StatusMessage))
		}
	}
	tenDays := &backuptypes.Lifecycle{DeleteAfterDays: aws.Int64(10)}
	compRP := aws.ToString(backupInto("compliance", tenDays).RecoveryPointArn)
	govRP := aws.ToString(backupInto("governance", tenDays).RecoveryPointArn)

	// Four days later the compliance lock is immutable.
	clock.Set(clock.Now().Add(4 * 24 * time.Hour))
	// An operator allowed every backup action except removing vault locks.
	must[*iam.CreateUserOutput](t)(src.IAM.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("operator")}))
	must[*iam.PutUserPolicyOutput](t)(src.IAM.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("operator"), PolicyName: aws.String("ops"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"backup:*","Resource":"*"},
			{"Effect":"Deny","Action":"backup:DeleteBackupVaultLockConfiguration","Resource":"*"}]}`)}))
	keys := must[*iam.CreateAccessKeyOutput](t)(src.IAM.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("operator")}))
	operator := backup.NewFromConfig(n.c.AWSConfig(t, awsCreds(keys)))

	shorten := func(c *backup.Client, vault, rp string) error {
		_, err := c.UpdateRecoveryPointLifecycle(ctx, &backup.UpdateRecoveryPointLifecycleInput{BackupVaultName: aws.String(vault), RecoveryPointArn: aws.String(rp),
			Lifecycle: &backuptypes.Lifecycle{DeleteAfterDays: aws.Int64(5)}})
		return err
	}
	del := func(c *backup.Client, vault, rp string) error {
		_, err := c.DeleteRecoveryPoint(ctx, &backup.DeleteRecoveryPointInput{BackupVaultName: aws.String(vault), RecoveryPointArn: aws.String(rp)})
		return err
	}
	unlock := func(c *backup.Client, vault string) error {
		_, err := c.DeleteBackupVaultLockConfiguration(ctx, &backup.DeleteBackupVaultLockConfigurationInput{BackupVaultName: aws.String(vault)})
		return err
	}
	dropVault := func(c *backup.Client, vault string) error {
		_, err := c.DeleteBackupVault(ctx, &backup.DeleteBackupVaultInput{BackupVaultName: aws.String(vault)})
		return err
	}
	root := backup.NewFromConfig(n.c.AWSConfig(t, n.c.Profile(t, "source-root")))
	for who, c := range map[string]*backup.Client{"administrator": src.Backup, "operator": operator, "account root": root} {
		for what, err := range map[string]error{
			"DeleteRecoveryPoint":                del(c, "compliance", compRP),
			"UpdateRecoveryPointLifecycle":       shorten(c, "compliance", compRP),
			"DeleteBackupVaultLockConfiguration": unlock(c, "compliance"),
			"PutBackupVaultLockConfiguration":    lock("compliance", aws.Int64(3)),
			"DeleteBackupVault":                  dropVault(c, "compliance"),
		} {
			// The operator's own policy already denies removing locks.
			if code := errCode(err); code != "InvalidRequestException" && !(who == "operator" && code == "AccessDeniedException" && what == "DeleteBackupVaultLockConfiguration") {
				t.Errorf("compliance lock, %s %s: %v; want it refused", who, what, err)
			}
		}
	}
	// Governance: refused to the operator, allowed to the administrator.
	if err := del(operator, "governance", govRP); errCode(err) != "InvalidRequestException" || !strings.Contains(err.Error(), "governance") {
		t.Errorf("governance lock, operator DeleteRecoveryPoint: %v", err)
	}
	if err := shorten(src.Backup, "governance", govRP); err != nil {
		t.Errorf("governance lock, administrator shortens: %v", err)
	}
	// A legal hold keeps the recovery point even from the administrator.
	hold := must[*backup.CreateLegalHoldOutput](t)(src.Backup.CreateLegalHold(ctx, &backup.CreateLegalHoldInput{Title: aws.String("audit"), Description: aws.String("litigation"),
		RecoveryPointSelection: &backuptypes.RecoveryPointSelection{VaultNames: []string{"governance"}}}))
	if err := del(src.Backup, "governance", govRP); errCode(err) != "InvalidRequestException" || !strings.Contains(err.Error(), "legal hold") {
		t.Errorf("DeleteRecoveryPoint under legal hold: %v", err)
	}
	held := must[*backup.ListRecoveryPointsByLegalHoldOutput](t)(src.Backup.ListRecoveryPointsByLegalHold(ctx, &backup.ListRecoveryPointsByLegalHoldInput{LegalHoldId: hold.LegalHoldId}))
	if len(held.RecoveryPoints) != 1 || aws.ToString(held.RecoveryPoints[0].RecoveryPointArn) != govRP {
		t.Errorf("held recovery points = %+v", held.RecoveryPoints)
	}
	must[*backup.CancelLegalHoldOutput](t)(src.Backup.CancelLegalHold(ctx, &backup.CancelLegalHoldInput{LegalHoldId: hold.LegalHoldId, CancelDescription: aws.String("settled")}))
	for what, err := range map[string]error{
		"DeleteRecoveryPoint":                del(src.Backup, "governance", govRP),
		"DeleteBackupVaultLockConfiguration": unlock(src.Backup, "governance"),
		"DeleteBackupVault":                  dropVault(src.Backup, "governance"),
	} {
		if err != nil {
			t.Errorf("governance lock, administrator %s: %v", what, err)
		}
	}
	// Past its retention, the compliance vault's recovery point goes.
	clock.Set(clock.Now().Add(7 * 24 * time.Hour))
	if err := del(src.Backup, "compliance", compRP); err != nil {
		t.Errorf("deleting a recovery point whose retention ended: %v", err)
	}
}
