package rds_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/rds/types"
	"github.com/jackc/pgx/v5"
)

// connectPG opens a connection to an instance as its master user.
func connectPG(t *testing.T, inst types.DBInstance, user, password, database string) *pgx.Conn {
	t.Helper()
	url := fmt.Sprintf("postgres://%s:%s@%s:%d/%s?sslmode=disable", user, password, aws.ToString(inst.Endpoint.Address), aws.ToInt32(inst.Endpoint.Port), database)
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatalf("connect to %s: %v", aws.ToString(inst.DBInstanceIdentifier), err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// waitRestorable polls DescribeDBInstances until the instance's
// LatestRestorableTime is after t.
func waitRestorable(t *testing.T, client *rds.Client, id string, after time.Time) time.Time {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		out, err := client.DescribeDBInstances(context.Background(), &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String(id)})
		if err != nil {
			t.Fatal(err)
		}
		if lrt := out.DBInstances[0].LatestRestorableTime; lrt != nil && lrt.After(after) {
			return *lrt
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: LatestRestorableTime did not pass %s", id, after.Format(time.RFC3339Nano))
	return time.Time{}
}

// rowsOf lists the n of the restored instance's table.
func rowsOf(t *testing.T, inst types.DBInstance) []int {
	t.Helper()
	conn := connectPG(t, inst, "app_admin", "app-secret-1", "app")
	rows, err := conn.Query(context.Background(), `SELECT n FROM events ORDER BY n`)
	if err != nil {
		t.Fatalf("%s: %v", aws.ToString(inst.DBInstanceIdentifier), err)
	}
	ns, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

// TestPointInTimeRestore: an instance encrypted with a CMK and with
// BackupRetentionPeriod 1 has its WAL captured; rows inserted a second
// or two apart over ~30 s are restored, by
// RestoreDBInstanceToPointInTime, exactly as committed at each chosen
// time (into instances under the source's key), and at the latest
// restorable time; times outside the window, instances with retention 0
// and SQLite are refused as RDS refuses them; retention 0 drops the
// replication slot.
func TestPointInTimeRestore(t *testing.T) {
	requirePostgres(t)
	c := start(t, nil)
	client, kmsClient := clients(t, c, "default")
	ctx := context.Background()
	key, err := kmsClient.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("app database")})
	if err != nil {
		t.Fatal(err)
	}
	keyARN := aws.ToString(key.KeyMetadata.Arn)

	// SQLite instances have no WAL to capture.
	_, err = client.CreateDBInstance(ctx, &rds.CreateDBInstanceInput{DBInstanceIdentifier: aws.String("notes"), Engine: aws.String("sqlite"),
		DBInstanceClass: aws.String("db.t3.micro"), BackupRetentionPeriod: aws.Int32(1)})
	if errCode(err) != "InvalidParameterCombination" || !strings.Contains(err.Error(), "SQLite") && !strings.Contains(err.Error(), "sqlite") {
		t.Errorf("SQLite with retention 1: %v, want InvalidParameterCombination saying why", err)
	}
	sq, err := client.CreateDBInstance(ctx, &rds.CreateDBInstanceInput{DBInstanceIdentifier: aws.String("notes"), Engine: aws.String("sqlite"), DBInstanceClass: aws.String("db.t3.micro")})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToInt32(sq.DBInstance.BackupRetentionPeriod); got != 0 {
		t.Errorf("SQLite instance's BackupRetentionPeriod = %d, want 0", got)
	}

	waitStatus(t, client, "notes", "available")
	if _, err := client.ModifyDBInstance(ctx, &rds.ModifyDBInstanceInput{DBInstanceIdentifier: aws.String("notes"), BackupRetentionPeriod: aws.Int32(7)}); errCode(err) != "InvalidParameterCombination" {
		t.Errorf("modify a SQLite instance to retention 7: %v, want InvalidParameterCombination", err)
	}

	create := func(id string, retention int32, window string) error {
		in := &rds.CreateDBInstanceInput{
			DBInstanceIdentifier: aws.String(id), Engine: aws.String("postgres"), DBInstanceClass: aws.String("db.t3.micro"),
			AllocatedStorage: aws.Int32(20), MasterUsername: aws.String("app_admin"), MasterUserPassword: aws.String("app-secret-1"),
			DBName: aws.String("app"), BackupRetentionPeriod: aws.Int32(retention),
		}
		if window != "" {
			in.PreferredBackupWindow = aws.String(window)
		}
		if retention > 0 {
			in.StorageEncrypted, in.KmsKeyId = aws.Bool(true), aws.String(keyARN)
		}
		_, err := client.CreateDBInstance(ctx, in)
		return err
	}
	for _, w := range []string{"3:00-03:30", "03:00-03:20", "03:00"} {
		if err := create("bad-window", 1, w); errCode(err) != "InvalidParameterValue" {
			t.Errorf("PreferredBackupWindow %s: %v, want InvalidParameterValue", w, err)
		}
	}
	if err := create("app", 1, "23:45-00:15"); err != nil {
		t.Fatal(err)
	}
	if err := create("plain", 0, ""); err != nil {
		t.Fatal(err)
	}
	src := waitStatus(t, client, "app", "available")
	if got := aws.ToString(src.PreferredBackupWindow); got != "23:45-00:15" {
		t.Errorf("PreferredBackupWindow = %q", got)
	}
	waitStatus(t, client, "plain", "available")
	_, err = client.RestoreDBInstanceToPointInTime(ctx, &rds.RestoreDBInstanceToPointInTimeInput{
		SourceDBInstanceIdentifier: aws.String("plain"), TargetDBInstanceIdentifier: aws.String("plain-copy"), UseLatestRestorableTime: aws.Bool(true)})
	if errCode(err) != "PointInTimeRestoreNotEnabled" {
		t.Errorf("restore of an instance with retention 0: %v, want PointInTimeRestoreNotEnabled", err)
	}

	// The window opens once the first base backup and its WAL are stored.
	waitRestorable(t, client, "app", time.Time{})
	conn := connectPG(t, src, "app_admin", "app-secret-1", "app")
	if _, err := conn.Exec(ctx, `CREATE TABLE events (n int PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())`); err != nil {
		t.Fatal(err)
	}
	// after[i] is a time after row i committed and before row i+1 did.
	const rows = 15
	var after []time.Time
	for i := range rows {
		if _, err := conn.Exec(ctx, `INSERT INTO events (n) VALUES ($1)`, i); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		after = append(after, time.Now())
		time.Sleep(time.Second)
	}
	latest := waitRestorable(t, client, "app", time.Now())

	ab, err := client.DescribeDBInstanceAutomatedBackups(ctx, &rds.DescribeDBInstanceAutomatedBackupsInput{DBInstanceIdentifier: aws.String("app")})
	if err != nil {
		t.Fatal(err)
	}
	if len(ab.DBInstanceAutomatedBackups) != 1 || ab.DBInstanceAutomatedBackups[0].RestoreWindow == nil ||
		ab.DBInstanceAutomatedBackups[0].RestoreWindow.EarliestTime == nil || !ab.DBInstanceAutomatedBackups[0].RestoreWindow.EarliestTime.Before(after[0]) ||
		aws.ToInt32(ab.DBInstanceAutomatedBackups[0].BackupRetentionPeriod) != 1 {
		t.Fatalf("DescribeDBInstanceAutomatedBackups: %+v", ab.DBInstanceAutomatedBackups)
	}
	window := *ab.DBInstanceAutomatedBackups[0].RestoreWindow
	if _, err := client.DescribeDBInstanceAutomatedBackups(ctx, &rds.DescribeDBInstanceAutomatedBackupsInput{DBInstanceIdentifier: aws.String("plain")}); errCode(err) != "DBInstanceAutomatedBackupNotFound" {
		t.Errorf("automated backups of an instance with retention 0: %v", err)
	}

	// Outside the window: InvalidRestoreFault naming the window.
	for _, at := range []time.Time{window.EarliestTime.Add(-time.Hour), latest.Add(time.Hour)} {
		_, err := client.RestoreDBInstanceToPointInTime(ctx, &rds.RestoreDBInstanceToPointInTimeInput{
			SourceDBInstanceIdentifier: aws.String("app"), TargetDBInstanceIdentifier: aws.String("app-outside"), RestoreTime: aws.Time(at)})
		if errCode(err) != "InvalidRestoreFault" || !strings.Contains(err.Error(), window.EarliestTime.UTC().Format("2006-01-02T15:04:05")) {
			t.Errorf("restore to %s: %v, want InvalidRestoreFault with the window", at, err)
		}
	}

	for _, i := range []int{2, 8} {
		id := fmt.Sprintf("app-at-%d", i)
		if _, err := client.RestoreDBInstanceToPointInTime(ctx, &rds.RestoreDBInstanceToPointInTimeInput{
			SourceDBInstanceIdentifier: aws.String("app"), TargetDBInstanceIdentifier: aws.String(id), RestoreTime: aws.Time(after[i]),
			DBInstanceClass: aws.String("db.t3.small")}); err != nil {
			t.Fatalf("restore to after row %d: %v", i, err)
		}
		inst := waitStatus(t, client, id, "available")
		if got := rowsOf(t, inst); len(got) != i+1 || got[i] != i {
			t.Errorf("restored to after row %d: rows %v", i, got)
		}
		if aws.ToString(inst.DBInstanceClass) != "db.t3.small" || aws.ToString(inst.KmsKeyId) != keyARN || !aws.ToBool(inst.StorageEncrypted) {
			t.Errorf("%s: class %s, key %s (encrypted %v), want the source's key", id, aws.ToString(inst.DBInstanceClass), aws.ToString(inst.KmsKeyId), aws.ToBool(inst.StorageEncrypted))
		}
		if _, err := client.DeleteDBInstance(ctx, &rds.DeleteDBInstanceInput{DBInstanceIdentifier: aws.String(id), SkipFinalSnapshot: aws.Bool(true)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := client.RestoreDBInstanceToPointInTime(ctx, &rds.RestoreDBInstanceToPointInTimeInput{
		SourceDBInstanceIdentifier: aws.String("app"), TargetDBInstanceIdentifier: aws.String("app-latest"), UseLatestRestorableTime: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	if got := rowsOf(t, waitStatus(t, client, "app-latest", "available")); len(got) != rows {
		t.Errorf("restored to the latest restorable time: rows %v, want %d", got, rows)
	}

	// /_coffer/metrics shows the window, its lag and the replication lag.
	resp, err := http.Get(c.URL + "/_coffer/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"coffer_rds_restore_window_latest_seconds{instance=\"" + aws.ToString(src.DBInstanceArn) + "\"}", "coffer_rds_restore_window_lag_seconds{", "coffer_rds_replication_lag_bytes{instance=\"" + aws.ToString(src.DBInstanceArn) + "\"}"} {
		if !strings.Contains(string(metrics), m) {
			t.Errorf("metrics lack %s", m)
		}
	}

	// Retention 0 turns capture off: the slot goes, and with it point-in-time restore.
	if _, err := client.ModifyDBInstance(ctx, &rds.ModifyDBInstanceInput{DBInstanceIdentifier: aws.String("app"), BackupRetentionPeriod: aws.Int32(0),
		PreferredBackupWindow: aws.String("04:00-04:30")}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		var slots int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_replication_slots`).Scan(&slots); err != nil {
			t.Fatal(err)
		}
		if slots == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replication slot is still there with retention 0")
		}
		time.Sleep(200 * time.Millisecond)
	}
	out, err := client.DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String("app")})
	if err != nil {
		t.Fatal(err)
	}
	if inst := out.DBInstances[0]; inst.LatestRestorableTime != nil || aws.ToString(inst.PreferredBackupWindow) != "04:00-04:30" {
		t.Errorf("retention 0: LatestRestorableTime %v, PreferredBackupWindow %s", inst.LatestRestorableTime, aws.ToString(inst.PreferredBackupWindow))
	}
	_, err = client.RestoreDBInstanceToPointInTime(ctx, &rds.RestoreDBInstanceToPointInTimeInput{
		SourceDBInstanceIdentifier: aws.String("app"), TargetDBInstanceIdentifier: aws.String("app-off"), UseLatestRestorableTime: aws.Bool(true)})
	if errCode(err) != "PointInTimeRestoreNotEnabled" {
		t.Errorf("restore after retention 0: %v, want PointInTimeRestoreNotEnabled", err)
	}
}
