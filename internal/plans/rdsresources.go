package plans

import (
	"context"

	"github.com/coffer-dev/coffer/internal/rds"
)

// RDSResources selects among the RDS DB instances of the RDS domain
// (instances being created or deleted, and failed ones, are skipped:
// there is nothing to back up yet or any more).
func RDSResources(r *rds.Service) Resources {
	return ResourcesFunc(func(ctx context.Context, account, region string) ([]Resource, error) {
		insts, err := r.InstancesOf(ctx, account, region)
		if err != nil {
			return nil, err
		}
		out := make([]Resource, 0, len(insts))
		for _, i := range insts {
			if i.Status == rds.StatusCreating || i.Status == rds.StatusDeleting || i.Status == rds.StatusFailed {
				continue
			}
			out = append(out, Resource{ARN: i.ARN, Tags: i.Tags})
		}
		return out, nil
	})
}
