package e2e

import (
	"context"
	"encoding/json"
	"os/exec"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/backup"
	backuptypes "github.com/aws/aws-sdk-go-v2/service/backup/types"

	"github.com/coffer-dev/coffer/internal/testenv"
)

// TestEverydaySurface drives the job summaries, the protected-resource
// and restore-job listings, the supported types, the plan templates and
// the disassociate operations through aws-sdk-go-v2 (and one summary
// through the AWS CLI v2) over real jobs.
func TestEverydaySurface(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, nil)
	key := w.src.createKey(t, "source-cmk", sharedKeyPolicy(source))
	role := w.src.backupRole(t, "backup-role")
	w.src.vault(t, "source-vault", key)
	dbARN := w.src.createDB(t, "orders-db", "alias/source-cmk", 50)

	ok := w.src.backupJob(t, "source-vault", dbARN, role)
	if ok.State != backuptypes.BackupJobStateCompleted {
		t.Fatalf("backup job %s: %s", ok.State, aws.ToString(ok.StatusMessage))
	}
	bad := w.src.backupJob(t, "source-vault", "arn:aws:rds:us-east-1:111222333444:db:no-such-db", role)
	if bad.State != backuptypes.BackupJobStateFailed {
		t.Fatalf("backup of a missing instance ended %s", bad.State)
	}
	rp := aws.ToString(ok.RecoveryPointArn)
	rj := w.src.restoreJob(t, rp, role, map[string]string{"DBInstanceIdentifier": "orders-restored", "KmsKeyId": key})
	if rj.Status != backuptypes.RestoreJobStatusCompleted {
		t.Fatalf("restore job %s: %s", rj.Status, aws.ToString(rj.StatusMessage))
	}

	t.Run("summaries", func(t *testing.T) {
		daily := must[*backup.ListBackupJobSummariesOutput](t)(w.src.Backup.ListBackupJobSummaries(ctx, &backup.ListBackupJobSummariesInput{}))
		if aws.ToString(daily.AggregationPeriod) != "ONE_DAY" {
			t.Errorf("default AggregationPeriod = %q", aws.ToString(daily.AggregationPeriod))
		}
		got := map[string]int32{}
		for _, s := range daily.BackupJobSummaries {
			if aws.ToString(s.AccountId) != source || aws.ToString(s.Region) != region || aws.ToString(s.ResourceType) != "RDS" {
				t.Errorf("summary %+v", s)
			}
			if aws.ToTime(s.EndTime).Sub(aws.ToTime(s.StartTime)) > 24*time.Hour {
				t.Errorf("a ONE_DAY summary spans %s", aws.ToTime(s.EndTime).Sub(aws.ToTime(s.StartTime)))
			}
			got[string(s.State)+"/"+aws.ToString(s.MessageCategory)] += s.Count
		}
		if got["COMPLETED/SUCCESS"] != 1 || got["FAILED/UNKNOWN"] != 1 || len(got) != 2 {
			t.Errorf("daily backup summaries = %v, want one COMPLETED/SUCCESS and one FAILED/UNKNOWN", got)
		}
		all := must[*backup.ListBackupJobSummariesOutput](t)(w.src.Backup.ListBackupJobSummaries(ctx, &backup.ListBackupJobSummariesInput{
			AggregationPeriod: backuptypes.AggregationPeriodFourteenDays, State: backuptypes.BackupJobStatusAggregateAll, MessageCategory: aws.String("AGGREGATE_ALL")}))
		if len(all.BackupJobSummaries) != 1 || all.BackupJobSummaries[0].Count != 2 || all.BackupJobSummaries[0].State != "AGGREGATE_ALL" {
			t.Errorf("aggregated summaries = %+v", all.BackupJobSummaries)
		}
		failed := must[*backup.ListBackupJobSummariesOutput](t)(w.src.Backup.ListBackupJobSummaries(ctx, &backup.ListBackupJobSummariesInput{State: backuptypes.BackupJobStatusFailed}))
		if len(failed.BackupJobSummaries) != 1 || failed.BackupJobSummaries[0].Count != 1 {
			t.Errorf("FAILED summaries = %+v", failed.BackupJobSummaries)
		}
		restores := must[*backup.ListRestoreJobSummariesOutput](t)(w.src.Backup.ListRestoreJobSummaries(ctx, &backup.ListRestoreJobSummariesInput{AggregationPeriod: backuptypes.AggregationPeriodSevenDays}))
		if len(restores.RestoreJobSummaries) != 1 || restores.RestoreJobSummaries[0].State != backuptypes.RestoreJobStateCompleted || restores.RestoreJobSummaries[0].Count != 1 {
			t.Errorf("restore summaries = %+v", restores.RestoreJobSummaries)
		}
		copies := must[*backup.ListCopyJobSummariesOutput](t)(w.src.Backup.ListCopyJobSummaries(ctx, &backup.ListCopyJobSummariesInput{}))
		if len(copies.CopyJobSummaries) != 0 {
			t.Errorf("copy summaries = %+v, want none", copies.CopyJobSummaries)
		}
		paged := must[*backup.ListBackupJobSummariesOutput](t)(w.src.Backup.ListBackupJobSummaries(ctx, &backup.ListBackupJobSummariesInput{MaxResults: aws.Int32(1)}))
		if len(paged.BackupJobSummaries) != 1 || paged.NextToken == nil {
			t.Errorf("page of 1: %d summaries, next %v", len(paged.BackupJobSummaries), paged.NextToken)
		}
		// The organization's management account sees its members' jobs
		// with ANY; a member may not name another account; an account
		// of another organization sees only its own (none).
		org := must[*backup.ListBackupJobSummariesOutput](t)(w.mgmt.Backup.ListBackupJobSummaries(ctx, &backup.ListBackupJobSummariesInput{AccountId: aws.String("ANY"), AggregationPeriod: backuptypes.AggregationPeriodFourteenDays}))
		n := int32(0)
		for _, s := range org.BackupJobSummaries {
			n += s.Count
		}
		if n != 2 {
			t.Errorf("management account with AccountId=ANY counts %d jobs, want 2", n)
		}
		_, err := w.src.Backup.ListBackupJobSummaries(ctx, &backup.ListBackupJobSummariesInput{AccountId: aws.String(management)})
		if errCode(err) != "AccessDeniedException" {
			t.Errorf("member naming the management account: %v", err)
		}
		out := must[*backup.ListBackupJobSummariesOutput](t)(w.out.Backup.ListBackupJobSummaries(ctx, &backup.ListBackupJobSummariesInput{AccountId: aws.String("ANY")}))
		if len(out.BackupJobSummaries) != 0 {
			t.Errorf("outsider sees %+v", out.BackupJobSummaries)
		}
		_, err = w.src.Backup.ListBackupJobSummaries(ctx, &backup.ListBackupJobSummariesInput{AggregationPeriod: "ONE_WEEK"})
		if errCode(err) != "InvalidParameterValueException" {
			t.Errorf("AggregationPeriod ONE_WEEK: %v", err)
		}
		_, err = w.src.Backup.ListCopyJobSummaries(ctx, &backup.ListCopyJobSummariesInput{State: "EXPIRED"})
		if errCode(err) != "InvalidParameterValueException" {
			t.Errorf("copy summaries State EXPIRED: %v", err)
		}
	})

	// The Debian AWS CLI v2 predates the summaries and the by-vault
	// listing; it has the template and resource type operations.
	t.Run("cli", func(t *testing.T) {
		cli := testenv.AWSCLIv2(t)
		run := func(args ...string) []byte {
			cmd := exec.Command(cli, append([]string{"--endpoint-url", w.c.URL, "--output", "json", "backup"}, args...)...)
			cmd.Env = w.c.CLIEnv("source")
			raw, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("aws backup %v: %v\n%s", args, err, raw)
			}
			return raw
		}
		var types struct{ ResourceTypes []string }
		if raw := run("get-supported-resource-types"); json.Unmarshal(raw, &types) != nil || len(types.ResourceTypes) != 1 || types.ResourceTypes[0] != "RDS" {
			t.Errorf("CLI supported types = %s", raw)
		}
		var tpl struct {
			BackupPlanDocument struct {
				Rules []struct {
					RuleName  string
					Lifecycle struct{ DeleteAfterDays int }
				}
			}
		}
		raw := run("get-backup-plan-from-template", "--backup-plan-template-id", "87c0c1ef-254d-4180-8fef-2e76a2c38aaa")
		if err := json.Unmarshal(raw, &tpl); err != nil || len(tpl.BackupPlanDocument.Rules) != 1 || tpl.BackupPlanDocument.Rules[0].Lifecycle.DeleteAfterDays != 35 {
			t.Errorf("CLI template = %s (%v)", raw, err)
		}
	})

	t.Run("protected", func(t *testing.T) {
		byVault := must[*backup.ListProtectedResourcesByBackupVaultOutput](t)(w.src.Backup.ListProtectedResourcesByBackupVault(ctx, &backup.ListProtectedResourcesByBackupVaultInput{BackupVaultName: aws.String("source-vault")}))
		if len(byVault.Results) != 1 || aws.ToString(byVault.Results[0].ResourceArn) != dbARN || aws.ToString(byVault.Results[0].LastRecoveryPointArn) != rp {
			t.Errorf("protected resources of source-vault = %+v", byVault.Results)
		}
		none := must[*backup.ListProtectedResourcesByBackupVaultOutput](t)(w.src.Backup.ListProtectedResourcesByBackupVault(ctx, &backup.ListProtectedResourcesByBackupVaultInput{BackupVaultName: aws.String("Default")}))
		if len(none.Results) != 0 {
			t.Errorf("protected resources of Default = %+v", none.Results)
		}
		_, err := w.src.Backup.ListProtectedResourcesByBackupVault(ctx, &backup.ListProtectedResourcesByBackupVaultInput{BackupVaultName: aws.String("no-such-vault")})
		if errCode(err) != "ResourceNotFoundException" {
			t.Errorf("missing vault: %v", err)
		}
		_, err = w.dst.Backup.ListProtectedResourcesByBackupVault(ctx, &backup.ListProtectedResourcesByBackupVaultInput{BackupVaultName: aws.String("source-vault"), BackupVaultAccountId: aws.String(source)})
		if errCode(err) != "InvalidParameterValueException" {
			t.Errorf("another account's vault: %v", err)
		}

		jobs := must[*backup.ListRestoreJobsByProtectedResourceOutput](t)(w.src.Backup.ListRestoreJobsByProtectedResource(ctx, &backup.ListRestoreJobsByProtectedResourceInput{ResourceArn: aws.String(dbARN)}))
		if len(jobs.RestoreJobs) != 1 || aws.ToString(jobs.RestoreJobs[0].RestoreJobId) != aws.ToString(rj.RestoreJobId) || jobs.RestoreJobs[0].RecoveryPointCreationDate == nil {
			t.Fatalf("restore jobs of %s = %+v", dbARN, jobs.RestoreJobs)
		}
		created := aws.ToTime(jobs.RestoreJobs[0].RecoveryPointCreationDate)
		// The recovery point's creation date, as DescribeRecoveryPoint
		// has it, in every view of the restore job.
		rpCreated := aws.ToTime(must[*backup.DescribeRecoveryPointOutput](t)(w.src.Backup.DescribeRecoveryPoint(ctx, &backup.DescribeRecoveryPointInput{
			BackupVaultName: aws.String("source-vault"), RecoveryPointArn: rj.RecoveryPointArn})).CreationDate)
		described := must[*backup.DescribeRestoreJobOutput](t)(w.src.Backup.DescribeRestoreJob(ctx, &backup.DescribeRestoreJobInput{RestoreJobId: rj.RestoreJobId}))
		listed := must[*backup.ListRestoreJobsOutput](t)(w.src.Backup.ListRestoreJobs(ctx, &backup.ListRestoreJobsInput{}))
		if len(listed.RestoreJobs) != 1 || !created.Equal(rpCreated) || !aws.ToTime(described.RecoveryPointCreationDate).Equal(rpCreated) ||
			!aws.ToTime(listed.RestoreJobs[0].RecoveryPointCreationDate).Equal(rpCreated) {
			t.Errorf("RecoveryPointCreationDate: by resource %v, DescribeRestoreJob %v, ListRestoreJobs %+v; the recovery point was created %v",
				created, aws.ToTime(described.RecoveryPointCreationDate), listed.RestoreJobs, rpCreated)
		}
		for name, in := range map[string]*backup.ListRestoreJobsByProtectedResourceInput{
			"failed only":    {ResourceArn: aws.String(dbARN), ByStatus: backuptypes.RestoreJobStatusFailed},
			"points after":   {ResourceArn: aws.String(dbARN), ByRecoveryPointCreationDateAfter: aws.Time(created.Add(time.Minute))},
			"points before":  {ResourceArn: aws.String(dbARN), ByRecoveryPointCreationDateBefore: aws.Time(created.Add(-time.Minute))},
			"other resource": {ResourceArn: aws.String("arn:aws:rds:us-east-1:111222333444:db:other")},
		} {
			if got := must[*backup.ListRestoreJobsByProtectedResourceOutput](t)(w.src.Backup.ListRestoreJobsByProtectedResource(ctx, in)); len(got.RestoreJobs) != 0 {
				t.Errorf("%s: %d restore jobs, want none", name, len(got.RestoreJobs))
			}
		}
		if got := must[*backup.ListRestoreJobsByProtectedResourceOutput](t)(w.src.Backup.ListRestoreJobsByProtectedResource(ctx, &backup.ListRestoreJobsByProtectedResourceInput{
			ResourceArn: aws.String(dbARN), ByStatus: backuptypes.RestoreJobStatusCompleted, ByRecoveryPointCreationDateAfter: aws.Time(created.Add(-time.Minute))})); len(got.RestoreJobs) != 1 {
			t.Errorf("completed restores of points made after %s: %d, want 1", created.Add(-time.Minute), len(got.RestoreJobs))
		}
		if _, err := w.dst.Backup.ListRestoreJobsByProtectedResource(ctx, &backup.ListRestoreJobsByProtectedResourceInput{ResourceArn: aws.String(dbARN)}); errCode(err) != "AccessDeniedException" {
			t.Errorf("the backup account listing the source account's restore jobs: %v", err)
		}
	})

	t.Run("types and templates", func(t *testing.T) {
		types := must[*backup.GetSupportedResourceTypesOutput](t)(w.src.Backup.GetSupportedResourceTypes(ctx, &backup.GetSupportedResourceTypesInput{}))
		if len(types.ResourceTypes) != 1 || types.ResourceTypes[0] != "RDS" {
			t.Errorf("supported resource types = %v", types.ResourceTypes)
		}
		list := must[*backup.ListBackupPlanTemplatesOutput](t)(w.src.Backup.ListBackupPlanTemplates(ctx, &backup.ListBackupPlanTemplatesInput{}))
		const daily = "87c0c1ef-254d-4180-8fef-2e76a2c38aaa"
		if len(list.BackupPlanTemplatesList) == 0 || aws.ToString(list.BackupPlanTemplatesList[0].BackupPlanTemplateId) != daily {
			t.Fatalf("templates = %+v", list.BackupPlanTemplatesList)
		}
		doc := must[*backup.GetBackupPlanFromTemplateOutput](t)(w.src.Backup.GetBackupPlanFromTemplate(ctx, &backup.GetBackupPlanFromTemplateInput{BackupPlanTemplateId: aws.String(daily)}))
		r := doc.BackupPlanDocument.Rules[0]
		if aws.ToString(r.RuleName) != "DailyBackups" || aws.ToString(r.ScheduleExpression) != "cron(0 5 ? * * *)" || aws.ToInt64(r.StartWindowMinutes) != 480 || aws.ToInt64(r.Lifecycle.DeleteAfterDays) != 35 {
			t.Errorf("template rule = %+v", r)
		}
		// The template is a plan one can create.
		in := &backuptypes.BackupPlanInput{BackupPlanName: doc.BackupPlanDocument.BackupPlanName}
		for _, r := range doc.BackupPlanDocument.Rules {
			in.Rules = append(in.Rules, backuptypes.BackupRuleInput{RuleName: r.RuleName, TargetBackupVaultName: r.TargetBackupVaultName, ScheduleExpression: r.ScheduleExpression,
				StartWindowMinutes: r.StartWindowMinutes, CompletionWindowMinutes: r.CompletionWindowMinutes, Lifecycle: r.Lifecycle})
		}
		must[*backup.CreateBackupPlanOutput](t)(w.src.Backup.CreateBackupPlan(ctx, &backup.CreateBackupPlanInput{BackupPlan: in}))
		_, err := w.src.Backup.GetBackupPlanFromTemplate(ctx, &backup.GetBackupPlanFromTemplateInput{BackupPlanTemplateId: aws.String("no-such-template")})
		if errCode(err) != "ResourceNotFoundException" {
			t.Errorf("unknown template: %v", err)
		}
	})

	t.Run("disassociate", func(t *testing.T) {
		_, err := w.src.Backup.DisassociateRecoveryPoint(ctx, &backup.DisassociateRecoveryPointInput{BackupVaultName: aws.String("source-vault"), RecoveryPointArn: aws.String(rp)})
		if errCode(err) != "InvalidRequestException" {
			t.Errorf("disassociating a snapshot recovery point: %v", err)
		}
		_, err = w.src.Backup.DisassociateRecoveryPointFromParent(ctx, &backup.DisassociateRecoveryPointFromParentInput{BackupVaultName: aws.String("source-vault"), RecoveryPointArn: aws.String(rp)})
		if errCode(err) != "InvalidRequestException" {
			t.Errorf("disassociating a recovery point without parent: %v", err)
		}
		_, err = w.dst.Backup.DisassociateRecoveryPoint(ctx, &backup.DisassociateRecoveryPointInput{BackupVaultName: aws.String("source-vault"), RecoveryPointArn: aws.String(rp)})
		if errCode(err) != "ResourceNotFoundException" && errCode(err) != "AccessDeniedException" {
			t.Errorf("another account disassociating: %v", err)
		}
		still := must[*backup.DescribeRecoveryPointOutput](t)(w.src.Backup.DescribeRecoveryPoint(ctx, &backup.DescribeRecoveryPointInput{BackupVaultName: aws.String("source-vault"), RecoveryPointArn: aws.String(rp)}))
		if still.Status != backuptypes.RecoveryPointStatusCompleted {
			t.Errorf("recovery point after refused disassociations: %s", still.Status)
		}
	})
}
