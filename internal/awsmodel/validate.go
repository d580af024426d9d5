package awsmodel

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Violation is one member of an input that breaks its shape's
// constraints, in the words AWS's request validation uses.
type Violation struct {
	Path       string // "tags.1.member.tagKey"
	Value      string // quoted value, "null", or "" when not shown
	Constraint string // "Member must have length less than or equal to 128"
}

func (v Violation) String() string {
	if v.Value == "" {
		return fmt.Sprintf("Value at '%s' failed to satisfy constraint: %s", v.Path, v.Constraint)
	}
	return fmt.Sprintf("Value %s at '%s' failed to satisfy constraint: %s", v.Value, v.Path, v.Constraint)
}

// Message joins violations as AWS reports them: "1 validation error
// detected: Value '...' at '...' failed to satisfy constraint: ...".
func Message(vs []Violation) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = v.String()
	}
	noun := "errors"
	if len(vs) == 1 {
		noun = "error"
	}
	return fmt.Sprintf("%d validation %s detected: %s", len(vs), noun, strings.Join(parts, "; "))
}

// ValidateJSON checks a JSON request body against operation's input
// shape: required members, lengths, ranges, enums, patterns, and strings
// that are valid UTF-8 (InvalidUTF8) without NUL characters. Members of
// the wrong JSON type are left to the decoder, which reports them as
// serialization errors. An unknown operation or an undecodable body
// yields nothing.
func (m *Model) ValidateJSON(operation string, body []byte) []Violation {
	op, ok := m.Operations[operation]
	if !ok || op.Input == nil {
		return nil
	}
	if vs := InvalidUTF8(body); vs != nil {
		return vs
	}
	doc, ok := decode(body)
	if !ok {
		return nil
	}
	return m.Validate(operation, doc)
}

// Validate checks an input document already decoded (numbers as
// json.Number, as RESTInput gathers them) against operation's input
// shape, as ValidateJSON does a body.
func (m *Model) Validate(operation string, doc any) []Violation {
	op, ok := m.Operations[operation]
	if !ok || op.Input == nil {
		return nil
	}
	v := validator{m: m}
	v.value("", op.Input.Shape, doc)
	return v.out
}

// InvalidUTF8 reports the string members of a JSON body that are not
// valid UTF-8, whatever the service: nil when the whole body is valid.
// Go's decoder puts U+FFFD where invalid bytes were, so in a body that is
// not valid UTF-8 the strings holding U+FFFD are the culprits; when none
// does (the bytes were in a member name, or the body does not decode),
// the body as a whole is reported.
func InvalidUTF8(body []byte) []Violation {
	if utf8.Valid(body) {
		return nil
	}
	var out []Violation
	if doc, ok := decode(body); ok {
		eachString("", doc, func(path, s string) {
			if strings.ContainsRune(s, utf8.RuneError) {
				out = append(out, Violation{Path: path, Constraint: "Member must be valid UTF-8"})
			}
		})
	}
	if len(out) == 0 {
		out = []Violation{{Path: "body", Constraint: "Request body must be valid UTF-8"}}
	}
	return out
}

// decode reads a JSON body keeping numbers exact; an empty body is an
// empty object.
func decode(body []byte) (any, bool) {
	if len(bytes.TrimSpace(body)) == 0 {
		return map[string]any{}, true
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var doc any
	if err := d.Decode(&doc); err != nil {
		return nil, false
	}
	return doc, true
}

// eachString calls f with every string value in doc and its member path.
func eachString(path string, doc any, f func(path, s string)) {
	switch x := doc.(type) {
	case string:
		f(path, x)
	case []any:
		for i, y := range x {
			eachString(fmt.Sprintf("%s.%d.member", path, i+1), y, f)
		}
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(x)) {
			eachString(join(path, k), x[k], f)
		}
	}
}

type validator struct {
	m   *Model
	out []Violation
}

func (v *validator) add(path, value, constraint string) {
	v.out = append(v.out, Violation{path, value, constraint})
}

// value checks x, found at path, against shape name.
func (v *validator) value(path, name string, x any) {
	s := v.m.Shapes[name]
	if s == nil || x == nil {
		return
	}
	switch s.Type {
	case "structure":
		obj, ok := x.(map[string]any)
		if !ok {
			return
		}
		for _, r := range s.Required {
			if obj[r] == nil {
				v.add(join(path, r), "null", "Member must not be null")
			}
		}
		for _, member := range slices.Sorted(maps.Keys(s.Members)) {
			if y, ok := obj[member]; ok {
				v.value(join(path, member), s.Members[member].Shape, y)
			}
		}
	case "list":
		arr, ok := x.([]any)
		if !ok {
			return
		}
		v.length(path, "", s, len(arr))
		for i, y := range arr {
			v.value(fmt.Sprintf("%s.%d.member", path, i+1), s.Member.Shape, y)
		}
	case "map":
		obj, ok := x.(map[string]any)
		if !ok {
			return
		}
		v.length(path, "", s, len(obj))
		for _, k := range slices.Sorted(maps.Keys(obj)) {
			v.value(path, s.Key.Shape, k)
			v.value(path, s.Value.Shape, obj[k])
		}
	case "string":
		str, ok := x.(string)
		if !ok {
			return
		}
		shown := "'" + str + "'"
		if s.Sensitive {
			shown = ""
		}
		v.str(path, shown, str)
		v.length(path, shown, s, utf8.RuneCountInString(str))
		if len(s.Enum) > 0 && !slices.Contains(s.Enum, str) {
			v.add(path, shown, "Member must satisfy enum value set: ["+strings.Join(s.Enum, ", ")+"]")
		}
		if s.Pattern != "" {
			if re := v.m.pattern(name, s); re != nil && !re.MatchString(str) {
				v.add(path, shown, "Member must satisfy regular expression pattern: "+s.Pattern)
			}
		}
	case "blob":
		str, ok := x.(string)
		if !ok {
			return
		}
		b, err := base64.StdEncoding.DecodeString(str)
		if err != nil {
			return
		}
		v.length(path, "", s, len(b))
	case "integer", "long", "double", "float":
		n, ok := x.(json.Number)
		if !ok {
			return
		}
		f, err := strconv.ParseFloat(string(n), 64)
		if err != nil || math.IsInf(f, 0) {
			return
		}
		if s.Min != nil && f < *s.Min {
			v.add(path, "'"+string(n)+"'", "Member must have value greater than or equal to "+num(*s.Min))
		}
		if s.Max != nil && f > *s.Max {
			v.add(path, "'"+string(n)+"'", "Member must have value less than or equal to "+num(*s.Max))
		}
	}
}

// str checks that a string has no NUL (InvalidUTF8 checked the rest).
func (v *validator) str(path, shown, s string) {
	if strings.ContainsRune(s, 0) {
		v.add(path, strings.Map(printable, shown), "Member must not contain NUL characters")
	}
}

// printable replaces control characters in an echoed value.
func printable(r rune) rune {
	if unicode.IsControl(r) {
		return utf8.RuneError
	}
	return r
}

func (v *validator) length(path, shown string, s *Shape, n int) {
	if s.Min != nil && float64(n) < *s.Min {
		v.add(path, shown, "Member must have length greater than or equal to "+num(*s.Min))
	}
	if s.Max != nil && float64(n) > *s.Max {
		v.add(path, shown, "Member must have length less than or equal to "+num(*s.Max))
	}
}

// join appends a member to a path with its first letter lowered, as AWS
// names members in validation messages ("tags.1.member.tagKey").
func join(path, member string) string {
	r, size := utf8.DecodeRuneInString(member)
	member = string(unicode.ToLower(r)) + member[size:]
	if path == "" {
		return member
	}
	return path + "." + member
}

func num(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
