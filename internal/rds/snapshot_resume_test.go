package rds_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coffer-dev/coffer/internal/rds"
)

// TestResumeCutShort: what a coffer stopped mid-work left is settled at
// the next start: a restore whose server was made but never filled is
// failed and its server removed, an unfinished physical restore's
// directory is removed, and the snapshots this node was taking are
// failed (another node's are left to it).
func TestResumeCutShort(t *testing.T) {
	d := newDomain(t)
	ctx := context.Background()
	svc, hosts := d.open(nil)
	inst, _, err := svc.CreateRestoredInstance(d.admin, rds.RestoreSpec{Region: "us-east-1", Identifier: "half", Engine: rds.EnginePostgres,
		DBName: "app", MasterUsername: "app", MasterUserPassword: "app-secret-1"})
	if err != nil {
		t.Fatal(err)
	}
	if inst.Status != rds.StatusCreating {
		t.Fatalf("restore target is %s, want creating", inst.Status)
	}
	incoming, err := svc.IncomingDir()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(incoming, "PG_VERSION"), []byte("15\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	server := filepath.Join(d.dir, "pg", strings.ToLower(inst.ResourceID))
	if _, err := os.Stat(server); err != nil {
		t.Fatalf("the restore target's server: %v", err)
	}
	for _, row := range []struct{ id, node string }{{"mine", hosts.NodeID()}, {"theirs", "another-node"}} {
		if _, err := d.store.ExecContext(ctx, `INSERT INTO rds_snapshots (account_id, region, identifier, arn, instance_identifier, instance_arn, engine,
			engine_version, instance_class, allocated_storage, db_name, master_username, storage_encrypted, kms_key_arn, status, created_at, node_id)
			VALUES (?, 'us-east-1', ?, ?, 'half', ?, 'postgres', '15', 'db.t3.micro', 20, 'app', 'app', 0, '', 'creating', 0, ?)`,
			inst.Account, row.id, rds.SnapshotARN("us-east-1", inst.Account, row.id), inst.ARN, row.node); err != nil {
			t.Fatal(err)
		}
	}
	svc.Close()
	hosts.Close()

	svc, hosts = d.open(nil)
	t.Cleanup(func() { svc.Close(); hosts.Close() })
	if err := svc.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	svc.Wait()
	out, err := svc.DescribeInstances(d.admin, rds.DescribeInput{Identifier: "half"})
	if err != nil {
		t.Fatal(err)
	}
	if got := out.Instances[0]; got.Status != rds.StatusFailed || got.StatusMessage == "" {
		t.Errorf("the restore cut short is %s (%q), want failed with a message", got.Status, got.StatusMessage)
	}
	if _, err := os.Stat(server); !os.IsNotExist(err) {
		t.Errorf("the half-made server's directory %s: %v, want it removed", server, err)
	}
	if _, err := os.Stat(incoming); !os.IsNotExist(err) {
		t.Errorf("unfinished restore directory %s: %v, want it removed", incoming, err)
	}
	snaps, err := svc.DescribeSnapshots(d.admin, "", "", "", false)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, s := range snaps {
		got[s.Identifier] = s.Status
	}
	if got["mine"] != rds.SnapshotFailed || got["theirs"] != rds.SnapshotCreating {
		t.Errorf("snapshots after the restart: %v, want mine failed and theirs creating", got)
	}
}
