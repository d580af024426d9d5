package testenv

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/coffer-dev/coffer/internal/rds"
)

// PostgresServer is a throwaway PostgreSQL cluster on a loopback port.
type PostgresServer struct {
	BinDir   string
	Host     string
	Port     int
	User     string
	Password string
	dataDir  string
	// pgCtl runs pg_ctl as the cluster's user.
	pgCtl func(args ...string) error
}

// DSN is a URL for the named database as the superuser.
func (s *PostgresServer) DSN(database string) string {
	return fmt.Sprintf("postgres://%s:%s@%s:%d/%s?sslmode=disable", s.User, s.Password, s.Host, s.Port, database)
}

// CreateDatabase creates a fresh database and returns its DSN.
func (s *PostgresServer) CreateDatabase(t testing.TB, name string) string {
	t.Helper()
	db, err := sql.Open("pgx", s.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE DATABASE "` + name + `"`); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	return s.DSN(name)
}

// PostgresBinDir finds the directory holding initdb and pg_ctl, as coffer's
// embedded RDS clusters do (rds.PostgresBinDir).
func PostgresBinDir() (string, error) { return rds.PostgresBinDir() }

// StartPostgres initialises a cluster in a temporary directory and starts
// it on a free port; it is stopped and removed when the test ends. When
// the test runs as root the cluster runs as the postgres user, since
// PostgreSQL refuses to run as root.
func StartPostgres(t testing.TB) *PostgresServer {
	t.Helper()
	bin, err := PostgresBinDir()
	if err != nil {
		Missing(t, "%v", err)
	}
	dir, err := os.MkdirTemp("", "coffer-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	cred, err := postgresCredential(dir)
	if err != nil {
		t.Fatal(err)
	}
	s := &PostgresServer{BinDir: bin, Host: "127.0.0.1", Port: FreePort(t), User: "coffer", Password: "coffer-test-password", dataDir: filepath.Join(dir, "data")}
	pwfile := filepath.Join(dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(s.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if cred != nil {
		os.Chown(pwfile, int(cred.Uid), int(cred.Gid))
	}
	run := func(name string, args ...string) {
		t.Helper()
		cmd := exec.Command(filepath.Join(bin, name), args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		cmd.Env = append(os.Environ(), "LC_ALL=C")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
	}
	run("initdb", "-D", s.dataDir, "-U", s.User, "--pwfile", pwfile, "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync")
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c synchronous_commit=off", s.Port, dir)
	s.pgCtl = func(args ...string) error {
		cmd := exec.Command(filepath.Join(bin, "pg_ctl"), append([]string{"-D", s.dataDir, "-o", opts, "-l", filepath.Join(dir, "log")}, args...)...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("pg_ctl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	run("pg_ctl", "-D", s.dataDir, "-o", opts, "-l", filepath.Join(dir, "log"), "-w", "-t", "60", "start")
	t.Cleanup(func() {
		cmd := exec.Command(filepath.Join(bin, "pg_ctl"), "-D", s.dataDir, "-m", "immediate", "-w", "stop")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		cmd.Run()
	})
	db, err := sql.Open("pgx", s.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		if err = db.PingContext(ctx); err == nil {
			return s
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("postgres did not accept connections: %v", err)
	return nil
}

// Stop stops the server (fast shutdown: connections are cut), for tests
// of a database outage; Start starts it again on the same port.
func (s *PostgresServer) Stop(t testing.TB) {
	t.Helper()
	if err := s.pgCtl("-m", "fast", "-w", "stop"); err != nil {
		t.Fatal(err)
	}
}

// Start starts a server Stop stopped.
func (s *PostgresServer) Start(t testing.TB) {
	t.Helper()
	if err := s.pgCtl("-w", "-t", "60", "start"); err != nil {
		t.Fatal(err)
	}
}

// postgresCredential returns the credential to run PostgreSQL under (the
// postgres user when we are root, else nil) and hands dir to it.
func postgresCredential(dir string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root and there is no postgres user to run PostgreSQL as: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
