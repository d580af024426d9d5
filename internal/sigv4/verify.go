package sigv4

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// DefaultMaxSkew is how far the request time may be from the server's clock.
const DefaultMaxSkew = 15 * time.Minute

const (
	unsignedPayload = "UNSIGNED-PAYLOAD"
)

// Credentials known for an access key ID.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	// SessionToken is non-empty for temporary credentials: the request must
	// carry the same X-Amz-Security-Token.
	SessionToken string
	// Expires is when the credentials stop working; zero means never.
	Expires time.Time
}

// String never shows the secret or the session token.
func (c Credentials) String() string { return "Credentials{" + c.AccessKeyID + "}" }

// GoString keeps %#v from showing the secret.
func (c Credentials) GoString() string { return c.String() }

// CredentialLookup is implemented by the identity store. It returns
// ErrUnknownAccessKey (wrapped is fine) when the key is unknown or inactive;
// any other error is passed through to the caller of Verify unchanged (it is
// a server fault, not an authentication failure).
type CredentialLookup interface {
	LookupAccessKey(ctx context.Context, accessKeyID string) (Credentials, error)
}

// Verifier verifies SigV4-signed requests.
type Verifier struct {
	Lookup CredentialLookup
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// MaxSkew is the allowed clock difference; zero means DefaultMaxSkew.
	MaxSkew time.Duration
	// Strict applies what AWS requires of requests to its JSON and query
	// services: Content-Type, when sent, and every x-amz-* header sent
	// (X-Amz-Target among them) are signed, and the payload is signed
	// (UNSIGNED-PAYLOAD is refused, presigned or not).
	Strict bool
}

// Result tells who signed a verified request.
type Result struct {
	Scope       Scope
	Credentials Credentials
	Presigned   bool
}

// Verify checks the SigV4 signature of r, in the Authorization header or in
// presigned query parameters. body is the full request body, already read by
// the caller. Authentication failures are *Error; a lookup failure other than
// ErrUnknownAccessKey is returned wrapped as is.
func (v *Verifier) Verify(ctx context.Context, r *http.Request, body []byte) (res Result, err error) {
	// A bug here must not take the server down, whatever the input. The
	// fuzz targets call verify directly so that such a bug still shows.
	defer func() {
		if p := recover(); p != nil {
			res, err = Result{}, newError(IncompleteSignature, "The request signature could not be parsed.")
		}
	}()
	return v.verify(ctx, r, body)
}

func (v *Verifier) verify(ctx context.Context, r *http.Request, body []byte) (Result, error) {
	if v == nil || v.Lookup == nil {
		return Result{}, errors.New("sigv4: verifier has no credential lookup")
	}
	p, aerr := parseAuth(r, false)
	if aerr != nil {
		return Result{}, aerr
	}
	if !hasSignedHeader(p.headerNames, "host") {
		return Result{}, newError(IncompleteSignature, msgHostNotSigned)
	}
	if v.Strict {
		if aerr := mustBeSigned(r, p); aerr != nil {
			return Result{}, aerr
		}
	}

	// Request time: X-Amz-Date (query for presigned, header otherwise), else Date.
	reqTime, amzDate, aerr := requestTime(r, p)
	if aerr != nil {
		return Result{}, aerr
	}
	if d := amzDate[:8]; d != p.scope.Date {
		return Result{}, newError(SignatureDoesNotMatch, fmt.Sprintf(
			"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.",
			clip(p.scope.Date), d, amzDate))
	}
	if aerr := v.checkTime(p, reqTime); aerr != nil {
		return Result{}, aerr
	}

	payloadHashes, aerr := payloadCandidates(r, p, body, v.Strict)
	if aerr != nil {
		return Result{}, aerr
	}

	creds, err := v.Lookup.LookupAccessKey(ctx, p.scope.AccessKeyID)
	if errors.Is(err, ErrUnknownAccessKey) {
		return Result{}, newError(InvalidClientTokenId, msgInvalidToken)
	}
	if err != nil {
		return Result{}, fmt.Errorf("look up access key: %w", err)
	}

	if !signatureMatches(r, p, amzDate, creds.SecretAccessKey, payloadHashes) {
		return Result{}, newError(SignatureDoesNotMatch, msgSignatureMismatch)
	}

	tok := securityToken(r, p)
	if subtle.ConstantTimeCompare([]byte(tok), []byte(creds.SessionToken)) != 1 {
		// Covers a missing or wrong token for temporary credentials and a
		// token sent with a long-term key.
		return Result{}, newError(InvalidClientTokenId, msgInvalidToken)
	}
	if !creds.Expires.IsZero() && !v.now().Before(creds.Expires) {
		return Result{}, newError(ExpiredToken, msgExpiredToken)
	}
	creds.AccessKeyID = p.scope.AccessKeyID
	return Result{Scope: p.scope, Credentials: creds, Presigned: p.presigned}, nil
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now().UTC()
	}
	return time.Now().UTC()
}

func (v *Verifier) skew() time.Duration {
	if v.MaxSkew > 0 {
		return v.MaxSkew
	}
	return DefaultMaxSkew
}

// requestTime returns the signing time and its ISO-8601 basic form as it
// enters the string to sign.
func requestTime(r *http.Request, p authParams) (time.Time, string, *Error) {
	if p.presigned {
		t, err := time.Parse(amzDateLayout, p.date)
		if err != nil || len(p.date) != len(amzDateLayout) {
			return time.Time{}, "", newError(IncompleteSignature, fmt.Sprintf(
				"X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\", not '%s'.", clip(p.date)))
		}
		return t, p.date, nil
	}
	if d := r.Header.Get("X-Amz-Date"); d != "" {
		t, err := time.Parse(amzDateLayout, d)
		if err != nil || len(d) != len(amzDateLayout) {
			return time.Time{}, "", newError(IncompleteSignature, fmt.Sprintf(
				"X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\", not '%s'.", clip(d)))
		}
		return t, d, nil
	}
	d := r.Header.Get("Date")
	t, err := http.ParseTime(d)
	if err != nil {
		return time.Time{}, "", newError(IncompleteSignature, fmt.Sprintf(
			"Date header must be an HTTP date (RFC 1123), not '%s'.", clip(d)))
	}
	t = t.UTC()
	return t, t.Format(amzDateLayout), nil
}

// checkTime enforces the clock skew, and X-Amz-Expires for presigned
// requests. Both failures are RequestExpired.
func (v *Verifier) checkTime(p authParams, reqTime time.Time) *Error {
	now, skew := v.now(), v.skew()
	mins := int(skew / time.Minute)
	if reqTime.After(now.Add(skew)) {
		return newError(RequestExpired, fmt.Sprintf(
			"Signature not yet current: %s is still later than %s (%s + %d min.)",
			reqTime.Format(amzDateLayout), now.Add(skew).Format(amzDateLayout), now.Format(amzDateLayout), mins))
	}
	if p.presigned && p.hasExpires {
		if now.After(reqTime.Add(time.Duration(p.expires) * time.Second)) {
			return newError(RequestExpired, msgPresignExpired)
		}
		return nil
	}
	if reqTime.Before(now.Add(-skew)) {
		return newError(RequestExpired, fmt.Sprintf(
			"Signature expired: %s is now earlier than %s (%s - %d min.)",
			reqTime.Format(amzDateLayout), now.Add(-skew).Format(amzDateLayout), now.Format(amzDateLayout), mins))
	}
	return nil
}

func hasSignedHeader(names []string, want string) bool {
	for _, n := range names {
		if strings.EqualFold(n, want) {
			return true
		}
	}
	return false
}

// mustBeSigned refuses a request carrying a Content-Type or x-amz-*
// header that is not among its signed headers.
func mustBeSigned(r *http.Request, p authParams) *Error {
	var unsigned []string
	for name := range r.Header {
		lower := strings.ToLower(name)
		if (lower == "content-type" || strings.HasPrefix(lower, "x-amz-")) && !hasSignedHeader(p.headerNames, lower) {
			unsigned = append(unsigned, lower)
		}
	}
	if len(unsigned) == 0 {
		return nil
	}
	sort.Strings(unsigned)
	return newError(IncompleteSignature, fmt.Sprintf(
		"The request carries headers that must be signed but are not: %s. Content-Type and every x-amz-* header sent must be in SignedHeaders.",
		clip(strings.Join(unsigned, ", "))))
}

// payloadCandidates returns the payload hashes the client may have signed
// with. With x-amz-content-sha256 it is that value, after checking it against
// the body. Without it, the SHA-256 of the body; a presigned request may also
// have been signed with UNSIGNED-PAYLOAD (as S3-style presigners do), unless
// strict.
func payloadCandidates(r *http.Request, p authParams, body []byte, strict bool) ([]string, *Error) {
	declared := r.Header.Get("X-Amz-Content-Sha256")
	if declared == "" && p.presigned && r.URL != nil {
		declared = r.URL.Query().Get("X-Amz-Content-Sha256")
	}
	sum := sha256.Sum256(body)
	actual := hex.EncodeToString(sum[:])
	switch {
	case declared == "":
		if p.presigned && !strict {
			return []string{actual, unsignedPayload}, nil
		}
		return []string{actual}, nil
	case declared == unsignedPayload && strict:
		return nil, newError(IncompleteSignature,
			"x-amz-content-sha256: UNSIGNED-PAYLOAD is not accepted by this service; sign the SHA-256 of the body.")
	case declared == unsignedPayload:
		if !p.presigned {
			return nil, newError(IncompleteSignature,
				"x-amz-content-sha256: UNSIGNED-PAYLOAD is accepted only on presigned URLs; sign the SHA-256 of the body.")
		}
		return []string{unsignedPayload}, nil
	case strings.HasPrefix(declared, "STREAMING-"):
		return nil, newError(IncompleteSignature, fmt.Sprintf(
			"x-amz-content-sha256: %s (chunked payload signing) is not supported; send the whole body signed with its SHA-256.", clip(declared)))
	case len(declared) != 64 || !isHex(declared):
		return nil, newError(IncompleteSignature, fmt.Sprintf(
			"x-amz-content-sha256 must be the hex SHA-256 of the body, not '%s'.", clip(declared)))
	case !strings.EqualFold(declared, actual):
		return nil, newError(SignatureDoesNotMatch,
			"The provided 'x-amz-content-sha256' header does not match what was computed.")
	}
	return []string{declared}, nil
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}

// signatureMatches compares, in constant time, the signature provided with
// the one computed for each candidate canonical request.
func signatureMatches(r *http.Request, p authParams, amzDate, secret string, payloadHashes []string) bool {
	got, err := hex.DecodeString(p.signature)
	if err != nil || len(got) != sha256.Size {
		return false
	}
	key := signingKey(secret, p.scope)
	scope := p.scope.String()
	ok := false
	for _, creq := range canonicalRequests(r, p, payloadHashes) {
		want := hmacSHA256(key, []byte(stringToSign(amzDate, scope, creq)))
		// Every candidate is computed; no early exit on a match.
		if hmac.Equal(got, want) {
			ok = true
		}
	}
	return ok
}

// canonicalRequests returns the canonical requests the client may have
// signed: for the path as sent and, if different, botocore-normalized; for
// each payload hash candidate. The first is the usual one.
func canonicalRequests(r *http.Request, p authParams, payloadHashes []string) []string {
	raw := rawPath(r)
	uris := []string{canonicalURI(raw)}
	if n := canonicalURI(normalizePath(raw)); n != uris[0] {
		uris = append(uris, n)
	}
	rawQuery := ""
	if r.URL != nil {
		rawQuery = r.URL.RawQuery
	}
	query := canonicalQuery(rawQuery, p.presigned)
	headers := canonicalHeaders(r, p.headerNames)
	method := r.Method
	if method == "" {
		method = http.MethodGet
	}
	var out []string
	for _, uri := range uris {
		for _, ph := range payloadHashes {
			out = append(out, canonicalRequest(method, uri, query, headers, p.signedHeaders, ph))
		}
	}
	return out
}

// stringToSign is "AWS4-HMAC-SHA256\n<amzDate>\n<scope>\n<hex sha256(canonical request)>".
func stringToSign(amzDate, scope, canonicalRequest string) string {
	h := sha256.Sum256([]byte(canonicalRequest))
	return algorithm + "\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(h[:])
}

// signingKey derives HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service), "aws4_request").
// A key serves a day of requests, so derived keys are kept (as the SDKs'
// signers keep theirs).
func signingKey(secret string, s Scope) []byte {
	ck := secret + "\x00" + s.String()
	derivedKeys.Lock()
	k, ok := derivedKeys.m[ck]
	derivedKeys.Unlock()
	if ok {
		return k
	}
	k = hmacSHA256([]byte("AWS4"+secret), []byte(s.Date))
	k = hmacSHA256(k, []byte(s.Region))
	k = hmacSHA256(k, []byte(s.Service))
	k = hmacSHA256(k, []byte(scopeTerm))
	derivedKeys.Lock()
	if len(derivedKeys.m) >= 4096 {
		clear(derivedKeys.m)
	}
	derivedKeys.m[ck] = k
	derivedKeys.Unlock()
	return k
}

var derivedKeys = struct {
	sync.Mutex
	m map[string][]byte
}{m: map[string][]byte{}}

func hmacSHA256(key, data []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(data)
	return m.Sum(nil)
}

// securityToken is the X-Amz-Security-Token the request carries: the header,
// or for presigned requests the query parameter.
func securityToken(r *http.Request, p authParams) string {
	if t := r.Header.Get("X-Amz-Security-Token"); t != "" {
		return t
	}
	if p.presigned && r.URL != nil {
		return r.URL.Query().Get(qSecurityToken)
	}
	return ""
}
