package sqlite

import (
	"context"
	"errors"
	"fmt"

	"github.com/coffer-dev/coffer/internal/engine"
)

// CheckQuery runs a validation query on a read-only handle of the
// database and reports whether its first row's first column is true.
func (e *Engine) CheckQuery(ctx context.Context, t engine.Target, query string) (bool, error) {
	db, err := open(t.Path, true)
	if err != nil {
		return false, unavailable(t, err)
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		return false, fmt.Errorf("validation query: %w", err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return false, fmt.Errorf("validation query: %w", err)
		}
		return false, errors.New("the validation query returned no row")
	}
	cols, err := rows.Columns()
	if err != nil {
		return false, err
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return false, fmt.Errorf("validation query: %w", err)
	}
	if len(vals) == 0 {
		return false, errors.New("the validation query returned no column")
	}
	return engine.Truthy(vals[0])
}
