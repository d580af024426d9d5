package awsmodel

import (
	"net/url"
	"strconv"
)

// QueryInput reads an awsQuery request's form parameters into a document
// of operation's input shape, keyed by member name as RESTInput's is: a
// structure member is its name (or locationName) after its parent's and
// a dot, a list element prefix.member.N (prefix.N when flattened) from
// 1 up to the first gap, a map entry prefix.entry.N.key and .value.
// Scalars convert as RESTInput's do, a value of the wrong type being a
// violation. Parameters the shape does not name (Action, Version) are
// not read.
func (m *Model) QueryInput(operation string, form url.Values) (map[string]any, []Violation) {
	op, ok := m.Operations[operation]
	if !ok || op.Input == nil {
		return map[string]any{}, nil
	}
	r := queryReader{m: m, form: form}
	doc, _ := r.structure("", "", m.Shapes[op.Input.Shape]).(map[string]any)
	if doc == nil {
		doc = map[string]any{}
	}
	return doc, r.out
}

type queryReader struct {
	m    *Model
	form url.Values
	out  []Violation
}

// has reports whether any parameter starts with prefix.
func (r *queryReader) has(prefix string) bool {
	if _, ok := r.form[prefix]; ok {
		return true
	}
	for k := range r.form {
		if len(k) > len(prefix) && k[:len(prefix)] == prefix && k[len(prefix)] == '.' {
			return true
		}
	}
	return false
}

// value reads the member of shape s found under key (path is its
// validation path); nil when the form has none.
func (r *queryReader) value(key, path string, s *Shape) any {
	if s == nil {
		return nil
	}
	switch s.Type {
	case "structure":
		return r.structure(key, path, s)
	case "list":
		return r.list(key, path, s)
	case "map":
		return r.mapOf(key, path, s)
	}
	raw, ok := r.form[key]
	if !ok || len(raw) == 0 {
		return nil
	}
	v, err := r.m.scalar(s, raw[:1])
	if err != nil {
		r.out = append(r.out, Violation{Path: path, Value: "'" + raw[0] + "'", Constraint: err.Error()})
		return nil
	}
	return v
}

func (r *queryReader) structure(key, path string, s *Shape) any {
	if key != "" && !r.has(key) {
		return nil
	}
	obj := map[string]any{}
	for name, ref := range s.Members {
		wire := name
		if ref.LocationName != "" {
			wire = ref.LocationName
		}
		if key != "" {
			wire = key + "." + wire
		}
		if v := r.value(wire, join(path, name), r.m.Shapes[ref.Shape]); v != nil {
			obj[name] = v
		}
	}
	return obj
}

func (r *queryReader) list(key, path string, s *Shape) any {
	prefix := key + "."
	if !s.Flattened {
		elem := "member"
		if s.Member.LocationName != "" {
			elem = s.Member.LocationName
		}
		prefix += elem + "."
	}
	var out []any
	for i := 1; ; i++ {
		n := strconv.Itoa(i)
		v := r.value(prefix+n, path+"."+n+".member", r.m.Shapes[s.Member.Shape])
		if v == nil {
			break
		}
		out = append(out, v)
	}
	if out == nil {
		// An empty list travels as its bare name ("Tags=").
		if _, ok := r.form[key]; !ok {
			return nil
		}
		return []any{}
	}
	return out
}

func (r *queryReader) mapOf(key, path string, s *Shape) any {
	prefix := key + "."
	if !s.Flattened {
		prefix += "entry."
	}
	out := map[string]any{}
	for i := 1; ; i++ {
		e := prefix + strconv.Itoa(i) + "."
		k, ok := r.form[e+"key"]
		if !ok || len(k) == 0 {
			break
		}
		if v := r.value(e+"value", path, r.m.Shapes[s.Value.Shape]); v != nil {
			out[k[0]] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
