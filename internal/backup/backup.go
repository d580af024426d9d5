// Package backup is the AWS Backup domain: vaults and their access
// policies, the organization's and account's settings, recovery points,
// and the backup, copy and restore jobs that move databases into and
// between vaults. Every operation authorizes its caller through authz.
package backup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/coffer-dev/coffer/internal/authz"
	"github.com/coffer-dev/coffer/internal/awserr"
	"github.com/coffer-dev/coffer/internal/identity"
	"github.com/coffer-dev/coffer/internal/meta"
)

// KeyInfo is what the backup domain needs to know of a KMS key.
type KeyInfo struct {
	ARN     string
	Account string
	// Manager is "AWS" for AWS-managed keys (aws/backup, aws/rds), else
	// "CUSTOMER".
	Manager string
	Usage   string // ENCRYPT_DECRYPT for keys a vault can use
	Spec    string // SYMMETRIC_DEFAULT for keys a vault can use
	Enabled bool
}

// Keys is the KMS the backup domain uses.
type Keys interface {
	// ManagedKey returns the ARN of the AWS-managed key alias/aws/SERVICE
	// in the account and region, creating it on first use.
	ManagedKey(ctx context.Context, account, region, service string) (string, error)
	// DescribeKey describes a key (ID, ARN or alias) as the caller in ctx
	// may see it.
	DescribeKey(ctx context.Context, region, keyID string) (KeyInfo, error)
}

// Organizations answers the questions cross-account rules ask.
type Organizations interface {
	// SameOrganization reports whether both accounts belong to one
	// organization.
	SameOrganization(ctx context.Context, accountA, accountB string) (bool, error)
	// ManagementAccount returns the management account of the account's
	// organization, or "" when it belongs to none.
	ManagementAccount(ctx context.Context, account string) (string, error)
}

// Service is the backup domain.
type Service struct {
	store meta.Store
	authz *authz.Authorizer
	keys  Keys
	orgs  Organizations
	log   *slog.Logger
	now   func() time.Time
}

// Options configure a Service.
type Options struct {
	Store meta.Store
	Authz *authz.Authorizer
	Keys  Keys
	Orgs  Organizations
	Log   *slog.Logger
	Now   func() time.Time
}

// New returns the backup domain.
func New(o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Service{store: o.Store, authz: o.Authz, keys: o.Keys, orgs: o.Orgs, log: o.Log, now: o.Now}
}

// Scope is where an operation acts: the caller's account and the region
// the request was signed for.
type Scope struct {
	Account string
	Region  string
}

func (s *Service) scope(ctx context.Context) (Scope, *identity.Principal, error) {
	p := identity.Caller(ctx)
	if p == nil {
		return Scope{}, nil, awserr.New(awserr.Unauthenticated, "MissingAuthenticationTokenException", "Request is missing Authentication Token")
	}
	return Scope{Account: p.AccountID, Region: region(ctx)}, p, nil
}

func alreadyExists(format string, args ...any) error {
	return awserr.New(awserr.Conflict, "AlreadyExistsException", format, args...)
}

func isNotFound(err error) bool {
	var e *awserr.Error
	return errors.As(err, &e) && e.Kind == awserr.NotFound
}

// Errors with Backup's codes.

func notFound(format string, args ...any) error {
	return awserr.New(awserr.NotFound, "ResourceNotFoundException", format, args...)
}

// InvalidParam is Backup's error for a malformed parameter.
func InvalidParam(format string, args ...any) error {
	return awserr.New(awserr.Invalid, "InvalidParameterValueException", format, args...)
}

func missingParam(name string) error {
	return awserr.New(awserr.Invalid, "MissingParameterValueException", "%s is required", name)
}

func invalidRequest(format string, args ...any) error {
	return awserr.New(awserr.Invalid, "InvalidRequestException", format, args...)
}

var vaultNameRe = regexp.MustCompile(`^[a-zA-Z0-9\-_]{2,50}$`)

// VaultARN is arn:aws:backup:REGION:ACCOUNT:backup-vault:NAME.
func VaultARN(region, account, name string) string {
	return fmt.Sprintf("arn:aws:backup:%s:%s:backup-vault:%s", region, account, name)
}

func awsLimit(format string, args ...any) error {
	return awserr.New(awserr.Limit, "LimitExceededException", format, args...)
}
