package audit

import (
	"encoding/json"
	"unicode/utf8"
)

// redactJSON copies the JSON document body with the values of secret
// members replaced by Redacted (whatever their type; the elements of an
// array take the array's name), omitted members left out, and strings
// longer than maxValue clipped.
// It works on the bytes, without building the document in memory: every
// awsJson and restJson request passes through here. ok is false when body
// is not one valid JSON value, so the output is always valid JSON.
func redactJSON(body []byte) (out []byte, ok bool) {
	r := redactor{in: body, out: make([]byte, 0, min(len(body), 4096))}
	if !r.value("", 0) {
		return nil, false
	}
	r.space()
	if r.i != len(r.in) {
		return nil, false
	}
	return r.out, true
}

// maxDepth bounds nesting; deeper documents are recorded as unparsed.
const maxDepth = 64

type redactor struct {
	in  []byte
	i   int
	out []byte
	// skipping is set while a secret value is checked and dropped.
	skipping bool
}

func (r *redactor) space() {
	for r.i < len(r.in) {
		switch r.in[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

// value copies (or, under a secret name, replaces) the value at r.i.
func (r *redactor) value(name string, depth int) bool {
	r.space()
	if r.i >= len(r.in) || depth > maxDepth {
		return false
	}
	if name != "" && isSecret(name) && !r.skipping {
		mark := len(r.out)
		r.skipping = true
		ok := r.value("", depth) // checked, then dropped
		r.skipping = false
		r.out = append(r.out[:mark], `"`+Redacted+`"`...)
		return ok
	}
	switch c := r.in[r.i]; {
	case c == '{':
		return r.object(depth)
	case c == '[':
		return r.array(name, depth)
	case c == '"':
		start := r.i
		if !r.skipString() {
			return false
		}
		r.appendString(r.in[start:r.i])
		return true
	case c == 't':
		return r.literal("true")
	case c == 'f':
		return r.literal("false")
	case c == 'n':
		return r.literal("null")
	default:
		return r.number()
	}
}

func (r *redactor) object(depth int) bool {
	r.i++ // {
	r.out = append(r.out, '{')
	r.space()
	if r.i < len(r.in) && r.in[r.i] == '}' {
		r.i++
		r.out = append(r.out, '}')
		return true
	}
	wrote := false
	for {
		r.space()
		if r.i >= len(r.in) || r.in[r.i] != '"' {
			return false
		}
		start := r.i
		if !r.skipString() {
			return false
		}
		raw := r.in[start:r.i]
		name, ok := memberName(raw)
		if !ok {
			return false
		}
		r.space()
		if r.i >= len(r.in) || r.in[r.i] != ':' {
			return false
		}
		r.i++
		if isOmitted(name) && !r.skipping {
			mark := len(r.out)
			r.skipping = true
			ok := r.value("", depth+1) // checked, then dropped with its name
			r.skipping = false
			r.out = r.out[:mark]
			if !ok {
				return false
			}
		} else {
			if wrote {
				r.out = append(r.out, ',')
			}
			r.appendString(raw)
			r.out = append(r.out, ':')
			if !r.value(name, depth+1) {
				return false
			}
			wrote = true
		}
		if more, ok := r.next('}'); !more {
			return ok
		}
	}
}

func (r *redactor) array(name string, depth int) bool {
	r.i++ // [
	r.out = append(r.out, '[')
	r.space()
	if r.i < len(r.in) && r.in[r.i] == ']' {
		r.i++
		r.out = append(r.out, ']')
		return true
	}
	for {
		if !r.value(name, depth+1) {
			return false
		}
		more, ok := r.next(']')
		if !more {
			return ok
		}
		r.out = append(r.out, ',')
	}
}

// next reads what follows a member or an element: a comma, when more
// follow (the caller writes it, or not), or the closing byte, copied.
func (r *redactor) next(closing byte) (more, ok bool) {
	r.space()
	if r.i >= len(r.in) {
		return false, false
	}
	switch r.in[r.i] {
	case ',':
		r.i++
		return true, true
	case closing:
		r.i++
		r.out = append(r.out, closing)
		return false, true
	}
	return false, false
}

// memberName is the text of a member name token; names with escapes (rare)
// are decoded.
func memberName(raw []byte) (string, bool) {
	inner := raw[1 : len(raw)-1]
	for _, c := range inner {
		if c == '\\' {
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return "", false
			}
			return s, true
		}
	}
	return string(inner), true
}

// skipString moves past the string token at r.i, checking its escapes.
func (r *redactor) skipString() bool {
	r.i++ // opening quote
	for r.i < len(r.in) {
		c := r.in[r.i]
		switch {
		case c == '"':
			r.i++
			return true
		case c < 0x20:
			return false
		case c == '\\':
			if r.i+1 >= len(r.in) {
				return false
			}
			switch r.in[r.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				r.i += 2
			case 'u':
				if r.i+6 > len(r.in) {
					return false
				}
				for _, h := range r.in[r.i+2 : r.i+6] {
					if !isHexDigit(h) {
						return false
					}
				}
				r.i += 6
			default:
				return false
			}
		default:
			r.i++
		}
	}
	return false
}

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// appendString copies a string token, clipped to maxValue bytes of its
// decoded text (a token no longer than that cannot decode to more), with
// invalid UTF-8 replaced as encoding/json does: the store's text columns
// take only UTF-8.
func (r *redactor) appendString(raw []byte) {
	if r.skipping {
		return
	}
	if len(raw)-2 <= maxValue && utf8.Valid(raw) {
		r.out = append(r.out, raw...)
		return
	}
	if len(raw)-2 > maxValue && plainASCII(raw[1:1+maxValue]) {
		head := raw[1 : 1+maxValue]
		// Long ciphertexts and documents, mostly: the clipped text is the
		// token's own bytes.
		r.out = append(r.out, '"')
		r.out = append(r.out, head...)
		r.out = append(r.out, truncatedMark+`"`...)
		return
	}
	var s string
	json.Unmarshal(raw, &s) // skipString checked it
	b, _ := json.Marshal(clipValue(s))
	r.out = append(r.out, b...)
}

// plainASCII reports whether b is printable ASCII without escapes.
func plainASCII(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7e || c == '\\' {
			return false
		}
	}
	return true
}

func (r *redactor) literal(word string) bool {
	if len(r.in)-r.i < len(word) || string(r.in[r.i:r.i+len(word)]) != word {
		return false
	}
	r.i += len(word)
	r.out = append(r.out, word...)
	return true
}

// number copies a number token: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (r *redactor) number() bool {
	start := r.i
	digits := func() int {
		n := 0
		for r.i < len(r.in) && '0' <= r.in[r.i] && r.in[r.i] <= '9' {
			r.i++
			n++
		}
		return n
	}
	if r.i < len(r.in) && r.in[r.i] == '-' {
		r.i++
	}
	if r.i < len(r.in) && r.in[r.i] == '0' {
		r.i++
	} else if digits() == 0 {
		return false
	}
	if r.i < len(r.in) && r.in[r.i] == '.' {
		r.i++
		if digits() == 0 {
			return false
		}
	}
	if r.i < len(r.in) && (r.in[r.i] == 'e' || r.in[r.i] == 'E') {
		r.i++
		if r.i < len(r.in) && (r.in[r.i] == '+' || r.in[r.i] == '-') {
			r.i++
		}
		if digits() == 0 {
			return false
		}
	}
	r.out = append(r.out, r.in[start:r.i]...)
	return true
}
