// Package metatest is the shared test suite every metadata store
// implementation must pass.
package metatest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/coffer-dev/coffer/internal/meta"
)

// Run runs the suite against stores from open. Each call to open must
// return a store on a fresh, empty database.
func Run(t *testing.T, open func(t *testing.T) meta.Store) {
	t.Run("Migrated", func(t *testing.T) { testMigrated(t, open(t)) })
	t.Run("RoundTrip", func(t *testing.T) { testRoundTrip(t, open(t)) })
	t.Run("Conflict", func(t *testing.T) { testConflict(t, open(t)) })
	t.Run("TxRollback", func(t *testing.T) { testTxRollback(t, open(t)) })
	t.Run("ConcurrentTx", func(t *testing.T) { testConcurrentTx(t, open(t)) })
	t.Run("QueryAllFindOne", func(t *testing.T) { testQueryAllFindOne(t, open(t)) })
}

// testQueryAllFindOne: QueryAll scans every row in order; FindOne finds
// one row, or reports none without an error.
func testQueryAllFindOne(t *testing.T, s meta.Store) {
	ctx := context.Background()
	for _, id := range []string{"111122223333", "444455556666"} {
		if err := insertAccount(ctx, s, id); err != nil {
			t.Fatal(err)
		}
	}
	scanID := func(r meta.Row) (string, error) {
		var id string
		err := r.Scan(&id)
		return id, err
	}
	ids, err := meta.QueryAll(ctx, s, scanID, `SELECT id FROM accounts WHERE email LIKE ? ORDER BY id`, "%@example.com")
	if err != nil || fmt.Sprint(ids) != "[111122223333 444455556666]" {
		t.Fatalf("QueryAll = %v, %v", ids, err)
	}
	if id, found, err := meta.FindOne(ctx, s, scanID, `SELECT id FROM accounts WHERE name = ?`, "acct-444455556666"); err != nil || !found || id != "444455556666" {
		t.Fatalf("FindOne = %q, %v, %v; want 444455556666, true", id, found, err)
	}
	if id, found, err := meta.FindOne(ctx, s, scanID, `SELECT id FROM accounts WHERE name = ?`, "nobody"); err != nil || found || id != "" {
		t.Fatalf("FindOne of no row = %q, %v, %v; want none", id, found, err)
	}
	if _, _, err := meta.FindOne(ctx, s, scanID, `SELECT id FROM no_such_table`); err == nil {
		t.Fatal("FindOne on a missing table reported no error")
	}
}

func testMigrated(t *testing.T, s meta.Store) {
	v, err := s.SchemaVersion(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if v < 1 {
		t.Fatalf("schema version = %d, want >= 1", v)
	}
}

func insertAccount(ctx context.Context, q meta.Querier, id string) error {
	_, err := q.ExecContext(ctx, `INSERT INTO accounts (id, name, email, status, joined_method, created_at) VALUES (?, ?, ?, 'ACTIVE', 'CREATED', ?)`,
		id, "acct-"+id, id+"@example.com", int64(1700000000000000000))
	return err
}

func testRoundTrip(t *testing.T, s meta.Store) {
	ctx := context.Background()
	if err := insertAccount(ctx, s, "111122223333"); err != nil {
		t.Fatal(err)
	}
	secret := []byte{0, 1, 2, 0xff, 0xfe, 'a'}
	if _, err := s.ExecContext(ctx, `INSERT INTO access_keys (access_key_id, account_id, user_name, sealed_secret, status, created_at) VALUES (?, ?, ?, ?, 'Active', ?)`,
		"AKIAEXAMPLE", "111122223333", "admin", secret, int64(42)); err != nil {
		t.Fatal(err)
	}
	var got []byte
	var created int64
	if err := s.QueryRowContext(ctx, `SELECT sealed_secret, created_at FROM access_keys WHERE access_key_id = ?`, "AKIAEXAMPLE").Scan(&got, &created); err != nil {
		t.Fatal(err)
	}
	if string(got) != string(secret) || created != 42 {
		t.Fatalf("got %x %d, want %x 42", got, created, secret)
	}
	// A literal '?' inside a string must not be taken for a placeholder.
	var lit string
	if err := s.QueryRowContext(ctx, `SELECT 'what?' || ?`, "!").Scan(&lit); err != nil {
		t.Fatal(err)
	}
	if lit != "what?!" {
		t.Fatalf("literal = %q, want %q", lit, "what?!")
	}
}

func testConflict(t *testing.T, s meta.Store) {
	ctx := context.Background()
	if err := insertAccount(ctx, s, "111122223333"); err != nil {
		t.Fatal(err)
	}
	err := insertAccount(ctx, s, "111122223333")
	if !errors.Is(err, meta.ErrConflict) {
		t.Fatalf("duplicate insert err = %v, want ErrConflict", err)
	}
	err = s.InTx(ctx, func(q meta.Querier) error { return insertAccount(ctx, q, "111122223333") })
	if !errors.Is(err, meta.ErrConflict) {
		t.Fatalf("duplicate insert in tx err = %v, want ErrConflict", err)
	}
}

func testTxRollback(t *testing.T, s meta.Store) {
	ctx := context.Background()
	boom := errors.New("boom")
	err := s.InTx(ctx, func(q meta.Querier) error {
		if err := insertAccount(ctx, q, "444455556666"); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx err = %v, want boom", err)
	}
	var n int
	if err := s.QueryRowContext(ctx, `SELECT COUNT(*) FROM accounts`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("rows after rollback = %d, want 0", n)
	}
}

// testConcurrentTx increments one counter from many goroutines in
// read-modify-write transactions; no update may be lost.
func testConcurrentTx(t *testing.T, s meta.Store) {
	ctx := context.Background()
	if err := insertAccount(ctx, s, "000000000001"); err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				err := s.InTx(ctx, func(q meta.Querier) error {
					var c int64
					// FOR UPDATE is PostgreSQL's; SQLite's immediate
					// transactions already serialise writers.
					query := `SELECT created_at FROM accounts WHERE id = ?`
					if s.Dialect() == meta.Postgres {
						query += ` FOR UPDATE`
					}
					if err := q.QueryRowContext(ctx, query, "000000000001").Scan(&c); err != nil {
						return err
					}
					_, err := q.ExecContext(ctx, `UPDATE accounts SET created_at = ? WHERE id = ?`, c+1, "000000000001")
					return err
				})
				if err != nil {
					errs <- fmt.Errorf("increment: %w", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var got int64
	if err := s.QueryRowContext(ctx, `SELECT created_at FROM accounts WHERE id = ?`, "000000000001").Scan(&got); err != nil {
		t.Fatal(err)
	}
	if want := int64(1700000000000000000 + workers*each); got != want {
		t.Fatalf("counter = %d, want %d (lost updates)", got, want)
	}
}
