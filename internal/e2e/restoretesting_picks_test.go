package e2e

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/backup"
	backuptypes "github.com/aws/aws-sdk-go-v2/service/backup/types"
)

// TestRestoreTestingPicks: which recovery point a run restores. With
// recovery points from days 0, 10 and 40 in one vault and one from day
// 40 in an excluded vault, on day 41 with a 35-day window, LATEST picks
// day 40's of the included vault, and RANDOM only ever picks day 10's or
// day 40's of it; a selection naming another resource picks nothing.
func TestRestoreTestingPicks(t *testing.T) {
	ctx := context.Background()
	start := time.Now().UTC().Truncate(24 * time.Hour).Add(12 * time.Hour)
	clock := &fakeClock{t: start}
	n := startNode(t, clockedConfig(t, filepath.Join(t.TempDir(), "data"), ""), clock)
	src := n.clients(t, source, "source", "")
	key := src.createKey(t, "source-cmk", sharedKeyPolicy(source))
	dbARN := src.createDB(t, "orders-db", "alias/source-cmk", 20)
	role := src.backupRole(t, "backup-role")
	src.vault(t, "kept", key)
	src.vault(t, "scratch", key)
	points := map[string]int{} // recovery point -> day
	for _, d := range []int{0, 10, 40} {
		clock.Set(start.Add(time.Duration(d) * 24 * time.Hour))
		points[aws.ToString(src.backupJob(t, "kept", dbARN, role).RecoveryPointArn)] = d
	}
	excluded := aws.ToString(src.backupJob(t, "scratch", dbARN, role).RecoveryPointArn)

	plan := func(name string, alg backuptypes.RestoreTestingRecoveryPointSelectionAlgorithm, resources []string) string {
		p := must[*backup.CreateRestoreTestingPlanOutput](t)(src.Backup.CreateRestoreTestingPlan(ctx, &backup.CreateRestoreTestingPlanInput{
			RestoreTestingPlan: &backuptypes.RestoreTestingPlanForCreate{RestoreTestingPlanName: aws.String(name), ScheduleExpression: aws.String("rate(1 hour)"), StartWindowHours: 1,
				RecoveryPointSelection: &backuptypes.RestoreTestingRecoveryPointSelection{Algorithm: alg, SelectionWindowDays: 35,
					IncludeVaults: []string{"*"}, ExcludeVaults: []string{"arn:aws:backup:*:*:backup-vault:scratch"},
					RecoveryPointTypes: []backuptypes.RestoreTestingRecoveryPointType{backuptypes.RestoreTestingRecoveryPointTypeSnapshot}}}}))
		must[*backup.CreateRestoreTestingSelectionOutput](t)(src.Backup.CreateRestoreTestingSelection(ctx, &backup.CreateRestoreTestingSelectionInput{
			RestoreTestingPlanName: aws.String(name), RestoreTestingSelection: &backuptypes.RestoreTestingSelectionForCreate{
				RestoreTestingSelectionName: aws.String("orders"), IamRoleArn: aws.String(role), ProtectedResourceType: aws.String("RDS"),
				ProtectedResourceArns: resources, ValidationWindowHours: aws.Int32(0)}}))
		return aws.ToString(p.RestoreTestingPlanArn)
	}
	clock.Set(start.Add(41 * 24 * time.Hour))
	latest := plan("latest", backuptypes.RestoreTestingRecoveryPointSelectionAlgorithmLatestWithinWindow, []string{dbARN})
	random := plan("random", backuptypes.RestoreTestingRecoveryPointSelectionAlgorithmRandomWithinWindow, []string{"*"})
	none := plan("none", backuptypes.RestoreTestingRecoveryPointSelectionAlgorithmLatestWithinWindow, []string{"arn:aws:rds:us-east-1:" + source + ":db:other"})

	const runs = 6
	for h := 1; h <= runs; h++ {
		clock.Set(start.Add(41*24*time.Hour + time.Duration(h)*time.Hour + 30*time.Minute))
		if _, err := n.app.RestoreTesting().Tick(ctx); err != nil {
			t.Fatal(err)
		}
		waitRestoreTests(t, src, latest, h)
		waitRestoreTests(t, src, random, h)
	}
	for _, j := range listRestoreTests(t, src, latest) {
		if d, ok := points[aws.ToString(j.RecoveryPointArn)]; !ok || d != 40 {
			t.Errorf("LATEST restored %s (day %d), want day 40's in the included vault", aws.ToString(j.RecoveryPointArn), d)
		}
	}
	for _, j := range listRestoreTests(t, src, random) {
		rp := aws.ToString(j.RecoveryPointArn)
		if d, ok := points[rp]; !ok || d == 0 || rp == excluded {
			t.Errorf("RANDOM restored %s (day %d): outside the window or in the excluded vault", rp, d)
		}
		if j.Status != backuptypes.RestoreJobStatusCompleted || j.ValidationStatus != backuptypes.RestoreValidationStatusSuccessful {
			t.Errorf("RANDOM test %s: %s, validation %s: %s", aws.ToString(j.RestoreJobId), j.Status, j.ValidationStatus, aws.ToString(j.ValidationStatusMessage))
		}
	}
	if got := listRestoreTests(t, src, none); len(got) != 0 {
		t.Errorf("a selection of another resource started %d tests", len(got))
	}
}
