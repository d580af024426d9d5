package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/coffer-dev/coffer/internal/pgaccount"
	"github.com/coffer-dev/coffer/internal/pgserver"
)

// PostgresServer is a throwaway PostgreSQL cluster on a loopback port
// (pgserver.Server), stopped and removed when the test ends.
type PostgresServer struct{ *pgserver.Server }

// CreateDatabase creates a fresh database and returns its DSN.
func (s *PostgresServer) CreateDatabase(t testing.TB, name string) string {
	t.Helper()
	dsn, err := s.Server.CreateDatabase(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return dsn
}

// PostgresBinDir finds the directory holding initdb and pg_ctl, as coffer's
// embedded RDS clusters do (rds.PostgresBinDir).
func PostgresBinDir() (string, error) { return pgserver.BinDir() }

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
	if _, err := PostgresBinDir(); err != nil {
		Missing(t, "%v", err)
	}
	s, err := pgserver.Start(settings...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return &PostgresServer{s}
}

// StartPostgresDir starts a server on an existing data directory (a
// restored backup of like's cluster, owned by PostgresOwner) on a free
// port, with like's user and password; it is stopped when the test ends
// (the directory stays the caller's). pg_ctl returns once the server
// accepts connections, which may be before recovery ends.
func StartPostgresDir(t testing.TB, dataDir string, like *PostgresServer) *PostgresServer {
	t.Helper()
	s, err := pgserver.StartDir(dataDir, like.Server)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return &PostgresServer{s}
}

// Stop stops the server (fast shutdown: connections are cut), for tests
// of a database outage; Start starts it again on the same port.
func (s *PostgresServer) Stop(t testing.TB) {
	t.Helper()
	if err := s.Server.Stop(); err != nil {
		t.Fatal(err)
	}
}

// Start starts a server Stop stopped.
func (s *PostgresServer) Start(t testing.TB) {
	t.Helper()
	if err := s.Server.Restart(); err != nil {
		t.Fatal(err)
	}
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
