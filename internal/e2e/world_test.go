package e2e

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/backup"
	backuptypes "github.com/aws/aws-sdk-go-v2/service/backup/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/coffer-dev/coffer/internal/config"
	"github.com/coffer-dev/coffer/internal/scenario"
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
  - {account: "111222333444", root: true, profile: source-root}
  - {account: "666777888999", name: admin, profile: backup}
  - {account: "999988887777", name: admin, profile: outsider}
`

// account is one account's clients with test-failing helpers over the
// scenario's steps.
type account struct {
	*scenario.Account
	id string
	t  *testing.T
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
		return &account{Account: scenario.NewAccount(id, c.AWSConfig(t, c.Profile(t, profile))), id: id, t: t}
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

func errCode(err error) string { return scenario.ErrorCode(err) }

var (
	sharedKeyPolicy    = scenario.KeyPolicy
	sharedKeyPolicyFor = scenario.KeyPolicyFor
)

func (a *account) createKey(t *testing.T, alias, policy string) string {
	return must[string](t)(a.CreateKey(context.Background(), alias, policy))
}

func (a *account) backupRole(t *testing.T, name string) string {
	return must[string](t)(a.BackupRole(context.Background(), name))
}

// createDB creates an encrypted SQLite instance with rows in orders.
func (a *account) createDB(t *testing.T, id, keyID string, rows int) string {
	db := must[*scenario.DB](t)(a.CreateDB(context.Background(), scenario.DBSpec{ID: id, Engine: "sqlite", KeyID: keyID}))
	conn := must[*sql.DB](t)(db.Open())
	defer conn.Close()
	if err := scenario.FillOrders(conn, rows); err != nil {
		t.Fatal(err)
	}
	return db.ARN
}

func (a *account) waitDB(t *testing.T, id string) *scenario.DB {
	return must[*scenario.DB](t)(a.WaitDB(context.Background(), id))
}

// count reads the number and sum of the orders in an instance.
func count(t *testing.T, db *scenario.DB) (int64, int64) {
	t.Helper()
	conn := must[*sql.DB](t)(db.Open())
	defer conn.Close()
	n, sum, err := scenario.CountOrders(conn)
	if err != nil {
		t.Fatal(err)
	}
	return n, sum
}

func (a *account) vault(t *testing.T, name, keyARN string) string {
	return must[string](t)(a.Vault(context.Background(), name, keyARN))
}

func (a *account) allowOrgCopies(t *testing.T, vault, orgID string) {
	if err := a.AllowOrgCopies(context.Background(), vault, orgID); err != nil {
		t.Fatal(err)
	}
}

func (a *account) allowKeyUse(t *testing.T, role, keyARN string) {
	if err := a.AllowKeyUse(context.Background(), role, keyARN); err != nil {
		t.Fatal(err)
	}
}

func (a *account) backupJob(t *testing.T, vault, resource, role string) *backup.DescribeBackupJobOutput {
	return must[*backup.DescribeBackupJobOutput](t)(a.BackupJob(context.Background(), vault, resource, role))
}

func (a *account) copyJob(t *testing.T, rp, vault, dest, role string) *backuptypes.CopyJob {
	return must[*backuptypes.CopyJob](t)(a.CopyJob(context.Background(), rp, vault, dest, role))
}

func (a *account) restoreJob(t *testing.T, rp, role string, md map[string]string) *backup.DescribeRestoreJobOutput {
	return must[*backup.DescribeRestoreJobOutput](t)(a.RestoreJob(context.Background(), rp, role, md))
}

func (w *world) orgID(t *testing.T) string {
	return must[string](t)(w.mgmt.OrgID(context.Background()))
}

func (w *world) enableCrossAccount(t *testing.T) {
	if err := w.mgmt.EnableCrossAccountBackup(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// copyToBackupAccount sets the backup account up as the seed does (its
// CMK, its default service role allowed the source's key, backup-vault
// open to the organization's copies) and copies the source account's
// recovery point rp from source-vault into it.
func (w *world) copyToBackupAccount(t *testing.T, rp, srcKey, srcRole, org string) (dstKey, dstRole, copyARN string) {
	t.Helper()
	dstKey = w.dst.createKey(t, "backup-cmk", sharedKeyPolicy(backupAcct))
	dstRole = w.dst.backupRole(t, "AWSBackupDefaultServiceRole")
	w.dst.allowKeyUse(t, "AWSBackupDefaultServiceRole", srcKey)
	dstVault := w.dst.vault(t, "backup-vault", dstKey)
	w.dst.allowOrgCopies(t, "backup-vault", org)
	cj := w.src.copyJob(t, rp, "source-vault", dstVault, srcRole)
	if cj.State != backuptypes.CopyJobStateCompleted {
		t.Fatalf("copy job %s: %s", cj.State, aws.ToString(cj.StatusMessage))
	}
	return dstKey, dstRole, aws.ToString(cj.DestinationRecoveryPointArn)
}

func awsCreds(k *iam.CreateAccessKeyOutput) aws.Credentials {
	return aws.Credentials{AccessKeyID: aws.ToString(k.AccessKey.AccessKeyId), SecretAccessKey: aws.ToString(k.AccessKey.SecretAccessKey)}
}
