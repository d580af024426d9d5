package policy

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// PrincipalType is the kind of caller. The strings are the values of the
// aws:PrincipalType condition key where AWS defines one.
type PrincipalType string

const (
	PrincipalAccount     PrincipalType = "Account"     // the account root user
	PrincipalUser        PrincipalType = "User"        // an IAM user
	PrincipalAssumedRole PrincipalType = "AssumedRole" // a role session
	PrincipalService     PrincipalType = "Service"     // a service principal, e.g. backup.amazonaws.com
	PrincipalAnonymous   PrincipalType = "Anonymous"   // unauthenticated; also the zero value
)

// Principal is the authenticated caller.
type Principal struct {
	Type    PrincipalType
	Account string // 12-digit account ID; "" for services and anonymous callers
	// ARN is the caller's own ARN: arn:aws:iam::A:root, arn:aws:iam::A:user/path/name
	// or arn:aws:sts::A:assumed-role/ROLE/SESSION.
	ARN string
	// RoleARN is, for a role session, the role's ARN with its path
	// (arn:aws:iam::A:role/path/ROLE): policies naming the role match all
	// its sessions, and aws:PrincipalArn is the role's ARN.
	RoleARN  string
	Service  string            // for PrincipalService: e.g. backup.amazonaws.com
	UserID   string            // aws:userid: AIDA..., AROA...:session, or the account ID for root
	OrgID    string            // aws:PrincipalOrgID, "" outside an organization
	OrgPaths []string          // aws:PrincipalOrgPaths, e.g. o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/
	Tags     map[string]string // aws:PrincipalTag/*: the user's or role's (and session's) tags
}

func (p Principal) kind() PrincipalType {
	switch p.Type {
	case PrincipalAccount, PrincipalUser, PrincipalAssumedRole, PrincipalService:
		return p.Type
	}
	return PrincipalAnonymous
}

// display is how AWS names the caller in an AccessDenied message.
func (p Principal) display() string {
	switch p.kind() {
	case PrincipalService:
		return p.Service
	case PrincipalAnonymous:
		return "anonymous"
	}
	return p.ARN
}

// Request is one authorization question: may Principal perform Action on
// Resource?
type Request struct {
	Principal Principal
	Action    string // "kms:Decrypt"; matched case-insensitively
	Resource  string // the resource's ARN, or "*" for actions without one
	// ResourceAccount owns the resource. When "" it is taken from the
	// resource ARN; when that has none either, the resource is treated as
	// belonging to the caller's account.
	ResourceAccount string
	// Context holds the condition keys of the request: global keys (see
	// keys.go) and service keys such as kms:EncryptionContext:purpose.
	// Keys are case-insensitive; a key can have several values.
	Context map[string][]string
	// Now sets aws:CurrentTime and aws:EpochTime unless Context does.
	Now time.Time
}

// PolicyType is the kind of policy a statement came from.
type PolicyType int

const (
	IdentityBased       PolicyType = iota // attached to the user or role
	ResourceBased                         // attached to the resource (key policy, vault policy, trust policy)
	ServiceControl                        // SCP: the principal's organization
	ResourceControl                       // RCP: the resource's organization
	PermissionsBoundary                   // the user's or role's permissions boundary
	SessionPolicy                         // passed when the role session was created
)

// phrase is how AWS's AccessDenied messages name the policy type.
func (t PolicyType) phrase() (article, name string) {
	switch t {
	case IdentityBased:
		return "an", "identity-based policy"
	case ResourceBased:
		return "a", "resource-based policy"
	case ServiceControl:
		return "a", "service control policy"
	case ResourceControl:
		return "a", "resource control policy"
	case PermissionsBoundary:
		return "a", "permissions boundary"
	case SessionPolicy:
		return "a", "session policy"
	}
	return "a", "policy"
}

func (t PolicyType) String() string { _, n := t.phrase(); return n }

// NamedPolicy is a policy with a name for explanations (a policy ARN,
// "user/bob/inline-name", "key-policy", ...).
type NamedPolicy struct {
	Name   string
	Policy *Policy
}

// Guard is a set of policies that limits the principal's permissions
// without granting any: the request must be allowed by at least one of
// Policies, and a Deny in any of them denies. A service control policy
// guard is one level of the organization (root, each OU, the account: pass
// one Guard per level, since each level must allow); a permissions
// boundary or session policy guard usually holds one policy.
type Guard struct {
	Type     PolicyType // ServiceControl, ResourceControl, PermissionsBoundary or SessionPolicy
	Policies []NamedPolicy
}

// PolicySet is every policy that applies to a request.
type PolicySet struct {
	Identity []NamedPolicy // the principal's identity-based policies (a role session: the role's)
	Resource []NamedPolicy // the resource's policy (key policy, vault access policy, trust policy)
	Guards   []Guard
	// ResourcePolicyRequired is KMS's rule: even in the same account the
	// resource policy must allow, either naming the principal (then it
	// suffices) or the account (then an identity-based policy must allow
	// too). The account root user is not exempt.
	ResourcePolicyRequired bool
}

// Outcome is the result of an evaluation.
type Outcome int

const (
	ImplicitDeny Outcome = iota // no applicable policy allows
	ExplicitDeny                // a Deny statement applies
	Allowed
)

func (o Outcome) String() string {
	switch o {
	case Allowed:
		return "Allowed"
	case ExplicitDeny:
		return "ExplicitDeny"
	}
	return "ImplicitDeny"
}

// StatementRef names a statement that took part in a decision.
type StatementRef struct {
	Type   PolicyType
	Policy string // NamedPolicy.Name
	Sid    string
	Index  int
	Effect Effect
}

func (r StatementRef) String() string {
	st := "#" + strconv.Itoa(r.Index)
	if r.Sid != "" {
		st = strconv.Quote(r.Sid)
	}
	return fmt.Sprintf("%s %q statement %s", r.Type, r.Policy, st)
}

// Decision is the answer with its explanation.
type Decision struct {
	Outcome Outcome
	// Type is, for a denial, the kind of policy whose Deny statement or
	// missing Allow decided it.
	Type PolicyType
	// Statements: for Allowed, the statements that allowed (identity-based
	// and/or resource-based, and the guards'); for ExplicitDeny, the Deny
	// statement; empty for ImplicitDeny.
	Statements []StatementRef
	// RootUser is set when the account root user was allowed without an
	// identity-based policy.
	RootUser bool
}

// IsAllowed reports whether the request is allowed.
func (d Decision) IsAllowed() bool { return d.Outcome == Allowed }

// Message renders AWS's AccessDenied message for a denial, e.g.
//
//	User: arn:aws:iam::111122223333:user/bob is not authorized to perform: kms:Decrypt on resource: arn:aws:kms:us-east-1:444455556666:key/1234 because no resource-based policy allows the kms:Decrypt action
//
// It returns "" for an allowed request.
func (d Decision) Message(req Request) string {
	if d.Outcome == Allowed {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "User: %s is not authorized to perform: %s", req.Principal.display(), req.Action)
	if req.Resource != "" {
		fmt.Fprintf(&b, " on resource: %s", req.Resource)
	}
	article, name := d.Type.phrase()
	if d.Outcome == ExplicitDeny {
		fmt.Fprintf(&b, " with an explicit deny in %s %s", article, name)
	} else {
		fmt.Fprintf(&b, " because no %s allows the %s action", name, req.Action)
	}
	return b.String()
}

// String explains the decision for logs and audit records.
func (d Decision) String() string {
	switch d.Outcome {
	case Allowed:
		parts := make([]string, 0, len(d.Statements)+1)
		if d.RootUser {
			parts = append(parts, "account root user")
		}
		for _, s := range d.Statements {
			parts = append(parts, s.String())
		}
		return "allowed by " + strings.Join(parts, ", ")
	case ExplicitDeny:
		if len(d.Statements) > 0 {
			return "explicitly denied by " + d.Statements[0].String()
		}
		return "explicitly denied by " + d.Type.String()
	}
	return "implicitly denied: no " + d.Type.String() + " allows the request"
}

// matchLevel is how specifically a statement's Principal names the caller.
type matchLevel int

const (
	levelNone    matchLevel = iota
	levelAccount            // only through the account (ID or :root ARN): delegates to IAM
	levelDirect             // "*", the role ARN, a service, or NotPrincipal
	levelExact              // the user ARN or the role session ARN itself
)

// Evaluate decides req against the policies with AWS's policy evaluation
// logic; see doc.go for the algorithm.
func Evaluate(req Request, ps PolicySet) Decision {
	ctx := newEvalContext(req)
	ev := evaluator{req: req, ctx: ctx, action: strings.ToLower(req.Action), ids: identities(req.Principal)}

	ident := ev.scan(ps.Identity, IdentityBased)
	res := ev.scan(ps.Resource, ResourceBased)
	guards := make([]scanResult, len(ps.Guards))
	for i, g := range ps.Guards {
		guards[i] = ev.scan(g.Policies, g.Type)
	}

	// 1. An explicit Deny in any applicable policy wins.
	for _, r := range append([]scanResult{ident, res}, guards...) {
		if r.deny != nil {
			return Decision{Outcome: ExplicitDeny, Type: r.deny.Type, Statements: []StatementRef{*r.deny}}
		}
	}

	// 2. Organization guards (SCPs, RCPs): every level must allow.
	var guardAllows []StatementRef
	for i, g := range ps.Guards {
		if g.Type != ServiceControl && g.Type != ResourceControl {
			continue
		}
		if len(guards[i].allows) == 0 {
			return Decision{Outcome: ImplicitDeny, Type: g.Type}
		}
		guardAllows = append(guardAllows, guards[i].allows[0])
	}

	// 3. Resource-based and identity-based policies.
	p := req.Principal
	kind := p.kind()
	root := kind == PrincipalAccount
	identityAllows := len(ident.allows) > 0 || root
	sameAccount := false
	if kind != PrincipalService && kind != PrincipalAnonymous {
		acct := req.ResourceAccount
		if acct == "" {
			if parts, ok := splitARN(req.Resource); ok {
				acct = parts[4]
			}
		}
		sameAccount = acct == "" || acct == p.Account
	}

	d := Decision{Outcome: Allowed}
	useIdentity := func() {
		if len(ident.allows) > 0 {
			d.Statements = append(d.Statements, ident.allows...)
		} else {
			d.RootUser = root
		}
	}
	viaResourceExact := false
	switch {
	case kind == PrincipalService || kind == PrincipalAnonymous:
		if res.level < levelDirect {
			return Decision{Outcome: ImplicitDeny, Type: ResourceBased}
		}
		d.Statements = append(d.Statements, res.allows...)
	case sameAccount && !ps.ResourcePolicyRequired:
		switch {
		case res.level >= levelDirect:
			d.Statements = append(d.Statements, res.allows...)
			viaResourceExact = res.level == levelExact
		case identityAllows:
			useIdentity()
		default:
			return Decision{Outcome: ImplicitDeny, Type: IdentityBased}
		}
	default: // cross-account, or KMS-style same account
		switch {
		case res.level == levelNone:
			return Decision{Outcome: ImplicitDeny, Type: ResourceBased}
		case res.level >= levelDirect && sameAccount:
			d.Statements = append(d.Statements, res.allows...)
			viaResourceExact = res.level == levelExact
		case !identityAllows:
			return Decision{Outcome: ImplicitDeny, Type: IdentityBased}
		default:
			useIdentity()
			d.Statements = append(d.Statements, res.allows...)
		}
	}

	// 4. Permissions boundaries and session policies limit what identity-
	// based policies and resource-based policies naming the role grant; a
	// resource-based policy naming the user or the session itself, in the
	// same account, is not limited by them.
	for i, g := range ps.Guards {
		if g.Type != PermissionsBoundary && g.Type != SessionPolicy {
			continue
		}
		if viaResourceExact {
			continue
		}
		if len(guards[i].allows) == 0 {
			return Decision{Outcome: ImplicitDeny, Type: g.Type}
		}
		guardAllows = append(guardAllows, guards[i].allows[0])
	}
	d.Statements = append(d.Statements, guardAllows...)
	return d
}

type evaluator struct {
	req    Request
	ctx    evalContext
	action string
	ids    []identity
}

type scanResult struct {
	deny   *StatementRef
	allows []StatementRef
	level  matchLevel // best principal match among allows
}

func (ev *evaluator) scan(pols []NamedPolicy, typ PolicyType) scanResult {
	var r scanResult
	for _, np := range pols {
		if np.Policy == nil {
			continue
		}
		for _, s := range np.Policy.Statements {
			lvl := ev.applies(s)
			if lvl == levelNone {
				continue
			}
			ref := StatementRef{Type: typ, Policy: np.Name, Sid: s.Sid, Index: s.Index, Effect: s.Effect}
			if s.Effect == Deny {
				if r.deny == nil {
					r.deny = &ref
				}
				continue
			}
			r.allows = append(r.allows, ref)
			r.level = max(r.level, lvl)
		}
	}
	return r
}

// applies reports whether statement s applies to the request, and how
// specifically its Principal names the caller.
func (ev *evaluator) applies(s *Statement) matchLevel {
	lvl := levelDirect
	switch {
	case s.Principal != nil:
		lvl = ev.principalLevel(s.Principal)
	case s.NotPrincipal != nil:
		if !ev.notPrincipalApplies(s.NotPrincipal) {
			lvl = levelNone
		}
	}
	if lvl == levelNone || !ev.actionMatches(s) || !ev.resourceMatches(s) {
		return levelNone
	}
	for _, c := range s.Conditions {
		if !c.eval(ev.ctx) {
			return levelNone
		}
	}
	return lvl
}

func (ev *evaluator) actionMatches(s *Statement) bool {
	m := false
	for _, p := range s.actions {
		if p.match(ev.action) {
			m = true
			break
		}
	}
	return m != s.NotAction
}

func (ev *evaluator) resourceMatches(s *Statement) bool {
	if s.resources == nil {
		return true // a resource or trust policy without Resource: the attached resource
	}
	m := false
	for _, t := range s.resources {
		if p, ok := t.resolve(ev.ctx, true); ok && matchARN(p, ev.req.Resource, true) {
			m = true
			break
		}
	}
	return m != s.NotResource
}

// identity is one of the names a caller is known by.
type identity struct {
	arn   string
	level matchLevel
}

// identities lists the ARNs that a Principal element can name to match p:
// its account, its role (for a session) and its own ARN.
func identities(p Principal) []identity {
	var ids []identity
	switch p.kind() {
	case PrincipalAccount:
		ids = append(ids, identity{rootARN(p), levelAccount})
	case PrincipalUser:
		ids = append(ids, identity{rootARN(p), levelAccount}, identity{p.ARN, levelExact})
	case PrincipalAssumedRole:
		ids = append(ids, identity{rootARN(p), levelAccount})
		if p.RoleARN != "" {
			ids = append(ids, identity{p.RoleARN, levelDirect})
		}
		ids = append(ids, identity{p.ARN, levelExact})
	}
	return ids
}

func rootARN(p Principal) string {
	partition := "aws"
	if parts, ok := splitARN(p.ARN); ok && parts[1] != "" {
		partition = parts[1]
	}
	return "arn:" + partition + ":iam::" + p.Account + ":root"
}

func (ev *evaluator) principalLevel(ps *Principals) matchLevel {
	if ps.All {
		return levelDirect
	}
	p := ev.req.Principal
	if p.kind() == PrincipalService {
		if slices.Contains(ps.Service, p.Service) {
			return levelDirect
		}
		return levelNone
	}
	best := levelNone
	for _, id := range ev.ids {
		if id.arn != "" && slices.Contains(ps.AWS, id.arn) {
			best = max(best, id.level)
		}
	}
	return best
}

// notPrincipalApplies: a NotPrincipal statement applies unless every name
// the caller is known by is listed, which is why AWS's examples list the
// session, the role and the account together.
func (ev *evaluator) notPrincipalApplies(ps *Principals) bool {
	if ps.All {
		return false
	}
	p := ev.req.Principal
	switch p.kind() {
	case PrincipalService:
		return !slices.Contains(ps.Service, p.Service)
	case PrincipalAnonymous:
		return true
	}
	for _, id := range ev.ids {
		if !slices.Contains(ps.AWS, id.arn) {
			return true
		}
	}
	return false
}

// evalContext is the request context with lower-cased keys.
type evalContext map[string][]string

func (c evalContext) get(lowerKey string) []string { return c[lowerKey] }

func newEvalContext(req Request) evalContext {
	ctx := make(evalContext, len(req.Context)+16)
	for k, v := range req.Context {
		lk := strings.ToLower(k)
		ctx[lk] = append(ctx[lk], v...)
	}
	def := func(key string, vals ...string) {
		lk := strings.ToLower(key)
		if _, ok := ctx[lk]; ok {
			return
		}
		var nonEmpty []string
		for _, v := range vals {
			if v != "" {
				nonEmpty = append(nonEmpty, v)
			}
		}
		if len(nonEmpty) > 0 {
			ctx[lk] = nonEmpty
		}
	}
	p := req.Principal
	switch p.kind() {
	case PrincipalService:
		def(KeyPrincipalIsAWSService, "true")
		def(KeyPrincipalServiceName, p.Service)
	case PrincipalAnonymous:
		def(KeyPrincipalType, string(PrincipalAnonymous))
		def(KeyPrincipalIsAWSService, "false")
	default:
		def(KeyPrincipalIsAWSService, "false")
		def(KeyPrincipalType, string(p.kind()))
		def(KeyPrincipalAccount, p.Account)
		arn := p.ARN
		if p.kind() == PrincipalAssumedRole && p.RoleARN != "" {
			arn = p.RoleARN
		}
		def(KeyPrincipalArn, arn)
		uid := p.UserID
		if uid == "" && p.kind() == PrincipalAccount {
			uid = p.Account
		}
		def(KeyUserID, uid)
		if p.kind() == PrincipalUser {
			if i := strings.LastIndexByte(p.ARN, '/'); i >= 0 {
				def(KeyUsername, p.ARN[i+1:])
			}
		}
		def(KeyPrincipalOrgID, p.OrgID)
		def(KeyPrincipalOrgPaths, p.OrgPaths...)
		for k, v := range p.Tags {
			def(KeyPrincipalTagPrefix+k, v)
		}
	}
	// aws:ResourceAccount: the owner given, else the account in the
	// resource's ARN.
	acct := req.ResourceAccount
	if acct == "" {
		if parts, ok := splitARN(req.Resource); ok {
			acct = parts[4]
		}
	}
	if acct != "" {
		def(KeyResourceAccount, acct)
	}
	if !req.Now.IsZero() {
		def(KeyCurrentTime, req.Now.UTC().Format(time.RFC3339))
		def(KeyEpochTime, strconv.FormatInt(req.Now.Unix(), 10))
	}
	return ctx
}
