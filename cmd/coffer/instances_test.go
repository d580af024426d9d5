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
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/backup"
	backuptypes "github.com/aws/aws-sdk-go-v2/service/backup/types"

	"github.com/coffer-dev/coffer/internal/demo"
	"github.com/coffer-dev/coffer/internal/scenario"
	"github.com/coffer-dev/coffer/internal/testenv"
)

// TestKillBringsInstancesBack: coffer killed with SIGKILL and restarted
// brings every instance back — one whose server survived (adopted) and
// one whose server was killed too (started again) — with its data, on
// its port.
func TestKillBringsInstancesBack(t *testing.T) {
	ctx := context.Background()
	f := startWithPostgres(t)
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

// TestServerDiesDuringBackup: a backup job whose instance's server dies
// under it (SIGKILL while the base backup streams) ends FAILED
// with a message and leaves no recovery point; coffer restarts the
// server and the instance is available with its rows.
func TestServerDiesDuringBackup(t *testing.T) {
	ctx := context.Background()
	f := startWithPostgres(t)
	src := f.account("111222333444", "source")
	db, err := src.CreateDB(ctx, scenario.DBSpec{ID: "busy", Engine: "postgres", DBName: "app", User: "app", Password: "app-secret-1"})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := db.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := scenario.FillOrders(conn, 100); err != nil {
		t.Fatal(err)
	}
	role, err := src.BackupRole(ctx, "backup-role")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Vault(ctx, "vault", ""); err != nil {
		t.Fatal(err)
	}
	// Enough data that the physical backup streams for a while: the
	// server dies while its walsender sends the base backup.
	if _, err := conn.Exec(`CREATE TABLE ballast AS SELECT g AS id, md5(g::text) || md5((g+1)::text) AS pad FROM generate_series(1, 1500000) g`); err != nil {
		t.Fatal(err)
	}
	job, err := src.Backup.StartBackupJob(ctx, &backup.StartBackupJobInput{BackupVaultName: aws.String("vault"), ResourceArn: aws.String(db.ARN), IamRoleArn: aws.String(role)})
	if err != nil {
		t.Fatal(err)
	}
	var backend int
	if err := conn.QueryRow(`SELECT pg_backend_pid()`).Scan(&backend); err != nil {
		t.Fatal(err)
	}
	postmaster := testenv.ParentPID(t, backend)
	deadline := time.Now().Add(time.Minute)
	for !hasWalsender(postmaster) {
		if time.Now().After(deadline) {
			st, _ := src.Backup.DescribeBackupJob(ctx, &backup.DescribeBackupJobInput{BackupJobId: job.BackupJobId})
			t.Fatalf("the backup never started streaming (job %s %s)", st.State, aws.ToString(st.StatusMessage))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := syscall.Kill(postmaster, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var out *backup.DescribeBackupJobOutput
	for {
		if out, err = src.Backup.DescribeBackupJob(ctx, &backup.DescribeBackupJobInput{BackupJobId: job.BackupJobId}); err != nil {
			t.Fatal(err)
		}
		if out.State == backuptypes.BackupJobStateCompleted || out.State == backuptypes.BackupJobStateFailed || time.Now().After(deadline.Add(time.Minute)) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if out.State != backuptypes.BackupJobStateFailed || aws.ToString(out.StatusMessage) == "" {
		t.Errorf("backup job %s (%s), want FAILED with a message", out.State, aws.ToString(out.StatusMessage))
	}
	rps, err := src.Backup.ListRecoveryPointsByBackupVault(ctx, &backup.ListRecoveryPointsByBackupVaultInput{BackupVaultName: aws.String("vault")})
	if err != nil {
		t.Fatal(err)
	}
	if len(rps.RecoveryPoints) != 0 {
		t.Errorf("the failed backup left %d recovery points", len(rps.RecoveryPoints))
	}
	back, err := src.WaitDB(ctx, "busy")
	if err != nil {
		t.Fatal(err)
	}
	back.Password = "app-secret-1"
	again, err := back.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	var n int64
	for {
		if n, _, err = scenario.CountOrders(again); err == nil || time.Now().After(deadline.Add(2*time.Minute)) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil || n != 100 {
		t.Errorf("after the restart: %d rows (%v)", n, err)
	}
	f.p.stop(t)
}

// startWithPostgres starts coffer serve on a fresh data directory with
// the demo's accounts, for tests of PostgreSQL instances.
func startWithPostgres(t *testing.T) *faultEnv {
	t.Helper()
	if _, err := testenv.PostgresBinDir(); err != nil {
		testenv.Missing(t, "%v", err)
	}
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "bootstrap.yaml"), []byte(demo.Bootstrap), 0o600); err != nil {
		t.Fatal(err)
	}
	f := &faultEnv{t: t, dataDir: filepath.Join(root, "data")}
	f.start()
	return f
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

// hasWalsender reports whether the PostgreSQL server whose postmaster is
// pid runs a walsender (a base backup streaming).
func hasWalsender(postmaster int) bool {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		cmd, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(cmd), "walsender") {
			continue
		}
		stat, err := os.ReadFile(filepath.Join(filepath.Dir(p), "stat"))
		if err != nil {
			continue
		}
		s := string(stat)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(postmaster) {
			return true
		}
	}
	return false
}
