package policy

import "strings"

// A template is a Resource or condition value, split into literal text and
// policy variables. In a policy without Version "2012-10-17" every value is
// one literal piece: "${aws:username}" then means those fifteen characters.
type template []piece

type piece struct {
	text    string // literal text, or the variable's value when special
	varKey  string // lower-cased context key; "" for literal text
	def     string // default value of ${key, 'default'}
	hasDef  bool
	special bool // ${*}, ${?}, ${$}: text is a literal character, never a wildcard
}

func literalTemplate(s string) template { return template{{text: s}} }

// parseTemplate splits s into literal text and ${...} variables. Anything
// that does not form a valid variable is kept as literal text, as IAM does.
func parseTemplate(s string) template {
	var t template
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			t = append(t, piece{text: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); {
		if strings.HasPrefix(s[i:], "${") {
			if end := strings.IndexByte(s[i+2:], '}'); end >= 0 {
				if p, ok := parseVariable(s[i+2 : i+2+end]); ok {
					flush()
					t = append(t, p)
					i += 2 + end + 1
					continue
				}
			}
		}
		lit.WriteByte(s[i])
		i++
	}
	flush()
	if len(t) == 0 {
		t = template{{text: ""}}
	}
	return t
}

func parseVariable(inner string) (piece, bool) {
	switch inner {
	case "*", "?", "$":
		return piece{text: inner, special: true}, true
	}
	key, def, hasDef := strings.Cut(inner, ",")
	key = strings.TrimSpace(key)
	if !validConditionKey(key) {
		return piece{}, false
	}
	p := piece{varKey: strings.ToLower(key)}
	if hasDef {
		def = strings.TrimSpace(def)
		if len(def) < 2 || def[0] != '\'' || def[len(def)-1] != '\'' {
			return piece{}, false
		}
		p.def, p.hasDef = def[1:len(def)-1], true
	}
	return p, true
}

func (t template) hasVariables() bool {
	for _, p := range t {
		if p.varKey != "" || p.special {
			return true
		}
	}
	return false
}

// raw returns the literal text when t has no variables.
func (t template) raw() string {
	var b strings.Builder
	for _, p := range t {
		b.WriteString(p.text)
	}
	return b.String()
}

// resolve substitutes the variables from ctx. With glob set, '*' and '?'
// in the literal text are wildcards; substituted values are always
// literal. ok is false when a variable has no value and no default: AWS
// then treats the value as matching nothing. Only single-valued keys can
// be used as variables.
func (t template) resolve(ctx evalContext, glob bool) (pattern, bool) {
	var out pattern
	for _, p := range t {
		switch {
		case p.special:
			out = append(out, literalPattern(p.text)...)
		case p.varKey != "":
			vals := ctx.get(p.varKey)
			switch {
			case len(vals) == 1:
				out = append(out, literalPattern(vals[0])...)
			case p.hasDef:
				out = append(out, literalPattern(p.def)...)
			default:
				return nil, false
			}
		case glob:
			out = append(out, globPattern(p.text)...)
		default:
			out = append(out, literalPattern(p.text)...)
		}
	}
	return out, true
}

// resolveString is resolve without wildcards, as a plain string.
func (t template) resolveString(ctx evalContext) (string, bool) {
	if len(t) == 1 && t[0].varKey == "" {
		return t[0].text, true
	}
	p, ok := t.resolve(ctx, false)
	if !ok {
		return "", false
	}
	return p.String(), true
}
