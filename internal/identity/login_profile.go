package identity

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/coffer-dev/coffer/internal/authz"
	"github.com/coffer-dev/coffer/internal/awserr"
	"github.com/coffer-dev/coffer/internal/meta"
)

// LoginProfile is an IAM user's console password, without the password.
type LoginProfile struct {
	UserName              string
	Created               time.Time
	PasswordResetRequired bool
}

// maxPasswordHistory bounds the previous passwords kept per user: the
// largest PasswordReusePrevention IAM allows.
const maxPasswordHistory = 24

func noLoginProfile(user string) error {
	return noSuchEntity("Login Profile for User %s cannot be found.", user)
}

// CreateLoginProfile gives a user (the caller when userName is empty) a
// console password, checked against the account's password policy.
func (s *Service) CreateLoginProfile(ctx context.Context, userName, password string, resetRequired bool) (LoginProfile, error) {
	if err := checkPasswordShape("password", password); err != nil {
		return LoginProfile{}, err
	}
	p, u, err := s.userForAction(ctx, "iam:CreateLoginProfile", userName)
	if err != nil {
		return LoginProfile{}, err
	}
	lp := LoginProfile{UserName: u.Name, Created: s.now().UTC(), PasswordResetRequired: resetRequired}
	err = s.store.InTx(ctx, func(q meta.Querier) error {
		if _, err := s.loginProfile(ctx, q, p.AccountID, u.Name); err == nil {
			return entityExists("Login Profile for user %s already exists.", u.Name)
		} else if !isNoSuchEntity(err) {
			return err
		}
		if err := s.checkNewPassword(ctx, q, p.AccountID, u.Name, password); err != nil {
			return err
		}
		hash := hashPassword(password)
		_, err := q.ExecContext(ctx, `INSERT INTO iam_login_profiles (account_id, user_name, password_hash, reset_required, created_at, password_changed_at) VALUES (?, ?, ?, ?, ?, ?)`,
			p.AccountID, u.Name, hash, boolInt(resetRequired), nanos(lp.Created), nanos(lp.Created))
		if errors.Is(err, meta.ErrConflict) {
			return entityExists("Login Profile for user %s already exists.", u.Name)
		}
		if err != nil {
			return err
		}
		return remember(ctx, q, p.AccountID, u.Name, hash, lp.Created)
	})
	return lp, err
}

// remember adds a password to the user's history, keeping the newest
// maxPasswordHistory.
func remember(ctx context.Context, q meta.Querier, account, user, hash string, at time.Time) error {
	if _, err := q.ExecContext(ctx, `INSERT INTO iam_password_history (account_id, user_name, password_hash, changed_at) VALUES (?, ?, ?, ?)`, account, user, hash, nanos(at)); err != nil {
		return err
	}
	_, err := q.ExecContext(ctx, `DELETE FROM iam_password_history WHERE account_id = ? AND user_name = ? AND changed_at NOT IN
		(SELECT changed_at FROM iam_password_history WHERE account_id = ? AND user_name = ? ORDER BY changed_at DESC LIMIT ?)`,
		account, user, account, user, maxPasswordHistory)
	return err
}

// storedProfile is a login profile row.
type storedProfile struct {
	LoginProfile
	hash           string
	changed        time.Time
	failedAttempts int
	lockedUntil    time.Time
}

func (s *Service) loginProfile(ctx context.Context, q meta.Querier, account, user string) (storedProfile, error) {
	var sp storedProfile
	var reset int
	var created, changed, locked int64
	err := q.QueryRowContext(ctx, `SELECT user_name, password_hash, reset_required, created_at, password_changed_at, failed_attempts, locked_until
		FROM iam_login_profiles WHERE account_id = ? AND user_name = ?`, account, user).
		Scan(&sp.UserName, &sp.hash, &reset, &created, &changed, &sp.failedAttempts, &locked)
	if errors.Is(err, sql.ErrNoRows) {
		return storedProfile{}, noLoginProfile(user)
	}
	if err != nil {
		return storedProfile{}, fmt.Errorf("read login profile of %s: %w", user, err)
	}
	sp.PasswordResetRequired, sp.Created, sp.changed = reset != 0, fromNanos(created), fromNanos(changed)
	if locked != 0 {
		sp.lockedUntil = fromNanos(locked)
	}
	return sp, nil
}

// GetLoginProfile returns a user's login profile (the caller's when
// userName is empty).
func (s *Service) GetLoginProfile(ctx context.Context, userName string) (LoginProfile, error) {
	p, u, err := s.userForAction(ctx, "iam:GetLoginProfile", userName)
	if err != nil {
		return LoginProfile{}, err
	}
	sp, err := s.loginProfile(ctx, s.store, p.AccountID, u.Name)
	return sp.LoginProfile, err
}

// UpdateLoginProfile sets a user's password (when password is not nil)
// and whether it must be changed at the next sign-in (when resetRequired
// is not nil). A new password also lifts a sign-in lockout.
func (s *Service) UpdateLoginProfile(ctx context.Context, userName string, password *string, resetRequired *bool) error {
	if userName == "" {
		return validationError("1 validation error detected: Value null at 'userName' failed to satisfy constraint: Member must not be null")
	}
	if password != nil {
		if err := checkPasswordShape("password", *password); err != nil {
			return err
		}
	}
	p, u, err := s.userForAction(ctx, "iam:UpdateLoginProfile", userName)
	if err != nil {
		return err
	}
	return s.store.InTx(ctx, func(q meta.Querier) error {
		sp, err := s.loginProfile(ctx, q, p.AccountID, u.Name)
		if err != nil {
			return err
		}
		if resetRequired != nil {
			sp.PasswordResetRequired = *resetRequired
		}
		if password == nil {
			_, err := q.ExecContext(ctx, `UPDATE iam_login_profiles SET reset_required = ? WHERE account_id = ? AND user_name = ?`, boolInt(sp.PasswordResetRequired), p.AccountID, u.Name)
			return err
		}
		return s.setPassword(ctx, q, p.AccountID, u.Name, *password, sp.PasswordResetRequired)
	})
}

// setPassword checks and stores a new password, clears the lockout, and
// records it in the history.
func (s *Service) setPassword(ctx context.Context, q meta.Querier, account, user, password string, resetRequired bool) error {
	if err := s.checkNewPassword(ctx, q, account, user, password); err != nil {
		return err
	}
	now, hash := s.now().UTC(), hashPassword(password)
	if _, err := q.ExecContext(ctx, `UPDATE iam_login_profiles SET password_hash = ?, reset_required = ?, password_changed_at = ?, failed_attempts = 0, locked_until = 0
		WHERE account_id = ? AND user_name = ?`, hash, boolInt(resetRequired), nanos(now), account, user); err != nil {
		return err
	}
	return remember(ctx, q, account, user, hash, now)
}

// DeleteLoginProfile removes a user's console password (the caller's when
// userName is empty); the user's console sessions end with it.
func (s *Service) DeleteLoginProfile(ctx context.Context, userName string) error {
	p, u, err := s.userForAction(ctx, "iam:DeleteLoginProfile", userName)
	if err != nil {
		return err
	}
	return s.store.InTx(ctx, func(q meta.Querier) error {
		res, err := q.ExecContext(ctx, `DELETE FROM iam_login_profiles WHERE account_id = ? AND user_name = ?`, p.AccountID, u.Name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return noLoginProfile(u.Name)
		}
		_, err = q.ExecContext(ctx, `DELETE FROM iam_password_history WHERE account_id = ? AND user_name = ?`, p.AccountID, u.Name)
		return err
	})
}

// ChangePassword changes the calling IAM user's own password. It needs
// iam:ChangePassword on the user, unless the account's password policy
// lets every user change their own (AllowUsersToChangePassword).
func (s *Service) ChangePassword(ctx context.Context, oldPassword, newPassword string) error {
	if err := checkPasswordShape("oldPassword", oldPassword); err != nil {
		return err
	}
	if err := checkPasswordShape("newPassword", newPassword); err != nil {
		return err
	}
	p, err := iamCaller(ctx)
	if err != nil {
		return err
	}
	if p.Type != TypeUser {
		return awserrInvalidUserType()
	}
	pol, _, err := s.passwordPolicy(ctx, s.store, p.AccountID)
	if err != nil {
		return err
	}
	if pol.AllowUsersToChangePassword {
		authz.NoPermissionRequired(ctx, "the account's password policy allows users to change their own password")
	} else if err := s.authorizeIAM(ctx, "iam:ChangePassword", p.ARN); err != nil {
		return err
	}
	return s.store.InTx(ctx, func(q meta.Querier) error {
		sp, err := s.loginProfile(ctx, q, p.AccountID, p.Name)
		if err != nil {
			return err
		}
		ok, err := checkPassword(sp.hash, oldPassword)
		if err != nil {
			return err
		}
		if !ok {
			return authz.Denied("AccessDenied", "The old password is incorrect.")
		}
		return s.setPassword(ctx, q, p.AccountID, p.Name, newPassword, false)
	})
}

func isNoSuchEntity(err error) bool {
	var ae *awserr.Error
	return errors.As(err, &ae) && ae.Code == "NoSuchEntity"
}

func awserrInvalidUserType() *awserr.Error {
	return awserr.New(awserr.Invalid, "InvalidUserType", "Only IAM users can change their own password with ChangePassword; the account root user's password is not an IAM login profile").WithStatus(http.StatusBadRequest)
}
