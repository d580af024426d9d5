package identity

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/coffer-dev/coffer/internal/meta"
	"github.com/coffer-dev/coffer/internal/policy"
)

// Role is an IAM role.
type Role struct {
	AccountID, Path, Name, RoleID, ARN string
	// TrustPolicy is the assume-role policy document.
	TrustPolicy        string
	Description        string
	MaxSessionDuration int // seconds
	Created            time.Time
	Tags               []Tag
}

// RoleInput is what CreateRole takes.
type RoleInput struct {
	Name, Path, TrustPolicy, Description string
	MaxSessionDuration                   int // 0 means 3600
	Tags                                 []Tag
}

// Role session duration bounds (seconds).
const (
	DefaultMaxSessionDuration = 3600
	MaxMaxSessionDuration     = 43200
)

// CreateRole creates a role in the caller's account.
func (s *Service) CreateRole(ctx context.Context, in RoleInput) (Role, error) {
	p, err := iamCaller(ctx)
	if err != nil {
		return Role{}, err
	}
	r, err := s.validateRole(ctx, p.AccountID, in)
	if err != nil {
		return Role{}, err
	}
	if err := s.authorizeIAM(ctx, "iam:CreateRole", r.ARN); err != nil {
		return Role{}, err
	}
	return r, s.store.InTx(ctx, func(q meta.Querier) error { return insertRole(ctx, q, r) })
}

func (s *Service) validateRole(ctx context.Context, account string, in RoleInput) (Role, error) {
	if err := checkName("roleName", in.Name); err != nil {
		return Role{}, err
	}
	path, err := cleanPath("path", in.Path)
	if err != nil {
		return Role{}, err
	}
	if len(in.Description) > 1000 {
		return Role{}, validationError("1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 1000")
	}
	if in.MaxSessionDuration == 0 {
		in.MaxSessionDuration = DefaultMaxSessionDuration
	}
	if in.MaxSessionDuration < DefaultMaxSessionDuration || in.MaxSessionDuration > MaxMaxSessionDuration {
		return Role{}, validationError("The requested MaxSessionDuration %d is outside the allowed range of 3600 to 43200 seconds.", in.MaxSessionDuration)
	}
	if err := checkTags(in.Tags); err != nil {
		return Role{}, err
	}
	if _, err := s.parseIAMPolicy(ctx, in.TrustPolicy, policy.KindTrust, policy.MaxTrustSize, fmt.Sprintf("Cannot exceed quota for ACLSizePerRole: %d", policy.MaxTrustSize)); err != nil {
		return Role{}, err
	}
	return Role{
		AccountID: account, Path: path, Name: in.Name, RoleID: newRoleID(), ARN: RoleARN(account, path, in.Name),
		TrustPolicy: in.TrustPolicy, Description: in.Description, MaxSessionDuration: in.MaxSessionDuration,
		Created: s.now().UTC(), Tags: in.Tags,
	}, nil
}

func insertRole(ctx context.Context, q meta.Querier, r Role) error {
	_, err := q.ExecContext(ctx, `INSERT INTO iam_roles (account_id, name, role_id, path, trust_policy, description, max_session_duration, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		r.AccountID, r.Name, r.RoleID, r.Path, r.TrustPolicy, r.Description, r.MaxSessionDuration, nanos(r.Created))
	if errors.Is(err, meta.ErrConflict) {
		return entityExists("Role with name %s already exists.", r.Name)
	}
	if err != nil {
		return err
	}
	return putTags(ctx, q, r.AccountID, entityRole, r.Name, r.Tags)
}

// findRole reads a role of account by name, regardless of case.
func (s *Service) findRole(ctx context.Context, q meta.Querier, account, name string) (Role, error) {
	r := Role{AccountID: account}
	var created int64
	err := q.QueryRowContext(ctx, `SELECT name, role_id, path, trust_policy, description, max_session_duration, created_at FROM iam_roles WHERE account_id = ? AND lower(name) = lower(?)`, account, name).
		Scan(&r.Name, &r.RoleID, &r.Path, &r.TrustPolicy, &r.Description, &r.MaxSessionDuration, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return Role{}, noSuchEntity("The role with name %s cannot be found.", name)
	}
	if err != nil {
		return Role{}, fmt.Errorf("read role %s: %w", name, err)
	}
	r.ARN, r.Created = RoleARN(account, r.Path, r.Name), fromNanos(created)
	return r, nil
}

// roleForAction resolves a role of the caller's account and authorizes
// action on it (on its path-less ARN when it does not exist).
func (s *Service) roleForAction(ctx context.Context, action, name string) (*Principal, Role, error) {
	p, err := iamCaller(ctx)
	if err != nil {
		return nil, Role{}, err
	}
	if err := checkName("roleName", name); err != nil {
		return nil, Role{}, err
	}
	r, err := authorizeFound(s, ctx, action, RoleARN(p.AccountID, "/", name), func(r Role) string { return r.ARN })(s.findRole(ctx, s.store, p.AccountID, name))
	return p, r, err
}

// GetRole returns a role of the caller's account with its tags.
func (s *Service) GetRole(ctx context.Context, name string) (Role, error) {
	p, r, err := s.roleForAction(ctx, "iam:GetRole", name)
	if err != nil {
		return Role{}, err
	}
	r.Tags, err = s.tags(ctx, s.store, p.AccountID, entityRole, r.Name)
	return r, err
}

// ListRoles lists the roles of the caller's account under pathPrefix.
func (s *Service) ListRoles(ctx context.Context, pathPrefix string) ([]Role, error) {
	p, err := iamCaller(ctx)
	if err != nil {
		return nil, err
	}
	if pathPrefix == "" {
		pathPrefix = "/"
	}
	if err := s.authorizeIAM(ctx, "iam:ListRoles", RoleARN(p.AccountID, "/", "")); err != nil {
		return nil, err
	}
	rows, err := s.store.QueryContext(ctx, `SELECT name, role_id, path, trust_policy, description, max_session_duration, created_at FROM iam_roles WHERE account_id = ? ORDER BY lower(name)`, p.AccountID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Role
	for rows.Next() {
		r := Role{AccountID: p.AccountID}
		var created int64
		if err := rows.Scan(&r.Name, &r.RoleID, &r.Path, &r.TrustPolicy, &r.Description, &r.MaxSessionDuration, &created); err != nil {
			return nil, err
		}
		if !strings.HasPrefix(r.Path, pathPrefix) {
			continue
		}
		r.ARN, r.Created = RoleARN(p.AccountID, r.Path, r.Name), fromNanos(created)
		out = append(out, r)
	}
	return out, rows.Err()
}

// DeleteRole deletes a role without policies. Its sessions stop working.
func (s *Service) DeleteRole(ctx context.Context, name string) error {
	p, r, err := s.roleForAction(ctx, "iam:DeleteRole", name)
	if err != nil {
		return err
	}
	return s.store.InTx(ctx, func(q meta.Querier) error {
		checks := []struct{ query, msg string }{
			{`SELECT COUNT(*) FROM iam_role_policies WHERE account_id = ? AND role_name = ?`, "Cannot delete entity, must delete policies first."},
			{`SELECT COUNT(*) FROM iam_attachments WHERE account_id = ? AND entity_name = ? AND entity_type = 'role'`, "Cannot delete entity, must detach all policies first."},
		}
		for _, c := range checks {
			var n int
			if err := q.QueryRowContext(ctx, c.query, p.AccountID, r.Name).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return deleteConflict("%s", c.msg)
			}
		}
		for _, stmt := range []string{
			`DELETE FROM iam_tags WHERE account_id = ? AND entity_type = 'role' AND entity_name = ?`,
			`DELETE FROM sts_sessions WHERE account_id = ? AND kind = 'role' AND role_name = ?`,
			`DELETE FROM iam_roles WHERE account_id = ? AND name = ?`,
		} {
			if _, err := q.ExecContext(ctx, stmt, p.AccountID, r.Name); err != nil {
				return err
			}
		}
		return nil
	})
}

// UpdateAssumeRolePolicy replaces a role's trust policy.
func (s *Service) UpdateAssumeRolePolicy(ctx context.Context, name, doc string) error {
	p, r, err := s.roleForAction(ctx, "iam:UpdateAssumeRolePolicy", name)
	if err != nil {
		return err
	}
	if _, err := s.parseIAMPolicy(ctx, doc, policy.KindTrust, policy.MaxTrustSize, fmt.Sprintf("Cannot exceed quota for ACLSizePerRole: %d", policy.MaxTrustSize)); err != nil {
		return err
	}
	_, err = s.store.ExecContext(ctx, `UPDATE iam_roles SET trust_policy = ? WHERE account_id = ? AND name = ?`, doc, p.AccountID, r.Name)
	return err
}

// TagEntity adds or replaces tags on a user ("user") or role ("role").
func (s *Service) TagEntity(ctx context.Context, kind, name string, tags []Tag) error {
	p, canon, err := s.entityForAction(ctx, kind, "Tag", name)
	if err != nil {
		return err
	}
	if len(tags) == 0 {
		return validationError("1 validation error detected: Value null at 'tags' failed to satisfy constraint: Member must not be null")
	}
	if err := checkTags(tags); err != nil {
		return err
	}
	return s.store.InTx(ctx, func(q meta.Querier) error { return putTags(ctx, q, p.AccountID, kind, canon, tags) })
}

// UntagEntity removes tags by key.
func (s *Service) UntagEntity(ctx context.Context, kind, name string, keys []string) error {
	p, canon, err := s.entityForAction(ctx, kind, "Untag", name)
	if err != nil {
		return err
	}
	return s.store.InTx(ctx, func(q meta.Querier) error {
		for _, k := range keys {
			if _, err := q.ExecContext(ctx, `DELETE FROM iam_tags WHERE account_id = ? AND entity_type = ? AND entity_name = ? AND lower(tag_key) = lower(?)`, p.AccountID, kind, canon, k); err != nil {
				return err
			}
		}
		return nil
	})
}

// ListEntityTags lists the tags of a user or role.
func (s *Service) ListEntityTags(ctx context.Context, kind, name string) ([]Tag, error) {
	p, canon, err := s.entityForAction(ctx, kind, "List", name)
	if err != nil {
		return nil, err
	}
	return s.tags(ctx, s.store, p.AccountID, kind, canon)
}

// entityForAction authorizes iam:<verb>User/Role (iam:ListUserTags,
// iam:ListRoleTags for "List") on a user or role and returns its stored
// name.
func (s *Service) entityForAction(ctx context.Context, kind, verb, name string) (*Principal, string, error) {
	action := "iam:" + verb + entityNoun(kind)
	if verb == "List" {
		action = "iam:List" + entityNoun(kind) + "Tags"
	}
	return s.entity(ctx, kind, action, name)
}

func entityNoun(kind string) string {
	if kind == entityRole {
		return "Role"
	}
	return "User"
}

// entity resolves a user or role of the caller's account by name and
// authorizes action on it.
func (s *Service) entity(ctx context.Context, kind, action, name string) (*Principal, string, error) {
	switch kind {
	case entityUser:
		if name == "" {
			return nil, "", validationError("1 validation error detected: Value null at 'userName' failed to satisfy constraint: Member must not be null")
		}
		p, u, err := s.userForAction(ctx, action, name)
		return p, u.Name, err
	case entityRole:
		p, r, err := s.roleForAction(ctx, action, name)
		return p, r.Name, err
	}
	return nil, "", fmt.Errorf("unknown entity type %q", kind)
}
