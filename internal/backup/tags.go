package backup

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/coffer-dev/coffer/internal/authz"
	"github.com/coffer-dev/coffer/internal/meta"
	"github.com/coffer-dev/coffer/internal/policy"
)

const maxTags = 50

func validateTags(tags map[string]string) error {
	if len(tags) > maxTags {
		return awsLimit("a resource has at most %d tags; %d were given", maxTags, len(tags))
	}
	for k, v := range tags {
		switch {
		case k == "" || len(k) > 128:
			return InvalidParam("tag key %q must be 1 to 128 characters", k)
		case len(v) > 256:
			return InvalidParam("the value of tag %q is longer than 256 characters", k)
		case strings.HasPrefix(strings.ToLower(k), "aws:"):
			return InvalidParam("tag key %q uses the reserved prefix aws:", k)
		}
	}
	return nil
}

func putTags(ctx context.Context, q meta.Querier, arn string, tags map[string]string) error {
	for k, v := range tags {
		if _, err := q.ExecContext(ctx, `DELETE FROM backup_tags WHERE resource_arn = ? AND tag_key = ?`, arn, k); err != nil {
			return err
		}
		if _, err := q.ExecContext(ctx, `INSERT INTO backup_tags (resource_arn, tag_key, tag_value) VALUES (?, ?, ?)`, arn, k, v); err != nil {
			return err
		}
	}
	return nil
}

func loadTags(ctx context.Context, q meta.Querier, arn string) (map[string]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT tag_key, tag_value FROM backup_tags WHERE resource_arn = ?`, arn)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	tags := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		tags[k] = v
	}
	return tags, rows.Err()
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
	err = s.store.QueryRowContext(ctx, `SELECT account_id FROM backup_vaults WHERE arn = ? UNION ALL SELECT account_id FROM backup_recovery_points WHERE arn = ?`, arn, arn).Scan(&account)
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
func (s *Service) TagResource(ctx context.Context, arn string, tags map[string]string) error {
	if len(tags) == 0 {
		return missingParam("Tags")
	}
	if err := validateTags(tags); err != nil {
		return err
	}
	if err := s.taggable(ctx, arn, "backup:TagResource", policy.RequestTagContext(tags)); err != nil {
		return err
	}
	return s.store.InTx(ctx, func(q meta.Querier) error {
		if err := putTags(ctx, q, arn, tags); err != nil {
			return err
		}
		var n int
		if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM backup_tags WHERE resource_arn = ?`, arn).Scan(&n); err != nil {
			return err
		}
		if n > maxTags {
			return awsLimit("resource %s would have %d tags; the limit is %d", arn, n, maxTags)
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
