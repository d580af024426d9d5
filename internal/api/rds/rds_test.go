package rds_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/rds/types"
	"github.com/aws/smithy-go"
	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/coffer-dev/coffer/internal/config"
	"github.com/coffer-dev/coffer/internal/testenv"
)

const bootstrap = `
organizations:
  - managementAccount: "111222333444"
    members: ["666777888999"]
accounts:
  - {id: "111222333444", name: source}
  - {id: "666777888999", name: backup}
users:
  - {account: "111222333444", name: admin, profile: default}
  - {account: "666777888999", name: admin, profile: other}
`

func start(t *testing.T, mutate func(*config.Config)) *testenv.Coffer {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bootstrap.yaml")
	if err := os.WriteFile(path, []byte(bootstrap), 0o600); err != nil {
		t.Fatal(err)
	}
	return testenv.StartCoffer(t, func(c *config.Config) {
		c.Bootstrap = path
		if mutate != nil {
			mutate(c)
		}
	})
}

func clients(t *testing.T, c *testenv.Coffer, profile string) (*rds.Client, *kms.Client) {
	cfg := c.AWSConfig(t, c.Profile(t, profile))
	return rds.NewFromConfig(cfg), kms.NewFromConfig(cfg)
}

func errCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// waitStatus polls DescribeDBInstances until the instance reaches one of
// the statuses, and fails on any other final one.
func waitStatus(t *testing.T, client *rds.Client, id string, want ...string) types.DBInstance {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		out, err := client.DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String(id)})
		if err != nil {
			t.Fatalf("describe %s: %v", id, err)
		}
		inst := out.DBInstances[0]
		status := aws.ToString(inst.DBInstanceStatus)
		for _, w := range want {
			if status == w {
				return inst
			}
		}
		if !transitional[status] {
			msg := ""
			for _, s := range inst.StatusInfos {
				msg += aws.ToString(s.Message)
			}
			t.Fatalf("%s is %s (%s), want %v", id, status, msg, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s did not reach %v", id, want)
	return types.DBInstance{}
}

func waitGone(t *testing.T, client *rds.Client, id string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		_, err := client.DescribeDBInstances(context.Background(), &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String(id)})
		if errCode(err) == "DBInstanceNotFound" {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s was not deleted", id)
}

func TestSQLiteInstanceLifecycle(t *testing.T) {
	c := start(t, nil)
	client, _ := clients(t, c, "default")
	ctx := context.Background()
	out, err := client.CreateDBInstance(ctx, &rds.CreateDBInstanceInput{
		DBInstanceIdentifier: aws.String("Notes-DB"),
		Engine:               aws.String("sqlite"),
		DBInstanceClass:      aws.String("db.t3.micro"),
		Tags:                 []types.Tag{{Key: aws.String("team"), Value: aws.String("ops")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(out.DBInstance.DBInstanceIdentifier); got != "notes-db" {
		t.Errorf("identifier = %q, want it lower-cased", got)
	}
	if got := aws.ToString(out.DBInstance.DBInstanceArn); got != "arn:aws:rds:us-east-1:111222333444:db:notes-db" {
		t.Errorf("ARN = %s", got)
	}
	inst := waitStatus(t, client, "notes-db", "available")
	path := aws.ToString(inst.Endpoint.Address)
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes (body) VALUES ('héllo')`); err != nil {
		t.Fatalf("write to %s: %v", path, err)
	}
	db.Close()
	if inst.StorageEncrypted == nil || *inst.StorageEncrypted || inst.KmsKeyId != nil {
		t.Errorf("an unencrypted instance reports StorageEncrypted %v, KmsKeyId %v", inst.StorageEncrypted, inst.KmsKeyId)
	}

	arn := aws.ToString(inst.DBInstanceArn)
	if _, err := client.AddTagsToResource(ctx, &rds.AddTagsToResourceInput{ResourceName: &arn, Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("dev")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.RemoveTagsFromResource(ctx, &rds.RemoveTagsFromResourceInput{ResourceName: &arn, TagKeys: []string{"team"}}); err != nil {
		t.Fatal(err)
	}
	tags, err := client.ListTagsForResource(ctx, &rds.ListTagsForResourceInput{ResourceName: &arn})
	if err != nil {
		t.Fatal(err)
	}
	if len(tags.TagList) != 1 || aws.ToString(tags.TagList[0].Key) != "env" || aws.ToString(tags.TagList[0].Value) != "dev" {
		t.Errorf("tags = %+v, want env=dev", tags.TagList)
	}

	mod, err := client.ModifyDBInstance(ctx, &rds.ModifyDBInstanceInput{DBInstanceIdentifier: aws.String("notes-db"), DBInstanceClass: aws.String("db.m5.large"), DeletionProtection: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(mod.DBInstance.DBInstanceClass); got != "db.m5.large" {
		t.Errorf("class after modify = %s", got)
	}
	_, err = client.DeleteDBInstance(ctx, &rds.DeleteDBInstanceInput{DBInstanceIdentifier: aws.String("notes-db"), SkipFinalSnapshot: aws.Bool(true)})
	if errCode(err) != "InvalidParameterCombination" {
		t.Fatalf("deleting a protected instance: %v, want InvalidParameterCombination", err)
	}
	if _, err := client.ModifyDBInstance(ctx, &rds.ModifyDBInstanceInput{DBInstanceIdentifier: aws.String("notes-db"), DeletionProtection: aws.Bool(false)}); err != nil {
		t.Fatal(err)
	}
	del, err := client.DeleteDBInstance(ctx, &rds.DeleteDBInstanceInput{DBInstanceIdentifier: aws.String("notes-db"), SkipFinalSnapshot: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(del.DBInstance.DBInstanceStatus); got != "deleting" {
		t.Errorf("status after delete = %s, want deleting", got)
	}
	waitGone(t, client, "notes-db")
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("the SQLite file %s survived its instance: %v", path, err)
	}
}

func TestDescribePagination(t *testing.T) {
	c := start(t, nil)
	client, _ := clients(t, c, "default")
	ctx := context.Background()
	const n = 23
	for i := range n {
		_, err := client.CreateDBInstance(ctx, &rds.CreateDBInstanceInput{DBInstanceIdentifier: aws.String("db" + strconv.Itoa(i)), Engine: aws.String("sqlite"), DBInstanceClass: aws.String("db.t3.micro")})
		if err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	pages := 0
	p := rds.NewDescribeDBInstancesPaginator(client, &rds.DescribeDBInstancesInput{MaxRecords: aws.Int32(20)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, i := range out.DBInstances {
			seen[aws.ToString(i.DBInstanceIdentifier)] = true
		}
	}
	if len(seen) != n || pages != 2 {
		t.Errorf("saw %d instances in %d pages, want %d in 2", len(seen), pages, n)
	}
	out, err := client.DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{Filters: []types.Filter{{Name: aws.String("db-instance-id"), Values: []string{"db3", "db7"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.DBInstances) != 2 {
		t.Errorf("filter db-instance-id matched %d instances, want 2", len(out.DBInstances))
	}
	_, err = client.DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{MaxRecords: aws.Int32(5)})
	if errCode(err) != "InvalidParameterValue" {
		t.Errorf("MaxRecords 5: %v, want InvalidParameterValue", err)
	}
	_, err = client.DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{Filters: []types.Filter{{Name: aws.String("colour"), Values: []string{"x"}}}})
	if errCode(err) != "InvalidParameterValue" {
		t.Errorf("unknown filter: %v, want InvalidParameterValue", err)
	}
}

func TestBadInput(t *testing.T) {
	c := start(t, nil)
	client, kmsClient := clients(t, c, "default")
	other, otherKMS := clients(t, c, "other")
	ctx := context.Background()
	otherKey, err := otherKMS.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	ownKey, err := kmsClient.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.CreateDBInstance(ctx, &rds.CreateDBInstanceInput{DBInstanceIdentifier: aws.String("taken"), Engine: aws.String("sqlite"), DBInstanceClass: aws.String("db.t3.micro")}); err != nil {
		t.Fatal(err)
	}
	_ = other
	otherRegionKey := strings.Replace(aws.ToString(ownKey.KeyMetadata.Arn), ":us-east-1:", ":eu-west-1:", 1)
	pg := func(mod func(*rds.CreateDBInstanceInput)) *rds.CreateDBInstanceInput {
		in := &rds.CreateDBInstanceInput{DBInstanceIdentifier: aws.String("pg1"), Engine: aws.String("postgres"), DBInstanceClass: aws.String("db.t3.micro"),
			MasterUsername: aws.String("master"), MasterUserPassword: aws.String("correct-horse-1")}
		mod(in)
		return in
	}
	tests := []struct {
		name string
		in   *rds.CreateDBInstanceInput
		code string
	}{
		{"unknown engine", pg(func(in *rds.CreateDBInstanceInput) { in.Engine = aws.String("oracle-ee") }), "InvalidParameterValue"},
		{"duplicate identifier", pg(func(in *rds.CreateDBInstanceInput) { in.DBInstanceIdentifier = aws.String("TAKEN") }), "DBInstanceAlreadyExists"},
		{"identifier starts with a digit", pg(func(in *rds.CreateDBInstanceInput) { in.DBInstanceIdentifier = aws.String("1db") }), "InvalidParameterValue"},
		{"identifier with two hyphens", pg(func(in *rds.CreateDBInstanceInput) { in.DBInstanceIdentifier = aws.String("my--db") }), "InvalidParameterValue"},
		{"identifier ending in a hyphen", pg(func(in *rds.CreateDBInstanceInput) { in.DBInstanceIdentifier = aws.String("mydb-") }), "InvalidParameterValue"},
		{"identifier too long", pg(func(in *rds.CreateDBInstanceInput) {
			in.DBInstanceIdentifier = aws.String("a" + strings.Repeat("b", 63))
		}), "InvalidParameterValue"},
		{"missing password", pg(func(in *rds.CreateDBInstanceInput) { in.MasterUserPassword = nil }), "InvalidParameterValue"},
		{"short password", pg(func(in *rds.CreateDBInstanceInput) { in.MasterUserPassword = aws.String("short") }), "InvalidParameterValue"},
		{"password with @", pg(func(in *rds.CreateDBInstanceInput) { in.MasterUserPassword = aws.String("abc@defgh") }), "InvalidParameterValue"},
		{"reserved user", pg(func(in *rds.CreateDBInstanceInput) { in.MasterUsername = aws.String("postgres") }), "InvalidParameterValue"},
		{"key without encryption", pg(func(in *rds.CreateDBInstanceInput) { in.KmsKeyId = ownKey.KeyMetadata.KeyId }), "InvalidParameterCombination"},
		{"another account's key", pg(func(in *rds.CreateDBInstanceInput) {
			in.StorageEncrypted = aws.Bool(true)
			in.KmsKeyId = otherKey.KeyMetadata.Arn
		}), "KMSKeyNotAccessibleFault"},
		{"key in another region", pg(func(in *rds.CreateDBInstanceInput) {
			in.StorageEncrypted = aws.Bool(true)
			in.KmsKeyId = aws.String(otherRegionKey)
		}), "KMSKeyNotAccessibleFault"},
		{"unknown key", pg(func(in *rds.CreateDBInstanceInput) {
			in.StorageEncrypted = aws.Bool(true)
			in.KmsKeyId = aws.String("alias/nope")
		}), "KMSKeyNotAccessibleFault"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := client.CreateDBInstance(ctx, tt.in)
			if got := errCode(err); got != tt.code {
				t.Fatalf("error %v, want %s", err, tt.code)
			}
			if strings.Contains(err.Error(), "correct-horse-1") {
				t.Errorf("the password leaked into the error: %v", err)
			}
		})
	}
	if _, err := client.DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String("pg1")}); errCode(err) != "DBInstanceNotFound" {
		t.Errorf("a refused create left an instance: %v", err)
	}
	_, err = client.DeleteDBInstance(ctx, &rds.DeleteDBInstanceInput{DBInstanceIdentifier: aws.String("taken")})
	if errCode(err) != "InvalidParameterCombination" {
		t.Errorf("delete without SkipFinalSnapshot: %v, want InvalidParameterCombination", err)
	}
	_, err = client.DeleteDBInstance(ctx, &rds.DeleteDBInstanceInput{DBInstanceIdentifier: aws.String("nope"), SkipFinalSnapshot: aws.Bool(true)})
	if errCode(err) != "DBInstanceNotFound" {
		t.Errorf("delete of a missing instance: %v, want DBInstanceNotFound", err)
	}
}

// TestAccountsIsolated: an instance of one account cannot be seen, tagged,
// modified or deleted from another.
func TestAccountsIsolated(t *testing.T) {
	c := start(t, nil)
	client, _ := clients(t, c, "default")
	other, _ := clients(t, c, "other")
	ctx := context.Background()
	out, err := client.CreateDBInstance(ctx, &rds.CreateDBInstanceInput{DBInstanceIdentifier: aws.String("private"), Engine: aws.String("sqlite"), DBInstanceClass: aws.String("db.t3.micro")})
	if err != nil {
		t.Fatal(err)
	}
	arn := out.DBInstance.DBInstanceArn
	waitStatus(t, client, "private", "available")
	list, err := other.DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.DBInstances) != 0 {
		t.Errorf("another account lists %d instances", len(list.DBInstances))
	}
	if _, err := other.DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String("private")}); errCode(err) != "DBInstanceNotFound" {
		t.Errorf("describe by id from another account: %v", err)
	}
	if _, err := other.DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{DBInstanceIdentifier: arn}); errCode(err) != "DBInstanceNotFound" {
		t.Errorf("describe by ARN from another account: %v", err)
	}
	if _, err := other.ListTagsForResource(ctx, &rds.ListTagsForResourceInput{ResourceName: arn}); errCode(err) != "DBInstanceNotFound" {
		t.Errorf("list tags from another account: %v", err)
	}
	if _, err := other.DeleteDBInstance(ctx, &rds.DeleteDBInstanceInput{DBInstanceIdentifier: aws.String("private"), SkipFinalSnapshot: aws.Bool(true)}); errCode(err) != "DBInstanceNotFound" {
		t.Errorf("delete from another account: %v", err)
	}
	// The same identifier is free in the other account.
	if _, err := other.CreateDBInstance(ctx, &rds.CreateDBInstanceInput{DBInstanceIdentifier: aws.String("private"), Engine: aws.String("sqlite"), DBInstanceClass: aws.String("db.t3.micro")}); err != nil {
		t.Errorf("the other account cannot use the identifier: %v", err)
	}
}

// psql runs a statement through psql against an instance.
func psql(t *testing.T, host string, port int32, user, password, database, stmt string) (string, error) {
	t.Helper()
	return testenv.Psql(t, host, int(port), user, password, database, stmt)
}
