package rds_test

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/rds"

	"github.com/coffer-dev/coffer/internal/testenv"
)

// TestAWSCLIv2 drives the scenario with the AWS CLI v2: a CMK, an
// encrypted postgres instance, the CLI's waiter, psql, describe, delete;
// the other account sees nothing.
func TestAWSCLIv2(t *testing.T) {
	requirePostgres(t)
	cli := testenv.AWSCLIv2(t)
	c := start(t, nil)
	aws := func(profile string, args ...string) (map[string]any, string, error) {
		t.Helper()
		cmd := exec.Command(cli, append([]string{"--endpoint-url", c.URL, "--output", "json"}, args...)...)
		cmd.Env = c.CLIEnv(profile)
		out, err := cmd.CombinedOutput()
		var doc map[string]any
		if err == nil && len(strings.TrimSpace(string(out))) > 0 {
			if jerr := json.Unmarshal(out, &doc); jerr != nil {
				t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), jerr, out)
			}
		}
		return doc, string(out), err
	}
	must := func(profile string, args ...string) map[string]any {
		t.Helper()
		doc, out, err := aws(profile, args...)
		if err != nil {
			t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return doc
	}
	key := must("default", "kms", "create-key", "--description", "app database")["KeyMetadata"].(map[string]any)
	keyARN := key["Arn"].(string)
	must("default", "kms", "create-alias", "--alias-name", "alias/app-db", "--target-key-id", key["KeyId"].(string))
	created := must("default", "rds", "create-db-instance", "--db-instance-identifier", "app-db", "--engine", "postgres",
		"--db-instance-class", "db.t3.micro", "--allocated-storage", "20", "--master-username", "app_admin",
		"--master-user-password", "app-secret-1", "--db-name", "app", "--storage-encrypted", "--kms-key-id", "alias/app-db",
		"--tags", "Key=team,Value=data")["DBInstance"].(map[string]any)
	if created["DBInstanceStatus"] != "creating" {
		t.Errorf("status after create = %v", created["DBInstanceStatus"])
	}
	// The CLI's waiters poll every 30 seconds: wait with the SDK first, so
	// the waiter's first look (its JMESPath over our XML) must succeed.
	sdk, _ := clients(t, c, "default")
	waitStatus(t, sdk, "app-db", "available")
	must("default", "rds", "wait", "db-instance-available", "--db-instance-identifier", "app-db")
	inst := must("default", "rds", "describe-db-instances", "--db-instance-identifier", "app-db")["DBInstances"].([]any)[0].(map[string]any)
	if inst["KmsKeyId"] != keyARN || inst["StorageEncrypted"] != true || inst["DBName"] != "app" {
		t.Errorf("described: KmsKeyId %v StorageEncrypted %v DBName %v", inst["KmsKeyId"], inst["StorageEncrypted"], inst["DBName"])
	}
	ep := inst["Endpoint"].(map[string]any)
	out, err := psql(t, ep["Address"].(string), int32(ep["Port"].(float64)), "app_admin", "app-secret-1", "app",
		`CREATE TABLE t (v text); INSERT INTO t VALUES ('x'), ('y'); SELECT count(*) FROM t`)
	if err != nil || !strings.HasSuffix(out, "2") {
		t.Fatalf("psql: %v: %s", err, out)
	}
	tags := must("default", "rds", "list-tags-for-resource", "--resource-name", inst["DBInstanceArn"].(string))["TagList"].([]any)
	if len(tags) != 1 {
		t.Errorf("tags = %v", tags)
	}

	other := must("other", "rds", "describe-db-instances")["DBInstances"].([]any)
	if len(other) != 0 {
		t.Errorf("the other account sees %d instances", len(other))
	}
	if _, out, err := aws("other", "rds", "describe-db-instances", "--db-instance-identifier", "app-db"); err == nil || !strings.Contains(out, "DBInstanceNotFound") {
		t.Errorf("the other account describes app-db: %v: %s", err, out)
	}
	if _, out, err := aws("default", "rds", "create-db-instance", "--db-instance-identifier", "bad", "--engine", "mysql-ish",
		"--db-instance-class", "db.t3.micro"); err == nil || !strings.Contains(out, "InvalidParameterValue") {
		t.Errorf("unknown engine: %v: %s", err, out)
	}

	// The lifecycle calls through the CLI.
	versions := must("default", "rds", "describe-db-engine-versions", "--engine", "postgres", "--default-only")["DBEngineVersions"].([]any)
	if len(versions) != 1 || versions[0].(map[string]any)["EngineVersion"] != inst["EngineVersion"] {
		t.Errorf("describe-db-engine-versions: %v, instance runs %v", versions, inst["EngineVersion"])
	}
	if got := must("default", "rds", "stop-db-instance", "--db-instance-identifier", "app-db")["DBInstance"].(map[string]any)["DBInstanceStatus"]; got != "stopping" {
		t.Errorf("stop-db-instance: status %v", got)
	}
	waitStatus(t, sdk, "app-db", "stopped")
	must("default", "rds", "start-db-instance", "--db-instance-identifier", "app-db")
	waitStatus(t, sdk, "app-db", "available")
	must("default", "rds", "reboot-db-instance", "--db-instance-identifier", "app-db")
	waitStatus(t, sdk, "app-db", "available")
	mod := must("default", "rds", "modify-db-instance", "--db-instance-identifier", "app-db", "--backup-retention-period", "3",
		"--master-user-password", "app-secret-2", "--apply-immediately")["DBInstance"].(map[string]any)
	if mod["BackupRetentionPeriod"] != float64(3) {
		t.Errorf("modify-db-instance: BackupRetentionPeriod %v", mod["BackupRetentionPeriod"])
	}
	if out, err := psql(t, ep["Address"].(string), int32(ep["Port"].(float64)), "app_admin", "app-secret-2", "app", `SELECT count(*) FROM t`); err != nil || out != "2" {
		t.Errorf("after stop, start, reboot and a new password: %v: %s", err, out)
	}
	if _, out, err := aws("default", "rds", "delete-db-instance", "--db-instance-identifier", "app-db", "--final-db-snapshot-identifier", "app-final", "--skip-final-snapshot"); err == nil || !strings.Contains(out, "InvalidParameterCombination") {
		t.Errorf("delete with a final snapshot and --skip-final-snapshot: %v: %s", err, out)
	}

	must("default", "rds", "delete-db-instance", "--db-instance-identifier", "app-db", "--final-db-snapshot-identifier", "app-final")
	waitGone(t, sdk, "app-db")
	must("default", "rds", "wait", "db-snapshot-available", "--db-snapshot-identifier", "app-final")

	// The final snapshot copied to us-west-2 (--source-region: the CLI
	// presigns a request in the source region), under a key there, and
	// restored there; both answer at once, creating.
	westKey := must("default", "--region", "us-west-2", "kms", "create-key", "--description", "app copies")["KeyMetadata"].(map[string]any)["Arn"].(string)
	cp := must("default", "--region", "us-west-2", "rds", "copy-db-snapshot", "--source-region", "us-east-1", "--kms-key-id", westKey,
		"--source-db-snapshot-identifier", "arn:aws:rds:us-east-1:111222333444:snapshot:app-final", "--target-db-snapshot-identifier", "app-west")["DBSnapshot"].(map[string]any)
	if cp["Status"] != "creating" || cp["KmsKeyId"] != westKey {
		t.Errorf("copy-db-snapshot: %v", cp)
	}
	west := rds.NewFromConfig(c.AWSConfig(t, c.Profile(t, "default")), func(o *rds.Options) { o.Region = "us-west-2" })
	waitSnapshot(t, west, "app-west")
	must("default", "--region", "us-west-2", "rds", "wait", "db-snapshot-available", "--db-snapshot-identifier", "app-west")
	restored := must("default", "--region", "us-west-2", "rds", "restore-db-instance-from-db-snapshot", "--db-snapshot-identifier", "app-west",
		"--db-instance-identifier", "app-west")["DBInstance"].(map[string]any)
	if restored["DBInstanceStatus"] != "creating" {
		t.Errorf("restore-db-instance-from-db-snapshot answered %v, want creating", restored["DBInstanceStatus"])
	}
	waitStatus(t, west, "app-west", "available")
	must("default", "--region", "us-west-2", "rds", "wait", "db-instance-available", "--db-instance-identifier", "app-west")
	westEP := must("default", "--region", "us-west-2", "rds", "describe-db-instances", "--db-instance-identifier", "app-west")["DBInstances"].([]any)[0].(map[string]any)["Endpoint"].(map[string]any)
	if out, err := psql(t, westEP["Address"].(string), int32(westEP["Port"].(float64)), "app_admin", "app-secret-2", "app", `SELECT count(*) FROM t`); err != nil || out != "2" {
		t.Errorf("restored in us-west-2 from the copy: %v: %s", err, out)
	}
	if snap := must("default", "rds", "delete-db-snapshot", "--db-snapshot-identifier", "app-final")["DBSnapshot"].(map[string]any); snap["DBInstanceIdentifier"] != "app-db" {
		t.Errorf("delete-db-snapshot: %v", snap)
	}
	must("default", "rds", "wait", "db-instance-deleted", "--db-instance-identifier", "app-db")
	if _, out, err := aws("default", "rds", "describe-db-instances", "--db-instance-identifier", "app-db"); err == nil || !strings.Contains(out, "DBInstanceNotFound") {
		t.Errorf("after delete: %v: %s", err, out)
	}
}
