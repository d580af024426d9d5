// Package scenario holds the steps of the seed's cross-account backup
// walkthrough as calls through the AWS SDK for Go v2: create keys,
// databases, roles and vaults, run backup, copy and restore jobs to their
// end. `coffer demo` runs them in order and the end-to-end tests run them
// with one precondition missing at a time.
package scenario

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/backup"
	backuptypes "github.com/aws/aws-sdk-go-v2/service/backup/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/smithy-go"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"
)

// Account is one account's clients.
type Account struct {
	ID     string
	Backup *backup.Client
	KMS    *kms.Client
	RDS    *rds.Client
	IAM    *iam.Client
	Orgs   *organizations.Client
	// Poll is how often job and instance states are read (default 100ms).
	Poll time.Duration
	// Timeout bounds each wait (default 10 minutes).
	Timeout time.Duration
}

// NewAccount returns the clients of an account's credentials.
func NewAccount(id string, cfg aws.Config) *Account {
	return &Account{ID: id, Backup: backup.NewFromConfig(cfg), KMS: kms.NewFromConfig(cfg), RDS: rds.NewFromConfig(cfg),
		IAM: iam.NewFromConfig(cfg), Orgs: organizations.NewFromConfig(cfg), Poll: 100 * time.Millisecond, Timeout: 10 * time.Minute}
}

// ErrorCode is the AWS error code of err, or "".
func ErrorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// KeyPolicy lets the owner account administer its key and the given
// accounts use it, as the console's "Other AWS accounts" step does.
func KeyPolicy(owner string, accounts ...string) string {
	var roots []string
	for _, a := range accounts {
		roots = append(roots, "arn:aws:iam::"+a+":root")
	}
	return KeyPolicyFor(owner, roots...)
}

// KeyPolicyFor lets the owner administer its key and the given principals
// use it.
func KeyPolicyFor(owner string, principals ...string) string {
	var quoted []string
	for _, p := range principals {
		quoted = append(quoted, fmt.Sprintf("%q", p))
	}
	use := ""
	if len(quoted) > 0 {
		list := strings.Join(quoted, ",")
		use = fmt.Sprintf(`,{"Sid":"Allow use of the key","Effect":"Allow","Principal":{"AWS":[%s]},
			"Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey"],"Resource":"*"},
			{"Sid":"Allow attachment of persistent resources","Effect":"Allow","Principal":{"AWS":[%s]},
			"Action":["kms:CreateGrant","kms:ListGrants","kms:RevokeGrant"],"Resource":"*","Condition":{"Bool":{"kms:GrantIsForAWSResource":"true"}}}`, list, list)
	}
	return fmt.Sprintf(`{"Version":"2012-10-17","Id":"key-consolepolicy-3","Statement":[
		{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:root"},"Action":"kms:*","Resource":"*"}%s]}`, owner, use)
}

// CreateKey makes a symmetric customer managed key with an alias.
func (a *Account) CreateKey(ctx context.Context, alias, policy string) (string, error) {
	out, err := a.KMS.CreateKey(ctx, &kms.CreateKeyInput{Policy: aws.String(policy), Description: aws.String(alias)})
	if err != nil {
		return "", fmt.Errorf("create key %s: %w", alias, err)
	}
	if _, err := a.KMS.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/" + alias), TargetKeyId: out.KeyMetadata.KeyId}); err != nil {
		return "", fmt.Errorf("create alias %s: %w", alias, err)
	}
	return aws.ToString(out.KeyMetadata.Arn), nil
}

// TrustBackup is the trust policy of a role the backup service assumes.
const TrustBackup = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"backup.amazonaws.com"},"Action":"sts:AssumeRole"}]}`

// BackupRole creates a role for jobs with AWS's backup and restore
// policies, as the AWSBackupDefaultServiceRole AWS creates.
func (a *Account) BackupRole(ctx context.Context, name string) (string, error) {
	r, err := a.IAM.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(name), Path: aws.String("/service-role/"), AssumeRolePolicyDocument: aws.String(TrustBackup)})
	if err != nil {
		return "", fmt.Errorf("create role %s: %w", name, err)
	}
	for _, p := range []string{"AWSBackupServiceRolePolicyForBackup", "AWSBackupServiceRolePolicyForRestores"} {
		if _, err := a.IAM.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String(name), PolicyArn: aws.String("arn:aws:iam::aws:policy/service-role/" + p)}); err != nil {
			return "", fmt.Errorf("attach %s to %s: %w", p, name, err)
		}
	}
	return aws.ToString(r.Role.Arn), nil
}

// AllowKeyUse is the seed's "Add IAM policy" step: the role may use a
// key another account shares.
func (a *Account) AllowKeyUse(ctx context.Context, role, keyARN string) error {
	doc := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Sid":"AllowUseOfSharedKey","Effect":"Allow",
		"Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey","kms:CreateGrant"],"Resource":%q}]}`, keyARN)
	_, err := a.IAM.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(role), PolicyName: aws.String("shared-key"), PolicyDocument: aws.String(doc)})
	return err
}

// Vault creates a backup vault encrypted with keyARN ("" for aws/backup).
func (a *Account) Vault(ctx context.Context, name, keyARN string) (string, error) {
	in := &backup.CreateBackupVaultInput{BackupVaultName: aws.String(name)}
	if keyARN != "" {
		in.EncryptionKeyArn = aws.String(keyARN)
	}
	out, err := a.Backup.CreateBackupVault(ctx, in)
	if err != nil {
		return "", fmt.Errorf("create vault %s: %w", name, err)
	}
	return aws.ToString(out.BackupVaultArn), nil
}

// AllowOrgCopies puts the seed's vault access policy: any principal of
// the organization may copy into the vault.
func (a *Account) AllowOrgCopies(ctx context.Context, vault, orgID string) error {
	doc := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Sid":"Allow org to copy into vault","Effect":"Allow","Principal":"*",
		"Action":"backup:CopyIntoBackupVault","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalOrgID":%q}}}]}`, orgID)
	_, err := a.Backup.PutBackupVaultAccessPolicy(ctx, &backup.PutBackupVaultAccessPolicyInput{BackupVaultName: aws.String(vault), Policy: aws.String(doc)})
	return err
}

// OrgID is the organization of the account's caller.
func (a *Account) OrgID(ctx context.Context) (string, error) {
	out, err := a.Orgs.DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{})
	if err != nil {
		return "", err
	}
	return aws.ToString(out.Organization.Id), nil
}

// EnableCrossAccountBackup is the management account's opt-in.
func (a *Account) EnableCrossAccountBackup(ctx context.Context) error {
	_, err := a.Backup.UpdateGlobalSettings(ctx, &backup.UpdateGlobalSettingsInput{GlobalSettings: map[string]string{"isCrossAccountBackupEnabled": "true"}})
	return err
}

// wait polls get until done reports true.
func (a *Account) wait(ctx context.Context, what string, get func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, a.Timeout)
	defer cancel()
	for {
		done, err := get()
		if err != nil || done {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s did not finish within %s", what, a.Timeout)
		case <-time.After(a.Poll):
		}
	}
}

// BackupJob runs an on-demand backup to its end.
func (a *Account) BackupJob(ctx context.Context, vault, resource, role string) (*backup.DescribeBackupJobOutput, error) {
	start, err := a.Backup.StartBackupJob(ctx, &backup.StartBackupJobInput{BackupVaultName: aws.String(vault), ResourceArn: aws.String(resource), IamRoleArn: aws.String(role)})
	if err != nil {
		return nil, fmt.Errorf("start backup job: %w", err)
	}
	var j *backup.DescribeBackupJobOutput
	err = a.wait(ctx, "backup job", func() (bool, error) {
		j, err = a.Backup.DescribeBackupJob(ctx, &backup.DescribeBackupJobInput{BackupJobId: start.BackupJobId})
		if err != nil {
			return false, err
		}
		switch j.State {
		case backuptypes.BackupJobStateCompleted, backuptypes.BackupJobStateFailed, backuptypes.BackupJobStateAborted, backuptypes.BackupJobStateExpired:
			return true, nil
		}
		return false, nil
	})
	return j, err
}

// CopyJob runs a copy to its end.
func (a *Account) CopyJob(ctx context.Context, rp, vault, dest, role string) (*backuptypes.CopyJob, error) {
	start, err := a.Backup.StartCopyJob(ctx, &backup.StartCopyJobInput{RecoveryPointArn: aws.String(rp), SourceBackupVaultName: aws.String(vault),
		DestinationBackupVaultArn: aws.String(dest), IamRoleArn: aws.String(role)})
	if err != nil {
		return nil, fmt.Errorf("start copy job: %w", err)
	}
	var j *backuptypes.CopyJob
	err = a.wait(ctx, "copy job", func() (bool, error) {
		out, err := a.Backup.DescribeCopyJob(ctx, &backup.DescribeCopyJobInput{CopyJobId: start.CopyJobId})
		if err != nil {
			return false, err
		}
		j = out.CopyJob
		return j.State == backuptypes.CopyJobStateCompleted || j.State == backuptypes.CopyJobStateFailed, nil
	})
	return j, err
}

// RestoreJob runs a restore to its end.
func (a *Account) RestoreJob(ctx context.Context, rp, role string, md map[string]string) (*backup.DescribeRestoreJobOutput, error) {
	start, err := a.Backup.StartRestoreJob(ctx, &backup.StartRestoreJobInput{RecoveryPointArn: aws.String(rp), IamRoleArn: aws.String(role), Metadata: md})
	if err != nil {
		return nil, fmt.Errorf("start restore job: %w", err)
	}
	var j *backup.DescribeRestoreJobOutput
	err = a.wait(ctx, "restore job", func() (bool, error) {
		j, err = a.Backup.DescribeRestoreJob(ctx, &backup.DescribeRestoreJobInput{RestoreJobId: start.RestoreJobId})
		if err != nil {
			return false, err
		}
		switch j.Status {
		case backuptypes.RestoreJobStatusCompleted, backuptypes.RestoreJobStatusFailed, backuptypes.RestoreJobStatusAborted:
			return true, nil
		}
		return false, nil
	})
	return j, err
}

// DB is a DB instance as a client connects to it.
type DB struct {
	ID, ARN, Engine, KeyID string
	Address                string // host, or the file path for SQLite
	Port                   int32
	DBName, User, Password string
}

// Open connects to the instance's database.
func (d *DB) Open() (*sql.DB, error) {
	if d.Engine == "sqlite" {
		return sql.Open("sqlite", d.Address)
	}
	return sql.Open("pgx", fmt.Sprintf("postgres://%s:%s@%s:%d/%s?sslmode=disable", d.User, d.Password, d.Address, d.Port, d.DBName))
}

// DBSpec describes an instance to create.
type DBSpec struct {
	ID, Engine, KeyID      string // KeyID "" encrypts with aws/rds
	DBName, User, Password string // PostgreSQL
	// BackupRetention is BackupRetentionPeriod (nil: the API's default,
	// 1, which turns on automated backups of PostgreSQL instances).
	BackupRetention *int32
}

// CreateDB creates an encrypted instance and waits until it is available.
func (a *Account) CreateDB(ctx context.Context, spec DBSpec) (*DB, error) {
	in := &rds.CreateDBInstanceInput{DBInstanceIdentifier: aws.String(spec.ID), Engine: aws.String(spec.Engine), DBInstanceClass: aws.String("db.t3.micro"),
		AllocatedStorage: aws.Int32(20), StorageEncrypted: aws.Bool(true)}
	if spec.KeyID != "" {
		in.KmsKeyId = aws.String(spec.KeyID)
	}
	in.BackupRetentionPeriod = spec.BackupRetention
	if spec.Engine == "postgres" {
		in.DBName, in.MasterUsername, in.MasterUserPassword = aws.String(spec.DBName), aws.String(spec.User), aws.String(spec.Password)
	}
	if _, err := a.RDS.CreateDBInstance(ctx, in); err != nil {
		return nil, fmt.Errorf("create DB instance %s: %w", spec.ID, err)
	}
	db, err := a.WaitDB(ctx, spec.ID)
	if err != nil {
		return nil, err
	}
	db.Password = spec.Password
	return db, nil
}

// WaitDB waits until an instance is available and describes it.
func (a *Account) WaitDB(ctx context.Context, id string) (*DB, error) {
	var db *DB
	err := a.wait(ctx, "DB instance "+id, func() (bool, error) {
		out, err := a.RDS.DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String(id)})
		if err != nil {
			return false, err
		}
		inst := out.DBInstances[0]
		switch aws.ToString(inst.DBInstanceStatus) {
		case "available":
			db = &DB{ID: id, ARN: aws.ToString(inst.DBInstanceArn), Engine: aws.ToString(inst.Engine), KeyID: aws.ToString(inst.KmsKeyId),
				DBName: aws.ToString(inst.DBName), User: aws.ToString(inst.MasterUsername)}
			if inst.Endpoint != nil {
				db.Address, db.Port = aws.ToString(inst.Endpoint.Address), aws.ToInt32(inst.Endpoint.Port)
			}
			return true, nil
		case "failed", "inaccessible-encryption-credentials":
			return false, fmt.Errorf("DB instance %s is %s", id, aws.ToString(inst.DBInstanceStatus))
		}
		return false, nil
	})
	return db, err
}

// FillOrders creates the sample table and inserts rows.
func FillOrders(db *sql.DB, rows int) error {
	if _, err := db.Exec(`CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT NOT NULL, amount NUMERIC NOT NULL, note TEXT)`); err != nil {
		return err
	}
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for i := 1; i <= rows; i++ {
		if _, err := tx.Exec(`INSERT INTO orders (id, customer, amount, note) VALUES ($1, $2, $3, $4)`, i, fmt.Sprintf("customer-%d", i%97), i*7%1000, strings.Repeat("ü", i%50)); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// CountOrders returns how many orders there are and their total amount.
func CountOrders(db *sql.DB) (n int64, sum int64, err error) {
	err = db.QueryRow(`SELECT COUNT(*), CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM orders`).Scan(&n, &sum)
	return n, sum, err
}
