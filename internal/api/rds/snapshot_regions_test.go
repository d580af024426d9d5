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

// waitAvailable waits with the SDK's DBInstanceAvailableWaiter.
func waitAvailable(t *testing.T, client *rds.Client, id string) types.DBInstance {
	t.Helper()
	out, err := rds.NewDBInstanceAvailableWaiter(client, func(o *rds.DBInstanceAvailableWaiterOptions) {
		o.MinDelay, o.MaxDelay = 200*time.Millisecond, time.Second
	}).WaitForOutput(context.Background(), &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String(id)}, 3*time.Minute)
	if err != nil {
		t.Fatalf("wait for %s: %v", id, err)
	}
	return out.DBInstances[0]
}

// snapshotIDs are the DBSnapshotIdentifiers of a DescribeDBSnapshots
// answer.
func snapshotIDs(t *testing.T, client *rds.Client, in *rds.DescribeDBSnapshotsInput) []string {
	t.Helper()
	out, err := client.DescribeDBSnapshots(context.Background(), in)
	if err != nil {
		t.Fatalf("describe snapshots %+v: %v", in, err)
	}
	var ids []string
	for _, s := range out.DBSnapshots {
		ids = append(ids, aws.ToString(s.DBSnapshotIdentifier)+"/"+aws.ToString(s.SnapshotType))
	}
	return ids
}

// TestDBSnapshotSharedAndCrossRegion: account B lists the snapshot A
// shares with it (SnapshotType shared, IncludeShared) and restores it
// straight from its ARN; RestoreDBInstanceFromDBSnapshot answers at
// once with the instance creating, which becomes available, or failed
// with why when the data cannot be read; A copies the snapshot into another
// region (the SDK sends PreSignedUrl for SourceRegion) re-encrypted under
// a key of that region, and restores the copy there.
func TestDBSnapshotSharedAndCrossRegion(t *testing.T) {
	requirePostgres(t)
	c := start(t, nil)
	a, aKMS := clients(t, c, "default")
	b, _ := clients(t, c, "other")
	west := func(o *rds.Options) { o.Region = "us-west-2" }
	ctx := context.Background()
	const accountA, accountB = "111222333444", "666777888999"
	policy := sharedKeyPolicy(accountA, accountB, `"kms:Decrypt","kms:DescribeKey","kms:GenerateDataKey","kms:CreateGrant"`)
	key, err := aKMS.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("shared with B"), Policy: aws.String(policy)})
	if err != nil {
		t.Fatal(err)
	}
	createPG(t, a, "orders", "orders_admin", "orders-secret-1", aws.ToString(key.KeyMetadata.Arn))
	inst := waitAvailable(t, a, "orders")
	if out, err := psql(t, aws.ToString(inst.Endpoint.Address), aws.ToInt32(inst.Endpoint.Port), "orders_admin", "orders-secret-1", "orders",
		`CREATE TABLE items (id serial PRIMARY KEY, name text); INSERT INTO items (name) VALUES ('x'), ('y')`); err != nil {
		t.Fatalf("psql write: %v: %s", err, out)
	}
	if _, err := a.CreateDBSnapshot(ctx, &rds.CreateDBSnapshotInput{DBSnapshotIdentifier: aws.String("orders-snap"), DBInstanceIdentifier: aws.String("orders")}); err != nil {
		t.Fatal(err)
	}
	waitSnapshot(t, a, "orders-snap")
	srcARN := "arn:aws:rds:us-east-1:" + accountA + ":snapshot:orders-snap"

	// Not shared: B neither lists nor restores it.
	if got := snapshotIDs(t, b, &rds.DescribeDBSnapshotsInput{SnapshotType: aws.String("shared")}); len(got) != 0 {
		t.Errorf("B's shared snapshots before sharing: %v", got)
	}
	if _, err := b.RestoreDBInstanceFromDBSnapshot(ctx, &rds.RestoreDBInstanceFromDBSnapshotInput{DBSnapshotIdentifier: aws.String(srcARN),
		DBInstanceIdentifier: aws.String("b-orders")}); errCode(err) != "DBSnapshotNotFound" {
		t.Errorf("restore an unshared snapshot: %v, want DBSnapshotNotFound", err)
	}
	if _, err := a.ModifyDBSnapshotAttribute(ctx, &rds.ModifyDBSnapshotAttributeInput{DBSnapshotIdentifier: aws.String("orders-snap"),
		AttributeName: aws.String("restore"), ValuesToAdd: []string{accountB}}); err != nil {
		t.Fatal(err)
	}
	if got := snapshotIDs(t, b, &rds.DescribeDBSnapshotsInput{SnapshotType: aws.String("shared")}); len(got) != 1 || got[0] != srcARN+"/shared" {
		t.Errorf("B's shared snapshots: %v, want %s/shared", got, srcARN)
	}
	if got := snapshotIDs(t, b, &rds.DescribeDBSnapshotsInput{}); len(got) != 0 {
		t.Errorf("B's snapshots without IncludeShared: %v, want none", got)
	}
	if got := snapshotIDs(t, b, &rds.DescribeDBSnapshotsInput{IncludeShared: aws.Bool(true)}); len(got) != 1 || got[0] != srcARN+"/shared" {
		t.Errorf("B's snapshots with IncludeShared: %v", got)
	}
	if got := snapshotIDs(t, b, &rds.DescribeDBSnapshotsInput{DBSnapshotIdentifier: aws.String(srcARN)}); len(got) != 1 {
		t.Errorf("B describes the shared snapshot by ARN: %v", got)
	}
	if got := snapshotIDs(t, a, &rds.DescribeDBSnapshotsInput{SnapshotType: aws.String("shared")}); len(got) != 0 {
		t.Errorf("A's shared snapshots: %v, want none (A owns it)", got)
	}
	if got := snapshotIDs(t, b, &rds.DescribeDBSnapshotsInput{SnapshotType: aws.String("shared"), DBSnapshotIdentifier: aws.String(srcARN)}); len(got) != 1 {
		t.Errorf("B's shared snapshot by ARN and type: %v", got)
	}

	// B restores the shared snapshot directly: the answer comes at once,
	// creating; the waiter sees it available with A's rows.
	out, err := b.RestoreDBInstanceFromDBSnapshot(ctx, &rds.RestoreDBInstanceFromDBSnapshotInput{DBSnapshotIdentifier: aws.String(srcARN),
		DBInstanceIdentifier: aws.String("b-orders")})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(out.DBInstance.DBInstanceStatus); got != "creating" {
		t.Errorf("restore answered %s, want creating", got)
	}
	if _, err := b.RestoreDBInstanceFromDBSnapshot(ctx, &rds.RestoreDBInstanceFromDBSnapshotInput{DBSnapshotIdentifier: aws.String(srcARN),
		DBInstanceIdentifier: aws.String("b-orders")}); errCode(err) != "DBInstanceAlreadyExists" {
		t.Errorf("a second restore into b-orders while it is created: %v, want DBInstanceAlreadyExists", err)
	}
	restored := waitAvailable(t, b, "b-orders")
	if aws.ToString(restored.KmsKeyId) != aws.ToString(key.KeyMetadata.Arn) || aws.ToString(restored.MasterUsername) != "orders_admin" {
		t.Errorf("B's instance: key %s user %s", aws.ToString(restored.KmsKeyId), aws.ToString(restored.MasterUsername))
	}
	if got, err := psql(t, aws.ToString(restored.Endpoint.Address), aws.ToInt32(restored.Endpoint.Port), "orders_admin", "orders-secret-1", "orders",
		`SELECT string_agg(name, ',' ORDER BY id) FROM items`); err != nil || !strings.HasSuffix(got, "x,y") {
		t.Fatalf("B's rows restored from the shared snapshot: %v: %q, want x,y", err, got)
	}

	// Shared under a key B may grant but not decrypt with: the restore
	// is accepted (B's grants for the new instance are made), then fails
	// reading the data, leaving a failed instance that says why and
	// holds nothing.
	limited, err := aKMS.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("B may not decrypt"), Policy: aws.String(sharedKeyPolicy(accountA, accountB, `"kms:DescribeKey","kms:CreateGrant"`))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.CopyDBSnapshot(ctx, &rds.CopyDBSnapshotInput{SourceDBSnapshotIdentifier: aws.String("orders-snap"), TargetDBSnapshotIdentifier: aws.String("limited-snap"),
		KmsKeyId: limited.KeyMetadata.Arn}); err != nil {
		t.Fatal(err)
	}
	waitSnapshot(t, a, "limited-snap")
	if _, err := a.ModifyDBSnapshotAttribute(ctx, &rds.ModifyDBSnapshotAttributeInput{DBSnapshotIdentifier: aws.String("limited-snap"),
		AttributeName: aws.String("restore"), ValuesToAdd: []string{accountB}}); err != nil {
		t.Fatal(err)
	}
	bad, err := b.RestoreDBInstanceFromDBSnapshot(ctx, &rds.RestoreDBInstanceFromDBSnapshotInput{DBSnapshotIdentifier: aws.String("arn:aws:rds:us-east-1:" + accountA + ":snapshot:limited-snap"),
		DBInstanceIdentifier: aws.String("b-limited")})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(bad.DBInstance.DBInstanceStatus); got != "creating" {
		t.Errorf("restore answered %s, want creating", got)
	}
	failed := waitStatus(t, b, "b-limited", "failed")
	if len(failed.StatusInfos) == 0 || !strings.Contains(aws.ToString(failed.StatusInfos[0].Message), "limited-snap") || failed.Endpoint != nil && aws.ToInt32(failed.Endpoint.Port) != 0 {
		t.Errorf("the failed restore: status infos %+v, endpoint %+v", failed.StatusInfos, failed.Endpoint)
	}
	if _, err := b.DeleteDBInstance(ctx, &rds.DeleteDBInstanceInput{DBInstanceIdentifier: aws.String("b-limited"), SkipFinalSnapshot: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	waitGone(t, b, "b-limited")

	// Cross-region: called in the destination region with the source's
	// ARN; the SDK presigns a request in the source region for
	// SourceRegion.
	aWest := rds.NewFromConfig(c.AWSConfig(t, c.Profile(t, "default")), west)
	kmsWest := kms.NewFromConfig(c.AWSConfig(t, c.Profile(t, "default")), func(o *kms.Options) { o.Region = "us-west-2" })
	westKey, err := kmsWest.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("copies in us-west-2")})
	if err != nil {
		t.Fatal(err)
	}
	in := &rds.CopyDBSnapshotInput{SourceDBSnapshotIdentifier: aws.String(srcARN), TargetDBSnapshotIdentifier: aws.String("orders-west"), SourceRegion: aws.String("us-east-1")}
	if _, err := aWest.CopyDBSnapshot(ctx, in); errCode(err) != "InvalidParameterValue" {
		t.Errorf("cross-region copy of an encrypted snapshot without KmsKeyId: %v, want InvalidParameterValue", err)
	}
	in.KmsKeyId = key.KeyMetadata.Arn
	if _, err := aWest.CopyDBSnapshot(ctx, in); errCode(err) != "KMSKeyNotAccessibleFault" {
		t.Errorf("cross-region copy under a key of the source region: %v, want KMSKeyNotAccessibleFault", err)
	}
	in.KmsKeyId = westKey.KeyMetadata.Arn
	cp, err := aWest.CopyDBSnapshot(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(cp.DBSnapshot.Status); got != "creating" {
		t.Errorf("copy answered %s, want creating", got)
	}
	westSnap := waitSnapshot(t, aWest, "orders-west")
	if aws.ToString(westSnap.KmsKeyId) != aws.ToString(westKey.KeyMetadata.Arn) ||
		aws.ToString(westSnap.DBSnapshotArn) != "arn:aws:rds:us-west-2:"+accountA+":snapshot:orders-west" {
		t.Errorf("the copy in us-west-2: key %s arn %s", aws.ToString(westSnap.KmsKeyId), aws.ToString(westSnap.DBSnapshotArn))
	}
	if got := snapshotIDs(t, a, &rds.DescribeDBSnapshotsInput{}); strings.Join(got, " ") != "limited-snap/manual orders-snap/manual" {
		t.Errorf("A's snapshots in us-east-1: %v, want limited-snap and orders-snap, not the copy in us-west-2", got)
	}
	if _, err := aWest.RestoreDBInstanceFromDBSnapshot(ctx, &rds.RestoreDBInstanceFromDBSnapshotInput{DBSnapshotIdentifier: aws.String(srcARN),
		DBInstanceIdentifier: aws.String("orders-west")}); errCode(err) != "InvalidParameterValue" {
		t.Errorf("restore a snapshot of another region: %v, want InvalidParameterValue", err)
	}
	if _, err := aWest.RestoreDBInstanceFromDBSnapshot(ctx, &rds.RestoreDBInstanceFromDBSnapshotInput{DBSnapshotIdentifier: aws.String("orders-west"),
		DBInstanceIdentifier: aws.String("orders-west")}); err != nil {
		t.Fatal(err)
	}
	w := waitAvailable(t, aWest, "orders-west")
	if aws.ToString(w.KmsKeyId) != aws.ToString(westKey.KeyMetadata.Arn) || !strings.Contains(aws.ToString(w.DBInstanceArn), ":us-west-2:") {
		t.Errorf("the instance in us-west-2: key %s arn %s", aws.ToString(w.KmsKeyId), aws.ToString(w.DBInstanceArn))
	}
	if got, err := psql(t, aws.ToString(w.Endpoint.Address), aws.ToInt32(w.Endpoint.Port), "orders_admin", "orders-secret-1", "orders",
		`SELECT string_agg(name, ',' ORDER BY id) FROM items`); err != nil || !strings.HasSuffix(got, "x,y") {
		t.Fatalf("rows restored in us-west-2: %v: %q, want x,y", err, got)
	}
}
