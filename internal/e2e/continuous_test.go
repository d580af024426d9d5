package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/backup"
	backuptypes "github.com/aws/aws-sdk-go-v2/service/backup/types"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	rdstypes "github.com/aws/aws-sdk-go-v2/service/rds/types"

	"github.com/coffer-dev/coffer/internal/scenario"
	"github.com/coffer-dev/coffer/internal/testenv"
)

// eventsOf lists the n of an instance's events table.
func eventsOf(t *testing.T, db *scenario.DB) []int {
	t.Helper()
	conn := must[*sql.DB](t)(db.Open())
	defer conn.Close()
	rows, err := conn.Query(`SELECT n FROM events ORDER BY n`)
	if err != nil {
		t.Fatalf("%s: %v", db.ID, err)
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var n int
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

func seq(from, to int) []int {
	var out []int
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

// TestContinuousBackupPlan: a plan rule with EnableContinuousBackup on a
// PostgreSQL instance keeps one continuous recovery point (AWS's ARN
// form, COMPLETED, its retention, encrypted under the instance's key)
// on the same WAL capture as RDS's automated backups; a SQLite instance
// of the same selection is refused with a clear message; retention
// above 35 days and cold storage are refused with AWS's errors.
// StartRestoreJob with a RestoreTime between two committed batches
// restores exactly the first; a time outside the window is refused with
// the window in the message. The seed's drill: the continuous recovery
// point copied into the backup account arrives as a snapshot, under the
// backup account's key, that restores with all the rows, and the
// source's administrator can neither delete nor shorten it.
// DisassociateRecoveryPoint leaves the continuous backup to RDS; the
// rule's next window makes a new continuous recovery point (taking a
// base backup on the capture already running), which a legal hold keeps
// from deletion and disassociation, and DeleteRecoveryPoint of it turns
// the instance's continuous backup off; a continuous recovery point whose
// rule stopped running for its retention is deleted by the lifecycle,
// capture with it.
func TestContinuousBackupPlan(t *testing.T) {
	if _, err := testenv.PostgresBinDir(); err != nil {
		testenv.Missing(t, "%v", err)
	}
	ctx := context.Background()
	clock := &fakeClock{t: time.Now().UTC()}
	n := startNode(t, clockedConfig(t, filepath.Join(t.TempDir(), "data"), ""), clock)
	w := &world{t: t, mgmt: n.clients(t, management, "default", ""), src: n.clients(t, source, "source", ""), dst: n.clients(t, backupAcct, "backup", "")}
	w.enableCrossAccount(t)
	org := w.orgID(t)

	srcKey := w.src.createKey(t, "source-cmk", sharedKeyPolicy(source, backupAcct))
	const password = "source-Secret-9"
	db := must[*scenario.DB](t)(w.src.CreateDB(ctx, scenario.DBSpec{ID: "orders", Engine: "postgres", KeyID: srcKey, DBName: "appdb", User: "app", Password: password}))
	db.Password = password
	conn := must[*sql.DB](t)(db.Open())
	defer conn.Close()
	insert := func(from, to int) time.Time {
		t.Helper()
		if _, err := conn.Exec(`INSERT INTO events SELECT g FROM generate_series($1::int, $2::int) g`, from, to); err != nil {
			t.Fatal(err)
		}
		return time.Now()
	}
	if _, err := conn.Exec(`CREATE TABLE events (n int PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	insert(1, 5)
	lite := w.src.createDB(t, "notes", srcKey, 5)
	srcRole := w.src.backupRole(t, "backup-role")
	w.src.vault(t, "source-vault", srcKey)

	rule := func(days, cold *int64) *backup.CreateBackupPlanInput {
		return &backup.CreateBackupPlanInput{BackupPlan: &backuptypes.BackupPlanInput{
			BackupPlanName: aws.String("pitr"),
			Rules: []backuptypes.BackupRuleInput{{
				RuleName: aws.String("continuous"), TargetBackupVaultName: aws.String("source-vault"),
				ScheduleExpression: aws.String("cron(0 * ? * * *)"), EnableContinuousBackup: aws.Bool(true),
				Lifecycle: &backuptypes.Lifecycle{DeleteAfterDays: days, MoveToColdStorageAfterDays: cold},
			}},
		}}
	}
	for _, c := range []struct {
		days, cold *int64
		want       string
	}{
		{aws.Int64(36), nil, "Error in rule continuous : Invalid lifecycle. DeleteAfterDays cannot be less than 1 or more than 35 days"},
		{aws.Int64(7), aws.Int64(1), "Error in rule continuous : Invalid lifecycle. MoveToColdStorageAfterDays is unavailable"},
	} {
		_, err := w.src.Backup.CreateBackupPlan(ctx, rule(c.days, c.cold))
		if errCode(err) != "InvalidParameterValueException" || !strings.Contains(err.Error(), c.want) {
			t.Errorf("continuous rule with DeleteAfterDays %d, cold %v: %v; want InvalidParameterValueException %q", aws.ToInt64(c.days), c.cold, err, c.want)
		}
	}
	plan := must[*backup.CreateBackupPlanOutput](t)(w.src.Backup.CreateBackupPlan(ctx, rule(aws.Int64(7), nil)))
	must[*backup.CreateBackupSelectionOutput](t)(w.src.Backup.CreateBackupSelection(ctx, &backup.CreateBackupSelectionInput{BackupPlanId: plan.BackupPlanId,
		BackupSelection: &backuptypes.BackupSelection{SelectionName: aws.String("databases"), IamRoleArn: aws.String(srcRole), Resources: []string{db.ARN, lite}}}))

	// The next hourly window starts the rule's jobs.
	clock.Set(time.Now().UTC().Truncate(time.Hour).Add(time.Hour + time.Minute))
	if res, err := n.app.Plans().Tick(ctx); err != nil || len(res.Errors) > 0 || res.Started != 2 {
		t.Fatalf("tick: %+v %v", res, err)
	}
	waitJobs(t, w.src, 2, 0)
	var rpARN string
	for _, j := range allBackupJobs(t, w.src) {
		switch aws.ToString(j.ResourceArn) {
		case db.ARN:
			if j.State != backuptypes.BackupJobStateCompleted {
				t.Fatalf("continuous backup of %s: %s %s", db.ARN, j.State, aws.ToString(j.StatusMessage))
			}
			rpARN = aws.ToString(j.RecoveryPointArn)
		case lite:
			if j.State != backuptypes.BackupJobStateFailed || !strings.Contains(aws.ToString(j.StatusMessage), "sqlite") || !strings.Contains(aws.ToString(j.StatusMessage), "snapshots remain available") {
				t.Errorf("continuous backup of SQLite %s: %s %q; want FAILED saying snapshots remain", lite, j.State, aws.ToString(j.StatusMessage))
			}
		}
	}
	if want := "arn:aws:backup:us-east-1:" + source + ":recovery-point:continuous:db-"; !strings.HasPrefix(rpARN, want) {
		t.Fatalf("continuous recovery point %s, want an ARN starting %s", rpARN, want)
	}
	rp := must[*backup.DescribeRecoveryPointOutput](t)(w.src.Backup.DescribeRecoveryPoint(ctx, &backup.DescribeRecoveryPointInput{BackupVaultName: aws.String("source-vault"), RecoveryPointArn: aws.String(rpARN)}))
	if rp.Status != backuptypes.RecoveryPointStatusCompleted || aws.ToString(rp.ResourceType) != "RDS" || !rp.IsEncrypted || aws.ToString(rp.EncryptionKeyArn) != srcKey ||
		rp.Lifecycle == nil || aws.ToInt64(rp.Lifecycle.DeleteAfterDays) != 7 || rp.CalculatedLifecycle == nil || rp.CalculatedLifecycle.DeleteAt == nil {
		t.Errorf("continuous recovery point: status %s, type %s, encrypted %v under %s, lifecycle %+v, calculated %+v", rp.Status, aws.ToString(rp.ResourceType),
			rp.IsEncrypted, aws.ToString(rp.EncryptionKeyArn), rp.Lifecycle, rp.CalculatedLifecycle)
	}
	entries, err := n.app.Plans().RPO(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.ResourceARN == db.ARN && (!e.Last.Equal(aws.ToTime(rp.CompletionDate)) || e.Overdue) {
			t.Errorf("RPO of the continuous recovery point: last %s, overdue %v; want its completion %s, not overdue", e.Last, e.Overdue, aws.ToTime(rp.CompletionDate))
		}
	}
	byRes := must[*backup.ListRecoveryPointsByResourceOutput](t)(w.src.Backup.ListRecoveryPointsByResource(ctx, &backup.ListRecoveryPointsByResourceInput{ResourceArn: aws.String(db.ARN)}))
	if len(byRes.RecoveryPoints) != 1 || aws.ToString(byRes.RecoveryPoints[0].RecoveryPointArn) != rpARN {
		t.Errorf("recovery points of %s: %+v, want the one continuous %s", db.ARN, byRes.RecoveryPoints, rpARN)
	}
	// One machinery: the rule turned the instance's automated backups on
	// with its retention.
	orders := func() rdstypes.DBInstance {
		t.Helper()
		return must[*rds.DescribeDBInstancesOutput](t)(w.src.RDS.DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String("orders")})).DBInstances[0]
	}
	inst := orders()
	if aws.ToInt32(inst.BackupRetentionPeriod) != 7 || aws.ToString(inst.AwsBackupRecoveryPointArn) != rpARN {
		t.Errorf("BackupRetentionPeriod %d, AwsBackupRecoveryPointArn %s under a 7-day continuous rule; want 7 and %s", aws.ToInt32(inst.BackupRetentionPeriod), aws.ToString(inst.AwsBackupRecoveryPointArn), rpARN)
	}
	// While AWS Backup manages them, RDS keeps the retention.
	_, err = w.src.RDS.ModifyDBInstance(ctx, &rds.ModifyDBInstanceInput{DBInstanceIdentifier: aws.String("orders"), BackupRetentionPeriod: aws.Int32(3), ApplyImmediately: aws.Bool(true)})
	if errCode(err) != "InvalidParameterValue" || !strings.Contains(err.Error(), "is associated with an AWS Backup resource with id "+rpARN) {
		t.Errorf("ModifyDBInstance BackupRetentionPeriod of an instance under continuous backup: %v", err)
	}

	// Two batches a moment apart; restore between them.
	t1 := insert(6, 10)
	time.Sleep(1100 * time.Millisecond)
	insert(11, 15)
	waitLatest := func(after time.Time) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Minute)
		for time.Now().Before(deadline) {
			if lrt := orders().LatestRestorableTime; lrt != nil && lrt.After(after) {
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Fatalf("LatestRestorableTime did not pass %s", after)
	}
	waitLatest(time.Now())
	meta := must[*backup.GetRecoveryPointRestoreMetadataOutput](t)(w.src.Backup.GetRecoveryPointRestoreMetadata(ctx, &backup.GetRecoveryPointRestoreMetadataInput{BackupVaultName: aws.String("source-vault"), RecoveryPointArn: aws.String(rpARN)}))
	if meta.RestoreMetadata["DBInstanceIdentifier"] != "orders" || meta.RestoreMetadata["Engine"] != "postgres" {
		t.Errorf("restore metadata %v", meta.RestoreMetadata)
	}
	// restoredRows restores rp into a new instance id and reads it with
	// the source's credentials.
	restoredRows := func(a *account, rp, role, id string, md map[string]string) []int {
		t.Helper()
		md["DBInstanceIdentifier"] = id
		rj := a.restoreJob(t, rp, role, md)
		if rj.Status != backuptypes.RestoreJobStatusCompleted {
			t.Fatalf("restore job into %s: %s %s", id, rj.Status, aws.ToString(rj.StatusMessage))
		}
		db := a.waitDB(t, id)
		db.Password = password
		return eventsOf(t, db)
	}
	at := t1.Add(500 * time.Millisecond).UTC().Format(time.RFC3339Nano)
	if got := restoredRows(w.src, rpARN, srcRole, "orders-pitr", map[string]string{"RestoreTime": at}); !reflect.DeepEqual(got, seq(1, 10)) {
		t.Errorf("restored to %s: rows %v, want 1 to 10", at, got)
	}
	if got := restoredRows(w.src, rpARN, srcRole, "orders-latest", map[string]string{"UseLatestRestorableTime": "true"}); !reflect.DeepEqual(got, seq(1, 15)) {
		t.Errorf("restored to the latest restorable time: rows %v, want 1 to 15", got)
	}
	_, err = w.src.Backup.StartRestoreJob(ctx, &backup.StartRestoreJobInput{RecoveryPointArn: aws.String(rpARN), IamRoleArn: aws.String(srcRole),
		Metadata: map[string]string{"DBInstanceIdentifier": "too-early", "RestoreTime": time.Now().Add(-24 * time.Hour).UTC().Format(time.RFC3339)}})
	if errCode(err) != "InvalidParameterValueException" || !strings.Contains(fmt.Sprint(err), "earliest restorable time is") {
		t.Errorf("restore a day before the window: %v", err)
	}

	// The seed's drill on the continuous recovery point.
	dstKey, dstRole, copyARN := w.copyToBackupAccount(t, rpARN, srcKey, srcRole, org)
	if !strings.Contains(copyARN, ":snapshot:awsbackup:copyjob-") {
		t.Errorf("copy of a continuous recovery point is %s, want a snapshot", copyARN)
	}
	cp := must[*backup.DescribeRecoveryPointOutput](t)(w.dst.Backup.DescribeRecoveryPoint(ctx, &backup.DescribeRecoveryPointInput{BackupVaultName: aws.String("backup-vault"), RecoveryPointArn: aws.String(copyARN)}))
	if aws.ToString(cp.EncryptionKeyArn) != dstKey || cp.Status != backuptypes.RecoveryPointStatusCompleted {
		t.Errorf("copy %s under %s, want COMPLETED under %s", cp.Status, aws.ToString(cp.EncryptionKeyArn), dstKey)
	}
	if got := restoredRows(w.dst, copyARN, dstRole, "drill", map[string]string{"KmsKeyId": dstKey}); !reflect.DeepEqual(got, seq(1, 15)) {
		t.Errorf("copy restored rows %v, want 1 to 15", got)
	}
	for name, err := range map[string]error{
		"delete": second(w.src.Backup.DeleteRecoveryPoint(ctx, &backup.DeleteRecoveryPointInput{BackupVaultName: aws.String("backup-vault"), RecoveryPointArn: aws.String(copyARN)})),
		"shorten": second(w.src.Backup.UpdateRecoveryPointLifecycle(ctx, &backup.UpdateRecoveryPointLifecycleInput{BackupVaultName: aws.String("backup-vault"), RecoveryPointArn: aws.String(copyARN),
			Lifecycle: &backuptypes.Lifecycle{DeleteAfterDays: aws.Int64(1)}})),
	} {
		if err == nil {
			t.Errorf("source admin %s on the backup account's copy: allowed", name)
		}
	}
	if still := must[*backup.DescribeRecoveryPointOutput](t)(w.dst.Backup.DescribeRecoveryPoint(ctx, &backup.DescribeRecoveryPointInput{BackupVaultName: aws.String("backup-vault"), RecoveryPointArn: aws.String(copyARN)})); still.Status != backuptypes.RecoveryPointStatusCompleted || still.Lifecycle != nil {
		t.Errorf("the copy changed: %s %+v", still.Status, still.Lifecycle)
	}

	// Continuous recovery points' retention is the rule's.
	if _, err := w.src.Backup.UpdateRecoveryPointLifecycle(ctx, &backup.UpdateRecoveryPointLifecycleInput{BackupVaultName: aws.String("source-vault"), RecoveryPointArn: aws.String(rpARN),
		Lifecycle: &backuptypes.Lifecycle{DeleteAfterDays: aws.Int64(3)}}); errCode(err) != "InvalidParameterValueException" {
		t.Errorf("UpdateRecoveryPointLifecycle of a continuous recovery point: %v", err)
	}
	// Disassociated, the recovery point leaves the vault and RDS keeps
	// the automated backups.
	must[*backup.DisassociateRecoveryPointOutput](t)(w.src.Backup.DisassociateRecoveryPoint(ctx, &backup.DisassociateRecoveryPointInput{BackupVaultName: aws.String("source-vault"), RecoveryPointArn: aws.String(rpARN)}))
	if _, err := w.src.Backup.DescribeRecoveryPoint(ctx, &backup.DescribeRecoveryPointInput{BackupVaultName: aws.String("source-vault"), RecoveryPointArn: aws.String(rpARN)}); errCode(err) != "ResourceNotFoundException" {
		t.Errorf("disassociated recovery point: %v", err)
	}
	inst = orders()
	if aws.ToInt32(inst.BackupRetentionPeriod) != 7 || inst.LatestRestorableTime == nil || inst.AwsBackupRecoveryPointArn != nil {
		t.Errorf("after DisassociateRecoveryPoint: BackupRetentionPeriod %d, LatestRestorableTime %v; want RDS to keep 7 days", aws.ToInt32(inst.BackupRetentionPeriod), inst.LatestRestorableTime)
	}

	clock.Set(clock.Now().Add(time.Hour))
	if res, err := n.app.Plans().Tick(ctx); err != nil || len(res.Errors) > 0 || res.Started != 2 {
		t.Fatalf("second tick: %+v %v", res, err)
	}
	waitJobs(t, w.src, 4, 0)
	var again string
	for _, j := range allBackupJobs(t, w.src) {
		if aws.ToString(j.ResourceArn) == db.ARN && aws.ToString(j.RecoveryPointArn) != rpARN {
			if j.State != backuptypes.BackupJobStateCompleted {
				t.Fatalf("second continuous backup: %s %s", j.State, aws.ToString(j.StatusMessage))
			}
			again = aws.ToString(j.RecoveryPointArn)
		}
	}
	if !strings.Contains(again, ":recovery-point:continuous:") {
		t.Fatalf("after disassociation the rule made %q, want a new continuous recovery point", again)
	}
	// A legal hold keeps it, as any recovery point; canceled, the
	// deletion goes through.
	hold := must[*backup.CreateLegalHoldOutput](t)(w.src.Backup.CreateLegalHold(ctx, &backup.CreateLegalHoldInput{Title: aws.String("audit"), Description: aws.String("keep"),
		RecoveryPointSelection: &backuptypes.RecoveryPointSelection{VaultNames: []string{"source-vault"}}}))
	for name, err := range map[string]error{
		"delete":       second(w.src.Backup.DeleteRecoveryPoint(ctx, &backup.DeleteRecoveryPointInput{BackupVaultName: aws.String("source-vault"), RecoveryPointArn: aws.String(again)})),
		"disassociate": second(w.src.Backup.DisassociateRecoveryPoint(ctx, &backup.DisassociateRecoveryPointInput{BackupVaultName: aws.String("source-vault"), RecoveryPointArn: aws.String(again)})),
	} {
		if errCode(err) != "InvalidRequestException" || !strings.Contains(err.Error(), "legal hold") {
			t.Errorf("%s a continuous recovery point under a legal hold: %v", name, err)
		}
	}
	must[*backup.CancelLegalHoldOutput](t)(w.src.Backup.CancelLegalHold(ctx, &backup.CancelLegalHoldInput{LegalHoldId: hold.LegalHoldId, CancelDescription: aws.String("done")}))
	must[*backup.DeleteRecoveryPointOutput](t)(w.src.Backup.DeleteRecoveryPoint(ctx, &backup.DeleteRecoveryPointInput{BackupVaultName: aws.String("source-vault"), RecoveryPointArn: aws.String(again)}))
	inst = orders()
	if aws.ToInt32(inst.BackupRetentionPeriod) != 0 {
		t.Errorf("after DeleteRecoveryPoint of the continuous recovery point: BackupRetentionPeriod %d, want 0 (capture stopped)", aws.ToInt32(inst.BackupRetentionPeriod))
	}

	// The next window brings it back; when the rule then stops running
	// for its 7 days, the lifecycle deletes it and stops the capture.
	clock.Set(clock.Now().Add(time.Hour))
	if res, err := n.app.Plans().Tick(ctx); err != nil || len(res.Errors) > 0 || res.Started != 2 {
		t.Fatalf("third tick: %+v %v", res, err)
	}
	waitJobs(t, w.src, 6, 0)
	third := must[*backup.ListRecoveryPointsByResourceOutput](t)(w.src.Backup.ListRecoveryPointsByResource(ctx, &backup.ListRecoveryPointsByResourceInput{ResourceArn: aws.String(db.ARN)}))
	if len(third.RecoveryPoints) != 1 || aws.ToInt32(orders().BackupRetentionPeriod) != 7 {
		t.Fatalf("third window: recovery points %+v, BackupRetentionPeriod %d", third.RecoveryPoints, aws.ToInt32(orders().BackupRetentionPeriod))
	}
	clock.Set(clock.Now().Add(6 * 24 * time.Hour))
	if res, err := n.app.Plans().ApplyLifecycle(ctx); err != nil || res.Deleted != 0 || len(res.Errors) > 0 {
		t.Errorf("lifecycle 6 days after the last continuous backup: %+v %v; want nothing deleted", res, err)
	}
	clock.Set(clock.Now().Add(2 * 24 * time.Hour))
	if res, err := n.app.Plans().ApplyLifecycle(ctx); err != nil || res.Deleted != 1 || len(res.Errors) > 0 {
		t.Errorf("lifecycle 8 days after the last continuous backup: %+v %v; want the continuous recovery point deleted", res, err)
	}
	if _, err := w.src.Backup.DescribeRecoveryPoint(ctx, &backup.DescribeRecoveryPointInput{BackupVaultName: aws.String("source-vault"), RecoveryPointArn: third.RecoveryPoints[0].RecoveryPointArn}); errCode(err) != "ResourceNotFoundException" {
		t.Errorf("expired continuous recovery point: %v", err)
	}
	if got := aws.ToInt32(orders().BackupRetentionPeriod); got != 0 {
		t.Errorf("after the continuous recovery point expired: BackupRetentionPeriod %d, want 0", got)
	}
}
