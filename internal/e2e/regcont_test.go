package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/backup"
	backuptypes "github.com/aws/aws-sdk-go-v2/service/backup/types"
	"github.com/aws/aws-sdk-go-v2/service/rds"

	rdsapi "github.com/coffer-dev/coffer/internal/api/rds"
	"github.com/coffer-dev/coffer/internal/testenv"
)

// TestRegisteredContinuousBackupPlan: an AWS Backup rule with
// EnableContinuousBackup on a registered PostgreSQL database (its role
// has REPLICATION) completes a continuous backup job on the same WAL
// capture as RDS's automated backups, and StartRestoreJob with a
// RestoreTime between two batches of rows brings up a new instance
// holding exactly the first.
func TestRegisteredContinuousBackupPlan(t *testing.T) {
	if _, err := testenv.PostgresBinDir(); err != nil {
		testenv.Missing(t, "%v", err)
	}
	ctx := context.Background()
	clock := &fakeClock{t: time.Now().UTC()}
	n := startNode(t, clockedConfig(t, filepath.Join(t.TempDir(), "data"), ""), clock)
	a := n.clients(t, management, "default", "")
	srv := testenv.StartPostgres(t)
	admin := must[*sql.DB](t)(sql.Open("pgx", srv.CreateDatabase(t, "shop")))
	defer admin.Close()
	for _, q := range []string{`CREATE ROLE shop_app LOGIN REPLICATION PASSWORD 'shop-app-secret'`,
		`CREATE TABLE events (n int PRIMARY KEY)`, `GRANT ALL ON events TO shop_app`} {
		if _, err := admin.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	reg := must[*rdsapi.Registered](t)(rdsapi.Register(ctx, n.c.AWSConfig(t, n.c.Profile(t, "default")), http.DefaultClient, rdsapi.RegisterRequest{
		Identifier: "shop", Engine: "postgres", ConnectionString: fmt.Sprintf("postgres://shop_app:shop-app-secret@%s:%d/shop?sslmode=disable", srv.Host, srv.Port)}))
	role := a.backupRole(t, "backup-role")
	a.vault(t, "pitr-vault", "")
	plan := must[*backup.CreateBackupPlanOutput](t)(a.Backup.CreateBackupPlan(ctx, &backup.CreateBackupPlanInput{BackupPlan: &backuptypes.BackupPlanInput{
		BackupPlanName: aws.String("pitr"),
		Rules: []backuptypes.BackupRuleInput{{RuleName: aws.String("continuous"), TargetBackupVaultName: aws.String("pitr-vault"),
			ScheduleExpression: aws.String("cron(0 * ? * * *)"), EnableContinuousBackup: aws.Bool(true), Lifecycle: &backuptypes.Lifecycle{DeleteAfterDays: aws.Int64(7)}}},
	}}))
	must[*backup.CreateBackupSelectionOutput](t)(a.Backup.CreateBackupSelection(ctx, &backup.CreateBackupSelectionInput{BackupPlanId: plan.BackupPlanId,
		BackupSelection: &backuptypes.BackupSelection{SelectionName: aws.String("shop"), IamRoleArn: aws.String(role), Resources: []string{reg.DBInstanceArn}}}))

	clock.Set(time.Now().UTC().Truncate(time.Hour).Add(time.Hour + time.Minute))
	if res, err := n.app.Plans().Tick(ctx); err != nil || len(res.Errors) > 0 || res.Started != 1 {
		t.Fatalf("tick: %+v %v", res, err)
	}
	waitJobs(t, a, 1, 0)
	jobs := allBackupJobs(t, a)
	if jobs[0].State != backuptypes.BackupJobStateCompleted {
		t.Fatalf("continuous backup of the registered database: %s %s", jobs[0].State, aws.ToString(jobs[0].StatusMessage))
	}
	rpARN := aws.ToString(jobs[0].RecoveryPointArn)

	insert := func(from, to int) {
		t.Helper()
		if _, err := admin.Exec(`INSERT INTO events SELECT g FROM generate_series($1::int, $2::int) g`, from, to); err != nil {
			t.Fatal(err)
		}
	}
	insert(1, 5)
	time.Sleep(time.Second)
	between := time.Now()
	time.Sleep(time.Second)
	insert(6, 10)
	for deadline, after := time.Now().Add(2*time.Minute), time.Now(); ; time.Sleep(200 * time.Millisecond) {
		out := must[*rds.DescribeDBInstancesOutput](t)(a.RDS.DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String("shop")}))
		if lrt := out.DBInstances[0].LatestRestorableTime; lrt != nil && lrt.After(after) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("LatestRestorableTime did not pass %s", after)
		}
	}
	rj := a.restoreJob(t, rpARN, role, map[string]string{"DBInstanceIdentifier": "shop-pitr", "RestoreTime": between.UTC().Format(time.RFC3339Nano)})
	if rj.Status != backuptypes.RestoreJobStatusCompleted {
		t.Fatalf("restore job: %s %s", rj.Status, aws.ToString(rj.StatusMessage))
	}
	db := a.waitDB(t, "shop-pitr")
	db.Password = "shop-app-secret"
	if got := eventsOf(t, db); !reflect.DeepEqual(got, seq(1, 5)) {
		t.Errorf("restored to between the batches: rows %v, want 1 to 5", got)
	}
}
