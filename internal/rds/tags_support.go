package rds

import "context"

// TaggedInstance is a DB instance as backup plan selections see it.
type TaggedInstance struct {
	ARN, Status string
	Tags        map[string]string
}

// InstancesOf lists the DB instances of an account in a region with
// their tags, for the backup service (which selects the resources of a
// backup plan by ARN and tag) acting without a caller; deleted instances
// are gone from the list.
func (s *Service) InstancesOf(ctx context.Context, account, region string) ([]TaggedInstance, error) {
	insts, err := s.list(ctx, scope{Account: account, Region: region}, "", "")
	if err != nil {
		return nil, err
	}
	out := make([]TaggedInstance, 0, len(insts))
	for _, inst := range insts {
		out = append(out, TaggedInstance{ARN: inst.ARN, Status: inst.Status, Tags: inst.Tags})
	}
	return out, nil
}
