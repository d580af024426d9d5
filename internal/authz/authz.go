// Package authz is where every domain operation asks whether its caller
// may act: it gathers the caller's policies (through Subjects), the
// request's facts (source IP, TLS, region) and the resource's policy, runs
// the pure policy evaluator, and turns a denial into AWS's AccessDenied
// error in AWS's wording.
package authz

import (
	"context"
	"strconv"
	"time"

	"github.com/coffer-dev/coffer/internal/awserr"
	"github.com/coffer-dev/coffer/internal/identity"
	"github.com/coffer-dev/coffer/internal/policy"
	"github.com/coffer-dev/coffer/internal/reqctx"
)

// Subjects resolves a caller to what its policies say; the identity
// domain implements it.
type Subjects interface {
	Subject(ctx context.Context, p *identity.Principal) (identity.Subject, error)
}

var _ Subjects = (*identity.Service)(nil)

// Authorizer decides requests.
type Authorizer struct {
	subjects Subjects
	now      func() time.Time
}

// New returns an Authorizer.
func New(subjects Subjects) *Authorizer {
	return &Authorizer{subjects: subjects, now: time.Now}
}

// Request is one authorization question about the caller in the context.
type Request struct {
	Action   string // "kms:Decrypt"
	Resource string // the resource's ARN, or "*"
	// ResourceAccount is the account owning the resource; empty means
	// the account in the resource ARN.
	ResourceAccount string
	// ResourcePolicy is the resource's policy (key policy, vault access
	// policy), nil when it has none.
	ResourcePolicy *policy.Policy
	// Context holds the service's condition keys (kms:ViaService, ...).
	Context map[string][]string
	// ResourcePolicyRequired is KMS's rule: the key policy must allow,
	// directly or by delegating to the account.
	ResourcePolicyRequired bool
	// DeniedCode is the AWS error code of a denial: AccessDeniedException
	// (the default, JSON services) or AccessDenied (query services).
	DeniedCode string
}

// Decide evaluates req for the caller in ctx.
func (a *Authorizer) Decide(ctx context.Context, req Request) (policy.Decision, policy.Request, error) {
	caller := identity.Caller(ctx)
	if caller == nil {
		return policy.Decision{}, policy.Request{}, awserr.New(awserr.Unauthenticated, "MissingAuthenticationToken", "Request is missing Authentication Token")
	}
	sub, err := a.subjects.Subject(ctx, caller)
	if err != nil {
		return policy.Decision{}, policy.Request{}, err
	}
	pr := policy.Request{
		Principal:       sub.Principal,
		Action:          req.Action,
		Resource:        req.Resource,
		ResourceAccount: req.ResourceAccount,
		Context:         requestContext(ctx, req.Context),
		Now:             a.now(),
	}
	set := policy.PolicySet{Identity: sub.Identity, Guards: sub.Guards, ResourcePolicyRequired: req.ResourcePolicyRequired}
	if req.ResourcePolicy != nil {
		set.Resource = []policy.NamedPolicy{{Name: "resource policy", Policy: req.ResourcePolicy}}
	}
	return policy.Evaluate(pr, set), pr, nil
}

// Authorize returns nil when the caller may act, else an AccessDenied
// error whose message says why in AWS's words.
func (a *Authorizer) Authorize(ctx context.Context, req Request) error {
	d, pr, err := a.Decide(ctx, req)
	if err != nil {
		return err
	}
	if d.IsAllowed() {
		return nil
	}
	code := req.DeniedCode
	if code == "" {
		code = "AccessDeniedException"
	}
	return awserr.New(awserr.Denied, code, "%s", d.Message(pr))
}

// requestContext adds the facts of the HTTP request to the service's keys.
func requestContext(ctx context.Context, service map[string][]string) map[string][]string {
	out := make(map[string][]string, len(service)+3)
	for k, v := range service {
		out[k] = v
	}
	call := reqctx.CallFrom(ctx)
	if call.SourceIP != "" {
		out[policy.KeySourceIP] = []string{call.SourceIP}
	}
	if call.Region != "" {
		out[policy.KeyRequestedRegion] = []string{call.Region}
	}
	out[policy.KeySecureTransport] = []string{strconv.FormatBool(call.SecureTransport)}
	return out
}
