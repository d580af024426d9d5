package rds_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/rds/types"
)

// waitSnapshot polls DescribeDBSnapshots until the snapshot is
// available, and fails on failed.
func waitSnapshot(t *testing.T, client *rds.Client, id string) types.DBSnapshot {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		out, err := client.DescribeDBSnapshots(context.Background(), &rds.DescribeDBSnapshotsInput{DBSnapshotIdentifier: aws.String(id)})
		if err != nil {
			t.Fatalf("describe snapshot %s: %v", id, err)
		}
		s := out.DBSnapshots[0]
		switch aws.ToString(s.Status) {
		case "available":
			return s
		case "creating":
		default:
			t.Fatalf("snapshot %s is %s", id, aws.ToString(s.Status))
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("snapshot %s did not become available", id)
	return types.DBSnapshot{}
}

// TestDBSnapshotRestore takes a manual snapshot of a CMK-encrypted
// PostgreSQL instance on a server of its own, restores it into a new
// instance that psql reads with the source's credentials, and deletes
// it; the refusals use RDS's codes.
func TestDBSnapshotRestore(t *testing.T) {
	requirePostgres(t)
	c := start(t, nil)
	client, kmsClient := clients(t, c, "default")
	ctx := context.Background()
	key, err := kmsClient.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("orders")})
	if err != nil {
		t.Fatal(err)
	}
	createPG(t, client, "orders", "orders_admin", "orders-secret-1", aws.ToString(key.KeyMetadata.KeyId))
	inst := waitStatus(t, client, "orders", "available")
	host, port := aws.ToString(inst.Endpoint.Address), aws.ToInt32(inst.Endpoint.Port)
	if out, err := psql(t, host, port, "orders_admin", "orders-secret-1", "orders",
		`CREATE TABLE items (id serial PRIMARY KEY, name text); INSERT INTO items (name) VALUES ('a'), ('b'), ('c'); SELECT count(*) FROM items`); err != nil || !strings.HasSuffix(out, "3") {
		t.Fatalf("psql write: %v: %s", err, out)
	}

	out, err := client.CreateDBSnapshot(ctx, &rds.CreateDBSnapshotInput{DBSnapshotIdentifier: aws.String("orders-snap"), DBInstanceIdentifier: aws.String("orders")})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(out.DBSnapshot.Status); got != "creating" {
		t.Errorf("status after create = %s, want creating", got)
	}
	if _, err := client.CreateDBSnapshot(ctx, &rds.CreateDBSnapshotInput{DBSnapshotIdentifier: aws.String("orders-snap"), DBInstanceIdentifier: aws.String("orders")}); errCode(err) != "DBSnapshotAlreadyExists" {
		t.Errorf("second snapshot with the same name: %v, want DBSnapshotAlreadyExists", err)
	}
	if _, err := client.CreateDBSnapshot(ctx, &rds.CreateDBSnapshotInput{DBSnapshotIdentifier: aws.String("nope-snap"), DBInstanceIdentifier: aws.String("nope")}); errCode(err) != "DBInstanceNotFound" {
		t.Errorf("snapshot of a missing instance: %v, want DBInstanceNotFound", err)
	}
	snap := waitSnapshot(t, client, "orders-snap")
	if aws.ToString(snap.SnapshotType) != "manual" || !aws.ToBool(snap.Encrypted) || aws.ToString(snap.KmsKeyId) != aws.ToString(key.KeyMetadata.Arn) ||
		aws.ToString(snap.DBInstanceIdentifier) != "orders" || aws.ToString(snap.DBSnapshotArn) != "arn:aws:rds:us-east-1:"+aws.ToString(key.KeyMetadata.AWSAccountId)+":snapshot:orders-snap" {
		t.Errorf("snapshot = %+v", snap)
	}
	// Rows written after the snapshot are not in the restore.
	if _, err := psql(t, host, port, "orders_admin", "orders-secret-1", "orders", `INSERT INTO items (name) VALUES ('later')`); err != nil {
		t.Fatal(err)
	}
	if _, err := client.DescribeDBSnapshots(ctx, &rds.DescribeDBSnapshotsInput{DBSnapshotIdentifier: aws.String("missing")}); errCode(err) != "DBSnapshotNotFound" {
		t.Errorf("describe a missing snapshot: %v, want DBSnapshotNotFound", err)
	}
	if _, err := client.RestoreDBInstanceFromDBSnapshot(ctx, &rds.RestoreDBInstanceFromDBSnapshotInput{DBSnapshotIdentifier: aws.String("orders-snap"), DBInstanceIdentifier: aws.String("orders")}); errCode(err) != "DBInstanceAlreadyExists" {
		t.Errorf("restore over an existing instance: %v, want DBInstanceAlreadyExists", err)
	}

	if _, err := client.RestoreDBInstanceFromDBSnapshot(ctx, &rds.RestoreDBInstanceFromDBSnapshotInput{DBSnapshotIdentifier: aws.String("orders-snap"), DBInstanceIdentifier: aws.String("orders-copy")}); err != nil {
		t.Fatal(err)
	}
	restored := waitStatus(t, client, "orders-copy", "available")
	if aws.ToString(restored.DBName) != "orders" || aws.ToString(restored.MasterUsername) != "orders_admin" || aws.ToString(restored.KmsKeyId) != aws.ToString(key.KeyMetadata.Arn) {
		t.Errorf("restored instance: DBName %s MasterUsername %s KmsKeyId %s", aws.ToString(restored.DBName), aws.ToString(restored.MasterUsername), aws.ToString(restored.KmsKeyId))
	}
	if got, err := psql(t, aws.ToString(restored.Endpoint.Address), aws.ToInt32(restored.Endpoint.Port), "orders_admin", "orders-secret-1", "orders",
		`SELECT string_agg(name, ',' ORDER BY id) FROM items`); err != nil || !strings.HasSuffix(got, "a,b,c") {
		t.Fatalf("restored rows: %v: %q, want a,b,c", err, got)
	}

	if _, err := client.DeleteDBSnapshot(ctx, &rds.DeleteDBSnapshotInput{DBSnapshotIdentifier: aws.String("orders-snap")}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.DescribeDBSnapshots(ctx, &rds.DescribeDBSnapshotsInput{DBSnapshotIdentifier: aws.String("orders-snap")}); errCode(err) != "DBSnapshotNotFound" {
		t.Errorf("describe a deleted snapshot: %v, want DBSnapshotNotFound", err)
	}
	if _, err := client.DeleteDBSnapshot(ctx, &rds.DeleteDBSnapshotInput{DBSnapshotIdentifier: aws.String("orders-snap")}); errCode(err) != "DBSnapshotNotFound" {
		t.Errorf("delete a deleted snapshot: %v, want DBSnapshotNotFound", err)
	}

	// The restored instance deleted with a final snapshot, which restores.
	if _, err := client.CreateDBSnapshot(ctx, &rds.CreateDBSnapshotInput{DBSnapshotIdentifier: aws.String("taken"), DBInstanceIdentifier: aws.String("orders")}); err != nil {
		t.Fatal(err)
	}
	waitSnapshot(t, client, "taken")
	if _, err := client.DeleteDBInstance(ctx, &rds.DeleteDBInstanceInput{DBInstanceIdentifier: aws.String("orders-copy"), FinalDBSnapshotIdentifier: aws.String("taken")}); errCode(err) != "DBSnapshotAlreadyExists" {
		t.Errorf("delete with a taken final snapshot name: %v, want DBSnapshotAlreadyExists", err)
	}
	if _, err := client.DeleteDBInstance(ctx, &rds.DeleteDBInstanceInput{DBInstanceIdentifier: aws.String("orders-copy"), FinalDBSnapshotIdentifier: aws.String("final"), SkipFinalSnapshot: aws.Bool(true)}); errCode(err) != "InvalidParameterCombination" {
		t.Errorf("delete with a final snapshot and SkipFinalSnapshot: %v, want InvalidParameterCombination", err)
	}
	waitStatus(t, client, "orders-copy", "available")
	if _, err := client.DeleteDBInstance(ctx, &rds.DeleteDBInstanceInput{DBInstanceIdentifier: aws.String("orders-copy"), FinalDBSnapshotIdentifier: aws.String("orders-copy-final")}); err != nil {
		t.Fatal(err)
	}
	waitGone(t, client, "orders-copy")
	final := waitSnapshot(t, client, "orders-copy-final")
	if aws.ToString(final.DBInstanceIdentifier) != "orders-copy" {
		t.Errorf("final snapshot of %s, want orders-copy", aws.ToString(final.DBInstanceIdentifier))
	}
	if _, err := client.RestoreDBInstanceFromDBSnapshot(ctx, &rds.RestoreDBInstanceFromDBSnapshotInput{DBSnapshotIdentifier: aws.String("orders-copy-final"), DBInstanceIdentifier: aws.String("orders-again")}); err != nil {
		t.Fatal(err)
	}
	again := waitStatus(t, client, "orders-again", "available")
	if got, err := psql(t, aws.ToString(again.Endpoint.Address), aws.ToInt32(again.Endpoint.Port), "orders_admin", "orders-secret-1", "orders",
		`SELECT string_agg(name, ',' ORDER BY id) FROM items`); err != nil || !strings.HasSuffix(got, "a,b,c") {
		t.Fatalf("rows restored from the final snapshot: %v: %q, want a,b,c", err, got)
	}
}
