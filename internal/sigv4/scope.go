package sigv4

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const (
	algorithm      = "AWS4-HMAC-SHA256"
	scopeTerm      = "aws4_request"
	amzDateLayout  = "20060102T150405Z"
	scopeDateLyt   = "20060102"
	maxPresignSecs = 604800 // one week, AWS's upper bound for X-Amz-Expires

	// Query parameters of a presigned request.
	qAlgorithm     = "X-Amz-Algorithm"
	qCredential    = "X-Amz-Credential"
	qDate          = "X-Amz-Date"
	qExpires       = "X-Amz-Expires"
	qSignedHeaders = "X-Amz-SignedHeaders"
	qSignature     = "X-Amz-Signature"
	qSecurityToken = "X-Amz-Security-Token"
)

// Scope is the credential scope of a signed request:
// AccessKeyID/Date/Region/Service/aws4_request.
type Scope struct {
	AccessKeyID string
	Date        string // yyyymmdd
	Region      string
	Service     string
}

// String returns the credential scope as it appears in the string to sign:
// "yyyymmdd/region/service/aws4_request" (without the access key ID).
func (s Scope) String() string {
	return s.Date + "/" + s.Region + "/" + s.Service + "/" + scopeTerm
}

// authParams is what the Authorization header or the presigned query
// parameters declare, before any verification.
type authParams struct {
	presigned     bool
	scope         Scope
	signedHeaders string   // as sent, e.g. "host;x-amz-date"
	headerNames   []string // signedHeaders split on ';'
	signature     string   // hex, as sent

	// Presigned only.
	date       string // X-Amz-Date query parameter
	expires    int64  // seconds; valid when hasExpires
	hasExpires bool
}

// ParseScope returns the credential scope a request claims, from its
// Authorization header or its X-Amz-Credential query parameter. It verifies
// nothing (no key lookup, no signature); the router uses it to learn the
// signing service before calling Verify. Errors are *Error.
func ParseScope(r *http.Request) (Scope, error) {
	p, err := parseAuth(r, true)
	if err != nil {
		return Scope{}, err
	}
	return p.scope, nil
}

// parseAuth finds and parses the authentication parameters of r. dateKnown
// suppresses the "requires a date" complaint (ParseScope does not need it).
func parseAuth(r *http.Request, dateKnown bool) (authParams, *Error) {
	if r == nil {
		return authParams{}, newError(MissingAuthenticationToken, msgMissingAuth)
	}
	authz := r.Header["Authorization"]
	hasAuthz := len(authz) > 0 && strings.TrimSpace(authz[0]) != "" // an empty header counts as none
	var query url.Values
	if r.URL != nil {
		query, _ = url.ParseQuery(r.URL.RawQuery) // a bad pair is skipped; the signature covers the raw query anyway
	}
	presigned := query.Has(qAlgorithm) || query.Has(qCredential) || query.Has(qSignature)
	switch {
	case hasAuthz && presigned:
		return authParams{}, newError(IncompleteSignature,
			"Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified.")
	case hasAuthz:
		if !dateKnown {
			dateKnown = r.Header.Get("X-Amz-Date") != "" || r.Header.Get("Date") != ""
		}
		return parseAuthorization(authz[0], dateKnown)
	case presigned:
		return parsePresignQuery(query)
	default:
		return authParams{}, newError(MissingAuthenticationToken, msgMissingAuth)
	}
}

// parseAuthorization parses
//
//	AWS4-HMAC-SHA256 Credential=AKID/yyyymmdd/region/service/aws4_request, SignedHeaders=a;b, Signature=hex
func parseAuthorization(h string, dateKnown bool) (authParams, *Error) {
	h = strings.TrimSpace(h)
	alg, rest, _ := strings.Cut(h, " ")
	if alg != algorithm {
		if alg == "" {
			alg = h
		}
		return authParams{}, newError(IncompleteSignature, fmt.Sprintf(
			"Unsupported AWS 'algorithm': '%s'; only %s is supported.", clip(alg), algorithm))
	}
	var cred, signed, sig string
	var haveCred, haveSigned, haveSig bool
	for _, part := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		var dst *string
		var seen *bool
		switch strings.TrimSpace(k) {
		case "Credential":
			dst, seen = &cred, &haveCred
		case "SignedHeaders":
			dst, seen = &signed, &haveSigned
		case "Signature":
			dst, seen = &sig, &haveSig
		default:
			continue
		}
		if *seen {
			return authParams{}, newError(IncompleteSignature, fmt.Sprintf(
				"Authorization header has more than one '%s' parameter. Authorization=%s", strings.TrimSpace(k), clip(h)))
		}
		*seen = true
		*dst = strings.TrimSpace(v)
	}
	var missing []string
	if cred == "" {
		missing = append(missing, "Authorization header requires 'Credential' parameter.")
	}
	if sig == "" {
		missing = append(missing, "Authorization header requires 'Signature' parameter.")
	}
	if signed == "" {
		missing = append(missing, "Authorization header requires 'SignedHeaders' parameter.")
	}
	if !dateKnown {
		missing = append(missing, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
	}
	if len(missing) > 0 {
		return authParams{}, newError(IncompleteSignature, strings.Join(missing, " ")+" Authorization="+clip(h))
	}
	p := authParams{signedHeaders: signed, signature: sig}
	var err *Error
	if p.scope, err = parseCredential(cred); err != nil {
		return authParams{}, err
	}
	if p.headerNames, err = splitSignedHeaders(signed); err != nil {
		return authParams{}, err
	}
	return p, nil
}

func parsePresignQuery(q url.Values) (authParams, *Error) {
	var missing []string
	for _, k := range []string{qAlgorithm, qCredential, qSignature, qSignedHeaders, qDate} {
		if q.Get(k) == "" {
			missing = append(missing, "AWS query-string parameters must include '"+k+"'.")
		}
	}
	if len(missing) > 0 {
		return authParams{}, newError(IncompleteSignature,
			strings.Join(missing, " ")+" Re-examine the query-string parameters.")
	}
	if alg := q.Get(qAlgorithm); alg != algorithm {
		return authParams{}, newError(IncompleteSignature, fmt.Sprintf(
			"X-Amz-Algorithm only supports '%s', not '%s'.", algorithm, clip(alg)))
	}
	p := authParams{
		presigned:     true,
		signedHeaders: q.Get(qSignedHeaders),
		signature:     q.Get(qSignature),
		date:          q.Get(qDate),
	}
	if q.Has(qExpires) {
		s := q.Get(qExpires)
		n, err := strconv.ParseInt(s, 10, 64)
		switch {
		case err != nil || n < 0:
			return authParams{}, newError(IncompleteSignature, fmt.Sprintf(
				"X-Amz-Expires should be a number of seconds, not '%s'.", clip(s)))
		case n > maxPresignSecs:
			return authParams{}, newError(IncompleteSignature,
				"X-Amz-Expires must be less than a week (in seconds) that is 604800.")
		}
		p.expires, p.hasExpires = n, true
	}
	var err *Error
	if p.scope, err = parseCredential(q.Get(qCredential)); err != nil {
		return authParams{}, err
	}
	if p.headerNames, err = splitSignedHeaders(p.signedHeaders); err != nil {
		return authParams{}, err
	}
	return p, nil
}

// parseCredential parses "AKID/yyyymmdd/region/service/aws4_request".
func parseCredential(c string) (Scope, *Error) {
	parts := strings.Split(c, "/")
	if len(parts) != 5 || parts[0] == "" || parts[2] == "" || parts[3] == "" {
		return Scope{}, newError(IncompleteSignature, fmt.Sprintf(
			"Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '%s'", clip(c)))
	}
	if parts[4] != scopeTerm {
		return Scope{}, newError(IncompleteSignature, fmt.Sprintf(
			"Credential should be scoped with a valid terminator: 'aws4_request', not '%s'.", clip(parts[4])))
	}
	if _, err := time.Parse(scopeDateLyt, parts[1]); err != nil || len(parts[1]) != 8 {
		return Scope{}, newError(IncompleteSignature, fmt.Sprintf(
			"Credential should be scoped to a date in yyyyMMdd format, not '%s'.", clip(parts[1])))
	}
	return Scope{AccessKeyID: parts[0], Date: parts[1], Region: parts[2], Service: parts[3]}, nil
}

func splitSignedHeaders(s string) ([]string, *Error) {
	names := strings.Split(s, ";")
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if n == "" || strings.TrimSpace(n) != n {
			return nil, newError(IncompleteSignature, fmt.Sprintf(
				"SignedHeaders must be a ';'-separated list of lowercase header names, got '%s'.", clip(s)))
		}
		// A repeated name would repeat its value in the canonical request:
		// refused, so that its size stays bounded by the request's.
		l := strings.ToLower(n)
		if seen[l] {
			return nil, newError(IncompleteSignature, fmt.Sprintf(
				"SignedHeaders lists '%s' more than once.", clip(n)))
		}
		seen[l] = true
	}
	return names, nil
}

// clip bounds user input echoed in an error message and makes it valid UTF-8.
func clip(s string) string {
	const max = 512
	if len(s) > max {
		s = s[:max] + "..."
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
