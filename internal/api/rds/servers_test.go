package rds_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"

	"github.com/coffer-dev/coffer/internal/testenv"
)

// transitional are the statuses waitStatus waits through.
var transitional = map[string]bool{"creating": true, "deleting": true, "modifying": true, "stopping": true, "starting": true, "rebooting": true}

// TestSameNamesTwoAccounts: two accounts create instances with the same
// identifier, DBName and MasterUsername; each is its own server, each
// owner connects only to its own, and neither create fails or reveals
// the other's names.
func TestSameNamesTwoAccounts(t *testing.T) {
	requirePostgres(t)
	c := start(t, nil)
	src, _ := clients(t, c, "default")
	bak, _ := clients(t, c, "other")
	ctx := context.Background()
	_, err := bak.CreateDBInstance(ctx, &rds.CreateDBInstanceInput{DBInstanceIdentifier: aws.String("orders"), Engine: aws.String("postgres"),
		DBInstanceClass: aws.String("db.t3.micro"), MasterUsername: aws.String("app"), MasterUserPassword: aws.String("backup-pw-1"), Port: aws.Int32(80)})
	if errCode(err) != "InvalidParameterValue" {
		t.Errorf("port 80: %v", err)
	}
	chosen := int32(testenv.FreePort(t))
	for _, cl := range []*rds.Client{src, bak} {
		in := &rds.CreateDBInstanceInput{
			DBInstanceIdentifier: aws.String("orders"), Engine: aws.String("postgres"), DBInstanceClass: aws.String("db.t3.micro"),
			DBName: aws.String("appdb"), MasterUsername: aws.String("app"), MasterUserPassword: aws.String(map[*rds.Client]string{src: "source-pw-1", bak: "backup-pw-1"}[cl]),
		}
		if cl == bak {
			in.Port = aws.Int32(chosen)
		}
		if _, err := cl.CreateDBInstance(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	a := waitStatus(t, src, "orders", "available")
	b := waitStatus(t, bak, "orders", "available")
	ap, bp := aws.ToInt32(a.Endpoint.Port), aws.ToInt32(b.Endpoint.Port)
	if ap == bp || bp != chosen {
		t.Fatalf("instances on ports %d and %d, the second asked for %d", ap, bp, chosen)
	}
	host := aws.ToString(a.Endpoint.Address)
	if out, err := psql(t, host, ap, "app", "source-pw-1", "appdb", `CREATE TABLE who (name text); INSERT INTO who VALUES ('source'); SELECT name FROM who`); err != nil || !strings.HasSuffix(out, "source") {
		t.Fatalf("source owner on its server: %v: %s", err, out)
	}
	if out, err := psql(t, host, bp, "app", "backup-pw-1", "appdb", `SELECT count(*) FROM pg_tables WHERE tablename = 'who'`); err != nil || out != "0" {
		t.Fatalf("backup owner on its server: %v: %s", err, out)
	}
	// Each owner's password opens only its own server.
	if out, err := psql(t, host, bp, "app", "source-pw-1", "appdb", `SELECT 1`); err == nil {
		t.Errorf("the source's password opens the backup account's server: %s", out)
	}
	if out, err := psql(t, host, ap, "app", "backup-pw-1", "appdb", `SELECT 1`); err == nil {
		t.Errorf("the backup account's password opens the source's server: %s", out)
	}
	// The owner is not a superuser: it cannot read the server's files or
	// become coffer's administrator.
	if out, err := psql(t, host, ap, "app", "source-pw-1", "appdb", `SELECT rolsuper::text || rolcreatedb::text || rolcreaterole::text FROM pg_roles WHERE rolname = current_user`); err != nil || out != "falsetruetrue" {
		t.Errorf("owner's attributes: %v: %s", err, out)
	}
	if out, err := psql(t, host, ap, "coffer_admin", "", "postgres", `SELECT 1`); err == nil {
		t.Errorf("coffer's administrator is reachable over TCP: %s", out)
	}
	// Nothing the other account sees names this account's instance.
	list, err := bak.DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.DBInstances) != 1 || aws.ToString(list.DBInstances[0].DBInstanceArn) != aws.ToString(b.DBInstanceArn) {
		t.Errorf("the backup account lists %d instances", len(list.DBInstances))
	}
}

// TestServerLifecycle: StopDBInstance, StartDBInstance, RebootDBInstance,
// ModifyDBInstance (class now and at the next reboot, retention,
// deletion protection), DeleteDBInstance's refusals, and a server killed
// with SIGKILL restarted by coffer.
func TestServerLifecycle(t *testing.T) {
	requirePostgres(t)
	c := start(t, nil)
	client, _ := clients(t, c, "default")
	ctx := context.Background()
	versions, err := client.DescribeDBEngineVersions(ctx, &rds.DescribeDBEngineVersionsInput{Engine: aws.String("postgres")})
	if err != nil || len(versions.DBEngineVersions) == 0 {
		t.Fatalf("DescribeDBEngineVersions: %v", err)
	}
	installed := aws.ToString(versions.DBEngineVersions[0].EngineVersion)
	if fam := aws.ToString(versions.DBEngineVersions[0].DBParameterGroupFamily); !strings.HasPrefix(fam, "postgres") {
		t.Errorf("family %s", fam)
	}
	_, err = client.CreateDBInstance(ctx, &rds.CreateDBInstanceInput{DBInstanceIdentifier: aws.String("old"), Engine: aws.String("postgres"), EngineVersion: aws.String("9.6"),
		DBInstanceClass: aws.String("db.t3.micro"), MasterUsername: aws.String("app"), MasterUserPassword: aws.String("app-secret-1")})
	if errCode(err) != "InvalidParameterCombination" || !strings.Contains(err.Error(), installed) {
		t.Errorf("an uninstalled version: %v, want InvalidParameterCombination listing %s", err, installed)
	}
	_, err = client.CreateDBInstance(ctx, &rds.CreateDBInstanceInput{DBInstanceIdentifier: aws.String("huge"), Engine: aws.String("postgres"),
		DBInstanceClass: aws.String("db.t3.colossal"), MasterUsername: aws.String("app"), MasterUserPassword: aws.String("app-secret-1")})
	if errCode(err) != "InvalidParameterValue" {
		t.Errorf("an unknown class: %v", err)
	}

	if _, err := client.CreateDBInstance(ctx, &rds.CreateDBInstanceInput{DBInstanceIdentifier: aws.String("app"), Engine: aws.String("postgres"),
		EngineVersion: aws.String(strings.Split(installed, ".")[0]), DBInstanceClass: aws.String("db.t3.micro"), MasterUsername: aws.String("app"),
		MasterUserPassword: aws.String("app-secret-1"), DeletionProtection: aws.Bool(true), BackupRetentionPeriod: aws.Int32(7)}); err != nil {
		t.Fatal(err)
	}
	inst := waitStatus(t, client, "app", "available")
	host, port := aws.ToString(inst.Endpoint.Address), aws.ToInt32(inst.Endpoint.Port)
	if aws.ToString(inst.EngineVersion) != installed || aws.ToInt32(inst.BackupRetentionPeriod) != 7 {
		t.Errorf("EngineVersion %s, BackupRetentionPeriod %d", aws.ToString(inst.EngineVersion), aws.ToInt32(inst.BackupRetentionPeriod))
	}
	if out, err := psql(t, host, port, "app", "app-secret-1", "app", `CREATE TABLE t (x int); INSERT INTO t VALUES (1), (2); SHOW shared_buffers`); err != nil || out != "16MB" {
		t.Fatalf("psql: %v: %s", err, out)
	}

	// Deletion protection and the final snapshot.
	_, err = client.DeleteDBInstance(ctx, &rds.DeleteDBInstanceInput{DBInstanceIdentifier: aws.String("app"), SkipFinalSnapshot: aws.Bool(true)})
	if errCode(err) != "InvalidParameterCombination" {
		t.Errorf("delete a protected instance: %v", err)
	}
	_, err = client.DeleteDBInstance(ctx, &rds.DeleteDBInstanceInput{DBInstanceIdentifier: aws.String("app"), FinalDBSnapshotIdentifier: aws.String("app-final")})
	if errCode(err) != "InvalidParameterCombination" || !strings.Contains(err.Error(), "deletion protection") {
		t.Errorf("delete a protected instance with a final snapshot: %v", err)
	}
	if _, err := client.DescribeDBSnapshots(ctx, &rds.DescribeDBSnapshotsInput{DBSnapshotIdentifier: aws.String("app-final")}); errCode(err) != "DBSnapshotNotFound" {
		t.Errorf("the refused delete's final snapshot: %v, want DBSnapshotNotFound", err)
	}
	_, err = client.ModifyDBInstance(ctx, &rds.ModifyDBInstanceInput{DBInstanceIdentifier: aws.String("app"), BackupRetentionPeriod: aws.Int32(36)})
	if errCode(err) != "InvalidParameterValue" {
		t.Errorf("retention 36: %v", err)
	}

	// A class without ApplyImmediately waits for the reboot.
	mod, err := client.ModifyDBInstance(ctx, &rds.ModifyDBInstanceInput{DBInstanceIdentifier: aws.String("app"), DBInstanceClass: aws.String("db.t3.small"), BackupRetentionPeriod: aws.Int32(0)})
	if err != nil {
		t.Fatal(err)
	}
	if mod.DBInstance.PendingModifiedValues == nil || aws.ToString(mod.DBInstance.PendingModifiedValues.DBInstanceClass) != "db.t3.small" || aws.ToInt32(mod.DBInstance.BackupRetentionPeriod) != 0 {
		t.Errorf("pending class / retention: %+v %d", mod.DBInstance.PendingModifiedValues, aws.ToInt32(mod.DBInstance.BackupRetentionPeriod))
	}
	if _, err := client.RebootDBInstance(ctx, &rds.RebootDBInstanceInput{DBInstanceIdentifier: aws.String("app"), ForceFailover: aws.Bool(true)}); errCode(err) != "InvalidParameterCombination" {
		t.Errorf("ForceFailover: %v", err)
	}
	rb, err := client.RebootDBInstance(ctx, &rds.RebootDBInstanceInput{DBInstanceIdentifier: aws.String("app")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(rb.DBInstance.DBInstanceStatus) != "rebooting" {
		t.Errorf("status after reboot %s", aws.ToString(rb.DBInstance.DBInstanceStatus))
	}
	inst = waitStatus(t, client, "app", "available")
	if aws.ToString(inst.DBInstanceClass) != "db.t3.small" {
		t.Errorf("class after reboot %s", aws.ToString(inst.DBInstanceClass))
	}
	if out, err := psql(t, host, port, "app", "app-secret-1", "app", `SHOW shared_buffers`); err != nil || out != "32MB" {
		t.Errorf("after reboot: %v: %s", err, out)
	}
	// ApplyImmediately restarts at once.
	if _, err := client.ModifyDBInstance(ctx, &rds.ModifyDBInstanceInput{DBInstanceIdentifier: aws.String("app"), DBInstanceClass: aws.String("db.t3.medium"), ApplyImmediately: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, client, "app", "available")
	if out, err := psql(t, host, port, "app", "app-secret-1", "app", `SHOW shared_buffers`); err != nil || out != "64MB" {
		t.Errorf("after an immediate class change: %v: %s", err, out)
	}

	// Stop and start.
	if _, err := client.StartDBInstance(ctx, &rds.StartDBInstanceInput{DBInstanceIdentifier: aws.String("app")}); errCode(err) != "InvalidDBInstanceState" {
		t.Errorf("start an available instance: %v", err)
	}
	if _, err := client.StopDBInstance(ctx, &rds.StopDBInstanceInput{DBInstanceIdentifier: aws.String("app"), DBSnapshotIdentifier: aws.String("s")}); errCode(err) != "InvalidParameterCombination" {
		t.Errorf("stop with a snapshot: %v", err)
	}
	if _, err := client.StopDBInstance(ctx, &rds.StopDBInstanceInput{DBInstanceIdentifier: aws.String("app")}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, client, "app", "stopped")
	if out, err := psql(t, host, port, "app", "app-secret-1", "app", `SELECT 1`); err == nil {
		t.Errorf("a stopped instance answers: %s", out)
	}
	if _, err := client.StartDBInstance(ctx, &rds.StartDBInstanceInput{DBInstanceIdentifier: aws.String("app")}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, client, "app", "available")
	if out, err := psql(t, host, port, "app", "app-secret-1", "app", `SELECT count(*) FROM t`); err != nil || out != "2" {
		t.Errorf("after start: %v: %s", err, out)
	}

	// A server killed with SIGKILL comes back on its own.
	pid := postmasterPID(t, host, port)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		out, err := psql(t, host, port, "app", "app-secret-1", "app", `SELECT count(*) FROM t`)
		if err == nil && out == "2" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the killed server did not come back: %v: %s", err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	waitStatus(t, client, "app", "available")

	if _, err := client.ModifyDBInstance(ctx, &rds.ModifyDBInstanceInput{DBInstanceIdentifier: aws.String("app"), DeletionProtection: aws.Bool(false)}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.DeleteDBInstance(ctx, &rds.DeleteDBInstanceInput{DBInstanceIdentifier: aws.String("app"), SkipFinalSnapshot: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	waitGone(t, client, "app")
}

// postmasterPID asks the server for its postmaster's PID: the parent of
// the session's backend, read while the session is open.
func postmasterPID(t *testing.T, host string, port int32) int {
	t.Helper()
	db, err := sql.Open("pgx", fmt.Sprintf("postgres://app:app-secret-1@%s:%d/app?sslmode=disable", host, port))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var backend int
	if err := conn.QueryRowContext(context.Background(), `SELECT pg_backend_pid()`).Scan(&backend); err != nil {
		t.Fatal(err)
	}
	return testenv.ParentPID(t, backend)
}
