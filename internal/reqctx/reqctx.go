// Package reqctx carries the facts of the API request being served through
// a context: its ID, service, region and operation, and the connection
// facts policy conditions read (aws:SourceIp, aws:SecureTransport). The
// server creates the Call, the protocol codecs fill in the operation and
// outcome, and domains read the facts without knowing HTTP.
package reqctx

import "context"

// Call describes the request being served; the server puts one in the
// context, the codec fills in the operation and outcome, and the logging,
// metrics and audit layers read it afterwards.
type Call struct {
	RequestID    string
	Service      string
	Region       string // from the credential scope
	Operation    string
	ErrorCode    string
	ErrorMessage string
	Status       int
	// Facts about the connection, for condition keys.
	SourceIP        string
	SecureTransport bool
	UserAgent       string
	// AccessKeyID is the key named in the credential scope, known even
	// when the signature fails.
	AccessKeyID string

	// Authorized is set once the operation asked the policy evaluator and
	// was allowed, or declared that it needs no permission (authz).
	Authorized bool
	// Decisions explains each authorization decision taken while serving
	// the call, for the audit trail.
	Decisions []string
	// RequireAuthorization makes the codecs refuse to send the result of
	// an operation that succeeded without an authorization decision: a
	// domain that forgot to call authz fails closed.
	RequireAuthorization bool
}

type callKey struct{}

// WithCall returns ctx carrying c.
func WithCall(ctx context.Context, c *Call) context.Context {
	return context.WithValue(ctx, callKey{}, c)
}

// CallFrom returns the call in ctx, or a throwaway one.
func CallFrom(ctx context.Context) *Call {
	if c, ok := ctx.Value(callKey{}).(*Call); ok {
		return c
	}
	return &Call{}
}
