package rds

import (
	"context"
	"database/sql"
	"fmt"
	"github.com/coffer-dev/coffer/internal/policy"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/coffer-dev/coffer/internal/engine"
)

// RegisterInput records an existing database as an instance (a coffer
// extension: RegisterDBInstance).
type RegisterInput struct {
	Identifier string
	Engine     string
	// ConnectionString is a postgres:// URL (with the password of a role
	// that may read every table: pg_dump runs as it) for postgres, or the
	// database file's absolute path for sqlite.
	ConnectionString string
	// KMSKeyID is the key the instance's backups and credentials are
	// encrypted under; empty: the account's aws/rds key.
	KMSKeyID      string
	InstanceClass string
	Tags          map[string]string
}

// RegisterInstance records an existing database so that it can be backed
// up and restored like any other instance. Its password is sealed under
// the instance's KMS key; the database must be reachable now. Deleting a
// registered instance forgets it and leaves the database alone.
func (s *Service) RegisterInstance(ctx context.Context, in RegisterInput) (*Instance, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	if err := ValidIdentifier(in.Identifier); err != nil {
		return nil, err
	}
	in.Identifier = strings.ToLower(in.Identifier)
	arn := InstanceARN(sc.Region, sc.Account, in.Identifier)
	if err := s.authorize(ctx, "RegisterDBInstance", arn, policy.RequestTagContext(in.Tags)); err != nil {
		return nil, err
	}
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	if in.ConnectionString == "" {
		return nil, missingParam("ConnectionString")
	}
	t, err := parseConnection(in.Engine, in.ConnectionString)
	if err != nil {
		return nil, err
	}
	eng, ok := s.engines[in.Engine]
	if !ok {
		return nil, invalidParam("Invalid DB engine: %s. This coffer has no %s engine adapter.", in.Engine, in.Engine)
	}
	if _, err := s.load(ctx, s.store, sc, in.Identifier); err == nil {
		return nil, alreadyExists(in.Identifier)
	} else if !isNotFound(err) {
		return nil, err
	}
	if err := eng.Ready(ctx, t); err != nil {
		return nil, invalidParam("coffer cannot use the database %s: %s; check that it is running and the credentials are right", t, redactErr(err, t.Password))
	}
	version, err := probeVersion(ctx, t)
	if err != nil {
		return nil, invalidParam("coffer cannot read the version of %s: %s", t, redactErr(err, t.Password))
	}
	if in.InstanceClass == "" {
		in.InstanceClass = "db.registered"
	}
	inst := &Instance{
		Identifier: in.Identifier, ARN: arn, ResourceID: newResourceID(), Account: sc.Account, Region: sc.Region,
		Engine: in.Engine, EngineVersion: version, InstanceClass: in.InstanceClass, AllocatedStorage: 0,
		MasterUsername: t.User, DBName: t.Database, Status: StatusAvailable, Origin: OriginRegistered,
		StorageEncrypted: in.KMSKeyID != "", CreatedAt: s.now().UTC(), Tags: in.Tags, target: t,
	}
	inst.target.Password = ""
	inst.Endpoint = Endpoint{Address: t.Host, Port: t.Port}
	if t.Path != "" {
		inst.Endpoint = Endpoint{Address: t.Path}
	}
	if err := s.attachKey(ctx, inst, in.KMSKeyID); err != nil {
		return nil, err
	}
	if t.Password != "" {
		if inst.credentials, err = s.seal(ctx, inst, t.Password); err != nil {
			s.releaseKey(inst)
			return nil, err
		}
	}
	if err := s.insert(ctx, inst); err != nil {
		s.releaseKey(inst)
		return nil, err
	}
	s.log.Info("database registered", "instance", inst.ARN, "target", inst.target.String())
	return inst, nil
}

// parseConnection reads a registration's connection string. Errors never
// repeat it (it may hold a password).
func parseConnection(engineName, conn string) (engine.Target, error) {
	switch engineName {
	case EnginePostgres:
		if !strings.HasPrefix(conn, "postgres://") && !strings.HasPrefix(conn, "postgresql://") {
			return engine.Target{}, invalidParam("the ConnectionString of a postgres instance is a postgres:// URL (postgres://USER:PASSWORD@HOST:PORT/DATABASE)")
		}
		cfg, err := pgx.ParseConfig(conn)
		if err != nil {
			return engine.Target{}, invalidParam("the ConnectionString does not parse as a postgres:// URL")
		}
		if cfg.Database == "" || cfg.User == "" {
			return engine.Target{}, invalidParam("the ConnectionString must name the database and the user: postgres://USER:PASSWORD@HOST:PORT/DATABASE")
		}
		mode := ""
		if u, err := url.Parse(conn); err == nil {
			mode = u.Query().Get("sslmode")
		}
		return engine.Target{Host: cfg.Host, Port: int(cfg.Port), Database: cfg.Database, User: cfg.User, Password: cfg.Password, SSLMode: mode}, nil
	case EngineSQLite:
		if !filepath.IsAbs(conn) {
			return engine.Target{}, invalidParam("the ConnectionString of a sqlite instance is the database file's absolute path, not %q", conn)
		}
		return engine.Target{Path: filepath.Clean(conn)}, nil
	case "":
		return engine.Target{}, missingParam("Engine")
	}
	return engine.Target{}, invalidParam("Invalid DB engine: %s. coffer registers postgres and sqlite databases.", engineName)
}

// probeVersion reads the server's version (PostgreSQL) or the library's
// (SQLite).
func probeVersion(ctx context.Context, t engine.Target) (string, error) {
	if t.Path != "" {
		return sqliteVersion(ctx)
	}
	cfg, err := pgx.ParseConfig(TargetURL(t))
	if err != nil {
		return "", err
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	var v string
	if err := db.QueryRowContext(ctx, `SHOW server_version`).Scan(&v); err != nil {
		if err == sql.ErrNoRows {
			return "", fmt.Errorf("no version")
		}
		return "", err
	}
	if i := strings.IndexByte(v, ' '); i > 0 {
		v = v[:i]
	}
	return v, nil
}

// TargetURL is a postgres:// URL for a target, with its password: never
// log it.
func TargetURL(t engine.Target) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(t.User, t.Password), Host: net.JoinHostPort(t.Host, strconv.Itoa(t.Port)), Path: "/" + t.Database}
	if t.SSLMode != "" {
		u.RawQuery = "sslmode=" + url.QueryEscape(t.SSLMode)
	}
	return u.String()
}
