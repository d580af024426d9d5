package rds_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/rds"
)

// TestDBSnapshotThroughRDSGrants: a user allowed RDS but no KMS action
// takes, copies and deletes snapshots of an instance under a CMK, as in
// AWS, because RDS encrypts them through the grant it holds on the key;
// a restore, which creates grants for the new instance, needs the
// caller's kms:CreateGrant and is refused without it. The snapshot
// restores for the key's administrator.
func TestDBSnapshotThroughRDSGrants(t *testing.T) {
	requirePostgres(t)
	c := start(t, nil)
	admin, adminKMS := clients(t, c, "default")
	ctx := context.Background()
	key, err := adminKMS.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("orders")})
	if err != nil {
		t.Fatal(err)
	}
	createPG(t, admin, "orders", "orders_admin", "orders-secret-1", aws.ToString(key.KeyMetadata.Arn))
	inst := waitAvailable(t, admin, "orders")
	if out, err := psql(t, aws.ToString(inst.Endpoint.Address), aws.ToInt32(inst.Endpoint.Port), "orders_admin", "orders-secret-1", "orders",
		`CREATE TABLE items (id serial PRIMARY KEY, name text); INSERT INTO items (name) VALUES ('p'), ('q')`); err != nil {
		t.Fatalf("psql write: %v: %s", err, out)
	}

	iamClient := iam.NewFromConfig(c.AWSConfig(t, c.Profile(t, "default")))
	if _, err := iamClient.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("operator")}); err != nil {
		t.Fatal(err)
	}
	if _, err := iamClient.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("operator"), PolicyName: aws.String("rds-only"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"rds:*","Resource":"*"}]}`)}); err != nil {
		t.Fatal(err)
	}
	ak, err := iamClient.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("operator")})
	if err != nil {
		t.Fatal(err)
	}
	opCfg := c.AWSConfig(t, aws.Credentials{AccessKeyID: aws.ToString(ak.AccessKey.AccessKeyId), SecretAccessKey: aws.ToString(ak.AccessKey.SecretAccessKey)})
	op, opKMS := rds.NewFromConfig(opCfg), kms.NewFromConfig(opCfg)
	if _, err := opKMS.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: key.KeyMetadata.Arn, KeySpec: "AES_256"}); err == nil {
		t.Fatal("the operator may use the key directly; the test needs a user without KMS rights")
	}

	if _, err := op.CreateDBSnapshot(ctx, &rds.CreateDBSnapshotInput{DBSnapshotIdentifier: aws.String("op-snap"), DBInstanceIdentifier: aws.String("orders")}); err != nil {
		t.Fatal(err)
	}
	if s := waitSnapshot(t, op, "op-snap"); aws.ToString(s.KmsKeyId) != aws.ToString(key.KeyMetadata.Arn) {
		t.Errorf("the operator's snapshot under %s", aws.ToString(s.KmsKeyId))
	}
	if _, err := op.CopyDBSnapshot(ctx, &rds.CopyDBSnapshotInput{SourceDBSnapshotIdentifier: aws.String("op-snap"), TargetDBSnapshotIdentifier: aws.String("op-copy")}); err != nil {
		t.Fatal(err)
	}
	waitSnapshot(t, op, "op-copy")
	if _, err := op.DeleteDBSnapshot(ctx, &rds.DeleteDBSnapshotInput{DBSnapshotIdentifier: aws.String("op-copy")}); err != nil {
		t.Fatal(err)
	}
	if _, err := op.RestoreDBInstanceFromDBSnapshot(ctx, &rds.RestoreDBInstanceFromDBSnapshotInput{DBSnapshotIdentifier: aws.String("op-snap"),
		DBInstanceIdentifier: aws.String("op-restored")}); errCode(err) != "KMSKeyNotAccessibleFault" {
		t.Errorf("the operator restores without kms:CreateGrant: %v, want KMSKeyNotAccessibleFault", err)
	}
	if _, err := op.DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String("op-restored")}); errCode(err) != "DBInstanceNotFound" {
		t.Errorf("the refused restore left an instance: %v", err)
	}

	if _, err := admin.RestoreDBInstanceFromDBSnapshot(ctx, &rds.RestoreDBInstanceFromDBSnapshotInput{DBSnapshotIdentifier: aws.String("op-snap"),
		DBInstanceIdentifier: aws.String("orders-restored")}); err != nil {
		t.Fatal(err)
	}
	restored := waitAvailable(t, admin, "orders-restored")
	if got, err := psql(t, aws.ToString(restored.Endpoint.Address), aws.ToInt32(restored.Endpoint.Port), "orders_admin", "orders-secret-1", "orders",
		`SELECT string_agg(name, ',' ORDER BY id) FROM items`); err != nil || !strings.HasSuffix(got, "p,q") {
		t.Fatalf("rows restored from the operator's snapshot: %v: %q, want p,q", err, got)
	}
}
