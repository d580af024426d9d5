// Package sts is the API adapter for AWS STS (awsQuery, version
// 2011-06-15): it decodes form parameters, calls the identity domain and
// shapes the XML results.
package sts

import (
	"context"
	"net/url"

	"github.com/coffer-dev/coffer/internal/awserr"
	"github.com/coffer-dev/coffer/internal/identity"
	"github.com/coffer-dev/coffer/internal/protocol"
)

// New returns the STS endpoint.
func New() *protocol.QueryService {
	return &protocol.QueryService{
		Name:         "sts",
		Version:      "2011-06-15",
		XMLNamespace: "https://sts.amazonaws.com/doc/2011-06-15/",
		Ops: map[string]protocol.QueryOp{
			"GetCallerIdentity": getCallerIdentity,
		},
	}
}

type callerIdentityResult struct {
	Arn     string
	UserId  string
	Account string
}

// getCallerIdentity needs no permission, as in AWS: it only tells callers
// who they are.
func getCallerIdentity(ctx context.Context, _ url.Values) (any, error) {
	p := identity.Caller(ctx)
	if p == nil {
		return nil, awserr.New(awserr.Unauthenticated, "MissingAuthenticationToken", "Request is missing Authentication Token")
	}
	return callerIdentityResult{Arn: p.ARN, UserId: p.UserID, Account: p.AccountID}, nil
}
