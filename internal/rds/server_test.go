package rds_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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
	pid := m.PostmasterPID("db-one")
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := testenv.Psql(t, tgt.Host, tgt.Port, "app", "app-secret-1", "appdb", `SELECT count(*) FROM t`)
		if err == nil && out == "1" && m.PostmasterPID("db-one") != pid {
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

// TestServerFromBaseBackup: coffer's administrator takes a base backup
// over the replication protocol on the server's Unix socket, and a new
// server is made from that data directory with a new password for the
// master user; the rows are there and the old password no longer opens
// the new server.
func TestServerFromBaseBackup(t *testing.T) {
	bin, err := rds.PostgresBinDir()
	if err != nil {
		testenv.Missing(t, "%v", err)
	}
	ctx := context.Background()
	m, vs := newServers(t, rds.ServersOptions{Dir: filepath.Join(t.TempDir(), "pg")})
	spec := rds.ServerSpec{Name: "db-src", Major: vs[0].Major, Class: "db.t3.micro", Owner: "app", Password: "app-secret-1", DBName: "appdb"}
	src, err := m.Create(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := testenv.Psql(t, src.Host, src.Port, "app", "app-secret-1", "appdb", `CREATE TABLE t AS SELECT g AS x FROM generate_series(1, 1000) g; SELECT sum(x) FROM t`); err != nil || out != "500500" {
		t.Fatalf("psql: %v: %s", err, out)
	}
	admin, err := m.AdminTarget("db-src", "postgres")
	if err != nil {
		t.Fatal(err)
	}
	dir, err := m.IncomingDir()
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	out, err := exec.Command(filepath.Join(bin, "pg_basebackup"), "-h", admin.Host, "-p", strconv.Itoa(admin.Port), "-U", admin.User, "-D", data, "-X", "stream", "-c", "fast").CombinedOutput()
	if err != nil {
		t.Fatalf("pg_basebackup over the admin socket: %v: %s", err, out)
	}
	spec.Name, spec.Password = "db-copy", "copy-secret-2"
	cp, err := m.CreateFromDataDir(ctx, spec, data)
	os.RemoveAll(dir)
	if err != nil {
		t.Fatal(err)
	}
	if cp.Port == src.Port {
		t.Fatalf("the copy kept the source's port %d", cp.Port)
	}
	if out, err := testenv.Psql(t, cp.Host, cp.Port, "app", "copy-secret-2", "appdb", `SELECT sum(x) FROM t`); err != nil || out != "500500" {
		t.Errorf("the server made from the base backup: %v: %s", err, out)
	}
	if out, err := testenv.Psql(t, cp.Host, cp.Port, "app", "app-secret-1", "appdb", `SELECT 1`); err == nil {
		t.Errorf("the source's password opens the copy: %s", out)
	}
	// pg_basebackup as anyone but coffer's administrator is refused.
	if out, err := exec.Command(filepath.Join(bin, "pg_basebackup"), "-h", src.Host, "-p", strconv.Itoa(src.Port), "-U", "app", "-D", filepath.Join(t.TempDir(), "x"), "-w").CombinedOutput(); err == nil {
		t.Errorf("the master user took a base backup over TCP: %s", out)
	}
}
