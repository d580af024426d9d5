package e2e

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/backup"
	backuptypes "github.com/aws/aws-sdk-go-v2/service/backup/types"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/coffer-dev/coffer/internal/blob/s3"
	"github.com/coffer-dev/coffer/internal/config"
	"github.com/coffer-dev/coffer/internal/storage"
	"github.com/coffer-dev/coffer/internal/testenv"
)

// newS3World is a world whose region keeps its vaults in a MinIO
// server, the endpoint report plans write their reports to.
func newS3World(t *testing.T) (*world, testenv.MinIOServer) {
	srv := testenv.StartMinIO(t)
	return newWorld(t, func(cfg *config.Config) {
		cfg.Storage.Regions = map[string]storage.Backend{region: {Type: storage.TypeS3, S3: s3.Config{
			Endpoint: srv.URL, Bucket: srv.Bucket, Prefix: "vaults", Region: srv.Region, AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey, PathStyle: true}}}
	}), srv
}

// TestAuditFrameworks: a framework over the seed's set-up (a plan
// backing the database up with a copy action into the backup account, a
// backup made) is compliant; without the copy action the cross-account
// control is not; report jobs write the reports, CSV and JSON laid out as
// AWS lays them out, into a MinIO bucket at the endpoint of coffer's
// storage settings, and the test parses them.
func TestAuditFrameworks(t *testing.T) {
	ctx := context.Background()
	w, srv := newS3World(t)
	mc, err := minio.New(srv.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(srv.AccessKey, srv.SecretKey, ""), Region: srv.Region, BucketLookup: minio.BucketLookupPath})
	if err != nil {
		t.Fatal(err)
	}
	if err := mc.MakeBucket(ctx, "coffer-reports", minio.MakeBucketOptions{Region: srv.Region}); err != nil {
		t.Fatal(err)
	}

	// The seed's set-up in the source account: an encrypted database, a
	// vault, a daily plan copying into the backup account's vault, and a
	// backup.
	w.enableCrossAccount(t)
	srcKey := w.src.createKey(t, "source-cmk", sharedKeyPolicy(source, backupAcct))
	dbARN := w.src.createDB(t, "orders-db", "alias/source-cmk", 100)
	role := w.src.backupRole(t, "backup-role")
	w.src.vault(t, "source-vault", srcKey)
	dstVault := "arn:aws:backup:" + region + ":" + backupAcct + ":backup-vault:backup-vault"
	rule := func(copies bool) []backuptypes.BackupRuleInput {
		r := backuptypes.BackupRuleInput{RuleName: aws.String("daily"), TargetBackupVaultName: aws.String("source-vault"), ScheduleExpression: aws.String("cron(0 5 ? * * *)")}
		if copies {
			r.CopyActions = []backuptypes.CopyAction{{DestinationBackupVaultArn: aws.String(dstVault)}}
		}
		return []backuptypes.BackupRuleInput{r}
	}
	w.dst.vault(t, "backup-vault", w.dst.createKey(t, "backup-cmk", sharedKeyPolicy(backupAcct)))
	plan := must[*backup.CreateBackupPlanOutput](t)(w.src.Backup.CreateBackupPlan(ctx, &backup.CreateBackupPlanInput{BackupPlan: &backuptypes.BackupPlanInput{
		BackupPlanName: aws.String("daily"), Rules: rule(true)}}))
	must[*backup.CreateBackupSelectionOutput](t)(w.src.Backup.CreateBackupSelection(ctx, &backup.CreateBackupSelectionInput{BackupPlanId: plan.BackupPlanId,
		BackupSelection: &backuptypes.BackupSelection{SelectionName: aws.String("all"), IamRoleArn: aws.String(role), Resources: []string{dbARN}}}))
	bj := w.src.backupJob(t, "source-vault", dbARN, role)
	if bj.State != backuptypes.BackupJobStateCompleted {
		t.Fatalf("backup job %s: %s", bj.State, aws.ToString(bj.StatusMessage))
	}

	controls := []backuptypes.FrameworkControl{
		{ControlName: aws.String("BACKUP_RESOURCES_PROTECTED_BY_BACKUP_PLAN")},
		{ControlName: aws.String("BACKUP_RECOVERY_POINT_ENCRYPTED")},
		{ControlName: aws.String("BACKUP_RECOVERY_POINT_MINIMUM_RETENTION_CHECK"),
			ControlInputParameters: []backuptypes.ControlInputParameter{{ParameterName: aws.String("requiredRetentionDays"), ParameterValue: aws.String("35")}}},
		{ControlName: aws.String("BACKUP_RESOURCES_PROTECTED_BY_CROSS_ACCOUNT")},
		{ControlName: aws.String("BACKUP_LAST_RECOVERY_POINT_CREATED"),
			ControlInputParameters: []backuptypes.ControlInputParameter{{ParameterName: aws.String("recoveryPointAgeValue"), ParameterValue: aws.String("1")},
				{ParameterName: aws.String("recoveryPointAgeUnit"), ParameterValue: aws.String("days")}}},
	}
	for _, tc := range []struct {
		name     string
		controls []backuptypes.FrameworkControl
		want     string
	}{
		{"unknown control", []backuptypes.FrameworkControl{{ControlName: aws.String("BACKUP_PLAN_MIN_FREQUENCY")}}, "InvalidParameterValueException"},
		{"bad parameter", []backuptypes.FrameworkControl{{ControlName: aws.String("BACKUP_RECOVERY_POINT_MINIMUM_RETENTION_CHECK"),
			ControlInputParameters: []backuptypes.ControlInputParameter{{ParameterName: aws.String("requiredRetentionDays"), ParameterValue: aws.String("0")}}}}, "InvalidParameterValueException"},
		{"unknown parameter", []backuptypes.FrameworkControl{{ControlName: aws.String("BACKUP_RECOVERY_POINT_ENCRYPTED"),
			ControlInputParameters: []backuptypes.ControlInputParameter{{ParameterName: aws.String("x"), ParameterValue: aws.String("1")}}}}, "InvalidParameterValueException"},
	} {
		_, err := w.src.Backup.CreateFramework(ctx, &backup.CreateFrameworkInput{FrameworkName: aws.String("bad"), FrameworkControls: tc.controls})
		if errCode(err) != tc.want {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.want)
		}
	}
	fw := must[*backup.CreateFrameworkOutput](t)(w.src.Backup.CreateFramework(ctx, &backup.CreateFrameworkInput{
		FrameworkName: aws.String("seed_controls"), FrameworkDescription: aws.String("the seed's guarantees"), FrameworkControls: controls,
		FrameworkTags: map[string]string{"standard": "iso27001"}}))
	if tags := must[*backup.ListTagsOutput](t)(w.src.Backup.ListTags(ctx, &backup.ListTagsInput{ResourceArn: fw.FrameworkArn})).Tags; tags["standard"] != "iso27001" {
		t.Errorf("framework tags %v", tags)
	}
	if _, err := w.src.Backup.CreateFramework(ctx, &backup.CreateFrameworkInput{FrameworkName: aws.String("seed_controls"), FrameworkControls: controls}); errCode(err) != "AlreadyExistsException" {
		t.Errorf("same framework again: %v", err)
	}
	d := must[*backup.DescribeFrameworkOutput](t)(w.src.Backup.DescribeFramework(ctx, &backup.DescribeFrameworkInput{FrameworkName: aws.String("seed_controls")}))
	if len(d.FrameworkControls) != 5 || aws.ToString(d.FrameworkStatus) != "ACTIVE" || aws.ToString(d.FrameworkArn) != aws.ToString(fw.FrameworkArn) {
		t.Errorf("framework: %+v", d)
	}
	if l := must[*backup.ListFrameworksOutput](t)(w.src.Backup.ListFrameworks(ctx, &backup.ListFrameworksInput{})); len(l.Frameworks) != 1 || l.Frameworks[0].NumberOfControls != 5 {
		t.Errorf("frameworks: %+v", l.Frameworks)
	}

	newPlan := func(name, template string, formats ...string) {
		t.Helper()
		must[*backup.CreateReportPlanOutput](t)(w.src.Backup.CreateReportPlan(ctx, &backup.CreateReportPlanInput{ReportPlanName: aws.String(name),
			ReportDeliveryChannel: &backuptypes.ReportDeliveryChannel{S3BucketName: aws.String("coffer-reports"), S3KeyPrefix: aws.String("audit"), Formats: formats},
			ReportSetting:         &backuptypes.ReportSetting{ReportTemplate: aws.String(template), FrameworkArns: []string{aws.ToString(fw.FrameworkArn)}}}))
	}
	newPlan("controls", "CONTROL_COMPLIANCE_REPORT", "CSV", "JSON")
	newPlan("resources", "RESOURCE_COMPLIANCE_REPORT", "CSV")
	if _, err := w.src.Backup.CreateReportPlan(ctx, &backup.CreateReportPlanInput{ReportPlanName: aws.String("jobs"),
		ReportDeliveryChannel: &backuptypes.ReportDeliveryChannel{S3BucketName: aws.String("coffer-reports")},
		ReportSetting:         &backuptypes.ReportSetting{ReportTemplate: aws.String("CONTROL_COMPLIANCE_REPORT"), FrameworkArns: []string{"arn:aws:backup:us-east-1:111222333444:framework:nope-1"}}}); errCode(err) != "InvalidParameterValueException" {
		t.Errorf("report plan on an unknown framework: %v", err)
	}

	// run starts a report job of the plan and returns its objects' bodies
	// by extension.
	run := func(planName string) map[string][]byte {
		t.Helper()
		id := must[*backup.StartReportJobOutput](t)(w.src.Backup.StartReportJob(ctx, &backup.StartReportJobInput{ReportPlanName: aws.String(planName)})).ReportJobId
		deadline := time.Now().Add(time.Minute)
		var j *backuptypes.ReportJob
		for {
			j = must[*backup.DescribeReportJobOutput](t)(w.src.Backup.DescribeReportJob(ctx, &backup.DescribeReportJobInput{ReportJobId: id})).ReportJob
			if aws.ToString(j.Status) == "COMPLETED" || aws.ToString(j.Status) == "FAILED" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("report job %s still %s", aws.ToString(id), aws.ToString(j.Status))
			}
			time.Sleep(50 * time.Millisecond)
		}
		if aws.ToString(j.Status) != "COMPLETED" {
			t.Fatalf("report job %s: %s", aws.ToString(j.Status), aws.ToString(j.StatusMessage))
		}
		out := map[string][]byte{}
		for _, key := range j.ReportDestination.S3Keys {
			if !strings.HasPrefix(key, "audit/Backup/"+region+"/") || !strings.Contains(key, "/"+planName+"/") {
				t.Errorf("report object %s is not under audit/Backup/%s/YYYY/MM/DD/%s/", key, region, planName)
			}
			obj, err := mc.GetObject(ctx, aws.ToString(j.ReportDestination.S3BucketName), key, minio.GetObjectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(obj)
			obj.Close()
			if err != nil {
				t.Fatalf("read s3://coffer-reports/%s: %v", key, err)
			}
			out[key[strings.LastIndex(key, "."):]] = b
		}
		return out
	}
	controlStatus := func(report []byte) map[string]string {
		t.Helper()
		var doc struct {
			ReportItems []struct {
				AccountId, Region, FrameworkName, ControlName, ControlComplianceStatus string
				NumResourcesCompliant, NumResourcesNonCompliant                        int
			} `json:"reportItems"`
		}
		if err := json.Unmarshal(report, &doc); err != nil {
			t.Fatalf("JSON report: %v\n%s", err, report)
		}
		got := map[string]string{}
		for _, it := range doc.ReportItems {
			if it.AccountId != source || it.Region != region || it.FrameworkName != "seed_controls" || it.NumResourcesCompliant+it.NumResourcesNonCompliant == 0 {
				t.Errorf("report item %+v", it)
			}
			got[it.ControlName] = it.ControlComplianceStatus
		}
		return got
	}

	first := run("controls")
	if got := controlStatus(first[".json"]); len(got) != 5 {
		t.Errorf("JSON report covers %d controls, want 5: %v", len(got), got)
	} else {
		for c, s := range got {
			if s != "COMPLIANT" {
				t.Errorf("%s is %s over the seed's set-up", c, s)
			}
		}
	}
	rows := must[[][]string](t)(csv.NewReader(strings.NewReader(string(first[".csv"]))).ReadAll())
	if len(rows) != 6 || rows[0][4] != "controlName" || rows[0][5] != "controlComplianceStatus" {
		t.Errorf("CSV report: %q", rows)
	}

	// Without the copy action the cross-account control fails, for the
	// database.
	must[*backup.UpdateBackupPlanOutput](t)(w.src.Backup.UpdateBackupPlan(ctx, &backup.UpdateBackupPlanInput{BackupPlanId: plan.BackupPlanId,
		BackupPlan: &backuptypes.BackupPlanInput{BackupPlanName: aws.String("daily"), Rules: rule(false)}}))
	got := controlStatus(run("controls")[".json"])
	if got["BACKUP_RESOURCES_PROTECTED_BY_CROSS_ACCOUNT"] != "NON_COMPLIANT" || got["BACKUP_RESOURCES_PROTECTED_BY_BACKUP_PLAN"] != "COMPLIANT" {
		t.Errorf("after removing the copy action: %v", got)
	}
	res := must[[][]string](t)(csv.NewReader(strings.NewReader(string(run("resources")[".csv"]))).ReadAll())
	found := false
	for _, r := range res[1:] {
		if r[4] == "BACKUP_RESOURCES_PROTECTED_BY_CROSS_ACCOUNT" {
			found = true
			if r[6] != dbARN || r[7] != "AWS::RDS::DBInstance" || r[8] != "NON_COMPLIANT" {
				t.Errorf("resource report row %q", r)
			}
		}
	}
	if !found || res[0][8] != "resourceComplianceStatus" {
		t.Errorf("resource report lacks the cross-account row: %q", res)
	}

	jobs := must[*backup.ListReportJobsOutput](t)(w.src.Backup.ListReportJobs(ctx, &backup.ListReportJobsInput{ByReportPlanName: aws.String("controls")}))
	if len(jobs.ReportJobs) != 2 {
		t.Errorf("report jobs of controls: %d, want 2", len(jobs.ReportJobs))
	}
	rp := must[*backup.DescribeReportPlanOutput](t)(w.src.Backup.DescribeReportPlan(ctx, &backup.DescribeReportPlanInput{ReportPlanName: aws.String("controls")})).ReportPlan
	if rp.LastSuccessfulExecutionTime == nil || len(rp.ReportDeliveryChannel.Formats) != 2 {
		t.Errorf("report plan: %+v", rp)
	}

	// A bucket that does not exist fails the job, with the reason.
	must[*backup.UpdateReportPlanOutput](t)(w.src.Backup.UpdateReportPlan(ctx, &backup.UpdateReportPlanInput{ReportPlanName: aws.String("resources"),
		ReportDeliveryChannel: &backuptypes.ReportDeliveryChannel{S3BucketName: aws.String("no-such-bucket")}}))
	id := must[*backup.StartReportJobOutput](t)(w.src.Backup.StartReportJob(ctx, &backup.StartReportJobInput{ReportPlanName: aws.String("resources")})).ReportJobId
	deadline := time.Now().Add(time.Minute)
	for {
		j := must[*backup.DescribeReportJobOutput](t)(w.src.Backup.DescribeReportJob(ctx, &backup.DescribeReportJobInput{ReportJobId: id})).ReportJob
		if aws.ToString(j.Status) == "FAILED" {
			if !strings.Contains(aws.ToString(j.StatusMessage), "no-such-bucket") {
				t.Errorf("failed report job says %q", aws.ToString(j.StatusMessage))
			}
			break
		}
		if aws.ToString(j.Status) == "COMPLETED" || time.Now().After(deadline) {
			t.Fatalf("report job into a missing bucket: %s", aws.ToString(j.Status))
		}
		time.Sleep(50 * time.Millisecond)
	}

	// The vault lock and restore time controls, the lock scoped to the
	// database by its ID: non-compliant without a lock, compliant once the
	// vault is locked; the restore time is judged once a restore ran.
	guards := must[*backup.CreateFrameworkOutput](t)(w.src.Backup.CreateFramework(ctx, &backup.CreateFrameworkInput{FrameworkName: aws.String("guards"),
		FrameworkControls: []backuptypes.FrameworkControl{
			{ControlName: aws.String("BACKUP_RESOURCES_PROTECTED_BY_BACKUP_VAULT_LOCK"),
				ControlInputParameters: []backuptypes.ControlInputParameter{{ParameterName: aws.String("minRetentionDays"), ParameterValue: aws.String("7")}},
				ControlScope:           &backuptypes.ControlScope{ComplianceResourceTypes: []string{"RDS"}, ComplianceResourceIds: []string{"orders-db"}}},
			{ControlName: aws.String("RESTORE_TIME_FOR_RESOURCES_MEET_TARGET"),
				ControlInputParameters: []backuptypes.ControlInputParameter{{ParameterName: aws.String("maxRestoreTime"), ParameterValue: aws.String("60")}}},
		}}))
	must[*backup.CreateReportPlanOutput](t)(w.src.Backup.CreateReportPlan(ctx, &backup.CreateReportPlanInput{ReportPlanName: aws.String("guards"),
		ReportDeliveryChannel: &backuptypes.ReportDeliveryChannel{S3BucketName: aws.String("coffer-reports"), S3KeyPrefix: aws.String("audit"), Formats: []string{"JSON"}},
		ReportSetting:         &backuptypes.ReportSetting{ReportTemplate: aws.String("RESOURCE_COMPLIANCE_REPORT"), FrameworkArns: []string{aws.ToString(guards.FrameworkArn)}}}))
	guarded := func() map[string][]string {
		t.Helper()
		var doc struct {
			ReportItems []struct{ ControlName, ResourceId, ResourceComplianceStatus string } `json:"reportItems"`
		}
		if err := json.Unmarshal(run("guards")[".json"], &doc); err != nil {
			t.Fatal(err)
		}
		out := map[string][]string{}
		for _, it := range doc.ReportItems {
			out[it.ControlName] = append(out[it.ControlName], it.ResourceId+" "+it.ResourceComplianceStatus)
		}
		return out
	}
	if got := guarded(); strings.Join(got["BACKUP_RESOURCES_PROTECTED_BY_BACKUP_VAULT_LOCK"], ",") != dbARN+" NON_COMPLIANT" || len(got["RESTORE_TIME_FOR_RESOURCES_MEET_TARGET"]) != 0 {
		t.Errorf("before the lock and a restore: %v", got)
	}
	must[*backup.PutBackupVaultLockConfigurationOutput](t)(w.src.Backup.PutBackupVaultLockConfiguration(ctx, &backup.PutBackupVaultLockConfigurationInput{
		BackupVaultName: aws.String("source-vault"), MinRetentionDays: aws.Int64(7)}))
	if rj := w.src.restoreJob(t, aws.ToString(bj.RecoveryPointArn), role, map[string]string{"DBInstanceIdentifier": "orders-restored"}); rj.Status != backuptypes.RestoreJobStatusCompleted {
		t.Fatalf("restore job %s: %s", rj.Status, aws.ToString(rj.StatusMessage))
	}
	if got := guarded(); strings.Join(got["BACKUP_RESOURCES_PROTECTED_BY_BACKUP_VAULT_LOCK"], ",") != dbARN+" COMPLIANT" ||
		strings.Join(got["RESTORE_TIME_FOR_RESOURCES_MEET_TARGET"], ",") != dbARN+" COMPLIANT" {
		t.Errorf("after the lock and a restore: %v", got)
	}

	// The AWS CLI v2 lists the frameworks.
	cmd := exec.Command(testenv.AWSCLIv2(t), "--endpoint-url", w.c.URL, "--output", "text", "backup", "list-frameworks", "--query", "Frameworks[].[FrameworkName,NumberOfControls]")
	cmd.Env = w.c.CLIEnv("source")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "seed_controls\t5") || !strings.Contains(string(out), "guards\t2") {
		t.Errorf("aws backup list-frameworks: %v\n%s", err, out)
	}

	if _, err := w.src.Backup.DeleteFramework(ctx, &backup.DeleteFrameworkInput{FrameworkName: aws.String("seed_controls")}); errCode(err) != "ConflictException" {
		t.Errorf("delete a framework report plans use: %v", err)
	}
	for _, p := range []string{"controls", "resources"} {
		must[*backup.DeleteReportPlanOutput](t)(w.src.Backup.DeleteReportPlan(ctx, &backup.DeleteReportPlanInput{ReportPlanName: aws.String(p)}))
	}
	must[*backup.DeleteFrameworkOutput](t)(w.src.Backup.DeleteFramework(ctx, &backup.DeleteFrameworkInput{FrameworkName: aws.String("seed_controls")}))
	if _, err := w.src.Backup.DescribeFramework(ctx, &backup.DescribeFrameworkInput{FrameworkName: aws.String("seed_controls")}); errCode(err) != "ResourceNotFoundException" {
		t.Errorf("deleted framework: %v", err)
	}
}
