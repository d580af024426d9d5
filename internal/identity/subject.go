package identity

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/coffer-dev/coffer/internal/policy"
)

// Subject is what authorization knows about a caller.
type Subject struct {
	Principal policy.Principal
	// Identity are the caller's identity-based policies (for a role
	// session, the role's).
	Identity []policy.NamedPolicy
	// Guards are the limits on top: SCPs, permissions boundaries,
	// session policies.
	Guards []policy.Guard
}

// Subject returns what authorization needs to know about p: its policy
// principal (with organization) and its identity-based policies.
func (s *Service) Subject(ctx context.Context, p *Principal) (Subject, error) {
	sub := Subject{Principal: policy.Principal{
		Type:    policy.PrincipalType(p.Type),
		Account: p.AccountID,
		ARN:     p.ARN,
		UserID:  p.UserID,
	}}
	if p.Type == TypeService {
		sub.Principal.Type = policy.PrincipalService
		sub.Principal.Service = p.Name
		return sub, nil
	}
	var org sql.NullString
	err := s.store.QueryRowContext(ctx, `SELECT org_id FROM accounts WHERE id = ?`, p.AccountID).Scan(&org)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return Subject{}, fmt.Errorf("look up account %s: %w", p.AccountID, err)
	}
	sub.Principal.OrgID = org.String
	if p.Type != TypeUser {
		return sub, nil
	}
	rows, err := s.store.QueryContext(ctx, `SELECT policy_name, document FROM iam_user_policies WHERE account_id = ? AND user_name = ? ORDER BY policy_name`, p.AccountID, p.Name)
	if err != nil {
		return Subject{}, fmt.Errorf("read policies of %s: %w", p.ARN, err)
	}
	defer rows.Close()
	for rows.Next() {
		var name, doc string
		if err := rows.Scan(&name, &doc); err != nil {
			return Subject{}, err
		}
		pol, err := policy.Parse([]byte(doc), policy.ParseOptions{Kind: policy.KindIdentity})
		if err != nil {
			return Subject{}, fmt.Errorf("stored policy %s of %s: %w", name, p.ARN, err)
		}
		sub.Identity = append(sub.Identity, policy.NamedPolicy{Name: name, Policy: pol})
	}
	return sub, rows.Err()
}
