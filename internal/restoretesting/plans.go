package restoretesting

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/coffer-dev/coffer/internal/awserr"
	"github.com/coffer-dev/coffer/internal/backup"
	"github.com/coffer-dev/coffer/internal/meta"
	"github.com/coffer-dev/coffer/internal/plans/schedule"
	tagsx "github.com/coffer-dev/coffer/internal/tags"
)

// RecoveryPointSelection says which recovery points a plan's runs pick.
type RecoveryPointSelection struct {
	Algorithm           string   `json:",omitempty"`
	ExcludeVaults       []string `json:",omitempty"`
	IncludeVaults       []string `json:",omitempty"`
	RecoveryPointTypes  []string `json:",omitempty"`
	SelectionWindowDays int32    `json:",omitempty"`
}

// PlanInput is RestoreTestingPlanForCreate (and, without the name,
// RestoreTestingPlanForUpdate).
type PlanInput struct {
	RecoveryPointSelection     *RecoveryPointSelection `json:",omitempty"`
	RestoreTestingPlanName     string                  `json:",omitempty"`
	ScheduleExpression         string                  `json:",omitempty"`
	ScheduleExpressionTimezone string                  `json:",omitempty"`
	StartWindowHours           int32                   `json:",omitempty"`
}

// Plan is a stored restore testing plan.
type Plan struct {
	PlanInput
	Account, Region, ARN, CreatorRequestID string
	Created, Updated, LastExecution        time.Time
	scheduledThrough                       time.Time
}

// Schedule parses the plan's expression in its time zone.
func (p *PlanInput) Schedule() (schedule.Schedule, error) {
	loc, err := schedule.LoadLocation(p.ScheduleExpressionTimezone)
	if err != nil {
		return nil, err
	}
	expr := p.ScheduleExpression
	if expr == "" {
		expr = DefaultSchedule
	}
	return schedule.Parse(expr, loc)
}

func (p *PlanInput) startWindow() time.Duration {
	h := p.StartWindowHours
	if h == 0 {
		h = defaultStartWindowHours
	}
	return time.Duration(h) * time.Hour
}

func (r *RecoveryPointSelection) windowDays() int32 {
	if r.SelectionWindowDays == 0 {
		return defaultSelectionWindow
	}
	return r.SelectionWindowDays
}

// validate applies AWS's rules to a complete plan.
func (p *PlanInput) validate() error {
	if p.ScheduleExpression == "" {
		return backup.MissingParam("RestoreTestingPlan.ScheduleExpression")
	}
	if _, err := p.Schedule(); err != nil {
		return backup.InvalidParam("%v", err)
	}
	if p.StartWindowHours < 0 || p.StartWindowHours > maxStartWindowHours {
		return backup.InvalidParam("StartWindowHours must be from 1 to %d, not %d", maxStartWindowHours, p.StartWindowHours)
	}
	r := p.RecoveryPointSelection
	if r == nil {
		return backup.MissingParam("RestoreTestingPlan.RecoveryPointSelection")
	}
	switch r.Algorithm {
	case "":
		return backup.MissingParam("RecoveryPointSelection.Algorithm")
	case algorithmLatest, algorithmRandom:
	default:
		return backup.InvalidParam("Algorithm %q must be %s or %s", r.Algorithm, algorithmLatest, algorithmRandom)
	}
	if len(r.IncludeVaults) == 0 {
		return backup.MissingParam("RecoveryPointSelection.IncludeVaults")
	}
	if len(r.RecoveryPointTypes) == 0 {
		return backup.MissingParam("RecoveryPointSelection.RecoveryPointTypes")
	}
	for _, t := range r.RecoveryPointTypes {
		if t != recoveryPointTypeSnapshot && t != recoveryPointTypeContin {
			return backup.InvalidParam("RecoveryPointTypes entry %q must be %s or %s", t, recoveryPointTypeSnapshot, recoveryPointTypeContin)
		}
	}
	if r.SelectionWindowDays < 0 || r.SelectionWindowDays > maxSelectionWindow {
		return backup.InvalidParam("SelectionWindowDays must be from 1 to %d, not %d", maxSelectionWindow, r.SelectionWindowDays)
	}
	for _, v := range append(append([]string{}, r.IncludeVaults...), r.ExcludeVaults...) {
		if v != "*" && !strings.HasPrefix(v, "arn:aws:backup:") {
			return backup.InvalidParam("vault %q must be \"*\" or a backup vault ARN (arn:aws:backup:REGION:ACCOUNT:backup-vault:NAME, wildcards allowed)", v)
		}
	}
	return nil
}

// vaultPicked reports whether the selection includes the vault.
func (r *RecoveryPointSelection) vaultPicked(vaultARN string) bool {
	in := false
	for _, p := range r.IncludeVaults {
		if matchARN(p, vaultARN) {
			in = true
			break
		}
	}
	for _, p := range r.ExcludeVaults {
		if matchARN(p, vaultARN) {
			return false
		}
	}
	return in
}

func (r *RecoveryPointSelection) snapshots() bool {
	for _, t := range r.RecoveryPointTypes {
		if t == recoveryPointTypeSnapshot {
			return true
		}
	}
	return false
}

const planColumns = `account_id, region, name, arn, document, creator_request_id, creation_date, update_date, last_execution_date, scheduled_through`

func scanPlan(row interface{ Scan(...any) error }) (*Plan, error) {
	var p Plan
	var name, doc string
	var created, updated, last, through int64
	if err := row.Scan(&p.Account, &p.Region, &name, &p.ARN, &doc, &p.CreatorRequestID, &created, &updated, &last, &through); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(doc), &p.PlanInput); err != nil {
		return nil, fmt.Errorf("restore testing plan %s: %w", name, err)
	}
	p.RestoreTestingPlanName = name
	p.Created, p.Updated, p.LastExecution, p.scheduledThrough = unixTime(created), unixTime(updated), unixTime(last), unixTime(through)
	return &p, nil
}

func loadPlan(ctx context.Context, q meta.Querier, sc scope, name string) (*Plan, error) {
	p, err := scanPlan(q.QueryRowContext(ctx, `SELECT `+planColumns+` FROM restore_testing_plans WHERE account_id = ? AND region = ? AND name = ?`, sc.Account, sc.Region, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, backup.NotFound("restore testing plan %s does not exist in account %s, region %s", name, sc.Account, sc.Region)
	}
	return p, err
}

func document(p PlanInput) (string, error) {
	p.RestoreTestingPlanName = ""
	doc, err := json.Marshal(p)
	return string(doc), err
}

// plan loads a plan of the caller's account after authorizing action on
// it.
func (s *Service) plan(ctx context.Context, name, action string) (scope, *Plan, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return sc, nil, err
	}
	if name == "" {
		return sc, nil, backup.MissingParam("RestoreTestingPlanName")
	}
	p, err := loadPlan(ctx, s.store, sc, name)
	if err != nil {
		if aerr := s.authorize(ctx, action, "*"); aerr != nil {
			return sc, nil, aerr
		}
		return sc, nil, err
	}
	if err := s.authorize(ctx, action, p.ARN); err != nil {
		return sc, nil, err
	}
	return sc, p, nil
}

// CreatePlan creates a restore testing plan; its first run is the first
// of its schedule after now.
func (s *Service) CreatePlan(ctx context.Context, in PlanInput, creatorRequestID string, tags map[string]string) (*Plan, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, "backup:CreateRestoreTestingPlan", "*"); err != nil {
		return nil, err
	}
	if creatorRequestID != "" {
		if p, found, err := meta.FindOne(ctx, s.store, scanPlan, `SELECT `+planColumns+` FROM restore_testing_plans WHERE account_id = ? AND region = ? AND creator_request_id = ?`, sc.Account, sc.Region, creatorRequestID); found || err != nil {
			return p, err
		}
	}
	if err := checkName("RestoreTestingPlan", "RestoreTestingPlanName", in.RestoreTestingPlanName); err != nil {
		return nil, err
	}
	if err := in.validate(); err != nil {
		return nil, err
	}
	if prob := tagsx.Validate(tags); prob != nil {
		if prob.TooMany {
			return nil, awserr.New(awserr.Limit, "LimitExceededException", "%s", prob.Message)
		}
		return nil, backup.InvalidParam("%s", prob.Message)
	}
	doc, err := document(in)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	p := &Plan{PlanInput: in, Account: sc.Account, Region: sc.Region, ARN: PlanARN(sc.Region, sc.Account, in.RestoreTestingPlanName, randomHex(16)),
		CreatorRequestID: creatorRequestID, Created: now, scheduledThrough: now}
	err = s.store.InTx(ctx, func(q meta.Querier) error {
		if _, err := q.ExecContext(ctx, `INSERT INTO restore_testing_plans (`+planColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, 0, 0, ?)`,
			sc.Account, sc.Region, in.RestoreTestingPlanName, p.ARN, doc, creatorRequestID, now.UnixNano(), now.UnixNano()); err != nil {
			return err
		}
		return backup.TagTable.Put(ctx, q, p.ARN, tags)
	})
	if errors.Is(err, meta.ErrConflict) {
		return nil, backup.AlreadyExists("restore testing plan %s already exists in account %s, region %s", in.RestoreTestingPlanName, sc.Account, sc.Region)
	}
	if err != nil {
		return nil, err
	}
	return p, nil
}

// GetPlan returns a plan.
func (s *Service) GetPlan(ctx context.Context, name string) (*Plan, error) {
	_, p, err := s.plan(ctx, name, "backup:GetRestoreTestingPlan")
	return p, err
}

// ListPlans lists the caller's plans in the region, oldest first.
func (s *Service) ListPlans(ctx context.Context) ([]*Plan, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, "backup:ListRestoreTestingPlans", "*"); err != nil {
		return nil, err
	}
	return s.queryPlans(ctx, `SELECT `+planColumns+` FROM restore_testing_plans WHERE account_id = ? AND region = ? ORDER BY creation_date, name`, sc.Account, sc.Region)
}

func (s *Service) queryPlans(ctx context.Context, query string, args ...any) ([]*Plan, error) {
	return meta.QueryAll(ctx, s.store, scanPlan, query, args...)
}

// UpdatePlan changes the members the update gives; a new schedule
// starts from now.
func (s *Service) UpdatePlan(ctx context.Context, name string, in PlanInput) (*Plan, error) {
	_, p, err := s.plan(ctx, name, "backup:UpdateRestoreTestingPlan")
	if err != nil {
		return nil, err
	}
	if in.RestoreTestingPlanName != "" && in.RestoreTestingPlanName != name {
		return nil, backup.InvalidParam("a restore testing plan cannot be renamed")
	}
	next := p.PlanInput
	rescheduled := false
	if in.ScheduleExpression != "" && in.ScheduleExpression != next.ScheduleExpression {
		next.ScheduleExpression, rescheduled = in.ScheduleExpression, true
	}
	if in.ScheduleExpressionTimezone != "" && in.ScheduleExpressionTimezone != next.ScheduleExpressionTimezone {
		next.ScheduleExpressionTimezone, rescheduled = in.ScheduleExpressionTimezone, true
	}
	if in.StartWindowHours != 0 {
		next.StartWindowHours = in.StartWindowHours
	}
	if r := in.RecoveryPointSelection; r != nil {
		sel := *next.RecoveryPointSelection
		if r.Algorithm != "" {
			sel.Algorithm = r.Algorithm
		}
		if r.IncludeVaults != nil {
			sel.IncludeVaults = r.IncludeVaults
		}
		if r.ExcludeVaults != nil {
			sel.ExcludeVaults = r.ExcludeVaults
		}
		if r.RecoveryPointTypes != nil {
			sel.RecoveryPointTypes = r.RecoveryPointTypes
		}
		if r.SelectionWindowDays != 0 {
			sel.SelectionWindowDays = r.SelectionWindowDays
		}
		next.RecoveryPointSelection = &sel
	}
	if err := next.validate(); err != nil {
		return nil, err
	}
	doc, err := document(next)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	through := p.scheduledThrough
	if rescheduled && through.Before(now) {
		through = now
	}
	if _, err := s.store.ExecContext(ctx, `UPDATE restore_testing_plans SET document = ?, update_date = ?, scheduled_through = ? WHERE arn = ?`,
		doc, now.UnixNano(), through.UnixNano(), p.ARN); err != nil {
		return nil, err
	}
	p.PlanInput, p.Updated, p.scheduledThrough = next, now, through
	return p, nil
}

// DeletePlan deletes a plan that has no selections left.
func (s *Service) DeletePlan(ctx context.Context, name string) error {
	sc, p, err := s.plan(ctx, name, "backup:DeleteRestoreTestingPlan")
	if err != nil {
		if isNotFound(err) {
			// DeleteRestoreTestingPlan's model knows no
			// ResourceNotFoundException.
			return backup.InvalidRequest("restore testing plan %s does not exist in account %s, region %s", name, sc.Account, sc.Region)
		}
		return err
	}
	return s.store.InTx(ctx, func(q meta.Querier) error {
		var n int
		if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM restore_testing_selections WHERE account_id = ? AND region = ? AND plan_name = ?`, sc.Account, sc.Region, name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return backup.InvalidRequest("restore testing plan %s still has %d selection(s); delete them first", name, n)
		}
		if _, err := q.ExecContext(ctx, `DELETE FROM restore_testing_plans WHERE arn = ?`, p.ARN); err != nil {
			return err
		}
		_, err := q.ExecContext(ctx, `DELETE FROM `+string(backup.TagTable)+` WHERE resource_arn = ?`, p.ARN)
		return err
	})
}

// matchARN matches an ARN against "*" or an ARN with * and ? wildcards
// (ARNs of vaults and DB instances hold no '/', which path.Match would
// not let a wildcard cross).
func matchARN(pattern, arn string) bool {
	if pattern == "*" {
		return true
	}
	ok, err := path.Match(pattern, arn)
	return ok && err == nil
}

func isNotFound(err error) bool {
	var e *awserr.Error
	return errors.As(err, &e) && e.Kind == awserr.NotFound
}
