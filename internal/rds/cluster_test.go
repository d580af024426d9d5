package rds_test

import (
	"context"
	"database/sql"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coffer-dev/coffer/internal/rds"
	"github.com/coffer-dev/coffer/internal/rootkey"
	"github.com/coffer-dev/coffer/internal/testenv"
)

// TestClusterRestart: the embedded cluster is initialised once, keeps its
// port and data across a stop and a start, and its administrator's
// password is stored only sealed.
func TestClusterRestart(t *testing.T) {
	if _, err := rds.PostgresBinDir(); err != nil {
		testenv.Missing(t, "%v", err)
	}
	ctx := context.Background()
	dir := t.TempDir()
	root, err := rootkey.LoadOrCreateFile(filepath.Join(dir, "root.key"))
	if err != nil {
		t.Fatal(err)
	}
	clusterDir := filepath.Join(dir, "postgres", "us-east-1")
	c := rds.NewCluster(rds.ClusterOptions{Dir: clusterDir, RootKey: root})
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop() })
	port := c.Port()
	db, err := sql.Open("pgx", c.DSN())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE DATABASE kept`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	sealed, err := os.ReadFile(filepath.Join(clusterDir, "admin-password.sealed"))
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(c.DSN())
	if err != nil {
		t.Fatal(err)
	}
	pw, _ := u.User.Password()
	if len(pw) < 20 || strings.Contains(string(sealed), pw) {
		t.Error("the administrator's password is stored in plaintext")
	}

	again := rds.NewCluster(rds.ClusterOptions{Dir: clusterDir, RootKey: root})
	if err := again.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer again.Stop()
	if again.Port() != port {
		t.Errorf("port %d after restart, was %d", again.Port(), port)
	}
	db, err = sql.Open("pgx", again.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM pg_database WHERE datname = 'kept'`).Scan(&n); err != nil || n != 1 {
		t.Errorf("database kept across restart: %d (%v)", n, err)
	}

	other, err := rootkey.LoadOrCreateFile(filepath.Join(dir, "other.key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := rds.NewCluster(rds.ClusterOptions{Dir: clusterDir, RootKey: other}).Start(ctx); err == nil || !strings.Contains(err.Error(), "root key") {
		t.Errorf("start with another root key: %v", err)
	}
}
