package rds

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/coffer-dev/coffer/internal/engine"
	"github.com/coffer-dev/coffer/internal/rootkey"
)

// Endpoint is where a user connects to an instance: a host and port for
// PostgreSQL, a file path (Address) for SQLite.
type Endpoint struct {
	Address string
	Port    int
}

// DatabaseSpec is a database a host is asked to create.
type DatabaseSpec struct {
	Account, Region, Identifier string
	// DBName and User name the database and its owning role (PostgreSQL).
	DBName, User, Password string
	// Adopt: a physical restore's data directory is a registered
	// database's server's (ServerSpec.Adopt).
	Adopt bool
}

// Host is where one engine's instances of one region live.
type Host interface {
	Engine() string
	// Version is the server's (or library's) version, e.g. "16.4".
	Version(ctx context.Context) (string, error)
	// Create makes a new, empty database owned by a new role and returns
	// the target the instance's owner connects as. On error nothing is
	// left behind.
	Create(ctx context.Context, spec DatabaseSpec) (engine.Target, Endpoint, error)
	// Drop removes a database (and role) made by Create. Dropping what is
	// already gone is not an error.
	Drop(ctx context.Context, t engine.Target) error
	// SetPassword changes the owner's password.
	SetPassword(ctx context.Context, t engine.Target, password string) error
	// RestoreTarget is the target a restore into t connects as: the
	// host's administrator acting as t's owner (engine.Target.Role).
	RestoreTarget(t engine.Target) engine.Target
	// Endpoint is where users connect to t.
	Endpoint(t engine.Target) Endpoint
}

// HostsOptions configure the hosts.
type HostsOptions struct {
	// DataDir holds SQLite instances (DataDir/rds/sqlite/REGION/ACCOUNT)
	// and the embedded PostgreSQL clusters (DataDir/postgres/REGION).
	DataDir string
	// PostgresDSN maps a region to the admin connection URL of the
	// PostgreSQL server its instances live on; a region without one uses
	// the embedded cluster.
	PostgresDSN map[string]string
	// RootKey seals the embedded clusters' administrator passwords.
	RootKey rootkey.Provider
	// ListenAddress is where instances' own servers listen (default
	// 127.0.0.1).
	ListenAddress string
	// NodeID names this coffer node (default: the host name); instances'
	// servers run on the node that holds their data directory.
	NodeID string
	// SuperviseInterval is how often servers are checked (default 1s).
	SuperviseInterval time.Duration
	Log               *slog.Logger
}

// Hosts finds, and starts on first use, the host of each region and
// engine.
type Hosts struct {
	opts HostsOptions
	log  *slog.Logger

	// servers are the instances' own PostgreSQL servers (nil, with
	// serversErr saying why, when they cannot run here).
	servers    *Servers
	serversErr error

	mu       sync.Mutex
	pg       map[string]*pgHost  // region ->
	clusters map[string]*Cluster // region -> embedded cluster
	sqlite   map[string]*sqliteHost
}

// NewHosts returns the hosts and starts supervising instances' servers;
// no server or shared host is started until used.
func NewHosts(o HostsOptions) *Hosts {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.NodeID == "" {
		o.NodeID, _ = os.Hostname()
	}
	h := &Hosts{opts: o, log: o.Log, pg: map[string]*pgHost{}, clusters: map[string]*Cluster{}, sqlite: map[string]*sqliteHost{}}
	h.servers, h.serversErr = NewServers(ServersOptions{Dir: filepath.Join(o.DataDir, "pg"), ListenAddress: o.ListenAddress,
		Interval: o.SuperviseInterval, Log: o.Log.With("component", "rds-servers")})
	if h.servers != nil {
		go h.servers.Run()
	}
	return h
}

// NodeID is this node's name.
func (h *Hosts) NodeID() string { return h.opts.NodeID }

// Servers returns the instances' own servers, or why they cannot run
// here.
func (h *Hosts) Servers() (*Servers, error) {
	if h.servers == nil {
		return nil, h.serversErr
	}
	return h.servers, nil
}

// Shared reports whether new postgres instances of a region are
// databases on the configured shared host (rds.postgresHosts) rather
// than servers of their own.
func (h *Hosts) Shared(region string) bool { return h.opts.PostgresDSN[region] != "" }

// ErrNoHost is returned when a region has no host for an engine:
// PostgreSQL without a configured server and without binaries to run an
// embedded cluster.
var ErrNoHost = errors.New("no database host")

// Host returns the host of a region for an engine: SQLite files, or for
// PostgreSQL the shared host, which is the configured server or the
// region cluster of earlier releases (started on first use; it only
// holds instances not yet moved to servers of their own).
func (h *Hosts) Host(ctx context.Context, region, engineName string) (Host, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch engineName {
	case EngineSQLite:
		sh, ok := h.sqlite[region]
		if !ok {
			sh = &sqliteHost{dir: filepath.Join(h.opts.DataDir, "rds", "sqlite", region)}
			h.sqlite[region] = sh
		}
		return sh, nil
	case EnginePostgres:
		if ph, ok := h.pg[region]; ok {
			return ph, nil
		}
		dsn := h.opts.PostgresDSN[region]
		if dsn == "" {
			c := NewCluster(ClusterOptions{Dir: filepath.Join(h.opts.DataDir, "postgres", region), RootKey: h.opts.RootKey, Log: h.log.With("cluster", region)})
			if err := c.Start(ctx); err != nil {
				return nil, err
			}
			h.clusters[region] = c
			dsn = c.DSN()
		}
		ph, err := openPGHost(ctx, dsn)
		if err != nil {
			return nil, err
		}
		h.pg[region] = ph
		return ph, nil
	}
	return nil, fmt.Errorf("%w for engine %s", ErrNoHost, engineName)
}

// Close stops the instances' servers, closes host connections and stops
// the embedded clusters.
func (h *Hosts) Close() error {
	var errs []error
	if h.servers != nil {
		if err := h.servers.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for r, ph := range h.pg {
		ph.close()
		delete(h.pg, r)
	}
	for r, c := range h.clusters {
		if err := c.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("stop embedded postgres of %s: %w", r, err))
		}
		delete(h.clusters, r)
	}
	return errors.Join(errs...)
}

// sqliteHost keeps one file per instance.
type sqliteHost struct {
	dir string
}

var _ Host = (*sqliteHost)(nil)

func (*sqliteHost) Engine() string { return EngineSQLite }

func (*sqliteHost) Version(ctx context.Context) (string, error) { return sqliteVersion(ctx) }

// Create makes an empty file (a valid, empty SQLite database) with
// O_EXCL, so two instances can never share one.
func (h *sqliteHost) Create(ctx context.Context, spec DatabaseSpec) (engine.Target, Endpoint, error) {
	dir := filepath.Join(h.dir, spec.Account)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return engine.Target{}, Endpoint{}, fmt.Errorf("create sqlite directory: %w", err)
	}
	path := filepath.Join(dir, spec.Identifier+".db")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return engine.Target{}, Endpoint{}, fmt.Errorf("create sqlite database %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return engine.Target{}, Endpoint{}, err
	}
	t := engine.Target{Path: path}
	return t, h.Endpoint(t), nil
}

func (h *sqliteHost) Drop(ctx context.Context, t engine.Target) error {
	var errs []error
	for _, p := range []string{t.Path, t.Path + "-wal", t.Path + "-shm", t.Path + "-journal"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (*sqliteHost) SetPassword(context.Context, engine.Target, string) error { return nil }

func (*sqliteHost) RestoreTarget(t engine.Target) engine.Target { return t }

func (*sqliteHost) Endpoint(t engine.Target) Endpoint { return Endpoint{Address: t.Path} }
