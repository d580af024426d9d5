// Package postgres opens coffer's metadata store on a PostgreSQL server,
// which several coffer nodes can share.
package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver

	"github.com/coffer-dev/coffer/internal/meta"
)

// migrationLock is the advisory lock key that serialises migrations when
// several nodes start at once ("coffer" in ASCII).
const migrationLock = 0x636f66666572

// Open connects to the server named by dsn (a postgres:// URL or key=value
// string) and migrates the schema.
func Open(ctx context.Context, dsn string) (*meta.SQLStore, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	// Reconnecting costs a round trip or three and authentication; keep
	// the connections concurrent requests use (database/sql keeps 2).
	db.SetMaxIdleConns(32)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	begin := func(ctx context.Context) (*sql.Tx, error) {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return nil, err
		}
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
			tx.Rollback()
			return nil, err
		}
		return tx, nil
	}
	s, err := meta.Open(ctx, db, Hooks, begin)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate postgres: %w", err)
	}
	return s, nil
}

// Hooks are PostgreSQL's dialect details.
var Hooks = meta.Hooks{
	Dialect:     meta.Postgres,
	Rebind:      meta.RebindDollar,
	IsConflict:  func(err error) bool { return hasCode(err, "23505") },
	IsRetryable: func(err error) bool { return hasCode(err, "40001", "40P01") },
	TypeNames:   map[string]string{"BLOB": "BYTEA", "COMPACT": ""},
}

func hasCode(err error, codes ...string) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	for _, c := range codes {
		if pe.Code == c {
			return true
		}
	}
	return false
}
