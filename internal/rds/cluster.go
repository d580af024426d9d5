package rds

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver

	"github.com/coffer-dev/coffer/internal/pgaccount"
	"github.com/coffer-dev/coffer/internal/rootkey"
)

// The embedded PostgreSQL cluster of a region lives in
// DATA-DIR/postgres/REGION:
//
//	data/                   PGDATA (initdb), owned by the user PostgreSQL runs as
//	run/                    the Unix socket directory
//	log/postgresql.log      the server's log (pg_ctl -l)
//	admin-password.sealed   the administrator's password, sealed by the root key
//	                        with the additional data "rds/embedded-postgres/" + Dir
//
// Its port is chosen free on initialisation and recorded in
// data/postgresql.conf (port = N), with listen_addresses = '127.0.0.1';
// a later start keeps it unless another process took it meanwhile.

// adminRole is the embedded cluster's superuser.
const adminRole = "coffer_admin"

// ClusterOptions configure an embedded cluster.
type ClusterOptions struct {
	Dir     string
	RootKey rootkey.Provider
	Log     *slog.Logger
	// BinDir holds initdb, pg_ctl and postgres; empty: found as
	// PostgresBinDir does.
	BinDir string
}

// Cluster is a PostgreSQL cluster coffer initialises and runs itself.
type Cluster struct {
	opts     ClusterOptions
	log      *slog.Logger
	cred     *syscall.Credential // the postgres user when coffer runs as root
	port     int
	password string
	started  bool // started by us (stop it on Close)
}

// NewCluster returns a cluster; Start initialises and starts it.
func NewCluster(o ClusterOptions) *Cluster {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Cluster{opts: o, log: o.Log}
}

// PostgresBinDir finds the directory holding initdb and pg_ctl: on the
// PATH, or Debian's /usr/lib/postgresql/VERSION/bin (newest first).
func PostgresBinDir() (string, error) {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			if _, err := os.Stat(filepath.Join(filepath.Dir(real), "initdb")); err == nil {
				return filepath.Dir(real), nil
			}
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	major := func(d string) int { v, _ := strconv.Atoi(filepath.Base(filepath.Dir(d))); return v }
	sort.Slice(dirs, func(i, j int) bool { return major(dirs[i]) > major(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("%w: no PostgreSQL server configured for this region and PostgreSQL's binaries (initdb, pg_ctl) are not installed; install them (apt-get install postgresql) or set rds.postgres for the region in coffer's config", ErrNoHost)
}

func (c *Cluster) dataDir() string { return filepath.Join(c.opts.Dir, "data") }
func (c *Cluster) runDir() string  { return filepath.Join(c.opts.Dir, "run") }
func (c *Cluster) logFile() string { return filepath.Join(c.opts.Dir, "log", "postgresql.log") }
func (c *Cluster) pwFile() string  { return filepath.Join(c.opts.Dir, "admin-password.sealed") }
func (c *Cluster) aad() []byte     { return []byte("rds/embedded-postgres/" + c.opts.Dir) }

// Port is the port the cluster listens on.
func (c *Cluster) Port() int { return c.port }

// DSN is the administrator's connection URL. It holds the password:
// never log it.
func (c *Cluster) DSN() string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(adminRole, c.password), Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)), Path: "/postgres", RawQuery: "sslmode=disable"}
	return u.String()
}

// Start initialises the cluster on first use and starts it, or adopts a
// server a previous coffer left running in the same directory.
func (c *Cluster) Start(ctx context.Context) error {
	if c.opts.BinDir == "" {
		bin, err := PostgresBinDir()
		if err != nil {
			return err
		}
		c.opts.BinDir = bin
	}
	var err error
	if c.cred, err = pgaccount.Credential(); err != nil {
		return fmt.Errorf("%w: the embedded PostgreSQL: %v", ErrNoHost, err)
	}
	if err := os.MkdirAll(c.opts.Dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", c.opts.Dir, err)
	}
	if c.cred != nil {
		// The server's user must reach PGDATA: search (not read) rights
		// on the way there, through the group.
		if err := searchableBy(c.opts.Dir, c.cred); err != nil {
			return err
		}
	}
	for _, d := range []string{c.runDir(), filepath.Dir(c.logFile())} {
		if err := c.mkdirOwned(d); err != nil {
			return err
		}
	}
	if _, err := os.Stat(filepath.Join(c.dataDir(), "PG_VERSION")); errors.Is(err, fs.ErrNotExist) {
		if err := c.initdb(ctx); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	if err := c.loadPassword(ctx); err != nil {
		return err
	}
	if c.port, err = readPort(filepath.Join(c.dataDir(), "postgresql.conf")); err != nil {
		return err
	}
	if c.running() {
		c.log.Info("adopting the embedded PostgreSQL left running", "dir", c.opts.Dir, "port", c.port)
		return c.waitReady(ctx)
	}
	if !portFree(c.port) {
		// Someone took our port while we were down: move.
		p, err := freePort()
		if err != nil {
			return err
		}
		if err := appendConf(filepath.Join(c.dataDir(), "postgresql.conf"), fmt.Sprintf("port = %d\n", p)); err != nil {
			return err
		}
		c.log.Warn("embedded PostgreSQL port taken; moving", "old_port", c.port, "port", p)
		c.port = p
	}
	if out, err := c.run(ctx, "pg_ctl", "-D", c.dataDir(), "-l", c.logFile(), "-w", "-t", "60", "start"); err != nil {
		return fmt.Errorf("%w: start the embedded PostgreSQL in %s: %v: %s (see %s)", ErrNoHost, c.opts.Dir, err, lastLine(out), c.logFile())
	}
	c.started = true
	c.log.Info("embedded PostgreSQL started", "dir", c.opts.Dir, "port", c.port)
	return c.waitReady(ctx)
}

func (c *Cluster) initdb(ctx context.Context) error {
	c.password = rand.Text()
	if err := c.mkdirOwned(c.dataDir()); err != nil {
		return err
	}
	sealed, err := c.opts.RootKey.Seal(ctx, []byte(c.password), c.aad())
	if err != nil {
		return fmt.Errorf("seal the embedded PostgreSQL password: %w", err)
	}
	// initdb reads the password from a file its user can read; it lives
	// only while initdb runs.
	pw := filepath.Join(c.runDir(), ".pwfile")
	if err := os.WriteFile(pw, []byte(c.password+"\n"), 0o600); err != nil {
		return err
	}
	defer os.Remove(pw)
	if c.cred != nil {
		if err := os.Chown(pw, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
			return err
		}
	}
	out, err := c.run(ctx, "initdb", "-D", c.dataDir(), "-U", adminRole, "--pwfile", pw,
		"--auth-local=scram-sha-256", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C")
	if err != nil {
		os.RemoveAll(c.dataDir())
		return fmt.Errorf("%w: initdb of the embedded PostgreSQL in %s: %v: %s", ErrNoHost, c.dataDir(), err, lastLine(out))
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	conf := fmt.Sprintf("\n# Written by coffer.\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '%s'\nport = %d\n", c.runDir(), port)
	if err := appendConf(filepath.Join(c.dataDir(), "postgresql.conf"), conf); err != nil {
		return err
	}
	if err := writeFileSync(c.pwFile(), sealed); err != nil {
		return fmt.Errorf("record the embedded PostgreSQL password: %w", err)
	}
	c.log.Info("embedded PostgreSQL initialised", "dir", c.opts.Dir, "port", port)
	return nil
}

func (c *Cluster) loadPassword(ctx context.Context) error {
	sealed, err := os.ReadFile(c.pwFile())
	if err != nil {
		return fmt.Errorf("%w: the embedded PostgreSQL in %s has no recorded password (%v); move the directory away to start afresh", ErrNoHost, c.opts.Dir, err)
	}
	pw, err := c.opts.RootKey.Open(ctx, sealed, c.aad())
	if err != nil {
		return fmt.Errorf("open the embedded PostgreSQL password (is this the root key the data directory was created with?): %w", err)
	}
	c.password = string(pw)
	return nil
}

// running reports whether a server runs on the data directory.
func (c *Cluster) running() bool {
	_, err := c.run(context.Background(), "pg_ctl", "-D", c.dataDir(), "status")
	return err == nil
}

func (c *Cluster) waitReady(ctx context.Context) error {
	db, err := sql.Open("pgx", c.DSN())
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		if err = db.PingContext(ctx); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: the embedded PostgreSQL on port %d does not accept connections: %v", ErrNoHost, c.port, redactErr(err, c.password))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Stop stops a server this Cluster started (fast shutdown: sessions are
// disconnected, transactions rolled back).
func (c *Cluster) Stop() error {
	if !c.started {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if out, err := c.run(ctx, "pg_ctl", "-D", c.dataDir(), "-m", "fast", "-w", "-t", "55", "stop"); err != nil {
		return fmt.Errorf("%v: %s", err, lastLine(out))
	}
	c.started = false
	c.log.Info("embedded PostgreSQL stopped", "dir", c.opts.Dir)
	return nil
}

func (c *Cluster) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	return runAs(ctx, c.cred, c.opts.BinDir, name, args...)
}

func (c *Cluster) mkdirOwned(dir string) error { return mkdirOwned(dir, c.cred) }

// runAs runs a PostgreSQL program as the user (nil: coffer's own) in its
// own session: a terminal's ^C reaches coffer, which stops the servers in
// order, and a server outlives a coffer killed hard.
func runAs(ctx context.Context, cred *syscall.Credential, binDir, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, name), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setsid: true}
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.Dir = "/"
	return cmd.CombinedOutput()
}

// mkdirOwned makes a 0700 directory owned by the user (nil: coffer's
// own).
func mkdirOwned(dir string, cred *syscall.Credential) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return err
	}
	if cred != nil {
		return os.Chown(dir, int(cred.Uid), int(cred.Gid))
	}
	return nil
}

// searchableBy makes dir and its ancestors searchable by the user: a
// directory the user can search already (as owner, group or other) is
// left alone; else its group becomes the user's group with search (x)
// but not read rights, so nobody else gains anything.
func searchableBy(dir string, cred *syscall.Credential) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		mode := fi.Mode().Perm()
		ok := mode&0o001 != 0 ||
			(st.Uid == cred.Uid && mode&0o100 != 0) ||
			(st.Gid == cred.Gid && mode&0o010 != 0)
		if !ok {
			if err := os.Chown(d, -1, int(cred.Gid)); err != nil {
				return fmt.Errorf("let the postgres user reach %s: %w", dir, err)
			}
			if err := os.Chmod(d, mode|0o010); err != nil {
				return fmt.Errorf("let the postgres user reach %s: %w", dir, err)
			}
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// readPort reads the last "port = N" of postgresql.conf.
func readPort(conf string) (int, error) {
	f, err := os.Open(conf)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	port := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.TrimSpace(k) != "port" {
			continue
		}
		v = strings.TrimSpace(v)
		if i := strings.IndexByte(v, '#'); i >= 0 {
			v = strings.TrimSpace(v[:i])
		}
		if p, err := strconv.Atoi(v); err == nil {
			port = p
		}
	}
	if port == 0 {
		return 0, fmt.Errorf("%s records no port", conf)
	}
	return port, sc.Err()
}

func appendConf(path, text string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func writeFileSync(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func portFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

func lastLine(out []byte) string {
	s := strings.TrimSpace(string(out))
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}
