// Package authz is where every domain operation asks whether its caller
// may act: it gathers the caller's policies (through Subjects, which the
// identity domain implements), the request's facts (source IP, TLS,
// region) and the resource's policy, runs the pure policy evaluator, and
// turns a denial into AWS's AccessDenied error in AWS's wording.
//
// Services bring their own condition keys (kms:ViaService,
// kms:EncryptionContext:*, backup:CopyTargets, ...) in Request.Context:
// that map is the extension point, merged with the global keys the
// evaluator derives from the caller and the request.
//
// Every decision is noted on the request's reqctx.Call: the audit trail
// records the explanation, and when the server requires authorization the
// codecs refuse to send the result of an operation that succeeded without
// one. Operations AWS lets every caller perform (sts:GetCallerIdentity)
// say so with NoPermissionRequired.
package authz

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/coffer-dev/coffer/internal/awserr"
	"github.com/coffer-dev/coffer/internal/policy"
	"github.com/coffer-dev/coffer/internal/reqctx"
)

// Subject is what authorization knows about a caller.
type Subject struct {
	Principal policy.Principal
	// Identity are the caller's identity-based policies (for a role
	// session, the role's).
	Identity []policy.NamedPolicy
	// Guards are the limits on top: SCPs, permissions boundaries,
	// session policies.
	Guards []policy.Guard
}

// Subjects resolves the caller in a context to what its policies say; the
// identity domain implements it. It returns an Unauthenticated
// *awserr.Error when the context has no caller.
type Subjects interface {
	Subject(ctx context.Context) (Subject, error)
}

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
	sub, err := a.subjects.Subject(ctx)
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
// error whose message says why in AWS's words. The decision and its
// explanation are noted on the request's reqctx.Call for the audit trail.
func (a *Authorizer) Authorize(ctx context.Context, req Request) error {
	d, pr, err := a.Decide(ctx, req)
	if err != nil {
		return err
	}
	call := reqctx.CallFrom(ctx)
	call.Decisions = append(call.Decisions, req.Action+" on "+req.Resource+": "+d.String())
	if d.IsAllowed() {
		call.Authorized = true
		return nil
	}
	return Denied(req.DeniedCode, d.Message(pr))
}

// Denied is an access-denied error with AWS's code and status: awsQuery
// services (IAM, STS, RDS) answer AccessDenied with HTTP 403, JSON
// services AccessDeniedException with 400.
func Denied(code, message string) *awserr.Error {
	if code == "" {
		code = "AccessDeniedException"
	}
	e := awserr.New(awserr.Denied, code, "%s", message)
	if code == "AccessDenied" {
		e.Status = http.StatusForbidden
	}
	return e
}

// NoPermissionRequired records that the operation in ctx is one AWS lets
// every authenticated caller perform (sts:GetCallerIdentity), so it needs
// no decision; why goes into the audit trail.
func NoPermissionRequired(ctx context.Context, why string) {
	call := reqctx.CallFrom(ctx)
	call.Authorized = true
	call.Decisions = append(call.Decisions, "no permission required: "+why)
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
