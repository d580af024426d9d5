package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/backup"
	backuptypes "github.com/aws/aws-sdk-go-v2/service/backup/types"
)

// TestReportPlanDaily: a report plan reports once a day, from 01:00
// UTC, on the fake clock; in a region whose storage is a directory the
// report job fails, saying coffer knows no S3 endpoint for the bucket.
func TestReportPlanDaily(t *testing.T) {
	ctx := context.Background()
	day := time.Now().UTC().Truncate(24 * time.Hour)
	clock := &fakeClock{t: day.Add(-time.Hour)}
	n := startNode(t, clockedConfig(t, filepath.Join(t.TempDir(), "data"), ""), clock)
	src := n.clients(t, source, "source", "")
	fw := must[*backup.CreateFrameworkOutput](t)(src.Backup.CreateFramework(ctx, &backup.CreateFrameworkInput{FrameworkName: aws.String("plan_coverage"),
		FrameworkControls: []backuptypes.FrameworkControl{{ControlName: aws.String("BACKUP_RESOURCES_PROTECTED_BY_BACKUP_PLAN")}}}))
	must[*backup.CreateReportPlanOutput](t)(src.Backup.CreateReportPlan(ctx, &backup.CreateReportPlanInput{ReportPlanName: aws.String("daily"),
		ReportDeliveryChannel: &backuptypes.ReportDeliveryChannel{S3BucketName: aws.String("reports")},
		ReportSetting:         &backuptypes.ReportSetting{ReportTemplate: aws.String("CONTROL_COMPLIANCE_REPORT"), FrameworkArns: []string{aws.ToString(fw.FrameworkArn)}}}))

	for _, step := range []struct {
		at   time.Duration // after midnight of the first day
		want int
	}{
		{30 * time.Minute, 0},               // before the window
		{time.Hour + 5*time.Minute, 1},      // the first day's report
		{2 * time.Hour, 0},                  // once a day
		{6 * time.Hour, 0},                  // after the window
		{24*time.Hour + 30*time.Minute, 0},  // the next day, before the window
		{24*time.Hour + 90*time.Minute, 1},  // the next day's report
		{24*time.Hour + 100*time.Minute, 0}, // once
	} {
		clock.Set(day.Add(step.at))
		got, err := n.app.AuditManager().Tick(ctx)
		if err != nil || got != step.want {
			t.Fatalf("tick at +%s: started %d (%v), want %d", step.at, got, err, step.want)
		}
		waitReportJobs(t, src)
	}
	jobs := must[*backup.ListReportJobsOutput](t)(src.Backup.ListReportJobs(ctx, &backup.ListReportJobsInput{ByReportPlanName: aws.String("daily")}))
	if len(jobs.ReportJobs) != 2 {
		t.Fatalf("%d report jobs, want 2", len(jobs.ReportJobs))
	}
	for _, j := range jobs.ReportJobs {
		if aws.ToString(j.Status) != "FAILED" || !strings.Contains(aws.ToString(j.StatusMessage), "keeps its data in a directory") {
			t.Errorf("report job %s: %s", aws.ToString(j.Status), aws.ToString(j.StatusMessage))
		}
	}
	rp := must[*backup.DescribeReportPlanOutput](t)(src.Backup.DescribeReportPlan(ctx, &backup.DescribeReportPlanInput{ReportPlanName: aws.String("daily")})).ReportPlan
	if rp.LastAttemptedExecutionTime == nil || rp.LastSuccessfulExecutionTime != nil {
		t.Errorf("report plan executions: attempted %v, successful %v", rp.LastAttemptedExecutionTime, rp.LastSuccessfulExecutionTime)
	}
}

// waitReportJobs waits until none of the account's report jobs is queued
// or running.
func waitReportJobs(t *testing.T, a *account) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		jobs := must[*backup.ListReportJobsOutput](t)(a.Backup.ListReportJobs(context.Background(), &backup.ListReportJobsInput{}))
		busy := 0
		for _, j := range jobs.ReportJobs {
			if s := aws.ToString(j.Status); s == "CREATED" || s == "RUNNING" {
				busy++
			}
		}
		if busy == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d report jobs still running", busy)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
