package plans

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"

	"github.com/coffer-dev/coffer/internal/backup"
	"github.com/coffer-dev/coffer/internal/meta"
)

// CreatePlan creates a plan with its first version. A repeated
// CreatorRequestId returns the plan the first call created.
func (s *Service) CreatePlan(ctx context.Context, d Document, tags map[string]string, creatorRequestID string) (*Plan, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	id := newUUID()
	if err := s.authorize(ctx, "backup:CreateBackupPlan", PlanARN(sc.Region, sc.Account, id)); err != nil {
		return nil, err
	}
	if creatorRequestID != "" {
		if p, err := s.planByCreator(ctx, sc, creatorRequestID); p != nil || err != nil {
			return p, err
		}
	}
	if err := s.validate(ctx, sc, &d, nil, true); err != nil {
		return nil, err
	}
	if err := validateTags(tags); err != nil {
		return nil, err
	}
	now := s.now().UTC()
	version := newVersionID()
	err = s.store.InTx(ctx, func(q meta.Querier) error {
		if _, err := q.ExecContext(ctx, `INSERT INTO backup_plans (id, account_id, region, name, version_id, creator_request_id, creation_date) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			id, sc.Account, sc.Region, d.BackupPlanName, version, creatorRequestID, now.UnixNano()); err != nil {
			return err
		}
		if err := insertVersion(ctx, q, id, version, &d, now); err != nil {
			return err
		}
		if err := backup.TagTable.Put(ctx, q, PlanARN(sc.Region, sc.Account, id), tags); err != nil {
			return err
		}
		return ensureCursors(ctx, q, id, &d, now)
	})
	if errors.Is(err, meta.ErrConflict) && creatorRequestID != "" {
		return s.planByCreator(ctx, sc, creatorRequestID)
	}
	if err != nil {
		return nil, err
	}
	return s.notifyPlan(ctx, sc, id, "BACKUP_PLAN_CREATED")
}

// notifyPlan loads the plan as it now is and announces event to the
// vaults its rules target.
func (s *Service) notifyPlan(ctx context.Context, sc scope, id, event string) (*Plan, error) {
	p, err := loadPlan(ctx, s.store, sc, id, "")
	if err != nil {
		return nil, err
	}
	var vaults []string
	for _, r := range p.Document.Rules {
		vaults = append(vaults, r.TargetBackupVaultName)
	}
	s.backup.NotifyPlan(ctx, sc.Account, sc.Region, event, p.ARN, p.VersionID, vaults)
	return p, nil
}

func (s *Service) planByCreator(ctx context.Context, sc scope, creatorRequestID string) (*Plan, error) {
	var id string
	err := s.store.QueryRowContext(ctx, `SELECT id FROM backup_plans WHERE account_id = ? AND region = ? AND creator_request_id = ?`, sc.Account, sc.Region, creatorRequestID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return loadPlan(ctx, s.store, sc, id, "")
}

func validateTags(tags map[string]string) error {
	if len(tags) > 50 {
		return invalidParam("a backup plan has at most 50 tags, not %d", len(tags))
	}
	for k, v := range tags {
		if k == "" || len(k) > 128 || len(v) > 256 || strings.HasPrefix(strings.ToLower(k), "aws:") {
			return invalidParam("tag %q: keys are 1 to 128 characters without the aws: prefix, values at most 256", k)
		}
	}
	return nil
}

// plan authorizes action on the plan's ARN (before looking, so a caller
// without rights learns nothing), then loads the plan.
func (s *Service) plan(ctx context.Context, id, version, action string) (scope, *Plan, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return sc, nil, err
	}
	if id == "" {
		return sc, nil, missingParam("BackupPlanId")
	}
	if err := s.authorize(ctx, action, PlanARN(sc.Region, sc.Account, id)); err != nil {
		return sc, nil, err
	}
	p, err := loadPlan(ctx, s.store, sc, id, version)
	return sc, p, err
}

// UpdatePlan replaces the plan's rules with a new version. A document
// that fails validation changes nothing: the version in force stays.
func (s *Service) UpdatePlan(ctx context.Context, id string, d Document) (*Plan, error) {
	sc, cur, err := s.plan(ctx, id, "", "backup:UpdateBackupPlan")
	if err != nil {
		return nil, err
	}
	if !cur.Deleted.IsZero() {
		return nil, notFound("backup plan %s was deleted", id)
	}
	if err := s.validate(ctx, sc, &d, &cur.Document, true); err != nil {
		return nil, err
	}
	now := s.now().UTC()
	version := newVersionID()
	err = s.store.InTx(ctx, func(q meta.Querier) error {
		res, err := q.ExecContext(ctx, `UPDATE backup_plans SET version_id = ?, name = ? WHERE id = ? AND version_id = ? AND deletion_date = 0`, version, d.BackupPlanName, id, cur.VersionID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return invalidRequest("backup plan %s changed while it was being updated; retry", id)
		}
		if err := insertVersion(ctx, q, id, version, &d, now); err != nil {
			return err
		}
		return ensureCursors(ctx, q, id, &d, now)
	})
	if err != nil {
		return nil, err
	}
	return s.notifyPlan(ctx, sc, id, "BACKUP_PLAN_MODIFIED")
}

// GetPlan returns the plan in the version given, or in force.
func (s *Service) GetPlan(ctx context.Context, id, version string) (*Plan, error) {
	_, p, err := s.plan(ctx, id, version, "backup:GetBackupPlan")
	return p, err
}

// ListPlans lists the caller's plans in the region, oldest first.
func (s *Service) ListPlans(ctx context.Context, includeDeleted bool) ([]*Plan, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, "backup:ListBackupPlans", "*"); err != nil {
		return nil, err
	}
	query := `SELECT ` + planColumns + ` FROM backup_plans p JOIN backup_plan_versions v ON v.plan_id = p.id AND v.version_id = p.version_id
		WHERE p.account_id = ? AND p.region = ?`
	if !includeDeleted {
		query += ` AND p.deletion_date = 0`
	}
	return s.queryPlans(ctx, query+` ORDER BY p.creation_date, p.id`, sc.Account, sc.Region)
}

func (s *Service) queryPlans(ctx context.Context, query string, args ...any) ([]*Plan, error) {
	return meta.QueryAll(ctx, s.store, scanPlan, query, args...)
}

// ListPlanVersions lists a plan's versions, newest first.
func (s *Service) ListPlanVersions(ctx context.Context, id string) ([]*Plan, error) {
	sc, p, err := s.plan(ctx, id, "", "backup:ListBackupPlanVersions")
	if err != nil {
		return nil, err
	}
	versions, err := s.queryPlans(ctx, `SELECT p.id, p.account_id, p.region, v.version_id, p.creator_request_id, p.creation_date, p.deletion_date, p.last_execution_date,
		v.document, v.creation_date FROM backup_plans p JOIN backup_plan_versions v ON v.plan_id = p.id
		WHERE p.id = ? AND p.account_id = ? AND p.region = ? ORDER BY v.creation_date DESC, v.version_id`, p.ID, sc.Account, sc.Region)
	return versions, err
}

// DeletePlan deletes a plan that has no selections left; its versions
// stay readable (ListBackupPlans with IncludeDeleted).
func (s *Service) DeletePlan(ctx context.Context, id string) (*Plan, error) {
	sc, p, err := s.plan(ctx, id, "", "backup:DeleteBackupPlan")
	if err != nil {
		return nil, err
	}
	if !p.Deleted.IsZero() {
		return nil, notFound("backup plan %s was already deleted", id)
	}
	sels, err := selectionsOf(ctx, s.store, id)
	if err != nil {
		return nil, err
	}
	if len(sels) > 0 {
		return nil, invalidRequest("backup plan %s still has %d resource assignment(s) (backup selections); delete them first", id, len(sels))
	}
	now := s.now().UTC()
	err = s.store.InTx(ctx, func(q meta.Querier) error {
		if _, err := q.ExecContext(ctx, `UPDATE backup_plans SET deletion_date = ? WHERE id = ? AND deletion_date = 0`, now.UnixNano(), id); err != nil {
			return err
		}
		_, err := q.ExecContext(ctx, `DELETE FROM backup_plan_cursors WHERE plan_id = ?`, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return loadPlan(ctx, s.store, sc, id, "")
}

// Template is a plan document as JSON without rule IDs, as
// ExportBackupPlanTemplate returns it and GetBackupPlanFromJSON reads it.
func Template(d Document) string {
	out := d
	out.Rules = make([]Rule, len(d.Rules))
	for i, r := range d.Rules {
		r.RuleId = ""
		out.Rules[i] = r
	}
	b, _ := json.Marshal(out)
	return string(b)
}

// ExportTemplate returns the plan in force as a template.
func (s *Service) ExportTemplate(ctx context.Context, id string) (string, error) {
	_, p, err := s.plan(ctx, id, "", "backup:ExportBackupPlanTemplate")
	if err != nil {
		return "", err
	}
	return Template(p.Document), nil
}

// PlanFromJSON parses and validates a plan template without creating
// anything.
func (s *Service) PlanFromJSON(ctx context.Context, template string) (*Document, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, "backup:GetBackupPlanFromJSON", "*"); err != nil {
		return nil, err
	}
	if template == "" {
		return nil, missingParam("BackupPlanTemplateJson")
	}
	if len(template) > templateMaxBytes {
		return nil, limitExceeded("a backup plan template is at most %d bytes", templateMaxBytes)
	}
	var d Document
	dec := json.NewDecoder(bytes.NewReader([]byte(template)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return nil, invalidParam("BackupPlanTemplateJson is not a backup plan document: %s", err.Error())
	}
	if err := s.validate(ctx, sc, &d, nil, false); err != nil {
		return nil, err
	}
	for i := range d.Rules {
		d.Rules[i].RuleId = ""
	}
	return &d, nil
}

// PlanExists reports whether a backup plan that is not deleted exists: the
// backup domain's TagOwner for backup-plan ARNs.
func (s *Service) PlanExists(ctx context.Context, region, account, id string) (bool, error) {
	var n int
	err := s.store.QueryRowContext(ctx, `SELECT COUNT(*) FROM backup_plans WHERE id = ? AND account_id = ? AND region = ? AND deletion_date = 0`, id, account, region).Scan(&n)
	return n > 0, err
}
