package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Policy language versions.
const (
	Version2012 = "2012-10-17" // current; policy variables are substituted
	Version2008 = "2008-10-17" // legacy; ${...} is literal text
)

// Size limits that AWS applies, in characters. IAM does not count
// whitespace; KMS counts every byte of a key policy.
const (
	MaxUserInlineSize  = 2048
	MaxRoleInlineSize  = 10240
	MaxGroupInlineSize = 5120
	MaxManagedSize     = 6144
	MaxTrustSize       = 2048 // default quota for role trust policies
	MaxKeyPolicySize   = 32768
)

// Kind says where a policy is attached, which decides whether it must or
// must not name principals.
type Kind int

const (
	// KindAny accepts Principal and NotPrincipal but does not require them.
	KindAny Kind = iota
	// KindIdentity is attached to a user, role or group: no Principal,
	// Resource or NotResource required.
	KindIdentity
	// KindResource is attached to a resource (key policy, vault access
	// policy): Principal or NotPrincipal required, Resource optional.
	KindResource
	// KindTrust is a role's assume-role policy: Principal or NotPrincipal
	// required, no Resource, only sts actions.
	KindTrust
)

func (k Kind) String() string {
	switch k {
	case KindIdentity:
		return "identity"
	case KindResource:
		return "resource"
	case KindTrust:
		return "trust"
	}
	return "any"
}

// ParseOptions select the checks Parse applies.
type ParseOptions struct {
	Kind Kind
	// MaxSize is the maximum document size in characters; 0 means no limit.
	MaxSize int
	// CountWhitespace counts whitespace towards MaxSize (KMS key policies).
	// IAM does not.
	CountWhitespace bool
}

// ErrTooLarge is wrapped by the ValidationError of a document over MaxSize,
// so callers can answer LimitExceeded where AWS does.
var ErrTooLarge = errors.New("policy document too large")

// ValidationError is a policy that does not parse or validate. Message
// follows the wording of AWS's MalformedPolicyDocument messages.
type ValidationError struct {
	Message string
	err     error
}

func (e *ValidationError) Error() string { return e.Message }
func (e *ValidationError) Unwrap() error { return e.err }

func invalid(format string, args ...any) *ValidationError {
	return &ValidationError{Message: fmt.Sprintf(format, args...)}
}

// Effect is Allow or Deny.
type Effect string

const (
	Allow Effect = "Allow"
	Deny  Effect = "Deny"
)

// Policy is a parsed, validated policy document. It is immutable and safe
// for concurrent use.
type Policy struct {
	Version    string // "" when the document has none (legacy behaviour)
	ID         string
	Statements []*Statement
}

// Statement is one statement of a policy.
type Statement struct {
	Index  int    // position in the document, from 0
	Sid    string // "" when absent
	Effect Effect

	// Principal and NotPrincipal: at most one is set.
	Principal    *Principals
	NotPrincipal *Principals

	Actions   []string // as written
	NotAction bool

	Resources   []string // as written; nil when absent
	NotResource bool

	Conditions []*Condition

	actions   []pattern  // lower-cased
	resources []template // nil when Resource and NotResource are absent
}

// Principals is the value of a Principal or NotPrincipal element.
type Principals struct {
	All     bool     // "*" or {"AWS": "*"}
	AWS     []string // account IDs normalised to arn:aws:iam::ID:root
	Service []string // e.g. backup.amazonaws.com
}

// Ref names the statement in explanations: its Sid or its index.
func (s *Statement) Ref() string {
	if s.Sid != "" {
		return strconv.Quote(s.Sid)
	}
	return "#" + strconv.Itoa(s.Index)
}

// MustParse is Parse with default options that panics on error; for
// policies that are constants in the program and for tests.
func MustParse(doc string) *Policy {
	p, err := Parse([]byte(doc), ParseOptions{})
	if err != nil {
		panic(fmt.Sprintf("policy.MustParse: %v", err))
	}
	return p
}

// Parse parses and validates a policy document. Every error it returns is
// a *ValidationError.
func Parse(doc []byte, opts ParseOptions) (*Policy, error) {
	if opts.MaxSize > 0 && docSize(doc, opts.CountWhitespace) > opts.MaxSize {
		return nil, &ValidationError{
			Message: fmt.Sprintf("Policy document length breaks maximum length of %d characters", opts.MaxSize),
			err:     ErrTooLarge,
		}
	}
	if len(bytes.TrimSpace(doc)) == 0 {
		return nil, invalid("Policy document is empty")
	}
	var top map[string]json.RawMessage
	if err := unmarshal(doc, &top); err != nil || top == nil {
		return nil, invalid("Syntax errors in policy.")
	}
	p := &Policy{}
	for k := range top {
		switch k {
		case "Version", "Id", "Statement":
		default:
			return nil, invalid("Policy document has unknown field %s", k)
		}
	}
	if raw, ok := top["Version"]; ok {
		if err := unmarshal(raw, &p.Version); err != nil {
			return nil, invalid("Version must be a string")
		}
		if p.Version != Version2012 && p.Version != Version2008 {
			return nil, invalid("Policy has invalid Version: %s; use %q", p.Version, Version2012)
		}
	}
	if raw, ok := top["Id"]; ok {
		if err := unmarshal(raw, &p.ID); err != nil {
			return nil, invalid("Id must be a string")
		}
	}
	raw, ok := top["Statement"]
	if !ok {
		return nil, invalid("Missing required field Statement")
	}
	var stmts []json.RawMessage
	if t := bytes.TrimSpace(raw); len(t) > 0 && t[0] == '{' {
		stmts = []json.RawMessage{raw}
	} else if err := unmarshal(raw, &stmts); err != nil || stmts == nil {
		return nil, invalid("Statement must be an object or an array of objects")
	}
	sids := map[string]bool{}
	for i, r := range stmts {
		s, err := parseStatement(r, i, p.Version == Version2012, opts.Kind)
		if err != nil {
			return nil, err
		}
		if s.Sid != "" {
			if sids[s.Sid] {
				return nil, invalid("Statement IDs (SID) in a single policy must be unique: %q appears twice", s.Sid)
			}
			sids[s.Sid] = true
		}
		p.Statements = append(p.Statements, s)
	}
	return p, nil
}

func docSize(doc []byte, countWhitespace bool) int {
	if countWhitespace {
		return len(doc)
	}
	n := 0
	for _, r := range string(doc) {
		switch r {
		case ' ', '\t', '\n', '\r':
		default:
			n++
		}
	}
	return n
}

func unmarshal(data []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errors.New("trailing data")
	}
	// Decode stops after one value; anything but whitespace after it is an error.
	if _, err := d.Token(); err == nil {
		return errors.New("trailing data")
	}
	return nil
}

var (
	sidIAM        = regexp.MustCompile(`^[A-Za-z0-9]*$`)
	actionRE      = regexp.MustCompile(`^[A-Za-z0-9-]+:[A-Za-z0-9*?]+$`)
	accountIDRE   = regexp.MustCompile(`^[0-9]{12}$`)
	principalARN  = regexp.MustCompile(`^arn:aws(-cn|-us-gov|-iso|-iso-b)?:(iam|sts)::[0-9]{12}:(root|user/.+|role/.+|assumed-role/[^/]+/[^/]+|federated-user/.+)$`)
	servicePrinRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]*\.[a-z0-9.-]*[a-z0-9]$`)
)

func parseStatement(raw json.RawMessage, index int, vars bool, kind Kind) (*Statement, error) {
	var m map[string]json.RawMessage
	if err := unmarshal(raw, &m); err != nil || m == nil {
		return nil, invalid("Statement must be an object or an array of objects")
	}
	s := &Statement{Index: index}
	for k := range m {
		switch k {
		case "Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction",
			"Resource", "NotResource", "Condition":
		default:
			return nil, invalid("Statement has unknown field %s", k)
		}
	}
	if r, ok := m["Sid"]; ok {
		if err := unmarshal(r, &s.Sid); err != nil {
			return nil, invalid("Sid must be a string")
		}
		if (kind == KindIdentity || kind == KindTrust) && !sidIAM.MatchString(s.Sid) {
			return nil, invalid("Statement IDs (SID) must be alpha-numeric: %q", s.Sid)
		}
	}

	r, ok := m["Effect"]
	if !ok {
		return nil, invalid("Missing required field Effect")
	}
	var eff string
	if err := unmarshal(r, &eff); err != nil {
		return nil, invalid("Effect must be a string")
	}
	switch Effect(eff) {
	case Allow, Deny:
		s.Effect = Effect(eff)
	default:
		return nil, invalid("Invalid effect: %s", eff)
	}

	// Principal / NotPrincipal.
	_, hasP := m["Principal"]
	_, hasNP := m["NotPrincipal"]
	switch {
	case hasP && hasNP:
		return nil, invalid("Statement cannot contain both Principal and NotPrincipal")
	case (hasP || hasNP) && kind == KindIdentity:
		return nil, invalid("Policy document should not specify a principal.")
	case !hasP && !hasNP && (kind == KindResource || kind == KindTrust):
		return nil, invalid("Missing required field Principal")
	}
	var err error
	if hasP {
		if s.Principal, err = parsePrincipals(m["Principal"]); err != nil {
			return nil, err
		}
	}
	if hasNP {
		if s.NotPrincipal, err = parsePrincipals(m["NotPrincipal"]); err != nil {
			return nil, err
		}
	}

	// Action / NotAction.
	ra, hasA := m["Action"]
	rna, hasNA := m["NotAction"]
	switch {
	case hasA && hasNA:
		return nil, invalid("Statement cannot contain both Action and NotAction")
	case !hasA && !hasNA:
		return nil, invalid("Policy statement must contain actions.")
	}
	field := "Action"
	if hasNA {
		ra, s.NotAction, field = rna, true, "NotAction"
	}
	if s.Actions, err = stringOrList(ra, field); err != nil {
		return nil, err
	}
	for _, a := range s.Actions {
		if a != "*" && !actionRE.MatchString(a) {
			if !strings.Contains(a, ":") {
				return nil, invalid("Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.: %q", a)
			}
			return nil, invalid("Policy has invalid action: %q", a)
		}
		if kind == KindTrust && !strings.HasPrefix(strings.ToLower(a), "sts:") {
			return nil, invalid("AssumeRole policy may only specify STS AssumeRole actions.")
		}
		s.actions = append(s.actions, globPattern(strings.ToLower(a)))
	}

	// Resource / NotResource.
	rr, hasR := m["Resource"]
	rnr, hasNR := m["NotResource"]
	switch {
	case hasR && hasNR:
		return nil, invalid("Statement cannot contain both Resource and NotResource")
	case (hasR || hasNR) && kind == KindTrust:
		field := "Resource"
		if hasNR {
			field = "NotResource"
		}
		return nil, invalid("Has prohibited field %s", field)
	case !hasR && !hasNR && kind == KindIdentity:
		return nil, invalid("Policy statement must contain resources.")
	}
	if hasR || hasNR {
		field := "Resource"
		if hasNR {
			rr, s.NotResource, field = rnr, true, "NotResource"
		}
		if s.Resources, err = stringOrList(rr, field); err != nil {
			return nil, err
		}
		for _, res := range s.Resources {
			if res != "*" && !validResource(res) {
				return nil, invalid("Resource %s must be in ARN format or \"*\".", res)
			}
			if vars {
				s.resources = append(s.resources, parseTemplate(res))
			} else {
				s.resources = append(s.resources, literalTemplate(res))
			}
		}
	}

	if rc, ok := m["Condition"]; ok {
		if s.Conditions, err = parseConditions(rc, vars); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func validResource(r string) bool {
	if !strings.HasPrefix(r, "arn:") {
		return false
	}
	if strings.Count(r, ":") >= 5 {
		return true
	}
	// "arn:aws:s3:::*"-style patterns always have five colons; allow a
	// shorter ARN only when a wildcard stands for the rest.
	return strings.Contains(r, "*")
}

// stringOrList decodes a JSON string or a non-empty array of strings.
func stringOrList(raw json.RawMessage, field string) ([]string, error) {
	var one string
	if err := unmarshal(raw, &one); err == nil {
		return []string{one}, nil
	}
	var list []string
	if err := unmarshal(raw, &list); err != nil {
		return nil, invalid("%s must be a string or an array of strings", field)
	}
	if len(list) == 0 {
		return nil, invalid("%s must not be an empty array", field)
	}
	return list, nil
}

func parsePrincipals(raw json.RawMessage) (*Principals, error) {
	var star string
	if err := unmarshal(raw, &star); err == nil {
		if star == "*" {
			return &Principals{All: true}, nil
		}
		return nil, invalid("Invalid principal in policy: %q", star)
	}
	var m map[string]json.RawMessage
	if err := unmarshal(raw, &m); err != nil || len(m) == 0 {
		return nil, invalid("Invalid principal in policy: %s", compact(raw))
	}
	p := &Principals{}
	for _, typ := range slices.Sorted(maps.Keys(m)) {
		vals, err := stringOrList(m[typ], "Principal")
		if err != nil {
			return nil, invalid("Invalid principal in policy: %q:%s", typ, compact(m[typ]))
		}
		switch typ {
		case "AWS":
			for _, v := range vals {
				switch {
				case v == "*":
					p.All = true
				case accountIDRE.MatchString(v):
					p.AWS = append(p.AWS, "arn:aws:iam::"+v+":root")
				case principalARN.MatchString(v) && !strings.ContainsAny(v, "*?"):
					p.AWS = append(p.AWS, v)
				default:
					return nil, invalid("Invalid principal in policy: \"AWS\":%q", v)
				}
			}
		case "Service":
			for _, v := range vals {
				if !servicePrinRE.MatchString(v) {
					return nil, invalid("Invalid principal in policy: \"Service\":%q", v)
				}
				p.Service = append(p.Service, v)
			}
		case "Federated", "CanonicalUser":
			return nil, invalid("Unsupported principal type in policy: %q; coffer supports \"AWS\" and \"Service\" principals", typ)
		default:
			return nil, invalid("Invalid principal in policy: %q:%s", typ, compact(m[typ]))
		}
	}
	return p, nil
}

func compact(raw json.RawMessage) string {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}

// PrincipalARNs returns the distinct AWS principals that the policy names
// in Principal and NotPrincipal elements, as ARNs (account IDs become
// arn:aws:iam::ID:root), sorted. "*" is not included. The identity service
// uses it to reject policies that name principals that do not exist, as
// IAM does.
func (p *Policy) PrincipalARNs() []string {
	var out []string
	for _, s := range p.Statements {
		for _, ps := range []*Principals{s.Principal, s.NotPrincipal} {
			if ps != nil {
				out = append(out, ps.AWS...)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// ServicePrincipals returns the distinct service principals the policy
// names, sorted.
func (p *Policy) ServicePrincipals() []string {
	var out []string
	for _, s := range p.Statements {
		for _, ps := range []*Principals{s.Principal, s.NotPrincipal} {
			if ps != nil {
				out = append(out, ps.Service...)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
