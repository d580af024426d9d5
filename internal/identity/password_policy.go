package identity

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"unicode"

	"github.com/coffer-dev/coffer/internal/awserr"
	"github.com/coffer-dev/coffer/internal/meta"
)

// PasswordPolicy is an account's IAM password policy. MaxPasswordAge and
// PasswordReusePrevention are 0 when not set.
type PasswordPolicy struct {
	MinimumPasswordLength      int
	RequireSymbols             bool
	RequireNumbers             bool
	RequireUppercaseCharacters bool
	RequireLowercaseCharacters bool
	AllowUsersToChangePassword bool
	MaxPasswordAge             int
	PasswordReusePrevention    int
	HardExpiry                 bool
}

// ExpirePasswords is what GetAccountPasswordPolicy reports: whether
// passwords have a maximum age.
func (p PasswordPolicy) ExpirePasswords() bool { return p.MaxPasswordAge > 0 }

// PasswordPolicyInput is UpdateAccountPasswordPolicy's request; a nil
// number takes its default (6 characters, no expiry, no reuse rule).
type PasswordPolicyInput struct {
	MinimumPasswordLength, MaxPasswordAge, PasswordReusePrevention     *int
	RequireSymbols, RequireNumbers, RequireUppercaseCharacters         bool
	RequireLowercaseCharacters, AllowUsersToChangePassword, HardExpiry bool
}

// passwordSymbols are the characters RequireSymbols asks for.
const passwordSymbols = "!@#$%^&*()_+-=[]{}|'"

// passwordRe is the model's passwordType.
var passwordRe = regexp.MustCompile("^[\t\n\r\u0020-\u00FF]{1,128}$")

func checkPasswordShape(field, pw string) error {
	if pw == "" {
		return validationError("1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", field)
	}
	if !passwordRe.MatchString(pw) {
		// The value is a secret: the message does not repeat it.
		return validationError("1 validation error detected: Value at '%s' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\u0009\\u000A\\u000D\\u0020-\\u00FF]+ and have length between 1 and 128", field)
	}
	return nil
}

func passwordViolation(format string, args ...any) *awserr.Error {
	return awserr.New(awserr.Invalid, "PasswordPolicyViolation", format, args...).WithStatus(http.StatusBadRequest)
}

func inRange(field string, v *int, lo, hi int) error {
	if v == nil {
		return nil
	}
	if *v < lo {
		return validationError("1 validation error detected: Value '%d' at '%s' failed to satisfy constraint: Member must have value greater than or equal to %d", *v, field, lo)
	}
	if *v > hi {
		return validationError("1 validation error detected: Value '%d' at '%s' failed to satisfy constraint: Member must have value less than or equal to %d", *v, field, hi)
	}
	return nil
}

// UpdateAccountPasswordPolicy replaces the caller's account's password
// policy; what the request leaves out reverts to its default.
func (s *Service) UpdateAccountPasswordPolicy(ctx context.Context, in PasswordPolicyInput) error {
	p, err := iamCaller(ctx)
	if err != nil {
		return err
	}
	for _, c := range []struct {
		field  string
		v      *int
		lo, hi int
	}{{"minimumPasswordLength", in.MinimumPasswordLength, 6, 128}, {"maxPasswordAge", in.MaxPasswordAge, 1, 1095}, {"passwordReusePrevention", in.PasswordReusePrevention, 1, 24}} {
		if err := inRange(c.field, c.v, c.lo, c.hi); err != nil {
			return err
		}
	}
	if err := s.authorizeIAM(ctx, "iam:UpdateAccountPasswordPolicy", "*"); err != nil {
		return err
	}
	deref := func(v *int, def int) int {
		if v == nil {
			return def
		}
		return *v
	}
	pol := PasswordPolicy{
		MinimumPasswordLength: deref(in.MinimumPasswordLength, 6), MaxPasswordAge: deref(in.MaxPasswordAge, 0), PasswordReusePrevention: deref(in.PasswordReusePrevention, 0),
		RequireSymbols: in.RequireSymbols, RequireNumbers: in.RequireNumbers, RequireUppercaseCharacters: in.RequireUppercaseCharacters,
		RequireLowercaseCharacters: in.RequireLowercaseCharacters, AllowUsersToChangePassword: in.AllowUsersToChangePassword, HardExpiry: in.HardExpiry,
	}
	return s.store.InTx(ctx, func(q meta.Querier) error {
		if _, err := q.ExecContext(ctx, `DELETE FROM iam_password_policies WHERE account_id = ?`, p.AccountID); err != nil {
			return err
		}
		_, err := q.ExecContext(ctx, `INSERT INTO iam_password_policies (account_id, min_length, require_symbols, require_numbers, require_uppercase, require_lowercase,
			allow_users_to_change, max_password_age, reuse_prevention, hard_expiry) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			p.AccountID, pol.MinimumPasswordLength, boolInt(pol.RequireSymbols), boolInt(pol.RequireNumbers), boolInt(pol.RequireUppercaseCharacters),
			boolInt(pol.RequireLowercaseCharacters), boolInt(pol.AllowUsersToChangePassword), pol.MaxPasswordAge, pol.PasswordReusePrevention, boolInt(pol.HardExpiry))
		return err
	})
}

// GetAccountPasswordPolicy returns the caller's account's password
// policy, NoSuchEntity when none was set.
func (s *Service) GetAccountPasswordPolicy(ctx context.Context) (PasswordPolicy, error) {
	p, err := iamCaller(ctx)
	if err != nil {
		return PasswordPolicy{}, err
	}
	if err := s.authorizeIAM(ctx, "iam:GetAccountPasswordPolicy", "*"); err != nil {
		return PasswordPolicy{}, err
	}
	pol, ok, err := s.passwordPolicy(ctx, s.store, p.AccountID)
	if err != nil {
		return PasswordPolicy{}, err
	}
	if !ok {
		return PasswordPolicy{}, noPasswordPolicy(p.AccountID)
	}
	return pol, nil
}

func noPasswordPolicy(account string) *awserr.Error {
	return noSuchEntity("The Password Policy with domain name %s cannot be found.", account)
}

// DeleteAccountPasswordPolicy removes the caller's account's password
// policy; passwords are then checked against the default one.
func (s *Service) DeleteAccountPasswordPolicy(ctx context.Context) error {
	p, err := iamCaller(ctx)
	if err != nil {
		return err
	}
	if err := s.authorizeIAM(ctx, "iam:DeleteAccountPasswordPolicy", "*"); err != nil {
		return err
	}
	res, err := s.store.ExecContext(ctx, `DELETE FROM iam_password_policies WHERE account_id = ?`, p.AccountID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return noPasswordPolicy(p.AccountID)
	}
	return nil
}

// passwordPolicy reads an account's policy; ok is false when it has none.
func (s *Service) passwordPolicy(ctx context.Context, q meta.Querier, account string) (PasswordPolicy, bool, error) {
	var pol PasswordPolicy
	var sym, num, up, low, allow, hard int
	err := q.QueryRowContext(ctx, `SELECT min_length, require_symbols, require_numbers, require_uppercase, require_lowercase, allow_users_to_change,
		max_password_age, reuse_prevention, hard_expiry FROM iam_password_policies WHERE account_id = ?`, account).
		Scan(&pol.MinimumPasswordLength, &sym, &num, &up, &low, &allow, &pol.MaxPasswordAge, &pol.PasswordReusePrevention, &hard)
	if errors.Is(err, sql.ErrNoRows) {
		return PasswordPolicy{}, false, nil
	}
	if err != nil {
		return PasswordPolicy{}, false, fmt.Errorf("read password policy: %w", err)
	}
	pol.RequireSymbols, pol.RequireNumbers, pol.RequireUppercaseCharacters = sym != 0, num != 0, up != 0
	pol.RequireLowercaseCharacters, pol.AllowUsersToChangePassword, pol.HardExpiry = low != 0, allow != 0, hard != 0
	return pol, true, nil
}

// charClasses tells which of IAM's four character types pw contains.
func charClasses(pw string) (upper, lower, number, symbol bool) {
	for _, r := range pw {
		switch {
		case r >= 'A' && r <= 'Z':
			upper = true
		case r >= 'a' && r <= 'z':
			lower = true
		case unicode.IsDigit(r) && r < 128:
			number = true
		case strings.ContainsRune(passwordSymbols, r):
			symbol = true
		}
	}
	return
}

// checkNewPassword checks a new password of user against the account's
// policy, or, when the account has none, IAM's default policy: at least
// 8 characters, three of the four character types, and not the account's
// name or email address. Reuse prevention compares with the user's
// previous passwords (the current one included).
func (s *Service) checkNewPassword(ctx context.Context, q meta.Querier, account, user, pw string) error {
	pol, ok, err := s.passwordPolicy(ctx, q, account)
	if err != nil {
		return err
	}
	upper, lower, number, symbol := charClasses(pw)
	if !ok {
		var name, email string
		if err := q.QueryRowContext(ctx, `SELECT name, email FROM accounts WHERE id = ?`, account).Scan(&name, &email); err != nil {
			return fmt.Errorf("read account %s: %w", account, err)
		}
		kinds := boolInt(upper) + boolInt(lower) + boolInt(number) + boolInt(symbol)
		switch {
		case len(pw) < 8:
			return passwordViolation("Password should have a minimum length of 8")
		case kinds < 3:
			return passwordViolation("Password should have at least three of: uppercase letters, lowercase letters, numbers, and symbols (%s)", passwordSymbols)
		case strings.EqualFold(pw, name) || strings.EqualFold(pw, email):
			return passwordViolation("Password must not be the account's name or email address")
		}
		return nil
	}
	switch {
	case len(pw) < pol.MinimumPasswordLength:
		return passwordViolation("Password should have a minimum length of %d", pol.MinimumPasswordLength)
	case pol.RequireUppercaseCharacters && !upper:
		return passwordViolation("Password should have at least one uppercase letter")
	case pol.RequireLowercaseCharacters && !lower:
		return passwordViolation("Password should have at least one lowercase letter")
	case pol.RequireNumbers && !number:
		return passwordViolation("Password should have at least one number")
	case pol.RequireSymbols && !symbol:
		return passwordViolation("Password should have at least one symbol (%s)", passwordSymbols)
	}
	if pol.PasswordReusePrevention == 0 {
		return nil
	}
	rows, err := q.QueryContext(ctx, `SELECT password_hash FROM iam_password_history WHERE account_id = ? AND user_name = ? ORDER BY changed_at DESC`, account, user)
	if err != nil {
		return fmt.Errorf("read password history: %w", err)
	}
	var hashes []string
	for rows.Next() && len(hashes) < pol.PasswordReusePrevention {
		var h string
		if err := rows.Scan(&h); err != nil {
			rows.Close()
			return err
		}
		hashes = append(hashes, h)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, h := range hashes {
		same, err := checkPassword(h, pw)
		if err != nil {
			return err
		}
		if same {
			return passwordViolation("Password has been used recently; the account's policy prevents reusing the last %d passwords", pol.PasswordReusePrevention)
		}
	}
	return nil
}
