package sigv4

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

func FuzzParseAuthorization(f *testing.F) {
	for _, s := range []string{
		"",
		"AWS4-HMAC-SHA256",
		"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
		"AWS4-HMAC-SHA256 Credential=a/b/c/d/e,SignedHeaders=;,Signature==",
		"AWS4-HMAC-SHA256   Credential=/////, Credential=x",
		"AWS4-HMAC-SHA256 Credential=AKID/2015083/us-east-1/s/aws4_request, SignedHeaders=host, Signature=00",
		"AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=",
		"Bearer \xff\xfe",
	} {
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, h string, dateKnown bool) {
		p, err := parseAuthorization(h, dateKnown)
		if err != nil {
			if err.Code != IncompleteSignature {
				t.Fatalf("code = %q, want %q", err.Code, IncompleteSignature)
			}
			if err.HTTPStatus() != http.StatusBadRequest {
				t.Fatalf("status = %d", err.HTTPStatus())
			}
			return
		}
		if !dateKnown {
			t.Fatal("parsed without a date")
		}
		s := p.scope
		if s.AccessKeyID == "" || len(s.Date) != 8 || s.Region == "" || s.Service == "" || p.signature == "" {
			t.Fatalf("incomplete parse %+v from %q", p, h)
		}
		for _, n := range p.headerNames {
			if n == "" {
				t.Fatalf("empty signed header name from %q", h)
			}
		}
		// ParseScope agrees with the parser.
		got, serr := ParseScope(&http.Request{Header: http.Header{"Authorization": {h}}, URL: &url.URL{}})
		if serr != nil || got != s {
			t.Fatalf("ParseScope = %+v, %v; want %+v", got, serr, s)
		}
	})
}

// fuzzRequest builds the server-side request FuzzVerify verifies.
func fuzzRequest(method, host, target, authz, date, ctype, hname, hvalue string, body []byte) *http.Request {
	r := &http.Request{Method: method, Host: host, RequestURI: target, Header: http.Header{}, ContentLength: int64(len(body))}
	u, err := url.ParseRequestURI(target)
	if err != nil {
		path, query, _ := strings.Cut(target, "?")
		u = &url.URL{Path: path, RawQuery: query}
	}
	r.URL = u
	for k, v := range map[string]string{"Authorization": authz, "X-Amz-Date": date, "Content-Type": ctype} {
		if v != "" {
			r.Header.Set(k, v)
		}
	}
	if len(body) > 0 {
		r.Header.Set("Content-Length", strconv.Itoa(len(body)))
	}
	if hname != "" {
		r.Header[hname] = []string{hvalue}
	}
	return r
}

type fuzzSeed struct {
	method, host, target, authz, date, ctype, hname, hvalue string
	body                                                    []byte
}

// fuzzSeeds are SDK-signed requests (which verify) and a few odd ones.
func fuzzSeeds(tb testing.TB) []fuzzSeed {
	var seeds []fuzzSeed
	add := func(r *http.Request, body []byte) {
		seeds = append(seeds, fuzzSeed{r.Method, r.Host, r.RequestURI, r.Header.Get("Authorization"), r.Header.Get("X-Amz-Date"),
			r.Header.Get("Content-Type"), "X-Amz-Target", r.Header.Get("X-Amz-Target"), body})
	}
	for _, s := range []reqSpec{kmsJSON, stsForm, backupGet} {
		c, _ := signHeader(tb, s)
		add(toServer(tb, c))
	}
	pc, _ := presign(tb, stsPresign, hashHex(nil))
	add(toServer(tb, pc))
	return append(seeds,
		fuzzSeed{"GET", "h", "//example//?a=%zz&&b", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20240101/r/s/aws4_request, SignedHeaders=host, Signature=00",
			"20240101T003000Z", "", "X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD", nil},
		fuzzSeed{"", "", "*", "", "", "", "Date", "Mon, 01 Jan 2024 00:30:00 GMT", []byte("x")},
		fuzzSeed{"POST", "h:1", "http://h/p?X-Amz-Credential=a", "", "x", "", "X-Amz-Security-Token", "t", []byte{0}},
	)
}

// TestFuzzSeedsVerify makes sure FuzzVerify starts from requests that pass.
func TestFuzzSeedsVerify(t *testing.T) {
	v := newVerifier(t0)
	for _, s := range fuzzSeeds(t)[:4] {
		r := fuzzRequest(s.method, s.host, s.target, s.authz, s.date, s.ctype, s.hname, s.hvalue, s.body)
		if _, err := v.Verify(context.Background(), r, s.body); err != nil {
			t.Errorf("seed %s %s: %v", s.method, s.target, err)
		}
	}
}

// FuzzVerify drives the whole Verify path with arbitrary method, host,
// request target, Authorization, date, content type, one extra header and
// body. Seeds include requests signed by aws-sdk-go-v2, so mutations start
// from valid ones.
func FuzzVerify(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s.method, s.host, s.target, s.authz, s.date, s.ctype, s.hname, s.hvalue, s.body)
	}
	v := newVerifier(t0)
	f.Fuzz(func(t *testing.T, method, host, target, authz, date, ctype, hname, hvalue string, body []byte) {
		r := fuzzRequest(method, host, target, authz, date, ctype, hname, hvalue, body)
		res, err := v.verify(context.Background(), r, body)
		if err == nil {
			if res.Credentials.SecretAccessKey == "" {
				t.Fatalf("verified without a secret: %+v", res.Scope)
			}
			return
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("error is not *Error: %v", err)
		}
		if strings.Contains(e.Message, testSecret) || strings.Contains(e.Message, tempSecret) {
			t.Fatalf("message reveals a secret: %q", e.Message)
		}
		if s := e.HTTPStatus(); s != 400 && s != 403 {
			t.Fatalf("status %d", s)
		}
	})
}
