package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/backup"
	backuptypes "github.com/aws/aws-sdk-go-v2/service/backup/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/rds"

	"github.com/coffer-dev/coffer/internal/scenario"
)

// TestUnencryptedIntoAWSBackupVaults is issue 12 item 0 as a new user
// meets it: unencrypted instances (SQLite, and PostgreSQL without
// --storage-encrypted) backed up by a role allowed "*" into the Default
// vault, copied within the account into another aws/backup vault, and
// restored. The aws/backup key admits Backup's calls only with
// kms:ViaService backup.REGION.amazonaws.com.
func TestUnencryptedIntoAWSBackupVaults(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, nil)
	a := w.src
	role := aws.ToString(must[*iam.CreateRoleOutput](t)(a.IAM.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("backup-role"),
		AssumeRolePolicyDocument: aws.String(scenario.TrustBackup)})).Role.Arn)
	must[*iam.PutRolePolicyOutput](t)(a.IAM.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("backup-role"), PolicyName: aws.String("all"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`)}))
	copyVault := a.vault(t, "managed-copies", "") // no key: aws/backup
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			id := "plain-" + engine
			in := &rds.CreateDBInstanceInput{DBInstanceIdentifier: aws.String(id), Engine: aws.String(engine), DBInstanceClass: aws.String("db.t3.micro"), AllocatedStorage: aws.Int32(20)}
			if engine == "postgres" {
				in.DBName, in.MasterUsername, in.MasterUserPassword = aws.String("shop"), aws.String("owner"), aws.String("s3cret-pass")
			}
			must[*rds.CreateDBInstanceOutput](t)(a.RDS.CreateDBInstance(ctx, in))
			db := a.waitDB(t, id)
			db.User, db.Password = "owner", "s3cret-pass"
			conn := must[*sql.DB](t)(db.Open())
			if err := scenario.FillOrders(conn, 25); err != nil {
				t.Fatal(err)
			}
			conn.Close()
			wantN, wantSum := count(t, db)

			bj := a.backupJob(t, "Default", db.ARN, role)
			if bj.State != backuptypes.BackupJobStateCompleted {
				t.Fatalf("backup into Default: %s %s", bj.State, aws.ToString(bj.StatusMessage))
			}
			cj := a.copyJob(t, aws.ToString(bj.RecoveryPointArn), "Default", copyVault, role)
			if cj.State != backuptypes.CopyJobStateCompleted {
				t.Fatalf("copy into an aws/backup vault: %s %s", cj.State, aws.ToString(cj.StatusMessage))
			}
			for i, rp := range []string{aws.ToString(bj.RecoveryPointArn), aws.ToString(cj.DestinationRecoveryPointArn)} {
				target := fmt.Sprintf("%s-restored-%d", id, i)
				md := map[string]string{"DBInstanceIdentifier": target}
				if engine == "postgres" {
					md["MasterUserPassword"] = "r3stored-pass"
				}
				rj := a.restoreJob(t, rp, role, md)
				if rj.Status != backuptypes.RestoreJobStatusCompleted {
					t.Fatalf("restore of %s: %s %s", rp, rj.Status, aws.ToString(rj.StatusMessage))
				}
				restored := a.waitDB(t, target)
				if engine == "postgres" {
					restored.Password = "r3stored-pass"
				}
				if n, sum := count(t, restored); n != wantN || sum != wantSum {
					t.Errorf("restored %s has %d orders summing %d, want %d and %d", target, n, sum, wantN, wantSum)
				}
			}
			rps := must[*backup.ListRecoveryPointsByResourceOutput](t)(a.Backup.ListRecoveryPointsByResource(ctx, &backup.ListRecoveryPointsByResourceInput{ResourceArn: aws.String(db.ARN)}))
			if len(rps.RecoveryPoints) != 2 {
				t.Errorf("%d recovery points of %s, want 2", len(rps.RecoveryPoints), db.ARN)
			}
		})
	}
}
