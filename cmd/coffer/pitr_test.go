package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"

	"github.com/coffer-dev/coffer/internal/clusterenv"
	"github.com/coffer-dev/coffer/internal/demo"
	"github.com/coffer-dev/coffer/internal/scenario"
	"github.com/coffer-dev/coffer/internal/testenv"
)

// TestPointInTimeAcrossKillAndOutage: a PostgreSQL instance with
// automated backups (its vault on MinIO) gets rows one by one while
// coffer is killed (SIGKILL) and restarted, and while MinIO is down for
// 60 s; coffer status shows the lag the outage causes. Restored to a
// time while coffer was down, to one inside the outage, and to the
// latest restorable time, the instance holds exactly the rows committed
// at or before each.
func TestPointInTimeAcrossKillAndOutage(t *testing.T) {
	ctx := context.Background()
	if _, err := testenv.PostgresBinDir(); err != nil {
		testenv.Missing(t, "%v", err)
	}
	m := testenv.StartMinIO(t)
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "bootstrap.yaml"), []byte(demo.Bootstrap), 0o600); err != nil {
		t.Fatal(err)
	}
	f := &faultEnv{t: t, dataDir: filepath.Join(root, "data")}
	cfg := filepath.Join(root, "coffer.yaml")
	if err := os.WriteFile(cfg, []byte(clusterenv.S3Config(m, m.Bucket, false)), 0o600); err != nil {
		t.Fatal(err)
	}
	f.args = []string{"--config", cfg}
	f.start()
	src := f.account("111222333444", "source")
	if _, err := src.RDS.CreateDBInstance(ctx, &rds.CreateDBInstanceInput{
		DBInstanceIdentifier: aws.String("app"), Engine: aws.String("postgres"), DBInstanceClass: aws.String("db.t3.micro"),
		AllocatedStorage: aws.Int32(20), StorageEncrypted: aws.Bool(true), DBName: aws.String("app"),
		MasterUsername: aws.String("app_admin"), MasterUserPassword: aws.String("app-secret-1"), BackupRetentionPeriod: aws.Int32(1),
	}); err != nil {
		t.Fatal(err)
	}
	inst, err := src.WaitDB(ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	inst.Password = "app-secret-1"
	db, err := inst.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	waitLatestRestorable(t, src, "app", time.Time{})
	if _, err := db.Exec(`CREATE TABLE events (n int PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())`); err != nil {
		t.Fatal(err)
	}
	// after[n] is a time after row n committed and before row n+1 did.
	var after []time.Time
	insert := func() {
		t.Helper()
		if _, err := db.Exec(`INSERT INTO events (n) VALUES ($1)`, len(after)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond)
		after = append(after, time.Now())
		time.Sleep(500 * time.Millisecond)
	}
	insert()
	insert()

	// coffer killed; the instance's server goes on taking writes.
	f.kill()
	insert()
	whileDown := len(after) - 1
	insert()
	f.start()
	src = f.account("111222333444", "source")
	insert()
	waitLatestRestorable(t, src, "app", after[len(after)-1])
	if st := pitrStatusOf(t, f, inst.ARN); st.LatestRestorableTime == nil || st.ReplicationLagBytes == nil {
		t.Fatalf("coffer status after the restart: %+v", st)
	}

	// The vault's storage is down for 60 s.
	m.Stop()
	down := time.Now()
	insert()
	inOutage := len(after) - 1
	lagSeen := false
	for time.Since(down) < 60*time.Second {
		insert()
		if lagSeen {
			continue
		}
		// The capture keeps probing the server while its stores fail: the lag grows.
		st := pitrStatusOf(t, f, inst.ARN)
		if st.LatestRestorableTime != nil && st.LatestRestorableTime.After(after[inOutage]) {
			t.Fatalf("the latest restorable time passed %s while the vault's storage was down: %+v", after[inOutage], st)
		}
		lagSeen = st.ProbedAt != nil && st.ProbedAt.After(after[inOutage]) && st.ReplicationLagBytes != nil && *st.ReplicationLagBytes > 0
	}
	if err := m.Restart(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)
	if !lagSeen {
		t.Errorf("coffer status never showed replication lag during the storage outage")
	}
	insert()
	waitLatestRestorable(t, src, "app", after[len(after)-1])

	for _, c := range []struct {
		name string
		rows int // rows 0..rows-1; 0: all, at the latest restorable time
	}{
		{"while-coffer-down", whileDown + 1},
		{"in-outage", inOutage + 1},
		{"latest", 0},
	} {
		in := &rds.RestoreDBInstanceToPointInTimeInput{SourceDBInstanceIdentifier: aws.String("app"), TargetDBInstanceIdentifier: aws.String("app-" + c.name)}
		want := c.rows
		if want == 0 {
			in.UseLatestRestorableTime, want = aws.Bool(true), len(after)
		} else {
			in.RestoreTime = aws.Time(after[want-1])
		}
		if _, err := src.RDS.RestoreDBInstanceToPointInTime(ctx, in); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		restored, err := src.WaitDB(ctx, "app-"+c.name)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		restored.Password = inst.Password
		if got := eventRows(t, restored); len(got) != want || len(got) > 0 && got[len(got)-1] != want-1 {
			t.Errorf("%s: rows %v, want 0 to %d", c.name, got, want-1)
		}
	}
	f.p.stop(t)
}

// waitLatestRestorable waits until the instance's LatestRestorableTime
// passes at.
func waitLatestRestorable(t *testing.T, a *scenario.Account, id string, at time.Time) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		out, err := a.RDS.DescribeDBInstances(context.Background(), &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String(id)})
		if err != nil {
			t.Fatal(err)
		}
		if lrt := out.DBInstances[0].LatestRestorableTime; lrt != nil && lrt.After(at) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: LatestRestorableTime did not pass %s", id, at.Format(time.RFC3339Nano))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// pitrStatusJSON is an instance's line of coffer status --json.
type pitrStatusJSON struct {
	DBInstanceArn        string
	LatestRestorableTime *time.Time
	ReplicationLagBytes  *int64
	ProbedAt             *time.Time
}

// pitrStatusOf runs coffer status (--json, and the table) beside the
// server and returns the instance's automated-backup status.
func pitrStatusOf(t *testing.T, f *faultEnv, arn string) pitrStatusJSON {
	t.Helper()
	table, err := exec.Command(binary(t), "status", "--data-dir", f.dataDir).CombinedOutput()
	if err != nil {
		t.Fatalf("coffer status: %v\n%s", err, table)
	}
	if !strings.Contains(string(table), "DB INSTANCE (AUTOMATED BACKUPS)") || !strings.Contains(string(table), arn) {
		t.Fatalf("coffer status lacks %s:\n%s", arn, table)
	}
	out, err := exec.Command(binary(t), "status", "--data-dir", f.dataDir, "--json").Output()
	if err != nil {
		t.Fatalf("coffer status --json: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var st pitrStatusJSON
		if err := dec.Decode(&st); err != nil {
			t.Fatal(err)
		}
		if st.DBInstanceArn == arn {
			return st
		}
	}
	t.Fatalf("coffer status --json lacks %s:\n%s", arn, out)
	return pitrStatusJSON{}
}

// eventRows lists the n of a restored instance's events table.
func eventRows(t *testing.T, inst *scenario.DB) []int {
	t.Helper()
	db, err := inst.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT n FROM events ORDER BY n`)
	if err != nil {
		t.Fatalf("%s: %v", inst.ID, err)
	}
	defer rows.Close()
	var ns []int
	for rows.Next() {
		var n int
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		ns = append(ns, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return ns
}
