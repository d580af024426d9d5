package meta

import (
	"context"
	"database/sql"
	"errors"
)

// Row is what a scan function reads one row from: *sql.Row or *sql.Rows.
type Row = interface{ Scan(dest ...any) error }

// QueryAll runs query and scans every row it returns with scan.
func QueryAll[T any](ctx context.Context, q Querier, scan func(Row) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// FindOne runs query and scans the row it returns with scan; found is
// false, with no error, when there is none. It is how a create call
// finds what an earlier call with the same idempotency token made.
func FindOne[T any](ctx context.Context, q Querier, scan func(Row) (T, error), query string, args ...any) (v T, found bool, err error) {
	v, err = scan(q.QueryRowContext(ctx, query, args...))
	if errors.Is(err, sql.ErrNoRows) {
		var zero T
		return zero, false, nil
	}
	return v, err == nil, err
}
