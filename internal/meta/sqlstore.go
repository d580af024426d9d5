package meta

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Hooks are what differs between SQL engines.
type Hooks struct {
	Dialect Dialect
	// Rebind turns '?' placeholders into the engine's own.
	Rebind func(string) string
	// IsConflict reports a unique-constraint violation.
	IsConflict func(error) bool
	// IsRetryable reports a transaction that lost a race and may be rerun.
	IsRetryable func(error) bool
	// TypeNames maps the portable words used in migrations to the
	// engine's: type names ("BLOB" -> "BYTEA") and the table option
	// COMPACT (a table stored as its primary key: "WITHOUT ROWID" on
	// SQLite, nothing on PostgreSQL).
	TypeNames map[string]string
}

// SQLStore implements Store over a database/sql pool; the dialect packages
// open the pool and supply Hooks.
type SQLStore struct {
	db    *sql.DB
	hooks Hooks
	querier
}

var _ Store = (*SQLStore)(nil)

// Open wraps db and applies the embedded migrations.
func Open(ctx context.Context, db *sql.DB, hooks Hooks, begin func(context.Context) (*sql.Tx, error)) (*SQLStore, error) {
	ms, err := LoadMigrations(migrationFS, "migrations")
	if err != nil {
		return nil, err
	}
	for i := range ms {
		ms[i].SQL = translateTypes(ms[i].SQL, hooks.TypeNames)
	}
	if begin == nil {
		begin = func(ctx context.Context) (*sql.Tx, error) { return db.BeginTx(ctx, nil) }
	}
	if err := Migrate(ctx, begin, ms, hooks.Rebind); err != nil {
		return nil, err
	}
	s := &SQLStore{db: db, hooks: hooks}
	s.querier = querier{q: db, hooks: &s.hooks}
	return s, nil
}

func (s *SQLStore) Dialect() Dialect { return s.hooks.Dialect }
func (s *SQLStore) DB() *sql.DB      { return s.db }
func (s *SQLStore) Close() error     { return s.db.Close() }

func (s *SQLStore) SchemaVersion(ctx context.Context) (int, error) { return CurrentVersion(ctx, s) }

const maxTxAttempts = 8

// InTx runs fn in a transaction, rerunning it when the engine reports a
// serialization failure or a busy database.
func (s *SQLStore) InTx(ctx context.Context, fn func(q Querier) error) error {
	var err error
	for attempt := 0; attempt < maxTxAttempts; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(attempt*attempt) * 5 * time.Millisecond):
			}
		}
		err = s.runTx(ctx, fn)
		if err == nil || !s.hooks.IsRetryable(err) {
			return err
		}
	}
	return fmt.Errorf("transaction kept conflicting after %d attempts: %w", maxTxAttempts, err)
}

func (s *SQLStore) runTx(ctx context.Context, fn func(q Querier) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(querier{q: tx, hooks: &s.hooks}); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

type sqlQuerier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// querier rebinds placeholders and turns constraint violations into
// ErrConflict.
type querier struct {
	q     sqlQuerier
	hooks *Hooks
}

func (q querier) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	res, err := q.q.ExecContext(ctx, q.hooks.Rebind(query), args...)
	return res, q.mapErr(err)
}

func (q querier) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	rows, err := q.q.QueryContext(ctx, q.hooks.Rebind(query), args...)
	return rows, q.mapErr(err)
}

func (q querier) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return q.q.QueryRowContext(ctx, q.hooks.Rebind(query), args...)
}

func (q querier) mapErr(err error) error {
	if err != nil && q.hooks.IsConflict(err) {
		return fmt.Errorf("%w: %v", ErrConflict, err)
	}
	return err
}

// RebindDollar turns '?' into $1, $2, ... outside quoted strings.
func RebindDollar(query string) string {
	if !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	n := 0
	inQuote := false
	for _, r := range query {
		switch {
		case r == '\'':
			inQuote = !inQuote
			b.WriteRune(r)
		case r == '?' && !inQuote:
			n++
			b.WriteString("$" + strconv.Itoa(n))
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

var typeWord = regexp.MustCompile(`\b[A-Z]+\b`)

func translateTypes(sqlText string, names map[string]string) string {
	if len(names) == 0 {
		return sqlText
	}
	return typeWord.ReplaceAllStringFunc(sqlText, func(w string) string {
		if r, ok := names[w]; ok {
			return r
		}
		return w
	})
}

// SQLTx returns the database/sql transaction behind q when q is the
// Querier InTx passed in, so libraries that take a *sql.Tx (the job
// queue) can join the transaction; otherwise nil.
func SQLTx(q Querier) *sql.Tx {
	if w, ok := q.(querier); ok {
		if tx, ok := w.q.(*sql.Tx); ok {
			return tx
		}
	}
	return nil
}
