package main

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/backup"
	backuptypes "github.com/aws/aws-sdk-go-v2/service/backup/types"

	"github.com/coffer-dev/coffer/internal/demo"
	"github.com/coffer-dev/coffer/internal/scenario"
)

// faultEnv is a coffer process that the test kills and restarts on one
// data directory.
type faultEnv struct {
	t       *testing.T
	dataDir string
	env     []string
	args    []string // more flags for coffer serve
	p       *process
}

func (f *faultEnv) start() {
	f.p = startServe(f.t, f.env, append([]string{"--data-dir", f.dataDir, "--bootstrap", filepath.Join(f.dataDir, "..", "bootstrap.yaml")}, f.args...)...)
}

// kill stops coffer the hard way, mid-job.
func (f *faultEnv) kill() {
	f.p.Kill()
}

func (f *faultEnv) account(id, profile string) *scenario.Account {
	cfg, err := f.p.AWSConfig(context.Background(), profile, awsconfig.WithRetryMaxAttempts(1))
	if err != nil {
		f.t.Fatal(err)
	}
	a := scenario.NewAccount(id, cfg)
	a.Timeout = time.Minute
	return a
}

// TestKillDuringJobs kills coffer (SIGKILL) in the middle of backups,
// copies and restores at several points. After each restart every job
// ends COMPLETED or FAILED with a message, and at the end the storage
// engine's verify passes, so no COMPLETED recovery point is unreadable.
func TestKillDuringJobs(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "bootstrap.yaml"), []byte(demo.Bootstrap), 0o600); err != nil {
		t.Fatal(err)
	}
	f := &faultEnv{t: t, dataDir: filepath.Join(root, "data"), env: []string{"COFFER_JOB_STALE_AFTER=2s"}}
	f.start()
	mgmt, src, dst := f.account("000000000000", "default"), f.account("111222333444", "source"), f.account("666777888999", "backup")
	step := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	step(mgmt.EnableCrossAccountBackup(ctx))
	org, err := mgmt.OrgID(ctx)
	step(err)
	srcKey, err := src.CreateKey(ctx, "source-cmk", scenario.KeyPolicy("111222333444", "666777888999"))
	step(err)
	db, err := src.CreateDB(ctx, scenario.DBSpec{ID: "big", Engine: "sqlite", KeyID: srcKey})
	step(err)
	fillRandom(t, db.Address, 40<<20, 1)
	role, err := src.BackupRole(ctx, "backup-role")
	step(err)
	_, err = src.Vault(ctx, "source-vault", srcKey)
	step(err)
	dstKey, err := dst.CreateKey(ctx, "backup-cmk", scenario.KeyPolicy("666777888999"))
	step(err)
	dstRole, err := dst.BackupRole(ctx, "AWSBackupDefaultServiceRole")
	step(err)
	step(dst.AllowKeyUse(ctx, "AWSBackupDefaultServiceRole", srcKey))
	dstVault, err := dst.Vault(ctx, "backup-vault", dstKey)
	step(err)
	step(dst.AllowOrgCopies(ctx, "backup-vault", org))
	first, err := src.BackupJob(ctx, "source-vault", db.ARN, role)
	step(err)
	if first.State != backuptypes.BackupJobStateCompleted {
		t.Fatalf("first backup: %s %s", first.State, aws.ToString(first.StatusMessage))
	}
	rp := aws.ToString(first.RecoveryPointArn)
	cp, err := src.CopyJob(ctx, rp, "source-vault", dstVault, role)
	step(err)
	if cp.State != backuptypes.CopyJobStateCompleted {
		t.Fatalf("first copy: %s %s", cp.State, aws.ToString(cp.StatusMessage))
	}
	copyRP := aws.ToString(cp.DestinationRecoveryPointArn)

	type started struct{ kind, id string }
	starts := map[string]func(n int) started{
		"backup": func(int) started {
			out, err := src.Backup.StartBackupJob(ctx, &backup.StartBackupJobInput{BackupVaultName: aws.String("source-vault"), ResourceArn: aws.String(db.ARN), IamRoleArn: aws.String(role)})
			step(err)
			return started{"backup", aws.ToString(out.BackupJobId)}
		},
		"copy": func(int) started {
			out, err := src.Backup.StartCopyJob(ctx, &backup.StartCopyJobInput{RecoveryPointArn: aws.String(rp), SourceBackupVaultName: aws.String("source-vault"),
				DestinationBackupVaultArn: aws.String(dstVault), IamRoleArn: aws.String(role)})
			step(err)
			return started{"copy", aws.ToString(out.CopyJobId)}
		},
		"restore": func(n int) started {
			out, err := dst.Backup.StartRestoreJob(ctx, &backup.StartRestoreJobInput{RecoveryPointArn: aws.String(copyRP), IamRoleArn: aws.String(dstRole),
				Metadata: map[string]string{"DBInstanceIdentifier": fmt.Sprintf("restored-%d", n), "KmsKeyId": dstKey}})
			step(err)
			return started{"restore", aws.ToString(out.RestoreJobId)}
		},
	}
	n := 0
	for _, kind := range []string{"backup", "copy", "restore"} {
		for _, delay := range []time.Duration{20 * time.Millisecond, 150 * time.Millisecond, 400 * time.Millisecond} {
			n++
			job := starts[kind](n)
			time.Sleep(delay)
			f.kill()
			f.start()
			src, dst = f.account("111222333444", "source"), f.account("666777888999", "backup")
			state, msg := waitFinal(t, src, dst, job.kind, job.id)
			t.Logf("%s killed after %s: %s %s", kind, delay, state, msg)
			if state != "COMPLETED" && (state != "FAILED" || msg == "") {
				t.Errorf("%s job %s after kill -9 at %s: %s %q; want COMPLETED, or FAILED with a message", kind, job.id, delay, state, msg)
			}
		}
	}
	// Every completed recovery point still restores, and the storage
	// engine finds nothing damaged.
	rj, err := dst.RestoreJob(ctx, copyRP, dstRole, map[string]string{"DBInstanceIdentifier": "final-check", "KmsKeyId": dstKey})
	step(err)
	if rj.Status != backuptypes.RestoreJobStatusCompleted || rj.ValidationStatus != backuptypes.RestoreValidationStatusSuccessful {
		t.Fatalf("restore after the kills: %s %s %s", rj.Status, rj.ValidationStatus, aws.ToString(rj.StatusMessage))
	}
	f.p.stop(t)
	out, err := exec.Command(binary(t), "vault", "verify", "--data-dir", f.dataDir).CombinedOutput()
	if err != nil {
		t.Fatalf("coffer vault verify after the kills: %v\n%s", err, out)
	}
}

// waitFinal polls a job until it ends.
func waitFinal(t *testing.T, src, dst *scenario.Account, kind, id string) (string, string) {
	ctx := context.Background()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		var state, msg string
		switch kind {
		case "backup":
			j, err := src.Backup.DescribeBackupJob(ctx, &backup.DescribeBackupJobInput{BackupJobId: aws.String(id)})
			if err != nil {
				t.Fatal(err)
			}
			state, msg = string(j.State), aws.ToString(j.StatusMessage)
		case "copy":
			j, err := src.Backup.DescribeCopyJob(ctx, &backup.DescribeCopyJobInput{CopyJobId: aws.String(id)})
			if err != nil {
				t.Fatal(err)
			}
			state, msg = string(j.CopyJob.State), aws.ToString(j.CopyJob.StatusMessage)
		case "restore":
			j, err := dst.Backup.DescribeRestoreJob(ctx, &backup.DescribeRestoreJobInput{RestoreJobId: aws.String(id)})
			if err != nil {
				t.Fatal(err)
			}
			state, msg = string(j.Status), aws.ToString(j.StatusMessage)
		}
		switch state {
		case "COMPLETED", "FAILED", "ABORTED", "EXPIRED":
			return state, msg
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s job %s never ended after the restart", kind, id)
	return "", ""
}

// fillRandom writes about size bytes of incompressible rows, drawn from
// seed, into the SQLite database at path, so jobs take long enough to be
// killed midway.
func fillRandom(t *testing.T, path string, size int, seed int64) {
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(seed))
	tx, _ := db.Begin()
	buf := make([]byte, 4096)
	for i := 0; i*len(buf) < size; i++ {
		rng.Read(buf)
		if _, err := tx.Exec(`INSERT INTO blobs (id, data) VALUES (?, ?)`, i, buf); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}
