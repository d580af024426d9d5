package rds_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/coffer-dev/coffer/internal/rds"
	"github.com/coffer-dev/coffer/internal/testenv"
)

// TestServerSupervised: a server made from the template accepts its
// owner over TCP, keeps its data directory 0700, and is restarted by the
// supervisor after a SIGKILL.
func TestServerSupervised(t *testing.T) {
	if _, err := rds.PostgresBinDir(); err != nil {
		testenv.Missing(t, "%v", err)
	}
	ctx := context.Background()
	dir := t.TempDir()
	failed := make(chan string, 1)
	m, vs := newServers(t, rds.ServersOptions{Dir: filepath.Join(dir, "pg"), Interval: 100 * time.Millisecond,
		Failed: func(name, msg string) { failed <- msg }})
	tgt, err := m.Create(ctx, rds.ServerSpec{Name: "db-one", Major: vs[0].Major, Class: "db.t3.micro", Owner: "app", Password: "app-secret-1", DBName: "appdb"})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "pg", "db-one", "data"))
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("data directory: %v %v", fi.Mode(), err)
	}
	if out, err := testenv.Psql(t, tgt.Host, tgt.Port, "app", "app-secret-1", "appdb", `CREATE TABLE t (x int); INSERT INTO t VALUES (1); SELECT count(*) FROM t`); err != nil || out != "1" {
		t.Fatalf("psql: %v: %s", err, out)
	}
	pid := m.PIDs("db-one")[0]
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := testenv.Psql(t, tgt.Host, tgt.Port, "app", "app-secret-1", "appdb", `SELECT count(*) FROM t`)
		if err == nil && out == "1" && m.PIDs("db-one")[0] != pid {
			break
		}
		select {
		case msg := <-failed:
			t.Fatalf("restart failed: %s", msg)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the killed server was not restarted: %v: %s", err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := m.Remove(ctx, "db-one"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "pg", "db-one")); !os.IsNotExist(err) {
		t.Errorf("removed server's directory: %v", err)
	}
}

// newServers supervises servers until the test ends and lists the
// installed versions.
func newServers(t *testing.T, o rds.ServersOptions) (*rds.Servers, []rds.Version) {
	t.Helper()
	m, err := rds.NewServers(o)
	if err != nil {
		t.Fatal(err)
	}
	go m.Run()
	t.Cleanup(func() { m.Close() })
	vs, err := m.Versions()
	if err != nil {
		t.Fatal(err)
	}
	return m, vs
}
