package backup

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/coffer-dev/coffer/internal/authz"
	"github.com/coffer-dev/coffer/internal/meta"
	"github.com/coffer-dev/coffer/internal/policy"
)

// LegalHold keeps the recovery points it covers from deletion by anyone
// and by lifecycle, until it is canceled.
type LegalHold struct {
	ID, ARN, Account, Region, Title, Description, Status, CancelDescription string
	Selection                                                               HoldSelection
	Created, Canceled, RetainRecordUntil                                    time.Time
}

// HoldSelection chooses the recovery points a hold covers when created.
type HoldSelection struct {
	VaultNames          []string  `json:"vaultNames,omitempty"`
	ResourceIdentifiers []string  `json:"resourceIdentifiers,omitempty"`
	From                time.Time `json:"from,omitempty"`
	To                  time.Time `json:"to,omitempty"`
}

// CreateLegalHoldInput is CreateLegalHold's input.
type CreateLegalHoldInput struct {
	Title, Description, IdempotencyToken string
	Selection                            HoldSelection
	Tags                                 map[string]string
}

// CreateLegalHold places a hold on the caller's recovery points that
// match the selection now.
func (s *Service) CreateLegalHold(ctx context.Context, in CreateLegalHoldInput) (*LegalHold, error) {
	sc, _, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	if in.Title == "" {
		return nil, missingParam("Title")
	}
	if in.Description == "" {
		return nil, missingParam("Description")
	}
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	if err := s.authz.Authorize(ctx, authz.Request{Action: "backup:CreateLegalHold", Resource: "*", Context: policy.RequestTagContext(in.Tags)}); err != nil {
		return nil, err
	}
	if in.IdempotencyToken != "" {
		var id string
		err := s.store.QueryRowContext(ctx, `SELECT id FROM backup_legal_holds WHERE account_id = ? AND idempotency_token = ?`, sc.Account, in.IdempotencyToken).Scan(&id)
		if err == nil {
			return s.loadHold(ctx, sc, id)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return nil, err
		}
	}
	sel, err := json.Marshal(in.Selection)
	if err != nil {
		return nil, err
	}
	id := newJobID()
	h := &LegalHold{ID: id, ARN: fmt.Sprintf("arn:aws:backup:%s:%s:legal-hold:%s", sc.Region, sc.Account, id), Account: sc.Account, Region: sc.Region,
		Title: in.Title, Description: in.Description, Status: "ACTIVE", Selection: in.Selection, Created: s.now().UTC()}
	err = s.store.InTx(ctx, func(q meta.Querier) error {
		if _, err := q.ExecContext(ctx, `INSERT INTO backup_legal_holds (id, arn, account_id, region, title, description, status, idempotency_token, selection, creation_date) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			h.ID, h.ARN, h.Account, h.Region, h.Title, h.Description, h.Status, in.IdempotencyToken, string(sel), h.Created.UnixNano()); err != nil {
			return err
		}
		if err := putTags(ctx, q, h.ARN, in.Tags); err != nil {
			return err
		}
		query := `SELECT arn, vault_name, resource_arn, creation_date FROM backup_recovery_points WHERE account_id = ? AND region = ? AND status = 'COMPLETED'`
		rows, err := q.QueryContext(ctx, query, sc.Account, sc.Region)
		if err != nil {
			return err
		}
		var held []string
		for rows.Next() {
			var arn, vault, resource string
			var created int64
			if err := rows.Scan(&arn, &vault, &resource, &created); err != nil {
				rows.Close()
				return err
			}
			if in.Selection.matches(vault, resource, time.Unix(0, created)) {
				held = append(held, arn)
			}
		}
		rows.Close()
		for _, arn := range held {
			if _, err := q.ExecContext(ctx, `INSERT INTO backup_legal_hold_points (hold_id, recovery_point_arn) VALUES (?, ?)`, h.ID, arn); err != nil {
				return err
			}
		}
		return nil
	})
	return h, err
}

func (sel HoldSelection) matches(vault, resource string, created time.Time) bool {
	if len(sel.VaultNames) > 0 && !contains(sel.VaultNames, vault) {
		return false
	}
	if len(sel.ResourceIdentifiers) > 0 && !contains(sel.ResourceIdentifiers, resource) {
		return false
	}
	if !sel.From.IsZero() && created.Before(sel.From) {
		return false
	}
	if !sel.To.IsZero() && created.After(sel.To) {
		return false
	}
	return true
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func (s *Service) loadHold(ctx context.Context, sc Scope, id string) (*LegalHold, error) {
	var h LegalHold
	var sel string
	var created, canceled, retain int64
	err := s.store.QueryRowContext(ctx, `SELECT id, arn, account_id, region, title, description, status, cancel_description, selection, creation_date, cancellation_date, retain_record_until
		FROM backup_legal_holds WHERE id = ? AND account_id = ?`, id, sc.Account).
		Scan(&h.ID, &h.ARN, &h.Account, &h.Region, &h.Title, &h.Description, &h.Status, &h.CancelDescription, &sel, &created, &canceled, &retain)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("legal hold %s does not exist in account %s", id, sc.Account)
	}
	if err != nil {
		return nil, err
	}
	json.Unmarshal([]byte(sel), &h.Selection)
	h.Created, h.Canceled, h.RetainRecordUntil = unixTime(created), unixTime(canceled), unixTime(retain)
	return &h, nil
}

// GetLegalHold returns a hold of the caller's account.
func (s *Service) GetLegalHold(ctx context.Context, id string) (*LegalHold, error) {
	sc, _, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.authorizeAny(ctx, "backup:GetLegalHold"); err != nil {
		return nil, err
	}
	return s.loadHold(ctx, sc, id)
}

// ListLegalHolds lists the caller's holds.
func (s *Service) ListLegalHolds(ctx context.Context) ([]*LegalHold, error) {
	sc, _, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.authorizeAny(ctx, "backup:ListLegalHolds"); err != nil {
		return nil, err
	}
	rows, err := s.store.QueryContext(ctx, `SELECT id FROM backup_legal_holds WHERE account_id = ? ORDER BY creation_date`, sc.Account)
	if err != nil {
		return nil, err
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	var out []*LegalHold
	for _, id := range ids {
		h, err := s.loadHold(ctx, sc, id)
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, nil
}

// CancelLegalHold releases a hold's recovery points.
func (s *Service) CancelLegalHold(ctx context.Context, id, description string, retainDays int64) error {
	sc, _, err := s.scope(ctx)
	if err != nil {
		return err
	}
	if description == "" {
		return missingParam("CancelDescription")
	}
	if retainDays < 0 || retainDays > MaxLifecycleDays {
		return InvalidParam("RetainRecordInDays must be between 0 and %d, not %d", MaxLifecycleDays, retainDays)
	}
	if err := s.authorizeAny(ctx, "backup:CancelLegalHold"); err != nil {
		return err
	}
	h, err := s.loadHold(ctx, sc, id)
	if err != nil {
		return err
	}
	if h.Status != "ACTIVE" {
		return invalidResourceState("legal hold %s is %s", id, h.Status)
	}
	now := s.now()
	retain := unixNano(AddDays(now, retainDays))
	_, err = s.store.ExecContext(ctx, `UPDATE backup_legal_holds SET status = 'CANCELED', cancel_description = ?, cancellation_date = ?, retain_record_until = ? WHERE id = ?`,
		description, now.UnixNano(), retain, id)
	return err
}

// RecoveryPointsByLegalHold lists the recovery points a hold covers.
func (s *Service) RecoveryPointsByLegalHold(ctx context.Context, id string) ([]*RecoveryPoint, error) {
	sc, _, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.authorizeAny(ctx, "backup:ListRecoveryPointsByLegalHold"); err != nil {
		return nil, err
	}
	if _, err := s.loadHold(ctx, sc, id); err != nil {
		return nil, err
	}
	rows, err := s.store.QueryContext(ctx, `SELECT `+rpColumns+` FROM backup_recovery_points WHERE arn IN (SELECT recovery_point_arn FROM backup_legal_hold_points WHERE hold_id = ?) ORDER BY arn`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*RecoveryPoint
	for rows.Next() {
		rp, err := scanRP(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, rp)
	}
	return out, rows.Err()
}

// notHeld refuses what an active legal hold on rp forbids, for every
// principal.
func (s *Service) notHeld(ctx context.Context, rp *RecoveryPoint, what string) error {
	var id string
	err := s.store.QueryRowContext(ctx, `SELECT h.id FROM backup_legal_holds h JOIN backup_legal_hold_points p ON p.hold_id = h.id
		WHERE p.recovery_point_arn = ? AND h.status = 'ACTIVE' LIMIT 1`, rp.ARN).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	return invalidRequest("recovery point %s is under legal hold %s; %s is refused until the hold is canceled", rp.ARN, id, what)
}
