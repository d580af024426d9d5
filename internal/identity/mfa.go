package identity

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"database/sql"
	"encoding/base32"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"time"

	"github.com/coffer-dev/coffer/internal/awserr"
	"github.com/coffer-dev/coffer/internal/meta"
)

// VirtualMFADevice is a virtual MFA device. Base32StringSeed (the TOTP
// secret, base32) and OTPAuthURI are set only in CreateVirtualMFADevice's
// answer.
type VirtualMFADevice struct {
	SerialNumber     string
	Base32StringSeed string
	// OTPAuthURI is what an authenticator app scans, as IAM builds it:
	// otpauth://totp/NAME@ACCOUNT?secret=SEED, ACCOUNT the account ID
	// (the device has no user yet).
	OTPAuthURI string
	UserName   string // "" when unassigned
	User       User   // the assigned user
	EnableDate time.Time
}

// MFADevice is an MFA device enabled for a user.
type MFADevice struct {
	UserName, SerialNumber string
	EnableDate             time.Time
}

// MaxMFADevicesPerUser is IAM's quota.
const MaxMFADevicesPerUser = 8

var (
	authCodeRe = regexp.MustCompile(`^\d{6}$`)
	serialRe   = regexp.MustCompile(`^[\w+=/:,.@-]{9,256}$`)
)

// MFADeviceARN is arn:aws:iam::ACCOUNT:mfa/PATH/NAME.
func MFADeviceARN(account, path, name string) string {
	return fmt.Sprintf("arn:%s:iam::%s:mfa%s%s", Partition, account, path, name)
}

func mfaSeedAAD(serial string) []byte { return []byte("iam/mfa/" + serial) }

func invalidAuthCode() *awserr.Error {
	return awserr.New(awserr.Denied, "InvalidAuthenticationCode", "Authentication code for device is not valid.").WithStatus(http.StatusForbidden)
}

func noMFADevice(serial string) *awserr.Error {
	return noSuchEntity("MFA Device with serial number %s does not exist.", serial)
}

// CreateVirtualMFADevice creates an unassigned virtual MFA device in the
// caller's account and returns its secret, once. Tags on devices are not
// supported.
func (s *Service) CreateVirtualMFADevice(ctx context.Context, name, path string, tags []Tag) (VirtualMFADevice, error) {
	p, err := iamCaller(ctx)
	if err != nil {
		return VirtualMFADevice{}, err
	}
	if err := checkName("virtualMFADeviceName", name); err != nil {
		return VirtualMFADevice{}, err
	}
	if path, err = cleanPath("path", path); err != nil {
		return VirtualMFADevice{}, err
	}
	if len(tags) > 0 {
		return VirtualMFADevice{}, invalidInput("coffer does not keep tags on MFA devices; create the device without Tags")
	}
	serial := MFADeviceARN(p.AccountID, path, name)
	if err := s.authorizeIAM(ctx, "iam:CreateVirtualMFADevice", serial); err != nil {
		return VirtualMFADevice{}, err
	}
	seed := make([]byte, 20)
	rand.Read(seed)
	sealed, err := s.keys.Seal(ctx, seed, mfaSeedAAD(serial))
	if err != nil {
		return VirtualMFADevice{}, fmt.Errorf("seal MFA seed: %w", err)
	}
	_, err = s.store.ExecContext(ctx, `INSERT INTO iam_mfa_devices (serial_number, account_id, name, path, sealed_seed, user_name, enabled_at, created_at, last_step)
		VALUES (?, ?, ?, ?, ?, '', 0, ?, 0)`, serial, p.AccountID, name, path, sealed, nanos(s.now()))
	if errors.Is(err, meta.ErrConflict) {
		return VirtualMFADevice{}, entityExists("MFADevice entity at the same path and name already exists.")
	}
	if err != nil {
		return VirtualMFADevice{}, err
	}
	b32 := base32.StdEncoding.EncodeToString(seed)
	uri := (&url.URL{Scheme: "otpauth", Host: "totp", Path: "/" + name + "@" + p.AccountID, RawQuery: url.Values{"secret": {b32}}.Encode()}).String()
	return VirtualMFADevice{SerialNumber: serial, Base32StringSeed: b32, OTPAuthURI: uri}, nil
}

// device is one row of iam_mfa_devices.
type device struct {
	serial, user string
	seed         []byte
	enabled      time.Time
	lastStep     int64
}

func (s *Service) mfaDevice(ctx context.Context, q meta.Querier, account, serial string) (device, error) {
	var d device
	var sealed []byte
	var enabled int64
	err := q.QueryRowContext(ctx, `SELECT serial_number, user_name, sealed_seed, enabled_at, last_step FROM iam_mfa_devices WHERE serial_number = ? AND account_id = ?`, serial, account).
		Scan(&d.serial, &d.user, &sealed, &enabled, &d.lastStep)
	if errors.Is(err, sql.ErrNoRows) {
		return device{}, noMFADevice(serial)
	}
	if err != nil {
		return device{}, fmt.Errorf("read MFA device %s: %w", serial, err)
	}
	if enabled != 0 {
		d.enabled = fromNanos(enabled)
	}
	if d.seed, err = s.keys.Open(ctx, sealed, mfaSeedAAD(d.serial)); err != nil {
		return device{}, fmt.Errorf("open seed of MFA device %s: %w", serial, err)
	}
	return d, nil
}

// EnableMFADevice assigns a virtual MFA device to a user, proven by two
// consecutive codes from it.
func (s *Service) EnableMFADevice(ctx context.Context, userName, serial, code1, code2 string) error {
	for _, c := range []struct{ field, v string }{{"authenticationCode1", code1}, {"authenticationCode2", code2}} {
		if !authCodeRe.MatchString(c.v) {
			return validationError("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\d]+ and have length 6", c.v, c.field)
		}
	}
	if !serialRe.MatchString(serial) {
		return validationError("1 validation error detected: Value '%s' at 'serialNumber' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=/:,.@-]+", serial)
	}
	if userName == "" {
		return validationError("1 validation error detected: Value null at 'userName' failed to satisfy constraint: Member must not be null")
	}
	p, u, err := s.userForAction(ctx, "iam:EnableMFADevice", userName)
	if err != nil {
		return err
	}
	return s.store.InTx(ctx, func(q meta.Querier) error {
		d, err := s.mfaDevice(ctx, q, p.AccountID, serial)
		if err != nil {
			return err
		}
		if d.user != "" {
			return entityExists("MFA Device is already in use.")
		}
		var n int
		if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM iam_mfa_devices WHERE account_id = ? AND user_name = ?`, p.AccountID, u.Name).Scan(&n); err != nil {
			return err
		}
		if n >= MaxMFADevicesPerUser {
			return limitExceeded("Cannot exceed quota for MFADevicesPerUser: %d", MaxMFADevicesPerUser)
		}
		cur := totpStepOf(s.now())
		step := int64(-1)
		for st := cur - totpWindow; st < cur+totpWindow; st++ {
			if hmac.Equal([]byte(totpAt(d.seed, st)), []byte(code1)) && hmac.Equal([]byte(totpAt(d.seed, st+1)), []byte(code2)) {
				step = st + 1
				break
			}
		}
		if step < 0 {
			return invalidAuthCode()
		}
		_, err = q.ExecContext(ctx, `UPDATE iam_mfa_devices SET user_name = ?, enabled_at = ?, last_step = ? WHERE serial_number = ?`, u.Name, nanos(s.now()), step, d.serial)
		return err
	})
}

// ListMFADevices lists the MFA devices enabled for a user (the caller
// when userName is empty).
func (s *Service) ListMFADevices(ctx context.Context, userName string) ([]MFADevice, error) {
	p, u, err := s.userForAction(ctx, "iam:ListMFADevices", userName)
	if err != nil {
		return nil, err
	}
	rows, err := s.store.QueryContext(ctx, `SELECT serial_number, enabled_at FROM iam_mfa_devices WHERE account_id = ? AND user_name = ? ORDER BY enabled_at`, p.AccountID, u.Name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []MFADevice
	for rows.Next() {
		d := MFADevice{UserName: u.Name}
		var enabled int64
		if err := rows.Scan(&d.SerialNumber, &enabled); err != nil {
			return nil, err
		}
		d.EnableDate = fromNanos(enabled)
		out = append(out, d)
	}
	return out, rows.Err()
}

// DeactivateMFADevice unassigns a device from a user (the caller when
// userName is empty); the device stays, unassigned.
func (s *Service) DeactivateMFADevice(ctx context.Context, userName, serial string) error {
	p, u, err := s.userForAction(ctx, "iam:DeactivateMFADevice", userName)
	if err != nil {
		return err
	}
	res, err := s.store.ExecContext(ctx, `UPDATE iam_mfa_devices SET user_name = '', enabled_at = 0 WHERE serial_number = ? AND account_id = ? AND user_name = ?`, serial, p.AccountID, u.Name)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return noMFADevice(serial)
	}
	return nil
}

// DeleteVirtualMFADevice deletes an unassigned virtual MFA device.
func (s *Service) DeleteVirtualMFADevice(ctx context.Context, serial string) error {
	p, err := iamCaller(ctx)
	if err != nil {
		return err
	}
	if err := s.authorizeIAM(ctx, "iam:DeleteVirtualMFADevice", serial); err != nil {
		return err
	}
	return s.store.InTx(ctx, func(q meta.Querier) error {
		d, err := s.mfaDevice(ctx, q, p.AccountID, serial)
		if err != nil {
			return err
		}
		if d.user != "" {
			return deleteConflict("MFA Device is still in use by user %s; deactivate it first.", d.user)
		}
		_, err = q.ExecContext(ctx, `DELETE FROM iam_mfa_devices WHERE serial_number = ?`, d.serial)
		return err
	})
}

// ListVirtualMFADevices lists the caller's account's virtual MFA devices
// by assignment status: Assigned, Unassigned or Any ("" is Any).
func (s *Service) ListVirtualMFADevices(ctx context.Context, status string) ([]VirtualMFADevice, error) {
	p, err := iamCaller(ctx)
	if err != nil {
		return nil, err
	}
	switch status {
	case "", "Any", "Assigned", "Unassigned":
	default:
		return nil, validationError("1 validation error detected: Value '%s' at 'assignmentStatus' failed to satisfy constraint: Member must satisfy enum value set: [Assigned, Unassigned, Any]", status)
	}
	if err := s.authorizeIAM(ctx, "iam:ListVirtualMFADevices", "*"); err != nil {
		return nil, err
	}
	rows, err := s.store.QueryContext(ctx, `SELECT m.serial_number, m.user_name, m.enabled_at, u.user_id, u.path, u.created_at FROM iam_mfa_devices m
		LEFT JOIN iam_users u ON u.account_id = m.account_id AND u.name = m.user_name WHERE m.account_id = ? ORDER BY m.serial_number`, p.AccountID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []VirtualMFADevice
	for rows.Next() {
		var d VirtualMFADevice
		var enabled int64
		var userID, path sql.NullString
		var created sql.NullInt64
		if err := rows.Scan(&d.SerialNumber, &d.UserName, &enabled, &userID, &path, &created); err != nil {
			return nil, err
		}
		if (status == "Assigned" && d.UserName == "") || (status == "Unassigned" && d.UserName != "") {
			continue
		}
		if d.UserName != "" {
			d.EnableDate = fromNanos(enabled)
			d.User = User{Path: path.String, Name: d.UserName, UserID: userID.String, ARN: UserARN(p.AccountID, path.String, d.UserName), Created: fromNanos(created.Int64)}
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// hasMFA reports whether a user has an enabled MFA device.
func (s *Service) hasMFA(ctx context.Context, account, user string) (bool, error) {
	var n int
	err := s.store.QueryRowContext(ctx, `SELECT COUNT(*) FROM iam_mfa_devices WHERE account_id = ? AND user_name = ?`, account, user).Scan(&n)
	return n > 0, err
}

// checkMFACode accepts a code of one of the user's devices that is newer
// than the last code that device accepted.
func (s *Service) checkMFACode(ctx context.Context, account, user, code string) (bool, error) {
	if !authCodeRe.MatchString(code) {
		return false, nil
	}
	rows, err := s.store.QueryContext(ctx, `SELECT serial_number FROM iam_mfa_devices WHERE account_id = ? AND user_name = ?`, account, user)
	if err != nil {
		return false, err
	}
	var serials []string
	for rows.Next() {
		var sn string
		if err := rows.Scan(&sn); err != nil {
			rows.Close()
			return false, err
		}
		serials = append(serials, sn)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return false, err
	}
	for _, sn := range serials {
		d, err := s.mfaDevice(ctx, s.store, account, sn)
		if err != nil {
			return false, err
		}
		step, ok := matchTOTP(d.seed, code, s.now(), d.lastStep)
		if !ok {
			continue
		}
		// Only one sign-in may use a code: the update succeeds for the
		// first.
		res, err := s.store.ExecContext(ctx, `UPDATE iam_mfa_devices SET last_step = ? WHERE serial_number = ? AND last_step < ?`, step, sn, step)
		if err != nil {
			return false, err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return true, nil
		}
	}
	return false, nil
}
