package jobs

import (
	"context"
	"time"

	"github.com/riverqueue/river"
)

// Periodic is a River periodic job of args A's kind, named by the kind:
// every interval (and once on start) the elected leader inserts one job,
// tried once, since the next tick does its work again.
func Periodic[A river.JobArgs](every time.Duration) *river.PeriodicJob {
	var args A
	return river.NewPeriodicJob(river.PeriodicInterval(every), func() (river.JobArgs, *river.InsertOpts) {
		return args, &river.InsertOpts{MaxAttempts: 1}
	}, &river.PeriodicJobOpts{ID: args.Kind(), RunOnStart: true})
}

// AddTicker registers run as the worker of the periodic jobs of args A's
// kind; what run returns besides its error is dropped.
func AddTicker[A river.JobArgs, R any](w *river.Workers, run func(context.Context) (R, error)) {
	river.AddWorker(w, river.WorkFunc(func(ctx context.Context, _ *river.Job[A]) error {
		_, err := run(ctx)
		return err
	}))
}
