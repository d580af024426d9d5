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

	// The restored instance snapshotted, then deleted with a final
	// snapshot, which restores.
	if _, err := client.CreateDBSnapshot(ctx, &rds.CreateDBSnapshotInput{DBSnapshotIdentifier: aws.String("taken"), DBInstanceIdentifier: aws.String("orders-copy")}); err != nil {
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

// sharedKeyPolicy is a key policy of account a that lets account b use
// the key for actions (a JSON list's members).
func sharedKeyPolicy(a, b, actions string) string {
	return `{"Version":"2012-10-17","Statement":[
		{"Sid":"owner","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + a + `:root"},"Action":"kms:*","Resource":"*"},
		{"Sid":"account B","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + b + `:root"},"Action":[` + actions + `],"Resource":"*"}]}`
}

// TestDBSnapshotSharing shares a manual snapshot under a customer managed
// key whose policy lets account B use it: B copies it under a key of its
// own and restores the copy, reading the rows with the source's
// credentials. A snapshot under aws/rds cannot be shared.
func TestDBSnapshotSharing(t *testing.T) {
	requirePostgres(t)
	c := start(t, nil)
	a, aKMS := clients(t, c, "default")
	b, bKMS := clients(t, c, "other")
	ctx := context.Background()
	const accountA, accountB = "111222333444", "666777888999"
	policy := sharedKeyPolicy(accountA, accountB, `"kms:Decrypt","kms:DescribeKey","kms:GenerateDataKey","kms:CreateGrant"`)
	shared, err := aKMS.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("shared with B"), Policy: aws.String(policy)})
	if err != nil {
		t.Fatal(err)
	}
	createPG(t, a, "orders", "orders_admin", "orders-secret-1", aws.ToString(shared.KeyMetadata.Arn))
	if _, err := a.CreateDBInstance(ctx, &rds.CreateDBInstanceInput{DBInstanceIdentifier: aws.String("managed"), Engine: aws.String("postgres"),
		DBInstanceClass: aws.String("db.t3.micro"), AllocatedStorage: aws.Int32(20), MasterUsername: aws.String("m_admin"),
		MasterUserPassword: aws.String("managed-secret-1"), StorageEncrypted: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	inst := waitStatus(t, a, "orders", "available")
	if out, err := psql(t, aws.ToString(inst.Endpoint.Address), aws.ToInt32(inst.Endpoint.Port), "orders_admin", "orders-secret-1", "orders",
		`CREATE TABLE items (id serial PRIMARY KEY, name text); INSERT INTO items (name) VALUES ('x'), ('y')`); err != nil {
		t.Fatalf("psql write: %v: %s", err, out)
	}
	waitStatus(t, a, "managed", "available")
	for _, s := range [][2]string{{"orders-snap", "orders"}, {"managed-snap", "managed"}} {
		if _, err := a.CreateDBSnapshot(ctx, &rds.CreateDBSnapshotInput{DBSnapshotIdentifier: aws.String(s[0]), DBInstanceIdentifier: aws.String(s[1])}); err != nil {
			t.Fatal(err)
		}
		waitSnapshot(t, a, s[0])
	}
	srcARN := "arn:aws:rds:us-east-1:" + accountA + ":snapshot:orders-snap"

	// Not shared yet: B cannot see it.
	bKey, err := bKMS.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("B's copies")})
	if err != nil {
		t.Fatal(err)
	}
	copyIn := &rds.CopyDBSnapshotInput{SourceDBSnapshotIdentifier: aws.String(srcARN), TargetDBSnapshotIdentifier: aws.String("b-copy"), KmsKeyId: bKey.KeyMetadata.Arn}
	if _, err := b.CopyDBSnapshot(ctx, copyIn); errCode(err) != "DBSnapshotNotFound" {
		t.Errorf("copy an unshared snapshot: %v, want DBSnapshotNotFound", err)
	}
	if _, err := a.ModifyDBSnapshotAttribute(ctx, &rds.ModifyDBSnapshotAttributeInput{DBSnapshotIdentifier: aws.String("managed-snap"),
		AttributeName: aws.String("restore"), ValuesToAdd: []string{accountB}}); errCode(err) != "InvalidParameterValue" {
		t.Errorf("share a snapshot under aws/rds: %v, want InvalidParameterValue", err)
	}
	mod, err := a.ModifyDBSnapshotAttribute(ctx, &rds.ModifyDBSnapshotAttributeInput{DBSnapshotIdentifier: aws.String("orders-snap"),
		AttributeName: aws.String("restore"), ValuesToAdd: []string{accountB}})
	if err != nil {
		t.Fatal(err)
	}
	if attrs := mod.DBSnapshotAttributesResult.DBSnapshotAttributes; len(attrs) != 1 || aws.ToString(attrs[0].AttributeName) != "restore" ||
		len(attrs[0].AttributeValues) != 1 || attrs[0].AttributeValues[0] != accountB {
		t.Errorf("attributes after sharing: %+v", attrs)
	}
	desc, err := a.DescribeDBSnapshotAttributes(ctx, &rds.DescribeDBSnapshotAttributesInput{DBSnapshotIdentifier: aws.String("orders-snap")})
	if err != nil || len(desc.DBSnapshotAttributesResult.DBSnapshotAttributes[0].AttributeValues) != 1 {
		t.Errorf("describe attributes: %v %+v", err, desc)
	}

	if _, err := b.CopyDBSnapshot(ctx, &rds.CopyDBSnapshotInput{SourceDBSnapshotIdentifier: aws.String(srcARN), TargetDBSnapshotIdentifier: aws.String("b-copy")}); errCode(err) != "InvalidParameterValue" {
		t.Errorf("copy a shared snapshot without KmsKeyId: %v, want InvalidParameterValue", err)
	}
	if _, err := b.CopyDBSnapshot(ctx, copyIn); err != nil {
		t.Fatal(err)
	}
	cp := waitSnapshot(t, b, "b-copy")
	if aws.ToString(cp.KmsKeyId) != aws.ToString(bKey.KeyMetadata.Arn) || !strings.Contains(aws.ToString(cp.DBSnapshotArn), accountB) {
		t.Errorf("B's copy: key %s arn %s", aws.ToString(cp.KmsKeyId), aws.ToString(cp.DBSnapshotArn))
	}
	if _, err := b.RestoreDBInstanceFromDBSnapshot(ctx, &rds.RestoreDBInstanceFromDBSnapshotInput{DBSnapshotIdentifier: aws.String("b-copy"), DBInstanceIdentifier: aws.String("b-orders")}); err != nil {
		t.Fatal(err)
	}
	restored := waitStatus(t, b, "b-orders", "available")
	if aws.ToString(restored.KmsKeyId) != aws.ToString(bKey.KeyMetadata.Arn) {
		t.Errorf("B's instance under %s, want %s", aws.ToString(restored.KmsKeyId), aws.ToString(bKey.KeyMetadata.Arn))
	}
	if got, err := psql(t, aws.ToString(restored.Endpoint.Address), aws.ToInt32(restored.Endpoint.Port), "orders_admin", "orders-secret-1", "orders",
		`SELECT string_agg(name, ',' ORDER BY id) FROM items`); err != nil || !strings.HasSuffix(got, "x,y") {
		t.Fatalf("B's restored rows: %v: %q, want x,y", err, got)
	}

	// A same-account copy re-encrypted under another key.
	if _, err := a.CopyDBSnapshot(ctx, &rds.CopyDBSnapshotInput{SourceDBSnapshotIdentifier: aws.String("managed-snap"), TargetDBSnapshotIdentifier: aws.String("managed-cmk"), KmsKeyId: shared.KeyMetadata.Arn}); err != nil {
		t.Fatal(err)
	}
	if got := waitSnapshot(t, a, "managed-cmk"); aws.ToString(got.KmsKeyId) != aws.ToString(shared.KeyMetadata.Arn) {
		t.Errorf("re-encrypted copy under %s", aws.ToString(got.KmsKeyId))
	}

	// Shared under a key whose policy leaves B out: B cannot copy it.
	private, err := aKMS.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("A only")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.CopyDBSnapshot(ctx, &rds.CopyDBSnapshotInput{SourceDBSnapshotIdentifier: aws.String("orders-snap"), TargetDBSnapshotIdentifier: aws.String("private-snap"), KmsKeyId: private.KeyMetadata.Arn}); err != nil {
		t.Fatal(err)
	}
	waitSnapshot(t, a, "private-snap")
	if _, err := a.ModifyDBSnapshotAttribute(ctx, &rds.ModifyDBSnapshotAttributeInput{DBSnapshotIdentifier: aws.String("private-snap"),
		AttributeName: aws.String("restore"), ValuesToAdd: []string{accountB}}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.CopyDBSnapshot(ctx, &rds.CopyDBSnapshotInput{SourceDBSnapshotIdentifier: aws.String("arn:aws:rds:us-east-1:" + accountA + ":snapshot:private-snap"),
		TargetDBSnapshotIdentifier: aws.String("b-private"), KmsKeyId: bKey.KeyMetadata.Arn}); errCode(err) != "KMSKeyNotAccessibleFault" {
		t.Errorf("copy a snapshot under a key B may not use: %v, want KMSKeyNotAccessibleFault", err)
	}

	// Unshared again: B cannot copy it any more.
	if _, err := a.ModifyDBSnapshotAttribute(ctx, &rds.ModifyDBSnapshotAttributeInput{DBSnapshotIdentifier: aws.String("orders-snap"),
		AttributeName: aws.String("restore"), ValuesToRemove: []string{accountB}}); err != nil {
		t.Fatal(err)
	}
	copyIn.TargetDBSnapshotIdentifier = aws.String("b-copy-2")
	if _, err := b.CopyDBSnapshot(ctx, copyIn); errCode(err) != "DBSnapshotNotFound" {
		t.Errorf("copy after unsharing: %v, want DBSnapshotNotFound", err)
	}
}
