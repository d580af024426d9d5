package policy

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"maps"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Condition is one key test of a Condition element: operator, key and the
// values that are ORed. A statement's conditions are ANDed.
type Condition struct {
	Operator string   // as written, e.g. "ForAnyValue:StringLike"
	Key      string   // as written, e.g. "aws:PrincipalOrgID"
	Values   []string // as written (JSON numbers and booleans as text)

	op       opKind
	negated  bool
	set      setOp
	ifExists bool
	key      string // lower-cased
	values   []template
}

type opKind int

const (
	opString opKind = iota
	opStringIgnoreCase
	opStringLike
	opNumericEquals
	opNumericLessThan
	opNumericLessThanEquals
	opNumericGreaterThan
	opNumericGreaterThanEquals
	opDateEquals
	opDateLessThan
	opDateLessThanEquals
	opDateGreaterThan
	opDateGreaterThanEquals
	opBool
	opBinary
	opIP
	opArn
	opNull
)

type setOp int

const (
	setNone setOp = iota
	setForAllValues
	setForAnyValue
)

type opInfo struct {
	kind    opKind
	negated bool
}

// operators maps lower-cased operator names (without set prefix and
// IfExists suffix) to their meaning.
var operators = map[string]opInfo{
	"stringequals":              {opString, false},
	"stringnotequals":           {opString, true},
	"stringequalsignorecase":    {opStringIgnoreCase, false},
	"stringnotequalsignorecase": {opStringIgnoreCase, true},
	"stringlike":                {opStringLike, false},
	"stringnotlike":             {opStringLike, true},
	"numericequals":             {opNumericEquals, false},
	"numericnotequals":          {opNumericEquals, true},
	"numericlessthan":           {opNumericLessThan, false},
	"numericlessthanequals":     {opNumericLessThanEquals, false},
	"numericgreaterthan":        {opNumericGreaterThan, false},
	"numericgreaterthanequals":  {opNumericGreaterThanEquals, false},
	"dateequals":                {opDateEquals, false},
	"datenotequals":             {opDateEquals, true},
	"datelessthan":              {opDateLessThan, false},
	"datelessthanequals":        {opDateLessThanEquals, false},
	"dategreaterthan":           {opDateGreaterThan, false},
	"dategreaterthanequals":     {opDateGreaterThanEquals, false},
	"bool":                      {opBool, false},
	"binaryequals":              {opBinary, false},
	"ipaddress":                 {opIP, false},
	"notipaddress":              {opIP, true},
	"arnequals":                 {opArn, false},
	"arnnotequals":              {opArn, true},
	"arnlike":                   {opArn, false},
	"arnnotlike":                {opArn, true},
	"null":                      {opNull, false},
}

func parseOperator(name string) (opInfo, setOp, bool, bool) {
	base := name
	set := setNone
	if pfx, rest, ok := strings.Cut(base, ":"); ok {
		switch strings.ToLower(pfx) {
		case "forallvalues":
			set = setForAllValues
		case "foranyvalue":
			set = setForAnyValue
		default:
			return opInfo{}, 0, false, false
		}
		base = rest
	}
	lb := strings.ToLower(base)
	ifExists := false
	if strings.HasSuffix(lb, "ifexists") {
		ifExists = true
		lb = strings.TrimSuffix(lb, "ifexists")
	}
	info, ok := operators[lb]
	if !ok || (info.kind == opNull && (ifExists || set != setNone)) {
		return opInfo{}, 0, false, false
	}
	return info, set, ifExists, true
}

func validConditionKey(k string) bool {
	pfx, name, ok := strings.Cut(k, ":")
	if !ok || pfx == "" || name == "" {
		return false
	}
	for _, r := range pfx {
		if !(r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	for _, r := range name {
		if r <= ' ' || r == '"' || r == '\'' || r == '{' || r == '}' || r == ',' || r == 0x7f {
			return false
		}
	}
	return true
}

func parseConditions(raw json.RawMessage, vars bool) ([]*Condition, error) {
	var blocks map[string]json.RawMessage
	if err := unmarshal(raw, &blocks); err != nil || blocks == nil {
		return nil, invalid("Condition must be an object of condition operators")
	}
	var out []*Condition
	for _, opName := range slices.Sorted(maps.Keys(blocks)) {
		info, set, ifExists, ok := parseOperator(opName)
		if !ok {
			return nil, invalid("Policy has invalid condition operator: %s", opName)
		}
		var keys map[string]json.RawMessage
		if err := unmarshal(blocks[opName], &keys); err != nil || keys == nil {
			return nil, invalid("Condition operator %s must map condition keys to values", opName)
		}
		if len(keys) == 0 {
			return nil, invalid("Condition operator %s has no condition keys", opName)
		}
		for _, key := range slices.Sorted(maps.Keys(keys)) {
			if !validConditionKey(key) {
				return nil, invalid("Policy has invalid condition key: %q; condition keys must be prefaced by a vendor, e.g. aws:, kms:", key)
			}
			vals, err := conditionValues(keys[key])
			if err != nil {
				return nil, invalid("Invalid value for condition key %s in %s: values must be strings, numbers or booleans", key, opName)
			}
			c := &Condition{
				Operator: opName, Key: key, Values: vals,
				op: info.kind, negated: info.negated, set: set, ifExists: ifExists,
				key: strings.ToLower(key),
			}
			for _, v := range vals {
				t := literalTemplate(v)
				if vars {
					t = parseTemplate(v)
				}
				if !t.hasVariables() {
					if err := checkValue(c.op, v); err != nil {
						return nil, invalid("Invalid value %q for condition operator %s: %s", v, opName, err.Message)
					}
				}
				c.values = append(c.values, t)
			}
			out = append(out, c)
		}
	}
	return out, nil
}

// conditionValues decodes a string, number or boolean, or an array of them.
func conditionValues(raw json.RawMessage) ([]string, error) {
	var v any
	if err := unmarshal(raw, &v); err != nil {
		return nil, err
	}
	scalar := func(v any) (string, bool) {
		switch x := v.(type) {
		case string:
			return x, true
		case json.Number:
			return x.String(), true
		case bool:
			return strconv.FormatBool(x), true
		}
		return "", false
	}
	if list, ok := v.([]any); ok {
		out := make([]string, 0, len(list))
		for _, e := range list {
			s, ok := scalar(e)
			if !ok {
				return nil, errBadValue
			}
			out = append(out, s)
		}
		return out, nil
	}
	s, ok := scalar(v)
	if !ok {
		return nil, errBadValue
	}
	return []string{s}, nil
}

var errBadValue = invalid("bad condition value")

// checkValue validates a literal policy value for its operator.
func checkValue(op opKind, v string) *ValidationError {
	switch op {
	case opNumericEquals, opNumericLessThan, opNumericLessThanEquals, opNumericGreaterThan, opNumericGreaterThanEquals:
		if _, ok := parseNumber(v); !ok {
			return invalid("not a number")
		}
	case opDateEquals, opDateLessThan, opDateLessThanEquals, opDateGreaterThan, opDateGreaterThanEquals:
		if _, ok := parseDate(v); !ok {
			return invalid("not an ISO 8601 date or epoch time")
		}
	case opIP:
		if _, ok := parseCIDR(v); !ok {
			return invalid("not an IP address or CIDR block")
		}
	case opBinary:
		if _, err := base64.StdEncoding.DecodeString(v); err != nil {
			return invalid("not base64")
		}
	case opNull:
		if !strings.EqualFold(v, "true") && !strings.EqualFold(v, "false") {
			return invalid("must be true or false")
		}
	}
	return nil
}

func parseNumber(s string) (float64, bool) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

var dateLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05Z0700",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04:05",
	"2006-01-02T15:04",
	"2006-01-02",
	"20060102T150405Z",
}

// parseDate accepts the ISO 8601 forms AWS documents and epoch seconds.
func parseDate(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if f, err := strconv.ParseFloat(s, 64); err == nil && !strings.ContainsAny(s, "eEnN") {
		if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e12 {
			return time.Time{}, false
		}
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)).UTC(), true
	}
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func parseCIDR(s string) (netip.Prefix, bool) {
	s = strings.TrimSpace(s)
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), true
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	return netip.Prefix{}, false
}

// eval reports whether the condition holds in ctx, with AWS's semantics:
//
//   - key absent: ...IfExists and ForAllValues are true, ForAnyValue is
//     false, a negated operator (StringNotEquals, NotIpAddress, ...) is
//     true, any other operator false;
//   - one request value "matches" when it matches any policy value (for a
//     negated operator: when it matches none of them);
//   - ForAllValues: every request value matches; ForAnyValue: at least one
//     does; without a set operator, a positive operator needs one request
//     value to match any policy value, a negated one needs every request
//     value to match none (NOR).
func (c *Condition) eval(ctx evalContext) bool {
	vals := ctx.get(c.key)
	if c.op == opNull {
		present := len(vals) > 0
		for _, t := range c.values {
			v, ok := t.resolveString(ctx)
			if !ok {
				continue
			}
			if strings.EqualFold(v, "true") && !present || strings.EqualFold(v, "false") && present {
				return true
			}
		}
		return false
	}
	if len(vals) == 0 {
		switch {
		case c.ifExists:
			return true
		case c.set == setForAllValues:
			return true
		case c.set == setForAnyValue:
			return false
		}
		return c.negated
	}
	one := func(v string) bool {
		m := c.matchesAny(ctx, v)
		if c.negated {
			return !m
		}
		return m
	}
	all := c.set == setForAllValues || c.set == setNone && c.negated
	if all {
		for _, v := range vals {
			if !one(v) {
				return false
			}
		}
		return true
	}
	for _, v := range vals {
		if one(v) {
			return true
		}
	}
	return false
}

// matchesAny reports whether request value v matches any of the policy
// values under the positive form of the operator.
func (c *Condition) matchesAny(ctx evalContext, v string) bool {
	for _, t := range c.values {
		if c.matchOne(ctx, t, v) {
			return true
		}
	}
	return false
}

func (c *Condition) matchOne(ctx evalContext, t template, v string) bool {
	switch c.op {
	case opStringLike:
		p, ok := t.resolve(ctx, true)
		return ok && p.match(v)
	case opArn:
		p, ok := t.resolve(ctx, true)
		return ok && matchARN(p, v, false)
	}
	pv, ok := t.resolveString(ctx)
	if !ok {
		return false
	}
	switch c.op {
	case opString:
		return pv == v
	case opStringIgnoreCase:
		return strings.EqualFold(pv, v)
	case opNumericEquals, opNumericLessThan, opNumericLessThanEquals, opNumericGreaterThan, opNumericGreaterThanEquals:
		a, ok1 := parseNumber(v)
		b, ok2 := parseNumber(pv)
		if !ok1 || !ok2 {
			return false
		}
		return compare(c.op-opNumericEquals, cmpFloat(a, b))
	case opDateEquals, opDateLessThan, opDateLessThanEquals, opDateGreaterThan, opDateGreaterThanEquals:
		a, ok1 := parseDate(v)
		b, ok2 := parseDate(pv)
		if !ok1 || !ok2 {
			return false
		}
		return compare(c.op-opDateEquals, a.Compare(b))
	case opBool:
		return strings.EqualFold(pv, v)
	case opBinary:
		a, err1 := base64.StdEncoding.DecodeString(v)
		b, err2 := base64.StdEncoding.DecodeString(pv)
		if err1 != nil || err2 != nil {
			return false
		}
		return bytes.Equal(a, b)
	case opIP:
		prefix, ok1 := parseCIDR(pv)
		addr, err := netip.ParseAddr(strings.TrimSpace(v))
		if !ok1 || err != nil {
			return false
		}
		return prefix.Contains(addr.Unmap()) || prefix.Contains(addr)
	}
	return false
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// compare applies the comparison at offset rel from the ...Equals operator
// (Equals, LessThan, LessThanEquals, GreaterThan, GreaterThanEquals) to
// the result of comparing the request value with the policy value.
func compare(rel opKind, c int) bool {
	switch rel {
	case 0:
		return c == 0
	case 1:
		return c < 0
	case 2:
		return c <= 0
	case 3:
		return c > 0
	case 4:
		return c >= 0
	}
	return false
}
