package plans

import (
	"context"
	"sort"
	"time"

	"github.com/coffer-dev/coffer/internal/backup"
	"github.com/coffer-dev/coffer/internal/plans/schedule"
)

// RPOEntry is what one vault holds of one resource: the age of its
// newest completed recovery point against what the plans expect.
type RPOEntry struct {
	ResourceARN, ResourceName string
	VaultARN                  string
	// Kind is "backup" (a rule's target vault), "copy" (a copy
	// action's destination) or "" (no plan puts the resource there).
	Kind string
	// Plans names the plans (name and ID) that expect the resource in
	// the vault.
	Plans []string
	// Last is the creation time of the newest completed recovery point
	// (a copy's is its source's); zero when there is none.
	Last time.Time
	Age  time.Duration
	// Frequency is the shortest time between two runs of the rules that
	// expect the resource in the vault; zero without a plan.
	Frequency time.Duration
	// Allowed is Frequency plus the rule's start window: the age at
	// which the resource is overdue.
	Allowed time.Duration
	Overdue bool
}

// RPO is the operator's view of every protected resource in every vault
// of every account (coffer status): the resources the active plans
// select, in their rules' target vaults and copy destinations, and every
// vault that holds a recovery point of a resource.
func (s *Service) RPO(ctx context.Context) ([]RPOEntry, error) {
	now := s.now().UTC()
	type key struct{ resource, vault string }
	entries := map[key]*RPOEntry{}
	get := func(resource, vault string) *RPOEntry {
		k := key{resource, vault}
		e := entries[k]
		if e == nil {
			e = &RPOEntry{ResourceARN: resource, VaultARN: vault}
			entries[k] = e
		}
		return e
	}
	since := map[key]time.Time{} // when the first plan expecting it was created
	active, err := s.queryPlans(ctx, `SELECT `+planColumns+` FROM backup_plans p JOIN backup_plan_versions v ON v.plan_id = p.id AND v.version_id = p.version_id
		WHERE p.deletion_date = 0 ORDER BY p.creation_date, p.id`)
	if err != nil {
		return nil, err
	}
	for _, p := range active {
		sels, err := selectionsOf(ctx, s.store, p.ID)
		if err != nil {
			return nil, err
		}
		picks, err := s.selected(ctx, p, sels)
		if err != nil {
			return nil, err
		}
		for i := range p.Document.Rules {
			r := &p.Document.Rules[i]
			sched, err := r.Schedule()
			if err != nil {
				continue
			}
			freq := period(sched, now)
			allowed := freq + time.Duration(r.startWindow())*time.Minute
			vaults := map[string]string{backup.VaultARN(p.Region, p.Account, r.TargetBackupVaultName): "backup"}
			for _, ca := range r.CopyActions {
				vaults[ca.DestinationBackupVaultArn] = "copy"
			}
			for _, pk := range picks {
				for vault, kind := range vaults {
					e := get(pk.ARN, vault)
					if e.Kind != "backup" {
						e.Kind = kind
					}
					e.Plans = appendOnce(e.Plans, p.Document.BackupPlanName+" ("+p.ID+")")
					if e.Frequency == 0 || freq < e.Frequency {
						e.Frequency = freq
					}
					if e.Allowed == 0 || allowed < e.Allowed {
						e.Allowed = allowed
					}
					k := key{pk.ARN, vault}
					if t, ok := since[k]; !ok || p.Created.Before(t) {
						since[k] = p.Created
					}
				}
			}
		}
	}
	rps, err := s.backup.LatestRecoveryPoints(ctx)
	if err != nil {
		return nil, err
	}
	for _, l := range rps {
		e := get(l.ResourceARN, l.VaultARN())
		e.Last, e.ResourceName = l.Created, l.ResourceName
	}
	out := make([]RPOEntry, 0, len(entries))
	for k, e := range entries {
		switch {
		case !e.Last.IsZero():
			e.Age = now.Sub(e.Last)
			e.Overdue = e.Allowed > 0 && e.Age > e.Allowed
		case e.Allowed > 0:
			e.Overdue = now.Sub(since[k]) > e.Allowed
		}
		sort.Strings(e.Plans)
		out = append(out, *e)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].ResourceARN != out[j].ResourceARN {
			return out[i].ResourceARN < out[j].ResourceARN
		}
		if out[i].Kind != out[j].Kind {
			return out[i].Kind < out[j].Kind
		}
		return out[i].VaultARN < out[j].VaultARN
	})
	return out, nil
}

// period is the time between the last two runs of a schedule before t
// (a weekly cron's is a week, not the day MinInterval estimates).
func period(s schedule.Schedule, t time.Time) time.Duration {
	last := schedule.Prev(s, t, 400*24*time.Hour)
	if !last.IsZero() {
		if before := schedule.Prev(s, last.Add(-time.Nanosecond), 400*24*time.Hour); !before.IsZero() {
			return last.Sub(before)
		}
	}
	// Fewer than two runs in the past: the gap to the next two.
	next := s.Next(t)
	if !next.IsZero() {
		if after := s.Next(next); !after.IsZero() {
			return after.Sub(next)
		}
	}
	return s.MinInterval()
}

func appendOnce(list []string, v string) []string {
	for _, x := range list {
		if x == v {
			return list
		}
	}
	return append(list, v)
}
