package backup

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"github.com/coffer-dev/coffer/internal/blob"
	"github.com/coffer-dev/coffer/internal/identity"
	"github.com/coffer-dev/coffer/internal/jobs"
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

// Work runs one attempt of a job. A job ends COMPLETED or FAILED (or
// EXPIRED, ABORTED) here: failures are recorded on the job, as AWS Backup
// reports them, and not retried by the queue. The queue runs a job again
// only when the node of its attempt stopped renewing its lease (River's
// rescuer): the next attempt takes the job over (see takeOver).
func (w *worker) Work(ctx context.Context, rj *river.Job[runArgs]) error {
	ctx, done := jobs.WorkContext(ctx)
	defer done()
	lease := queueLease{id: rj.ID, attempt: rj.Attempt}
	err := w.s.run(ctx, rj.Args.JobID, lease)
	if errors.Is(err, errLeaseLost) {
		return w.s.queue.AwaitSuccessor(ctx, lease.id, lease.attempt)
	}
	return err
}

// queueLease names the queue job and attempt a worker holds.
type queueLease struct {
	id      int64
	attempt int
}

// errLeaseLost: another attempt took the job over.
var errLeaseLost = errors.New("the job's lease was lost to another attempt")

// NextRetry runs a job taken back from a node that stopped at once.
func (w *worker) NextRetry(*river.Job[runArgs]) time.Time { return time.Now() }

func (s *Service) run(ctx context.Context, id string, lease queueLease) error {
	j, err := loadJob(ctx, s.store, id)
	if err != nil {
		return err
	}
	if j.Finished() {
		return nil
	}
	now := s.now()
	if wait, err := s.awaitHolder(ctx, j, now); wait {
		return err
	}
	if (j.State == StateCreated || j.State == StatePending) && !j.StartBy.IsZero() && now.After(j.StartBy) {
		// A restore job knows no EXPIRED: a restore test that did not
		// start within its StartWindowHours is canceled (ABORTED).
		j.State, j.StatusMessage, j.Completed = StateExpired, "the job did not start within its start window", now
		if j.Kind == KindRestore {
			j.State = StateAborted
		}
		return s.ended(ctx, j, s.update(ctx, s.store, j))
	}
	if j.State == StateRunning && j.Kind == KindRestore && j.CreatedResourceARN != "" {
		// Outside claim's transaction: the instance is in the same store.
		if err := s.dbs.AbandonRestored(ctx, j.CreatedResourceARN, abandonedMessage(j)); err != nil {
			return fmt.Errorf("abandon %s: %w", j.CreatedResourceARN, err)
		}
	}
	if claimed, err := s.claim(ctx, j); err != nil {
		return ignoreFinished(err)
	} else if !claimed {
		// The account has its share of the workers; try again shortly
		// rather than hold a worker that other accounts could use.
		return river.JobSnooze(time.Second)
	}
	if j.attempt > 1 {
		// The earlier attempts are fenced out: their uncommitted data is
		// garbage now. Should this fail (storage away), GC frees it once
		// the dead writer's storage lease runs out.
		if err := s.data.ReleaseAttempts(ctx, j.ID, j.attempt); err != nil {
			s.log.Warn("release the data of the job's earlier attempts", "job", j.ID, "error", err)
		}
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
	jobCtx = context.WithValue(jobCtx, attemptKey{}, jobAttempt{j.ID, j.attempt})
	// Storage outages are waited out within the completion window (the
	// job's deadline), or for patience when it has none.
	jobCtx = blob.Patient(jobCtx, patienceEnd(j, now))
	stop := s.heartbeat(jobCtx, j, lease, t, cancel)
	err = s.runAs(jobCtx, j)
	lost := stop()
	if err == nil {
		s.notifyJob(ctx, j)
		if j.Kind == KindBackup && s.onBackupDone != nil {
			s.onBackupDone(ctx, j)
		}
		return nil
	}
	if lost || s.fencedOut(ctx, j) {
		// Stopped, or taken over by another attempt: that one reports.
		return errLeaseLost
	}
	if errors.Is(err, errJobFinished) {
		return nil
	}
	if ctx.Err() != nil {
		// This node is stopping: the job stays RUNNING and River runs it
		// again, on another node or this one once it is back.
		return fmt.Errorf("job %s interrupted: %w", j.ID, context.Cause(ctx))
	}
	msg := failMessage(err)
	if errors.Is(jobCtx.Err(), context.DeadlineExceeded) {
		msg = "the job did not complete within its completion window: " + msg
	}
	s.log.Warn("job failed", "job", j.ID, "kind", j.Kind, "reason", msg)
	err = s.store.InTx(context.WithoutCancel(ctx), func(q meta.Querier) error {
		j.State, j.StatusMessage, j.Completed = StateFailed, msg, s.now()
		j.BytesTransferred, j.PercentDone = t.snapshot()
		if err := s.update(ctx, q, j); err != nil {
			return err
		}
		return discardUncommitted(ctx, q, j)
	})
	if errors.Is(err, errJobFinished) && s.fencedOut(ctx, j) {
		return errLeaseLost
	}
	return s.ended(ctx, j, err)
}

// ended notifies the job's end when err shows this worker recorded it,
// and returns err but for a job someone else ended first.
func (s *Service) ended(ctx context.Context, j *Job, err error) error {
	if err == nil {
		s.notifyJob(ctx, j)
	}
	return ignoreFinished(err)
}

func abandonedMessage(j *Job) string {
	return fmt.Sprintf("the coffer node restoring into %s stopped before the restore finished; delete the instance and start the restore again", j.CreatedResourceARN)
}

// fencedOut reports whether another attempt took the job over from j's.
func (s *Service) fencedOut(ctx context.Context, j *Job) bool {
	var attempt int64
	err := s.store.QueryRowContext(context.WithoutCancel(ctx), `SELECT attempt FROM backup_jobs WHERE id = ?`, j.ID).Scan(&attempt)
	return err == nil && attempt != j.attempt
}

// patience is how long a job without a completion window waits for its
// storage to come back.
const patience = time.Hour

func patienceEnd(j *Job, now time.Time) time.Time {
	if !j.CompleteBy.IsZero() {
		return j.CompleteBy
	}
	return now.Add(patience)
}

func ignoreFinished(err error) error {
	if errors.Is(err, errJobFinished) {
		return nil
	}
	return err
}

// claim makes this worker the job's attempt and marks it RUNNING, unless
// its account already runs its limit of jobs across all nodes, so one
// account's burst cannot starve the others. A job already RUNNING lost
// its node (the queue gives a running job to another worker only then):
// it is taken over, whatever the limit. Counting and claiming happen in
// one transaction serialised per account (SQLite's writers are serialised
// anyway; PostgreSQL takes an advisory lock on the account).
func (s *Service) claim(ctx context.Context, j *Job) (bool, error) {
	claimed, ended := false, false
	err := s.store.InTx(ctx, func(q meta.Querier) error {
		if s.store.Dialect() == meta.Postgres {
			if _, err := q.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext(?))`, "coffer-jobs-"+j.Account); err != nil {
				return err
			}
		}
		if err := q.QueryRowContext(ctx, `SELECT attempt FROM backup_jobs WHERE id = ?`, j.ID).Scan(&j.attempt); err != nil {
			return err
		}
		if j.State == StateRunning {
			var err error
			if ended, err = s.takeOver(ctx, q, j); err != nil || ended {
				return err
			}
		} else {
			var n int
			if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM backup_jobs WHERE account_id = ? AND state = 'RUNNING'`, j.Account).Scan(&n); err != nil {
				return err
			}
			if n >= s.perAccount {
				return nil
			}
		}
		if err := s.update(ctx, q, j); err != nil {
			return err
		}
		res, err := q.ExecContext(ctx, `UPDATE backup_jobs SET state = 'RUNNING', attempt = attempt + 1 WHERE id = ? AND attempt = ?`, j.ID, j.attempt)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errJobFinished
		}
		j.State, j.attempt, claimed = StateRunning, j.attempt+1, true
		return nil
	})
	if err == nil && ended {
		err = errJobFinished
	}
	return claimed, err
}

// takeOver releases what the attempt of a node that stopped left
// half-done, so this attempt starts the job again from the beginning: a
// backup's or copy's uncommitted recovery point (its data, without a
// committed manifest, is the storage engine's to collect once the dead
// writer's lease ends). A restore that had created its instance cannot
// start again under the same identifier: it fails, saying so (run has
// marked the instance FAILED); ended reports that.
func (s *Service) takeOver(ctx context.Context, q meta.Querier, j *Job) (ended bool, err error) {
	s.log.Info("taking over a job whose node stopped", "job", j.ID, "kind", j.Kind, "attempt", j.attempt+1)
	if j.Kind == KindRestore && j.CreatedResourceARN != "" {
		j.State, j.StatusMessage, j.Completed = StateFailed, abandonedMessage(j), s.now()
		return true, s.update(ctx, q, j)
	}
	if err := discardUncommitted(ctx, q, j); err != nil {
		return false, err
	}
	j.StatusMessage = fmt.Sprintf("attempt %d: the previous attempt lost its lease (its coffer node stopped, or lost the database); the job started again from the beginning", j.attempt+1)
	return false, nil
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

// heartbeat renews the job's lease (its queue job's and its own fenced
// heartbeat) with its progress until stopped. When the job was stopped
// (ABORTED) meanwhile, or another attempt took it over, it cancels the
// work; stop reports whether the lease was lost so.
func (s *Service) heartbeat(ctx context.Context, j *Job, lease queueLease, t *tracker, cancel func()) (stop func() (lost bool)) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	var lost bool
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(s.queue.Lease() / 6)
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
					WHERE id = ? AND state = 'RUNNING' AND attempt = ?`, s.now().UnixNano(), bytes, pct, j.ID, j.attempt)
				if err != nil {
					// The store is away: keep working, the lease tells.
					continue
				}
				held := false
				if n, _ := res.RowsAffected(); n == 1 {
					if held, err = s.queue.Renew(ctx, lease.id, lease.attempt); err != nil {
						continue
					}
				}
				if !held {
					s.log.Warn("job lost its lease; stopping this attempt", "job", j.ID, "attempt", j.attempt)
					lost = true
					cancel()
					return
				}
			}
		}
	}()
	return func() bool { close(done); wg.Wait(); return lost }
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
