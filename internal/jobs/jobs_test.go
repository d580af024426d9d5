package jobs_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/coffer-dev/coffer/internal/jobs"
	"github.com/coffer-dev/coffer/internal/meta"
	"github.com/coffer-dev/coffer/internal/meta/postgres"
	"github.com/coffer-dev/coffer/internal/meta/sqlite"
	"github.com/coffer-dev/coffer/internal/testenv"
)

type echoArgs struct{ Word string }

func (echoArgs) Kind() string { return "test_echo" }

type echoWorker struct {
	river.WorkerDefaults[echoArgs]
	seen chan string
}

func (w *echoWorker) Work(_ context.Context, j *river.Job[echoArgs]) error {
	w.seen <- j.Args.Word
	return nil
}

// A job inserted in a committed transaction runs once; one inserted in a
// transaction that rolls back never runs.
func testTransactional(t *testing.T, store meta.Store) {
	ctx := context.Background()
	w := &echoWorker{seen: make(chan string, 10)}
	workers := river.NewWorkers()
	river.AddWorker(workers, w)
	q, err := jobs.Open(ctx, store, jobs.Options{Workers: workers, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer q.Stop(ctx)
	boom := errors.New("rolled back")
	err = store.InTx(ctx, func(tx meta.Querier) error {
		if err := q.InsertTx(ctx, tx, echoArgs{Word: "never"}, nil); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if err := store.InTx(ctx, func(tx meta.Querier) error { return q.InsertTx(ctx, tx, echoArgs{Word: "committed"}, nil) }); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-w.seen:
		if got != "committed" {
			t.Fatalf("worked %q, want committed", got)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the committed job did not run")
	}
	select {
	case got := <-w.seen:
		t.Fatalf("a second job ran: %q", got)
	case <-time.After(500 * time.Millisecond):
	}
	if err := q.InsertTx(ctx, store, echoArgs{}, nil); err == nil {
		t.Fatal("InsertTx outside a transaction was accepted")
	}
}

func TestSQLite(t *testing.T) {
	store, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	testTransactional(t, store)
}

func TestPostgres(t *testing.T) {
	srv := testenv.StartPostgres(t)
	store, err := postgres.Open(context.Background(), srv.CreateDatabase(t, "jobs"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	testTransactional(t, store)
}
