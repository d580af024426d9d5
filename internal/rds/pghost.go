package rds

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/coffer-dev/coffer/internal/engine"
)

// pgHost creates instances as databases on one PostgreSQL server,
// connected as a role allowed to create databases and roles.
type pgHost struct {
	db    *sql.DB
	admin engine.Target // the administrator, with its password
}

var _ Host = (*pgHost)(nil)

// openPGHost connects to a server given by an admin URL. Errors never
// contain the URL (it holds a password).
func openPGHost(ctx context.Context, dsn string) (*pgHost, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("%w: the PostgreSQL host's connection URL does not parse", ErrNoHost)
	}
	admin := engine.Target{Host: cfg.Host, Port: int(cfg.Port), Database: cfg.Database, User: cfg.User, Password: cfg.Password, SSLMode: sslMode(dsn)}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(4)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("%w: PostgreSQL host %s is not reachable: %v", ErrNoHost, admin, redactErr(err, cfg.Password))
	}
	return &pgHost{db: db, admin: admin}, nil
}

func sslMode(dsn string) string {
	if i := strings.Index(dsn, "sslmode="); i >= 0 {
		v := dsn[i+len("sslmode="):]
		if j := strings.IndexAny(v, "& "); j >= 0 {
			v = v[:j]
		}
		return v
	}
	return ""
}

// redactErr removes a password from an error's text, should a driver
// ever echo it.
func redactErr(err error, password string) string {
	s := err.Error()
	if password != "" {
		s = strings.ReplaceAll(s, password, "***")
	}
	return s
}

func (h *pgHost) close() { h.db.Close() }

func (*pgHost) Engine() string { return EnginePostgres }

func (h *pgHost) Version(ctx context.Context) (string, error) {
	var v string
	if err := h.db.QueryRowContext(ctx, `SHOW server_version`).Scan(&v); err != nil {
		return "", fmt.Errorf("%w: PostgreSQL host %s: %v", ErrNoHost, h.admin, err)
	}
	if i := strings.IndexByte(v, ' '); i > 0 { // "16.4 (Debian 16.4-1)"
		v = v[:i]
	}
	return v, nil
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func quoteLiteral(s string) string { return `'` + strings.ReplaceAll(s, `'`, `''`) + `'` }

// ErrNameTaken is returned by Create when the database or role name is in
// use on the host.
var ErrNameTaken = errors.New("name taken on the database host")

// Create makes role spec.User (LOGIN, the password sent as a SCRAM
// verifier so the plaintext never reaches the server or its logs) and
// database spec.DBName owned by it, and revokes CONNECT and TEMPORARY
// from PUBLIC, so only the owner (and the host's administrator) can
// connect. On error it drops what it made.
func (h *pgHost) Create(ctx context.Context, spec DatabaseSpec) (t engine.Target, ep Endpoint, err error) {
	var exists bool
	if err := h.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, spec.DBName).Scan(&exists); err != nil {
		return t, ep, fmt.Errorf("%w: PostgreSQL host %s: %v", ErrNoHost, h.admin, err)
	}
	if exists {
		return t, ep, fmt.Errorf("%w: database %s already exists on this region's PostgreSQL host; choose another DBName", ErrNameTaken, spec.DBName)
	}
	if err := h.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, spec.User).Scan(&exists); err != nil {
		return t, ep, fmt.Errorf("%w: PostgreSQL host %s: %v", ErrNoHost, h.admin, err)
	}
	if exists {
		return t, ep, fmt.Errorf("%w: role %s already exists on this region's PostgreSQL host; choose another MasterUsername", ErrNameTaken, spec.User)
	}
	verifier, err := scramVerifier(spec.Password)
	if err != nil {
		return t, ep, err
	}
	role, db := quoteIdent(spec.User), quoteIdent(spec.DBName)
	if _, err := h.db.ExecContext(ctx, `CREATE ROLE `+role+` LOGIN PASSWORD `+quoteLiteral(verifier)); err != nil {
		return t, ep, fmt.Errorf("create role %s: %w", spec.User, err)
	}
	defer func() {
		if err != nil {
			// A fresh context: the request's may be what failed.
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
			defer cancel()
			h.db.ExecContext(cctx, `DROP DATABASE IF EXISTS `+db+` WITH (FORCE)`)
			h.db.ExecContext(cctx, `DROP ROLE IF EXISTS `+role)
		}
	}()
	// The administrator must be a member to restore as the role (SET
	// ROLE) and, when not a superuser, to create a database it owns.
	if _, err = h.db.ExecContext(ctx, `GRANT `+role+` TO CURRENT_USER`); err != nil {
		return t, ep, fmt.Errorf("grant role %s to the host's administrator: %w", spec.User, err)
	}
	if _, err = h.db.ExecContext(ctx, `CREATE DATABASE `+db+` OWNER `+role+` TEMPLATE template0 ENCODING 'UTF8'`); err != nil {
		return t, ep, fmt.Errorf("create database %s: %w", spec.DBName, err)
	}
	if _, err = h.db.ExecContext(ctx, `REVOKE CONNECT, TEMPORARY ON DATABASE `+db+` FROM PUBLIC`); err != nil {
		return t, ep, fmt.Errorf("revoke connect on %s: %w", spec.DBName, err)
	}
	t = engine.Target{Host: h.admin.Host, Port: h.admin.Port, Database: spec.DBName, User: spec.User, Password: spec.Password, SSLMode: h.admin.SSLMode}
	return t, h.Endpoint(t), nil
}

// Drop terminates the database's sessions and drops it and its owner.
func (h *pgHost) Drop(ctx context.Context, t engine.Target) error {
	if _, err := h.db.ExecContext(ctx, `DROP DATABASE IF EXISTS `+quoteIdent(t.Database)+` WITH (FORCE)`); err != nil {
		return fmt.Errorf("drop database %s: %w", t.Database, err)
	}
	if _, err := h.db.ExecContext(ctx, `DROP ROLE IF EXISTS `+quoteIdent(t.User)); err != nil {
		return fmt.Errorf("drop role %s: %w", t.User, err)
	}
	return nil
}

func (h *pgHost) SetPassword(ctx context.Context, t engine.Target, password string) error {
	v, err := scramVerifier(password)
	if err != nil {
		return err
	}
	if _, err := h.db.ExecContext(ctx, `ALTER ROLE `+quoteIdent(t.User)+` PASSWORD `+quoteLiteral(v)); err != nil {
		return fmt.Errorf("set the password of role %s: %w", t.User, err)
	}
	return nil
}

func (h *pgHost) RestoreTarget(t engine.Target) engine.Target {
	a := h.admin
	a.Database = t.Database
	a.Role = t.User
	return a
}

func (h *pgHost) Endpoint(t engine.Target) Endpoint { return Endpoint{Address: t.Host, Port: t.Port} }

// roleExists and databaseExists let tests check that nothing was left
// behind.
func (h *pgHost) exists(ctx context.Context, database, role string) (db, r bool, err error) {
	if err = h.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, database).Scan(&db); err != nil {
		return
	}
	err = h.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, role).Scan(&r)
	return
}

// scramVerifier computes PostgreSQL's SCRAM-SHA-256 password verifier
// (RFC 5802/7677, as pg_authid stores it):
//
//	SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>
//
// Passwords are printable ASCII (RDS's rule), for which SASLprep is the
// identity.
func scramVerifier(password string) (string, error) {
	const iterations = 4096
	salt := make([]byte, 16)
	rand.Read(salt)
	salted, err := pbkdf2.Key(sha256.New, password, salt, iterations, sha256.Size)
	if err != nil {
		return "", fmt.Errorf("derive password verifier: %w", err)
	}
	mac := func(key []byte, msg string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(msg))
		return m.Sum(nil)
	}
	clientKey := mac(salted, "Client Key")
	stored := sha256.Sum256(clientKey)
	serverKey := mac(salted, "Server Key")
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s", iterations, b64(salt), b64(stored[:]), b64(serverKey)), nil
}
