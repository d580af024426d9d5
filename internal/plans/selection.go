package plans

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/coffer-dev/coffer/internal/meta"
)

// TagCondition is a ListOfTags entry (STRINGEQUALS only).
type TagCondition struct {
	ConditionType  string
	ConditionKey   string
	ConditionValue string
}

// ConditionParameter is one key/value of a Conditions operator; the key
// is aws:ResourceTag/KEY.
type ConditionParameter struct {
	ConditionKey   string
	ConditionValue string
}

// Conditions are ANDed tag conditions.
type Conditions struct {
	StringEquals    []ConditionParameter
	StringNotEquals []ConditionParameter
	StringLike      []ConditionParameter
	StringNotLike   []ConditionParameter
}

// Selection is AWS's BackupSelection.
type Selection struct {
	SelectionName string
	IamRoleArn    string
	Resources     []string       `json:",omitempty"`
	NotResources  []string       `json:",omitempty"`
	ListOfTags    []TagCondition `json:",omitempty"`
	Conditions    *Conditions    `json:",omitempty"`
}

// SelectionInfo is a stored selection.
type SelectionInfo struct {
	Selection
	ID, PlanID, CreatorRequestID string
	Created                      time.Time
}

const tagKeyPrefix = "aws:ResourceTag/"

// validate applies AWS's rules and coffer's: coffer backs up RDS DB
// instances of the plan's own account and region, so a resource pattern
// that can only name something else selects nothing and is refused.
func (sel *Selection) validate(sc scope) error {
	switch {
	case sel.SelectionName == "":
		return missingParam("BackupSelection.SelectionName")
	case !nameRe.MatchString(sel.SelectionName):
		return invalidParam("SelectionName %q must be 1 to 50 letters, digits or '-_.'", sel.SelectionName)
	case sel.IamRoleArn == "":
		return missingParam("BackupSelection.IamRoleArn")
	case len(sel.Resources)+len(sel.NotResources) > maxSelectionResourceCount:
		return limitExceeded("a selection names at most %d resources", maxSelectionResourceCount)
	}
	for _, r := range sel.Resources {
		if err := checkResourcePattern(sc, r, "Resources"); err != nil {
			return err
		}
	}
	for _, r := range sel.NotResources {
		if err := checkResourcePattern(sc, r, "NotResources"); err != nil {
			return err
		}
	}
	for _, t := range sel.ListOfTags {
		if !strings.EqualFold(t.ConditionType, "STRINGEQUALS") {
			return invalidParam("ListOfTags condition type %q: only STRINGEQUALS is supported", t.ConditionType)
		}
		if strings.TrimPrefix(t.ConditionKey, tagKeyPrefix) == "" {
			return invalidParam("ListOfTags: ConditionKey is required")
		}
	}
	if c := sel.Conditions; c != nil {
		for _, group := range [][]ConditionParameter{c.StringEquals, c.StringNotEquals, c.StringLike, c.StringNotLike} {
			for _, p := range group {
				if !strings.HasPrefix(p.ConditionKey, tagKeyPrefix) || len(p.ConditionKey) == len(tagKeyPrefix) {
					return invalidParam("condition key %q must be %sKEY", p.ConditionKey, tagKeyPrefix)
				}
			}
		}
	}
	return nil
}

// checkResourcePattern accepts "*" and ARNs, with wildcards, that can
// name an RDS DB instance of the scope.
func checkResourcePattern(sc scope, pattern, field string) error {
	if pattern == "*" {
		return nil
	}
	if !strings.HasPrefix(pattern, "arn:") {
		return invalidParam("%s entry %q is not an ARN or '*'", field, pattern)
	}
	if !couldMatchRDS(pattern, sc) {
		return invalidParam("%s entry %s selects nothing: coffer backs up the RDS DB instances of the plan's account and region (arn:aws:rds:%s:%s:db:NAME)", field, pattern, sc.Region, sc.Account)
	}
	return nil
}

// couldMatchRDS reports whether each fixed ARN part of the pattern agrees
// with an RDS DB instance of the scope.
func couldMatchRDS(pattern string, sc scope) bool {
	parts := strings.SplitN(pattern, ":", 7)
	want := []string{"arn", "aws", "rds", sc.Region, sc.Account, "db"}
	for i := 0; i < 6 && i < len(parts); i++ {
		if strings.Contains(parts[i], "*") || strings.Contains(parts[i], "?") {
			return true // a wildcard may span the rest
		}
		if parts[i] != want[i] {
			return false
		}
	}
	return true
}

// glob matches s against a pattern with * (any run) and ? (one
// character), case-sensitively, as AWS Backup matches ARNs and
// StringLike values.
func glob(pattern, s string) bool {
	p, t := []rune(pattern), []rune(s)
	pi, ti, star, mark := 0, 0, -1, 0
	for ti < len(t) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == t[ti]):
			pi++
			ti++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, ti
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			ti = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// Matches reports whether the selection picks the resource: (Resources
// AND Conditions) OR ListOfTags, minus NotResources. A selection with no
// Resources and no ListOfTags starts from every resource.
func (sel *Selection) Matches(r Resource) bool {
	for _, p := range sel.NotResources {
		if glob(p, r.ARN) {
			return false
		}
	}
	for _, t := range sel.ListOfTags {
		if v, ok := r.Tags[strings.TrimPrefix(t.ConditionKey, tagKeyPrefix)]; ok && v == t.ConditionValue {
			return true
		}
	}
	base := len(sel.Resources) == 0 && len(sel.ListOfTags) == 0
	for _, p := range sel.Resources {
		if glob(p, r.ARN) {
			base = true
			break
		}
	}
	return base && sel.Conditions.match(r.Tags)
}

func (c *Conditions) match(tags map[string]string) bool {
	if c == nil {
		return true
	}
	tag := func(p ConditionParameter) (string, bool) {
		v, ok := tags[strings.TrimPrefix(p.ConditionKey, tagKeyPrefix)]
		return v, ok
	}
	for _, p := range c.StringEquals {
		if v, ok := tag(p); !ok || v != p.ConditionValue {
			return false
		}
	}
	for _, p := range c.StringNotEquals {
		if v, ok := tag(p); ok && v == p.ConditionValue {
			return false
		}
	}
	for _, p := range c.StringLike {
		if v, ok := tag(p); !ok || !glob(p.ConditionValue, v) {
			return false
		}
	}
	for _, p := range c.StringNotLike {
		if v, ok := tag(p); ok && glob(p.ConditionValue, v) {
			return false
		}
	}
	return true
}

// CreateSelection assigns resources to a plan. The caller must be
// allowed to pass the selection's role to the backup service
// (iam:PassRole), as with StartBackupJob.
func (s *Service) CreateSelection(ctx context.Context, planID string, sel Selection, creatorRequestID string) (*SelectionInfo, error) {
	sc, p, err := s.plan(ctx, planID, "", "backup:CreateBackupSelection")
	if err != nil {
		return nil, err
	}
	if !p.Deleted.IsZero() {
		return nil, notFound("backup plan %s was deleted", planID)
	}
	if creatorRequestID != "" {
		existing, err := scanSelection(s.store.QueryRowContext(ctx, `SELECT `+selectionColumns+` FROM backup_selections WHERE plan_id = ? AND creator_request_id = ?`, planID, creatorRequestID))
		if err == nil {
			return existing, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return nil, err
		}
	}
	if err := sel.validate(sc); err != nil {
		return nil, err
	}
	if err := s.backup.CheckJobRole(ctx, sel.IamRoleArn); err != nil {
		return nil, err
	}
	doc, err := json.Marshal(sel)
	if err != nil {
		return nil, err
	}
	info := &SelectionInfo{Selection: sel, ID: newUUID(), PlanID: planID, CreatorRequestID: creatorRequestID, Created: s.now().UTC()}
	_, err = s.store.ExecContext(ctx, `INSERT INTO backup_selections (`+selectionColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		info.ID, planID, sel.SelectionName, sel.IamRoleArn, string(doc), creatorRequestID, info.Created.UnixNano())
	if errors.Is(err, meta.ErrConflict) {
		return nil, alreadyExists("backup plan %s already has a selection named %s", planID, sel.SelectionName)
	}
	if err != nil {
		return nil, err
	}
	return info, nil
}

func (s *Service) selection(ctx context.Context, planID, id, action string) (*SelectionInfo, error) {
	_, p, err := s.plan(ctx, planID, "", action)
	if err != nil {
		return nil, err
	}
	if id == "" {
		return nil, missingParam("SelectionId")
	}
	sel, err := scanSelection(s.store.QueryRowContext(ctx, `SELECT `+selectionColumns+` FROM backup_selections WHERE plan_id = ? AND id = ?`, p.ID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("backup plan %s has no selection %s", planID, id)
	}
	return sel, err
}

// GetSelection returns one of a plan's selections.
func (s *Service) GetSelection(ctx context.Context, planID, id string) (*SelectionInfo, error) {
	return s.selection(ctx, planID, id, "backup:GetBackupSelection")
}

// ListSelections lists a plan's selections, oldest first.
func (s *Service) ListSelections(ctx context.Context, planID string) ([]*SelectionInfo, error) {
	_, p, err := s.plan(ctx, planID, "", "backup:ListBackupSelections")
	if err != nil {
		return nil, err
	}
	return selectionsOf(ctx, s.store, p.ID)
}

// DeleteSelection removes a selection; its resources are no longer
// backed up by the plan from the next window on.
func (s *Service) DeleteSelection(ctx context.Context, planID, id string) error {
	sel, err := s.selection(ctx, planID, id, "backup:DeleteBackupSelection")
	if err != nil {
		return err
	}
	res, err := s.store.ExecContext(ctx, `DELETE FROM backup_selections WHERE id = ?`, sel.ID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return notFound("backup plan %s has no selection %s", planID, id)
	}
	return nil
}

// selected resolves which resources of the plan's account and region its
// selections pick, each with the role of the first selection naming it.
func (s *Service) selected(ctx context.Context, p *Plan, sels []*SelectionInfo) ([]pick, error) {
	if len(sels) == 0 {
		return nil, nil
	}
	all, err := s.resources.Resources(ctx, p.Account, p.Region)
	if err != nil {
		return nil, fmt.Errorf("list resources of %s in %s: %w", p.Account, p.Region, err)
	}
	var out []pick
	for _, r := range all {
		for _, sel := range sels {
			if sel.Matches(r) {
				out = append(out, pick{ARN: r.ARN, Role: sel.IamRoleArn})
				break
			}
		}
	}
	return out, nil
}

type pick struct{ ARN, Role string }
