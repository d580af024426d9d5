package rds

import (
	"context"
	"strings"

	"github.com/coffer-dev/coffer/internal/awserr"
	"github.com/coffer-dev/coffer/internal/meta"
	"github.com/coffer-dev/coffer/internal/policy"
	"github.com/coffer-dev/coffer/internal/tags"
)

// rdsTags is where instances' tags live.
const rdsTags = tags.Table("rds_tags")

func validateTags(t map[string]string) error {
	if p := tags.Validate(t, "rds:"); p != nil {
		if p.TooMany {
			return awserr.New(awserr.Limit, "TagQuotaPerResourceExceeded", "%s", p.Message)
		}
		return invalidParam("%s", p.Message)
	}
	return nil
}

func putTags(ctx context.Context, q meta.Querier, arn string, t map[string]string) error {
	return rdsTags.Put(ctx, q, arn, t)
}

func loadTags(ctx context.Context, q meta.Querier, arn string) (map[string]string, error) {
	return rdsTags.Load(ctx, q, arn)
}

// taggable resolves a ResourceName (an instance ARN of the caller's
// account and region) and authorizes the action on it.
func (s *Service) taggable(ctx context.Context, arn, action string, cond map[string][]string) (*Instance, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	if arn == "" {
		return nil, missingParam("ResourceName")
	}
	if !strings.HasPrefix(arn, "arn:") {
		return nil, invalidParam("The specified resource name does not match an RDS resource in this region.")
	}
	parts := strings.SplitN(arn, ":", 7)
	if len(parts) != 7 || parts[2] != "rds" {
		return nil, invalidParam("The specified resource name does not match an RDS resource in this region.")
	}
	if parts[5] != "db" {
		return nil, invalidParam("coffer tags DB instances only (arn:aws:rds:REGION:ACCOUNT:db:ID), not %s resources", parts[5])
	}
	id, err := s.identifierOf(sc, arn)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, action, InstanceARN(sc.Region, sc.Account, id), cond); err != nil {
		return nil, err
	}
	return s.load(ctx, s.store, sc, id)
}

// AddTags adds or replaces tags on an instance.
func (s *Service) AddTags(ctx context.Context, arn string, kv map[string]string) error {
	if len(kv) == 0 {
		return missingParam("Tags")
	}
	inst, err := s.taggable(ctx, arn, "AddTagsToResource", policy.RequestTagContext(kv))
	if err != nil {
		return err
	}
	if err := validateTags(kv); err != nil {
		return err
	}
	return s.store.InTx(ctx, func(q meta.Querier) error {
		if err := putTags(ctx, q, inst.ARN, kv); err != nil {
			return err
		}
		var n int
		if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM rds_tags WHERE resource_arn = ?`, inst.ARN).Scan(&n); err != nil {
			return err
		}
		if n > tags.Max {
			return awserr.New(awserr.Limit, "TagQuotaPerResourceExceeded", "a resource has at most %d tags; this change would give it %d", tags.Max, n)
		}
		return nil
	})
}

// ListTags returns an instance's tags.
func (s *Service) ListTags(ctx context.Context, arn string) (map[string]string, error) {
	inst, err := s.taggable(ctx, arn, "ListTagsForResource", nil)
	if err != nil {
		return nil, err
	}
	return inst.Tags, nil
}

// RemoveTags removes tags by key.
func (s *Service) RemoveTags(ctx context.Context, arn string, keys []string) error {
	if len(keys) == 0 {
		return missingParam("TagKeys")
	}
	inst, err := s.taggable(ctx, arn, "RemoveTagsFromResource", map[string][]string{policy.KeyTagKeys: keys})
	if err != nil {
		return err
	}
	return s.store.InTx(ctx, func(q meta.Querier) error {
		for _, k := range keys {
			if _, err := q.ExecContext(ctx, `DELETE FROM rds_tags WHERE resource_arn = ? AND tag_key = ?`, inst.ARN, k); err != nil {
				return err
			}
		}
		return nil
	})
}
