// Package jobs runs coffer's durable background work on River, in the
// metadata store's own database: SQLite through River's SQLite driver, or
// PostgreSQL through its database/sql driver, so a job is inserted in the
// same transaction as the domain rows it works on and never runs for a
// change that rolled back.
//
// # Leases
//
// A running job holds a lease of Options.Lease: River's attempted_at on
// its river_job row, which Renew moves forward while the attempt works.
// River's rescuer (on the elected leader) takes a job whose attempted_at
// is older than the lease, and whose worker timeout has passed, back to
// retryable, and another node runs it as its next attempt. So a node that
// dies (or stops, or loses the database for longer than the lease) loses
// its jobs to the other nodes within the lease plus the rescuer's 30 s
// period. The work itself is not bounded by the lease: WorkContext
// detaches an attempt from River's per-attempt deadline and ends it only
// when River cancels it or the lease is lost. Fencing against the old
// attempt coming back is the domain's: see backup's job attempts.
package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"github.com/coffer-dev/coffer/internal/meta"
)

// Options configure the queue.
type Options struct {
	// Workers are the job kinds this node runs. Nil opens an insert-only
	// queue.
	Workers *river.Workers
	// MaxWorkers bounds how many jobs run at once on this node.
	MaxWorkers int
	// Lease is how long a running job's node may go without renewing it
	// before River's rescuer gives the job to another node (default 15 s).
	// It is also River's timeout of jobs that do not renew.
	Lease time.Duration
	// PollInterval is how often idle workers look for new jobs.
	PollInterval time.Duration
	Log          *slog.Logger
	// NodeID names this node in coffer_nodes and to River (its client
	// ID); Address is where it serves, for operators.
	NodeID, Address string
	// PeriodicJobs are run by the elected leader of all nodes sharing the
	// database.
	PeriodicJobs []*river.PeriodicJob
}

// Queue is River over the metadata store.
type Queue struct {
	client  *river.Client[*sql.Tx]
	store   meta.Store
	lease   time.Duration
	log     *slog.Logger
	node    string
	address string
	started time.Time
	stop    context.CancelFunc
	beating chan struct{}
}

func driverFor(store meta.Store) (riverdriver.Driver[*sql.Tx], error) {
	switch store.Dialect() {
	case meta.SQLite:
		return riversqlite.New(store.DB()), nil
	case meta.Postgres:
		return riverdatabasesql.New(store.DB()), nil
	default:
		return nil, fmt.Errorf("no job queue driver for %s", store.Dialect())
	}
}

// Open migrates River's tables and returns a queue that is not started.
func Open(ctx context.Context, store meta.Store, o Options) (*Queue, error) {
	driver, err := driverFor(store)
	if err != nil {
		return nil, err
	}
	migrator, err := rivermigrate.New(driver, &rivermigrate.Config{Logger: o.Log})
	if err != nil {
		return nil, fmt.Errorf("job queue migrations: %w", err)
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return nil, fmt.Errorf("migrate job queue tables: %w", err)
	}
	if o.MaxWorkers == 0 {
		o.MaxWorkers = 4
	}
	if o.Lease == 0 {
		o.Lease = DefaultLease
	}
	if o.PollInterval == 0 {
		o.PollInterval = 200 * time.Millisecond
	}
	cfg := &river.Config{
		Logger:               o.Log,
		JobTimeout:           o.Lease,
		RescueStuckJobsAfter: o.Lease,
		FetchPollInterval:    o.PollInterval,
		FetchCooldown:        min(o.PollInterval, 100*time.Millisecond),
		// Both drivers poll: River's database/sql driver has no LISTEN.
		PollOnly:     true,
		PeriodicJobs: o.PeriodicJobs,
		ID:           o.NodeID,
	}
	if o.Workers != nil {
		cfg.Workers = o.Workers
		cfg.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: o.MaxWorkers}}
	}
	client, err := river.NewClient(driver, cfg)
	if err != nil {
		return nil, fmt.Errorf("job queue: %w", err)
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return &Queue{client: client, store: store, lease: o.Lease, log: o.Log, node: client.ID(), address: o.Address}, nil
}

// DefaultLease is Options.Lease's default.
const DefaultLease = 15 * time.Second

// Lease is how long a job's node may go without renewing it.
func (q *Queue) Lease() time.Duration { return q.lease }

// Renew moves the lease of attempt of the running River job id forward.
// It reports false when that attempt no longer runs (River's rescuer took
// the job back, or it was cancelled): the caller has lost the lease and
// must stop.
func (q *Queue) Renew(ctx context.Context, id int64, attempt int) (bool, error) {
	now := "now()"
	if q.store.Dialect() == meta.SQLite {
		now = "datetime('now', 'subsec')"
	}
	res, err := q.store.ExecContext(ctx, `UPDATE river_job SET attempted_at = `+now+` WHERE id = ? AND attempt = ? AND state = 'running'`, id, attempt)
	if err != nil {
		return false, fmt.Errorf("renew the lease of job %d: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("renew the lease of job %d: %w", id, err)
	}
	return n == 1, nil
}

// AwaitSuccessor waits while a later attempt than attempt of job id is
// queued or running, then returns. An attempt that lost its lease calls it
// before it returns from its worker: River finalises a job whatever
// attempt runs it, so returning earlier would end the job under the
// attempt that took it over.
func (q *Queue) AwaitSuccessor(ctx context.Context, id int64, attempt int) error {
	tick := time.NewTicker(q.lease / 6)
	defer tick.Stop()
	for {
		var n int
		err := q.store.QueryRowContext(ctx, `SELECT COUNT(*) FROM river_job WHERE id = ? AND attempt > ?
			AND state NOT IN ('completed', 'cancelled', 'discarded')`, id, attempt).Scan(&n)
		if err == nil && n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// WorkContext is the context a leased attempt works in: cancelled when
// River cancels ctx (the job was cancelled, the node stops), not when
// River's per-attempt deadline passes, since the lease bounds the
// attempt instead. Call the returned function when the work ends.
func WorkContext(ctx context.Context) (context.Context, context.CancelFunc) {
	work, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() {
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			cancel()
		}
	})
	return work, func() { stop(); cancel() }
}

// Start begins working jobs and renewing this node's heartbeat.
func (q *Queue) Start(ctx context.Context) error {
	if err := q.client.Start(ctx); err != nil {
		return err
	}
	q.started = time.Now()
	beatCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	q.stop, q.beating = stop, make(chan struct{})
	go func() { defer close(q.beating); q.beatUntil(beatCtx) }()
	return nil
}

// Stop lets running jobs finish (until ctx ends, then cancels them) and
// removes this node from coffer_nodes.
func (q *Queue) Stop(ctx context.Context) error {
	if q.stop != nil {
		q.stop()
		<-q.beating
	}
	err := q.client.Stop(ctx)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return q.client.StopAndCancel(context.Background())
	}
	return err
}

// InsertTx enqueues a job inside the caller's store transaction.
func (q *Queue) InsertTx(ctx context.Context, tx meta.Querier, args river.JobArgs, opts *river.InsertOpts) error {
	sqlTx := meta.SQLTx(tx)
	if sqlTx == nil {
		return errors.New("jobs: InsertTx needs the Querier of a store transaction")
	}
	_, err := q.client.InsertTx(ctx, sqlTx, args, opts)
	return err
}

// Insert enqueues a job on its own.
func (q *Queue) Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) error {
	_, err := q.client.Insert(ctx, args, opts)
	return err
}

// Subscribe reports job events, for tests and progress displays.
func (q *Queue) Subscribe(kinds ...river.EventKind) (<-chan *river.Event, func()) {
	return q.client.Subscribe(kinds...)
}

// JobState is River's state of a job, for diagnostics.
type JobState = rivertype.JobState
