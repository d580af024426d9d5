package policy

import (
	"strings"
	"unicode/utf8"
)

// A pattern is a string in which '*' and '?' may be wildcards. Characters
// that come from a policy variable (or from ${*}, ${?}, ${$}) are always
// literal, so a pattern is a sequence of tokens rather than a string.
type pattern []ptok

type ptok struct {
	r    rune
	kind uint8 // tokLit, tokStar, tokQuest
}

const (
	tokLit uint8 = iota
	tokStar
	tokQuest
)

// literalPattern returns a pattern in which every character is literal.
func literalPattern(s string) pattern {
	p := make(pattern, 0, len(s))
	for _, r := range s {
		p = append(p, ptok{r: r})
	}
	return p
}

// globPattern returns a pattern in which '*' and '?' are wildcards.
func globPattern(s string) pattern {
	p := make(pattern, 0, len(s))
	for _, r := range s {
		switch r {
		case '*':
			p = append(p, ptok{r: r, kind: tokStar})
		case '?':
			p = append(p, ptok{r: r, kind: tokQuest})
		default:
			p = append(p, ptok{r: r})
		}
	}
	return p
}

func (p pattern) String() string {
	var b strings.Builder
	for _, t := range p {
		b.WriteRune(t.r)
	}
	return b.String()
}

func (p pattern) lower() pattern {
	q := make(pattern, len(p))
	for i, t := range p {
		q[i] = t
		if t.kind == tokLit {
			q[i].r = toLowerRune(t.r)
		}
	}
	return q
}

func toLowerRune(r rune) rune {
	if r < utf8.RuneSelf {
		if 'A' <= r && r <= 'Z' {
			r += 'a' - 'A'
		}
		return r
	}
	return []rune(strings.ToLower(string(r)))[0]
}

// isStarOnly reports whether p is exactly one '*' wildcard.
func (p pattern) isStarOnly() bool {
	return len(p) == 1 && p[0].kind == tokStar
}

// match reports whether s matches p: '*' matches any run of characters
// (including none), '?' exactly one character. Matching is case-sensitive;
// lower both sides for case-insensitive matching.
func (p pattern) match(s string) bool {
	return globRunes(p, []rune(s))
}

// globRunes is the classic linear-backtracking wildcard matcher: at most
// one pending '*' is remembered, so it runs in O(len(p)*len(s)) worst case.
func globRunes(p pattern, s []rune) bool {
	pi, si := 0, 0
	starP, starS := -1, 0
	for si < len(s) {
		if pi < len(p) {
			t := p[pi]
			switch {
			case t.kind == tokStar:
				starP, starS = pi, si
				pi++
				continue
			case t.kind == tokQuest || t.r == s[si]:
				pi++
				si++
				continue
			}
		}
		if starP < 0 {
			return false
		}
		pi = starP + 1
		starS++
		si = starS
	}
	for pi < len(p) && p[pi].kind == tokStar {
		pi++
	}
	return pi == len(p)
}

// splitARN splits an ARN into its six colon-separated components; the last
// one (the resource) keeps any further colons. ok is false when s has fewer
// than six components or does not start with "arn:".
func splitARN(s string) (parts [6]string, ok bool) {
	fs := strings.SplitN(s, ":", 6)
	if len(fs) != 6 || fs[0] != "arn" {
		return parts, false
	}
	copy(parts[:], fs)
	return parts, true
}

// splitPatternARN splits a pattern like splitARN, on literal colons only
// (a colon is never a wildcard).
func splitPatternARN(p pattern) (parts [6]pattern, ok bool) {
	n, start := 0, 0
	for i, t := range p {
		if n == 5 {
			break
		}
		if t.r == ':' && t.kind == tokLit {
			parts[n] = p[start:i]
			n++
			start = i + 1
		}
	}
	if n != 5 {
		return parts, false
	}
	parts[5] = p[start:]
	return parts, true
}

// matchARN matches an ARN component by component, as IAM does for the
// Resource element and the Arn* condition operators: a wildcard never
// spans the colons between the first five components. When either side is
// not in six-component ARN form, it falls back to whole-string matching
// if lenient is set, and fails otherwise.
func matchARN(p pattern, s string, lenient bool) bool {
	if p.isStarOnly() {
		return true
	}
	pp, okP := splitPatternARN(p)
	sp, okS := splitARN(s)
	if !okP || !okS {
		if lenient {
			return p.match(s)
		}
		return false
	}
	for i := range 6 {
		if !pp[i].match(sp[i]) {
			return false
		}
	}
	return true
}
