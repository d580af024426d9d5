package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/backup"
	backuptypes "github.com/aws/aws-sdk-go-v2/service/backup/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
)

func rule(name, vault string, mutate func(*backuptypes.BackupRuleInput)) backuptypes.BackupRuleInput {
	r := backuptypes.BackupRuleInput{RuleName: aws.String(name), TargetBackupVaultName: aws.String(vault)}
	if mutate != nil {
		mutate(&r)
	}
	return r
}

func planInput(name string, rules ...backuptypes.BackupRuleInput) *backuptypes.BackupPlanInput {
	return &backuptypes.BackupPlanInput{BackupPlanName: aws.String(name), Rules: rules}
}

// TestPlansAPI walks plans and selections with aws-sdk-go-v2: defaults,
// versions, a failed update that leaves the version in force, templates,
// selections, deletion, and another account that sees nothing.
func TestPlansAPI(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, nil)
	key := w.src.createKey(t, "source-cmk", sharedKeyPolicy(source))
	role := w.src.backupRole(t, "backup-role")
	w.src.vault(t, "source-vault", key)
	w.src.vault(t, "second-vault", key)
	b := w.src.Backup

	created := must[*backup.CreateBackupPlanOutput](t)(b.CreateBackupPlan(ctx, &backup.CreateBackupPlanInput{
		BackupPlan: planInput("daily", rule("daily", "source-vault", nil)), CreatorRequestId: aws.String("req-1"), BackupPlanTags: map[string]string{"team": "db"}}))
	id := aws.ToString(created.BackupPlanId)
	if !strings.HasPrefix(aws.ToString(created.BackupPlanArn), "arn:aws:backup:us-east-1:"+source+":backup-plan:") || aws.ToString(created.VersionId) == "" {
		t.Fatalf("created %+v", created)
	}
	again := must[*backup.CreateBackupPlanOutput](t)(b.CreateBackupPlan(ctx, &backup.CreateBackupPlanInput{
		BackupPlan: planInput("daily", rule("daily", "source-vault", nil)), CreatorRequestId: aws.String("req-1")}))
	if aws.ToString(again.BackupPlanId) != id {
		t.Errorf("the same CreatorRequestId made another plan %s", aws.ToString(again.BackupPlanId))
	}
	got := must[*backup.GetBackupPlanOutput](t)(b.GetBackupPlan(ctx, &backup.GetBackupPlanInput{BackupPlanId: aws.String(id)}))
	r := got.BackupPlan.Rules[0]
	if aws.ToString(r.ScheduleExpression) != "" && aws.ToString(r.ScheduleExpression) != "cron(0 5 ? * * *)" {
		t.Errorf("default schedule = %q", aws.ToString(r.ScheduleExpression))
	}
	if aws.ToString(r.RuleId) == "" || aws.ToString(got.VersionId) != aws.ToString(created.VersionId) {
		t.Errorf("rule %+v, version %s", r, aws.ToString(got.VersionId))
	}
	firstVersion, ruleID := aws.ToString(got.VersionId), aws.ToString(r.RuleId)

	// An update makes a new version; the rule keeps its ID.
	upd := must[*backup.UpdateBackupPlanOutput](t)(b.UpdateBackupPlan(ctx, &backup.UpdateBackupPlanInput{BackupPlanId: aws.String(id),
		BackupPlan: planInput("daily", rule("daily", "source-vault", func(r *backuptypes.BackupRuleInput) {
			r.ScheduleExpression = aws.String("cron(0 3 ? * MON-FRI *)")
			r.ScheduleExpressionTimezone = aws.String("Europe/Paris")
			r.Lifecycle = &backuptypes.Lifecycle{MoveToColdStorageAfterDays: aws.Int64(30), DeleteAfterDays: aws.Int64(120)}
		}), rule("weekly", "second-vault", func(r *backuptypes.BackupRuleInput) { r.ScheduleExpression = aws.String("cron(0 5 ? * 7 *)") }))}))
	secondVersion := aws.ToString(upd.VersionId)
	if secondVersion == firstVersion {
		t.Fatal("update kept the version ID")
	}
	// A bad update changes nothing.
	_, err := b.UpdateBackupPlan(ctx, &backup.UpdateBackupPlanInput{BackupPlanId: aws.String(id),
		BackupPlan: planInput("daily", rule("daily", "source-vault", func(r *backuptypes.BackupRuleInput) { r.ScheduleExpression = aws.String("cron(0 5 * * * *)") }))})
	if errCode(err) != "InvalidParameterValueException" {
		t.Fatalf("bad update: %v", err)
	}
	cur := must[*backup.GetBackupPlanOutput](t)(b.GetBackupPlan(ctx, &backup.GetBackupPlanInput{BackupPlanId: aws.String(id)}))
	if aws.ToString(cur.VersionId) != secondVersion || len(cur.BackupPlan.Rules) != 2 || aws.ToString(cur.BackupPlan.Rules[0].ScheduleExpression) != "cron(0 3 ? * MON-FRI *)" {
		t.Fatalf("after a failed update the plan is version %s with %+v", aws.ToString(cur.VersionId), cur.BackupPlan.Rules)
	}
	if aws.ToString(cur.BackupPlan.Rules[0].RuleId) != ruleID {
		t.Errorf("rule daily changed ID across versions")
	}
	old := must[*backup.GetBackupPlanOutput](t)(b.GetBackupPlan(ctx, &backup.GetBackupPlanInput{BackupPlanId: aws.String(id), VersionId: aws.String(firstVersion)}))
	if len(old.BackupPlan.Rules) != 1 {
		t.Errorf("version %s has %d rules", firstVersion, len(old.BackupPlan.Rules))
	}
	versions := must[*backup.ListBackupPlanVersionsOutput](t)(b.ListBackupPlanVersions(ctx, &backup.ListBackupPlanVersionsInput{BackupPlanId: aws.String(id)}))
	if len(versions.BackupPlanVersionsList) != 2 {
		t.Errorf("%d versions, want 2", len(versions.BackupPlanVersionsList))
	}

	// Templates round-trip.
	tmpl := must[*backup.ExportBackupPlanTemplateOutput](t)(b.ExportBackupPlanTemplate(ctx, &backup.ExportBackupPlanTemplateInput{BackupPlanId: aws.String(id)}))
	if strings.Contains(aws.ToString(tmpl.BackupPlanTemplateJson), "RuleId") || !json.Valid([]byte(aws.ToString(tmpl.BackupPlanTemplateJson))) {
		t.Errorf("template %s", aws.ToString(tmpl.BackupPlanTemplateJson))
	}
	parsed := must[*backup.GetBackupPlanFromJSONOutput](t)(b.GetBackupPlanFromJSON(ctx, &backup.GetBackupPlanFromJSONInput{BackupPlanTemplateJson: tmpl.BackupPlanTemplateJson}))
	if len(parsed.BackupPlan.Rules) != 2 || aws.ToString(parsed.BackupPlan.Rules[0].ScheduleExpressionTimezone) != "Europe/Paris" {
		t.Errorf("template parsed to %+v", parsed.BackupPlan)
	}
	if _, err := b.GetBackupPlanFromJSON(ctx, &backup.GetBackupPlanFromJSONInput{BackupPlanTemplateJson: aws.String(`{"BackupPlanName":"x","Rules":[{"RuleName":"r","TargetBackupVaultName":"v","Schedule":"daily"}]}`)}); errCode(err) != "InvalidParameterValueException" {
		t.Errorf("template with an unknown member: %v", err)
	}

	// Selections.
	sel := must[*backup.CreateBackupSelectionOutput](t)(b.CreateBackupSelection(ctx, &backup.CreateBackupSelectionInput{BackupPlanId: aws.String(id),
		BackupSelection: &backuptypes.BackupSelection{SelectionName: aws.String("tagged"), IamRoleArn: aws.String(role),
			Resources: []string{"*"}, NotResources: []string{"arn:aws:rds:us-east-1:" + source + ":db:scratch-*"},
			Conditions: &backuptypes.Conditions{StringLike: []backuptypes.ConditionParameter{{ConditionKey: aws.String("aws:ResourceTag/backup"), ConditionValue: aws.String("daily*")}}}}}))
	gs := must[*backup.GetBackupSelectionOutput](t)(b.GetBackupSelection(ctx, &backup.GetBackupSelectionInput{BackupPlanId: aws.String(id), SelectionId: sel.SelectionId}))
	if aws.ToString(gs.BackupSelection.IamRoleArn) != role || len(gs.BackupSelection.Conditions.StringLike) != 1 || len(gs.BackupSelection.NotResources) != 1 {
		t.Errorf("selection %+v", gs.BackupSelection)
	}
	if ls := must[*backup.ListBackupSelectionsOutput](t)(b.ListBackupSelections(ctx, &backup.ListBackupSelectionsInput{BackupPlanId: aws.String(id)})); len(ls.BackupSelectionsList) != 1 {
		t.Errorf("%d selections", len(ls.BackupSelectionsList))
	}
	if _, err := b.DeleteBackupPlan(ctx, &backup.DeleteBackupPlanInput{BackupPlanId: aws.String(id)}); errCode(err) != "InvalidRequestException" {
		t.Errorf("delete a plan with a selection: %v", err)
	}

	// Another account sees and changes nothing.
	for name, err := range map[string]error{
		"get":       second(w.dst.Backup.GetBackupPlan(ctx, &backup.GetBackupPlanInput{BackupPlanId: aws.String(id)})),
		"update":    second(w.dst.Backup.UpdateBackupPlan(ctx, &backup.UpdateBackupPlanInput{BackupPlanId: aws.String(id), BackupPlan: planInput("x", rule("r", "source-vault", nil))})),
		"delete":    second(w.dst.Backup.DeleteBackupPlan(ctx, &backup.DeleteBackupPlanInput{BackupPlanId: aws.String(id)})),
		"selection": second(w.dst.Backup.DeleteBackupSelection(ctx, &backup.DeleteBackupSelectionInput{BackupPlanId: aws.String(id), SelectionId: sel.SelectionId})),
	} {
		if errCode(err) != "ResourceNotFoundException" {
			t.Errorf("backup account %s of the source account's plan: %v", name, err)
		}
	}
	if l := must[*backup.ListBackupPlansOutput](t)(w.dst.Backup.ListBackupPlans(ctx, &backup.ListBackupPlansInput{})); len(l.BackupPlansList) != 0 {
		t.Errorf("backup account lists %d plans", len(l.BackupPlansList))
	}

	must[*backup.DeleteBackupSelectionOutput](t)(b.DeleteBackupSelection(ctx, &backup.DeleteBackupSelectionInput{BackupPlanId: aws.String(id), SelectionId: sel.SelectionId}))
	del := must[*backup.DeleteBackupPlanOutput](t)(b.DeleteBackupPlan(ctx, &backup.DeleteBackupPlanInput{BackupPlanId: aws.String(id)}))
	if del.DeletionDate == nil {
		t.Error("no DeletionDate")
	}
	if l := must[*backup.ListBackupPlansOutput](t)(b.ListBackupPlans(ctx, &backup.ListBackupPlansInput{})); len(l.BackupPlansList) != 0 {
		t.Errorf("deleted plan still listed")
	}
	if l := must[*backup.ListBackupPlansOutput](t)(b.ListBackupPlans(ctx, &backup.ListBackupPlansInput{IncludeDeleted: aws.Bool(true)})); len(l.BackupPlansList) != 1 || l.BackupPlansList[0].DeletionDate == nil {
		t.Errorf("IncludeDeleted lists %+v", l.BackupPlansList)
	}
}

// TestCreateBackupSelectionNeedsPassRole: assigning resources hands the
// selection's role to AWS Backup, so it needs iam:PassRole on it.
func TestCreateBackupSelectionNeedsPassRole(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, nil)
	key := w.src.createKey(t, "source-cmk", sharedKeyPolicy(source))
	role := w.src.backupRole(t, "backup-role")
	w.src.vault(t, "source-vault", key)
	plan := must[*backup.CreateBackupPlanOutput](t)(w.src.Backup.CreateBackupPlan(ctx, &backup.CreateBackupPlanInput{BackupPlan: planInput("daily", rule("daily", "source-vault", nil))}))
	must[*iam.CreateUserOutput](t)(w.src.IAM.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("operator")}))
	must[*iam.PutUserPolicyOutput](t)(w.src.IAM.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("operator"), PolicyName: aws.String("backup"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"backup:*","Resource":"*"}]}`)}))
	keys := must[*iam.CreateAccessKeyOutput](t)(w.src.IAM.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("operator")}))
	op := backup.NewFromConfig(w.c.AWSConfig(t, awsCreds(keys)))
	in := &backup.CreateBackupSelectionInput{BackupPlanId: plan.BackupPlanId, BackupSelection: &backuptypes.BackupSelection{SelectionName: aws.String("all"), IamRoleArn: aws.String(role), Resources: []string{"*"}}}
	_, err := op.CreateBackupSelection(ctx, in)
	if errCode(err) != "AccessDeniedException" || !strings.Contains(err.Error(), "iam:PassRole") {
		t.Fatalf("CreateBackupSelection without iam:PassRole: %v", err)
	}
	must[*iam.PutUserPolicyOutput](t)(w.src.IAM.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("operator"), PolicyName: aws.String("pass"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:PassRole","Resource":"` + role + `","Condition":{"StringEquals":{"iam:PassedToService":"backup.amazonaws.com"}}}]}`)}))
	if _, err := op.CreateBackupSelection(ctx, in); err != nil {
		t.Fatalf("with iam:PassRole: %v", err)
	}
	// A user without backup:CreateBackupPlan cannot create plans.
	must[*iam.PutUserPolicyOutput](t)(w.src.IAM.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("operator"), PolicyName: aws.String("backup"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"backup:Get*","Resource":"*"}]}`)}))
	if _, err := op.CreateBackupPlan(ctx, &backup.CreateBackupPlanInput{BackupPlan: planInput("x", rule("r", "source-vault", nil))}); errCode(err) != "AccessDeniedException" {
		t.Errorf("CreateBackupPlan with only backup:Get*: %v", err)
	}
}

// TestPlanBadInput: AWS's error codes with messages that say what is
// wrong.
func TestPlanBadInput(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, nil)
	key := w.src.createKey(t, "source-cmk", sharedKeyPolicy(source))
	role := w.src.backupRole(t, "backup-role")
	otherRole := w.dst.backupRole(t, "backup-role")
	srcVault := w.src.vault(t, "source-vault", key)
	b := w.src.Backup
	create := func(mutate func(*backuptypes.BackupRuleInput)) error {
		return second(b.CreateBackupPlan(ctx, &backup.CreateBackupPlanInput{BackupPlan: planInput("p", rule("r", "source-vault", mutate))}))
	}
	plan := must[*backup.CreateBackupPlanOutput](t)(b.CreateBackupPlan(ctx, &backup.CreateBackupPlanInput{BackupPlan: planInput("ok", rule("r", "source-vault", nil))}))
	selection := func(s backuptypes.BackupSelection) error {
		if s.SelectionName == nil {
			s.SelectionName = aws.String("s")
		}
		if s.IamRoleArn == nil {
			s.IamRoleArn = aws.String(role)
		}
		return second(b.CreateBackupSelection(ctx, &backup.CreateBackupSelectionInput{BackupPlanId: plan.BackupPlanId, BackupSelection: &s}))
	}
	tests := []struct {
		name      string
		err       error
		code, msg string
	}{
		{"cron with both day fields", create(func(r *backuptypes.BackupRuleInput) { r.ScheduleExpression = aws.String("cron(0 5 1 * MON *)") }), "InvalidParameterValueException", "Day-of-week"},
		{"cron with five fields", create(func(r *backuptypes.BackupRuleInput) { r.ScheduleExpression = aws.String("cron(0 5 * * ?)") }), "InvalidParameterValueException", "6 fields"},
		{"cron minute out of range", create(func(r *backuptypes.BackupRuleInput) { r.ScheduleExpression = aws.String("cron(75 5 ? * * *)") }), "InvalidParameterValueException", "Minutes"},
		{"more than hourly", create(func(r *backuptypes.BackupRuleInput) { r.ScheduleExpression = aws.String("cron(0/15 * ? * * *)") }), "InvalidParameterValueException", "once an hour"},
		{"bad rate unit", create(func(r *backuptypes.BackupRuleInput) { r.ScheduleExpression = aws.String("rate(2 weeks)") }), "InvalidParameterValueException", "minute(s), hour(s) or day(s)"},
		{"rate below an hour", create(func(r *backuptypes.BackupRuleInput) { r.ScheduleExpression = aws.String("rate(30 minutes)") }), "InvalidParameterValueException", "once an hour"},
		{"not a schedule", create(func(r *backuptypes.BackupRuleInput) { r.ScheduleExpression = aws.String("daily") }), "InvalidParameterValueException", "cron("},
		{"unknown time zone", create(func(r *backuptypes.BackupRuleInput) { r.ScheduleExpressionTimezone = aws.String("Mars/Olympus") }), "InvalidParameterValueException", "Mars/Olympus"},
		{"start window below 60", create(func(r *backuptypes.BackupRuleInput) { r.StartWindowMinutes = aws.Int64(30) }), "InvalidParameterValueException", "at least 60"},
		{"completion window too short", create(func(r *backuptypes.BackupRuleInput) {
			r.StartWindowMinutes, r.CompletionWindowMinutes = aws.Int64(120), aws.Int64(120)
		}), "InvalidParameterValueException", "CompletionWindowMinutes"},
		{"lifecycle +90 rule", create(func(r *backuptypes.BackupRuleInput) {
			r.Lifecycle = &backuptypes.Lifecycle{MoveToColdStorageAfterDays: aws.Int64(30), DeleteAfterDays: aws.Int64(100)}
		}), "InvalidParameterValueException", "90"},
		{"copy lifecycle +90 rule", create(func(r *backuptypes.BackupRuleInput) {
			r.CopyActions = []backuptypes.CopyAction{{DestinationBackupVaultArn: aws.String("arn:aws:backup:us-west-2:" + backupAcct + ":backup-vault:nope"),
				Lifecycle: &backuptypes.Lifecycle{MoveToColdStorageAfterDays: aws.Int64(1), DeleteAfterDays: aws.Int64(2)}}}
		}), "InvalidParameterValueException", ""},
		{"target vault missing", second(b.CreateBackupPlan(ctx, &backup.CreateBackupPlanInput{BackupPlan: planInput("p", rule("r", "nope", nil))})), "InvalidParameterValueException", "nope does not exist"},
		{"copy to a missing vault", create(func(r *backuptypes.BackupRuleInput) {
			r.CopyActions = []backuptypes.CopyAction{{DestinationBackupVaultArn: aws.String("arn:aws:backup:us-west-2:" + backupAcct + ":backup-vault:nope")}}
		}), "InvalidParameterValueException", "does not exist"},
		{"copy to the same vault", create(func(r *backuptypes.BackupRuleInput) {
			r.CopyActions = []backuptypes.CopyAction{{DestinationBackupVaultArn: aws.String(srcVault)}}
		}), "InvalidParameterValueException", "own target vault"},
		{"copy to a non-vault ARN", create(func(r *backuptypes.BackupRuleInput) {
			r.CopyActions = []backuptypes.CopyAction{{DestinationBackupVaultArn: aws.String("arn:aws:s3:::bucket")}}
		}), "InvalidParameterValueException", "not a backup vault ARN"},
		{"continuous backup without a lifecycle", create(func(r *backuptypes.BackupRuleInput) { r.EnableContinuousBackup = aws.Bool(true) }), "InvalidParameterValueException", "Lifecycle must be specified for backup rule enabled continuous backup"},
		{"duplicate rule names", second(b.CreateBackupPlan(ctx, &backup.CreateBackupPlanInput{BackupPlan: planInput("p", rule("r", "source-vault", nil), rule("r", "source-vault", nil))})), "InvalidParameterValueException", "twice"},
		{"no rules", second(b.CreateBackupPlan(ctx, &backup.CreateBackupPlanInput{BackupPlan: &backuptypes.BackupPlanInput{BackupPlanName: aws.String("p"), Rules: []backuptypes.BackupRuleInput{}}})), "MissingParameterValueException", "Rules"},
		{"bad plan name", second(b.CreateBackupPlan(ctx, &backup.CreateBackupPlanInput{BackupPlan: planInput("no spaces", rule("r", "source-vault", nil))})), "InvalidParameterValueException", "BackupPlanName"},
		{"unknown plan", second(b.GetBackupPlan(ctx, &backup.GetBackupPlanInput{BackupPlanId: aws.String("00000000-0000-4000-8000-000000000000")})), "ResourceNotFoundException", "does not exist"},
		{"unknown version", second(b.GetBackupPlan(ctx, &backup.GetBackupPlanInput{BackupPlanId: plan.BackupPlanId, VersionId: aws.String("nope")})), "ResourceNotFoundException", "no version"},
		{"selection of EBS volumes matches nothing", selection(backuptypes.BackupSelection{Resources: []string{"arn:aws:ec2:*:*:volume/*"}}), "InvalidParameterValueException", "selects nothing"},
		{"selection of another account's database", selection(backuptypes.BackupSelection{Resources: []string{"arn:aws:rds:us-east-1:" + backupAcct + ":db:orders"}}), "InvalidParameterValueException", "selects nothing"},
		{"selection resource not an ARN", selection(backuptypes.BackupSelection{Resources: []string{"orders-db"}}), "InvalidParameterValueException", "not an ARN"},
		{"selection condition key", selection(backuptypes.BackupSelection{Conditions: &backuptypes.Conditions{StringEquals: []backuptypes.ConditionParameter{{ConditionKey: aws.String("backup"), ConditionValue: aws.String("x")}}}}), "InvalidParameterValueException", "aws:ResourceTag/"},
		{"selection role of another account", selection(backuptypes.BackupSelection{IamRoleArn: aws.String(otherRole)}), "InvalidParameterValueException", "belongs to account"},
		{"selection without role", selection(backuptypes.BackupSelection{IamRoleArn: aws.String("")}), "MissingParameterValueException", "IamRoleArn"},
	}
	for _, tt := range tests {
		if errCode(tt.err) != tt.code || !strings.Contains(tt.err.Error(), tt.msg) {
			t.Errorf("%s: %v; want %s mentioning %q", tt.name, tt.err, tt.code, tt.msg)
		}
	}
	if l := must[*backup.ListBackupPlansOutput](t)(b.ListBackupPlans(ctx, &backup.ListBackupPlansInput{})); len(l.BackupPlansList) != 1 {
		t.Errorf("bad requests created plans: %d listed", len(l.BackupPlansList))
	}
	if _, err := b.CreateBackupSelection(ctx, &backup.CreateBackupSelectionInput{BackupPlanId: plan.BackupPlanId, BackupSelection: &backuptypes.BackupSelection{SelectionName: aws.String("s"), IamRoleArn: aws.String(role)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.CreateBackupSelection(ctx, &backup.CreateBackupSelectionInput{BackupPlanId: plan.BackupPlanId, BackupSelection: &backuptypes.BackupSelection{SelectionName: aws.String("s"), IamRoleArn: aws.String(role)}}); errCode(err) != "AlreadyExistsException" {
		t.Errorf("second selection named s: %v", err)
	}
}
