package testenv

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/coffer-dev/coffer/internal/pgaccount"
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
	settings []string
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
	return StartPostgresWith(t)
}

// StartPostgresWith is StartPostgres with server settings ("name=value",
// each passed as -c name=value), e.g. max_slot_wal_keep_size=32MB.
func StartPostgresWith(t testing.TB, settings ...string) *PostgresServer {
	t.Helper()
	bin, err := PostgresBinDir()
	if err != nil {
		Missing(t, "%v", err)
	}
	dir, cred := serverDir(t)
	s := &PostgresServer{BinDir: bin, Host: "127.0.0.1", Port: FreePort(t), User: "coffer", Password: "coffer-test-password", dataDir: filepath.Join(dir, "data"), settings: settings}
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
	s.start(t, dir, cred)
	return s
}

// StartPostgresDir starts a server on an existing data directory (a
// restored backup of like's cluster, owned by PostgresOwner) on a free
// port, with like's user and password; it is stopped when the test ends
// (the directory stays the caller's). pg_ctl returns once the server
// accepts connections, which may be before recovery ends.
func StartPostgresDir(t testing.TB, dataDir string, like *PostgresServer) *PostgresServer {
	t.Helper()
	dir, cred := serverDir(t)
	s := &PostgresServer{BinDir: like.BinDir, Host: like.Host, Port: FreePort(t), User: like.User, Password: like.Password, dataDir: dataDir}
	s.start(t, dir, cred)
	return s
}

// DataDir is the server's data directory.
func (s *PostgresServer) DataDir() string { return s.dataDir }

// start runs the server on s.dataDir with its socket and log in dir and
// waits until it accepts connections.
func (s *PostgresServer) start(t testing.TB, dir string, cred *syscall.Credential) {
	t.Helper()
	s.pgCtl = func(args ...string) error {
		opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c synchronous_commit=off", s.Port, dir)
		for _, kv := range s.settings {
			opts += " -c " + kv
		}
		cmd := exec.Command(filepath.Join(s.BinDir, "pg_ctl"), append([]string{"-D", s.dataDir, "-o", opts, "-l", filepath.Join(dir, "log")}, args...)...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		cmd.Env = append(os.Environ(), "LC_ALL=C")
		if out, err := cmd.CombinedOutput(); err != nil {
			log, _ := os.ReadFile(filepath.Join(dir, "log"))
			return fmt.Errorf("pg_ctl %s: %v\n%s\n%s", strings.Join(args, " "), err, out, log)
		}
		return nil
	}
	// FreePort's port may be taken by another test's server before ours
	// binds it: then another port.
	for attempt := 1; ; attempt++ {
		err := s.pgCtl("-w", "-t", "60", "start")
		if err == nil {
			break
		}
		if attempt == 5 || !strings.Contains(err.Error(), "Address already in use") {
			t.Fatal(err)
		}
		os.Remove(filepath.Join(dir, "log"))
		s.Port = FreePort(t)
	}
	t.Cleanup(func() {
		cmd := exec.Command(filepath.Join(s.BinDir, "pg_ctl"), "-D", s.dataDir, "-m", "immediate", "-w", "stop")
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
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("postgres did not accept connections: %v", err)
}

// serverDir makes a temporary directory for a server's socket, log and
// files, removed when the test ends, owned by the account the server
// runs as (returned).
func serverDir(t testing.TB) (string, *syscall.Credential) {
	t.Helper()
	dir, err := os.MkdirTemp("", "coffer-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	cred, err := postgresCredential(dir)
	if err != nil {
		t.Fatal(err)
	}
	return dir, cred
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
	cred, err := PostgresOwner()
	if cred == nil || err != nil {
		return cred, err
	}
	return cred, os.Chown(dir, int(cred.Uid), int(cred.Gid))
}

// PostgresOwner is the account test clusters run as: the postgres user
// when the test runs as root, nil (ourselves) otherwise.
func PostgresOwner() (*syscall.Credential, error) { return pgaccount.Credential() }

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

// Psql runs statements through psql over TCP (quiet, unaligned, tuples
// only, stopping at the first error), the password in the environment,
// and returns the trimmed output.
func Psql(t testing.TB, host string, port int, user, password, database, stmt string) (string, error) {
	t.Helper()
	bin := "psql"
	if dir, err := PostgresBinDir(); err == nil {
		bin = filepath.Join(dir, "psql")
	}
	cmd := exec.Command(bin, "-h", host, "-p", strconv.Itoa(port), "-U", user, "-d", database, "-v", "ON_ERROR_STOP=1", "-qAtc", stmt)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+password, "PGCONNECT_TIMEOUT=10")
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// ParentPID is the parent of a process (a backend's postmaster), read
// from /proc.
func ParentPID(t testing.TB, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	// "PID (comm) STATE PPID ...": comm may hold spaces and parentheses.
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		t.Fatal(err)
	}
	return ppid
}
