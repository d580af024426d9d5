// Package sts is the API adapter for AWS STS (awsQuery, version
// 2011-06-15): it decodes form parameters, calls the identity domain and
// shapes the XML results.
package sts

import (
	"context"
	"net/url"
	"strconv"
	"time"

	"github.com/coffer-dev/coffer/internal/authz"
	"github.com/coffer-dev/coffer/internal/awserr"
	"github.com/coffer-dev/coffer/internal/identity"
	"github.com/coffer-dev/coffer/internal/protocol"
)

type api struct{ ids *identity.Service }

// New returns the STS endpoint.
func New(ids *identity.Service) *protocol.QueryService {
	a := api{ids}
	return &protocol.QueryService{
		Name:         "sts",
		Version:      "2011-06-15",
		XMLNamespace: "https://sts.amazonaws.com/doc/2011-06-15/",
		Ops: map[string]protocol.QueryOp{
			"GetCallerIdentity": getCallerIdentity,
			"AssumeRole":        a.assumeRole,
			"GetSessionToken":   a.getSessionToken,
		},
	}
}

type callerIdentityResult struct {
	Arn     string
	UserId  string
	Account string
}

// getCallerIdentity needs no permission, as in AWS: it only tells callers
// who they are, and even an explicit deny does not stop it.
func getCallerIdentity(ctx context.Context, _ url.Values) (any, error) {
	p := identity.Caller(ctx)
	if p == nil {
		return nil, awserr.New(awserr.Unauthenticated, "MissingAuthenticationToken", "Request is missing Authentication Token")
	}
	authz.NoPermissionRequired(ctx, "sts:GetCallerIdentity needs no permission")
	return callerIdentityResult{Arn: p.ARN, UserId: p.UserID, Account: p.AccountID}, nil
}

type credentialsXML struct {
	AccessKeyId     string
	SecretAccessKey string
	SessionToken    string
	Expiration      string
}

func credsOut(c identity.Credentials) credentialsXML {
	return credentialsXML{c.AccessKeyID, c.SecretAccessKey, c.SessionToken, c.Expiration.UTC().Format(time.RFC3339)}
}

func duration(form url.Values) (int, error) {
	s := form.Get("DurationSeconds")
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, awserr.New(awserr.Invalid, "ValidationError", "DurationSeconds %q is not a number of seconds", s)
	}
	return n, nil
}

func (a api) assumeRole(ctx context.Context, form url.Values) (any, error) {
	d, err := duration(form)
	if err != nil {
		return nil, err
	}
	for _, name := range []string{"RoleArn", "RoleSessionName"} {
		if form.Get(name) == "" {
			return nil, awserr.New(awserr.Invalid, "ValidationError", "1 validation error detected: Value null at '%s%s' failed to satisfy constraint: Member must not be null", string(name[0]+'a'-'A'), name[1:])
		}
	}
	r, err := a.ids.AssumeRole(ctx, identity.AssumeRoleInput{
		RoleARN: form.Get("RoleArn"), RoleSessionName: form.Get("RoleSessionName"),
		DurationSeconds: d, ExternalID: form.Get("ExternalId"), Policy: form.Get("Policy"),
	})
	if err != nil {
		return nil, err
	}
	type assumedRoleUser struct{ AssumedRoleId, Arn string }
	out := struct {
		Credentials      credentialsXML
		AssumedRoleUser  assumedRoleUser
		PackedPolicySize int `xml:",omitempty"`
	}{credsOut(r.Credentials), assumedRoleUser{r.AssumedRoleID, r.ARN}, r.PackedPolicySize}
	return out, nil
}

func (a api) getSessionToken(ctx context.Context, form url.Values) (any, error) {
	d, err := duration(form)
	if err != nil {
		return nil, err
	}
	c, err := a.ids.GetSessionToken(ctx, d)
	if err != nil {
		return nil, err
	}
	return struct{ Credentials credentialsXML }{credsOut(c)}, nil
}
