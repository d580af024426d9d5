// Package meta is coffer's metadata store: one relational database reached
// through database/sql, embedded SQLite by default (meta/sqlite) or
// PostgreSQL when several coffer nodes share it (meta/postgres).
//
// Domain packages write portable SQL with '?' placeholders; the PostgreSQL
// implementation rebinds them. Schema changes are versioned migrations,
// one file per version and dialect, applied in order at start inside a
// transaction each and recorded in schema_migrations.
package meta

import (
	"context"
	"database/sql"
	"errors"
)

// Dialect names the SQL engine behind a Store.
type Dialect string

const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// ErrConflict is returned (wrapped) when a write violates a unique or
// primary-key constraint.
var ErrConflict = errors.New("meta: row already exists")

// ErrNotFound is returned by helpers when a row that must exist does not.
var ErrNotFound = errors.New("meta: not found")

// Querier runs statements, inside or outside a transaction.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Store is the metadata database.
type Store interface {
	Querier
	Dialect() Dialect
	// InTx runs fn in a transaction, committing when fn returns nil.
	// Transactions that lose a serialization race are retried, so fn
	// must not have effects outside the transaction.
	InTx(ctx context.Context, fn func(q Querier) error) error
	// DB is the underlying pool, for libraries that need one (the job
	// queue). Queries through it are not rebound.
	DB() *sql.DB
	// SchemaVersion is the highest migration applied.
	SchemaVersion(ctx context.Context) (int, error)
	Close() error
}
