package e2e

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/backup"
	backuptypes "github.com/aws/aws-sdk-go-v2/service/backup/types"
)

// TestRestoreTestingAPI: the plan and selection operations' shapes,
// idempotency and errors, as aws-sdk-go-v2 sees them.
func TestRestoreTestingAPI(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, nil)
	a := w.dst
	role := a.backupRole(t, "restore-test-role")
	vault := "arn:aws:backup:us-east-1:" + backupAcct + ":backup-vault:*"
	rps := func(mut func(*backuptypes.RestoreTestingRecoveryPointSelection)) *backuptypes.RestoreTestingRecoveryPointSelection {
		r := &backuptypes.RestoreTestingRecoveryPointSelection{Algorithm: backuptypes.RestoreTestingRecoveryPointSelectionAlgorithmRandomWithinWindow,
			IncludeVaults: []string{vault}, RecoveryPointTypes: []backuptypes.RestoreTestingRecoveryPointType{backuptypes.RestoreTestingRecoveryPointTypeSnapshot}}
		if mut != nil {
			mut(r)
		}
		return r
	}
	createPlan := func(name, schedule string, startHours int32, r *backuptypes.RestoreTestingRecoveryPointSelection, token string) (*backup.CreateRestoreTestingPlanOutput, error) {
		in := &backup.CreateRestoreTestingPlanInput{RestoreTestingPlan: &backuptypes.RestoreTestingPlanForCreate{
			RestoreTestingPlanName: aws.String(name), ScheduleExpression: aws.String(schedule), StartWindowHours: startHours, RecoveryPointSelection: r}}
		if token != "" {
			in.CreatorRequestId = aws.String(token)
		}
		return a.Backup.CreateRestoreTestingPlan(ctx, in)
	}

	for _, tc := range []struct {
		name, plan, schedule string
		hours                int32
		rps                  *backuptypes.RestoreTestingRecoveryPointSelection
		want                 string
	}{
		{"hyphen in name", "daily-orders", "cron(0 5 ? * * *)", 0, rps(nil), "InvalidParameterValueException"},
		{"bad schedule", "p1", "rate(0 days)", 0, rps(nil), "InvalidParameterValueException"},
		{"start window over a week", "p1", "cron(0 5 ? * * *)", 169, rps(nil), "InvalidParameterValueException"},
		{"no vaults", "p1", "cron(0 5 ? * * *)", 0, rps(func(r *backuptypes.RestoreTestingRecoveryPointSelection) { r.IncludeVaults = nil }), "MissingParameterValueException"},
		{"no types", "p1", "cron(0 5 ? * * *)", 0, rps(func(r *backuptypes.RestoreTestingRecoveryPointSelection) { r.RecoveryPointTypes = nil }), "MissingParameterValueException"},
		{"bad algorithm", "p1", "cron(0 5 ? * * *)", 0, rps(func(r *backuptypes.RestoreTestingRecoveryPointSelection) { r.Algorithm = "OLDEST" }), "InvalidParameterValueException"},
		{"window over a year", "p1", "cron(0 5 ? * * *)", 0, rps(func(r *backuptypes.RestoreTestingRecoveryPointSelection) { r.SelectionWindowDays = 366 }), "InvalidParameterValueException"},
		{"vault not an ARN", "p1", "cron(0 5 ? * * *)", 0, rps(func(r *backuptypes.RestoreTestingRecoveryPointSelection) { r.ExcludeVaults = []string{"my-vault"} }), "InvalidParameterValueException"},
	} {
		if _, err := createPlan(tc.plan, tc.schedule, tc.hours, tc.rps, ""); errCode(err) != tc.want {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.want)
		}
	}
	if out := must[*backup.ListRestoreTestingPlansOutput](t)(a.Backup.ListRestoreTestingPlans(ctx, &backup.ListRestoreTestingPlansInput{})); len(out.RestoreTestingPlans) != 0 {
		t.Fatalf("refused plans were stored: %+v", out.RestoreTestingPlans)
	}

	p1 := must[*backup.CreateRestoreTestingPlanOutput](t)(a.Backup.CreateRestoreTestingPlan(ctx, &backup.CreateRestoreTestingPlanInput{
		CreatorRequestId: aws.String("req-1"), Tags: map[string]string{"team": "dba"},
		RestoreTestingPlan: &backuptypes.RestoreTestingPlanForCreate{RestoreTestingPlanName: aws.String("weekly_db"), ScheduleExpression: aws.String("cron(0 3 ? * SUN *)"),
			StartWindowHours: 12, RecoveryPointSelection: rps(nil)}}))
	must[*backup.TagResourceOutput](t)(a.Backup.TagResource(ctx, &backup.TagResourceInput{ResourceArn: p1.RestoreTestingPlanArn, Tags: map[string]string{"env": "prod"}}))
	if tags := must[*backup.ListTagsOutput](t)(a.Backup.ListTags(ctx, &backup.ListTagsInput{ResourceArn: p1.RestoreTestingPlanArn})).Tags; tags["team"] != "dba" || tags["env"] != "prod" {
		t.Errorf("plan tags %v", tags)
	}
	again := must[*backup.CreateRestoreTestingPlanOutput](t)(createPlan("weekly_db", "cron(0 3 ? * SUN *)", 12, rps(nil), "req-1"))
	if aws.ToString(again.RestoreTestingPlanArn) != aws.ToString(p1.RestoreTestingPlanArn) {
		t.Errorf("CreatorRequestId: %s, then %s", aws.ToString(p1.RestoreTestingPlanArn), aws.ToString(again.RestoreTestingPlanArn))
	}
	if _, err := createPlan("weekly_db", "cron(0 3 ? * SUN *)", 0, rps(nil), ""); errCode(err) != "AlreadyExistsException" {
		t.Errorf("same name again: %v", err)
	}
	must[*backup.CreateRestoreTestingPlanOutput](t)(createPlan("second", "rate(12 hours)", 0, rps(nil), ""))
	page := must[*backup.ListRestoreTestingPlansOutput](t)(a.Backup.ListRestoreTestingPlans(ctx, &backup.ListRestoreTestingPlansInput{MaxResults: aws.Int32(1)}))
	if len(page.RestoreTestingPlans) != 1 || page.NextToken == nil || aws.ToString(page.RestoreTestingPlans[0].RestoreTestingPlanName) != "weekly_db" {
		t.Fatalf("first page: %+v", page)
	}
	page = must[*backup.ListRestoreTestingPlansOutput](t)(a.Backup.ListRestoreTestingPlans(ctx, &backup.ListRestoreTestingPlansInput{MaxResults: aws.Int32(1), NextToken: page.NextToken}))
	if len(page.RestoreTestingPlans) != 1 || page.NextToken != nil || aws.ToString(page.RestoreTestingPlans[0].RestoreTestingPlanName) != "second" {
		t.Fatalf("second page: %+v", page)
	}
	if _, err := w.src.Backup.GetRestoreTestingPlan(ctx, &backup.GetRestoreTestingPlanInput{RestoreTestingPlanName: aws.String("weekly_db")}); errCode(err) != "ResourceNotFoundException" {
		t.Errorf("another account's plan: %v", err)
	}

	must[*backup.UpdateRestoreTestingPlanOutput](t)(a.Backup.UpdateRestoreTestingPlan(ctx, &backup.UpdateRestoreTestingPlanInput{RestoreTestingPlanName: aws.String("weekly_db"),
		RestoreTestingPlan: &backuptypes.RestoreTestingPlanForUpdate{ScheduleExpression: aws.String("cron(0 4 ? * SAT *)"),
			RecoveryPointSelection: &backuptypes.RestoreTestingRecoveryPointSelection{Algorithm: backuptypes.RestoreTestingRecoveryPointSelectionAlgorithmLatestWithinWindow}}}))
	got := must[*backup.GetRestoreTestingPlanOutput](t)(a.Backup.GetRestoreTestingPlan(ctx, &backup.GetRestoreTestingPlanInput{RestoreTestingPlanName: aws.String("weekly_db")})).RestoreTestingPlan
	if aws.ToString(got.ScheduleExpression) != "cron(0 4 ? * SAT *)" || got.StartWindowHours != 12 || got.LastUpdateTime == nil || aws.ToString(got.CreatorRequestId) != "req-1" ||
		got.RecoveryPointSelection.Algorithm != backuptypes.RestoreTestingRecoveryPointSelectionAlgorithmLatestWithinWindow || len(got.RecoveryPointSelection.IncludeVaults) != 1 {
		t.Errorf("after update: %+v %+v", got, got.RecoveryPointSelection)
	}

	createSel := func(name string, mut func(*backuptypes.RestoreTestingSelectionForCreate)) error {
		sel := &backuptypes.RestoreTestingSelectionForCreate{RestoreTestingSelectionName: aws.String(name), IamRoleArn: aws.String(role),
			ProtectedResourceType: aws.String("RDS"), ProtectedResourceArns: []string{"*"}}
		if mut != nil {
			mut(sel)
		}
		_, err := a.Backup.CreateRestoreTestingSelection(ctx, &backup.CreateRestoreTestingSelectionInput{RestoreTestingPlanName: aws.String("weekly_db"), RestoreTestingSelection: sel})
		return err
	}
	dbARN := "arn:aws:rds:us-east-1:" + source + ":db:orders-db"
	for _, tc := range []struct {
		name string
		mut  func(*backuptypes.RestoreTestingSelectionForCreate)
		want string
	}{
		{"EBS", func(s *backuptypes.RestoreTestingSelectionForCreate) { s.ProtectedResourceType = aws.String("EBS") }, "InvalidParameterValueException"},
		{"wildcard and ARN", func(s *backuptypes.RestoreTestingSelectionForCreate) { s.ProtectedResourceArns = []string{"*", dbARN} }, "InvalidParameterValueException"},
		{"conditions with ARNs", func(s *backuptypes.RestoreTestingSelectionForCreate) {
			s.ProtectedResourceArns = []string{dbARN}
			s.ProtectedResourceConditions = &backuptypes.ProtectedResourceConditions{StringEquals: []backuptypes.KeyValue{{Key: aws.String("k"), Value: aws.String("v")}}}
		}, "InvalidParameterValueException"},
		{"nothing selected", func(s *backuptypes.RestoreTestingSelectionForCreate) { s.ProtectedResourceArns = nil }, "MissingParameterValueException"},
		{"identifier override", func(s *backuptypes.RestoreTestingSelectionForCreate) {
			s.RestoreMetadataOverrides = map[string]string{"dbinstanceidentifier": "mine"}
		}, "InvalidParameterValueException"},
		{"window over a week", func(s *backuptypes.RestoreTestingSelectionForCreate) { s.ValidationWindowHours = aws.Int32(169) }, "InvalidParameterValueException"},
		{"role of another account", func(s *backuptypes.RestoreTestingSelectionForCreate) {
			s.IamRoleArn = aws.String("arn:aws:iam::" + source + ":role/service-role/backup-role")
		}, "InvalidParameterValueException"},
	} {
		if err := createSel("s1", tc.mut); errCode(err) != tc.want {
			t.Errorf("selection %s: %v, want %s", tc.name, err, tc.want)
		}
	}
	if err := createSel("s1", func(s *backuptypes.RestoreTestingSelectionForCreate) {
		s.ProtectedResourceArns = []string{dbARN}
		s.ValidationWindowHours = aws.Int32(4)
		s.RestoreMetadataOverrides = map[string]string{"DBInstanceClass": "db.t3.micro"}
	}); err != nil {
		t.Fatal(err)
	}
	if err := createSel("s1", nil); errCode(err) != "AlreadyExistsException" {
		t.Errorf("same selection again: %v", err)
	}
	sel := must[*backup.GetRestoreTestingSelectionOutput](t)(a.Backup.GetRestoreTestingSelection(ctx, &backup.GetRestoreTestingSelectionInput{
		RestoreTestingPlanName: aws.String("weekly_db"), RestoreTestingSelectionName: aws.String("s1")})).RestoreTestingSelection
	if aws.ToString(sel.IamRoleArn) != role || len(sel.ProtectedResourceArns) != 1 || sel.ValidationWindowHours != 4 || sel.RestoreMetadataOverrides["DBInstanceClass"] != "db.t3.micro" {
		t.Errorf("selection: %+v", sel)
	}
	must[*backup.UpdateRestoreTestingSelectionOutput](t)(a.Backup.UpdateRestoreTestingSelection(ctx, &backup.UpdateRestoreTestingSelectionInput{
		RestoreTestingPlanName: aws.String("weekly_db"), RestoreTestingSelectionName: aws.String("s1"),
		RestoreTestingSelection: &backuptypes.RestoreTestingSelectionForUpdate{ValidationWindowHours: aws.Int32(0)}}))
	list := must[*backup.ListRestoreTestingSelectionsOutput](t)(a.Backup.ListRestoreTestingSelections(ctx, &backup.ListRestoreTestingSelectionsInput{RestoreTestingPlanName: aws.String("weekly_db")}))
	if len(list.RestoreTestingSelections) != 1 || list.RestoreTestingSelections[0].ValidationWindowHours != 0 || aws.ToString(list.RestoreTestingSelections[0].ProtectedResourceType) != "RDS" {
		t.Errorf("selections: %+v", list.RestoreTestingSelections)
	}
	if _, err := a.Backup.GetRestoreTestingSelection(ctx, &backup.GetRestoreTestingSelectionInput{RestoreTestingPlanName: aws.String("weekly_db"), RestoreTestingSelectionName: aws.String("nope")}); errCode(err) != "ResourceNotFoundException" {
		t.Errorf("unknown selection: %v", err)
	}
	if _, err := a.Backup.ListRestoreTestingSelections(ctx, &backup.ListRestoreTestingSelectionsInput{RestoreTestingPlanName: aws.String("nope")}); errCode(err) != "ResourceNotFoundException" {
		t.Errorf("selections of an unknown plan: %v", err)
	}
	if _, err := a.Backup.DeleteRestoreTestingPlan(ctx, &backup.DeleteRestoreTestingPlanInput{RestoreTestingPlanName: aws.String("weekly_db")}); errCode(err) != "InvalidRequestException" {
		t.Errorf("delete a plan with a selection: %v", err)
	}
	must[*backup.DeleteRestoreTestingSelectionOutput](t)(a.Backup.DeleteRestoreTestingSelection(ctx, &backup.DeleteRestoreTestingSelectionInput{
		RestoreTestingPlanName: aws.String("weekly_db"), RestoreTestingSelectionName: aws.String("s1")}))
	must[*backup.DeleteRestoreTestingPlanOutput](t)(a.Backup.DeleteRestoreTestingPlan(ctx, &backup.DeleteRestoreTestingPlanInput{RestoreTestingPlanName: aws.String("weekly_db")}))
	if _, err := a.Backup.GetRestoreTestingPlan(ctx, &backup.GetRestoreTestingPlanInput{RestoreTestingPlanName: aws.String("weekly_db")}); errCode(err) != "ResourceNotFoundException" {
		t.Errorf("deleted plan: %v", err)
	}
	if _, err := a.Backup.GetRestoreJobMetadata(ctx, &backup.GetRestoreJobMetadataInput{RestoreJobId: aws.String("00000000-0000-0000-0000-000000000000")}); errCode(err) != "ResourceNotFoundException" {
		t.Errorf("metadata of an unknown job: %v", err)
	}
}
