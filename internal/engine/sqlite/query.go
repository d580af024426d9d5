package sqlite

import (
	"context"
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
	return engine.Answer(rows, func() ([]any, error) {
		cols, err := rows.Columns()
		if err != nil {
			return nil, err
		}
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		return vals, rows.Scan(ptrs...)
	})
}
