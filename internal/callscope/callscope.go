// Package callscope is the account and region a domain call acts in: the
// authenticated caller's account and the region the request was signed
// for. The AWS Backup domains (plans, restore testing, audit manager)
// begin each call with it, and keep their resources per scope.
package callscope

import (
	"context"

	"github.com/coffer-dev/coffer/internal/awserr"
	"github.com/coffer-dev/coffer/internal/identity"
	"github.com/coffer-dev/coffer/internal/reqctx"
)

// Scope is an account and a region.
type Scope struct{ Account, Region string }

// Of returns the caller's scope, or MissingAuthenticationTokenException
// when the call has no authenticated caller.
func Of(ctx context.Context) (Scope, error) {
	p := identity.Caller(ctx)
	if p == nil {
		return Scope{}, awserr.New(awserr.Unauthenticated, "MissingAuthenticationTokenException", "Request is missing Authentication Token")
	}
	return Scope{Account: p.AccountID, Region: reqctx.CallFrom(ctx).Region}, nil
}
