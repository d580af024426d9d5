package rds_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/coffer-dev/coffer/internal/engine"
	"github.com/coffer-dev/coffer/internal/rds"
)

// TestUpgradeFromSharedCluster: a data directory of the previous release
// — instances as databases of the region cluster in
// DATA-DIR/postgres/REGION, rows written as that release wrote them — is
// moved on first start: every instance gets a server of its own with its
// DBName, MasterUsername and password, every row arrives, and the old
// databases and roles are dropped only after.
func TestUpgradeFromSharedCluster(t *testing.T) {
	ctx := context.Background()
	d := newDomain(t)
	dir, root, admin, open := d.dir, d.root, d.admin, d.open

	// The previous release: the region cluster, instances as its
	// databases.
	cluster := rds.NewCluster(rds.ClusterOptions{Dir: filepath.Join(dir, "postgres", "us-east-1"), RootKey: root})
	if err := cluster.Start(ctx); err != nil {
		t.Fatal(err)
	}
	old, oldHosts := open(map[string]string{"us-east-1": cluster.DSN()})
	type want struct {
		id, db, user, pw string
		rows             int
	}
	wants := []want{{"shop", "shop", "shop_owner", "shop-secret-1", 700}, {"crm", "crm_db", "crm_admin", "crm-secret-1", 300}}
	for _, w := range wants {
		if _, err := old.CreateInstance(admin, rds.CreateInput{Identifier: w.id, Engine: "postgres", InstanceClass: "db.t3.micro",
			DBName: w.db, MasterUsername: w.user, MasterUserPassword: w.pw}); err != nil {
			t.Fatal(err)
		}
	}
	old.Wait()
	for _, w := range wants {
		out, err := old.DescribeInstances(admin, rds.DescribeInput{Identifier: w.id})
		if err != nil || out.Instances[0].Status != rds.StatusAvailable {
			t.Fatalf("old layout %s: %v", w.id, err)
		}
		ep := out.Instances[0].Endpoint
		if ep.Port != cluster.Port() {
			t.Fatalf("the old layout's %s is on port %d, not the cluster's %d", w.id, ep.Port, cluster.Port())
		}
		db := openPG(t, ep, w.user, w.pw, w.db)
		if _, err := db.Exec(`CREATE TABLE items (id int PRIMARY KEY, name text)`); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, $1::int) g`, w.rows); err != nil {
			t.Fatal(err)
		}
		db.Close()
	}
	old.Close()
	oldHosts.Close()
	if err := cluster.Stop(); err != nil {
		t.Fatal(err)
	}

	// This release, on the same data directory.
	svc, hosts := open(nil)
	t.Cleanup(func() { svc.Close(); hosts.Close() })
	if err := svc.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	svc.Wait()
	for _, w := range wants {
		out, err := svc.DescribeInstances(admin, rds.DescribeInput{Identifier: w.id})
		if err != nil {
			t.Fatal(err)
		}
		inst := out.Instances[0]
		if inst.Status != rds.StatusAvailable || inst.Endpoint.Port == cluster.Port() || inst.DBName != w.db || inst.MasterUsername != w.user {
			t.Fatalf("%s after the upgrade: %s on port %d (cluster %d), %s/%s", w.id, inst.Status, inst.Endpoint.Port, cluster.Port(), inst.DBName, inst.MasterUsername)
		}
		db := openPG(t, inst.Endpoint, w.user, w.pw, w.db)
		var n int
		var sum int64
		if err := db.QueryRow(`SELECT count(*), sum(id) FROM items WHERE name = 'item ' || id`).Scan(&n, &sum); err != nil || n != w.rows || sum != int64(w.rows*(w.rows+1)/2) {
			t.Errorf("%s: %d rows, sum %d (%v)", w.id, n, sum, err)
		}
		db.Close()
	}
	// The old databases and roles are gone from the region cluster.
	again := rds.NewCluster(rds.ClusterOptions{Dir: filepath.Join(dir, "postgres", "us-east-1"), RootKey: root})
	if err := again.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer again.Stop()
	adm, err := sql.Open("pgx", again.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	var left int
	if err := adm.QueryRow(`SELECT (SELECT count(*) FROM pg_database WHERE datname IN ('shop', 'crm_db')) + (SELECT count(*) FROM pg_roles WHERE rolname IN ('shop_owner', 'crm_admin'))`).Scan(&left); err != nil || left != 0 {
		t.Errorf("%d old databases and roles left (%v)", left, err)
	}
}

func openPG(t *testing.T, ep rds.Endpoint, user, pw, database string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", rds.TargetURL(engine.Target{Host: ep.Address, Port: ep.Port, User: user, Password: pw, Database: database, SSLMode: "disable"}))
	if err != nil {
		t.Fatal(err)
	}
	return db
}
