package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/coffer-dev/coffer/internal/engine"
)

// CheckQuery runs a validation query in a read-only transaction and
// reports whether its first row's first column is true.
func (e *Engine) CheckQuery(ctx context.Context, t engine.Target, query string) (bool, error) {
	conn, err := Connect(ctx, t)
	if err != nil {
		return false, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		return false, fmt.Errorf("validation query: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	rows, err := tx.Query(ctx, query)
	if err != nil {
		return false, fmt.Errorf("validation query: %w", err)
	}
	defer rows.Close()
	return engine.Answer(rows, rows.Values)
}
