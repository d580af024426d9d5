package restoretesting

import (
	"cmp"
	"context"
	"slices"
	"strings"

	"github.com/coffer-dev/coffer/internal/backup"
)

// Tests lists the restore jobs restore testing plans started, newest
// first (the backup domain).
type Tests interface {
	RestoreTests(ctx context.Context, limit int) ([]*backup.Job, error)
}

// resultsScanned bounds how many recent tests Results reads.
const resultsScanned = 10000

// Result is the newest restore test of a resource by a plan, the
// operator's view (coffer status).
type Result struct {
	PlanARN, ResourceARN string
	Job                  *backup.Job
	// Tests counts the plan's tests of the resource among the recent
	// ones; Failed those whose job or validation failed.
	Tests, Failed int
}

// Passed reports whether the newest test restored and validated.
func (r Result) Passed() bool {
	return r.Job.State == backup.StateCompleted && r.Job.ValidationStatus == backup.ValidationSuccessful
}

// Results returns, per plan and resource, the newest restore test and
// the counts of recent ones, ordered by plan and resource.
func Results(ctx context.Context, b Tests) ([]Result, error) {
	jobs, err := b.RestoreTests(ctx, resultsScanned)
	if err != nil {
		return nil, err
	}
	var out []Result
	at := map[[2]string]int{}
	for _, j := range jobs {
		key := [2]string{j.CreatedBy.RestoreTestingPlanARN, j.ResourceARN}
		i, ok := at[key]
		if !ok {
			i = len(out)
			at[key] = i
			out = append(out, Result{PlanARN: key[0], ResourceARN: key[1], Job: j})
		}
		out[i].Tests++
		if j.Finished() && (j.State != backup.StateCompleted || j.ValidationStatus == backup.ValidationFailed) {
			out[i].Failed++
		}
	}
	sortResults(out)
	return out, nil
}

func sortResults(rs []Result) {
	slices.SortFunc(rs, func(a, b Result) int {
		return cmp.Or(strings.Compare(a.PlanARN, b.PlanARN), strings.Compare(a.ResourceARN, b.ResourceARN))
	})
}
