package backup

import (
	"context"
	"database/sql"
	"errors"

	"github.com/coffer-dev/coffer/internal/authz"
	"github.com/coffer-dev/coffer/internal/meta"
	"github.com/coffer-dev/coffer/internal/policy"
	"github.com/coffer-dev/coffer/internal/tags"
)

// TagTable is where vaults', recovery points' and plans' tags live.
const TagTable = tags.Table("backup_tags")

func validateTags(t map[string]string) error {
	if p := tags.Validate(t); p != nil {
		if p.TooMany {
			return awsLimit("%s", p.Message)
		}
		return InvalidParam("%s", p.Message)
	}
	return nil
}

func putTags(ctx context.Context, q meta.Querier, arn string, t map[string]string) error {
	return TagTable.Put(ctx, q, arn, t)
}

func loadTags(ctx context.Context, q meta.Querier, arn string) (map[string]string, error) {
	return TagTable.Load(ctx, q, arn)
}

// taggable checks that arn is a backup resource of the caller's account
// and authorizes action on it.
func (s *Service) taggable(ctx context.Context, arn, action string, extra map[string][]string) error {
	sc, _, err := s.scope(ctx)
	if err != nil {
		return err
	}
	if arn == "" {
		return missingParam("ResourceArn")
	}
	var account string
	// The resources of Backup's API that carry tags: vaults and recovery
	// points, and restore testing plans, frameworks and report plans (of
	// the domains that share the API and this tag table).
	err = s.store.QueryRowContext(ctx, `SELECT account_id FROM backup_vaults WHERE arn = ? UNION ALL SELECT account_id FROM backup_recovery_points WHERE arn = ?
		UNION ALL SELECT account_id FROM restore_testing_plans WHERE arn = ? UNION ALL SELECT account_id FROM backup_frameworks WHERE arn = ?
		UNION ALL SELECT account_id FROM backup_report_plans WHERE arn = ?`, arn, arn, arn, arn, arn).Scan(&account)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && account != sc.Account) {
		if aerr := s.authz.Authorize(ctx, authz.Request{Action: action, Resource: arn, Context: extra}); aerr != nil {
			return aerr
		}
		return notFound("resource %s does not exist", arn)
	}
	if err != nil {
		return err
	}
	return s.authz.Authorize(ctx, authz.Request{Action: action, Resource: arn, Context: extra})
}

// TagResource adds or replaces tags.
func (s *Service) TagResource(ctx context.Context, arn string, kv map[string]string) error {
	if len(kv) == 0 {
		return missingParam("Tags")
	}
	if err := validateTags(kv); err != nil {
		return err
	}
	if err := s.taggable(ctx, arn, "backup:TagResource", policy.RequestTagContext(kv)); err != nil {
		return err
	}
	return s.store.InTx(ctx, func(q meta.Querier) error {
		if err := putTags(ctx, q, arn, kv); err != nil {
			return err
		}
		var n int
		if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM backup_tags WHERE resource_arn = ?`, arn).Scan(&n); err != nil {
			return err
		}
		if n > tags.Max {
			return awsLimit("resource %s would have %d tags; the limit is %d", arn, n, tags.Max)
		}
		return nil
	})
}

// UntagResource removes tags by key.
func (s *Service) UntagResource(ctx context.Context, arn string, keys []string) error {
	if len(keys) == 0 {
		return missingParam("TagKeyList")
	}
	if err := s.taggable(ctx, arn, "backup:UntagResource", map[string][]string{policy.KeyTagKeys: keys}); err != nil {
		return err
	}
	return s.store.InTx(ctx, func(q meta.Querier) error {
		for _, k := range keys {
			if _, err := q.ExecContext(ctx, `DELETE FROM backup_tags WHERE resource_arn = ? AND tag_key = ?`, arn, k); err != nil {
				return err
			}
		}
		return nil
	})
}

// ListTags returns a resource's tags.
func (s *Service) ListTags(ctx context.Context, arn string) (map[string]string, error) {
	if err := s.taggable(ctx, arn, "backup:ListTags", nil); err != nil {
		return nil, err
	}
	return loadTags(ctx, s.store, arn)
}
