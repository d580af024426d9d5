package e2e

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/backup"
	backuptypes "github.com/aws/aws-sdk-go-v2/service/backup/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/smithy-go"
	_ "modernc.org/sqlite"

	"github.com/coffer-dev/coffer/internal/config"
	"github.com/coffer-dev/coffer/internal/testenv"
)

// The seed's accounts.
const (
	management = "123456789012"
	source     = "111222333444"
	backupAcct = "666777888999"
	outsider   = "999988887777"
	region     = "us-east-1"
)

const bootstrapYAML = `
organizations:
  - managementAccount: "123456789012"
    members: ["111222333444", "666777888999"]
  - managementAccount: "999988887777"
accounts:
  - {id: "123456789012", name: management}
  - {id: "111222333444", name: source}
  - {id: "666777888999", name: backup}
  - {id: "999988887777", name: outsider}
users:
  - {account: "123456789012", name: admin, profile: default}
  - {account: "111222333444", name: admin, profile: source}
  - {account: "666777888999", name: admin, profile: backup}
  - {account: "999988887777", name: admin, profile: outsider}
`

// account is one account's SDK clients.
type account struct {
	id     string
	backup *backup.Client
	kms    *kms.Client
	rds    *rds.Client
	iam    *iam.Client
	orgs   *organizations.Client
}

// world is a running coffer with the seed's organization.
type world struct {
	t                   *testing.T
	c                   *testenv.Coffer
	mgmt, src, dst, out *account
}

func newWorld(t *testing.T, mutate func(*config.Config)) *world {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bootstrap.yaml")
	if err := os.WriteFile(path, []byte(bootstrapYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	c := testenv.StartCoffer(t, func(cfg *config.Config) {
		cfg.Bootstrap = path
		if mutate != nil {
			mutate(cfg)
		}
	})
	w := &world{t: t, c: c}
	mk := func(id, profile string) *account {
		cfg := c.AWSConfig(t, c.Profile(t, profile))
		return &account{id: id, backup: backup.NewFromConfig(cfg), kms: kms.NewFromConfig(cfg), rds: rds.NewFromConfig(cfg), iam: iam.NewFromConfig(cfg), orgs: organizations.NewFromConfig(cfg)}
	}
	w.mgmt, w.src, w.dst, w.out = mk(management, "default"), mk(source, "source"), mk(backupAcct, "backup"), mk(outsider, "outsider")
	return w
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func errCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// sharedKeyPolicy lets the account administer its key and lets the
// other accounts use it, as the seed's step 4 does in the console.
func sharedKeyPolicy(owner string, accounts ...string) string {
	var roots []string
	for _, a := range accounts {
		roots = append(roots, "arn:aws:iam::"+a+":root")
	}
	return sharedKeyPolicyFor(owner, roots...)
}

// sharedKeyPolicyFor lets the given principals use the owner's key.
func sharedKeyPolicyFor(owner string, users ...string) string {
	var principals []string
	for _, u := range users {
		principals = append(principals, fmt.Sprintf("%q", u))
	}
	use := ""
	if len(principals) > 0 {
		use = fmt.Sprintf(`,{"Sid":"Allow use of the key","Effect":"Allow","Principal":{"AWS":[%s]},
			"Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey"],"Resource":"*"},
			{"Sid":"Allow attachment of persistent resources","Effect":"Allow","Principal":{"AWS":[%s]},
			"Action":["kms:CreateGrant","kms:ListGrants","kms:RevokeGrant"],"Resource":"*","Condition":{"Bool":{"kms:GrantIsForAWSResource":"true"}}}`,
			strings.Join(principals, ","), strings.Join(principals, ","))
	}
	return fmt.Sprintf(`{"Version":"2012-10-17","Id":"key-consolepolicy-3","Statement":[
		{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:root"},"Action":"kms:*","Resource":"*"}%s]}`, owner, use)
}

// createKey makes a symmetric customer managed key with an alias.
func (a *account) createKey(t *testing.T, alias, policy string) string {
	ctx := context.Background()
	out := must[*kms.CreateKeyOutput](t)(a.kms.CreateKey(ctx, &kms.CreateKeyInput{Policy: aws.String(policy), Description: aws.String(alias)}))
	must[*kms.CreateAliasOutput](t)(a.kms.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/" + alias), TargetKeyId: out.KeyMetadata.KeyId}))
	return aws.ToString(out.KeyMetadata.Arn)
}

const trustBackup = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"backup.amazonaws.com"},"Action":"sts:AssumeRole"}]}`

// backupRole creates a role for jobs with AWS's backup and restore
// policies, as the AWSBackupDefaultServiceRole AWS creates.
func (a *account) backupRole(t *testing.T, name string) string {
	ctx := context.Background()
	r := must[*iam.CreateRoleOutput](t)(a.iam.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(name), Path: aws.String("/service-role/"), AssumeRolePolicyDocument: aws.String(trustBackup)}))
	for _, p := range []string{"AWSBackupServiceRolePolicyForBackup", "AWSBackupServiceRolePolicyForRestores"} {
		must[*iam.AttachRolePolicyOutput](t)(a.iam.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String(name), PolicyArn: aws.String("arn:aws:iam::aws:policy/service-role/" + p)}))
	}
	return aws.ToString(r.Role.Arn)
}

// createDB creates an encrypted SQLite instance, waits until it is
// available, and fills it with rows; it returns the instance ARN.
func (a *account) createDB(t *testing.T, id, keyID string, rows int) string {
	ctx := context.Background()
	in := &rds.CreateDBInstanceInput{DBInstanceIdentifier: aws.String(id), Engine: aws.String("sqlite"), DBInstanceClass: aws.String("db.t3.micro"),
		AllocatedStorage: aws.Int32(20), StorageEncrypted: aws.Bool(true)}
	if keyID != "" {
		in.KmsKeyId = aws.String(keyID)
	}
	out := must[*rds.CreateDBInstanceOutput](t)(a.rds.CreateDBInstance(ctx, in))
	inst := a.waitDB(t, id)
	db, err := sql.Open("sqlite", aws.ToString(inst.Endpoint.Address))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT NOT NULL, amount NUMERIC NOT NULL, note TEXT)`); err != nil {
		t.Fatal(err)
	}
	tx, _ := db.Begin()
	for i := 0; i < rows; i++ {
		if _, err := tx.Exec(`INSERT INTO orders (customer, amount, note) VALUES (?, ?, ?)`, fmt.Sprintf("customer-%d", i%97), i*7%1000, strings.Repeat("ü", i%50)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.DBInstance.DBInstanceArn)
}

func (a *account) waitDB(t *testing.T, id string) *rdsInstance {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		out := must[*rds.DescribeDBInstancesOutput](t)(a.rds.DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String(id)}))
		inst := out.DBInstances[0]
		switch aws.ToString(inst.DBInstanceStatus) {
		case "available":
			return &rdsInstance{Endpoint: struct{ Address *string }{inst.Endpoint.Address}, ARN: aws.ToString(inst.DBInstanceArn), KeyID: aws.ToString(inst.KmsKeyId)}
		case "failed":
			t.Fatalf("DB instance %s failed", id)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("DB instance %s did not become available", id)
	return nil
}

type rdsInstance struct {
	Endpoint struct{ Address *string }
	ARN      string
	KeyID    string
}

// count reads the number and sum of the orders in a SQLite instance.
func count(t *testing.T, path string) (n int, sum int64) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.QueryRow(`SELECT COUNT(*), COALESCE(SUM(amount), 0) FROM orders`).Scan(&n, &sum); err != nil {
		t.Fatal(err)
	}
	return n, sum
}

func (a *account) vault(t *testing.T, name, keyARN string) string {
	in := &backup.CreateBackupVaultInput{BackupVaultName: aws.String(name)}
	if keyARN != "" {
		in.EncryptionKeyArn = aws.String(keyARN)
	}
	return aws.ToString(must[*backup.CreateBackupVaultOutput](t)(a.backup.CreateBackupVault(context.Background(), in)).BackupVaultArn)
}

// allowOrgCopies puts the seed's vault access policy: any principal of
// the organization may copy into the vault.
func (a *account) allowOrgCopies(t *testing.T, vault, orgID string) {
	doc := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Sid":"Allow org to copy into vault","Effect":"Allow","Principal":"*",
		"Action":"backup:CopyIntoBackupVault","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalOrgID":%q}}}]}`, orgID)
	must[*backup.PutBackupVaultAccessPolicyOutput](t)(a.backup.PutBackupVaultAccessPolicy(context.Background(), &backup.PutBackupVaultAccessPolicyInput{BackupVaultName: aws.String(vault), Policy: aws.String(doc)}))
}

func (a *account) backupJob(t *testing.T, vault, resource, role string) *backup.DescribeBackupJobOutput {
	ctx := context.Background()
	start := must[*backup.StartBackupJobOutput](t)(a.backup.StartBackupJob(ctx, &backup.StartBackupJobInput{BackupVaultName: aws.String(vault), ResourceArn: aws.String(resource), IamRoleArn: aws.String(role)}))
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		j := must[*backup.DescribeBackupJobOutput](t)(a.backup.DescribeBackupJob(ctx, &backup.DescribeBackupJobInput{BackupJobId: start.BackupJobId}))
		if j.State == backuptypes.BackupJobStateCompleted || j.State == backuptypes.BackupJobStateFailed || j.State == backuptypes.BackupJobStateAborted || j.State == backuptypes.BackupJobStateExpired {
			return j
		}
	}
	t.Fatal("backup job did not finish")
	return nil
}

func (a *account) copyJob(t *testing.T, rp, vault, dest, role string) *backuptypes.CopyJob {
	ctx := context.Background()
	start := must[*backup.StartCopyJobOutput](t)(a.backup.StartCopyJob(ctx, &backup.StartCopyJobInput{RecoveryPointArn: aws.String(rp), SourceBackupVaultName: aws.String(vault),
		DestinationBackupVaultArn: aws.String(dest), IamRoleArn: aws.String(role)}))
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		j := must[*backup.DescribeCopyJobOutput](t)(a.backup.DescribeCopyJob(ctx, &backup.DescribeCopyJobInput{CopyJobId: start.CopyJobId})).CopyJob
		if j.State == backuptypes.CopyJobStateCompleted || j.State == backuptypes.CopyJobStateFailed {
			return j
		}
	}
	t.Fatal("copy job did not finish")
	return nil
}

func (a *account) restoreJob(t *testing.T, rp, role string, md map[string]string) *backup.DescribeRestoreJobOutput {
	ctx := context.Background()
	start := must[*backup.StartRestoreJobOutput](t)(a.backup.StartRestoreJob(ctx, &backup.StartRestoreJobInput{RecoveryPointArn: aws.String(rp), IamRoleArn: aws.String(role), Metadata: md}))
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		j := must[*backup.DescribeRestoreJobOutput](t)(a.backup.DescribeRestoreJob(ctx, &backup.DescribeRestoreJobInput{RestoreJobId: start.RestoreJobId}))
		if j.Status == backuptypes.RestoreJobStatusCompleted || j.Status == backuptypes.RestoreJobStatusFailed || j.Status == backuptypes.RestoreJobStatusAborted {
			return j
		}
	}
	t.Fatal("restore job did not finish")
	return nil
}

func (w *world) orgID(t *testing.T) string {
	return aws.ToString(must[*organizations.DescribeOrganizationOutput](t)(w.mgmt.orgs.DescribeOrganization(context.Background(), &organizations.DescribeOrganizationInput{})).Organization.Id)
}

func (w *world) enableCrossAccount(t *testing.T) {
	must[*backup.UpdateGlobalSettingsOutput](t)(w.mgmt.backup.UpdateGlobalSettings(context.Background(), &backup.UpdateGlobalSettingsInput{GlobalSettings: map[string]string{"isCrossAccountBackupEnabled": "true"}}))
}

// allowKeyUse is the seed's "Add IAM policy" step: the backup account's
// backup service role may use the source key.
func (a *account) allowKeyUse(t *testing.T, role, keyARN string) {
	doc := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Sid":"AllowUseOfSourceKey","Effect":"Allow",
		"Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey","kms:CreateGrant"],"Resource":%q}]}`, keyARN)
	must[*iam.PutRolePolicyOutput](t)(a.iam.PutRolePolicy(context.Background(), &iam.PutRolePolicyInput{RoleName: aws.String(role), PolicyName: aws.String("source-key"), PolicyDocument: aws.String(doc)}))
}

func awsCreds(k *iam.CreateAccessKeyOutput) aws.Credentials {
	return aws.Credentials{AccessKeyID: aws.ToString(k.AccessKey.AccessKeyId), SecretAccessKey: aws.ToString(k.AccessKey.SecretAccessKey)}
}
