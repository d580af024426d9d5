package rds

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coffer-dev/coffer/internal/engine"
	"github.com/coffer-dev/coffer/internal/pgaccount"
)

// Servers runs one PostgreSQL server per DB instance (see doc.go, "One
// server per instance", for the layout on disk). Each server has its own
// data directory, port, roles and Unix socket; coffer reaches it as the
// superuser coffer_admin over that socket only (peer authentication,
// mapped from the operating-system account coffer runs as), users as
// the instance's master user over TCP with scram-sha-256.
type Servers struct {
	opts ServersOptions
	log  *slog.Logger
	cred *syscall.Credential // the postgres user when coffer runs as root
	self string              // the operating-system account coffer runs as

	mu        sync.Mutex
	templates map[string]*sync.Mutex   // major -> lock making its template
	locks     map[string]*sync.Mutex   // server -> lock serialising its operations
	want      map[string]bool          // servers that should be running (supervised)
	reserved  map[int]string           // ports of known servers, running or not
	sparing   map[string]chan struct{} // majors whose spare template copy is being made: closed when done
	spares    sync.WaitGroup           // the goroutines making spare copies

	stop chan struct{}
}

// ServersOptions configure the per-instance servers.
type ServersOptions struct {
	// Dir holds the servers (Dir/NAME) and the templates
	// (Dir/template-MAJOR).
	Dir string
	// ListenAddress is the address servers listen on for users; default
	// 127.0.0.1.
	ListenAddress string
	// Interval is how often the supervisor checks the servers; default 1s.
	Interval time.Duration
	// Failed is called when a server died and could not be restarted.
	Failed func(name, message string)
	Log    *slog.Logger
}

// ServerSpec is a server to create for an instance.
type ServerSpec struct {
	// Name names the server's directory: the instance's DbiResourceId,
	// lower-cased.
	Name string
	// Major is the PostgreSQL major version ("15").
	Major string
	// Port is the port users connect to; 0 chooses a free one.
	Port  int
	Class string // DBInstanceClass: memory settings, see classSettings
	// Owner, Password and DBName are the master user (CREATEDB,
	// CREATEROLE, not SUPERUSER) and the database it owns. Password never
	// reaches a log or a command line: the role gets a SCRAM verifier.
	Owner, Password, DBName string
	// Adopt: the data directory (CreateFromDataDir) is a registered
	// database's server's, which has no coffer administrator; it is
	// created (adopt) connecting as Owner, which must exist there.
	Adopt bool
}

// adminUser is the superuser of every server, reached over the socket.
const adminUser = "coffer_admin"

// spareDB is the empty database of a template that a new server renames
// to the instance's DBName.
const spareDB = "coffer_new_db"

// NewServers returns the manager; call Run to supervise.
func NewServers(o ServersOptions) (*Servers, error) {
	if o.ListenAddress == "" {
		o.ListenAddress = "127.0.0.1"
	}
	if o.Interval == 0 {
		o.Interval = time.Second
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	cred, err := pgaccount.Credential()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoHost, err)
	}
	me, err := user.Current()
	if err != nil {
		return nil, fmt.Errorf("who runs coffer: %w", err)
	}
	return &Servers{opts: o, log: o.Log, cred: cred, self: me.Username,
		templates: map[string]*sync.Mutex{}, locks: map[string]*sync.Mutex{}, want: map[string]bool{}, reserved: map[int]string{},
		sparing: map[string]chan struct{}{}, stop: make(chan struct{})}, nil
}

func (m *Servers) dir(name string) string     { return filepath.Join(m.opts.Dir, name) }
func (m *Servers) dataDir(name string) string { return filepath.Join(m.dir(name), "data") }
func (m *Servers) runDir(name string) string  { return filepath.Join(m.dir(name), "run") }

// maxSocketPath is the longest path a Unix-domain socket may have
// (sun_path is 108 bytes with its NUL); PostgreSQL names its socket
// DIR/.s.PGSQL.PORT.
const maxSocketPath = 107

// socketDir is the directory of a server's Unix-domain socket: its run
// directory, or, when the data directory's path is too long for a socket
// there, a directory in the system's temporary directory named by a hash
// of the run directory (the same at every start).
func (m *Servers) socketDir(name string) string {
	run := m.runDir(name)
	if len(run)+len("/.s.PGSQL.65535") <= maxSocketPath {
		return run
	}
	sum := sha256.Sum256([]byte(run))
	return filepath.Join(os.TempDir(), "coffer-pg-"+hex.EncodeToString(sum[:8]))
}
func (m *Servers) logFile(name string) string {
	return filepath.Join(m.dir(name), "log", "postgresql.log")
}

// Version is an installed PostgreSQL major version.
type Version struct {
	Major  string // "15"
	Full   string // "15.14"
	BinDir string
}

// Versions lists the installed PostgreSQL versions, newest first.
func (m *Servers) Versions() ([]Version, error) { return installedVersions() }

func installedVersions() ([]Version, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	var out []Version
	for _, d := range dirs {
		bin := filepath.Join(d, "postgres")
		if _, err := os.Stat(filepath.Join(d, "initdb")); err != nil {
			continue
		}
		b, err := exec.Command(bin, "--version").Output() // "postgres (PostgreSQL) 15.14 (Debian ...)"
		if err != nil {
			continue
		}
		f := strings.Fields(string(b))
		if len(f) < 3 {
			continue
		}
		full := f[2]
		major, _, _ := strings.Cut(full, ".")
		out = append(out, Version{Major: major, Full: full, BinDir: d})
	}
	if len(out) == 0 {
		if d, err := PostgresBinDir(); err == nil {
			b, err := exec.Command(filepath.Join(d, "postgres"), "--version").Output()
			if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
				major, _, _ := strings.Cut(f[2], ".")
				out = append(out, Version{Major: major, Full: f[2], BinDir: d})
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: PostgreSQL's server binaries are not installed; install them (apt-get install postgresql)", ErrNoHost)
	}
	sort.Slice(out, func(i, j int) bool {
		a, _ := strconv.Atoi(out[i].Major)
		b, _ := strconv.Atoi(out[j].Major)
		return a > b
	})
	return out, nil
}

// version finds an installed major version.
func (m *Servers) version(major string) (Version, error) {
	vs, err := m.Versions()
	if err != nil {
		return Version{}, err
	}
	for _, v := range vs {
		if v.Major == major {
			return v, nil
		}
	}
	return Version{}, fmt.Errorf("%w: PostgreSQL %s is not installed", ErrNoHost, major)
}

// Class settings: DBInstanceClass sizes mapped to server memory. The
// size is the class's last part (db.t3.micro -> micro).
type classSettings struct {
	SharedBuffers  string
	MaxConnections int
	WorkMem        string
}

var classTable = map[string]classSettings{
	"micro":    {"16MB", 25, "1MB"},
	"small":    {"32MB", 50, "2MB"},
	"medium":   {"64MB", 100, "4MB"},
	"large":    {"128MB", 150, "4MB"},
	"xlarge":   {"256MB", 200, "8MB"},
	"2xlarge":  {"512MB", 300, "8MB"},
	"4xlarge":  {"1GB", 400, "16MB"},
	"8xlarge":  {"2GB", 500, "16MB"},
	"12xlarge": {"3GB", 600, "32MB"},
	"16xlarge": {"4GB", 700, "32MB"},
	"24xlarge": {"6GB", 800, "32MB"},
}

// ClassSettings returns the memory settings of a DBInstanceClass, or an
// error naming the sizes coffer knows.
func ClassSettings(class string) (classSettings, error) {
	i := strings.LastIndexByte(class, '.')
	if strings.HasPrefix(class, "db.") && i > 2 {
		if s, ok := classTable[class[i+1:]]; ok {
			return s, nil
		}
	}
	sizes := make([]string, 0, len(classTable))
	for k := range classTable {
		sizes = append(sizes, k)
	}
	sort.Strings(sizes)
	return classSettings{}, fmt.Errorf("Invalid DB Instance class: %s; coffer knows the sizes %s (db.FAMILY.SIZE, e.g. db.t3.micro)", class, strings.Join(sizes, ", "))
}

// template makes (once) the initdb'd cluster of a major version that
// every new server of that version copies.
func (m *Servers) template(ctx context.Context, v Version) (string, error) {
	m.mu.Lock()
	l, ok := m.templates[v.Major]
	if !ok {
		l = &sync.Mutex{}
		m.templates[v.Major] = l
	}
	m.mu.Unlock()
	l.Lock()
	defer l.Unlock()
	dir := filepath.Join(m.opts.Dir, "template-"+v.Major)
	if _, err := os.Stat(filepath.Join(dir, "PG_VERSION")); err == nil {
		return dir, nil
	}
	if err := m.prepareDir(); err != nil {
		return "", err
	}
	// Nodes sharing the data directory may make the template at once:
	// each in a directory of its own, the first rename wins.
	tmp := privateTmp(dir)
	if err := m.mkdirOwned(tmp); err != nil {
		return "", err
	}
	out, err := m.run(ctx, v.BinDir, "initdb", "-D", tmp, "-U", adminUser, "--auth-local=peer", "--auth-host=scram-sha-256",
		"-E", "UTF8", "--locale=C", "--no-instructions")
	if err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("%w: initdb of the PostgreSQL %s template: %v: %s", ErrNoHost, v.Major, err, lastLine(out))
	}
	hba := "# Written by coffer: coffer's administrator over the Unix socket only\n" +
		"# (peer, mapped from coffer's own account), everyone else over TCP\n" +
		"# with scram-sha-256.\n" +
		"local   all          " + adminUser + "  peer map=coffer\n" +
		"local   replication  " + adminUser + "  peer map=coffer\n" +
		"local   all          all           reject\n" +
		"host    all          " + adminUser + "  all  reject\n" +
		"host    replication  all           all  reject\n" +
		"host    all          all           all  scram-sha-256\n"
	ident := "# Written by coffer.\ncoffer  " + m.self + "  " + adminUser + "\n"
	if err := m.writeOwned(filepath.Join(tmp, "pg_hba.conf"), hba); err != nil {
		return "", err
	}
	if err := m.writeOwned(filepath.Join(tmp, "pg_ident.conf"), ident); err != nil {
		return "", err
	}
	if err := appendConf(filepath.Join(tmp, "postgresql.conf"), "\n# Written by coffer: the instance's settings.\ninclude_if_exists = 'coffer.conf'\n"); err != nil {
		return "", err
	}
	// The spare database each new server renames to its DBName, made in
	// single-user mode (no server, no port).
	single := exec.CommandContext(ctx, filepath.Join(v.BinDir, "postgres"), "--single", "-D", tmp, "-j", "postgres")
	single.SysProcAttr = &syscall.SysProcAttr{Credential: m.cred, Setsid: true}
	single.Env = append(os.Environ(), "LC_ALL=C")
	single.Dir = "/"
	single.Stdin = strings.NewReader("CREATE DATABASE " + spareDB + " TEMPLATE template0 ENCODING 'UTF8';\n")
	if out, err := single.CombinedOutput(); err != nil || strings.Contains(string(out), "ERROR") {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("%w: make the PostgreSQL %s template's spare database: %v: %s", ErrNoHost, v.Major, err, lastLine(out))
	}
	if err := os.Rename(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		if _, statErr := os.Stat(filepath.Join(dir, "PG_VERSION")); statErr == nil {
			return dir, nil // another node's template
		}
		return "", err
	}
	m.log.Info("PostgreSQL template cluster initialised", "version", v.Full, "dir", dir)
	return dir, nil
}

// privateTmp is a name beside dir for this process to fill and rename to
// dir; names that another process left longer ago than an hour (a crash
// mid-copy) are removed.
func privateTmp(dir string) string {
	if stale, err := filepath.Glob(dir + ".tmp-*"); err == nil {
		for _, old := range stale {
			if fi, err := os.Stat(old); err == nil && time.Since(fi.ModTime()) > time.Hour {
				os.RemoveAll(old)
			}
		}
	}
	return fmt.Sprintf("%s.tmp-%d-%d", dir, os.Getpid(), time.Now().UnixNano())
}

// prepareDir creates Dir and lets the postgres user reach it.
func (m *Servers) prepareDir() error {
	if err := os.MkdirAll(m.opts.Dir, 0o700); err != nil {
		return err
	}
	if m.cred != nil {
		return searchableBy(m.opts.Dir, m.cred)
	}
	return nil
}

// Create makes a new server from the template of spec.Major, starts it,
// creates the master user and its database, and supervises it. On error
// nothing is left.
func (m *Servers) Create(ctx context.Context, spec ServerSpec) (engine.Target, error) {
	v, err := m.version(spec.Major)
	if err != nil {
		return engine.Target{}, err
	}
	tmpl, err := m.template(ctx, v)
	if err != nil {
		return engine.Target{}, err
	}
	// The data directory is the spare copy of the template made after
	// the previous create (a rename; when it is still being made, once it
	// is), else a copy made now; either way the next spare copy is made
	// once this create is done, while nobody waits for it.
	defer m.makeSpare(spec.Major, tmpl)
	return m.create(ctx, spec, func(data string) error {
		m.mu.Lock()
		making := m.sparing[spec.Major]
		m.mu.Unlock()
		if making != nil {
			select {
			case <-making:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		err := os.Rename(m.spareDir(spec.Major), data)
		if err == nil {
			return nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("take the spare copy of the PostgreSQL %s template: %w", spec.Major, err)
		}
		out, err := exec.CommandContext(ctx, "cp", "-a", tmpl, data).CombinedOutput()
		if err != nil {
			return fmt.Errorf("copy the PostgreSQL %s template: %v: %s", spec.Major, err, lastLine(out))
		}
		return nil
	})
}

// spareDir is a copy of the template of a major version made ahead of
// the next Create.
func (m *Servers) spareDir(major string) string {
	return filepath.Join(m.opts.Dir, "template-"+major+".spare")
}

// makeSpare copies the template tmpl of major to its spare directory in
// the background, unless the copy is there, being made, or the manager
// is closing. A failure only costs the next Create the copy.
func (m *Servers) makeSpare(major, tmpl string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	select {
	case <-m.stop:
		return
	default:
	}
	if m.sparing[major] != nil {
		return
	}
	dir := m.spareDir(major)
	if _, err := os.Stat(dir); err == nil {
		return
	}
	done := make(chan struct{})
	m.sparing[major] = done
	m.spares.Add(1)
	go func() {
		defer m.spares.Done()
		defer func() {
			m.mu.Lock()
			delete(m.sparing, major)
			m.mu.Unlock()
			close(done)
		}()
		tmp := privateTmp(dir)
		out, err := exec.Command("cp", "-a", tmpl, tmp).CombinedOutput()
		if err == nil {
			err = os.Rename(tmp, dir)
		} else {
			err = fmt.Errorf("%v: %s", err, lastLine(out))
		}
		if err != nil {
			os.RemoveAll(tmp)
			m.log.Warn("copy the PostgreSQL template ahead of the next create", "version", major, "error", err)
		}
	}()
}

// CreateFromDataDir makes a new server of a data directory someone else
// filled — a restored physical backup — moving dir into place (same file
// system), then as Create: coffer's settings, pg_hba.conf and
// pg_ident.conf are written over the restored ones, the server is started
// (running recovery when the directory asks for it), the master user is
// created or given spec.Password, spec.DBName must exist (it is created
// when missing), and the server is supervised. On error dir is removed.
func (m *Servers) CreateFromDataDir(ctx context.Context, spec ServerSpec, dir string) (engine.Target, error) {
	v, err := m.version(spec.Major)
	if err != nil {
		os.RemoveAll(dir)
		return engine.Target{}, err
	}
	tmpl, err := m.template(ctx, v)
	if err != nil {
		os.RemoveAll(dir)
		return engine.Target{}, err
	}
	return m.create(ctx, spec, func(data string) error {
		if err := os.Rename(dir, data); err != nil {
			os.RemoveAll(dir)
			return fmt.Errorf("move the restored data directory into place: %w", err)
		}
		// The template's access rules, whatever the source server had.
		for _, f := range []string{"pg_hba.conf", "pg_ident.conf"} {
			b, err := os.ReadFile(filepath.Join(tmpl, f))
			if err != nil {
				return err
			}
			if f == "pg_hba.conf" && spec.Adopt {
				b = append([]byte(adoptLine), b...)
			}
			if err := m.writeOwned(filepath.Join(data, f), string(b)); err != nil {
				return err
			}
		}
		os.Remove(filepath.Join(data, "postmaster.pid"))
		if m.cred != nil {
			if err := chownTree(data, m.cred); err != nil {
				return err
			}
		}
		if spec.Adopt {
			if err := m.keepPrimarySettings(ctx, v, data); err != nil {
				return err
			}
		}
		conf, err := os.ReadFile(filepath.Join(data, "postgresql.conf"))
		if err != nil {
			return err
		}
		if !strings.Contains(string(conf), "include_if_exists = 'coffer.conf'") {
			return appendConf(filepath.Join(data, "postgresql.conf"), "\n# Written by coffer: the instance's settings.\ninclude_if_exists = 'coffer.conf'\n")
		}
		return nil
	})
}

// IncomingDir makes an empty directory (0700) on the servers' file
// system for a physical restore to fill and hand to CreateFromDataDir.
// The caller removes it if it never hands it over.
func (m *Servers) IncomingDir() (string, error) {
	if err := m.prepareDir(); err != nil {
		return "", err
	}
	return os.MkdirTemp(m.opts.Dir, ".incoming-")
}

// RemoveIncoming removes the directories of physical restores a
// previous run left unfinished (IncomingDir); call it at start, before
// any restore.
func (m *Servers) RemoveIncoming() error {
	left, err := filepath.Glob(filepath.Join(m.opts.Dir, ".incoming-*"))
	if err != nil {
		return err
	}
	for _, dir := range left {
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("remove an unfinished restore's directory: %w", err)
		}
	}
	return nil
}

func (m *Servers) create(ctx context.Context, spec ServerSpec, fill func(data string) error) (t engine.Target, err error) {
	if spec.Name == "" || strings.ContainsAny(spec.Name, `/\.`) {
		return t, fmt.Errorf("bad server name %q", spec.Name)
	}
	defer m.locked(spec.Name)()
	if err := m.prepareDir(); err != nil {
		return t, err
	}
	dir := m.dir(spec.Name)
	if _, err := os.Stat(dir); err == nil {
		return t, fmt.Errorf("server directory %s already exists", dir)
	}
	defer func() {
		if err != nil {
			m.stopServer(spec.Name)
			m.removeDirs(spec.Name)
			m.release(spec.Name)
		}
	}()
	for _, d := range []string{dir, m.runDir(spec.Name), m.socketDir(spec.Name), filepath.Dir(m.logFile(spec.Name))} {
		if err := m.mkdirOwned(d); err != nil {
			return t, err
		}
	}
	began := time.Now()
	if err := fill(m.dataDir(spec.Name)); err != nil {
		return t, err
	}
	filled := time.Now()
	if err := os.Chmod(m.dataDir(spec.Name), 0o700); err != nil {
		return t, err
	}
	port, err := m.choosePort(spec.Name, spec.Port)
	if err != nil {
		return t, err
	}
	if err := m.writeSettings(spec.Name, port, spec.Class); err != nil {
		return t, err
	}
	if err := m.startServer(ctx, spec.Name); err != nil {
		return t, err
	}
	started := time.Now()
	if spec.Adopt {
		if err := m.adopt(ctx, spec); err != nil {
			return t, fmt.Errorf("add coffer's administrator to the restored server: %w", err)
		}
	}
	conn, err := m.connect(ctx, spec.Name, "postgres")
	if err != nil {
		return t, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if err := waitRecovered(ctx, conn); err != nil {
		return t, err
	}
	ready := time.Now()
	verifier, err := scramVerifier(spec.Password)
	if err != nil {
		return t, err
	}
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, spec.Owner).Scan(&exists); err != nil {
		return t, err
	}
	role := quoteIdent(spec.Owner)
	if exists {
		_, err = conn.Exec(ctx, `ALTER ROLE `+role+` LOGIN CREATEDB CREATEROLE NOSUPERUSER PASSWORD `+quoteLiteral(verifier))
	} else {
		_, err = conn.Exec(ctx, `CREATE ROLE `+role+` LOGIN CREATEDB CREATEROLE PASSWORD `+quoteLiteral(verifier))
	}
	if err != nil {
		return t, fmt.Errorf("create role %s: %w", spec.Owner, err)
	}
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, spec.DBName).Scan(&exists); err != nil {
		return t, err
	}
	if !exists {
		// The template's spare database becomes DBName: a rename, where
		// CREATE DATABASE would copy and sync a whole database.
		var spare bool
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, spareDB).Scan(&spare); err != nil {
			return t, err
		}
		if spare {
			_, err = conn.Exec(ctx, `ALTER DATABASE `+quoteIdent(spareDB)+` RENAME TO `+quoteIdent(spec.DBName))
			if err == nil {
				_, err = conn.Exec(ctx, `ALTER DATABASE `+quoteIdent(spec.DBName)+` OWNER TO `+role)
			}
		} else {
			_, err = conn.Exec(ctx, `CREATE DATABASE `+quoteIdent(spec.DBName)+` OWNER `+role+` TEMPLATE template0 ENCODING 'UTF8'`)
		}
		if err != nil {
			return t, fmt.Errorf("create database %s: %w", spec.DBName, err)
		}
	}
	m.supervise(spec.Name)
	m.log.Info("PostgreSQL server created", "server", spec.Name, "fill", filled.Sub(began), "start", started.Sub(filled),
		"ready", ready.Sub(started), "roles", time.Since(ready))
	return engine.Target{Host: m.opts.ListenAddress, Port: port, Database: spec.DBName, User: spec.Owner, Password: spec.Password, SSLMode: "disable"}, nil
}

// primarySettings are the settings recovery needs at least as high as
// on the server the WAL came from, as pg_controldata names them.
var primarySettings = map[string]string{
	"max_connections setting":      "max_connections",
	"max_worker_processes setting": "max_worker_processes",
	"max_wal_senders setting":      "max_wal_senders",
	"max_prepared_xacts setting":   "max_prepared_transactions",
	"max_locks_per_xact setting":   "max_locks_per_transaction",
}

// keepPrimarySettings gives a server made from a registered database's
// data the values its own server had of primarySettings (read with
// pg_controldata), in postgresql.auto.conf, which overrides the class's:
// recovery refuses lower ones.
func (m *Servers) keepPrimarySettings(ctx context.Context, v Version, data string) error {
	out, err := m.run(ctx, v.BinDir, "pg_controldata", "-D", data)
	if err != nil {
		return fmt.Errorf("pg_controldata: %v: %s", err, lastLine(out))
	}
	conf := "\n# Written by coffer: the registered server's values, which recovery needs.\n"
	for _, line := range strings.Split(string(out), "\n") {
		k, val, ok := strings.Cut(line, ":")
		if name := primarySettings[strings.TrimSpace(k)]; ok && name != "" {
			if _, err := strconv.Atoi(strings.TrimSpace(val)); err != nil {
				return fmt.Errorf("pg_controldata: %s is %q", k, strings.TrimSpace(val))
			}
			conf += name + " = " + strings.TrimSpace(val) + "\n"
		}
	}
	return appendConf(filepath.Join(data, "postgresql.auto.conf"), conf)
}

// adoptLine lets any role in over the server's socket (its directory is
// coffer's alone, mode 0700) until adopt has created coffer's
// administrator in a registered database's restored server.
const adoptLine = "local all all trust # coffer: until coffer_admin exists\n"

// adopt creates coffer's administrator in a server made from a
// registered database's data: it connects as spec.Owner (adoptLine),
// waits for recovery, names the bootstrap superuser (OID 10), creates
// coffer_admin as it, then removes adoptLine and reloads.
func (m *Servers) adopt(ctx context.Context, spec ServerSpec) error {
	port, err := m.Port(spec.Name)
	if err != nil {
		return err
	}
	connect := func(user string) (*pgx.Conn, error) {
		cfg, err := pgx.ParseConfig(fmt.Sprintf("host=%s port=%d sslmode=disable connect_timeout=15", m.socketDir(spec.Name), port))
		if err != nil {
			return nil, err
		}
		cfg.User, cfg.Database = user, spec.DBName
		return pgx.ConnectConfig(ctx, cfg)
	}
	conn, err := connect(spec.Owner)
	if err != nil {
		return fmt.Errorf("connect as %s: %w", spec.Owner, err)
	}
	var super string
	err = waitRecovered(ctx, conn)
	if err == nil {
		err = conn.QueryRow(ctx, `SELECT rolname FROM pg_roles WHERE oid = 10`).Scan(&super)
	}
	conn.Close(context.WithoutCancel(ctx))
	if err != nil {
		return err
	}
	if conn, err = connect(super); err != nil {
		return fmt.Errorf("connect as the bootstrap superuser %s: %w", super, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, adminUser).Scan(&exists); err != nil {
		return err
	}
	stmt := `CREATE ROLE `
	if exists {
		stmt = `ALTER ROLE `
	}
	if _, err := conn.Exec(ctx, stmt+adminUser+` SUPERUSER LOGIN REPLICATION`); err != nil {
		return fmt.Errorf("create role %s: %w", adminUser, err)
	}
	hba := filepath.Join(m.dataDir(spec.Name), "pg_hba.conf")
	b, err := os.ReadFile(hba)
	if err != nil {
		return err
	}
	if err := m.writeOwned(hba, strings.TrimPrefix(string(b), adoptLine)); err != nil {
		return err
	}
	_, err = conn.Exec(ctx, `SELECT pg_reload_conf()`)
	return err
}

// recoveryWait bounds how long a server made from a restored data
// directory may take to replay its WAL.
const recoveryWait = 10 * time.Minute

// waitRecovered waits until the server has left recovery: one made from
// a restored physical backup accepts read-only connections while it
// replays the backup's WAL, and promotes at its consistent point.
func waitRecovered(ctx context.Context, conn *pgx.Conn) error {
	ctx, cancel := context.WithTimeout(ctx, recoveryWait)
	defer cancel()
	for {
		var recovering bool
		if err := conn.QueryRow(ctx, `SELECT pg_is_in_recovery()`).Scan(&recovering); err != nil {
			return fmt.Errorf("wait for recovery: %w", err)
		}
		if !recovering {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the server was still recovering after %s: %w", recoveryWait, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// choosePort reserves the requested port (it must be free) or a free one.
func (m *Servers) choosePort(name string, want int) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if want != 0 {
		if owner, ok := m.reserved[want]; (ok && owner != name) || !m.portFree(want) {
			return 0, fmt.Errorf("%w: port %d is in use on %s; choose another Port", ErrNameTaken, want, m.opts.ListenAddress)
		}
		m.reserved[want] = name
		return want, nil
	}
	for range 100 {
		l, err := net.Listen("tcp", net.JoinHostPort(m.opts.ListenAddress, "0"))
		if err != nil {
			return 0, fmt.Errorf("%w: listen on %s: %v", ErrNoHost, m.opts.ListenAddress, err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if _, taken := m.reserved[p]; !taken {
			m.reserved[p] = name
			return p, nil
		}
	}
	return 0, fmt.Errorf("%w: no free port on %s", ErrNoHost, m.opts.ListenAddress)
}

func (m *Servers) portFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort(m.opts.ListenAddress, strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// Reserve records the port of a known server, so that no new server
// takes it while it is stopped.
func (m *Servers) Reserve(name string, port int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reserved[port] = name
}

// release forgets a server's port and stops supervising it.
func (m *Servers) release(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for p, n := range m.reserved {
		if n == name {
			delete(m.reserved, p)
		}
	}
	delete(m.want, name)
}

// writeSettings writes DATA/coffer.conf: the port, addresses and the
// memory settings of the class.
func (m *Servers) writeSettings(name string, port int, class string) error {
	cs, err := ClassSettings(class)
	if err != nil {
		return err
	}
	conf := fmt.Sprintf(`# Written by coffer; rewritten on ModifyDBInstance.
port = %d
listen_addresses = '%s'
unix_socket_directories = '%s'
unix_socket_permissions = 0700
password_encryption = 'scram-sha-256'
shared_buffers = %s
max_connections = %d
work_mem = %s
maintenance_work_mem = 16MB
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
wal_keep_size = 256MB
huge_pages = off
dynamic_shared_memory_type = posix
`, port, m.opts.ListenAddress, m.socketDir(name), cs.SharedBuffers, cs.MaxConnections, cs.WorkMem)
	return m.writeOwned(filepath.Join(m.dataDir(name), "coffer.conf"), conf)
}

// Port is the port a server is configured with.
func (m *Servers) Port(name string) (int, error) {
	return readPort(filepath.Join(m.dataDir(name), "coffer.conf"))
}

// SetClass rewrites a server's memory settings; they apply at its next
// start (Restart).
func (m *Servers) SetClass(name, class string) error {
	defer m.locked(name)()
	port, err := m.Port(name)
	if err != nil {
		return err
	}
	return m.writeSettings(name, port, class)
}

// locked takes a server's lock and returns its release.
func (m *Servers) locked(name string) func() {
	l := m.lock(name)
	l.Lock()
	return l.Unlock
}

func (m *Servers) lock(name string) *sync.Mutex {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.locks[name]
	if !ok {
		l = &sync.Mutex{}
		m.locks[name] = l
	}
	return l
}

// Start starts a stopped server (or adopts one left running by a
// previous coffer) and supervises it.
func (m *Servers) Start(ctx context.Context, name string) error {
	defer m.locked(name)()
	if port, err := m.Port(name); err == nil {
		m.Reserve(name, port)
	}
	if err := m.startServer(ctx, name); err != nil {
		return err
	}
	m.supervise(name)
	return nil
}

// Stop stops a server cleanly (fast shutdown) and stops supervising it.
func (m *Servers) Stop(ctx context.Context, name string) error {
	defer m.locked(name)()
	m.unsupervise(name)
	return m.stopServer(name)
}

// Restart stops and starts a server (RebootDBInstance, a new class).
func (m *Servers) Restart(ctx context.Context, name string) error {
	defer m.locked(name)()
	m.unsupervise(name)
	if err := m.stopServer(name); err != nil {
		return err
	}
	if err := m.startServer(ctx, name); err != nil {
		return err
	}
	m.supervise(name)
	return nil
}

// Remove stops a server and deletes its directory.
func (m *Servers) Remove(ctx context.Context, name string) error {
	defer m.locked(name)()
	m.unsupervise(name)
	if err := m.stopServer(name); err != nil {
		return err
	}
	if err := m.removeDirs(name); err != nil {
		return err
	}
	m.release(name)
	return nil
}

// removeDirs removes a server's directory and its socket directory.
func (m *Servers) removeDirs(name string) error {
	if err := os.RemoveAll(m.socketDir(name)); err != nil {
		return err
	}
	return os.RemoveAll(m.dir(name))
}

// SetPassword gives a role of a server a new password (as a SCRAM
// verifier).
func (m *Servers) SetPassword(ctx context.Context, name, role, password string) error {
	conn, err := m.connect(ctx, name, "postgres")
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	v, err := scramVerifier(password)
	if err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, `ALTER ROLE `+quoteIdent(role)+` PASSWORD `+quoteLiteral(v)); err != nil {
		return fmt.Errorf("set the password of role %s: %w", role, err)
	}
	return nil
}

// AdminTarget is coffer's superuser on a server's Unix socket, connected
// to database. It needs no password: only coffer's account may connect
// as it (peer authentication). Replication connections
// (replication=database or true) are allowed for it too, for BASE_BACKUP.
func (m *Servers) AdminTarget(name, database string) (engine.Target, error) {
	port, err := m.Port(name)
	if err != nil {
		return engine.Target{}, err
	}
	return engine.Target{Host: m.socketDir(name), Port: port, Database: database, User: adminUser}, nil
}

func (m *Servers) connect(ctx context.Context, name, database string) (*pgx.Conn, error) {
	t, err := m.AdminTarget(name, database)
	if err != nil {
		return nil, err
	}
	cfg, err := pgx.ParseConfig(fmt.Sprintf("host=%s port=%d dbname=%s user=%s sslmode=disable connect_timeout=15", t.Host, t.Port, t.Database, t.User))
	if err != nil {
		return nil, err
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: connect to the instance's server %s: %v", ErrNoHost, name, err)
	}
	return conn, nil
}

// PostmasterPID is the server's PID if a live (not zombie) postmaster
// runs on its data directory, else 0.
func (m *Servers) PostmasterPID(name string) int {
	b, err := os.ReadFile(filepath.Join(m.dataDir(name), "postmaster.pid"))
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || pid <= 0 {
		return 0
	}
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// "PID (comm) S ...": the state follows the last ')'.
	s := string(st)
	if i := strings.LastIndexByte(s, ')'); i < 0 || i+2 >= len(s) || s[i+2] == 'Z' || s[i+2] == 'X' {
		return 0
	}
	return pid
}

// Running reports whether a server runs.
func (m *Servers) Running(name string) bool { return m.PostmasterPID(name) != 0 }

func (m *Servers) startServer(ctx context.Context, name string) error {
	if m.Running(name) {
		return nil
	}
	v, err := m.serverVersion(name)
	if err != nil {
		return err
	}
	port, err := m.Port(name)
	if err != nil {
		return err
	}
	// A socket directory in the temporary directory may be gone (reboot).
	if err := m.mkdirOwned(m.socketDir(name)); err != nil {
		return err
	}
	// A postmaster killed with SIGKILL leaves children for a moment; the
	// new one refuses to start while they hold the shared memory, so
	// failures are retried.
	for attempt := 0; ; attempt++ {
		if !m.portFree(port) {
			err = fmt.Errorf("%w: port %d of the instance's server is taken by another process; stop that process, then start the instance", ErrNoHost, port)
		} else {
			var out []byte
			if out, err = m.run(ctx, v.BinDir, "pg_ctl", "-D", m.dataDir(name), "-l", m.logFile(name), "-w", "-t", "60", "start"); err == nil {
				return nil
			}
			err = fmt.Errorf("%w: start the instance's PostgreSQL server: %v: %s (see %s)", ErrNoHost, err, lastLine(out), m.logFile(name))
		}
		if attempt == 4 || ctx.Err() != nil {
			return err
		}
		time.Sleep(time.Duration(attempt+1) * 300 * time.Millisecond)
	}
}

func (m *Servers) stopServer(name string) error {
	if !m.Running(name) {
		return nil
	}
	v, err := m.serverVersion(name)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if out, err := m.run(ctx, v.BinDir, "pg_ctl", "-D", m.dataDir(name), "-m", "fast", "-w", "-t", "55", "stop"); err != nil && m.Running(name) {
		return fmt.Errorf("stop the instance's PostgreSQL server: %v: %s", err, lastLine(out))
	}
	return nil
}

// serverVersion is the installed version matching a data directory's
// PG_VERSION.
func (m *Servers) serverVersion(name string) (Version, error) {
	b, err := os.ReadFile(filepath.Join(m.dataDir(name), "PG_VERSION"))
	if err != nil {
		return Version{}, fmt.Errorf("%w: the instance's data directory is missing or unreadable: %v", ErrNoHost, err)
	}
	return m.version(strings.TrimSpace(string(b)))
}

func (m *Servers) supervise(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.want[name] = true
}

func (m *Servers) unsupervise(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.want, name)
}

// Run supervises the servers until Close: a server that should run and
// died is restarted; one that cannot be restarted is reported through
// Failed and no longer supervised.
func (m *Servers) Run() {
	tick := time.NewTicker(m.opts.Interval)
	defer tick.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-tick.C:
		}
		m.mu.Lock()
		names := make([]string, 0, len(m.want))
		for n := range m.want {
			names = append(names, n)
		}
		m.mu.Unlock()
		for _, n := range names {
			m.check(n)
		}
	}
}

func (m *Servers) check(name string) {
	l := m.lock(name)
	if !l.TryLock() {
		return // an operation on it is under way
	}
	defer l.Unlock()
	m.mu.Lock()
	wanted := m.want[name]
	m.mu.Unlock()
	if !wanted || m.Running(name) {
		return
	}
	m.log.Warn("an instance's PostgreSQL server died; restarting it", "server", name)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := m.startServer(ctx, name); err != nil {
		m.log.Error("restart an instance's PostgreSQL server", "server", name, "error", err)
		m.unsupervise(name)
		if m.opts.Failed != nil {
			m.opts.Failed(name, fmt.Sprintf("the instance's PostgreSQL server died and could not be restarted: %v; fix the cause, then start the instance (rds start-db-instance)", err))
		}
		return
	}
	m.log.Info("an instance's PostgreSQL server restarted", "server", name)
}

// Close stops supervising and stops every server it supervised, cleanly.
func (m *Servers) Close() error {
	m.mu.Lock()
	select {
	case <-m.stop:
	default:
		close(m.stop)
	}
	m.mu.Unlock()
	m.spares.Wait()
	m.mu.Lock()
	names := make([]string, 0, len(m.want))
	for n := range m.want {
		names = append(names, n)
	}
	m.mu.Unlock()
	var (
		wg   sync.WaitGroup
		emu  sync.Mutex
		errs []error
	)
	for _, n := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := m.Stop(context.Background(), n); err != nil {
				emu.Lock()
				errs = append(errs, fmt.Errorf("stop server %s: %w", n, err))
				emu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (m *Servers) run(ctx context.Context, binDir, name string, args ...string) ([]byte, error) {
	return runAs(ctx, m.cred, binDir, name, args...)
}

func (m *Servers) mkdirOwned(dir string) error { return mkdirOwned(dir, m.cred) }

func (m *Servers) writeOwned(path, text string) error {
	if err := writeFileSync(path, []byte(text)); err != nil {
		return err
	}
	if m.cred != nil {
		return os.Chown(path, int(m.cred.Uid), int(m.cred.Gid))
	}
	return nil
}

// chownTree gives every file under dir to the user.
func chownTree(dir string, cred *syscall.Credential) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, int(cred.Uid), int(cred.Gid))
	})
}
