package identity

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/coffer-dev/coffer/internal/meta"
)

// User is an IAM user.
type User struct {
	Path, Name, UserID, ARN string
	Created                 time.Time
	Tags                    []Tag
}

// AccessKey is a long-term access key. Secret is set only in the answer
// of CreateAccessKey: it is shown once and stored sealed.
type AccessKey struct {
	UserName, AccessKeyID, Status, Secret string
	Created                               time.Time
}

// CreateUser creates an IAM user in the caller's account.
func (s *Service) CreateUser(ctx context.Context, name, path string, tags []Tag) (User, error) {
	p, err := iamCaller(ctx)
	if err != nil {
		return User{}, err
	}
	if err := checkName("userName", name); err != nil {
		return User{}, err
	}
	if path, err = cleanPath("path", path); err != nil {
		return User{}, err
	}
	if err := checkTags(tags); err != nil {
		return User{}, err
	}
	u := User{Path: path, Name: name, UserID: newUserID(), ARN: UserARN(p.AccountID, path, name), Created: s.now().UTC(), Tags: tags}
	if err := s.authorizeIAM(ctx, "iam:CreateUser", u.ARN); err != nil {
		return User{}, err
	}
	err = s.store.InTx(ctx, func(q meta.Querier) error {
		_, err := q.ExecContext(ctx, `INSERT INTO iam_users (account_id, name, user_id, path, created_at) VALUES (?, ?, ?, ?, ?)`,
			p.AccountID, name, u.UserID, path, nanos(u.Created))
		if errors.Is(err, meta.ErrConflict) {
			return entityExists("User with name %s already exists.", name)
		}
		if err != nil {
			return err
		}
		return putTags(ctx, q, p.AccountID, entityUser, name, tags)
	})
	return u, err
}

// findUser reads a user of account, matching the name regardless of case
// as IAM does.
func (s *Service) findUser(ctx context.Context, q meta.Querier, account, name string) (User, error) {
	var u User
	var created int64
	err := q.QueryRowContext(ctx, `SELECT name, user_id, path, created_at FROM iam_users WHERE account_id = ? AND lower(name) = lower(?)`, account, name).
		Scan(&u.Name, &u.UserID, &u.Path, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, noSuchEntity("The user with name %s cannot be found.", name)
	}
	if err != nil {
		return User{}, fmt.Errorf("read user %s: %w", name, err)
	}
	u.ARN, u.Created = UserARN(account, u.Path, u.Name), fromNanos(created)
	return u, nil
}

// userForAction resolves the user an IAM action names (the caller itself
// when name is empty) and authorizes the action on it. A user that does
// not exist is authorized by its path-less ARN first, so that callers
// without permission learn nothing.
func (s *Service) userForAction(ctx context.Context, action, name string) (*Principal, User, error) {
	p, err := iamCaller(ctx)
	if err != nil {
		return nil, User{}, err
	}
	if name == "" {
		if p.Type != TypeUser {
			return nil, User{}, validationError("Must specify userName when calling with non-User credentials")
		}
		name = p.Name
	}
	if err := checkName("userName", name); err != nil {
		return nil, User{}, err
	}
	u, err := authorizeFound(s, ctx, action, UserARN(p.AccountID, "/", name), func(u User) string { return u.ARN })(s.findUser(ctx, s.store, p.AccountID, name))
	return p, u, err
}

// GetUser returns a user of the caller's account; name "" means the
// calling user.
func (s *Service) GetUser(ctx context.Context, name string) (User, error) {
	p, u, err := s.userForAction(ctx, "iam:GetUser", name)
	if err != nil {
		return User{}, err
	}
	u.Tags, err = s.tags(ctx, s.store, p.AccountID, entityUser, u.Name)
	return u, err
}

// ListUsers lists the users of the caller's account whose path starts
// with pathPrefix, ordered by name.
func (s *Service) ListUsers(ctx context.Context, pathPrefix string) ([]User, error) {
	p, err := iamCaller(ctx)
	if err != nil {
		return nil, err
	}
	if pathPrefix == "" {
		pathPrefix = "/"
	}
	if err := s.authorizeIAM(ctx, "iam:ListUsers", UserARN(p.AccountID, "/", "")); err != nil {
		return nil, err
	}
	rows, err := s.store.QueryContext(ctx, `SELECT name, user_id, path, created_at FROM iam_users WHERE account_id = ? ORDER BY lower(name)`, p.AccountID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		var u User
		var created int64
		if err := rows.Scan(&u.Name, &u.UserID, &u.Path, &created); err != nil {
			return nil, err
		}
		if !strings.HasPrefix(u.Path, pathPrefix) {
			continue
		}
		u.ARN, u.Created = UserARN(p.AccountID, u.Path, u.Name), fromNanos(created)
		out = append(out, u)
	}
	return out, rows.Err()
}

// DeleteUser deletes a user that has no access keys and no policies, as
// IAM requires.
func (s *Service) DeleteUser(ctx context.Context, name string) error {
	if name == "" {
		return validationError("1 validation error detected: Value null at 'userName' failed to satisfy constraint: Member must not be null")
	}
	p, u, err := s.userForAction(ctx, "iam:DeleteUser", name)
	if err != nil {
		return err
	}
	return s.store.InTx(ctx, func(q meta.Querier) error {
		checks := []struct{ query, msg string }{
			{`SELECT COUNT(*) FROM iam_login_profiles WHERE account_id = ? AND user_name = ?`, "Cannot delete entity, must delete login profile first."},
			{`SELECT COUNT(*) FROM iam_mfa_devices WHERE account_id = ? AND user_name = ?`, "Cannot delete entity, must remove MFA device first."},
			{`SELECT COUNT(*) FROM access_keys WHERE account_id = ? AND user_name = ?`, "Cannot delete entity, must delete access keys first."},
			{`SELECT COUNT(*) FROM iam_user_policies WHERE account_id = ? AND user_name = ?`, "Cannot delete entity, must delete policies first."},
			{`SELECT COUNT(*) FROM iam_attachments WHERE account_id = ? AND entity_name = ? AND entity_type = 'user'`, "Cannot delete entity, must detach all policies first."},
		}
		for _, c := range checks {
			var n int
			if err := q.QueryRowContext(ctx, c.query, p.AccountID, u.Name).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return deleteConflict("%s", c.msg)
			}
		}
		if _, err := q.ExecContext(ctx, `DELETE FROM iam_tags WHERE account_id = ? AND entity_type = 'user' AND entity_name = ?`, p.AccountID, u.Name); err != nil {
			return err
		}
		if _, err := q.ExecContext(ctx, `DELETE FROM sts_sessions WHERE account_id = ? AND kind = 'user' AND user_name = ?`, p.AccountID, u.Name); err != nil {
			return err
		}
		_, err := q.ExecContext(ctx, `DELETE FROM iam_users WHERE account_id = ? AND name = ?`, p.AccountID, u.Name)
		return err
	})
}

// MaxAccessKeysPerUser is IAM's quota.
const MaxAccessKeysPerUser = 2

// CreateAccessKey creates a long-term key for a user (the caller when
// userName is empty). The secret is returned once and stored sealed.
func (s *Service) CreateAccessKey(ctx context.Context, userName string) (AccessKey, error) {
	p, u, err := s.userForAction(ctx, "iam:CreateAccessKey", userName)
	if err != nil {
		return AccessKey{}, err
	}
	k := AccessKey{UserName: u.Name, AccessKeyID: NewAccessKeyID(), Status: "Active", Secret: NewSecretAccessKey(), Created: s.now().UTC()}
	sealed, err := s.keys.Seal(ctx, []byte(k.Secret), accessKeyAAD(k.AccessKeyID))
	if err != nil {
		return AccessKey{}, fmt.Errorf("seal access key: %w", err)
	}
	err = s.store.InTx(ctx, func(q meta.Querier) error {
		var n int
		if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM access_keys WHERE account_id = ? AND user_name = ?`, p.AccountID, u.Name).Scan(&n); err != nil {
			return err
		}
		if n >= MaxAccessKeysPerUser {
			return limitExceeded("Cannot exceed quota for AccessKeysPerUser: %d", MaxAccessKeysPerUser)
		}
		_, err := q.ExecContext(ctx, `INSERT INTO access_keys (access_key_id, account_id, user_name, sealed_secret, status, created_at) VALUES (?, ?, ?, ?, 'Active', ?)`,
			k.AccessKeyID, p.AccountID, u.Name, sealed, nanos(k.Created))
		return err
	})
	if err != nil {
		return AccessKey{}, err
	}
	return k, nil
}

// ListAccessKeys lists a user's keys, without secrets.
func (s *Service) ListAccessKeys(ctx context.Context, userName string) ([]AccessKey, error) {
	p, u, err := s.userForAction(ctx, "iam:ListAccessKeys", userName)
	if err != nil {
		return nil, err
	}
	rows, err := s.store.QueryContext(ctx, `SELECT access_key_id, status, created_at FROM access_keys WHERE account_id = ? AND user_name = ? ORDER BY created_at`, p.AccountID, u.Name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AccessKey
	for rows.Next() {
		k := AccessKey{UserName: u.Name}
		var created int64
		if err := rows.Scan(&k.AccessKeyID, &k.Status, &created); err != nil {
			return nil, err
		}
		k.Created = fromNanos(created)
		out = append(out, k)
	}
	return out, rows.Err()
}

// UpdateAccessKey sets a key Active or Inactive; an inactive key
// authenticates nothing.
func (s *Service) UpdateAccessKey(ctx context.Context, userName, keyID, status string) error {
	if status != "Active" && status != "Inactive" {
		return validationError("1 validation error detected: Value '%s' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive]", status)
	}
	p, u, err := s.userForAction(ctx, "iam:UpdateAccessKey", userName)
	if err != nil {
		return err
	}
	res, err := s.store.ExecContext(ctx, `UPDATE access_keys SET status = ? WHERE account_id = ? AND user_name = ? AND access_key_id = ?`, status, p.AccountID, u.Name, keyID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return noSuchEntity("The Access Key with id %s cannot be found.", keyID)
	}
	return nil
}

// DeleteAccessKey deletes a key; requests signed with it fail from then on.
func (s *Service) DeleteAccessKey(ctx context.Context, userName, keyID string) error {
	p, u, err := s.userForAction(ctx, "iam:DeleteAccessKey", userName)
	if err != nil {
		return err
	}
	res, err := s.store.ExecContext(ctx, `DELETE FROM access_keys WHERE account_id = ? AND user_name = ? AND access_key_id = ?`, p.AccountID, u.Name, keyID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return noSuchEntity("The Access Key with id %s cannot be found.", keyID)
	}
	return nil
}
