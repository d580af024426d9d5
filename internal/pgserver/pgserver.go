// Package pgserver runs a throwaway PostgreSQL cluster on loopback, for
// the tests (through internal/testenv) and for `coffer bench cluster`: an
// initdb in a new temporary directory, a free port, fsync off, stopped
// and removed by Close. When we run as root the server runs as the
// postgres user, since PostgreSQL refuses to run as root.
//
// Files, in the directory Start makes (owned by the server's account):
//
//	data/   PGDATA (initdb -U coffer, scram-sha-256 over TCP, trust locally)
//	pwfile  the superuser's password, for initdb
//	log     the server's log (pg_ctl -l)
//	.s.PGSQL.PORT  the Unix socket
package pgserver

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver

	"github.com/coffer-dev/coffer/internal/pgaccount"
	"github.com/coffer-dev/coffer/internal/rds"
)

// Server is a throwaway PostgreSQL cluster on a loopback port.
type Server struct {
	BinDir   string
	Host     string
	Port     int
	User     string
	Password string
	dataDir  string
	dir      string // socket, log and password file
	cred     *syscall.Credential
	settings []string
}

// BinDir finds the directory holding initdb and pg_ctl, as coffer's
// embedded RDS servers do (rds.PostgresBinDir).
func BinDir() (string, error) { return rds.PostgresBinDir() }

// Start initialises a cluster in a new temporary directory and starts it
// on a free port, with the given server settings ("name=value", each
// passed as -c name=value, e.g. max_slot_wal_keep_size=32MB). Close
// stops it and removes the directory.
func Start(settings ...string) (*Server, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	s := &Server{BinDir: bin, Host: "127.0.0.1", User: "coffer", Password: "coffer-test-password", settings: settings}
	if err := s.makeDir(); err != nil {
		return nil, err
	}
	s.dataDir = filepath.Join(s.dir, "data")
	pwfile := filepath.Join(s.dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(s.Password+"\n"), 0o600); err != nil {
		s.Close()
		return nil, err
	}
	if s.cred != nil {
		if err := os.Chown(pwfile, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			s.Close()
			return nil, err
		}
	}
	cmd := exec.Command(filepath.Join(bin, "initdb"), "-D", s.dataDir, "-U", s.User, "--pwfile", pwfile, "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if out, err := cmd.CombinedOutput(); err != nil {
		s.Close()
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	if err := s.startFree(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// StartDir starts a server on an existing data directory (a restored
// backup of like's cluster, owned by the server's account) on a free
// port, with like's user and password. Close stops it and removes its
// socket and log; the data directory stays the caller's. pg_ctl returns
// once the server accepts connections, which may be before recovery ends.
func StartDir(dataDir string, like *Server) (*Server, error) {
	s := &Server{BinDir: like.BinDir, Host: like.Host, User: like.User, Password: like.Password, dataDir: dataDir}
	if err := s.makeDir(); err != nil {
		return nil, err
	}
	if err := s.startFree(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// makeDir makes the server's temporary directory, owned by the account
// it runs as.
func (s *Server) makeDir() error {
	dir, err := os.MkdirTemp("", "coffer-pg-")
	if err != nil {
		return err
	}
	s.dir = dir
	if s.cred, err = pgaccount.Credential(); err != nil {
		os.RemoveAll(dir)
		return err
	}
	if s.cred != nil {
		if err := os.Chown(dir, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			os.RemoveAll(dir)
			return err
		}
	}
	return nil
}

// DSN is a URL for the named database as the superuser.
func (s *Server) DSN(database string) string {
	return fmt.Sprintf("postgres://%s:%s@%s:%d/%s?sslmode=disable", s.User, s.Password, s.Host, s.Port, database)
}

// DataDir is the server's data directory.
func (s *Server) DataDir() string { return s.dataDir }

// CreateDatabase creates a fresh database and returns its DSN.
func (s *Server) CreateDatabase(ctx context.Context, name string) (string, error) {
	db, err := sql.Open("pgx", s.DSN("postgres"))
	if err != nil {
		return "", err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE DATABASE "`+name+`"`); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	return s.DSN(name), nil
}

// pgCtl runs pg_ctl as the cluster's account on s.dataDir.
func (s *Server) pgCtl(args ...string) error {
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c synchronous_commit=off", s.Port, s.dir)
	for _, kv := range s.settings {
		opts += " -c " + kv
	}
	log := filepath.Join(s.dir, "log")
	cmd := exec.Command(filepath.Join(s.BinDir, "pg_ctl"), append([]string{"-D", s.dataDir, "-o", opts, "-l", log}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if out, err := cmd.CombinedOutput(); err != nil {
		logText, _ := os.ReadFile(log)
		return fmt.Errorf("pg_ctl %s: %v\n%s\n%s", strings.Join(args, " "), err, out, logText)
	}
	return nil
}

// startFree starts the server on a free port and waits until it accepts
// connections.
func (s *Server) startFree() error {
	// A free port may be taken by another server before ours binds it:
	// then another port.
	for attempt := 1; ; attempt++ {
		var err error
		if s.Port, err = freePort(); err != nil {
			return err
		}
		err = s.pgCtl("-w", "-t", "60", "start")
		if err == nil {
			break
		}
		if attempt == 5 || !strings.Contains(err.Error(), "Address already in use") {
			return err
		}
		os.Remove(filepath.Join(s.dir, "log"))
	}
	db, err := sql.Open("pgx", s.DSN("postgres"))
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		if err = db.PingContext(ctx); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("postgres did not accept connections: %w", err)
}

// Stop stops the server (fast shutdown: connections are cut), for tests
// of a database outage; Restart starts it again on the same port.
func (s *Server) Stop() error { return s.pgCtl("-m", "fast", "-w", "stop") }

// Restart starts a server Stop stopped.
func (s *Server) Restart() error { return s.pgCtl("-w", "-t", "60", "start") }

// Close stops the server at once and removes its directory.
func (s *Server) Close() {
	if s.dataDir != "" {
		cmd := exec.Command(filepath.Join(s.BinDir, "pg_ctl"), "-D", s.dataDir, "-m", "immediate", "-w", "stop")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
		cmd.Run() // not running is fine: Close is for every state
	}
	os.RemoveAll(s.dir)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
