package backup

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/riverqueue/river"

	"github.com/coffer-dev/coffer/internal/meta"
)

// A backup of a DB instance whose server another coffer node holds (its
// data directory is on that node) can run only there. Rather than route
// jobs to nodes (a queue per node would leave a dead node's jobs with
// nobody to fail them when their window ends), any node takes the job
// and, finding the server elsewhere, puts it back in the queue for a
// while: the holder, or any node once the holder is back, picks it up.
// The job waits so until its completion window ends, then fails saying
// which node it waited for.

// awaitHolder reports whether the backup job j must wait for the node
// holding its instance's server; err is then what the worker returns (a
// snooze, or the job's end once its window closed).
func (s *Service) awaitHolder(ctx context.Context, j *Job, now time.Time) (bool, error) {
	if j.Kind != KindBackup {
		return false, nil
	}
	node, here, err := s.dbs.Holder(ctx, j.ResourceARN)
	if err != nil || here {
		// An instance gone or unreadable: the job's run reports it.
		return false, nil
	}
	beat, known, err := s.queue.NodeHeartbeat(ctx, node)
	if err != nil {
		return true, err
	}
	alive := known && time.Since(beat) < s.queue.Lease()
	state := "is not running"
	switch {
	case alive:
		state = "is up"
	case known:
		state = "stopped answering at " + beat.UTC().Format(time.RFC3339)
	}
	if now.After(holderDeadline(j)) {
		return true, s.holderGone(ctx, j, node, state, now)
	}
	msg := fmt.Sprintf("waiting for coffer node %s, which holds the server of DB instance %s and %s; the job runs there once it is back, within the job's completion window", node, j.ResourceARN, state)
	if j.StatusMessage != msg {
		j.StatusMessage = msg
		if j.State == StateCreated {
			j.State = StatePending
		}
		if err := s.update(ctx, s.store, j); err != nil {
			return true, ignoreFinished(err)
		}
	}
	// A live holder takes the job at its next try; a dead one is polled
	// at the pace a node's heartbeat goes stale.
	wait := s.queue.Lease()
	if alive {
		wait = time.Second
	}
	return true, river.JobSnooze(wait)
}

// holderDeadline is when a job waiting for its instance's node gives up:
// the end of its completion window, else of its start window, else
// patience after it was created.
func holderDeadline(j *Job) time.Time {
	switch {
	case !j.CompleteBy.IsZero():
		return j.CompleteBy
	case !j.StartBy.IsZero():
		return j.StartBy
	}
	return j.Created.Add(patience)
}

// holderGone fails j, whose window ended while it waited for node, and
// drops what an attempt that ran on node before it stopped had written.
func (s *Service) holderGone(ctx context.Context, j *Job, node, state string, now time.Time) error {
	j.State, j.Completed = StateFailed, now
	j.StatusMessage = fmt.Sprintf("coffer node %s, which holds the server of DB instance %s, %s and did not take the job within its completion window; start node %s, then the job again", node, j.ResourceARN, state, node)
	s.log.Warn("job failed", "job", j.ID, "kind", j.Kind, "reason", j.StatusMessage)
	err := s.store.InTx(ctx, func(q meta.Querier) error {
		if err := s.update(ctx, q, j); err != nil {
			return err
		}
		return discardUncommitted(ctx, q, j)
	})
	if err == nil {
		if rerr := s.data.ReleaseAttempts(ctx, j.ID, math.MaxInt64); rerr != nil {
			s.log.Warn("release the data of the job's attempts", "job", j.ID, "error", rerr)
		}
	}
	return s.ended(ctx, j, err)
}
