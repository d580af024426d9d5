package sigv4

import (
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// rawPath returns the request path exactly as the client sent it, still
// percent-encoded. On the server r.RequestURI holds the request target
// verbatim; a request built in-process (RequestURI empty) falls back to
// r.URL.EscapedPath, which prefers r.URL.RawPath.
func rawPath(r *http.Request) string {
	if u := r.RequestURI; u != "" && u != "*" {
		if i := strings.IndexAny(u, "?#"); i >= 0 {
			u = u[:i]
		}
		if strings.HasPrefix(u, "/") {
			return u
		}
		// absolute-form: scheme://authority/path
		if i := strings.Index(u, "://"); i >= 0 {
			if j := strings.IndexByte(u[i+3:], '/'); j >= 0 {
				return u[i+3+j:]
			}
			return "/"
		}
	}
	if r.URL == nil {
		return "/"
	}
	if p := r.URL.EscapedPath(); p != "" {
		return p
	}
	return "/"
}

// canonicalURI URI-encodes the raw (already encoded) path once more, keeping
// '/' and the RFC 3986 unreserved characters: "%3A" becomes "%253A". This is
// the non-S3 rule that aws-sdk-go-v2, botocore and the CLI apply.
func canonicalURI(raw string) string {
	if raw == "" {
		return "/"
	}
	return uriEncode(raw, false)
}

// normalizePath removes empty, "." and ".." segments the way botocore does
// before signing (RFC 3986 section 5.2.4 plus collapsing "//"). It keeps a
// trailing slash.
func normalizePath(p string) string {
	if p == "" {
		return "/"
	}
	var out []string
	for _, seg := range strings.Split(p, "/") {
		switch seg {
		case "", ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, seg)
		}
	}
	s := "/" + strings.Join(out, "/")
	if strings.HasSuffix(p, "/") && len(out) > 0 {
		s += "/"
	}
	return s
}

// canonicalQuery decodes each name=value pair of the raw query, re-encodes
// both per RFC 3986 and sorts by encoded name, then encoded value. skipSig
// drops X-Amz-Signature (presigned requests).
func canonicalQuery(rawQuery string, skipSig bool) string {
	if rawQuery == "" {
		return ""
	}
	type pair struct{ k, v string }
	var pairs []pair
	for _, kv := range strings.Split(rawQuery, "&") {
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		k, v = queryUnescape(k), queryUnescape(v)
		if skipSig && k == qSignature {
			continue
		}
		pairs = append(pairs, pair{uriEncode(k, true), uriEncode(v, true)})
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].k != pairs[j].k {
			return pairs[i].k < pairs[j].k
		}
		return pairs[i].v < pairs[j].v
	})
	var b strings.Builder
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.k)
		b.WriteByte('=')
		b.WriteString(p.v)
	}
	return b.String()
}

// queryUnescape decodes a query component ('+' is a space). A malformed
// escape is kept literally; the signature will then not match.
func queryUnescape(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

// canonicalHeaders returns "name:value\n" for each signed header, in the
// order of SignedHeaders.
func canonicalHeaders(r *http.Request, names []string) string {
	// Index the header once by lowercase name: a request built in-process
	// may carry non-canonical keys, and a lookup per signed name must not
	// scan every header.
	byName := make(map[string][]string, len(r.Header))
	for k, v := range r.Header {
		l := strings.ToLower(k)
		byName[l] = append(byName[l], v...)
	}
	var b strings.Builder
	for _, n := range names {
		b.WriteString(n)
		b.WriteByte(':')
		b.WriteString(headerValue(r, byName, strings.ToLower(n)))
		b.WriteByte('\n')
	}
	return b.String()
}

// headerValue is the canonical value of one signed header (lowercase name):
// every value trimmed, runs of spaces collapsed, joined with ','. Go's server
// moves Host into r.Host and Transfer-Encoding into r.TransferEncoding; they
// are read from there.
func headerValue(r *http.Request, byName map[string][]string, name string) string {
	vals := byName[name]
	switch name {
	case "host":
		host := r.Host
		if host == "" && r.URL != nil {
			host = r.URL.Host
		}
		if host == "" && len(vals) > 0 {
			host = vals[0]
		}
		return trimValue(host)
	case "content-length":
		if len(vals) == 0 && r.ContentLength > 0 {
			vals = []string{strconv.FormatInt(r.ContentLength, 10)}
		}
	case "transfer-encoding":
		if len(vals) == 0 {
			vals = r.TransferEncoding
		}
	}
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = trimValue(v)
	}
	return strings.Join(out, ",")
}

// trimValue trims leading and trailing whitespace and collapses each run of
// spaces into one.
func trimValue(v string) string {
	v = strings.TrimSpace(v)
	if !strings.Contains(v, "  ") {
		return v
	}
	var b strings.Builder
	b.Grow(len(v))
	prevSpace := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == ' ' {
			if prevSpace {
				continue
			}
			prevSpace = true
		} else {
			prevSpace = false
		}
		b.WriteByte(c)
	}
	return b.String()
}

// uriEncode percent-encodes every byte outside the RFC 3986 unreserved set
// (A-Z a-z 0-9 - _ . ~) with uppercase hex; '/' is kept unless encodeSlash.
func uriEncode(s string, encodeSlash bool) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s) + len(s)/2)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isUnreserved(c) || (c == '/' && !encodeSlash) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

func isUnreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '_' || c == '.' || c == '~'
}

// canonicalRequest joins the six lines of the SigV4 canonical request.
func canonicalRequest(method, uri, query, headers, signedHeaders, payloadHash string) string {
	return method + "\n" + uri + "\n" + query + "\n" + headers + "\n" + signedHeaders + "\n" + payloadHash
}
