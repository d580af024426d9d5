package awsmodel

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Pattern returns a restJson operation's route as a net/http pattern:
// "GET /audit/frameworks/{frameworkName}". A greedy label ({Key+})
// matches the rest of the path, a trailing slash matches itself only,
// and a literal query ("?delete") is not part of the route.
func (o Operation) Pattern() string {
	uri, _, _ := strings.Cut(o.HTTP.RequestURI, "?")
	uri = strings.ReplaceAll(uri, "+}", "...}")
	if strings.HasSuffix(uri, "/") {
		uri += "{$}"
	}
	return o.HTTP.Method + " " + uri
}

// RESTRequest is what RESTInput reads a restJson request's input from.
type RESTRequest struct {
	Label  func(name string) string // a path label, unescaped
	Query  url.Values
	Header http.Header
	Body   []byte
}

// ErrBody is returned, wrapped, by RESTInput when the body is not a JSON
// object.
var ErrBody = errors.New("request body is not a JSON object")

// RESTInput gathers a restJson request's input into one document keyed
// by member name, as the operation's input shape places each member: in
// a path label, the query string, a header, or the JSON body. Strings
// stay strings; query and header numbers and booleans become JSON
// numbers and booleans, and timestamps (ISO 8601 there) numbers of
// seconds since the epoch, as the body carries them. A value that is not
// of its member's type is reported as a violation. The document is what
// Validate checks and what a decoder reads once marshalled.
func (m *Model) RESTInput(operation string, r RESTRequest) (map[string]any, []Violation, error) {
	doc := map[string]any{}
	if len(bytes.TrimSpace(r.Body)) > 0 {
		d := json.NewDecoder(bytes.NewReader(r.Body))
		d.UseNumber()
		if err := d.Decode(&doc); err != nil {
			return nil, nil, fmt.Errorf("%w: %w", ErrBody, err)
		}
	}
	op, ok := m.Operations[operation]
	if !ok || op.Input == nil {
		return doc, nil, nil
	}
	var out []Violation
	for name, ref := range m.Shapes[op.Input.Shape].Members {
		var raw []string
		switch ref.Location {
		case "uri":
			if v := r.Label(ref.LocationName); v != "" {
				raw = []string{v}
			}
		case "querystring":
			raw = r.Query[ref.LocationName]
		case "header":
			raw = r.Header.Values(ref.LocationName)
		default:
			continue
		}
		// A located member never travels in the body: drop any body member
		// a case-insensitive decoder would read into it.
		for k := range doc {
			if strings.EqualFold(k, name) {
				delete(doc, k)
			}
		}
		if len(raw) == 0 {
			continue
		}
		v, err := m.scalar(m.Shapes[ref.Shape], raw)
		if err != nil {
			out = append(out, Violation{Path: join("", name), Value: "'" + raw[0] + "'", Constraint: err.Error()})
			continue
		}
		doc[name] = v
	}
	return doc, out, nil
}

// scalar converts the text of a located member to its JSON value.
func (m *Model) scalar(s *Shape, raw []string) (any, error) {
	if s == nil {
		return raw[0], nil
	}
	switch s.Type {
	case "list":
		out := make([]any, len(raw))
		for i, r := range raw {
			v, err := m.scalar(m.Shapes[s.Member.Shape], []string{r})
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	case "integer", "long":
		if _, err := strconv.ParseInt(raw[0], 10, 64); err != nil {
			return nil, errors.New("Member must be a whole number")
		}
		return json.Number(raw[0]), nil
	case "double", "float":
		if _, err := strconv.ParseFloat(raw[0], 64); err != nil {
			return nil, errors.New("Member must be a number")
		}
		return json.Number(raw[0]), nil
	case "boolean":
		b, err := strconv.ParseBool(raw[0])
		if err != nil {
			return nil, errors.New("Member must be true or false")
		}
		return b, nil
	case "timestamp":
		t, err := time.Parse(time.RFC3339Nano, raw[0])
		if err != nil {
			return nil, errors.New("Member must be an ISO 8601 timestamp")
		}
		return json.Number(strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', -1, 64)), nil
	}
	return raw[0], nil
}
