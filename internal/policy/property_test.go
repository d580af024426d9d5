package policy

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
)

// A random-policy generator over a small vocabulary, so that statements
// often apply to the random requests.
type gen struct{ r *rand.Rand }

func (g gen) pick(xs ...any) any { return xs[g.r.IntN(len(xs))] }

var (
	genActions   = []any{"s3:GetObject", "s3:*", "kms:Decrypt", "kms:*", "*", "kms:De*", "backup:CopyIntoBackupVault", "backup:*", "iam:Create?ser"}
	genResources = []any{"*", "arn:aws:kms:us-east-1:111122223333:key/k1", "arn:aws:kms:*:*:key/*", "arn:aws:s3:::b/*",
		"arn:aws:backup:us-east-1:444455556666:backup-vault:*", "arn:aws:s3:::b/${aws:username}/*"}
	genPrincipals = []any{"*", map[string]any{"AWS": "111122223333"}, map[string]any{"AWS": "arn:aws:iam::444455556666:root"},
		map[string]any{"AWS": "arn:aws:iam::111122223333:user/bob"}, map[string]any{"AWS": "arn:aws:iam::444455556666:role/R"},
		map[string]any{"AWS": "arn:aws:sts::444455556666:assumed-role/R/s1"}, map[string]any{"Service": "backup.amazonaws.com"},
		map[string]any{"AWS": []any{"111122223333", "444455556666"}}}
	genConditions = []any{
		nil,
		map[string]any{"StringEquals": map[string]any{"aws:PrincipalOrgID": "o-aaaaaaaaaa"}},
		map[string]any{"StringNotEquals": map[string]any{"aws:RequestedRegion": []any{"us-east-1", "eu-west-1"}}},
		map[string]any{"ForAllValues:StringEquals": map[string]any{"aws:TagKeys": []any{"a", "b"}}},
		map[string]any{"ForAnyValue:StringLike": map[string]any{"aws:TagKeys": "a*"}},
		map[string]any{"Null": map[string]any{"aws:TagKeys": "true"}},
		map[string]any{"BoolIfExists": map[string]any{"aws:SecureTransport": "true"}},
		map[string]any{"StringEquals": map[string]any{"aws:username": "${aws:PrincipalTag/name, 'bob'}"}},
		map[string]any{"ArnLike": map[string]any{"aws:PrincipalArn": "arn:aws:iam::*:role/*"}},
		map[string]any{"IpAddress": map[string]any{"aws:SourceIp": "10.0.0.0/8"}},
	}
	genRequestPrincipals = []Principal{
		bob, rootA, rootB, backupSvc, anonymous,
		{Type: PrincipalAssumedRole, Account: acctB, ARN: "arn:aws:sts::444455556666:assumed-role/R/s1", RoleARN: "arn:aws:iam::444455556666:role/R", OrgID: "o-aaaaaaaaaa"},
		{Type: PrincipalUser, Account: acctB, ARN: "arn:aws:iam::444455556666:user/eve", Tags: map[string]string{"name": "eve"}},
	}
	genReqActions   = []string{"s3:GetObject", "kms:Decrypt", "kms:Encrypt", "backup:CopyIntoBackupVault", "iam:CreateUser"}
	genReqResources = []string{"arn:aws:kms:us-east-1:111122223333:key/k1", "arn:aws:s3:::b/bob/x", "arn:aws:backup:us-east-1:444455556666:backup-vault:v", "arn:aws:kms:us-east-1:444455556666:key/k2"}
	genContexts     = []map[string][]string{
		nil,
		{"aws:RequestedRegion": {"us-east-1"}, "aws:SecureTransport": {"true"}},
		{"aws:RequestedRegion": {"ap-south-1"}, "aws:TagKeys": {"a", "c"}},
		{"aws:TagKeys": {"a"}, "aws:SourceIp": {"10.1.2.3"}, "aws:SecureTransport": {"false"}},
	}
)

func (g gen) statement(effect string, withPrincipal bool) map[string]any {
	s := map[string]any{"Effect": effect}
	if g.r.IntN(5) == 0 {
		s["NotAction"] = g.pick(genActions...)
	} else {
		s["Action"] = []any{g.pick(genActions...), g.pick(genActions...)}
	}
	if g.r.IntN(6) == 0 {
		s["NotResource"] = g.pick(genResources...)
	} else {
		s["Resource"] = g.pick(genResources...)
	}
	if withPrincipal {
		if g.r.IntN(8) == 0 {
			s["NotPrincipal"] = g.pick(genPrincipals[1:]...)
		} else {
			s["Principal"] = g.pick(genPrincipals...)
		}
	}
	if c := g.pick(genConditions...); c != nil {
		s["Condition"] = c
	}
	return s
}

func (g gen) policy(n int, withPrincipal bool) []map[string]any {
	var stmts []map[string]any
	for range n {
		eff := "Allow"
		if g.r.IntN(4) == 0 {
			eff = "Deny"
		}
		stmts = append(stmts, g.statement(eff, withPrincipal))
	}
	return stmts
}

// world is a PolicySet in its unparsed form, so statements can be added.
type world struct {
	identity [][]map[string]any
	resource [][]map[string]any
	guards   [][]map[string]any
	guardTyp []PolicyType
	kms      bool
}

func (g gen) world() world {
	var w world
	for range g.r.IntN(3) {
		w.identity = append(w.identity, g.policy(1+g.r.IntN(3), false))
	}
	if g.r.IntN(3) > 0 {
		w.resource = append(w.resource, g.policy(1+g.r.IntN(3), true))
	}
	if g.r.IntN(3) == 0 {
		w.guards = append(w.guards, g.policy(1+g.r.IntN(2), false))
		w.guardTyp = append(w.guardTyp, g.pick(ServiceControl, PermissionsBoundary, SessionPolicy).(PolicyType))
	}
	w.kms = g.r.IntN(3) == 0
	return w
}

func (w world) clone() world {
	c := w
	cp := func(ps [][]map[string]any) [][]map[string]any {
		out := make([][]map[string]any, len(ps))
		for i, p := range ps {
			out[i] = append([]map[string]any(nil), p...)
		}
		return out
	}
	c.identity, c.resource, c.guards = cp(w.identity), cp(w.resource), cp(w.guards)
	c.guardTyp = append([]PolicyType(nil), w.guardTyp...)
	return c
}

// add puts a statement of the given effect in a random place.
func (g gen) add(w world, effect string) world {
	w = w.clone()
	switch g.r.IntN(4) {
	case 0:
		w.identity = append(w.identity, []map[string]any{g.statement(effect, false)})
	case 1:
		if len(w.identity) > 0 {
			i := g.r.IntN(len(w.identity))
			w.identity[i] = append(w.identity[i], g.statement(effect, false))
			break
		}
		fallthrough
	case 2:
		if len(w.resource) == 0 {
			w.resource = append(w.resource, nil)
		}
		w.resource[0] = append(w.resource[0], g.statement(effect, true))
	case 3:
		if len(w.guards) > 0 {
			w.guards[0] = append(w.guards[0], g.statement(effect, false))
		} else {
			w.identity = append(w.identity, []map[string]any{g.statement(effect, false)})
		}
	}
	return w
}

func (w world) set(t *testing.T) PolicySet {
	t.Helper()
	parse := func(stmts []map[string]any, kind Kind) NamedPolicy {
		doc, err := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": stmts})
		if err != nil {
			t.Fatal(err)
		}
		p, err := Parse(doc, ParseOptions{Kind: kind})
		if err != nil {
			t.Fatalf("generated policy does not parse: %v\n%s", err, doc)
		}
		return NamedPolicy{Name: "p", Policy: p}
	}
	ps := PolicySet{ResourcePolicyRequired: w.kms}
	for _, p := range w.identity {
		ps.Identity = append(ps.Identity, parse(p, KindIdentity))
	}
	for _, p := range w.resource {
		ps.Resource = append(ps.Resource, parse(p, KindResource))
	}
	for i, p := range w.guards {
		ps.Guards = append(ps.Guards, Guard{Type: w.guardTyp[i], Policies: []NamedPolicy{parse(p, KindIdentity)}})
	}
	return ps
}

func (g gen) request() Request {
	return Request{
		Principal: genRequestPrincipals[g.r.IntN(len(genRequestPrincipals))],
		Action:    genReqActions[g.r.IntN(len(genReqActions))],
		Resource:  genReqResources[g.r.IntN(len(genReqResources))],
		Context:   genContexts[g.r.IntN(len(genContexts))],
	}
}

// TestPropertyMonotonic checks, for random policies and requests, that
// adding a Deny statement never turns a denial into an allow, and adding
// an Allow statement never turns an allow into a denial.
func TestPropertyMonotonic(t *testing.T) {
	g := gen{rand.New(rand.NewPCG(1, 2))}
	iterations := 4000
	if testing.Short() {
		iterations = 500
	}
	var allowed, denied int
	for i := range iterations {
		w := g.world()
		req := g.request()
		before := Evaluate(req, w.set(t))
		if before.IsAllowed() {
			allowed++
		} else {
			denied++
		}
		if (before.Message(req) == "") != before.IsAllowed() {
			t.Fatalf("iteration %d: Message %q for outcome %v", i, before.Message(req), before.Outcome)
		}

		wd := g.add(w, "Deny")
		if after := Evaluate(req, wd.set(t)); !before.IsAllowed() && after.IsAllowed() {
			t.Fatalf("iteration %d: adding a Deny allowed %+v\nbefore: %v\nafter: %v\nworld: %+v", i, req, before, after, wd)
		}
		wa := g.add(w, "Allow")
		if after := Evaluate(req, wa.set(t)); before.IsAllowed() && !after.IsAllowed() {
			t.Fatalf("iteration %d: adding an Allow denied %+v\nbefore: %v\nafter: %v\nworld: %+v", i, req, before, after, wa)
		}
	}
	// The generator must exercise both outcomes to mean anything.
	if allowed < iterations/20 || denied < iterations/20 {
		t.Errorf("generator is lopsided: %d allowed, %d denied", allowed, denied)
	}
	t.Logf("%d allowed, %d denied", allowed, denied)
}
