package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/backup"
	backuptypes "github.com/aws/aws-sdk-go-v2/service/backup/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/rds"
)

// copySetup is the seed up to the first copy: a completed backup in the
// source account and a vault in the backup account; each rule test
// removes one precondition.
type copySetup struct {
	crossAccount bool   // the management account enabled cross-account backup
	dbKey        string // "" for the aws/rds key
	shareKey     bool   // the source key policy lets the backup account use it
	iamPolicy    bool   // the backup account's role may use the source key
	vaultPolicy  bool   // the destination vault admits the organization
	destAccount  *account
	destVault    string // "" creates "backup-vault"
	destAWSKey   bool   // the created "backup-vault" is under aws/backup, not the backup account's CMK
	sourceVault  string // "" creates "source-vault"
}

func TestCopyRules(t *testing.T) {
	full := copySetup{crossAccount: true, dbKey: "alias/source-cmk", shareKey: true, iamPolicy: true, vaultPolicy: true}
	tests := []struct {
		name   string
		change func(*copySetup, *world)
		want   string // in the FAILED job's StatusMessage; "" expects COMPLETED
	}{
		{"all preconditions", func(*copySetup, *world) {}, ""},
		{"cross-account backup not enabled", func(s *copySetup, _ *world) { s.crossAccount = false }, "isCrossAccountBackupEnabled"},
		{"another organization", func(s *copySetup, w *world) { s.destAccount = w.out }, "not in the same organization"},
		{"AWS managed key", func(s *copySetup, _ *world) { s.dbKey = "" }, "AWS managed key"},
		{"Default vault as destination", func(s *copySetup, _ *world) { s.destVault = "Default" }, "Default vault"},
		{"Default vault as source", func(s *copySetup, _ *world) { s.sourceVault = "Default" }, "Default vault"},
		{"destination vault under aws/backup", func(s *copySetup, _ *world) { s.destAWSKey = true }, "cross-account copies need vaults encrypted with customer managed keys"},
		{"vault policy missing", func(s *copySetup, _ *world) { s.vaultPolicy = false }, "backup:CopyIntoBackupVault"},
		{"key policy does not share the key", func(s *copySetup, _ *world) { s.shareKey = false }, "kms:"},
		{"destination IAM policy missing", func(s *copySetup, _ *world) { s.iamPolicy = false }, "kms:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, nil)
			s := full
			s.destAccount = w.dst
			tt.change(&s, w)
			job, sourceRP := runCopy(t, w, s)
			if tt.want == "" {
				if job.State != backuptypes.CopyJobStateCompleted {
					t.Fatalf("copy %s: %s", job.State, aws.ToString(job.StatusMessage))
				}
				return
			}
			if job.State != backuptypes.CopyJobStateFailed || !strings.Contains(aws.ToString(job.StatusMessage), tt.want) {
				t.Fatalf("copy %s: %q; want FAILED mentioning %q", job.State, aws.ToString(job.StatusMessage), tt.want)
			}
			// A failed copy leaves nothing in the destination and never
			// touches the source recovery point.
			out, err := s.destAccount.Backup.ListRecoveryPointsByBackupVault(context.Background(), &backup.ListRecoveryPointsByBackupVaultInput{BackupVaultName: aws.String(nonEmpty(s.destVault, "backup-vault"))})
			if err == nil && len(out.RecoveryPoints) > 0 && s.destAccount != w.src {
				t.Errorf("the failed copy left %d recovery points in the destination", len(out.RecoveryPoints))
			}
			rp := must[*backup.DescribeRecoveryPointOutput](t)(w.src.Backup.DescribeRecoveryPoint(context.Background(), &backup.DescribeRecoveryPointInput{
				BackupVaultName: aws.String(nonEmpty(s.sourceVault, "source-vault")), RecoveryPointArn: aws.String(sourceRP)}))
			if rp.Status != backuptypes.RecoveryPointStatusCompleted {
				t.Errorf("source recovery point is %s after the failed copy", rp.Status)
			}
		})
	}
}

func nonEmpty(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func runCopy(t *testing.T, w *world, s copySetup) (*backuptypes.CopyJob, string) {
	dst := s.destAccount
	if s.crossAccount {
		w.enableCrossAccount(t)
	}
	shared := []string{}
	if s.shareKey {
		shared = append(shared, dst.id)
	}
	srcKey := w.src.createKey(t, "source-cmk", sharedKeyPolicy(source, shared...))
	key := s.dbKey
	db := w.src.createDB(t, "orders-db", key, 50)
	role := w.src.backupRole(t, "backup-role")
	srcVault := s.sourceVault
	if srcVault == "" {
		srcVault = "source-vault"
		w.src.vault(t, srcVault, srcKey)
	}
	job := w.src.backupJob(t, srcVault, db, role)
	if job.State != backuptypes.BackupJobStateCompleted {
		t.Fatalf("backup %s: %s", job.State, aws.ToString(job.StatusMessage))
	}
	dstKey := dst.createKey(t, "backup-cmk", sharedKeyPolicy(dst.id))
	dst.backupRole(t, "AWSBackupDefaultServiceRole")
	if s.iamPolicy {
		dst.allowKeyUse(t, "AWSBackupDefaultServiceRole", srcKey)
	}
	destVault := s.destVault
	var destARN string
	if destVault == "" {
		destVault = "backup-vault"
		vaultKey := dstKey
		if s.destAWSKey {
			vaultKey = ""
		}
		destARN = dst.vault(t, destVault, vaultKey)
	} else {
		destARN = aws.ToString(must[*backup.DescribeBackupVaultOutput](t)(dst.Backup.DescribeBackupVault(context.Background(), &backup.DescribeBackupVaultInput{BackupVaultName: aws.String(destVault)})).BackupVaultArn)
	}
	if s.vaultPolicy {
		dst.allowOrgCopies(t, destVault, w.orgIDOf(t, dst))
	}
	rp := aws.ToString(job.RecoveryPointArn)
	return w.src.copyJob(t, rp, srcVault, destARN, role), rp
}

// orgIDOf is the organization of an account's administrator, for the
// vault policy (the outsider's own organization in that test).
func (w *world) orgIDOf(t *testing.T, a *account) string {
	if a == w.out {
		return "o-doesnotmatter"
	}
	return w.orgID(t)
}

// StartBackupJob needs iam:PassRole on the job's role.
func TestStartBackupJobNeedsPassRole(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, nil)
	key := w.src.createKey(t, "source-cmk", sharedKeyPolicy(source))
	db := w.src.createDB(t, "orders-db", key, 5)
	role := w.src.backupRole(t, "backup-role")
	w.src.vault(t, "source-vault", key)
	// A user whose policy allows every backup action but not iam:PassRole.
	must[*iam.CreateUserOutput](t)(w.src.IAM.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("operator")}))
	must[*iam.PutUserPolicyOutput](t)(w.src.IAM.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("operator"), PolicyName: aws.String("backup"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"backup:*","Resource":"*"}]}`)}))
	keys := must[*iam.CreateAccessKeyOutput](t)(w.src.IAM.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("operator")}))
	op := backup.NewFromConfig(w.c.AWSConfig(t, awsCreds(keys)))
	_, err := op.StartBackupJob(ctx, &backup.StartBackupJobInput{BackupVaultName: aws.String("source-vault"), ResourceArn: aws.String(db), IamRoleArn: aws.String(role)})
	if errCode(err) != "AccessDeniedException" || !strings.Contains(err.Error(), "iam:PassRole") {
		t.Fatalf("StartBackupJob without iam:PassRole: %v", err)
	}
}

func TestBadInput(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, nil)
	key := w.src.createKey(t, "source-cmk", sharedKeyPolicy(source))
	db := w.src.createDB(t, "orders-db", key, 5)
	role := w.src.backupRole(t, "backup-role")
	w.src.vault(t, "source-vault", key)
	otherRole := w.dst.backupRole(t, "backup-role")
	tests := []struct {
		name string
		call func() error
		code string
		msg  string
	}{
		{"unknown vault", func() error {
			return second(w.src.Backup.StartBackupJob(ctx, &backup.StartBackupJobInput{BackupVaultName: aws.String("nope"), ResourceArn: aws.String(db), IamRoleArn: aws.String(role)}))
		}, "ResourceNotFoundException", "nope"},
		{"other partition", func() error {
			return second(w.src.Backup.StartBackupJob(ctx, &backup.StartBackupJobInput{BackupVaultName: aws.String("source-vault"), ResourceArn: aws.String(strings.Replace(db, "arn:aws:", "arn:aws-cn:", 1)), IamRoleArn: aws.String(role)}))
		}, "InvalidParameterValueException", "partition"},
		{"malformed resource ARN", func() error {
			return second(w.src.Backup.StartBackupJob(ctx, &backup.StartBackupJobInput{BackupVaultName: aws.String("source-vault"), ResourceArn: aws.String("orders-db"), IamRoleArn: aws.String(role)}))
		}, "InvalidParameterValueException", "not a valid ARN"},
		{"unsupported resource type", func() error {
			return second(w.src.Backup.StartBackupJob(ctx, &backup.StartBackupJobInput{BackupVaultName: aws.String("source-vault"), ResourceArn: aws.String("arn:aws:dynamodb:us-east-1:111222333444:table/t"), IamRoleArn: aws.String(role)}))
		}, "InvalidParameterValueException", "RDS"},
		{"role of another account", func() error {
			return second(w.src.Backup.StartBackupJob(ctx, &backup.StartBackupJobInput{BackupVaultName: aws.String("source-vault"), ResourceArn: aws.String(db), IamRoleArn: aws.String(otherRole)}))
		}, "InvalidParameterValueException", "666777888999"},
		{"lifecycle +90 rule", func() error {
			return second(w.src.Backup.StartBackupJob(ctx, &backup.StartBackupJobInput{BackupVaultName: aws.String("source-vault"), ResourceArn: aws.String(db), IamRoleArn: aws.String(role),
				Lifecycle: &backuptypes.Lifecycle{MoveToColdStorageAfterDays: aws.Int64(30), DeleteAfterDays: aws.Int64(60)}}))
		}, "InvalidParameterValueException", "90"},
		{"bad vault name", func() error {
			return second(w.src.Backup.CreateBackupVault(ctx, &backup.CreateBackupVaultInput{BackupVaultName: aws.String("a")}))
		}, "InvalidParameterValueException", "2 to 50"},
		{"vault key that does not exist", func() error {
			return second(w.src.Backup.CreateBackupVault(ctx, &backup.CreateBackupVaultInput{BackupVaultName: aws.String("keyless"),
				EncryptionKeyArn: aws.String("arn:aws:kms:us-east-1:111222333444:key/00000000-0000-0000-0000-000000000000")}))
		}, "InvalidParameterValueException", "00000000-0000-0000-0000-000000000000"},
		{"vault key alias that does not exist", func() error {
			return second(w.src.Backup.CreateBackupVault(ctx, &backup.CreateBackupVaultInput{BackupVaultName: aws.String("keyless"), EncryptionKeyArn: aws.String("alias/nope")}))
		}, "InvalidParameterValueException", "alias/nope"},
		{"duplicate vault", func() error {
			return second(w.src.Backup.CreateBackupVault(ctx, &backup.CreateBackupVaultInput{BackupVaultName: aws.String("source-vault")}))
		}, "AlreadyExistsException", "source-vault"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if errCode(err) != tt.code || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err = %v; want %s mentioning %q", err, tt.code, tt.msg)
			}
		})
	}

	// A vault with a recovery point cannot be deleted.
	job := w.src.backupJob(t, "source-vault", db, role)
	if job.State != backuptypes.BackupJobStateCompleted {
		t.Fatalf("backup %s: %s", job.State, aws.ToString(job.StatusMessage))
	}
	if _, err := w.src.Backup.DeleteBackupVault(ctx, &backup.DeleteBackupVaultInput{BackupVaultName: aws.String("source-vault")}); errCode(err) != "InvalidRequestException" {
		t.Fatalf("deleting a non-empty vault: %v", err)
	}
	_, err := w.src.Backup.StartRestoreJob(ctx, &backup.StartRestoreJobInput{RecoveryPointArn: job.RecoveryPointArn, IamRoleArn: aws.String(role), Metadata: map[string]string{"KmsKeyId": key}})
	if errCode(err) != "InvalidParameterValueException" || !strings.Contains(err.Error(), "DBInstanceIdentifier") {
		t.Fatalf("restore without DBInstanceIdentifier: %v", err)
	}
	_, err = w.src.Backup.StartCopyJob(ctx, &backup.StartCopyJobInput{RecoveryPointArn: job.RecoveryPointArn, SourceBackupVaultName: aws.String("source-vault"),
		DestinationBackupVaultArn: aws.String("arn:aws:backup:us-east-1:111222333444:backup-vault:source-vault"), IamRoleArn: aws.String(role)})
	if errCode(err) != "InvalidParameterValueException" || !strings.Contains(err.Error(), "same") && !strings.Contains(err.Error(), "source vault") {
		t.Fatalf("copy into the same vault: %v", err)
	}
}

// A restore with a key the restoring account may not use fails, and
// leaves no instance behind that claims to be available.
func TestRestoreWithForbiddenKey(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, nil)
	key := w.src.createKey(t, "source-cmk", sharedKeyPolicy(source))
	private := w.dst.createKey(t, "private-cmk", sharedKeyPolicy(backupAcct))
	db := w.src.createDB(t, "orders-db", key, 20)
	role := w.src.backupRole(t, "backup-role")
	w.src.vault(t, "source-vault", key)
	job := w.src.backupJob(t, "source-vault", db, role)
	if job.State != backuptypes.BackupJobStateCompleted {
		t.Fatalf("backup %s: %s", job.State, aws.ToString(job.StatusMessage))
	}
	rj := w.src.restoreJob(t, aws.ToString(job.RecoveryPointArn), role, map[string]string{"DBInstanceIdentifier": "stolen", "KmsKeyId": private})
	if rj.Status != backuptypes.RestoreJobStatusFailed || !strings.Contains(aws.ToString(rj.StatusMessage), "kms:") {
		t.Fatalf("restore with another account's unshared key: %s %q", rj.Status, aws.ToString(rj.StatusMessage))
	}
	if out, err := w.src.RDS.DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String("stolen")}); err == nil && aws.ToString(out.DBInstances[0].DBInstanceStatus) == "available" {
		t.Fatal("the failed restore left an available instance")
	}
}
