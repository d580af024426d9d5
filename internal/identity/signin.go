package identity

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Console sign-in lockout: after MaxFailedSignIns wrong passwords in a row
// a user cannot sign in for LockoutDuration (or until an administrator
// sets a new password with UpdateLoginProfile). AWS's console answers
// repeated failures with a CAPTCHA; a self-hosted console locks instead.
const (
	MaxFailedSignIns = 5
	LockoutDuration  = 15 * time.Minute
)

// Sign-in failures. ErrSignInFailed covers an unknown account, user or
// password alike, so that a failure tells nothing about what exists.
var (
	ErrSignInFailed    = errors.New("your authentication information is incorrect; check the account ID, user name and password")
	ErrLockedOut       = errors.New("too many failed sign-in attempts; sign-in for this user is locked for a while, or until an administrator sets a new password")
	ErrMFAFailed       = errors.New("the MFA code is not valid; enter the current code of your MFA device")
	ErrPasswordExpired = errors.New("your password has expired and the account's password policy lets only an administrator reset it")
)

// SignIn is a successful password check.
type SignIn struct {
	Principal *Principal
	// MustChangePassword is set when the password was marked for reset or
	// has outlived the policy's MaxPasswordAge: the console asks for a new
	// one before anything else.
	MustChangePassword bool
	// MFARequired is set when the password was right and the user has an
	// MFA device: the sign-in ends with ConsoleSignInMFA.
	MFARequired bool
}

// dummyHash is checked against when the user has no password, so that a
// failure takes as long whether or not the user exists.
var dummyHash = hashPassword("coffer-no-such-user")

// ConsoleSignIn checks an IAM user's console password. It counts wrong
// passwords towards the lockout and resets the count on success.
func (s *Service) ConsoleSignIn(ctx context.Context, account, userName, password string) (SignIn, error) {
	now := s.now()
	p, err := s.consoleUser(ctx, account, userName)
	if errors.Is(err, ErrSignInFailed) {
		checkPassword(dummyHash, password)
		return SignIn{}, err
	}
	if err != nil {
		return SignIn{}, err
	}
	sp, err := s.loginProfile(ctx, s.store, p.AccountID, p.Name)
	if isNoSuchEntity(err) {
		checkPassword(dummyHash, password)
		return SignIn{}, ErrSignInFailed
	}
	if err != nil {
		return SignIn{}, err
	}
	if now.Before(sp.lockedUntil) {
		return SignIn{}, ErrLockedOut
	}
	ok, err := checkPassword(sp.hash, password)
	if err != nil {
		return SignIn{}, err
	}
	if !ok {
		return SignIn{}, s.failSignIn(ctx, p, sp, ErrSignInFailed)
	}
	mfa, err := s.hasMFA(ctx, p.AccountID, p.Name)
	if err != nil {
		return SignIn{}, err
	}
	if mfa {
		// The count of failures is reset only once the MFA code is
		// right too: a password alone does not buy more guesses.
		return SignIn{Principal: p, MFARequired: true}, nil
	}
	return s.finishSignIn(ctx, p, sp)
}

// ConsoleSignInMFA is the second step of the sign-in of a user with an
// MFA device, after ConsoleSignIn answered MFARequired: a code of one of
// the user's devices, not used before. A wrong code counts towards the
// lockout as a wrong password does.
func (s *Service) ConsoleSignInMFA(ctx context.Context, account, userName, code string) (SignIn, error) {
	p, err := s.consoleUser(ctx, account, userName)
	if err != nil {
		return SignIn{}, err
	}
	sp, err := s.loginProfile(ctx, s.store, p.AccountID, p.Name)
	if isNoSuchEntity(err) {
		return SignIn{}, ErrSignInFailed
	}
	if err != nil {
		return SignIn{}, err
	}
	if s.now().Before(sp.lockedUntil) {
		return SignIn{}, ErrLockedOut
	}
	ok, err := s.checkMFACode(ctx, p.AccountID, p.Name, code)
	if err != nil {
		return SignIn{}, err
	}
	if !ok {
		return SignIn{}, s.failSignIn(ctx, p, sp, ErrMFAFailed)
	}
	return s.finishSignIn(ctx, p, sp)
}

// failSignIn counts a failed sign-in and locks the user out at
// MaxFailedSignIns; it returns the error to report.
func (s *Service) failSignIn(ctx context.Context, p *Principal, sp storedProfile, failure error) error {
	failed, locked := sp.failedAttempts+1, int64(0)
	if failed >= MaxFailedSignIns {
		failed, locked = 0, nanos(s.now().Add(LockoutDuration))
	}
	if _, err := s.store.ExecContext(ctx, `UPDATE iam_login_profiles SET failed_attempts = ?, locked_until = ? WHERE account_id = ? AND user_name = ?`,
		failed, locked, p.AccountID, p.Name); err != nil {
		return fmt.Errorf("count failed sign-in: %w", err)
	}
	if locked != 0 {
		return ErrLockedOut
	}
	return failure
}

// finishSignIn resets the failure count and tells whether the password
// must be changed (or, under HardExpiry, refuses an expired one).
func (s *Service) finishSignIn(ctx context.Context, p *Principal, sp storedProfile) (SignIn, error) {
	if sp.failedAttempts != 0 || !sp.lockedUntil.IsZero() {
		if _, err := s.store.ExecContext(ctx, `UPDATE iam_login_profiles SET failed_attempts = 0, locked_until = 0 WHERE account_id = ? AND user_name = ?`, p.AccountID, p.Name); err != nil {
			return SignIn{}, fmt.Errorf("reset failed sign-ins: %w", err)
		}
	}
	pol, _, err := s.passwordPolicy(ctx, s.store, p.AccountID)
	if err != nil {
		return SignIn{}, err
	}
	expired := pol.MaxPasswordAge > 0 && s.now().After(sp.changed.Add(time.Duration(pol.MaxPasswordAge)*24*time.Hour))
	if expired && pol.HardExpiry {
		return SignIn{}, ErrPasswordExpired
	}
	return SignIn{Principal: p, MustChangePassword: expired || sp.PasswordResetRequired}, nil
}

// ConsolePrincipal returns the principal of a console session's user, or
// ErrSignInFailed when the user, its account or its login profile is gone:
// deleting a login profile ends the user's console sessions.
func (s *Service) ConsolePrincipal(ctx context.Context, account, userName string) (*Principal, error) {
	p, err := s.consoleUser(ctx, account, userName)
	if err != nil {
		return nil, err
	}
	if _, err := s.loginProfile(ctx, s.store, p.AccountID, p.Name); err != nil {
		if isNoSuchEntity(err) {
			return nil, ErrSignInFailed
		}
		return nil, err
	}
	return p, nil
}

// consoleUser resolves an IAM user of an active account by the name typed
// at sign-in (matched regardless of case, as IAM matches names).
func (s *Service) consoleUser(ctx context.Context, account, userName string) (*Principal, error) {
	if !accountIDRe.MatchString(account) || !iamNameRe.MatchString(userName) {
		return nil, ErrSignInFailed
	}
	var u User
	var created int64
	err := s.store.QueryRowContext(ctx, `SELECT u.name, u.user_id, u.path, u.created_at FROM iam_users u JOIN accounts a ON a.id = u.account_id
		WHERE u.account_id = ? AND lower(u.name) = lower(?) AND a.status = 'ACTIVE'`, account, userName).Scan(&u.Name, &u.UserID, &u.Path, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrSignInFailed
	}
	if err != nil {
		return nil, fmt.Errorf("read user %s: %w", userName, err)
	}
	return &Principal{Type: TypeUser, AccountID: account, ARN: UserARN(account, u.Path, u.Name), UserID: u.UserID, Name: u.Name}, nil
}
