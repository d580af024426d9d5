package rds_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/rds/types"

	"github.com/coffer-dev/coffer/internal/config"
	"github.com/coffer-dev/coffer/internal/testenv"
)

func requirePostgres(t *testing.T) {
	t.Helper()
	if _, err := testenv.PostgresBinDir(); err != nil {
		testenv.Missing(t, "%v", err)
	}
}

func createPG(t *testing.T, client *rds.Client, id, user, password, keyID string) {
	t.Helper()
	in := &rds.CreateDBInstanceInput{
		DBInstanceIdentifier: aws.String(id), Engine: aws.String("postgres"), DBInstanceClass: aws.String("db.t3.micro"),
		AllocatedStorage: aws.Int32(20), MasterUsername: aws.String(user), MasterUserPassword: aws.String(password),
	}
	if keyID != "" {
		in.StorageEncrypted, in.KmsKeyId = aws.Bool(true), aws.String(keyID)
	}
	out, err := client.CreateDBInstance(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(out.DBInstance.DBInstanceStatus); got != "creating" {
		t.Errorf("status after create = %s, want creating", got)
	}
}

// TestEncryptedPostgresInstance runs the scenario on the embedded
// cluster: an instance encrypted with a CMK, reached with psql, isolated
// from its neighbour, reported inaccessible while its key is disabled,
// and gone with its role after deletion.
func TestEncryptedPostgresInstance(t *testing.T) {
	requirePostgres(t)
	c := start(t, nil)
	client, kmsClient := clients(t, c, "default")
	ctx := context.Background()
	key, err := kmsClient.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("orders database")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kmsClient.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/orders"), TargetKeyId: key.KeyMetadata.KeyId}); err != nil {
		t.Fatal(err)
	}
	createPG(t, client, "orders", "orders_admin", "orders-secret-1", "alias/orders")
	createPG(t, client, "billing", "billing_admin", "billing-secret-1", "")
	inst := waitStatus(t, client, "orders", "available")
	if got, want := aws.ToString(inst.KmsKeyId), aws.ToString(key.KeyMetadata.Arn); got != want || !aws.ToBool(inst.StorageEncrypted) {
		t.Errorf("KmsKeyId = %s (encrypted %v), want %s", got, aws.ToBool(inst.StorageEncrypted), want)
	}
	if aws.ToString(inst.DBName) != "orders" || aws.ToString(inst.MasterUsername) != "orders_admin" || aws.ToString(inst.EngineVersion) == "" {
		t.Errorf("DBName %s, MasterUsername %s, EngineVersion %s", aws.ToString(inst.DBName), aws.ToString(inst.MasterUsername), aws.ToString(inst.EngineVersion))
	}
	host, port := aws.ToString(inst.Endpoint.Address), aws.ToInt32(inst.Endpoint.Port)

	if out, err := psql(t, host, port, "orders_admin", "orders-secret-1", "orders",
		`CREATE TABLE items (id serial PRIMARY KEY, name text); INSERT INTO items (name) VALUES ('a'), ('b'); SELECT count(*) FROM items`); err != nil || !strings.HasSuffix(out, "2") {
		t.Fatalf("psql write: %v: %s", err, out)
	}
	billing := waitStatus(t, client, "billing", "available")
	if aws.ToString(billing.KmsKeyId) != "" || aws.ToBool(billing.StorageEncrypted) {
		t.Errorf("unencrypted instance reports key %s", aws.ToString(billing.KmsKeyId))
	}
	// Each instance is its own server: a neighbour's owner does not
	// exist on it.
	if aws.ToInt32(billing.Endpoint.Port) == port {
		t.Errorf("two instances share port %d", port)
	}
	if out, err := psql(t, host, port, "billing_admin", "billing-secret-1", "orders", `SELECT 1`); err == nil || !strings.Contains(out, "password authentication failed") {
		t.Errorf("billing's owner connected to orders: %v: %s", err, out)
	}
	if _, err := psql(t, host, port, "orders_admin", "wrong-password", "orders", `SELECT 1`); err == nil {
		t.Error("a wrong password was accepted")
	}

	// A new master password takes effect on the server.
	if _, err := client.ModifyDBInstance(ctx, &rds.ModifyDBInstanceInput{DBInstanceIdentifier: aws.String("orders"), MasterUserPassword: aws.String("orders-secret-2"), ApplyImmediately: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	if out, err := psql(t, host, port, "orders_admin", "orders-secret-2", "orders", `SELECT count(*) FROM items`); err != nil || out != "2" {
		t.Errorf("connect with the new password: %v: %s", err, out)
	}

	// A disabled key makes the instance inaccessible until it is enabled.
	if _, err := kmsClient.DisableKey(ctx, &kms.DisableKeyInput{KeyId: key.KeyMetadata.KeyId}); err != nil {
		t.Fatal(err)
	}
	out, err := client.DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String("orders")})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(out.DBInstances[0].DBInstanceStatus); got != "inaccessible-encryption-credentials" {
		t.Errorf("status with the key disabled = %s", got)
	}
	if _, err := client.ModifyDBInstance(ctx, &rds.ModifyDBInstanceInput{DBInstanceIdentifier: aws.String("orders"), MasterUserPassword: aws.String("orders-secret-3")}); err == nil {
		t.Error("a new password was sealed under a disabled key")
	}
	if _, err := kmsClient.EnableKey(ctx, &kms.EnableKeyInput{KeyId: key.KeyMetadata.KeyId}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, client, "orders", "available")

	for _, id := range []string{"orders", "billing"} {
		if _, err := client.DeleteDBInstance(ctx, &rds.DeleteDBInstanceInput{DBInstanceIdentifier: aws.String(id), SkipFinalSnapshot: aws.Bool(true)}); err != nil {
			t.Fatal(err)
		}
	}
	waitGone(t, client, "orders")
	waitGone(t, client, "billing")
	if out, err := psql(t, host, port, "orders_admin", "orders-secret-2", "orders", `SELECT 1`); err == nil {
		t.Errorf("the deleted instance still answers: %s", out)
	}
	grants, err := kmsClient.ListGrants(ctx, &kms.ListGrantsInput{KeyId: key.KeyMetadata.KeyId})
	if err != nil {
		t.Fatal(err)
	}
	if len(grants.Grants) != 0 {
		t.Errorf("%d KMS grants survive the deleted instance", len(grants.Grants))
	}
}

// TestConfiguredHost: instances on a PostgreSQL server given in config; a
// create that fails half-way (the admin may create roles, not databases)
// leaves no role behind, and a host that is down fails the instance with
// a message saying what to do.
func TestConfiguredHost(t *testing.T) {
	requirePostgres(t)
	srv := testenv.StartPostgres(t)
	admin, err := sql.Open("pgx", srv.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Exec(`CREATE ROLE limited LOGIN CREATEROLE PASSWORD 'limited-pw'`); err != nil {
		t.Fatal(err)
	}
	limited := fmt.Sprintf("postgres://limited:limited-pw@%s:%d/postgres?sslmode=disable", srv.Host, srv.Port)
	down := fmt.Sprintf("postgres://coffer:secret-pw@127.0.0.1:%d/postgres?sslmode=disable", testenv.FreePort(t))
	c := start(t, func(cfg *config.Config) {
		cfg.RDS.PostgresHosts = map[string]string{"us-east-1": srv.DSN("postgres"), "us-west-2": limited, "eu-west-1": down}
	})
	ctx := context.Background()
	client, _ := clients(t, c, "default")
	createPG(t, client, "app", "app_owner", "app-secret-1", "")
	inst := waitStatus(t, client, "app", "available")
	if got := aws.ToInt32(inst.Endpoint.Port); got != int32(srv.Port) {
		t.Errorf("endpoint port %d, want the configured server's %d", got, srv.Port)
	}
	var owner string
	if err := admin.QueryRow(`SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'app'`).Scan(&owner); err != nil || owner != "app_owner" {
		t.Errorf("database app owned by %q (%v), want app_owner", owner, err)
	}

	cfg := c.AWSConfig(t, c.Profile(t, "default"))
	west := rds.NewFromConfig(cfg, func(o *rds.Options) { o.Region = "us-west-2" })
	createPG(t, west, "half", "half_owner", "half-secret-1", "")
	failed := waitStatus(t, west, "half", "failed")
	if len(failed.StatusInfos) == 0 || !strings.Contains(aws.ToString(failed.StatusInfos[0].Message), "create database") {
		t.Errorf("StatusInfos = %+v, want the reason", failed.StatusInfos)
	}
	var roles, dbs int
	admin.QueryRow(`SELECT count(*) FROM pg_roles WHERE rolname = 'half_owner'`).Scan(&roles)
	admin.QueryRow(`SELECT count(*) FROM pg_database WHERE datname = 'half'`).Scan(&dbs)
	if roles != 0 || dbs != 0 {
		t.Errorf("a failed create left %d roles and %d databases behind", roles, dbs)
	}
	if _, err := west.DeleteDBInstance(ctx, &rds.DeleteDBInstanceInput{DBInstanceIdentifier: aws.String("half"), SkipFinalSnapshot: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	waitGone(t, west, "half")

	eu := rds.NewFromConfig(cfg, func(o *rds.Options) { o.Region = "eu-west-1" })
	createPG(t, eu, "nohost", "nohost_owner", "nohost-secret-1", "")
	failed = waitStatus(t, eu, "nohost", "failed")
	msg := ""
	if len(failed.StatusInfos) > 0 {
		msg = aws.ToString(failed.StatusInfos[0].Message)
	}
	if !strings.Contains(msg, "not reachable") || strings.Contains(msg, "secret-pw") {
		t.Errorf("StatusInfos message %q: want the unreachable host named without its password", msg)
	}
	_ = types.DBInstance{}
}
