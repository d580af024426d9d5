package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/coffer-dev/coffer/internal/demo"
	"github.com/coffer-dev/coffer/internal/scenario"
	"github.com/coffer-dev/coffer/internal/testenv"
)

// TestKillBringsInstancesBack: coffer killed with SIGKILL and restarted
// brings every instance back — one whose server survived (adopted) and
// one whose server was killed too (started again) — with its data, on
// its port.
func TestKillBringsInstancesBack(t *testing.T) {
	if _, err := testenv.PostgresBinDir(); err != nil {
		testenv.Missing(t, "%v", err)
	}
	ctx := context.Background()
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "bootstrap.yaml"), []byte(demo.Bootstrap), 0o600); err != nil {
		t.Fatal(err)
	}
	f := &faultEnv{t: t, dataDir: filepath.Join(root, "data")}
	f.start()
	src := f.account("111222333444", "source")
	var dbs []*scenario.DB
	for i, id := range []string{"kept", "killed"} {
		db, err := src.CreateDB(ctx, scenario.DBSpec{ID: id, Engine: "postgres", DBName: "app", User: "app", Password: fmt.Sprintf("app-secret-%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		conn, err := db.Open()
		if err != nil {
			t.Fatal(err)
		}
		if err := scenario.FillOrders(conn, 100*(i+1)); err != nil {
			t.Fatal(err)
		}
		conn.Close()
		dbs = append(dbs, db)
	}
	f.kill()
	// The second server dies with coffer.
	pid := serverPID(t, f.dataDir, dbs[1].Port)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	f.start()
	src = f.account("111222333444", "source")
	for i, want := range dbs {
		db, err := src.WaitDB(ctx, want.ID)
		if err != nil {
			t.Fatal(err)
		}
		if db.Port != want.Port {
			t.Errorf("%s moved from port %d to %d", want.ID, want.Port, db.Port)
		}
		db.Password = want.Password
		conn, err := db.Open()
		if err != nil {
			t.Fatal(err)
		}
		n, _, err := scenario.CountOrders(conn)
		conn.Close()
		if err != nil || n != int64(100*(i+1)) {
			t.Errorf("%s after the restart: %d rows (%v)", want.ID, n, err)
		}
	}
	f.p.stop(t)
}

// serverPID finds the postmaster of the instance server listening on a
// port, from the postmaster.pid files under DATA-DIR/pg.
func serverPID(t *testing.T, dataDir string, port int32) int {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dataDir, "pg", "db-*", "data", "postmaster.pid"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		lines := strings.Split(string(b), "\n")
		if len(lines) > 3 && strings.TrimSpace(lines[3]) == strconv.Itoa(int(port)) {
			pid, err := strconv.Atoi(strings.TrimSpace(lines[0]))
			if err == nil {
				return pid
			}
		}
	}
	t.Fatalf("no server listens on port %d", port)
	return 0
}
