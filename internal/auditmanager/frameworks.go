package auditmanager

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/coffer-dev/coffer/internal/backup"
	"github.com/coffer-dev/coffer/internal/meta"
	"github.com/coffer-dev/coffer/internal/tags"
)

// ControlInputParameter is one parameter of a control.
type ControlInputParameter struct {
	ParameterName, ParameterValue string
}

// ControlScope narrows the resources a control evaluates.
type ControlScope struct {
	ComplianceResourceIds   []string          `json:",omitempty"`
	ComplianceResourceTypes []string          `json:",omitempty"`
	Tags                    map[string]string `json:",omitempty"`
}

// FrameworkControl is a control of a framework.
type FrameworkControl struct {
	ControlName            string
	ControlInputParameters []ControlInputParameter `json:",omitempty"`
	ControlScope           *ControlScope           `json:",omitempty"`
}

// Framework is a stored framework.
type Framework struct {
	Account, Region, Name, ARN, Description, IdempotencyToken string
	Controls                                                  []FrameworkControl
	Created                                                   time.Time
}

const maxControls = 50

func validateControls(cs []FrameworkControl) error {
	if len(cs) == 0 {
		return backup.MissingParam("FrameworkControls")
	}
	if len(cs) > maxControls {
		return backup.LimitExceeded("a framework holds at most %d controls", maxControls)
	}
	seen := map[string]bool{}
	for _, c := range cs {
		def, ok := controls[c.ControlName]
		if c.ControlName == "" {
			return backup.MissingParam("FrameworkControls.ControlName")
		}
		if !ok {
			return backup.InvalidParam("control %q is not one coffer evaluates; it evaluates %s", c.ControlName, controlNames())
		}
		if seen[c.ControlName] {
			return backup.InvalidParam("control %s appears twice", c.ControlName)
		}
		seen[c.ControlName] = true
		if _, err := def.params(c.ControlInputParameters); err != nil {
			return err
		}
		if sc := c.ControlScope; sc != nil {
			if len(sc.ComplianceResourceIds) > 100 {
				return backup.InvalidParam("ControlScope.ComplianceResourceIds holds at most 100 IDs")
			}
			if len(sc.ComplianceResourceIds) > 0 && len(sc.ComplianceResourceTypes) != 1 {
				return backup.InvalidParam("ControlScope.ComplianceResourceIds needs exactly one ComplianceResourceTypes entry")
			}
			for _, t := range sc.ComplianceResourceTypes {
				if t != "RDS" {
					return backup.InvalidParam("ComplianceResourceTypes entry %q: coffer's controls evaluate RDS", t)
				}
			}
			if p := tags.Validate(sc.Tags); p != nil {
				return backup.InvalidParam("ControlScope.Tags: %s", p.Message)
			}
		}
	}
	return nil
}

const frameworkColumns = `account_id, region, name, arn, description, controls, idempotency_token, creation_date`

func scanFramework(row interface{ Scan(...any) error }) (*Framework, error) {
	var f Framework
	var doc string
	var created int64
	if err := row.Scan(&f.Account, &f.Region, &f.Name, &f.ARN, &f.Description, &doc, &f.IdempotencyToken, &created); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(doc), &f.Controls); err != nil {
		return nil, fmt.Errorf("framework %s: %w", f.Name, err)
	}
	f.Created = unixTime(created)
	return &f, nil
}

// FrameworkARN is arn:aws:backup:REGION:ACCOUNT:framework:NAME-ID.
func FrameworkARN(region, account, name string) string {
	return "arn:aws:backup:" + region + ":" + account + ":framework:" + name + "-" + randomID(16)
}

// CreateFramework creates a framework of controls.
func (s *Service) CreateFramework(ctx context.Context, name, description string, cs []FrameworkControl, token string, tagMap map[string]string) (*Framework, error) {
	sc, err := s.scope(ctx, "backup:CreateFramework", "*")
	if err != nil {
		return nil, err
	}
	if token != "" {
		if f, found, err := meta.FindOne(ctx, s.store, scanFramework, `SELECT `+frameworkColumns+` FROM backup_frameworks WHERE account_id = ? AND region = ? AND idempotency_token = ?`, sc.Account, sc.Region, token); found || err != nil {
			return f, err
		}
	}
	if err := checkName("FrameworkName", name); err != nil {
		return nil, err
	}
	if err := checkDescription("FrameworkDescription", description); err != nil {
		return nil, err
	}
	if err := validateControls(cs); err != nil {
		return nil, err
	}
	if p := tags.Validate(tagMap); p != nil {
		return nil, backup.InvalidParam("%s", p.Message)
	}
	doc, err := json.Marshal(cs)
	if err != nil {
		return nil, err
	}
	f := &Framework{Account: sc.Account, Region: sc.Region, Name: name, ARN: FrameworkARN(sc.Region, sc.Account, name), Description: description,
		Controls: cs, IdempotencyToken: token, Created: s.now().UTC()}
	err = s.store.InTx(ctx, func(q meta.Querier) error {
		if _, err := q.ExecContext(ctx, `INSERT INTO backup_frameworks (`+frameworkColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			f.Account, f.Region, f.Name, f.ARN, f.Description, string(doc), token, f.Created.UnixNano()); err != nil {
			return err
		}
		return backup.TagTable.Put(ctx, q, f.ARN, tagMap)
	})
	if errors.Is(err, meta.ErrConflict) {
		return nil, backup.AlreadyExists("framework %s already exists in account %s, region %s", name, sc.Account, sc.Region)
	}
	return f, err
}

func (s *Service) framework(ctx context.Context, name, action string) (*Framework, error) {
	sc, err := s.scope(ctx, action, "*")
	if err != nil {
		return nil, err
	}
	if name == "" {
		return nil, backup.MissingParam("FrameworkName")
	}
	f, err := scanFramework(s.store.QueryRowContext(ctx, `SELECT `+frameworkColumns+` FROM backup_frameworks WHERE account_id = ? AND region = ? AND name = ?`, sc.Account, sc.Region, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, backup.NotFound("framework %s does not exist in account %s, region %s", name, sc.Account, sc.Region)
	}
	return f, err
}

// DescribeFramework returns a framework.
func (s *Service) DescribeFramework(ctx context.Context, name string) (*Framework, error) {
	return s.framework(ctx, name, "backup:DescribeFramework")
}

// ListFrameworks lists the caller's frameworks in the region, oldest
// first.
func (s *Service) ListFrameworks(ctx context.Context) ([]*Framework, error) {
	sc, err := s.scope(ctx, "backup:ListFrameworks", "*")
	if err != nil {
		return nil, err
	}
	return s.queryFrameworks(ctx, `SELECT `+frameworkColumns+` FROM backup_frameworks WHERE account_id = ? AND region = ? ORDER BY creation_date, name`, sc.Account, sc.Region)
}

func (s *Service) queryFrameworks(ctx context.Context, query string, args ...any) ([]*Framework, error) {
	return meta.QueryAll(ctx, s.store, scanFramework, query, args...)
}

// UpdateFramework replaces the description (when given) and the
// controls (when given).
func (s *Service) UpdateFramework(ctx context.Context, name string, description *string, cs []FrameworkControl) (*Framework, error) {
	f, err := s.framework(ctx, name, "backup:UpdateFramework")
	if err != nil {
		return nil, err
	}
	if description != nil {
		if err := checkDescription("FrameworkDescription", *description); err != nil {
			return nil, err
		}
		f.Description = *description
	}
	if cs != nil {
		if err := validateControls(cs); err != nil {
			return nil, err
		}
		f.Controls = cs
	}
	doc, err := json.Marshal(f.Controls)
	if err != nil {
		return nil, err
	}
	_, err = s.store.ExecContext(ctx, `UPDATE backup_frameworks SET description = ?, controls = ? WHERE arn = ?`, f.Description, string(doc), f.ARN)
	return f, err
}

// DeleteFramework deletes a framework no report plan uses.
func (s *Service) DeleteFramework(ctx context.Context, name string) error {
	f, err := s.framework(ctx, name, "backup:DeleteFramework")
	if err != nil {
		return err
	}
	plans, err := s.queryReportPlans(ctx, `SELECT `+reportPlanColumns+` FROM backup_report_plans WHERE account_id = ? AND region = ?`, f.Account, f.Region)
	if err != nil {
		return err
	}
	for _, p := range plans {
		for _, a := range p.Setting.FrameworkArns {
			if a == f.ARN {
				return backup.Conflict("report plan %s reports on framework %s; update or delete the report plan first", p.Name, name)
			}
		}
	}
	return s.store.InTx(ctx, func(q meta.Querier) error {
		if _, err := q.ExecContext(ctx, `DELETE FROM backup_frameworks WHERE arn = ?`, f.ARN); err != nil {
			return err
		}
		_, err := q.ExecContext(ctx, `DELETE FROM `+string(backup.TagTable)+` WHERE resource_arn = ?`, f.ARN)
		return err
	})
}
