package e2e

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/backup"
	backuptypes "github.com/aws/aws-sdk-go-v2/service/backup/types"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	rdstypes "github.com/aws/aws-sdk-go-v2/service/rds/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	cofferbackup "github.com/coffer-dev/coffer/internal/backup"
	"github.com/coffer-dev/coffer/internal/meta"
	metapostgres "github.com/coffer-dev/coffer/internal/meta/postgres"
	metasqlite "github.com/coffer-dev/coffer/internal/meta/sqlite"
	"github.com/coffer-dev/coffer/internal/restoretesting"
	"github.com/coffer-dev/coffer/internal/testenv"
)

// TestRestoreTestingWeek: a restore testing plan in the backup account,
// on the fake clock, restores the seed's cross-account copy every day for
// a week into a temporary instance, validates it (checksums and a
// validation query), and deletes the instance at the end of the
// selection's validation window. Then a validation query that returns
// false, and a recovery point whose stored bytes were damaged, each show
// up as a FAILED validation; the damaged one's failed restore job is
// notified, signed, to the vault's SNS topic.
func TestRestoreTestingWeek(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { restoreTestingWeek(t, "") })
	t.Run("postgres", func(t *testing.T) {
		pg := testenv.StartPostgres(t)
		restoreTestingWeek(t, pg.CreateDatabase(t, "coffer"))
	})
}

// restoreTestingWeek runs the week with the metadata in database ("" for
// SQLite in the data directory).
func restoreTestingWeek(t *testing.T, database string) {
	ctx := context.Background()
	start := time.Now().UTC().Truncate(24 * time.Hour).Add(time.Minute)
	clock := &fakeClock{t: start}
	dataDir := filepath.Join(t.TempDir(), "data")
	cfg := clockedConfig(t, dataDir, database)
	n := startNode(t, cfg, clock)
	mgmt, src, dst := n.clients(t, management, "default", ""), n.clients(t, source, "source", ""), n.clients(t, backupAcct, "backup", "")

	// The seed: a backup in the source account, copied into the backup
	// account's vault under its own key.
	w := &world{t: t, mgmt: mgmt}
	w.enableCrossAccount(t)
	org := w.orgID(t)
	srcKey := src.createKey(t, "source-cmk", sharedKeyPolicy(source, backupAcct))
	dbARN := src.createDB(t, "orders-db", "alias/source-cmk", 200)
	must[*rds.AddTagsToResourceOutput](t)(src.RDS.AddTagsToResource(ctx, &rds.AddTagsToResourceInput{ResourceName: aws.String(dbARN), Tags: []rdstypes.Tag{{Key: aws.String("tier"), Value: aws.String("gold")}}}))
	srcRole := src.backupRole(t, "backup-role")
	src.vault(t, "source-vault", srcKey)
	dstKey := dst.createKey(t, "backup-cmk", sharedKeyPolicy(backupAcct))
	dstRole := dst.backupRole(t, "AWSBackupDefaultServiceRole")
	dst.allowKeyUse(t, "AWSBackupDefaultServiceRole", srcKey)
	dstVault := dst.vault(t, "backup-vault", dstKey)
	dst.allowOrgCopies(t, "backup-vault", org)
	job := src.backupJob(t, "source-vault", dbARN, srcRole)
	cj := src.copyJob(t, aws.ToString(job.RecoveryPointArn), "source-vault", dstVault, srcRole)
	if cj.State != backuptypes.CopyJobStateCompleted {
		t.Fatalf("copy job %s: %s", cj.State, aws.ToString(cj.StatusMessage))
	}
	copyARN := aws.ToString(cj.DestinationRecoveryPointArn)

	inferred := must[*backup.GetRestoreTestingInferredMetadataOutput](t)(dst.Backup.GetRestoreTestingInferredMetadata(ctx, &backup.GetRestoreTestingInferredMetadataInput{
		BackupVaultName: aws.String("backup-vault"), RecoveryPointArn: aws.String(copyARN)}))
	if _, ok := inferred.InferredMetadata["DBInstanceIdentifier"]; ok || inferred.InferredMetadata["Engine"] != "sqlite" {
		t.Errorf("inferred metadata %v: want the copy's restore metadata without the source's identifier", inferred.InferredMetadata)
	}

	// The plan: every day at 05:00 UTC, the latest recovery point in the
	// backup vault; the selection: RDS resources tagged tier=gold,
	// restored with the backup key, validated by a query, kept an hour.
	plan := must[*backup.CreateRestoreTestingPlanOutput](t)(dst.Backup.CreateRestoreTestingPlan(ctx, &backup.CreateRestoreTestingPlanInput{
		RestoreTestingPlan: &backuptypes.RestoreTestingPlanForCreate{
			RestoreTestingPlanName: aws.String("daily_orders"), ScheduleExpression: aws.String("cron(0 5 ? * * *)"), StartWindowHours: 2,
			RecoveryPointSelection: &backuptypes.RestoreTestingRecoveryPointSelection{
				Algorithm: backuptypes.RestoreTestingRecoveryPointSelectionAlgorithmLatestWithinWindow, IncludeVaults: []string{dstVault},
				RecoveryPointTypes: []backuptypes.RestoreTestingRecoveryPointType{backuptypes.RestoreTestingRecoveryPointTypeSnapshot}, SelectionWindowDays: 30,
			},
		}}))
	planARN := aws.ToString(plan.RestoreTestingPlanArn)
	must[*backup.CreateRestoreTestingSelectionOutput](t)(dst.Backup.CreateRestoreTestingSelection(ctx, &backup.CreateRestoreTestingSelectionInput{
		RestoreTestingPlanName: aws.String("daily_orders"),
		RestoreTestingSelection: &backuptypes.RestoreTestingSelectionForCreate{
			RestoreTestingSelectionName: aws.String("gold_databases"), IamRoleArn: aws.String(dstRole), ProtectedResourceType: aws.String("RDS"),
			ProtectedResourceArns:       []string{"*"},
			ProtectedResourceConditions: &backuptypes.ProtectedResourceConditions{StringEquals: []backuptypes.KeyValue{{Key: aws.String("tier"), Value: aws.String("gold")}}},
			RestoreMetadataOverrides:    map[string]string{"kmskeyid": dstKey, "ValidationQuery": "SELECT COUNT(*) = 200 FROM orders"},
			ValidationWindowHours:       aws.Int32(1),
		}}))

	// The node's own periodic tick (every minute of real time) may start
	// a run before the test's tick does: a run's job is counted as
	// started or existing.
	day := func(d int) time.Time {
		return start.Truncate(24 * time.Hour).Add(time.Duration(d)*24*time.Hour + 5*time.Hour + time.Minute)
	}
	// test runs day d's restore test to its end and returns its job.
	test := func(d int) backuptypes.RestoreJobsListMember {
		t.Helper()
		clock.Set(day(d))
		res, err := n.app.RestoreTesting().Tick(ctx)
		if err != nil || len(res.Errors) > 0 || res.Started+res.Existing != 1 {
			t.Fatalf("day %d: tick %+v %v, want one restore started", d, res, err)
		}
		j := waitRestoreTests(t, dst, planARN, d)
		if got := aws.ToString(j.CreatedBy.RestoreTestingPlanArn); got != planARN {
			t.Errorf("day %d: CreatedBy %s, want %s", d, got, planARN)
		}
		if aws.ToString(j.RecoveryPointArn) != copyARN || aws.ToString(j.SourceResourceArn) != dbARN {
			t.Errorf("day %d: restored %s of %s, want the copy %s of %s", d, aws.ToString(j.RecoveryPointArn), aws.ToString(j.SourceResourceArn), copyARN, dbARN)
		}
		// The validation window ends an hour after completion: the
		// temporary instance goes then, not before.
		clock.Set(day(d).Add(30 * time.Minute))
		if res, _ := n.app.RestoreTesting().Tick(ctx); res.Deleting+res.Deleted != 0 {
			t.Fatalf("day %d: instance deleted inside its validation window: %+v", d, res)
		}
		clock.Set(day(d).Add(90 * time.Minute))
		waitDeleted(t, n, dst, aws.ToString(j.RestoreJobId))
		return describeRestore(t, dst, aws.ToString(j.RestoreJobId))
	}

	var instances []string
	for d := 1; d <= 7; d++ {
		j := test(d)
		if j.Status != backuptypes.RestoreJobStatusCompleted || j.ValidationStatus != backuptypes.RestoreValidationStatusSuccessful {
			t.Fatalf("day %d: %s %s, validation %s: %s", d, j.Status, aws.ToString(j.StatusMessage), j.ValidationStatus, aws.ToString(j.ValidationStatusMessage))
		}
		if !strings.Contains(aws.ToString(j.ValidationStatusMessage), "validation query returned true") {
			t.Errorf("day %d: validation message %q does not mention the query", d, aws.ToString(j.ValidationStatusMessage))
		}
		if j.DeletionStatus != backuptypes.RestoreDeletionStatusSuccessful {
			t.Errorf("day %d: deletion %s: %s", d, j.DeletionStatus, aws.ToString(j.DeletionStatusMessage))
		}
		instances = append(instances, aws.ToString(j.CreatedResourceArn))
	}
	// Seven temporary instances, each gone.
	for _, arn := range instances {
		_, err := dst.RDS.DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String(arn[strings.LastIndex(arn, ":")+1:])})
		var nf *rdstypes.DBInstanceNotFoundFault
		if !errors.As(err, &nf) {
			t.Errorf("temporary instance %s still exists (%v)", arn, err)
		}
	}
	first := describeRestore(t, dst, aws.ToString(listRestoreTests(t, dst, planARN)[0].RestoreJobId))
	md := must[*backup.GetRestoreJobMetadataOutput](t)(dst.Backup.GetRestoreJobMetadata(ctx, &backup.GetRestoreJobMetadataInput{RestoreJobId: first.RestoreJobId}))
	if md.Metadata["KmsKeyId"] != dstKey || !strings.HasPrefix(md.Metadata["DBInstanceIdentifier"], "awsbackup-restore-test-") {
		t.Errorf("restore job metadata %v: want KmsKeyId %s and a temporary identifier", md.Metadata, dstKey)
	}
	// A validation result is taken while the instance lives, not after.
	_, err := dst.Backup.PutRestoreValidationResult(ctx, &backup.PutRestoreValidationResultInput{RestoreJobId: first.RestoreJobId, ValidationStatus: backuptypes.RestoreValidationStatusFailed})
	if errCode(err) != "InvalidRequestException" {
		t.Errorf("PutRestoreValidationResult after deletion: %v, want InvalidRequestException", err)
	}

	// Day 8: a query that returns false fails the validation; within the
	// window, the caller's own result replaces it.
	must[*backup.UpdateRestoreTestingSelectionOutput](t)(dst.Backup.UpdateRestoreTestingSelection(ctx, &backup.UpdateRestoreTestingSelectionInput{
		RestoreTestingPlanName: aws.String("daily_orders"), RestoreTestingSelectionName: aws.String("gold_databases"),
		RestoreTestingSelection: &backuptypes.RestoreTestingSelectionForUpdate{RestoreMetadataOverrides: map[string]string{"KmsKeyId": dstKey, "validationquery": "SELECT COUNT(*) = 999 FROM orders"}},
	}))
	clock.Set(day(8))
	if res, err := n.app.RestoreTesting().Tick(ctx); err != nil || res.Started+res.Existing != 1 {
		t.Fatalf("day 8: tick %+v %v", res, err)
	}
	j8 := waitRestoreTests(t, dst, planARN, 8)
	if j8.Status != backuptypes.RestoreJobStatusCompleted || j8.ValidationStatus != backuptypes.RestoreValidationStatusFailed ||
		!strings.Contains(aws.ToString(j8.ValidationStatusMessage), "returned false") {
		t.Errorf("day 8: %s, validation %s: %s; want COMPLETED with a FAILED validation", j8.Status, j8.ValidationStatus, aws.ToString(j8.ValidationStatusMessage))
	}
	must[*backup.PutRestoreValidationResultOutput](t)(dst.Backup.PutRestoreValidationResult(ctx, &backup.PutRestoreValidationResultInput{
		RestoreJobId: j8.RestoreJobId, ValidationStatus: backuptypes.RestoreValidationStatusSuccessful, ValidationStatusMessage: aws.String("checked by hand")}))
	if j := describeRestore(t, dst, aws.ToString(j8.RestoreJobId)); j.ValidationStatus != backuptypes.RestoreValidationStatusSuccessful || aws.ToString(j.ValidationStatusMessage) != "checked by hand" {
		t.Errorf("after PutRestoreValidationResult: %s %q", j.ValidationStatus, aws.ToString(j.ValidationStatusMessage))
	}
	clock.Set(day(8).Add(90 * time.Minute))
	waitDeleted(t, n, dst, aws.ToString(j8.RestoreJobId))

	// Day 9: a byte flipped in the backup vault's stored data. The
	// vault's notifications go to a signature-verifying receiver.
	rcv := newReceiver(t, n.c.URL+"/", false)
	topic := rcv.subscribe(t, sns.NewFromConfig(n.c.AWSConfig(t, n.c.Profile(t, "backup"))), "restore-tests", backupAcct)
	must[*backup.PutBackupVaultNotificationsOutput](t)(dst.Backup.PutBackupVaultNotifications(ctx, &backup.PutBackupVaultNotificationsInput{
		BackupVaultName: aws.String("backup-vault"), SNSTopicArn: aws.String(topic), BackupVaultEvents: []backuptypes.BackupVaultEvent{backuptypes.BackupVaultEventRestoreJobCompleted}}))
	packs, _ := filepath.Glob(filepath.Join(dataDir, "regions", region, "vaults", backupAcct+".backup-vault", "*", "data", "*", "*"))
	if len(packs) == 0 {
		t.Fatal("no packs of the backup vault under the data directory")
	}
	for _, p := range packs {
		b := must[[]byte](t)(os.ReadFile(p))
		b[len(b)/2] ^= 1
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	clock.Set(day(9))
	if res, err := n.app.RestoreTesting().Tick(ctx); err != nil || res.Started+res.Existing != 1 {
		t.Fatalf("day 9: tick %+v %v", res, err)
	}
	j9 := waitRestoreTests(t, dst, planARN, 9)
	if j9.Status != backuptypes.RestoreJobStatusFailed || j9.ValidationStatus != backuptypes.RestoreValidationStatusFailed ||
		!strings.Contains(aws.ToString(j9.ValidationStatusMessage), "integrity") {
		t.Errorf("day 9: %s, validation %s: %s; want FAILED with a FAILED validation", j9.Status, j9.ValidationStatus, aws.ToString(j9.ValidationStatusMessage))
	}
	failed := rcv.wait(t, "RESTORE_JOB failed", event("RESTORE_JOB", "FAILED", aws.ToString(j9.RestoreJobId)))
	if !strings.Contains(failed.Message, "ended FAILED") || !strings.Contains(failed.Message, aws.ToString(j9.StatusMessage)) || failed.MessageAttributes["AccountId"].Value != backupAcct {
		t.Errorf("day 9: notification %+v; want the failed restore test with its status message %q", failed, aws.ToString(j9.StatusMessage))
	}
	clock.Set(day(9).Add(90 * time.Minute))
	waitDeleted(t, n, dst, aws.ToString(j9.RestoreJobId))

	// The results as the AWS CLIs list them: v2 (whose model predates
	// restore testing) sees the tests' restore jobs, v1 (whose model
	// knows them) filters by the plan and sees their validation.
	cliText := func(bin string, args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"--endpoint-url", n.c.URL, "--output", "text", "backup"}, args...)...)
		cmd.Env = n.c.CLIEnv("backup")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("aws backup %s: %v\n%s", args[0], err, out)
		}
		return string(out)
	}
	v2 := cliText(testenv.AWSCLIv2(t), "list-restore-jobs", "--query", "RestoreJobs[].Status")
	if strings.Count(v2, "COMPLETED") != 8 || strings.Count(v2, "FAILED") != 1 {
		t.Errorf("aws (v2) backup list-restore-jobs: %q, want 8 COMPLETED and 1 FAILED", v2)
	}
	v1 := cliText(testenv.AWSCLIv1(t), "list-restore-jobs", "--by-restore-testing-plan-arn", planARN, "--query", "RestoreJobs[].ValidationStatus")
	if strings.Count(v1, "SUCCESSFUL") != 8 || strings.Count(v1, "FAILED") != 1 {
		t.Errorf("aws (v1) backup list-restore-jobs --by-restore-testing-plan-arn: %q, want 8 SUCCESSFUL and 1 FAILED", v1)
	}
	metrics := getText(t, n.c.URL+"/_coffer/metrics")
	for _, want := range []string{
		`coffer_restore_tests{account="666777888999",plan="` + planARN + `",region="us-east-1",validation_status="SUCCESSFUL"} 8`,
		`coffer_restore_tests{account="666777888999",plan="` + planARN + `",region="us-east-1",validation_status="FAILED"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	// coffer status's view, from the store: one resource tested nine
	// times, the newest test failed.
	var store *meta.SQLStore
	if database == "" {
		store = must[*meta.SQLStore](t)(metasqlite.Open(ctx, filepath.Join(dataDir, "coffer.db")))
	} else {
		store = must[*meta.SQLStore](t)(metapostgres.Open(ctx, database))
	}
	defer store.Close()
	results := must[[]restoretesting.Result](t)(restoretesting.Results(ctx, cofferbackup.New(cofferbackup.Options{Store: store})))
	if len(results) != 1 || results[0].PlanARN != planARN || results[0].ResourceARN != dbARN || results[0].Tests != 9 || results[0].Failed != 1 ||
		results[0].Passed() || results[0].Job.ID != aws.ToString(j9.RestoreJobId) {
		t.Errorf("restore test results %+v: want %s tested 9 times, 1 failed, the newest (%s) failed", results, dbARN, aws.ToString(j9.RestoreJobId))
	}

	// Day 10: the run's restore job is queued while no node works the
	// queue, and its start window (2 hours) passes: it is canceled
	// (ABORTED, restore jobs know no EXPIRED), with nothing to delete.
	n.stop()
	a := openNode(t, cfg, clock)
	clock.Set(day(10))
	if res, err := a.RestoreTesting().Tick(ctx); err != nil || res.Started != 1 {
		a.Close()
		t.Fatalf("day 10: tick %+v %v", res, err)
	}
	clock.Set(day(10).Add(3 * time.Hour))
	n = serveNode(t, a, cfg)
	dst = n.clients(t, backupAcct, "backup", "")
	j10 := waitRestoreTests(t, dst, planARN, 10)
	if j10.Status != backuptypes.RestoreJobStatusAborted || j10.CreatedResourceArn != nil {
		t.Errorf("day 10: %s (%s), created %s; want ABORTED, no instance", j10.Status, aws.ToString(j10.StatusMessage), aws.ToString(j10.CreatedResourceArn))
	}
	if res, err := n.app.RestoreTesting().Tick(ctx); err != nil || res.Deleting+res.Deleted+res.Started != 0 || len(res.Errors) > 0 {
		t.Errorf("tick after the canceled test: %+v %v", res, err)
	}

	// A plan with selections cannot be deleted; without them it can.
	if _, err := dst.Backup.DeleteRestoreTestingPlan(ctx, &backup.DeleteRestoreTestingPlanInput{RestoreTestingPlanName: aws.String("daily_orders")}); errCode(err) != "InvalidRequestException" {
		t.Errorf("delete plan with a selection: %v", err)
	}
	must[*backup.DeleteRestoreTestingSelectionOutput](t)(dst.Backup.DeleteRestoreTestingSelection(ctx, &backup.DeleteRestoreTestingSelectionInput{
		RestoreTestingPlanName: aws.String("daily_orders"), RestoreTestingSelectionName: aws.String("gold_databases")}))
	must[*backup.DeleteRestoreTestingPlanOutput](t)(dst.Backup.DeleteRestoreTestingPlan(ctx, &backup.DeleteRestoreTestingPlanInput{RestoreTestingPlanName: aws.String("daily_orders")}))
}

func listRestoreTests(t *testing.T, a *account, planARN string) []backuptypes.RestoreJobsListMember {
	t.Helper()
	var out []backuptypes.RestoreJobsListMember
	p := backup.NewListRestoreJobsPaginator(a.Backup, &backup.ListRestoreJobsInput{ByRestoreTestingPlanArn: aws.String(planARN)})
	for p.HasMorePages() {
		page := must[*backup.ListRestoreJobsOutput](t)(p.NextPage(context.Background()))
		out = append(out, page.RestoreJobs...)
	}
	// Oldest first.
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// waitRestoreTests waits until the plan's n restore jobs all finished and
// returns the newest.
func waitRestoreTests(t *testing.T, a *account, planARN string, n int) backuptypes.RestoreJobsListMember {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		jobs := listRestoreTests(t, a, planARN)
		done := 0
		var newest backuptypes.RestoreJobsListMember
		for _, j := range jobs {
			switch j.Status {
			case backuptypes.RestoreJobStatusCompleted, backuptypes.RestoreJobStatusFailed, backuptypes.RestoreJobStatusAborted:
				done++
			}
			if newest.CreationDate == nil || aws.ToTime(j.CreationDate).After(aws.ToTime(newest.CreationDate)) {
				newest = j
			}
		}
		if len(jobs) == n && done == n {
			return newest
		}
		if time.Now().After(deadline) {
			t.Fatalf("restore tests did not finish: %d of %d done", done, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitDeleted ticks until the test's temporary instance is deleted.
func waitDeleted(t *testing.T, n *node, a *account, jobID string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		if _, err := n.app.RestoreTesting().Tick(context.Background()); err != nil {
			t.Fatal(err)
		}
		j := describeRestore(t, a, jobID)
		switch j.DeletionStatus {
		case backuptypes.RestoreDeletionStatusSuccessful:
			return
		case backuptypes.RestoreDeletionStatusFailed:
			t.Fatalf("deleting the instance of %s failed: %s", jobID, aws.ToString(j.DeletionStatusMessage))
		}
		if time.Now().After(deadline) {
			t.Fatalf("the instance of restore test %s was not deleted (%s)", jobID, j.DeletionStatus)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func describeRestore(t *testing.T, a *account, id string) backuptypes.RestoreJobsListMember {
	t.Helper()
	j := must[*backup.DescribeRestoreJobOutput](t)(a.Backup.DescribeRestoreJob(context.Background(), &backup.DescribeRestoreJobInput{RestoreJobId: aws.String(id)}))
	return backuptypes.RestoreJobsListMember{RestoreJobId: j.RestoreJobId, Status: j.Status, StatusMessage: j.StatusMessage, CreatedResourceArn: j.CreatedResourceArn,
		RecoveryPointArn: j.RecoveryPointArn, SourceResourceArn: j.SourceResourceArn, CreatedBy: j.CreatedBy, CreationDate: j.CreationDate,
		ValidationStatus: j.ValidationStatus, ValidationStatusMessage: j.ValidationStatusMessage, DeletionStatus: j.DeletionStatus, DeletionStatusMessage: j.DeletionStatusMessage}
}

func getText(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return string(b)
}
