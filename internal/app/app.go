// Package app assembles a coffer server from its configuration: the
// metadata store, the root key, the domain services, their API adapters
// and the HTTP handler; it runs the listener and shuts everything down
// in order.
package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	apiauditmanager "github.com/coffer-dev/coffer/internal/api/auditmanager"
	apibackup "github.com/coffer-dev/coffer/internal/api/backup"
	"github.com/coffer-dev/coffer/internal/api/backupplans"
	"github.com/coffer-dev/coffer/internal/api/cloudtrail"
	iamapi "github.com/coffer-dev/coffer/internal/api/iam"
	apikms "github.com/coffer-dev/coffer/internal/api/kms"
	"github.com/coffer-dev/coffer/internal/api/organizations"
	rdsapi "github.com/coffer-dev/coffer/internal/api/rds"
	apirestoretesting "github.com/coffer-dev/coffer/internal/api/restoretesting"
	snsapi "github.com/coffer-dev/coffer/internal/api/sns"
	"github.com/coffer-dev/coffer/internal/api/sts"
	"github.com/coffer-dev/coffer/internal/audit"
	"github.com/coffer-dev/coffer/internal/auditmanager"
	"github.com/coffer-dev/coffer/internal/backup"
	"github.com/coffer-dev/coffer/internal/blob"
	blobfs "github.com/coffer-dev/coffer/internal/blob/fs"
	"github.com/coffer-dev/coffer/internal/config"
	"github.com/coffer-dev/coffer/internal/console"
	"github.com/coffer-dev/coffer/internal/identity"
	"github.com/coffer-dev/coffer/internal/jobs"
	"github.com/coffer-dev/coffer/internal/kms"
	"github.com/coffer-dev/coffer/internal/meta"
	"github.com/coffer-dev/coffer/internal/meta/postgres"
	"github.com/coffer-dev/coffer/internal/meta/sqlite"
	"github.com/coffer-dev/coffer/internal/plans"
	"github.com/coffer-dev/coffer/internal/protocol"
	"github.com/coffer-dev/coffer/internal/rds"
	"github.com/coffer-dev/coffer/internal/restoretesting"
	"github.com/coffer-dev/coffer/internal/server"
	"github.com/coffer-dev/coffer/internal/sns"
)

// App is a configured coffer server.
type App struct {
	cfg     config.Config
	log     *slog.Logger
	store   meta.Store
	audit   *audit.Recorder
	handler *server.Handler
	console *console.Handler
	ready   atomic.Bool
	tlsCert *tls.Certificate
	kms     *kms.Service
	rds     *rds.Service
	dbHosts *rds.Hosts
	backup  *backup.Service
	queue   *jobs.Queue
	plans   *plans.Service
	sns     *sns.Service
	now     func() time.Time // the backup domain's and scheduler's clock; nil is time.Now
	// restoreTests is the restore testing domain and its scheduler.
	restoreTests *restoretesting.Service
	// auditManager is Backup Audit Manager: frameworks and reports.
	auditManager *auditmanager.Service
	// CredentialsFile is the AWS shared-credentials file written at
	// bootstrap; ConfigFile the matching AWS config file.
	CredentialsFile, ConfigFile string
	// ConsolePasswordsFile holds the console passwords made at bootstrap.
	ConsolePasswordsFile string
	// CAFile is the self-signed certificate clients trust via
	// AWS_CA_BUNDLE, when TLS is self-signed.
	CAFile string
}

// NewLogger builds the slog logger cfg asks for.
func NewLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Open prepares everything but the listener. cfg must be validated.
func Open(ctx context.Context, cfg config.Config, log *slog.Logger) (*App, error) {
	return OpenWithClock(ctx, cfg, log, nil)
}

// OpenWithClock is Open with the clock of the backup domain and the plan
// scheduler, so tests run days of schedules in seconds.
func OpenWithClock(ctx context.Context, cfg config.Config, log *slog.Logger, now func() time.Time) (*App, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	warnReadable(cfg.DataDir, log)
	a := &App{cfg: cfg, log: log, now: now,
		CredentialsFile:      filepath.Join(cfg.DataDir, "credentials"),
		ConfigFile:           filepath.Join(cfg.DataDir, "config"),
		ConsolePasswordsFile: filepath.Join(cfg.DataDir, "console-passwords"),
	}
	var err error
	if a.store, err = openStore(ctx, cfg); err != nil {
		return nil, err
	}
	keys, err := OpenRootKey(ctx, cfg, a.store)
	if err != nil {
		a.store.Close()
		return nil, err
	}
	ids := identity.New(a.store, keys, log.With("component", "identity"))
	a.kms = kms.New(kms.Options{Store: a.store, RootKey: keys, Authorizer: ids.Authorizer(), RegionStore: regionStore(cfg, "kms"), Log: log.With("component", "kms")})
	if err := a.bootstrap(ctx, ids); err != nil {
		a.store.Close()
		return nil, err
	}
	if cfg.TLS.Enabled() {
		if err := a.loadTLS(); err != nil {
			a.store.Close()
			return nil, err
		}
	}
	if a.rds, a.dbHosts, err = openRDS(cfg, a.store, ids.Authorizer(), a.kms, keys, log); err != nil {
		a.store.Close()
		return nil, err
	}
	registry := prometheus.NewRegistry()
	if err := a.openBackup(ctx, ids, keys, registry); err != nil {
		a.store.Close()
		return nil, fmt.Errorf("backup: %w", err)
	}
	a.audit = audit.NewRecorder(a.store, log.With("component", "audit"))
	backupAPI := apibackup.New(a.backup)
	backupplans.Register(backupAPI, a.plans)
	snsAPI := snsapi.New(a.sns)
	apirestoretesting.Register(backupAPI, a.restoreTests)
	apiauditmanager.Register(backupAPI, a.auditManager)
	web, err := console.New(console.Options{Identity: ids, Backup: a.backup, KMS: a.kms, RDS: a.rds, Audit: a.audit, Trail: a.store, Authz: ids.Authorizer(), Plans: a.plans,
		Regions: consoleRegions(cfg), Log: log.With("component", "console")})
	if err != nil {
		a.store.Close()
		return nil, err
	}
	a.console = web
	a.handler = server.New(server.Options{
		Console:              web,
		Auth:                 ids,
		Audit:                a.audit,
		RequireAuthorization: true,
		Services: []protocol.Service{
			sts.New(ids),
			iamapi.New(ids),
			organizations.New(ids),
			cloudtrail.New(ids.Authorizer(), a.audit, a.store),
			apikms.New(a.kms),
			rdsapi.New(a.rds),
			backupAPI,
			snsAPI,
		},
		Public:                  snsapi.Public(a.sns, snsAPI),
		Regions:                 cfg.Regions,
		MaxBodyBytes:            cfg.Limits.MaxBodyBytes,
		MaxUnauthenticatedBytes: cfg.Limits.MaxUnauthenticatedBytes,
		Log:                     log.With("component", "http"),
		Registry:                registry,
		Ready:                   a.ready.Load,
		RootKey:                 server.RootKeyStatus{Provider: cfg.RootKey.Provider, Verify: keys.Verify},
	})
	return a, nil
}

// warnReadable logs a warning when others than its owner may list or
// write the data directory, which holds the root key and the metadata.
// Search permission alone is not warned about: run as root, coffer gives
// the postgres group that much so its local RDS clusters can reach their
// directories.
func warnReadable(dir string, log *slog.Logger) {
	st, err := os.Stat(dir)
	if err != nil {
		log.Warn("cannot check the data directory's mode", "dir", dir, "err", err)
		return
	}
	if perm := st.Mode().Perm(); perm&0o066 != 0 {
		log.Warn(fmt.Sprintf("data directory %s is readable by others (mode %v): run chmod 700 %s", dir, perm, dir))
	}
}

// consoleRegions are the regions the console offers, the default first.
func consoleRegions(cfg config.Config) []string {
	out := []string{cfg.DefaultRegion()}
	for _, r := range cfg.Regions {
		if r != out[0] {
			out = append(out, r)
		}
	}
	return out
}

// regionStore returns, for a region, the directory DataDir/regions/REGION/NAME
// as a blob store.
func regionStore(cfg config.Config, name string) func(region string) (blob.Store, error) {
	return func(region string) (blob.Store, error) {
		return blobfs.New(filepath.Join(cfg.DataDir, "regions", region, name))
	}
}

func openStore(ctx context.Context, cfg config.Config) (meta.Store, error) {
	if cfg.Database != "" {
		return postgres.Open(ctx, cfg.Database)
	}
	return sqlite.Open(ctx, filepath.Join(cfg.DataDir, "coffer.db"))
}

// bootstrap creates the organization, accounts and users on first start
// and writes the credentials file.
func (a *App) bootstrap(ctx context.Context, ids *identity.Service) error {
	done, err := ids.Initialized(ctx)
	if err != nil {
		return fmt.Errorf("check bootstrap state: %w", err)
	}
	if done {
		if a.cfg.Bootstrap != "" {
			a.log.Info("data directory already bootstrapped; bootstrap file ignored", "file", a.cfg.Bootstrap)
		}
		return nil
	}
	b := identity.DefaultBootstrap()
	if a.cfg.Bootstrap != "" {
		if b, err = identity.LoadBootstrap(a.cfg.Bootstrap); err != nil {
			return err
		}
	}
	res, err := ids.ApplyBootstrap(ctx, b)
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	if err := identity.WriteCredentialsFile(a.CredentialsFile, res.Profiles); err != nil {
		return fmt.Errorf("write credentials file: %w", err)
	}
	if err := identity.WriteConfigFile(a.ConfigFile, a.cfg.DefaultRegion(), res.Profiles); err != nil {
		return fmt.Errorf("write AWS config file: %w", err)
	}
	if len(res.ConsolePasswords) > 0 {
		if err := identity.WriteConsolePasswords(a.ConsolePasswordsFile, res.ConsolePasswords); err != nil {
			return fmt.Errorf("write console passwords: %w", err)
		}
		a.log.Info("console passwords written", "file", a.ConsolePasswordsFile)
	}
	a.log.Info("bootstrapped", "accounts", len(b.Accounts), "users", len(b.Users), "credentials_file", a.CredentialsFile)
	return nil
}

func (a *App) loadTLS() error {
	if a.cfg.TLS.SelfSigned {
		host, _, _ := net.SplitHostPort(a.cfg.Listen)
		cert, path, err := selfSignedCert(a.cfg.DataDir, host)
		if err != nil {
			return err
		}
		a.tlsCert, a.CAFile = &cert, path
		return nil
	}
	cert, err := tls.LoadX509KeyPair(a.cfg.TLS.Cert, a.cfg.TLS.Key)
	if err != nil {
		return fmt.Errorf("load TLS certificate: %w", err)
	}
	a.tlsCert = &cert
	return nil
}

// Plans is the backup plans domain and scheduler, for tests that drive
// its clock.
func (a *App) Plans() *plans.Service { return a.plans }

// RestoreTesting is the restore testing domain and scheduler, for tests
// that drive its clock.
func (a *App) RestoreTesting() *restoretesting.Service { return a.restoreTests }

// AuditManager is Backup Audit Manager, for tests that drive its clock.
func (a *App) AuditManager() *auditmanager.Service { return a.auditManager }

// Console is the web console, for tests that drive its clock.
func (a *App) Console() *console.Handler { return a.console }

// Handler is the HTTP handler, for tests that serve it themselves.
func (a *App) Handler() http.Handler { return a.handler }

// Listen opens the configured address.
func (a *App) Listen() (net.Listener, error) {
	ln, err := net.Listen("tcp", a.cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", a.cfg.Listen, err)
	}
	return ln, nil
}

// maxHeaderBytes bounds a request's headers (and its URL, which carries
// a presigned request's signature).
const maxHeaderBytes = 64 << 10

// Serve answers requests on ln until ctx ends, then lets in-flight
// requests finish (up to 30 seconds) and closes the store.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: a.cfg.Limits.ReadHeaderTimeout,
		ReadTimeout:       a.cfg.Limits.ReadTimeout,
		IdleTimeout:       a.cfg.Limits.IdleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	if a.tlsCert != nil {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*a.tlsCert}, MinVersion: tls.VersionTLS12}
		ln = tls.NewListener(ln, srv.TLSConfig)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	go a.kms.RunSweeper(ctx, time.Minute)
	a.sns.SetBaseURL(a.baseURL(ln))
	if err := a.queue.Start(context.WithoutCancel(ctx)); err != nil {
		srv.Close()
		return fmt.Errorf("start the job queue: %w", err)
	}
	go a.sweepJobs(ctx)
	a.ready.Store(true)
	a.log.Info("serving", "address", ln.Addr().String(), "tls", a.tlsCert != nil)
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
		a.ready.Store(false)
		a.log.Info("shutting down")
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err = srv.Shutdown(shutdownCtx)
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	// Running jobs get the shutdown grace to finish; those cut off are
	// failed by the sweeper of the next start, their data uncommitted.
	stopCtx, stop := context.WithTimeout(context.Background(), 20*time.Second)
	a.queue.Stop(stopCtx)
	stop()
	a.closeRDS()
	a.audit.Close()
	if cerr := a.store.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("close metadata store: %w", cerr)
	}
	return err
}

// Close releases the store of an App that was never served.
func (a *App) Close() error {
	a.closeRDS()
	a.audit.Close()
	return a.store.Close()
}
