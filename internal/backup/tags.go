package backup

import (
	"context"
	"strings"

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

// TagOwner tells whether a resource another package keeps (a backup
// plan) exists, and in which account.
type TagOwner func(ctx context.Context, region, account, id string) (exists bool, err error)

// OwnTags registers the package that holds the backup resources of
// resourceType (the ARN's resource type, "backup-plan"), whose tags live
// in TagTable.
func (s *Service) OwnTags(resourceType string, owner TagOwner) {
	s.tagOwners[resourceType] = owner
}

// taggableTypes are the resource types of arn:aws:backup ARNs this
// package holds tags of itself.
var taggableTypes = map[string]string{
	"backup-vault":   `SELECT COUNT(*) FROM backup_vaults WHERE arn = ?`,
	"recovery-point": `SELECT COUNT(*) FROM backup_recovery_points WHERE arn = ?`,
	"legal-hold":     `SELECT COUNT(*) FROM backup_legal_holds WHERE arn = ?`,
	// Restore testing plans, frameworks and report plans belong to the
	// domains that share Backup's API and this tag table.
	"restore-testing-plan": `SELECT COUNT(*) FROM restore_testing_plans WHERE arn = ?`,
	"framework":            `SELECT COUNT(*) FROM backup_frameworks WHERE arn = ?`,
	"report-plan":          `SELECT COUNT(*) FROM backup_report_plans WHERE arn = ?`,
}

// taggable checks that arn is a well-formed ARN of a Backup resource of
// the caller's account and authorizes action on it.
func (s *Service) taggable(ctx context.Context, arn, action string, extra map[string][]string) error {
	sc, _, err := s.scope(ctx)
	if err != nil {
		return err
	}
	if arn == "" {
		return missingParam("ResourceArn")
	}
	a, err := parseARN(arn)
	if err != nil {
		return err
	}
	exists, err := s.tagTarget(ctx, a, arn)
	if err != nil {
		return err
	}
	if !exists || a.Account != sc.Account {
		if aerr := s.authz.Authorize(ctx, authz.Request{Action: action, Resource: arn, Context: extra}); aerr != nil {
			return aerr
		}
		return notFound("resource %s does not exist", arn)
	}
	return s.authz.Authorize(ctx, authz.Request{Action: action, Resource: arn, Context: extra})
}

// tagTarget reports whether a, a parsed ARN, names an existing taggable
// resource; an ARN that cannot name one is InvalidParameterValueException.
func (s *Service) tagTarget(ctx context.Context, a ARN, arn string) (bool, error) {
	invalid := InvalidParam("%s is not the ARN of a taggable AWS Backup resource (a backup vault, backup plan, recovery point, legal hold, restore testing plan, framework or report plan)", arn)
	if a.Region == "" || a.Account == "" {
		return false, invalid
	}
	var n int
	if a.Service != "backup" {
		// Recovery points of RDS instances carry the RDS snapshot's ARN.
		if a.Service != "rds" || !strings.HasPrefix(a.Resource, "snapshot:") {
			return false, invalid
		}
		err := s.store.QueryRowContext(ctx, taggableTypes["recovery-point"], arn).Scan(&n)
		return n > 0, err
	}
	typ, id, ok := strings.Cut(a.Resource, ":")
	if !ok || id == "" {
		return false, invalid
	}
	if owner, ok := s.tagOwners[typ]; ok {
		return owner(ctx, a.Region, a.Account, id)
	}
	query, ok := taggableTypes[typ]
	if !ok {
		return false, invalid
	}
	err := s.store.QueryRowContext(ctx, query, arn).Scan(&n)
	return n > 0, err
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

// ListTags returns a page of a resource's tags, in key order.
func (s *Service) ListTags(ctx context.Context, arn string, page Page) (map[string]string, string, error) {
	after, limit, err := page.decode()
	if err != nil {
		return nil, "", err
	}
	if err := s.taggable(ctx, arn, "backup:ListTags", nil); err != nil {
		return nil, "", err
	}
	rows, err := s.store.QueryContext(ctx, `SELECT tag_key, tag_value FROM backup_tags WHERE resource_arn = ? AND tag_key > ? ORDER BY tag_key LIMIT ?`, arn, after, limit+1)
	if err != nil {
		return nil, "", err
	}
	defer rows.Close()
	out := map[string]string{}
	var last, next string
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, "", err
		}
		if len(out) == limit {
			next = encodeToken(last)
			break
		}
		out[k], last = v, k
	}
	return out, next, rows.Err()
}
