package enginetest

import (
	"context"
	"testing"

	"github.com/coffer-dev/coffer/internal/engine"
)

// queryChecker is an engine that runs restore validation queries.
type queryChecker interface {
	CheckQuery(ctx context.Context, t engine.Target, query string) (bool, error)
}

// testCheckQuery: a validation query's first column decides; no row, a
// NULL, a non-boolean or a write is an error, and the write changes
// nothing.
func testCheckQuery(t *testing.T, h Harness) {
	qc, ok := h.Engine.(queryChecker)
	if !ok {
		t.Fatalf("%s runs no validation queries (CheckQuery): restore tests need them", h.Engine.Name())
	}
	tg, db := source(t, h)
	ctx := context.Background()
	items := h.TableName("items")
	for _, tc := range []struct {
		query   string
		want    bool
		wantErr bool
	}{
		{"SELECT COUNT(*) = 3 FROM " + items, true, false},
		{"SELECT COUNT(*) = 4 FROM " + items, false, false},
		{"SELECT COUNT(*) FROM " + items + " WHERE qty IS NULL", true, false},
		{"SELECT qty FROM " + items + " WHERE id = 2", false, true},
		{"SELECT name FROM " + items + " WHERE id = 1", false, true},
		{"SELECT 1 FROM " + items + " WHERE id = 99", false, true},
		{"DELETE FROM " + items, false, true},
		{"SELECT no_such_column FROM " + items, false, true},
	} {
		got, err := qc.CheckQuery(ctx, tg, tc.query)
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("%s: %v, %v; want %v, error %v", tc.query, got, err, tc.want, tc.wantErr)
		}
	}
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM items").Scan(&n); err != nil || n != 3 {
		t.Errorf("after the queries items holds %d rows (%v), want 3", n, err)
	}
}
