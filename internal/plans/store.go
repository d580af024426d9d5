package plans

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/coffer-dev/coffer/internal/meta"
)

const planColumns = `p.id, p.account_id, p.region, p.version_id, p.creator_request_id, p.creation_date, p.deletion_date, p.last_execution_date,
	v.document, v.creation_date`

func scanPlan(row interface{ Scan(...any) error }) (*Plan, error) {
	var p Plan
	var created, deleted, lastExec, vCreated int64
	var doc string
	if err := row.Scan(&p.ID, &p.Account, &p.Region, &p.VersionID, &p.CreatorRequestID, &created, &deleted, &lastExec, &doc, &vCreated); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(doc), &p.Document); err != nil {
		return nil, fmt.Errorf("backup plan %s version %s: %w", p.ID, p.VersionID, err)
	}
	p.ARN = PlanARN(p.Region, p.Account, p.ID)
	p.Created, p.Deleted, p.LastExecution, p.VersionCreated = unixTime(created), unixTime(deleted), unixTime(lastExec), unixTime(vCreated)
	return &p, nil
}

// loadPlan loads a plan of the scope in the version given, or the one in
// force.
func loadPlan(ctx context.Context, q meta.Querier, sc scope, id, version string) (*Plan, error) {
	query := `SELECT ` + planColumns + ` FROM backup_plans p JOIN backup_plan_versions v ON v.plan_id = p.id AND v.version_id = `
	args := []any{}
	if version != "" {
		query += `?`
		args = append(args, version)
	} else {
		query += `p.version_id`
	}
	query += ` WHERE p.id = ? AND p.account_id = ? AND p.region = ?`
	args = append(args, id, sc.Account, sc.Region)
	p, err := scanPlan(q.QueryRowContext(ctx, query, args...))
	if errors.Is(err, sql.ErrNoRows) {
		if version != "" {
			return nil, notFound("backup plan %s has no version %s in account %s, region %s", id, version, sc.Account, sc.Region)
		}
		return nil, notFound("backup plan %s does not exist in account %s, region %s", id, sc.Account, sc.Region)
	}
	if version != "" && err == nil {
		p.VersionID = version
	}
	return p, err
}

// planByVersion loads a plan version whatever the scope (the scheduler's
// and the completion hook's view).
func planByVersion(ctx context.Context, q meta.Querier, id, version string) (*Plan, error) {
	p, err := scanPlan(q.QueryRowContext(ctx, `SELECT `+planColumns+` FROM backup_plans p JOIN backup_plan_versions v ON v.plan_id = p.id AND v.version_id = ? WHERE p.id = ?`, version, id))
	if err != nil {
		return nil, err
	}
	p.VersionID = version
	return p, nil
}

func insertVersion(ctx context.Context, q meta.Querier, planID, version string, d *Document, at time.Time) error {
	doc, err := json.Marshal(d)
	if err != nil {
		return err
	}
	_, err = q.ExecContext(ctx, `INSERT INTO backup_plan_versions (plan_id, version_id, document, creation_date) VALUES (?, ?, ?, ?)`, planID, version, string(doc), at.UnixNano())
	return err
}

// ensureCursors starts the schedule of each new rule at 'at': its first
// window is its first run after the plan version took effect.
func ensureCursors(ctx context.Context, q meta.Querier, planID string, d *Document, at time.Time) error {
	for _, r := range d.Rules {
		var n int
		if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM backup_plan_cursors WHERE plan_id = ? AND rule_id = ?`, planID, r.RuleId).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			continue
		}
		if _, err := q.ExecContext(ctx, `INSERT INTO backup_plan_cursors (plan_id, rule_id, scheduled_through) VALUES (?, ?, ?)`, planID, r.RuleId, at.UnixNano()); err != nil {
			return err
		}
	}
	return nil
}

const selectionColumns = `id, plan_id, name, iam_role_arn, document, creator_request_id, creation_date`

func scanSelection(row interface{ Scan(...any) error }) (*SelectionInfo, error) {
	var s SelectionInfo
	var doc string
	var created int64
	if err := row.Scan(&s.ID, &s.PlanID, &s.SelectionName, &s.IamRoleArn, &doc, &s.CreatorRequestID, &created); err != nil {
		return nil, err
	}
	var body Selection
	if err := json.Unmarshal([]byte(doc), &body); err != nil {
		return nil, fmt.Errorf("backup selection %s: %w", s.ID, err)
	}
	name, role := s.SelectionName, s.IamRoleArn
	s.Selection = body
	s.SelectionName, s.IamRoleArn = name, role
	s.Created = unixTime(created)
	return &s, nil
}

func selectionsOf(ctx context.Context, q meta.Querier, planID string) ([]*SelectionInfo, error) {
	return meta.QueryAll(ctx, q, scanSelection, `SELECT `+selectionColumns+` FROM backup_selections WHERE plan_id = ? ORDER BY creation_date, id`, planID)
}
