// Package demo runs the seed's cross-account backup walkthrough against a
// coffer it starts itself, through the public API with the AWS SDK, and
// prints each step with its outcome, time and sizes, then the checks the
// walkthrough must pass.
package demo

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/backup"
	backuptypes "github.com/aws/aws-sdk-go-v2/service/backup/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"gopkg.in/ini.v1"

	"github.com/coffer-dev/coffer/internal/app"
	"github.com/coffer-dev/coffer/internal/config"
	"github.com/coffer-dev/coffer/internal/scenario"
)

// The seed's accounts, and the management account of their organization.
const (
	Management = "000000000000"
	Source     = "111222333444"
	BackupAcct = "666777888999"
)

// Bootstrap declares the organization with the seed's accounts and an
// administrator in each (profiles default, source and backup).
const Bootstrap = `
organizations:
  - managementAccount: "000000000000"
    members: ["111222333444", "666777888999"]
accounts:
  - {id: "000000000000", name: management}
  - {id: "111222333444", name: source}
  - {id: "666777888999", name: backup}
users:
  - {account: "000000000000", name: admin, profile: default}
  - {account: "111222333444", name: admin, profile: source}
  - {account: "666777888999", name: admin, profile: backup}
`

// Options choose how the demo runs.
type Options struct {
	DataDir string // empty: a temporary directory, removed afterwards
	Engine  string // "postgres", "sqlite", or "" to pick PostgreSQL when installed
	Rows    int
	Out     io.Writer
	Log     io.Writer // coffer's own log; nil discards it
}

// Run starts coffer, runs the walkthrough and reports. It returns an
// error when a step or a check fails.
func Run(ctx context.Context, o Options) error {
	if o.Engine == "" {
		o.Engine = "sqlite"
		if postgresInstalled() {
			o.Engine = "postgres"
		}
	}
	if o.Engine != "postgres" && o.Engine != "sqlite" {
		return fmt.Errorf("engine %q is not postgres or sqlite", o.Engine)
	}
	if o.Rows <= 0 {
		o.Rows = 10000
	}
	kept := o.DataDir != ""
	if kept {
		if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
			return fmt.Errorf("create the data directory: %w", err)
		}
	} else {
		dir, err := os.MkdirTemp("", "coffer-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		o.DataDir = dir
	}
	r := &run{o: &o, out: o.Out}
	stop, err := r.start(ctx)
	if err != nil {
		return err
	}
	defer stop()
	err = r.walkthrough(ctx)
	fmt.Fprintln(r.out)
	if err != nil {
		fmt.Fprintf(r.out, "FAILED: %v\n", err)
		return err
	}
	failed := 0
	fmt.Fprintln(r.out, "Checks:")
	for _, c := range r.checks {
		mark := "ok  "
		if !c.ok {
			mark = "FAIL"
			failed++
		}
		fmt.Fprintf(r.out, "  %s %s\n", mark, c.what)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d checks failed", failed, len(r.checks))
	}
	fmt.Fprintf(r.out, "\nAll %d checks passed.\n", len(r.checks))
	if kept {
		fmt.Fprintf(r.out, "The data stays in %s; coffer serve --data-dir %s/coffer picks it up.\n", o.DataDir, o.DataDir)
	}
	return nil
}

type check struct {
	what string
	ok   bool
}

type run struct {
	o              *Options
	out            io.Writer
	url            string
	mgmt, src, dst *scenario.Account
	checks         []check
	step           int
}

func postgresInstalled() bool {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	return len(dirs) > 0
}

// start runs coffer in this process on a free port.
func (r *run) start(ctx context.Context) (func(), error) {
	bootPath := filepath.Join(r.o.DataDir, "demo-bootstrap.yaml")
	if err := os.WriteFile(bootPath, []byte(Bootstrap), 0o600); err != nil {
		return nil, err
	}
	cfg := config.DefaultConfig()
	cfg.Listen, cfg.DataDir, cfg.Bootstrap = "127.0.0.1:0", filepath.Join(r.o.DataDir, "coffer"), bootPath
	cfg.Log.Level = "warn"
	if r.o.Log != nil {
		cfg.Log.Level = "info"
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logw := r.o.Log
	if logw == nil {
		logw = io.Discard
	}
	a, err := app.Open(ctx, cfg, app.NewLogger(cfg.Log, logw))
	if err != nil {
		return nil, err
	}
	ln, err := a.Listen()
	if err != nil {
		a.Close()
		return nil, err
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- a.Serve(sctx, ln) }()
	r.url = "http://" + ln.Addr().String()
	fmt.Fprintf(r.out, "coffer %s, data in %s, database engine %s\n", r.url, cfg.DataDir, r.o.Engine)
	fmt.Fprintf(r.out, "  AWS_SHARED_CREDENTIALS_FILE=%s AWS_CONFIG_FILE=%s (profiles default, source, backup)\n\n", a.CredentialsFile, a.ConfigFile)
	creds, err := ini.Load(a.CredentialsFile)
	if err != nil {
		cancel()
		<-done
		return nil, err
	}
	mk := func(id, profile string) (*scenario.Account, error) {
		sec := creds.Section(profile)
		c, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(cfg.DefaultRegion()), awsconfig.WithBaseEndpoint(r.url),
			awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(sec.Key("aws_access_key_id").String(), sec.Key("aws_secret_access_key").String(), "")),
			awsconfig.WithSharedConfigFiles([]string{}), awsconfig.WithSharedCredentialsFiles([]string{}))
		if err != nil {
			return nil, err
		}
		return scenario.NewAccount(id, c), nil
	}
	for _, p := range []struct {
		dst         **scenario.Account
		id, profile string
	}{{&r.mgmt, Management, "default"}, {&r.src, Source, "source"}, {&r.dst, BackupAcct, "backup"}} {
		if *p.dst, err = mk(p.id, p.profile); err != nil {
			cancel()
			<-done
			return nil, err
		}
	}
	return func() { cancel(); <-done }, nil
}

// do runs one numbered step and prints its outcome and duration.
func (r *run) do(account, what string, fn func() (string, error)) error {
	r.step++
	start := time.Now()
	detail, err := fn()
	d := time.Since(start).Round(time.Millisecond)
	if err != nil {
		fmt.Fprintf(r.out, "%2d. [%s] %s: FAILED after %s\n      %v\n", r.step, account, what, d, err)
		return fmt.Errorf("step %d (%s): %w", r.step, what, err)
	}
	fmt.Fprintf(r.out, "%2d. [%s] %s (%s)\n", r.step, account, what, d)
	if detail != "" {
		fmt.Fprintf(r.out, "      %s\n", detail)
	}
	return nil
}

func (r *run) check(what string, ok bool) { r.checks = append(r.checks, check{what, ok}) }

func mib(n int64) string { return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20)) }

func (r *run) walkthrough(ctx context.Context) error {
	var org, srcKey, dstKey, srcRole, dstRole, srcVault, dstVault, rp, srcRPKey, copyARN string
	var db *scenario.DB
	var srcRows, srcSum int64
	steps := []struct {
		account, what string
		fn            func() (string, error)
	}{
		{"management", "opt in to cross-account backup", func() (string, error) {
			var err error
			if org, err = r.mgmt.OrgID(ctx); err != nil {
				return "", err
			}
			return "organization " + org, r.mgmt.EnableCrossAccountBackup(ctx)
		}},
		{"source", "create the source CMK, shared with the backup account", func() (s string, err error) {
			srcKey, err = r.src.CreateKey(ctx, "source-cmk", scenario.KeyPolicy(Source, BackupAcct))
			return srcKey, err
		}},
		{"source", "create a " + r.o.Engine + " DB instance encrypted with the source CMK, with sample data", func() (string, error) {
			var err error
			db, err = r.src.CreateDB(ctx, scenario.DBSpec{ID: "orders-db", Engine: r.o.Engine, KeyID: "alias/source-cmk", DBName: "orders", User: "orders_admin", Password: "demo-Passw0rd-orders"})
			if err != nil {
				return "", err
			}
			conn, err := db.Open()
			if err != nil {
				return "", err
			}
			defer conn.Close()
			if err := scenario.FillOrders(conn, r.o.Rows); err != nil {
				return "", err
			}
			srcRows, srcSum, err = scenario.CountOrders(conn)
			return fmt.Sprintf("%s, %d rows at %s", db.ARN, srcRows, db.Address), err
		}},
		{"source", "create the backup role and the source vault", func() (s string, err error) {
			if srcRole, err = r.src.BackupRole(ctx, "backup-role"); err != nil {
				return "", err
			}
			srcVault, err = r.src.Vault(ctx, "source-vault", srcKey)
			return srcVault, err
		}},
		{"source", "on-demand backup", func() (string, error) {
			j, err := r.src.BackupJob(ctx, "source-vault", db.ARN, srcRole)
			if err != nil {
				return "", err
			}
			if j.State != backuptypes.BackupJobStateCompleted {
				return "", fmt.Errorf("backup job %s: %s", j.State, aws.ToString(j.StatusMessage))
			}
			rp, srcRPKey = aws.ToString(j.RecoveryPointArn), aws.ToString(j.EncryptionKeyArn)
			return fmt.Sprintf("%s: %s of data, %s written", rp, mib(aws.ToInt64(j.BackupSizeInBytes)), mib(aws.ToInt64(j.BytesTransferred))), nil
		}},
		{"backup", "create the backup CMK (not shared), the backup service role with an IAM policy for the source CMK, and the backup vault with the organization's access policy", func() (s string, err error) {
			if dstKey, err = r.dst.CreateKey(ctx, "backup-cmk", scenario.KeyPolicy(BackupAcct)); err != nil {
				return "", err
			}
			if dstRole, err = r.dst.BackupRole(ctx, "AWSBackupDefaultServiceRole"); err != nil {
				return "", err
			}
			if err := r.dst.AllowKeyUse(ctx, "AWSBackupDefaultServiceRole", srcKey); err != nil {
				return "", err
			}
			if dstVault, err = r.dst.Vault(ctx, "backup-vault", dstKey); err != nil {
				return "", err
			}
			return dstVault, r.dst.AllowOrgCopies(ctx, "backup-vault", org)
		}},
		{"source", "copy the recovery point into the backup account's vault", func() (string, error) {
			j, err := r.src.CopyJob(ctx, rp, "source-vault", dstVault, srcRole)
			if err != nil {
				return "", err
			}
			if j.State != backuptypes.CopyJobStateCompleted {
				return "", fmt.Errorf("copy job %s: %s", j.State, aws.ToString(j.StatusMessage))
			}
			copyARN = aws.ToString(j.DestinationRecoveryPointArn)
			got, err := r.dst.Backup.DescribeRecoveryPoint(ctx, &backup.DescribeRecoveryPointInput{BackupVaultName: aws.String("backup-vault"), RecoveryPointArn: aws.String(copyARN)})
			if err != nil {
				return "", err
			}
			r.check("the copy in the backup account is encrypted under the backup account's CMK", aws.ToString(got.EncryptionKeyArn) == dstKey)
			r.check("the source recovery point stays encrypted under the database's CMK", srcRPKey == srcKey)
			return fmt.Sprintf("%s, key %s", copyARN, aws.ToString(got.EncryptionKeyArn)), nil
		}},
		{"both", "copy back into the source vault (its policy admits the organization; the backup CMK is shared with the source account's backup service role only)", func() (string, error) {
			if err := r.src.AllowOrgCopies(ctx, "source-vault", org); err != nil {
				return "", err
			}
			srcDefault, err := r.src.BackupRole(ctx, "AWSBackupDefaultServiceRole")
			if err != nil {
				return "", err
			}
			if err := r.src.AllowKeyUse(ctx, "AWSBackupDefaultServiceRole", dstKey); err != nil {
				return "", err
			}
			if _, err := r.dst.KMS.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: aws.String(dstKey), PolicyName: aws.String("default"), Policy: aws.String(scenario.KeyPolicyFor(BackupAcct, srcDefault))}); err != nil {
				return "", err
			}
			j, err := r.dst.CopyJob(ctx, copyARN, "backup-vault", srcVault, dstRole)
			if err != nil {
				return "", err
			}
			if j.State != backuptypes.CopyJobStateCompleted {
				return "", fmt.Errorf("copy job %s: %s", j.State, aws.ToString(j.StatusMessage))
			}
			return aws.ToString(j.DestinationRecoveryPointArn), nil
		}},
		{"backup", "restore the copy in the backup account with the backup CMK", func() (string, error) {
			md, err := r.dst.Backup.GetRecoveryPointRestoreMetadata(ctx, &backup.GetRecoveryPointRestoreMetadataInput{BackupVaultName: aws.String("backup-vault"), RecoveryPointArn: aws.String(copyARN)})
			if err != nil {
				return "", err
			}
			_, shown := md.RestoreMetadata["MasterUserPassword"]
			r.check("restore metadata does not show the master password", !shown)
			j, err := r.dst.RestoreJob(ctx, copyARN, dstRole, map[string]string{"DBInstanceIdentifier": "orders-restored", "KmsKeyId": dstKey})
			if err != nil {
				return "", err
			}
			if j.Status != backuptypes.RestoreJobStatusCompleted {
				return "", fmt.Errorf("restore job %s: %s", j.Status, aws.ToString(j.StatusMessage))
			}
			r.check("the restore validated the data against the checksums recorded at backup time", j.ValidationStatus == backuptypes.RestoreValidationStatusSuccessful)
			restored, err := r.dst.WaitDB(ctx, "orders-restored")
			if err != nil {
				return "", err
			}
			r.check("the restored instance keeps the source's DBName and MasterUsername", restored.DBName == db.DBName && restored.User == db.User)
			restored.Password = "demo-Passw0rd-orders"
			conn, err := restored.Open()
			if err != nil {
				return "", err
			}
			defer conn.Close()
			n, sum, err := scenario.CountOrders(conn)
			if err != nil {
				return "", fmt.Errorf("query the restored database: %w", err)
			}
			r.check(fmt.Sprintf("the restored database holds the source's %d rows (sum %d)", srcRows, srcSum), n == srcRows && sum == srcSum)
			r.check("the restored instance is encrypted with the backup account's CMK", restored.KeyID == dstKey)
			return fmt.Sprintf("%s: %d rows, validation %s", restored.ARN, n, j.ValidationStatus), nil
		}},
		{"source", "the drill: the source account's administrator attacks the backup account's copy", func() (string, error) {
			_, errRead := r.src.Backup.DescribeRecoveryPoint(ctx, &backup.DescribeRecoveryPointInput{BackupVaultName: aws.String("backup-vault"), RecoveryPointArn: aws.String(copyARN)})
			_, errDel := r.src.Backup.DeleteRecoveryPoint(ctx, &backup.DeleteRecoveryPointInput{BackupVaultName: aws.String("backup-vault"), RecoveryPointArn: aws.String(copyARN)})
			_, errLife := r.src.Backup.UpdateRecoveryPointLifecycle(ctx, &backup.UpdateRecoveryPointLifecycleInput{BackupVaultName: aws.String("backup-vault"), RecoveryPointArn: aws.String(copyARN),
				Lifecycle: &backuptypes.Lifecycle{DeleteAfterDays: aws.Int64(1)}})
			_, errKey := r.src.KMS.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(dstKey), Plaintext: []byte("x")})
			still, err := r.dst.Backup.DescribeRecoveryPoint(ctx, &backup.DescribeRecoveryPointInput{BackupVaultName: aws.String("backup-vault"), RecoveryPointArn: aws.String(copyARN)})
			if err != nil {
				return "", err
			}
			r.check("source admin cannot read the backup account's recovery point", errRead != nil)
			r.check("source admin cannot delete it", errDel != nil)
			r.check("source admin cannot shorten its retention", errLife != nil && still.Lifecycle == nil)
			r.check("source admin cannot use the backup account's CMK", errKey != nil)
			r.check("the backup account's recovery point is intact", still.Status == backuptypes.RecoveryPointStatusCompleted)
			return fmt.Sprintf("read: %s; delete: %s; shorten: %s; key: %s", code(errRead), code(errDel), code(errLife), code(errKey)), nil
		}},
	}
	for _, s := range steps {
		if err := r.do(s.account, s.what, s.fn); err != nil {
			return err
		}
	}
	return nil
}

func code(err error) string {
	if c := scenario.ErrorCode(err); c != "" {
		return "refused (" + c + ")"
	}
	if err == nil {
		return "ALLOWED"
	}
	return "refused (" + strings.SplitN(err.Error(), ":", 2)[0] + ")"
}
