package identity

import (
	"context"
	"time"
)

// PrincipalType is what kind of identity signed a request, with the values
// of the aws:PrincipalType condition key.
type PrincipalType string

const (
	TypeAccount     PrincipalType = "Account" // the account root
	TypeUser        PrincipalType = "User"
	TypeAssumedRole PrincipalType = "AssumedRole"
	TypeService     PrincipalType = "AWSService"
)

// Principal is the authenticated caller of an operation.
type Principal struct {
	Type      PrincipalType
	AccountID string
	// ARN is what GetCallerIdentity returns: arn:aws:iam::ACCOUNT:user/NAME,
	// arn:aws:iam::ACCOUNT:root, or arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION.
	ARN string
	// UserID is the unique ID: AIDA... for users, AROA...:SESSION for role
	// sessions, the account ID for the root.
	UserID string
	// Name is the user name, the role name of a role session, or the
	// service principal (backup.amazonaws.com) of TypeService.
	Name string
	// AccessKeyID is the key the request was signed with.
	AccessKeyID string

	// Role sessions: the role (with its path), its unique ID (a session
	// of a deleted and recreated role is not a session of the new one),
	// the session name, the session policy passed to AssumeRole, and
	// whether a role session created it (role chaining).
	RoleARN       string
	RoleID        string
	SessionName   string
	SessionPolicy string
	Chained       bool
	// AssumedBy is the service principal that assumed the role for a job
	// (AssumeRoleForService), "" for sessions created through STS.
	AssumedBy string

	// Temporary is set for credentials from AssumeRole or GetSessionToken;
	// Expires is when they stop working.
	Temporary bool
	Expires   time.Time
}

type callerKey struct{}

// WithCaller returns ctx carrying the authenticated principal.
func WithCaller(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, callerKey{}, p)
}

// Caller returns the principal in ctx, or nil for an unauthenticated
// context.
func Caller(ctx context.Context) *Principal {
	p, _ := ctx.Value(callerKey{}).(*Principal)
	return p
}

// ServicePrincipal is the caller a service acts as when it works for
// itself rather than through a role (e.g. backup.amazonaws.com reading a
// trust policy): policies admit it only by naming it.
func ServicePrincipal(service string) *Principal {
	return &Principal{Type: TypeService, Name: service, ARN: service}
}
