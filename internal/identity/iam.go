package identity

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/coffer-dev/coffer/internal/authz"
	"github.com/coffer-dev/coffer/internal/meta"
	"github.com/coffer-dev/coffer/internal/policy"
)

// Entity types in iam_tags and iam_attachments.
const (
	entityUser   = "user"
	entityRole   = "role"
	entityPolicy = "policy"
)

var (
	iamNameRe   = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
	policyNameR = regexp.MustCompile(`^[\w+=,.@-]{1,128}$`)
	iamPathRe   = regexp.MustCompile(`^(/|/[\x21-\x7E]+/)$`)
)

// caller returns the authenticated principal of ctx.
func caller(ctx context.Context) (*Principal, error) {
	p := Caller(ctx)
	if p == nil {
		return nil, missingAuth()
	}
	return p, nil
}

// iamCaller is the caller of an IAM operation. Credentials from
// GetSessionToken cannot call IAM without MFA, which coffer does not have.
func iamCaller(ctx context.Context) (*Principal, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if p.Type == TypeUser && p.Temporary {
		return nil, authz.Denied("AccessDenied", "temporary credentials from GetSessionToken cannot call IAM operations without MFA; sign with the user's access key instead")
	}
	return p, nil
}

// authorizeIAM asks whether the caller may perform an IAM action on a
// resource of its own account.
func (s *Service) authorizeIAM(ctx context.Context, action, resource string) error {
	return s.authz.Authorize(ctx, authz.Request{Action: action, Resource: resource, DeniedCode: "AccessDenied"})
}

// authorizeFound authorizes action on what a lookup found, or, when it
// found nothing, on the path-less ARN the request named, so that a caller
// without permission learns nothing about what exists:
//
//	u, err := authorizeFound(s, ctx, action, arn, arnOf)(s.findUser(...))
func authorizeFound[T any](s *Service, ctx context.Context, action, pathless string, arnOf func(T) string) func(T, error) (T, error) {
	return func(v T, err error) (T, error) {
		var zero T
		if err != nil {
			if aerr := s.authorizeIAM(ctx, action, pathless); aerr != nil {
				return zero, aerr
			}
			return zero, err
		}
		if err := s.authorizeIAM(ctx, action, arnOf(v)); err != nil {
			return zero, err
		}
		return v, nil
	}
}

func checkName(field, v string) error {
	if !iamNameRe.MatchString(v) {
		return validationError("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+ and have length between 1 and 64", v, field)
	}
	return nil
}

func checkPolicyName(v string) error {
	if !policyNameR.MatchString(v) {
		return validationError("1 validation error detected: Value '%s' at 'policyName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+ and have length between 1 and 128", v)
	}
	return nil
}

// cleanPath defaults an empty path to "/" and checks it.
func cleanPath(field, p string) (string, error) {
	if p == "" {
		return "/", nil
	}
	if len(p) > 512 || !iamPathRe.MatchString(p) {
		return "", validationError("The specified value for %s is invalid. It must begin and end with / and contain only alphanumeric characters and/or / characters.", field)
	}
	return p, nil
}

// Tag is an IAM tag.
type Tag struct{ Key, Value string }

var tagKeyRe = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]{1,128}$`)
var tagValueRe = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]{0,256}$`)

func checkTags(tags []Tag) error {
	if len(tags) > 50 {
		return limitExceeded("The number of tags has reached the maximum limit of 50.")
	}
	seen := map[string]bool{}
	for _, t := range tags {
		if !tagKeyRe.MatchString(t.Key) || !tagValueRe.MatchString(t.Value) {
			return invalidInput("tag %q=%q: keys are 1-128 and values 0-256 letters, digits, spaces and _.:/=+-@", t.Key, t.Value)
		}
		if strings.HasPrefix(strings.ToLower(t.Key), "aws:") {
			return invalidInput("tag keys beginning with aws: are reserved for AWS use")
		}
		if seen[strings.ToLower(t.Key)] {
			return invalidInput("Duplicate tag keys found. Please note that Tag keys are case insensitive.")
		}
		seen[strings.ToLower(t.Key)] = true
	}
	return nil
}

func (s *Service) tags(ctx context.Context, q meta.Querier, account, kind, name string) ([]Tag, error) {
	rows, err := q.QueryContext(ctx, `SELECT tag_key, tag_value FROM iam_tags WHERE account_id = ? AND entity_type = ? AND entity_name = ? ORDER BY tag_key`, account, kind, name)
	if err != nil {
		return nil, fmt.Errorf("read tags: %w", err)
	}
	defer rows.Close()
	var out []Tag
	for rows.Next() {
		var t Tag
		if err := rows.Scan(&t.Key, &t.Value); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

func putTags(ctx context.Context, q meta.Querier, account, kind, name string, tags []Tag) error {
	for _, t := range tags {
		if _, err := q.ExecContext(ctx, `DELETE FROM iam_tags WHERE account_id = ? AND entity_type = ? AND entity_name = ? AND lower(tag_key) = lower(?)`, account, kind, name, t.Key); err != nil {
			return err
		}
		if _, err := q.ExecContext(ctx, `INSERT INTO iam_tags (account_id, entity_type, entity_name, tag_key, tag_value) VALUES (?, ?, ?, ?, ?)`, account, kind, name, t.Key, t.Value); err != nil {
			return err
		}
	}
	var n int
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM iam_tags WHERE account_id = ? AND entity_type = ? AND entity_name = ?`, account, kind, name).Scan(&n); err != nil {
		return err
	}
	if n > 50 {
		return limitExceeded("The number of tags has reached the maximum limit of 50.")
	}
	return nil
}

// parseIAMPolicy validates a document written through IAM: the policy
// grammar for its kind, IAM's size limit (limitMsg when exceeded) and, for
// trust policies, that the principals it names exist.
func (s *Service) parseIAMPolicy(ctx context.Context, doc string, kind policy.Kind, max int, limitMsg string) (*policy.Policy, error) {
	if doc == "" {
		return nil, validationError("1 validation error detected: Value null at 'policyDocument' failed to satisfy constraint: Member must not be null")
	}
	p, err := policy.Parse([]byte(doc), policy.ParseOptions{Kind: kind, MaxSize: max})
	if errors.Is(err, policy.ErrTooLarge) {
		return nil, limitExceeded("%s", limitMsg)
	}
	if err != nil {
		return nil, malformedPolicy("%s", err.Error())
	}
	if kind == policy.KindTrust {
		if err := s.CheckPrincipals(ctx, p); err != nil {
			var up *UnknownPrincipalError
			if errors.As(err, &up) {
				return nil, malformedPolicy("Invalid principal in policy: \"AWS\":\"%s\"", up.ARN)
			}
			return nil, err
		}
	}
	return p, nil
}

// UnknownPrincipalError names a principal a policy refers to that does
// not exist.
type UnknownPrincipalError struct{ ARN string }

func (e *UnknownPrincipalError) Error() string {
	return fmt.Sprintf("principal %s does not exist", e.ARN)
}

// CheckPrincipals returns an *UnknownPrincipalError for the first AWS
// principal p names that does not exist (an account, user, role or the
// role of a session), as IAM, KMS and Backup reject such policies.
func (s *Service) CheckPrincipals(ctx context.Context, p *policy.Policy) error {
	for _, arn := range p.PrincipalARNs() {
		ok, err := s.principalExists(ctx, arn)
		if err != nil {
			return err
		}
		if !ok {
			return &UnknownPrincipalError{ARN: arn}
		}
	}
	return nil
}

func (s *Service) principalExists(ctx context.Context, arn string) (bool, error) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 {
		return false, nil
	}
	account, res := parts[4], parts[5]
	var n int
	var err error
	switch {
	case res == "root" || strings.HasPrefix(res, "federated-user/"):
		err = s.store.QueryRowContext(ctx, `SELECT COUNT(*) FROM accounts WHERE id = ?`, account).Scan(&n)
	case strings.HasPrefix(res, "user/"):
		path, name := splitPathName(strings.TrimPrefix(res, "user"))
		err = s.store.QueryRowContext(ctx, `SELECT COUNT(*) FROM iam_users WHERE account_id = ? AND name = ? AND path = ?`, account, name, path).Scan(&n)
	case strings.HasPrefix(res, "role/"):
		path, name := splitPathName(strings.TrimPrefix(res, "role"))
		err = s.store.QueryRowContext(ctx, `SELECT COUNT(*) FROM iam_roles WHERE account_id = ? AND name = ? AND path = ?`, account, name, path).Scan(&n)
	case strings.HasPrefix(res, "assumed-role/"):
		role, _, _ := strings.Cut(strings.TrimPrefix(res, "assumed-role/"), "/")
		err = s.store.QueryRowContext(ctx, `SELECT COUNT(*) FROM iam_roles WHERE account_id = ? AND name = ?`, account, role).Scan(&n)
	}
	return n > 0, err
}

// splitPathName splits "/path/to/name" into "/path/to/" and "name".
func splitPathName(s string) (path, name string) {
	i := strings.LastIndexByte(s, '/')
	if i < 0 {
		return "/", s
	}
	return s[:i+1], s[i+1:]
}

func nanos(t time.Time) int64 { return t.UnixNano() }

func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

// boolInt stores a flag in a portable INTEGER column.
func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
