package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	rdstypes "github.com/aws/aws-sdk-go-v2/service/rds/types"
	"github.com/aws/smithy-go"
	_ "modernc.org/sqlite"

	"github.com/coffer-dev/coffer/internal/testenv"
)

func runDB(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := dbCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

// TestDBRegister registers an existing PostgreSQL database and an SQLite
// file with `coffer db register`, the URL passed through the environment,
// and checks the password is stored only encrypted.
func TestDBRegister(t *testing.T) {
	c := testenv.StartCoffer(t, nil)
	client := rds.NewFromConfig(c.AWSConfig(t, c.Profile(t, "default")))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", c.CredentialsFile)
	t.Setenv("AWS_CONFIG_FILE", c.ConfigFile)
	t.Setenv("AWS_PROFILE", "default")

	dbPath := filepath.Join(t.TempDir(), "notes.db")
	db, err := sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	out, err := runDB(t, "register", "--endpoint-url", c.URL, "--db-instance-identifier", "notes", "--engine", "sqlite", "--path", dbPath, "--tag", "team=ops")
	if err != nil {
		t.Fatalf("register sqlite: %v\n%s", err, out)
	}
	var got struct {
		DBInstance struct{ DBInstanceArn, DBInstanceStatus string }
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || got.DBInstance.DBInstanceStatus != "available" {
		t.Fatalf("output %s (%v)", out, err)
	}

	if _, err := runDB(t, "register", "--endpoint-url", c.URL, "--db-instance-identifier", "missing", "--engine", "sqlite", "--path", filepath.Join(t.TempDir(), "nope.db")); err == nil || !strings.Contains(err.Error(), "InvalidParameterValue") {
		t.Errorf("registering a missing file: %v", err)
	}

	if _, err := testenv.PostgresBinDir(); err != nil {
		testenv.Missing(t, "%v", err)
	}
	srv := testenv.StartPostgres(t)
	dsn := srv.CreateDatabase(t, "shop")
	t.Setenv("COFFER_DB_DSN", dsn)
	out, err = runDB(t, "register", "--endpoint-url", c.URL, "--db-instance-identifier", "shop", "--engine", "postgres")
	if err != nil {
		t.Fatalf("register postgres: %v\n%s", err, out)
	}
	desc, err := client.DescribeDBInstances(context.Background(), &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String("shop")})
	if err != nil {
		t.Fatal(err)
	}
	inst := desc.DBInstances[0]
	if aws.ToString(inst.DBName) != "shop" || aws.ToInt32(inst.Endpoint.Port) != int32(srv.Port) || aws.ToString(inst.DBInstanceStatus) != "available" {
		t.Errorf("registered instance: DBName %s, port %d, status %s", aws.ToString(inst.DBName), aws.ToInt32(inst.Endpoint.Port), aws.ToString(inst.DBInstanceStatus))
	}
	meta, err := os.ReadFile(filepath.Join(c.Config.DataDir, "coffer.db"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(meta, []byte(srv.Password)) {
		t.Error("the registered database's password is in the metadata store in plaintext")
	}

	t.Setenv("COFFER_DB_DSN", strings.Replace(dsn, srv.Password, "wrong-password", 1))
	if _, err := runDB(t, "register", "--endpoint-url", c.URL, "--db-instance-identifier", "shop2", "--engine", "postgres"); err == nil || strings.Contains(err.Error(), "wrong-password") {
		t.Errorf("registering with a wrong password: %v (want an error without the password)", err)
	}

	// Deleting a registered instance forgets it and leaves the database.
	if _, err := client.DeleteDBInstance(context.Background(), &rds.DeleteDBInstanceInput{DBInstanceIdentifier: aws.String("shop"), SkipFinalSnapshot: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	pg, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	if err := pg.Ping(); err != nil {
		t.Errorf("the registered database is gone after its instance was deleted: %v", err)
	}
}

// TestRegisteredContinuousBackup: automated backups of a registered
// PostgreSQL database whose role lacks REPLICATION are refused with what
// to grant; once granted, its WAL is captured, and
// RestoreDBInstanceToPointInTime to a time between two batches of rows
// brings up a new instance holding exactly the first batch; retention 0
// drops the replication slot on the registered server.
func TestRegisteredContinuousBackup(t *testing.T) {
	if _, err := testenv.PostgresBinDir(); err != nil {
		testenv.Missing(t, "%v", err)
	}
	ctx := context.Background()
	c := testenv.StartCoffer(t, nil)
	client := rds.NewFromConfig(c.AWSConfig(t, c.Profile(t, "default")))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", c.CredentialsFile)
	t.Setenv("AWS_CONFIG_FILE", c.ConfigFile)
	t.Setenv("AWS_PROFILE", "default")
	srv := testenv.StartPostgres(t)
	admin, err := sql.Open("pgx", srv.CreateDatabase(t, "shop"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	for _, q := range []string{`CREATE ROLE shop_app LOGIN PASSWORD 'shop-app-secret'`,
		`CREATE TABLE orders (n int PRIMARY KEY)`, `GRANT ALL ON orders TO shop_app`} {
		if _, err := admin.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("COFFER_DB_DSN", fmt.Sprintf("postgres://shop_app:shop-app-secret@%s:%d/shop?sslmode=disable", srv.Host, srv.Port))
	if out, err := runDB(t, "register", "--endpoint-url", c.URL, "--db-instance-identifier", "shop", "--engine", "postgres"); err != nil {
		t.Fatalf("register: %v\n%s", err, out)
	}
	modify := func() error {
		_, err := client.ModifyDBInstance(ctx, &rds.ModifyDBInstanceInput{DBInstanceIdentifier: aws.String("shop"), BackupRetentionPeriod: aws.Int32(7)})
		return err
	}
	var ae smithy.APIError
	err = modify()
	if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidParameterCombination" || !strings.Contains(err.Error(), `ALTER ROLE shop_app REPLICATION`) || !strings.Contains(err.Error(), "pg_hba.conf") {
		t.Fatalf("automated backups of a registered database without REPLICATION: %v, want InvalidParameterCombination saying what to grant", err)
	}
	if strings.Contains(err.Error(), "shop-app-secret") {
		t.Fatalf("the error shows the password: %v", err)
	}
	if _, err := admin.Exec(`ALTER ROLE shop_app REPLICATION`); err != nil {
		t.Fatal(err)
	}
	if err := modify(); err != nil {
		t.Fatalf("automated backups of a registered database with REPLICATION: %v", err)
	}
	describe := func(id string) *rdstypes.DBInstance {
		out, err := client.DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String(id)})
		if err != nil {
			t.Fatal(err)
		}
		return &out.DBInstances[0]
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(3 * time.Minute); !ok(); time.Sleep(300 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not after 3 minutes", what)
			}
		}
	}
	restorableAfter := func(at time.Time) func() bool {
		return func() bool { lrt := describe("shop").LatestRestorableTime; return lrt != nil && lrt.After(at) }
	}
	waitFor("shop restorable", restorableAfter(time.Time{}))
	batch := func(from int) {
		for n := from; n < from+3; n++ {
			if _, err := admin.Exec(`INSERT INTO orders VALUES ($1)`, n); err != nil {
				t.Fatal(err)
			}
		}
	}
	batch(0)
	time.Sleep(time.Second)
	between := time.Now()
	time.Sleep(time.Second)
	batch(3)
	waitFor("shop restorable after the second batch", restorableAfter(time.Now()))

	if _, err := client.RestoreDBInstanceToPointInTime(ctx, &rds.RestoreDBInstanceToPointInTimeInput{SourceDBInstanceIdentifier: aws.String("shop"),
		TargetDBInstanceIdentifier: aws.String("shop-between"), RestoreTime: aws.Time(between)}); err != nil {
		t.Fatal(err)
	}
	waitFor("shop-between available", func() bool {
		st := aws.ToString(describe("shop-between").DBInstanceStatus)
		if st == "failed" {
			t.Fatalf("the restored instance failed: %s", st)
		}
		return st == "available"
	})
	ep := describe("shop-between").Endpoint
	restored, err := sql.Open("pgx", fmt.Sprintf("postgres://shop_app:shop-app-secret@%s:%d/shop?sslmode=disable", aws.ToString(ep.Address), aws.ToInt32(ep.Port)))
	if err != nil {
		t.Fatal(err)
	}
	defer restored.Close()
	var rows, most int
	if err := restored.QueryRow(`SELECT count(*), coalesce(max(n), -1) FROM orders`).Scan(&rows, &most); err != nil {
		t.Fatal(err)
	}
	if rows != 3 || most != 2 {
		t.Errorf("restored to between the batches: %d rows up to %d, want rows 0 to 2", rows, most)
	}
	// Retention 0 stops the capture and drops its slot on the server.
	var slots int
	if err := admin.QueryRow(`SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'coffer\_db\_%'`).Scan(&slots); err != nil || slots != 1 {
		t.Fatalf("the capture's replication slots on the registered server: %d (%v), want 1", slots, err)
	}
	if _, err := client.ModifyDBInstance(ctx, &rds.ModifyDBInstanceInput{DBInstanceIdentifier: aws.String("shop"), BackupRetentionPeriod: aws.Int32(0)}); err != nil {
		t.Fatal(err)
	}
	waitFor("the registered server's replication slot dropped", func() bool {
		var slots int
		if err := admin.QueryRow(`SELECT count(*) FROM pg_replication_slots`).Scan(&slots); err != nil {
			t.Fatal(err)
		}
		return slots == 0
	})
}
