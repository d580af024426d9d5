package e2e

import (
	"context"
	"maps"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/backup"
	backuptypes "github.com/aws/aws-sdk-go-v2/service/backup/types"
)

// TestBackupTags: every taggable Backup resource coffer has (vaults,
// plans, legal holds) takes TagResource, ListTags and UntagResource;
// ListTags pages with MaxResults and NextToken; a malformed ARN is
// InvalidParameterValueException, a well-formed one of nothing
// ResourceNotFoundException.
func TestBackupTags(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, nil)
	key := w.src.createKey(t, "source-cmk", sharedKeyPolicy(source))
	vaultARN := w.src.vault(t, "tagged-vault", key)
	plan := must[*backup.CreateBackupPlanOutput](t)(w.src.Backup.CreateBackupPlan(ctx, &backup.CreateBackupPlanInput{
		BackupPlan: planInput("tagged-plan", rule("daily", "tagged-vault", nil)), BackupPlanTags: map[string]string{"team": "db", "env": "prod"}}))
	hold := must[*backup.CreateLegalHoldOutput](t)(w.src.Backup.CreateLegalHold(ctx, &backup.CreateLegalHoldInput{Title: aws.String("audit"), Description: aws.String("audit"),
		RecoveryPointSelection: &backuptypes.RecoveryPointSelection{VaultNames: []string{"tagged-vault"}}, Tags: map[string]string{"case": "42"}}))

	listAll := func(arn string) map[string]string {
		t.Helper()
		all := map[string]string{}
		var token *string
		for pages := 0; ; pages++ {
			out := must[*backup.ListTagsOutput](t)(w.src.Backup.ListTags(ctx, &backup.ListTagsInput{ResourceArn: aws.String(arn), MaxResults: aws.Int32(1), NextToken: token}))
			if len(out.Tags) > 1 {
				t.Errorf("ListTags %s with MaxResults 1 gave %d tags", arn, len(out.Tags))
			}
			maps.Copy(all, out.Tags)
			if token = out.NextToken; token == nil {
				return all
			}
			if pages > 10 {
				t.Fatalf("ListTags %s does not end", arn)
			}
		}
	}
	if got := listAll(aws.ToString(plan.BackupPlanArn)); !maps.Equal(got, map[string]string{"team": "db", "env": "prod"}) {
		t.Errorf("plan tags from CreateBackupPlan = %v", got)
	}
	if got := listAll(aws.ToString(hold.LegalHoldArn)); !maps.Equal(got, map[string]string{"case": "42"}) {
		t.Errorf("legal hold tags from CreateLegalHold = %v", got)
	}
	for _, arn := range []string{aws.ToString(plan.BackupPlanArn), vaultARN, aws.ToString(hold.LegalHoldArn)} {
		must[*backup.TagResourceOutput](t)(w.src.Backup.TagResource(ctx, &backup.TagResourceInput{ResourceArn: aws.String(arn), Tags: map[string]string{"owner": "ops", "tier": "1"}}))
		must[*backup.UntagResourceOutput](t)(w.src.Backup.UntagResource(ctx, &backup.UntagResourceInput{ResourceArn: aws.String(arn), TagKeyList: []string{"tier"}}))
		if got := listAll(arn); got["owner"] != "ops" || got["tier"] != "" {
			t.Errorf("%s: tags after TagResource and UntagResource = %v", arn, got)
		}
	}
	for _, arn := range []string{"not-an-arn", "arn:aws:backup:us-east-1:111222333444:bogus", "arn:aws:backup:us-east-1:111222333444:bogus:x", "arn:aws:s3:::bucket"} {
		if _, err := w.src.Backup.ListTags(ctx, &backup.ListTagsInput{ResourceArn: aws.String(arn)}); errCode(err) != "InvalidParameterValueException" {
			t.Errorf("ListTags %s: %v, want InvalidParameterValueException", arn, err)
		}
	}
	for _, arn := range []string{"arn:aws:backup:us-east-1:111222333444:backup-vault:nope", "arn:aws:backup:us-east-1:111222333444:backup-plan:nope"} {
		if _, err := w.src.Backup.ListTags(ctx, &backup.ListTagsInput{ResourceArn: aws.String(arn)}); errCode(err) != "ResourceNotFoundException" {
			t.Errorf("ListTags %s: %v, want ResourceNotFoundException", arn, err)
		}
	}
	// Another account sees none of them.
	if _, err := w.dst.Backup.ListTags(ctx, &backup.ListTagsInput{ResourceArn: plan.BackupPlanArn}); err == nil {
		t.Error("another account read the plan's tags")
	}
}
