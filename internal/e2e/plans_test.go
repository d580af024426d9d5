package e2e

import (
	"context"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/backup"
	backuptypes "github.com/aws/aws-sdk-go-v2/service/backup/types"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	rdstypes "github.com/aws/aws-sdk-go-v2/service/rds/types"
)

const copyRegion = "us-west-2"

// hourlyPlan is a plan in the source account: every hour into
// source-vault, kept a day, copied into the backup account's vault in
// another region and kept a day there too.
func hourlyPlan(t *testing.T, src *account, destVault, role, dbARN string) string {
	ctx := context.Background()
	plan := must[*backup.CreateBackupPlanOutput](t)(src.Backup.CreateBackupPlan(ctx, &backup.CreateBackupPlanInput{BackupPlan: &backuptypes.BackupPlanInput{
		BackupPlanName: aws.String("hourly"),
		Rules: []backuptypes.BackupRuleInput{{
			RuleName: aws.String("every-hour"), TargetBackupVaultName: aws.String("source-vault"),
			ScheduleExpression: aws.String("cron(0 * ? * * *)"), StartWindowMinutes: aws.Int64(60), CompletionWindowMinutes: aws.Int64(180),
			Lifecycle:         &backuptypes.Lifecycle{DeleteAfterDays: aws.Int64(1)},
			RecoveryPointTags: map[string]string{"plan": "hourly"},
			CopyActions:       copyTo(destVault),
		}},
	}}))
	must[*backup.CreateBackupSelectionOutput](t)(src.Backup.CreateBackupSelection(ctx, &backup.CreateBackupSelectionInput{BackupPlanId: plan.BackupPlanId,
		BackupSelection: &backuptypes.BackupSelection{SelectionName: aws.String("tagged-databases"), IamRoleArn: aws.String(role),
			Resources:  []string{"arn:aws:rds:*:*:db:*"},
			Conditions: &backuptypes.Conditions{StringEquals: []backuptypes.ConditionParameter{{ConditionKey: aws.String("aws:ResourceTag/backup"), ConditionValue: aws.String("hourly")}}},
		}}))
	return aws.ToString(plan.BackupPlanId)
}

func copyTo(vault string) []backuptypes.CopyAction {
	if vault == "" {
		return nil
	}
	return []backuptypes.CopyAction{{DestinationBackupVaultArn: aws.String(vault), Lifecycle: &backuptypes.Lifecycle{DeleteAfterDays: aws.Int64(1)}}}
}

// TestHourlyPlanFor48Hours: an hourly rule with a copy action into
// another account's vault in another region, run for 48 hours of a fake
// clock with a restart in the middle, makes exactly 48 backups and 48
// copies, all COMPLETED; lifecycle (DeleteAfterDays 1) leaves exactly the
// last day's recovery points in both vaults.
func TestHourlyPlanFor48Hours(t *testing.T) {
	ctx := context.Background()
	start := time.Now().UTC().Truncate(time.Hour).Add(time.Minute)
	clock := &fakeClock{t: start}
	dataDir := filepath.Join(t.TempDir(), "data")
	cfg := clockedConfig(t, dataDir, "")
	n := startNode(t, cfg, clock)
	mgmt, src, dst := n.clients(t, management, "default", ""), n.clients(t, source, "source", ""), n.clients(t, backupAcct, "backup", copyRegion)

	// The seed's preconditions for a cross-account copy, the backup
	// account's side in another region.
	w := &world{t: t, mgmt: mgmt}
	w.enableCrossAccount(t)
	org := w.orgID(t)
	srcKey := src.createKey(t, "source-cmk", sharedKeyPolicy(source, backupAcct))
	dbARN := src.createDB(t, "orders-db", "alias/source-cmk", 200)
	other := src.createDB(t, "scratch-db", "alias/source-cmk", 10) // not tagged: not selected
	must[*rds.AddTagsToResourceOutput](t)(src.RDS.AddTagsToResource(ctx, &rds.AddTagsToResourceInput{ResourceName: aws.String(dbARN), Tags: []rdstypes.Tag{{Key: aws.String("backup"), Value: aws.String("hourly")}}}))
	srcRole := src.backupRole(t, "backup-role")
	src.vault(t, "source-vault", srcKey)
	dstKey := dst.createKey(t, "backup-cmk", sharedKeyPolicy(backupAcct))
	dst.backupRole(t, "AWSBackupDefaultServiceRole")
	dst.allowKeyUse(t, "AWSBackupDefaultServiceRole", srcKey)
	dstVault := dst.vault(t, "backup-vault", dstKey)
	dst.allowOrgCopies(t, "backup-vault", org)
	if !strings.Contains(dstVault, ":"+copyRegion+":"+backupAcct+":") {
		t.Fatalf("destination vault %s is not in %s of the backup account", dstVault, copyRegion)
	}

	planID := hourlyPlan(t, src, dstVault, srcRole, dbARN)
	for hour := 1; hour <= 48; hour++ {
		clock.Set(start.Add(time.Duration(hour) * time.Hour))
		res, err := n.app.Plans().Tick(ctx)
		if err != nil || len(res.Errors) > 0 {
			t.Fatalf("hour %d: tick: %v %v", hour, err, res.Errors)
		}
		waitJobs(t, src, hour, hour)
		if _, err := n.app.Plans().ApplyLifecycle(ctx); err != nil {
			t.Fatal(err)
		}
		if hour == 24 {
			// Restart: a new process on the same data directory, and a
			// tick at the same time, which must add nothing.
			n.stop()
			n = startNode(t, cfg, clock)
			src, dst = n.clients(t, source, "source", ""), n.clients(t, backupAcct, "backup", copyRegion)
			res, err := n.app.Plans().Tick(ctx)
			if err != nil || res.Started != 0 || res.Expired != 0 {
				t.Fatalf("tick after restart: %+v %v", res, err)
			}
		}
	}

	backups, copies := allBackupJobs(t, src), allCopyJobs(t, src)
	if len(backups) != 48 || len(copies) != 48 {
		t.Fatalf("%d backup jobs and %d copy jobs, want 48 of each", len(backups), len(copies))
	}
	windows := map[time.Time]bool{}
	for _, j := range backups {
		if j.State != backuptypes.BackupJobStateCompleted {
			t.Errorf("backup job %s %s: %s", aws.ToString(j.BackupJobId), j.State, aws.ToString(j.StatusMessage))
		}
		if aws.ToString(j.ResourceArn) != dbARN {
			t.Errorf("backup of %s; only %s is selected (not %s)", aws.ToString(j.ResourceArn), dbARN, other)
		}
		// The backup adapter does not render CreatedBy yet; when it does,
		// it must name the plan.
		if j.CreatedBy != nil && aws.ToString(j.CreatedBy.BackupPlanId) != planID {
			t.Errorf("backup job %s CreatedBy = %+v, want plan %s", aws.ToString(j.BackupJobId), j.CreatedBy, planID)
		}
		windows[aws.ToTime(j.CreationDate).Truncate(time.Hour)] = true
	}
	for hour := 1; hour <= 48; hour++ {
		if w := start.Add(time.Duration(hour) * time.Hour).Truncate(time.Hour); !windows[w] {
			t.Errorf("no backup for the window of %s", w)
		}
	}
	for _, j := range copies {
		if j.State != backuptypes.CopyJobStateCompleted {
			t.Errorf("copy job %s %s: %s", aws.ToString(j.CopyJobId), j.State, aws.ToString(j.StatusMessage))
		}
		if aws.ToString(j.DestinationBackupVaultArn) != dstVault {
			t.Errorf("copy into %s, want %s", aws.ToString(j.DestinationBackupVaultArn), dstVault)
		}
	}

	// Lifecycle kept the last day: the recovery points of hours 25 to 48,
	// in the source vault and (with the source's creation dates) in the
	// backup account's vault in the other region.
	for name, rps := range map[string][]backuptypes.RecoveryPointByBackupVault{
		"source-vault": allRecoveryPoints(t, src, "source-vault"),
		"backup-vault": allRecoveryPoints(t, dst, "backup-vault"),
	} {
		var got []time.Time
		for _, rp := range rps {
			got = append(got, aws.ToTime(rp.CreationDate))
		}
		sort.Slice(got, func(i, j int) bool { return got[i].Before(got[j]) })
		if len(got) != 24 {
			t.Errorf("%s holds %d recovery points, want the last day's 24", name, len(got))
			continue
		}
		if first, last := start.Add(25*time.Hour), start.Add(48*time.Hour); !got[0].Equal(first) || !got[23].Equal(last) {
			t.Errorf("%s holds recovery points from %s to %s, want %s to %s", name, got[0], got[23], first, last)
		}
	}

	// The RPO view: the database in both vaults, fresh, expected hourly;
	// three hours later (past the hour plus the 60-minute start window),
	// overdue in both.
	srcVaultARN := "arn:aws:backup:us-east-1:" + source + ":backup-vault:source-vault"
	check := func(wantOverdue bool) {
		t.Helper()
		entries, err := n.app.Plans().RPO(ctx)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, e := range entries {
			if e.ResourceARN == other {
				t.Errorf("unselected %s in the RPO view", other)
			}
			if e.ResourceARN != dbARN {
				continue
			}
			seen[e.VaultARN] = true
			if !e.Last.Equal(start.Add(48*time.Hour)) || e.Frequency != time.Hour || e.Overdue != wantOverdue {
				t.Errorf("RPO of %s in %s: last %s, every %s, overdue %v; want %s, 1h, %v", dbARN, e.VaultARN, e.Last, e.Frequency, e.Overdue, start.Add(48*time.Hour), wantOverdue)
			}
		}
		if !seen[srcVaultARN] || !seen[dstVault] || len(seen) != 2 {
			t.Errorf("RPO view shows %s in %v, want %s and %s", dbARN, seen, srcVaultARN, dstVault)
		}
	}
	check(false)
	clock.Set(start.Add(51 * time.Hour))
	check(true)
}
