// Package tags holds what every taggable resource shares: AWS's tag rules
// and the key/value rows a service keeps its resources' tags in. Each
// service turns a rule violation into its own AWS error code.
package tags

import (
	"context"
	"fmt"
	"strings"

	"github.com/coffer-dev/coffer/internal/meta"
)

// Max is how many tags AWS lets a resource carry.
const Max = 50

// Problem is a tag that breaks AWS's rules; TooMany tells a quota from a
// malformed tag.
type Problem struct {
	Message string
	TooMany bool
}

func (p *Problem) Error() string { return p.Message }

// Validate applies AWS's rules: at most Max tags, keys of 1 to 128
// characters outside the reserved prefixes (always "aws:"), values of at
// most 256.
func Validate(tags map[string]string, reserved ...string) *Problem {
	if len(tags) > Max {
		return &Problem{Message: fmt.Sprintf("a resource has at most %d tags; %d were given", Max, len(tags)), TooMany: true}
	}
	reserved = append([]string{"aws:"}, reserved...)
	for k, v := range tags {
		switch {
		case k == "" || len(k) > 128:
			return &Problem{Message: fmt.Sprintf("tag key %q must be 1 to 128 characters", k)}
		case len(v) > 256:
			return &Problem{Message: fmt.Sprintf("the value of tag %q is longer than 256 characters", k)}
		}
		for _, r := range reserved {
			if strings.HasPrefix(strings.ToLower(k), r) {
				return &Problem{Message: fmt.Sprintf("tag key %q uses the reserved prefix %s", k, r)}
			}
		}
	}
	return nil
}

// Table is a service's tag table: (resource_arn, tag_key, tag_value) with
// the primary key (resource_arn, tag_key).
type Table string

// Put adds or replaces tags of a resource.
func (t Table) Put(ctx context.Context, q meta.Querier, arn string, tags map[string]string) error {
	for k, v := range tags {
		if _, err := q.ExecContext(ctx, `DELETE FROM `+string(t)+` WHERE resource_arn = ? AND tag_key = ?`, arn, k); err != nil {
			return err
		}
		if _, err := q.ExecContext(ctx, `INSERT INTO `+string(t)+` (resource_arn, tag_key, tag_value) VALUES (?, ?, ?)`, arn, k, v); err != nil {
			return err
		}
	}
	return nil
}

// Load returns a resource's tags.
func (t Table) Load(ctx context.Context, q meta.Querier, arn string) (map[string]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT tag_key, tag_value FROM `+string(t)+` WHERE resource_arn = ?`, arn)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, rows.Err()
}
