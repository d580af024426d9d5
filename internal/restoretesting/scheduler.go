package restoretesting

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/coffer-dev/coffer/internal/backup"
	"github.com/coffer-dev/coffer/internal/jobs"
	"github.com/coffer-dev/coffer/internal/plans"
	"github.com/coffer-dev/coffer/internal/plans/schedule"
)

// The scheduler. Each plan has a cursor, the last run handed to the
// backup domain. A tick starts, for every run after the cursor whose
// start window (StartWindowHours) is still open, one restore job per
// selection and protected resource, with a key (plan, run, selection,
// resource) that the backup domain's unique index turns into exactly one
// job; then it moves the cursor. Runs whose start window closed while no
// node ticked are skipped. The same tick deletes the temporary instances
// of finished tests whose validation window ended. Ticks run as a River
// periodic job, inserted by the elected leader only.

// TickResult counts what a tick did.
type TickResult struct {
	Runs     int // plan runs handed over
	Started  int // restore jobs created
	Existing int // jobs a previous tick had created
	Skipped  int // runs whose start window had closed
	Deleting int // temporary instances whose deletion was asked
	Deleted  int // temporary instances gone
	Errors   []error
}

// RunKey names one run of a plan for one selection and resource: the
// restore job's idempotency token.
func RunKey(planARN string, run time.Time, selection, resourceARN string) string {
	return fmt.Sprintf("restore-test:%s:%d:%s:%s", planARN, run.Unix(), selection, resourceARN)
}

// Tick starts the runs due since the last tick and deletes the
// temporary instances due for deletion.
func (s *Service) Tick(ctx context.Context) (TickResult, error) {
	var res TickResult
	now := s.now().UTC()
	all, err := s.queryPlans(ctx, `SELECT `+planColumns+` FROM restore_testing_plans ORDER BY creation_date, arn`)
	if err != nil {
		return res, err
	}
	for _, p := range all {
		if err := s.tickPlan(ctx, p, now, &res); err != nil {
			res.Errors = append(res.Errors, fmt.Errorf("restore testing plan %s: %w", p.ARN, err))
		}
	}
	if err := s.deleteExpired(ctx, now, &res); err != nil {
		res.Errors = append(res.Errors, fmt.Errorf("delete temporary instances: %w", err))
	}
	for _, err := range res.Errors {
		s.log.Warn("restore testing scheduler", "error", err)
	}
	return res, nil
}

func (s *Service) tickPlan(ctx context.Context, p *Plan, now time.Time, res *TickResult) error {
	sched, err := p.Schedule()
	if err != nil {
		return err
	}
	runs := schedule.Between(sched, p.scheduledThrough, now, maxRunsPerTick)
	if len(runs) == 0 {
		return nil
	}
	last := runs[len(runs)-1]
	for _, w := range runs {
		if !now.Before(w.Add(p.startWindow())) {
			res.Skipped++
			continue
		}
		res.Runs++
		if err := s.run(ctx, p, w, now, res); err != nil {
			return fmt.Errorf("run of %s: %w", w.Format(time.RFC3339), err)
		}
	}
	_, err = s.store.ExecContext(ctx, `UPDATE restore_testing_plans SET scheduled_through = ?, last_execution_date = ? WHERE arn = ? AND scheduled_through < ?`,
		last.UnixNano(), last.UnixNano(), p.ARN, last.UnixNano())
	return err
}

// run starts one run's restore jobs: per selection, per protected
// resource it picks, the recovery point the plan's algorithm chooses.
func (s *Service) run(ctx context.Context, p *Plan, w, now time.Time, res *TickResult) error {
	sels, err := selectionsOf(ctx, s.store, p)
	if err != nil || len(sels) == 0 {
		return err
	}
	rps := p.RecoveryPointSelection
	if !rps.snapshots() {
		return nil // coffer's recovery points are all snapshots
	}
	since := now.Add(-time.Duration(rps.windowDays()) * 24 * time.Hour)
	points, err := s.backup.TestableRecoveryPoints(ctx, p.Account, p.Region, since)
	if err != nil {
		return err
	}
	byResource := map[string][]backup.TestableRecoveryPoint{}
	var order []string
	for _, rp := range points {
		if !rps.vaultPicked(rp.VaultARN) {
			continue
		}
		if _, seen := byResource[rp.ResourceARN]; !seen {
			order = append(order, rp.ResourceARN)
		}
		byResource[rp.ResourceARN] = append(byResource[rp.ResourceARN], rp)
	}
	tags := tagCache{r: s.resources, seen: map[string]map[string]map[string]string{}}
	for _, sel := range sels {
		for _, resourceARN := range order {
			cands := byResource[resourceARN]
			t, err := tags.of(ctx, resourceARN)
			if err != nil {
				return err
			}
			if !sel.Matches(resourceARN, cands[0].ResourceType, t) {
				continue
			}
			rp := cands[len(cands)-1] // oldest first: the latest
			if rps.Algorithm == algorithmRandom {
				rp = cands[rand.IntN(len(cands))]
			}
			if err := s.start(ctx, p, sel, w, rp, res); err != nil {
				return fmt.Errorf("selection %s, %s: %w", sel.RestoreTestingSelectionName, resourceARN, err)
			}
		}
	}
	return nil
}

func (s *Service) start(ctx context.Context, p *Plan, sel *Selection, w time.Time, rp backup.TestableRecoveryPoint, res *TickResult) error {
	key := RunKey(p.ARN, w, sel.RestoreTestingSelectionName, rp.ResourceARN)
	j, created, err := s.backup.StartPlannedRestore(ctx, backup.PlannedRestore{
		RecoveryPointARN: rp.ARN, IAMRoleARN: sel.IamRoleArn, RestoreTestingPlanARN: p.ARN,
		Metadata: sel.restoreMetadata(rp.RestoreMetadata, temporaryInstancePrefix+randomHex(6)),
		StartBy:  w.Add(p.startWindow()), Key: key,
	})
	if err != nil {
		return err
	}
	if created {
		res.Started++
	} else {
		res.Existing++
	}
	// The job's row may exist from a tick that stopped before this
	// insert; ON CONFLICT keeps the first.
	_, err = s.store.ExecContext(ctx, `INSERT INTO restore_testing_jobs (job_id, account_id, region, plan_name, selection_name, iam_role_arn, validation_window_hours, done)
		VALUES (?, ?, ?, ?, ?, ?, ?, 0) ON CONFLICT (job_id) DO NOTHING`,
		j.ID, p.Account, p.Region, p.RestoreTestingPlanName, sel.RestoreTestingSelectionName, sel.IamRoleArn, int64(sel.validationWindow()/time.Hour))
	return err
}

// deleteExpired deletes the temporary instances of finished tests whose
// validation window ended, and records the outcome on their jobs.
func (s *Service) deleteExpired(ctx context.Context, now time.Time, res *TickResult) error {
	rows, err := s.store.QueryContext(ctx, `SELECT job_id, iam_role_arn, validation_window_hours FROM restore_testing_jobs WHERE done = 0 ORDER BY job_id`)
	if err != nil {
		return err
	}
	type open struct {
		id, role string
		hours    int64
	}
	var todo []open
	for rows.Next() {
		var o open
		if err := rows.Scan(&o.id, &o.role, &o.hours); err != nil {
			rows.Close()
			return err
		}
		todo = append(todo, o)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, o := range todo {
		j, err := s.backup.Job(ctx, o.id)
		if err != nil {
			res.Errors = append(res.Errors, fmt.Errorf("restore test job %s: %w", o.id, err))
			continue
		}
		if !j.Finished() || now.Before(j.Completed.Add(time.Duration(o.hours)*time.Hour)) {
			continue
		}
		if j.CreatedResourceARN == "" {
			if err := s.finish(ctx, o.id); err != nil {
				return err
			}
			continue
		}
		gone, derr := s.instances.DeleteTemporary(ctx, o.role, j.CreatedResourceARN)
		switch {
		case derr != nil:
			err = s.backup.SetDeletionStatus(ctx, o.id, backup.DeletionFailed, "deleting "+j.CreatedResourceARN+" failed: "+derr.Error())
			if err == nil {
				err = s.finish(ctx, o.id)
			}
		case gone:
			res.Deleted++
			err = s.backup.SetDeletionStatus(ctx, o.id, backup.DeletionSuccessful, j.CreatedResourceARN+" was deleted at the end of the validation window")
			if err == nil {
				err = s.finish(ctx, o.id)
			}
		case j.DeletionStatus != backup.DeletionDeleting:
			res.Deleting++
			err = s.backup.SetDeletionStatus(ctx, o.id, backup.DeletionDeleting, "deleting "+j.CreatedResourceARN)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) finish(ctx context.Context, jobID string) error {
	_, err := s.store.ExecContext(ctx, `UPDATE restore_testing_jobs SET done = 1 WHERE job_id = ?`, jobID)
	return err
}

// tagCache lists each account's and region's resources once per run.
type tagCache struct {
	r    plans.Resources
	seen map[string]map[string]map[string]string // account/region -> ARN -> tags
}

// of returns a resource's tags; a resource that no longer exists has
// none.
func (c *tagCache) of(ctx context.Context, arn string) (map[string]string, error) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 {
		return nil, nil
	}
	key := parts[4] + "/" + parts[3]
	m, ok := c.seen[key]
	if !ok {
		list, err := c.r.Resources(ctx, parts[4], parts[3])
		if err != nil {
			return nil, err
		}
		m = map[string]map[string]string{}
		for _, r := range list {
			m[r.ARN] = r.Tags
		}
		c.seen[key] = m
	}
	return m[arn], nil
}

type tickArgs struct{}

func (tickArgs) Kind() string { return "restore_testing_tick" }

// PeriodicJobs is the scheduler's River periodic job: a tick every
// tickEvery (a minute when 0), inserted by the elected leader only.
func PeriodicJobs(tickEvery time.Duration) []*river.PeriodicJob {
	if tickEvery <= 0 {
		tickEvery = defaultTickInterval
	}
	return []*river.PeriodicJob{jobs.Periodic[tickArgs](tickEvery)}
}

// AddWorkers registers the tick's worker.
func (s *Service) AddWorkers(w *river.Workers) {
	jobs.AddTicker[tickArgs](w, s.Tick)
}
