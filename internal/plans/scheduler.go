package plans

import (
	"context"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/coffer-dev/coffer/internal/backup"
	"github.com/coffer-dev/coffer/internal/jobs"
	"github.com/coffer-dev/coffer/internal/plans/schedule"
)

// The scheduler. Each rule has a cursor, the start of the last window
// handed to the backup domain. A tick hands over every window after the
// cursor up to now, for each resource the plan's selections pick, with a
// window key (plan, rule, window start, resource) that the backup
// domain's unique index turns into exactly one job; then it moves the
// cursor. A crash between the two makes the next tick hand the same
// windows over again, which creates nothing; a node that was down makes
// the next tick catch up: windows whose start window already closed are
// recorded EXPIRED, the others run. Ticks run as River periodic jobs,
// which only the elected leader of the nodes sharing the database
// inserts; even two concurrent ticks create each job once.

// TickResult counts what a tick did.
type TickResult struct {
	Windows  int // rule windows handed over
	Started  int // backup jobs created
	Existing int // jobs a previous tick had created
	Expired  int // windows recorded EXPIRED
	Copies   int // copy jobs started by the catch-up
	Errors   []error
}

// WindowKey names one window of a rule for one resource: the backup
// job's idempotency token.
func WindowKey(planID, ruleID string, window time.Time, resourceARN string) string {
	return fmt.Sprintf("plan:%s:%s:%d:%s", planID, ruleID, window.Unix(), resourceARN)
}

// Tick runs the windows due since the last tick.
func (s *Service) Tick(ctx context.Context) (TickResult, error) {
	var res TickResult
	now := s.now().UTC()
	active, err := s.queryPlans(ctx, `SELECT `+planColumns+` FROM backup_plans p JOIN backup_plan_versions v ON v.plan_id = p.id AND v.version_id = p.version_id
		WHERE p.deletion_date = 0 ORDER BY p.creation_date, p.id`)
	if err != nil {
		return res, err
	}
	for _, p := range active {
		if err := s.tickPlan(ctx, p, now, &res); err != nil {
			res.Errors = append(res.Errors, fmt.Errorf("backup plan %s: %w", p.ID, err))
		}
	}
	s.catchUpCopies(ctx, now, &res)
	for _, err := range res.Errors {
		s.log.Warn("backup plan scheduler", "error", err)
	}
	return res, nil
}

func (s *Service) tickPlan(ctx context.Context, p *Plan, now time.Time, res *TickResult) error {
	sels, err := selectionsOf(ctx, s.store, p.ID)
	if err != nil {
		return err
	}
	var picks []pick
	resolved := false
	for i := range p.Document.Rules {
		r := &p.Document.Rules[i]
		var through int64
		if err := s.store.QueryRowContext(ctx, `SELECT scheduled_through FROM backup_plan_cursors WHERE plan_id = ? AND rule_id = ?`, p.ID, r.RuleId).Scan(&through); err != nil {
			return fmt.Errorf("rule %s cursor: %w", r.RuleName, err)
		}
		sched, err := r.Schedule()
		if err != nil {
			return fmt.Errorf("rule %s: %w", r.RuleName, err)
		}
		windows := schedule.Between(sched, time.Unix(0, through), now, maxWindowsPerTick)
		if len(windows) == 0 {
			continue
		}
		if !resolved {
			if picks, err = s.selected(ctx, p, sels); err != nil {
				return err
			}
			resolved = true
		}
		done := time.Unix(0, through)
		for _, w := range windows {
			if err := s.runWindow(ctx, p, r, w, picks, now, res); err != nil {
				res.Errors = append(res.Errors, fmt.Errorf("backup plan %s rule %s window %s: %w", p.ID, r.RuleName, w.Format(time.RFC3339), err))
				break
			}
			done = w
		}
		if done.UnixNano() == through {
			continue
		}
		if _, err := s.store.ExecContext(ctx, `UPDATE backup_plan_cursors SET scheduled_through = ? WHERE plan_id = ? AND rule_id = ? AND scheduled_through < ?`,
			done.UnixNano(), p.ID, r.RuleId, done.UnixNano()); err != nil {
			return err
		}
		if len(picks) > 0 {
			if _, err := s.store.ExecContext(ctx, `UPDATE backup_plans SET last_execution_date = ? WHERE id = ? AND last_execution_date < ?`, done.UnixNano(), p.ID, done.UnixNano()); err != nil {
				return err
			}
		}
	}
	return nil
}

// runWindow hands one window over for every picked resource.
func (s *Service) runWindow(ctx context.Context, p *Plan, r *Rule, w time.Time, picks []pick, now time.Time, res *TickResult) error {
	res.Windows++
	expired := !now.Before(w.Add(time.Duration(r.startWindow()) * time.Minute))
	for _, pk := range picks {
		pb := backup.PlannedBackup{
			Account: p.Account, Region: p.Region, VaultName: r.TargetBackupVaultName, ResourceARN: pk.ARN, IAMRoleARN: pk.Role,
			Lifecycle: r.Lifecycle.Domain(), RecoveryPointTags: r.RecoveryPointTags,
			StartWindowMinutes: r.startWindow(), CompleteWindowMinutes: r.completionWindow(),
			CreatedBy: backup.CreatedBy{PlanID: p.ID, PlanARN: p.ARN, PlanVersion: p.VersionID, RuleID: r.RuleId, RuleName: r.RuleName},
			WindowKey: WindowKey(p.ID, r.RuleId, w, pk.ARN), Continuous: r.continuous(),
		}
		if expired {
			j, err := s.backup.RecordExpiredWindow(ctx, pb, w)
			if err != nil {
				return err
			}
			if j.State == backup.StateExpired && j.Created.Equal(w.UTC()) {
				res.Expired++
			} else {
				res.Existing++
			}
			continue
		}
		_, created, err := s.backup.StartPlannedBackup(ctx, pb)
		if err != nil {
			return err
		}
		if created {
			res.Started++
		} else {
			res.Existing++
		}
	}
	return nil
}

// BackupCompleted is the backup domain's completion hook: it starts the
// copy actions of the rule that made the recovery point.
func (s *Service) BackupCompleted(ctx context.Context, j *backup.Job) {
	if j.CreatedBy.PlanID == "" {
		return
	}
	if _, err := s.startCopies(ctx, j); err != nil {
		s.log.Warn("copy actions", "backup_job", j.ID, "plan", j.CreatedBy.PlanID, "error", err)
	}
}

// startCopies starts a copy job per copy action of the job's rule (as the
// plan version that started the job defines it); each has its own
// idempotency key, so starting them twice creates each once.
func (s *Service) startCopies(ctx context.Context, j *backup.Job) (int, error) {
	p, err := planByVersion(ctx, s.store, j.CreatedBy.PlanID, j.CreatedBy.PlanVersion)
	if err != nil {
		return 0, fmt.Errorf("plan version %s: %w", j.CreatedBy.PlanVersion, err)
	}
	r := p.Rule(j.CreatedBy.RuleID)
	if r == nil {
		return 0, nil
	}
	n := 0
	for _, ca := range r.CopyActions {
		_, err := s.backup.StartPlannedCopy(ctx, backup.PlannedCopy{
			SourceRecoveryPointARN: j.RecoveryPointARN, DestinationVaultARN: ca.DestinationBackupVaultArn, IAMRoleARN: j.IAMRoleARN,
			Lifecycle: ca.Lifecycle.Domain(), CreatedBy: j.CreatedBy, Key: CopyKey(j.ID, ca.DestinationBackupVaultArn),
		})
		if err != nil {
			return n, fmt.Errorf("copy %s to %s: %w", j.RecoveryPointARN, ca.DestinationBackupVaultArn, err)
		}
		n++
	}
	return n, nil
}

// CopyKey is the idempotency key of a copy action for a backup job.
func CopyKey(backupJobID, destinationVaultARN string) string {
	return "copy:" + backupJobID + ":" + destinationVaultARN
}

// catchUpCopies starts the copy actions of planned backups that completed
// recently, in case a node stopped between a completion and its hook.
func (s *Service) catchUpCopies(ctx context.Context, now time.Time, res *TickResult) {
	jobs, err := s.backup.CompletedPlannedBackups(ctx, now.Add(-copyCatchUp))
	if err != nil {
		res.Errors = append(res.Errors, fmt.Errorf("copy catch-up: %w", err))
		return
	}
	withCopies := map[string]bool{} // plan version + rule
	for _, j := range jobs {
		key := j.CreatedBy.PlanID + "/" + j.CreatedBy.PlanVersion + "/" + j.CreatedBy.RuleID
		has, seen := withCopies[key]
		if seen && !has {
			continue
		}
		n, err := s.startCopies(ctx, j)
		withCopies[key] = n > 0 || err != nil
		if err != nil {
			res.Errors = append(res.Errors, err)
		}
	}
}

// ApplyLifecycle runs the backup domain's lifecycle sweep and logs what
// it did.
func (s *Service) ApplyLifecycle(ctx context.Context) (backup.LifecycleResult, error) {
	r, err := s.backup.ApplyLifecycle(ctx)
	if err != nil {
		return r, err
	}
	if r.MovedToCold+r.Deleted+r.Held+len(r.Errors) > 0 {
		s.log.Info("lifecycle", "moved_to_cold", r.MovedToCold, "deleted", r.Deleted, "held", r.Held, "errors", len(r.Errors))
	}
	for _, e := range r.Errors {
		s.log.Warn("lifecycle", "error", e)
	}
	return r, nil
}

// River jobs: the periodic tick and lifecycle sweep.

type tickArgs struct{}

func (tickArgs) Kind() string { return "backup_plans_tick" }

type lifecycleArgs struct{}

func (lifecycleArgs) Kind() string { return "backup_lifecycle" }

// PeriodicJobs are the scheduler's River periodic jobs: a tick every
// tickEvery (a minute when 0) and the lifecycle sweep every
// lifecycleEvery (an hour when 0). River inserts them on the elected
// leader only.
func PeriodicJobs(tickEvery, lifecycleEvery time.Duration) []*river.PeriodicJob {
	if tickEvery <= 0 {
		tickEvery = defaultTickInterval
	}
	if lifecycleEvery <= 0 {
		lifecycleEvery = lifecycleInterval
	}
	return []*river.PeriodicJob{jobs.Periodic[tickArgs](tickEvery), jobs.Periodic[lifecycleArgs](lifecycleEvery)}
}

// AddWorkers registers the periodic jobs' workers.
func (s *Service) AddWorkers(w *river.Workers) {
	jobs.AddTicker[tickArgs](w, s.Tick)
	jobs.AddTicker[lifecycleArgs](w, s.ApplyLifecycle)
}
