// Package identity holds coffer's accounts, organizations, IAM users and
// their access keys, and resolves a request's access key to the principal
// making it.
package identity

import "context"

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
	// Name is the user name, or the role name of a role session.
	Name string
	// AccessKeyID is the key the request was signed with.
	AccessKeyID string
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
