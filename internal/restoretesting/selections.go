package restoretesting

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/coffer-dev/coffer/internal/backup"
	"github.com/coffer-dev/coffer/internal/meta"
)

// KeyValue is a tag condition: Key is the tag key (aws:ResourceTag/KEY
// is accepted too).
type KeyValue struct {
	Key, Value string
}

// ResourceConditions are ANDed tag conditions on the protected
// resources.
type ResourceConditions struct {
	StringEquals    []KeyValue `json:",omitempty"`
	StringNotEquals []KeyValue `json:",omitempty"`
}

// SelectionInput is RestoreTestingSelectionForCreate (and, without name
// and type, RestoreTestingSelectionForUpdate).
type SelectionInput struct {
	IamRoleArn                  string              `json:",omitempty"`
	ProtectedResourceArns       []string            `json:",omitempty"`
	ProtectedResourceConditions *ResourceConditions `json:",omitempty"`
	ProtectedResourceType       string              `json:",omitempty"`
	RestoreMetadataOverrides    map[string]string   `json:",omitempty"`
	RestoreTestingSelectionName string              `json:",omitempty"`
	ValidationWindowHours       *int32              `json:",omitempty"`
}

// Selection is a stored selection.
type Selection struct {
	SelectionInput
	Account, Region, PlanName, PlanARN, CreatorRequestID string
	Created, Updated                                     time.Time
}

// validationWindow is how long the temporary instance lives after the
// restore completed.
func (s *SelectionInput) validationWindow() time.Duration {
	if s.ValidationWindowHours == nil {
		return 0
	}
	return time.Duration(*s.ValidationWindowHours) * time.Hour
}

const tagKeyPrefix = "aws:ResourceTag/"

func (s *SelectionInput) validate() error {
	switch {
	case s.IamRoleArn == "":
		return backup.MissingParam("RestoreTestingSelection.IamRoleArn")
	case s.ProtectedResourceType == "":
		return backup.MissingParam("RestoreTestingSelection.ProtectedResourceType")
	case s.ProtectedResourceType != "RDS":
		return backup.InvalidParam("ProtectedResourceType %q: coffer restores RDS DB instances only (RDS)", s.ProtectedResourceType)
	case len(s.ProtectedResourceArns) == 0 && s.ProtectedResourceConditions == nil:
		return backup.MissingParam("RestoreTestingSelection.ProtectedResourceArns or ProtectedResourceConditions")
	case len(s.ProtectedResourceArns) > maxProtectedResourceArns:
		return backup.InvalidParam("ProtectedResourceArns names at most %d resources", maxProtectedResourceArns)
	case s.ValidationWindowHours != nil && (*s.ValidationWindowHours < 0 || *s.ValidationWindowHours > maxValidationWindowHours):
		return backup.InvalidParam("ValidationWindowHours must be from 0 to %d, not %d", maxValidationWindowHours, *s.ValidationWindowHours)
	}
	wildcard := false
	for _, a := range s.ProtectedResourceArns {
		switch {
		case a == "*":
			wildcard = true
		case !strings.HasPrefix(a, "arn:aws:rds:") || strings.ContainsAny(a, "*?"):
			return backup.InvalidParam("ProtectedResourceArns entry %q must be \"*\" or the ARN of an RDS DB instance", a)
		}
	}
	if wildcard && len(s.ProtectedResourceArns) > 1 {
		return backup.InvalidParam("ProtectedResourceArns is either [\"*\"] or specific ARNs, not both")
	}
	if s.ProtectedResourceConditions != nil && len(s.ProtectedResourceArns) > 0 && !wildcard {
		return backup.InvalidParam("ProtectedResourceConditions go with ProtectedResourceArns [\"*\"], not with specific ARNs")
	}
	if c := s.ProtectedResourceConditions; c != nil {
		for _, kv := range append(append([]KeyValue{}, c.StringEquals...), c.StringNotEquals...) {
			if strings.TrimPrefix(kv.Key, tagKeyPrefix) == "" {
				return backup.MissingParam("ProtectedResourceConditions Key")
			}
		}
	}
	for k := range s.RestoreMetadataOverrides {
		if strings.EqualFold(k, "DBInstanceIdentifier") {
			return backup.InvalidParam("RestoreMetadataOverrides cannot set DBInstanceIdentifier: a restore test restores into a temporary instance it names itself")
		}
	}
	return nil
}

// Matches reports whether the selection picks a protected resource with
// the tags.
func (s *SelectionInput) Matches(resourceARN, resourceType string, tags map[string]string) bool {
	if resourceType != s.ProtectedResourceType {
		return false
	}
	picked := len(s.ProtectedResourceArns) == 0
	for _, a := range s.ProtectedResourceArns {
		if a == "*" || a == resourceARN {
			picked = true
			break
		}
	}
	if !picked {
		return false
	}
	c := s.ProtectedResourceConditions
	if c == nil {
		return true
	}
	for _, kv := range c.StringEquals {
		if v, ok := tags[strings.TrimPrefix(kv.Key, tagKeyPrefix)]; !ok || v != kv.Value {
			return false
		}
	}
	for _, kv := range c.StringNotEquals {
		if v, ok := tags[strings.TrimPrefix(kv.Key, tagKeyPrefix)]; ok && v == kv.Value {
			return false
		}
	}
	return true
}

// restoreMetadata is the metadata of a test's restore job: the
// overrides (keys matched case-insensitively to the recovery point's and
// to ValidationQuery) and the temporary instance's identifier.
func (s *SelectionInput) restoreMetadata(rpKeys map[string]string, identifier string) map[string]string {
	known := []string{backup.ValidationQueryKey}
	for k := range rpKeys {
		known = append(known, k)
	}
	md := map[string]string{}
	for k, v := range s.RestoreMetadataOverrides {
		for _, want := range known {
			if strings.EqualFold(k, want) {
				k = want
				break
			}
		}
		md[k] = v
	}
	md["DBInstanceIdentifier"] = identifier
	return md
}

const selectionColumns = `account_id, region, plan_name, name, iam_role_arn, document, creator_request_id, creation_date, update_date`

func scanSelection(row interface{ Scan(...any) error }) (*Selection, error) {
	var sel Selection
	var name, role, doc string
	var created, updated int64
	if err := row.Scan(&sel.Account, &sel.Region, &sel.PlanName, &name, &role, &doc, &sel.CreatorRequestID, &created, &updated); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(doc), &sel.SelectionInput); err != nil {
		return nil, fmt.Errorf("restore testing selection %s: %w", name, err)
	}
	sel.RestoreTestingSelectionName, sel.IamRoleArn = name, role
	sel.Created, sel.Updated = unixTime(created), unixTime(updated)
	return &sel, nil
}

func selectionDocument(in SelectionInput) (string, error) {
	in.RestoreTestingSelectionName, in.IamRoleArn = "", ""
	doc, err := json.Marshal(in)
	return string(doc), err
}

func selectionsOf(ctx context.Context, q meta.Querier, p *Plan) ([]*Selection, error) {
	sels, err := meta.QueryAll(ctx, q, scanSelection, `SELECT `+selectionColumns+` FROM restore_testing_selections WHERE account_id = ? AND region = ? AND plan_name = ? ORDER BY creation_date, name`,
		p.Account, p.Region, p.RestoreTestingPlanName)
	for _, sel := range sels {
		sel.PlanARN = p.ARN
	}
	return sels, err
}

// CreateSelection adds a selection to a plan. The caller must be allowed
// to pass the selection's role to the backup service (iam:PassRole).
func (s *Service) CreateSelection(ctx context.Context, planName string, in SelectionInput, creatorRequestID string) (*Selection, error) {
	sc, p, err := s.plan(ctx, planName, "backup:CreateRestoreTestingSelection")
	if err != nil {
		return nil, err
	}
	if creatorRequestID != "" {
		sel, found, err := meta.FindOne(ctx, s.store, scanSelection, `SELECT `+selectionColumns+` FROM restore_testing_selections
			WHERE account_id = ? AND region = ? AND plan_name = ? AND creator_request_id = ?`, sc.Account, sc.Region, planName, creatorRequestID)
		if found {
			sel.PlanARN = p.ARN
		}
		if found || err != nil {
			return sel, err
		}
	}
	if err := checkName("RestoreTestingSelection", "RestoreTestingSelectionName", in.RestoreTestingSelectionName); err != nil {
		return nil, err
	}
	if err := in.validate(); err != nil {
		return nil, err
	}
	if err := s.backup.CheckJobRole(ctx, in.IamRoleArn); err != nil {
		return nil, err
	}
	doc, err := selectionDocument(in)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	_, err = s.store.ExecContext(ctx, `INSERT INTO restore_testing_selections (`+selectionColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)`,
		sc.Account, sc.Region, planName, in.RestoreTestingSelectionName, in.IamRoleArn, doc, creatorRequestID, now.UnixNano())
	if errors.Is(err, meta.ErrConflict) {
		return nil, backup.AlreadyExists("restore testing plan %s already has a selection named %s", planName, in.RestoreTestingSelectionName)
	}
	if err != nil {
		return nil, err
	}
	return &Selection{SelectionInput: in, Account: sc.Account, Region: sc.Region, PlanName: planName, PlanARN: p.ARN, CreatorRequestID: creatorRequestID, Created: now}, nil
}

func (s *Service) selection(ctx context.Context, planName, name, action string) (*Selection, error) {
	sc, p, err := s.plan(ctx, planName, action)
	if err != nil {
		return nil, err
	}
	if name == "" {
		return nil, backup.MissingParam("RestoreTestingSelectionName")
	}
	sel, err := scanSelection(s.store.QueryRowContext(ctx, `SELECT `+selectionColumns+` FROM restore_testing_selections
		WHERE account_id = ? AND region = ? AND plan_name = ? AND name = ?`, sc.Account, sc.Region, planName, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, backup.NotFound("restore testing plan %s has no selection %s", planName, name)
	}
	if err != nil {
		return nil, err
	}
	sel.PlanARN = p.ARN
	return sel, nil
}

// GetSelection returns one of a plan's selections.
func (s *Service) GetSelection(ctx context.Context, planName, name string) (*Selection, error) {
	return s.selection(ctx, planName, name, "backup:GetRestoreTestingSelection")
}

// ListSelections lists a plan's selections, oldest first.
func (s *Service) ListSelections(ctx context.Context, planName string) ([]*Selection, error) {
	_, p, err := s.plan(ctx, planName, "backup:ListRestoreTestingSelections")
	if err != nil {
		return nil, err
	}
	return selectionsOf(ctx, s.store, p)
}

// UpdateSelection changes the members the update gives.
func (s *Service) UpdateSelection(ctx context.Context, planName, name string, in SelectionInput) (*Selection, error) {
	sel, err := s.selection(ctx, planName, name, "backup:UpdateRestoreTestingSelection")
	if err != nil {
		return nil, err
	}
	switch {
	case in.RestoreTestingSelectionName != "" && in.RestoreTestingSelectionName != name:
		return nil, backup.InvalidParam("a restore testing selection cannot be renamed")
	case in.ProtectedResourceType != "" && in.ProtectedResourceType != sel.ProtectedResourceType:
		return nil, backup.InvalidParam("a restore testing selection's ProtectedResourceType cannot be changed")
	}
	next := sel.SelectionInput
	if in.IamRoleArn != "" && in.IamRoleArn != next.IamRoleArn {
		if err := s.backup.CheckJobRole(ctx, in.IamRoleArn); err != nil {
			return nil, err
		}
		next.IamRoleArn = in.IamRoleArn
	}
	if in.ProtectedResourceArns != nil {
		next.ProtectedResourceArns = in.ProtectedResourceArns
	}
	if in.ProtectedResourceConditions != nil {
		next.ProtectedResourceConditions = in.ProtectedResourceConditions
	}
	if in.RestoreMetadataOverrides != nil {
		next.RestoreMetadataOverrides = in.RestoreMetadataOverrides
	}
	if in.ValidationWindowHours != nil {
		next.ValidationWindowHours = in.ValidationWindowHours
	}
	if err := next.validate(); err != nil {
		return nil, err
	}
	doc, err := selectionDocument(next)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	if _, err := s.store.ExecContext(ctx, `UPDATE restore_testing_selections SET iam_role_arn = ?, document = ?, update_date = ?
		WHERE account_id = ? AND region = ? AND plan_name = ? AND name = ?`, next.IamRoleArn, doc, now.UnixNano(), sel.Account, sel.Region, planName, name); err != nil {
		return nil, err
	}
	sel.SelectionInput, sel.Updated = next, now
	return sel, nil
}

// DeleteSelection removes a selection; the tests it started still end
// with their temporary instances deleted.
func (s *Service) DeleteSelection(ctx context.Context, planName, name string) error {
	sel, err := s.selection(ctx, planName, name, "backup:DeleteRestoreTestingSelection")
	if err != nil {
		return err
	}
	_, err = s.store.ExecContext(ctx, `DELETE FROM restore_testing_selections WHERE account_id = ? AND region = ? AND plan_name = ? AND name = ?`,
		sel.Account, sel.Region, planName, name)
	return err
}
