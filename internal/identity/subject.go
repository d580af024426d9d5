package identity

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/coffer-dev/coffer/internal/authz"
	"github.com/coffer-dev/coffer/internal/policy"
)

// Subject is what authorization knows about a caller.
type Subject = authz.Subject

// Subject returns what authorization needs to know about the caller in
// ctx: its policy principal (with organization, organization path and
// tags), its identity-based policies (inline and attached managed
// policies; a role session's are its role's) and its session policy.
func (s *Service) Subject(ctx context.Context) (Subject, error) {
	p := Caller(ctx)
	if p == nil {
		return Subject{}, missingAuth()
	}
	return s.SubjectOf(ctx, p)
}

// SubjectOf is Subject for a given principal.
func (s *Service) SubjectOf(ctx context.Context, p *Principal) (Subject, error) {
	key := string(p.Type) + "|" + p.AccountID + "|" + p.Name + "|" + p.ARN + "|" + p.RoleID + "|" + p.AccessKeyID + "|" + p.SessionPolicy
	now := time.Now()
	if sub, ok := s.subCache.Get(key, now); ok {
		return sub, nil
	}
	gen := s.gen.Load()
	sub, err := s.subjectOf(ctx, p)
	if err == nil {
		s.subCache.Put(key, gen, now, sub)
	}
	return sub, err
}

func (s *Service) subjectOf(ctx context.Context, p *Principal) (Subject, error) {
	sub := Subject{Principal: policy.Principal{
		Type:    policy.PrincipalType(p.Type),
		Account: p.AccountID,
		ARN:     p.ARN,
		UserID:  p.UserID,
		RoleARN: p.RoleARN,
	}}
	if p.Type == TypeService {
		sub.Principal = policy.Principal{Type: policy.PrincipalService, Service: p.Name}
		return sub, nil
	}
	var org, path sql.NullString
	err := s.store.QueryRowContext(ctx, `SELECT a.org_id, u.path FROM accounts a LEFT JOIN org_units u ON u.id = a.parent_id WHERE a.id = ?`, p.AccountID).Scan(&org, &path)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return Subject{}, fmt.Errorf("look up account %s: %w", p.AccountID, err)
	}
	sub.Principal.OrgID = org.String
	if path.Valid && org.Valid {
		sub.Principal.OrgPaths = []string{path.String}
	}
	var kind, name string
	switch p.Type {
	case TypeUser:
		kind, name = entityUser, p.Name
	case TypeAssumedRole:
		kind, name = entityRole, p.Name
		if p.SessionPolicy != "" {
			sp, err := s.parsePolicy(p.SessionPolicy, policy.KindIdentity)
			if err != nil {
				return Subject{}, fmt.Errorf("session policy of %s: %w", p.ARN, err)
			}
			sub.Guards = append(sub.Guards, policy.Guard{Type: policy.SessionPolicy, Policies: []policy.NamedPolicy{{Name: "session policy", Policy: sp}}})
		}
	default:
		return sub, nil // the account root: no policies needed
	}
	if sub.Identity, err = s.identityPolicies(ctx, p.AccountID, kind, name); err != nil {
		return Subject{}, fmt.Errorf("read policies of %s: %w", p.ARN, err)
	}
	tags, err := s.tags(ctx, s.store, p.AccountID, kind, name)
	if err != nil {
		return Subject{}, err
	}
	if len(tags) > 0 {
		sub.Principal.Tags = map[string]string{}
		for _, t := range tags {
			sub.Principal.Tags[t.Key] = t.Value
		}
	}
	return sub, nil
}

// identityPolicies reads the inline and attached managed policies of a
// user or role.
func (s *Service) identityPolicies(ctx context.Context, account, kind, name string) ([]policy.NamedPolicy, error) {
	inlineTable, col := "iam_user_policies", "user_name"
	if kind == entityRole {
		inlineTable, col = "iam_role_policies", "role_name"
	}
	rows, err := s.store.QueryContext(ctx, `
		SELECT policy_name, document FROM `+inlineTable+` WHERE account_id = ? AND `+col+` = ?
		UNION ALL
		SELECT a.policy_arn, v.document FROM iam_attachments a
		JOIN iam_policies p ON p.arn = a.policy_arn
		JOIN iam_policy_versions v ON v.policy_arn = p.arn AND v.version_id = p.default_version
		WHERE a.account_id = ? AND a.entity_type = ? AND a.entity_name = ?
		UNION ALL
		SELECT policy_arn, '' FROM iam_attachments WHERE account_id = ? AND entity_type = ? AND entity_name = ? AND policy_arn LIKE 'arn:aws:iam::aws:policy/%'`,
		account, name, account, kind, name, account, kind, name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []policy.NamedPolicy
	for rows.Next() {
		var pname, doc string
		if err := rows.Scan(&pname, &doc); err != nil {
			return nil, err
		}
		var pol *policy.Policy
		if doc == "" {
			m, ok := awsManaged[pname]
			if !ok {
				continue // an AWS-managed policy this version no longer knows
			}
			pol = m.parsed
		} else if pol, err = s.parsePolicy(doc, policy.KindIdentity); err != nil {
			return nil, fmt.Errorf("stored policy %s: %w", pname, err)
		}
		if kind == entityUser || kind == entityRole {
			if !isARN(pname) {
				pname = kind + "/" + name + "/" + pname
			}
		}
		out = append(out, policy.NamedPolicy{Name: pname, Policy: pol})
	}
	return out, rows.Err()
}

func isARN(s string) bool { return len(s) > 4 && s[:4] == "arn:" }
