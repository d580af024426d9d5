package backup

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"github.com/coffer-dev/coffer/internal/identity"
	"github.com/coffer-dev/coffer/internal/meta"
	"github.com/coffer-dev/coffer/internal/reqctx"
)

// AddWorkers registers the job worker with the queue's workers.
func (s *Service) AddWorkers(w *river.Workers) {
	river.AddWorker(w, &worker{s: s})
}

type worker struct {
	river.WorkerDefaults[runArgs]
	s *Service
}

// Work runs one job to its end. A job always ends COMPLETED or FAILED
// (or EXPIRED, ABORTED) here: failures are recorded on the job, not
// retried by the queue, as AWS Backup reports them.
func (w *worker) Work(ctx context.Context, rj *river.Job[runArgs]) error {
	return w.s.run(ctx, rj.Args.JobID)
}

// Timeout lets jobs run as long as their completion window allows; the
// heartbeat, not the queue, tells a dead job from a slow one.
func (w *worker) Timeout(*river.Job[runArgs]) time.Duration { return -1 }

func (s *Service) run(ctx context.Context, id string) error {
	j, err := loadJob(ctx, s.store, id)
	if err != nil {
		return err
	}
	if j.Finished() {
		return nil
	}
	now := s.now()
	if (j.State == StateCreated || j.State == StatePending) && !j.StartBy.IsZero() && now.After(j.StartBy) {
		// A restore job knows no EXPIRED: a restore test that did not
		// start within its StartWindowHours is canceled (ABORTED).
		j.State, j.StatusMessage, j.Completed = StateExpired, "the job did not start within its start window", now
		if j.Kind == KindRestore {
			j.State = StateAborted
		}
		return s.ended(ctx, j, s.update(ctx, s.store, j))
	}
	if claimed, err := s.claim(ctx, j); err != nil {
		return ignoreFinished(err)
	} else if !claimed {
		// The account has its share of the workers; try again shortly
		// rather than hold a worker that other accounts could use.
		return river.JobSnooze(time.Second)
	}
	s.notifyJob(ctx, j)
	jobCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if !j.CompleteBy.IsZero() {
		var c2 context.CancelFunc
		jobCtx, c2 = context.WithDeadline(jobCtx, j.CompleteBy)
		defer c2()
	}
	t := &tracker{}
	jobCtx = context.WithValue(jobCtx, trackerKey{}, t)
	stop := s.heartbeat(jobCtx, j, t, cancel)
	err = s.runAs(jobCtx, j)
	stop()
	if err == nil {
		s.notifyJob(ctx, j)
		if j.Kind == KindBackup && s.onBackupDone != nil {
			s.onBackupDone(ctx, j)
		}
		return nil
	}
	if errors.Is(err, errJobFinished) {
		return nil
	}
	msg := failMessage(err)
	if errors.Is(jobCtx.Err(), context.DeadlineExceeded) {
		msg = "the job did not complete within its completion window: " + msg
	}
	s.log.Warn("job failed", "job", j.ID, "kind", j.Kind, "reason", msg)
	return s.ended(ctx, j, s.store.InTx(context.WithoutCancel(ctx), func(q meta.Querier) error {
		j.State, j.StatusMessage, j.Completed = StateFailed, msg, s.now()
		j.BytesTransferred, j.PercentDone = t.snapshot()
		if err := s.update(ctx, q, j); err != nil {
			return err
		}
		return discardUncommitted(ctx, q, j)
	}))
}

// ended notifies the job's end when err shows this worker recorded it,
// and returns err but for a job someone else ended first.
func (s *Service) ended(ctx context.Context, j *Job, err error) error {
	if err == nil {
		s.notifyJob(ctx, j)
	}
	return ignoreFinished(err)
}

func ignoreFinished(err error) error {
	if errors.Is(err, errJobFinished) {
		return nil
	}
	return err
}

// claim marks the job RUNNING unless its account already runs its limit
// of jobs across all nodes, so one account's burst cannot starve the
// others. Counting and claiming happen in one transaction serialised per
// account (SQLite's writers are serialised anyway; PostgreSQL takes an
// advisory lock on the account).
func (s *Service) claim(ctx context.Context, j *Job) (bool, error) {
	claimed := false
	err := s.store.InTx(ctx, func(q meta.Querier) error {
		if s.store.Dialect() == meta.Postgres {
			if _, err := q.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext(?))`, "coffer-jobs-"+j.Account); err != nil {
				return err
			}
		}
		var n int
		if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM backup_jobs WHERE account_id = ? AND state = 'RUNNING'`, j.Account).Scan(&n); err != nil {
			return err
		}
		if n >= s.perAccount {
			return nil
		}
		j.State = StateRunning
		claimed = true
		return s.update(ctx, q, j)
	})
	return claimed, err
}

// runAs runs the job as the service role session of its IamRoleArn, in
// the job's region.
func (s *Service) runAs(ctx context.Context, j *Job) error {
	session, err := s.roles.AssumeRoleAsService(ctx, j.IAMRoleARN, ServicePrincipal)
	if err != nil {
		return fmt.Errorf("%s could not assume role %s: %w", ServicePrincipal, j.IAMRoleARN, err)
	}
	ctx = identity.WithCaller(ctx, session)
	ctx = reqctx.WithCall(ctx, &reqctx.Call{Service: "backup", Region: j.Region, Operation: "job:" + j.Kind, RequestID: j.ID})
	switch j.Kind {
	case KindBackup:
		return s.runBackup(ctx, j)
	case KindCopy:
		return s.runCopy(ctx, j)
	case KindRestore:
		return s.runRestore(ctx, j)
	}
	return fmt.Errorf("unknown job kind %q", j.Kind)
}

// heartbeat renews the job's heartbeat and progress until stopped; if
// the job was stopped (ABORTED) or failed by a sweeper meanwhile, it
// cancels the work.
func (s *Service) heartbeat(ctx context.Context, j *Job, t *tracker, cancel func()) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(s.staleAfter / 6)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
				bytes, pct := t.snapshot()
				res, err := s.store.ExecContext(ctx, `UPDATE backup_jobs SET heartbeat_at = ?, bytes_transferred = ?, percent_done = ?
					WHERE id = ? AND state = 'RUNNING'`, s.now().UnixNano(), bytes, pct, j.ID)
				if err != nil {
					continue
				}
				if n, _ := res.RowsAffected(); n == 0 {
					cancel()
					return
				}
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// tracker counts the bytes a running job moved.
type tracker struct {
	mu       sync.Mutex
	bytes    int64
	expected int64
}

type trackerKey struct{}

func trackerFrom(ctx context.Context) *tracker {
	if t, ok := ctx.Value(trackerKey{}).(*tracker); ok {
		return t
	}
	return &tracker{}
}

func (t *tracker) expect(n int64) { t.mu.Lock(); t.expected = n; t.mu.Unlock() }

func (t *tracker) add(n int64) { t.mu.Lock(); t.bytes += n; t.mu.Unlock() }

// snapshot returns the bytes moved and PercentDone, estimated against the
// expected size and never 100 before the job completes.
func (t *tracker) snapshot() (int64, string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	pct := 0.0
	if t.expected > 0 {
		pct = float64(t.bytes) * 100 / float64(t.expected)
		if pct > 99 {
			pct = 99
		}
	}
	return t.bytes, fmt.Sprintf("%.1f", pct)
}

// callerARN names who made the request in ctx.
func callerARN(ctx context.Context) string {
	if p := identity.Caller(ctx); p != nil {
		return p.ARN
	}
	return "coffer"
}
