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
// that are valid UTF-8 without NUL characters. Members of the wrong JSON
// type are left to the decoder, which reports them as serialization
// errors. An unknown operation or an undecodable body yields nothing.
func (m *Model) ValidateJSON(operation string, body []byte) []Violation {
	op, ok := m.Operations[operation]
	if !ok || op.Input == nil {
		return nil
	}
	var doc any
	if len(bytes.TrimSpace(body)) > 0 {
		d := json.NewDecoder(bytes.NewReader(body))
		d.UseNumber()
		if err := d.Decode(&doc); err != nil {
			return nil
		}
	}
	if doc == nil {
		doc = map[string]any{}
	}
	v := validator{m: m, badUTF8: !utf8.Valid(body)}
	v.value("", op.Input.Shape, doc)
	if v.badUTF8 && len(v.out) == 0 {
		// The invalid bytes were in a member name or in a member the
		// model does not know.
		v.out = append(v.out, Violation{Path: "body", Constraint: "Request body must be valid UTF-8"})
	}
	return v.out
}

type validator struct {
	m       *Model
	badUTF8 bool // the body was not valid UTF-8: the decoder put U+FFFD where the bad bytes were
	out     []Violation
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

// str checks that a string is text: valid UTF-8, no NUL.
func (v *validator) str(path, shown, s string) {
	if v.badUTF8 && strings.ContainsRune(s, utf8.RuneError) {
		v.add(path, "", "Member must be valid UTF-8")
		return
	}
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
