package e2e

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/backup"
	backuptypes "github.com/aws/aws-sdk-go-v2/service/backup/types"

	"github.com/coffer-dev/coffer/internal/testenv"
)

// TestBoto3 runs scripts/e2e/boto3-backup.py, which drives restore
// testing, audit frameworks and report jobs, vault notifications with
// SNS, and job summaries through boto3 against coffer, and compares what
// it saw with what aws-sdk-go-v2 and a signature-verifying SNS receiver
// see.
func TestBoto3(t *testing.T) {
	ctx := context.Background()
	python := testenv.Boto3Python(t)
	script := must[string](t)(filepath.Abs("../../scripts/e2e/boto3-backup.py"))
	w, srv := newS3World(t)
	// run runs a subcommand as the source account and decodes its JSON.
	run := func(t *testing.T, out any, args ...string) {
		t.Helper()
		cmd := exec.Command(python, append([]string{script, "--endpoint", w.c.URL, "--region", region}, args...)...)
		cmd.Env = w.c.CLIEnv("source")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		raw, err := cmd.Output()
		if err != nil {
			t.Fatalf("boto3-backup.py %s: %v\n%s", args[0], err, stderr.String())
		}
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("boto3-backup.py %s printed %q: %v", args[0], raw, err)
		}
	}

	// The source account: an encrypted database, one backup, one copy
	// into another vault, one restore; a plan selects every database of
	// the account, the restored one too.
	key := w.src.createKey(t, "source-cmk", sharedKeyPolicy(source))
	dbARN := w.src.createDB(t, "orders-db", "alias/source-cmk", 20)
	role := w.src.backupRole(t, "backup-role")
	vaultARN := w.src.vault(t, "source-vault", key)
	copyVault := w.src.vault(t, "copy-vault", key)
	plan := must[*backup.CreateBackupPlanOutput](t)(w.src.Backup.CreateBackupPlan(ctx, &backup.CreateBackupPlanInput{BackupPlan: &backuptypes.BackupPlanInput{
		BackupPlanName: aws.String("daily"), Rules: []backuptypes.BackupRuleInput{{RuleName: aws.String("daily"), TargetBackupVaultName: aws.String("source-vault")}}}}))
	must[*backup.CreateBackupSelectionOutput](t)(w.src.Backup.CreateBackupSelection(ctx, &backup.CreateBackupSelectionInput{BackupPlanId: plan.BackupPlanId,
		BackupSelection: &backuptypes.BackupSelection{SelectionName: aws.String("all"), IamRoleArn: aws.String(role), Resources: []string{"arn:aws:rds:" + region + ":" + source + ":db:*"}}}))
	job := w.src.backupJob(t, "source-vault", dbARN, role)
	if job.State != backuptypes.BackupJobStateCompleted {
		t.Fatalf("backup job %s: %s", job.State, aws.ToString(job.StatusMessage))
	}
	rp := aws.ToString(job.RecoveryPointArn)
	if cj := w.src.copyJob(t, rp, "source-vault", copyVault, role); cj.State != backuptypes.CopyJobStateCompleted {
		t.Fatalf("copy job %s: %s", cj.State, aws.ToString(cj.StatusMessage))
	}
	if rj := w.src.restoreJob(t, rp, role, map[string]string{"DBInstanceIdentifier": "orders-restored", "KmsKeyId": key}); rj.Status != backuptypes.RestoreJobStatusCompleted {
		t.Fatalf("restore job %s: %s", rj.Status, aws.ToString(rj.StatusMessage))
	}

	t.Run("summaries", func(t *testing.T) {
		var got struct{ Backup, Copy, Restore map[string]int }
		run(t, &got, "summaries")
		for what, m := range map[string]map[string]int{"backup": got.Backup, "copy": got.Copy, "restore": got.Restore} {
			if len(m) != 1 || m["COMPLETED"] != 1 {
				t.Errorf("%s job summaries by state %v, want one COMPLETED", what, m)
			}
		}
	})

	t.Run("restore testing", func(t *testing.T) {
		var got struct {
			PlanArn          string
			InferredMetadata map[string]string
		}
		run(t, &got, "restore-testing", "--role", role, "--vault-arn", vaultARN, "--resource-arn", dbARN, "--recovery-point", rp)
		if !strings.HasPrefix(got.PlanArn, "arn:aws:backup:"+region+":"+source+":restore-testing-plan:boto3_daily-") {
			t.Errorf("plan ARN %s", got.PlanArn)
		}
		want := must[*backup.GetRestoreTestingInferredMetadataOutput](t)(w.src.Backup.GetRestoreTestingInferredMetadata(ctx, &backup.GetRestoreTestingInferredMetadataInput{
			BackupVaultName: aws.String("source-vault"), RecoveryPointArn: aws.String(rp)})).InferredMetadata
		if len(got.InferredMetadata) == 0 || len(got.InferredMetadata) != len(want) || got.InferredMetadata["Engine"] != "sqlite" {
			t.Errorf("boto3's inferred metadata %v, the Go SDK's %v", got.InferredMetadata, want)
		}
		for k, v := range want {
			if got.InferredMetadata[k] != v {
				t.Errorf("inferred %s: boto3 %q, the Go SDK %q", k, got.InferredMetadata[k], v)
			}
		}
		if l := must[*backup.ListRestoreTestingPlansOutput](t)(w.src.Backup.ListRestoreTestingPlans(ctx, &backup.ListRestoreTestingPlansInput{})); len(l.RestoreTestingPlans) != 0 {
			t.Errorf("restore testing plans after the script deleted its own: %+v", l.RestoreTestingPlans)
		}
	})

	t.Run("audit", func(t *testing.T) {
		var got struct {
			FrameworkArn, ReportJobId string
			Controls                  map[string]string
		}
		run(t, &got, "audit", "--bucket", "boto3-reports", "--s3-endpoint", srv.URL, "--s3-access-key", srv.AccessKey, "--s3-secret-key", srv.SecretKey, "--s3-region", srv.Region)
		want := []string{"BACKUP_RECOVERY_POINT_ENCRYPTED", "BACKUP_RESOURCES_PROTECTED_BY_BACKUP_PLAN", "BACKUP_RECOVERY_POINT_MINIMUM_RETENTION_CHECK"}
		if len(got.Controls) != len(want) {
			t.Errorf("the report covers %v, want %v", got.Controls, want)
		}
		for _, c := range want {
			if got.Controls[c] != "COMPLIANT" {
				t.Errorf("%s is %q in the report boto3 read, want COMPLIANT", c, got.Controls[c])
			}
		}
		j := must[*backup.DescribeReportJobOutput](t)(w.src.Backup.DescribeReportJob(ctx, &backup.DescribeReportJobInput{ReportJobId: aws.String(got.ReportJobId)})).ReportJob
		if aws.ToString(j.Status) != "COMPLETED" || aws.ToString(j.ReportTemplate) != "CONTROL_COMPLIANCE_REPORT" || len(j.ReportDestination.S3Keys) != 2 {
			t.Errorf("report job as the Go SDK sees it: %+v", j)
		}
		if l := must[*backup.ListFrameworksOutput](t)(w.src.Backup.ListFrameworks(ctx, &backup.ListFrameworksInput{})); len(l.Frameworks) != 0 {
			t.Errorf("frameworks after the script deleted its own: %+v", l.Frameworks)
		}
	})

	t.Run("notifications", func(t *testing.T) {
		rcv := newReceiver(t, w.c.URL+"/", false)
		var on struct{ TopicArn, SubscriptionArn string }
		run(t, &on, "notifications-on", "--vault", "source-vault", "--account", source, "--receiver", rcv.srv.URL+"/boto3")
		if on.TopicArn != "arn:aws:sns:"+region+":"+source+":boto3-events" || !strings.HasPrefix(on.SubscriptionArn, on.TopicArn+":") {
			t.Errorf("topic %s, subscription %s", on.TopicArn, on.SubscriptionArn)
		}
		// What boto3 configured, coffer acts on: a backup job's
		// completion arrives signed.
		j := w.src.backupJob(t, "source-vault", dbARN, role)
		m := rcv.wait(t, "BACKUP_JOB completed", event("BACKUP_JOB", "COMPLETED", aws.ToString(j.BackupJobId)))
		if m.TopicArn != on.TopicArn || !strings.Contains(m.Message, aws.ToString(j.RecoveryPointArn)) {
			t.Errorf("notification %+v", m)
		}
		var off struct{}
		run(t, &off, "notifications-off", "--vault", "source-vault", "--topic", on.TopicArn, "--subscription", on.SubscriptionArn)
		if _, err := w.src.Backup.GetBackupVaultNotifications(ctx, &backup.GetBackupVaultNotificationsInput{BackupVaultName: aws.String("source-vault")}); errCode(err) != "ResourceNotFoundException" {
			t.Errorf("notifications after boto3 deleted them: %v", err)
		}
	})
}
