package app

import (
	"context"
	"time"

	"github.com/riverqueue/river"

	"github.com/coffer-dev/coffer/internal/vaultstore"
)

// gcArgs is the periodic collection of the vaults' garbage, inserted by
// River's elected leader every jobs.gcInterval, so one node collects at a
// time (the storage engine also holds each domain while collecting).
type gcArgs struct{}

func (gcArgs) Kind() string { return "vault_gc" }

func gcJob(every time.Duration) *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(every), func() (river.JobArgs, *river.InsertOpts) {
		return gcArgs{}, &river.InsertOpts{MaxAttempts: 1}
	}, &river.PeriodicJobOpts{ID: "vault_gc"})
}

type gcWorker struct {
	river.WorkerDefaults[gcArgs]
	app *App
	vs  *vaultstore.Engine
}

func (w *gcWorker) Work(ctx context.Context, _ *river.Job[gcArgs]) error {
	st, err := w.vs.GC(ctx, "", "", vaultstore.GCOptions{})
	w.app.log.Info("vault garbage collected", "domains", st.Domains, "leases_expired", st.LeasesExpired, "packs_deleted", st.PacksDeleted,
		"leftovers_deleted", st.OrphansDeleted, "bytes_reclaimed", st.BytesReclaimed, "error", err)
	return err
}

// Timeout: a collection renews no lease and is not rescued; the next one
// comes at the next interval anyway.
func (w *gcWorker) Timeout(*river.Job[gcArgs]) time.Duration { return -1 }
