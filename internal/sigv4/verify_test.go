package sigv4

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

const backupARNPath = "/backup-vaults/v/recovery-points/arn%3Aaws%3Abackup%3Aus-east-1%3A111122223333%3Arecovery-point%3Aabc"

var (
	stsForm = reqSpec{
		method: "POST", url: "https://sts.us-east-1.amazonaws.com/", service: "sts",
		header: map[string]string{"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
		body:   "Action=GetCallerIdentity&Version=2011-06-15",
	}
	kmsJSON = reqSpec{
		method: "POST", url: "https://kms.us-east-1.amazonaws.com/", service: "kms",
		header: map[string]string{"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.Encrypt"},
		body:   `{"KeyId":"alias/backup","Plaintext":"aGVsbG8="}`,
	}
	backupGet = reqSpec{
		method: "GET", service: "backup",
		url: "https://backup.us-east-1.amazonaws.com" + backupARNPath + "?backupVaultAccountId=111122223333&nextToken=a%2Fb%20c%2Bd&z=2&z=1",
	}
	stsPresign = reqSpec{
		method: "GET", service: "sts",
		url: "https://sts.us-east-1.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Expires=60",
	}
)

func with(s reqSpec, fn func(*reqSpec)) reqSpec {
	h := make(map[string]string, len(s.header))
	for k, v := range s.header {
		h[k] = v
	}
	s.header = h
	fn(&s)
	return s
}

// TestVerifySDKSigned signs real requests with aws-sdk-go-v2's signer and
// checks that they verify, both as the server reads them off the wire and as
// in-process requests, and that the canonical request the verifier builds is
// byte for byte the one the SDK signed.
func TestVerifySDKSigned(t *testing.T) {
	unsigned := "UNSIGNED-PAYLOAD"
	tests := []struct {
		name        string
		spec        reqSpec
		presign     bool
		payloadHash string // presign only; default SHA-256 of the empty body
		now         time.Time
		wantService string
	}{
		{name: "sts awsQuery form POST", spec: stsForm, wantService: "sts"},
		{name: "kms awsJson POST with X-Amz-Target", spec: kmsJSON, wantService: "kms"},
		{name: "backup restJson GET with ARN path and query", spec: backupGet, wantService: "backup"},
		{name: "endpoint with port", spec: with(kmsJSON, func(s *reqSpec) { s.url = "http://127.0.0.1:8443/" }), wantService: "kms"},
		{name: "session token in header", spec: with(stsForm, func(s *reqSpec) { s.creds = tempCreds }), wantService: "sts"},
		{name: "header value with runs of spaces", spec: with(kmsJSON, func(s *reqSpec) { s.header["X-Amz-Meta-Note"] = "  hello    big   world  " }), wantService: "kms"},
		{name: "x-amz-content-sha256 present", spec: with(kmsJSON, func(s *reqSpec) { s.header["X-Amz-Content-Sha256"] = hashHex([]byte(s.body)) }), wantService: "kms"},
		{name: "path with dot and encoded slash", spec: with(backupGet, func(s *reqSpec) {
			s.url = "https://backup.us-east-1.amazonaws.com/backup-vaults/a.b~c-d_e%2Ff%20g/recovery-points"
		}), wantService: "backup"},
		{name: "clock 15 minutes ahead is still fine", spec: stsForm, now: t0.Add(15 * time.Minute), wantService: "sts"},
		{name: "clock 15 minutes behind is still fine", spec: stsForm, now: t0.Add(-15 * time.Minute), wantService: "sts"},
		{name: "presigned GET", spec: stsPresign, presign: true, wantService: "sts"},
		{name: "presigned GET UNSIGNED-PAYLOAD", spec: stsPresign, presign: true, payloadHash: unsigned, wantService: "sts"},
		{name: "presigned GET with session token", spec: with(stsPresign, func(s *reqSpec) { s.creds = tempCreds }), presign: true, wantService: "sts"},
		{name: "presigned GET without X-Amz-Expires", spec: with(stsPresign, func(s *reqSpec) {
			s.url = "https://sts.us-east-1.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15"
		}), presign: true, wantService: "sts"},
		{name: "presigned GET used late but within X-Amz-Expires", spec: with(stsPresign, func(s *reqSpec) {
			s.url = "https://sts.us-east-1.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Expires=3600"
		}), presign: true, now: t0.Add(50 * time.Minute), wantService: "sts"},
		{name: "presigned backup GET with ARN path", spec: backupGet, presign: true, wantService: "backup"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var client *http.Request
			var sdkCanonical string
			if tc.presign {
				ph := tc.payloadHash
				if ph == "" {
					ph = hashHex(nil)
				}
				client, sdkCanonical = presign(t, tc.spec, ph)
			} else {
				client, sdkCanonical = signHeader(t, tc.spec)
			}
			now := tc.now
			if now.IsZero() {
				now = t0
			}
			v := newVerifier(now)

			server, body := toServer(t, client)
			if got := string(body); got != tc.spec.body {
				t.Fatalf("body on the wire = %q, want %q", got, tc.spec.body)
			}
			p, perr := parseAuth(server, false)
			if perr != nil {
				t.Fatalf("parseAuth: %v", perr)
			}
			hashes, perr := payloadCandidates(server, p, body, false)
			if perr != nil {
				t.Fatalf("payloadCandidates: %v", perr)
			}
			if got := canonicalRequests(server, p, hashes); !slices.Contains(got, sdkCanonical) {
				t.Errorf("canonical requests =\n%q\nwant one of them to be the SDK's\n%q", got, sdkCanonical)
			}

			for _, in := range []struct {
				name string
				r    *http.Request
				body []byte
			}{{"server", server, body}, {"in-process", client, []byte(tc.spec.body)}} {
				res, err := v.Verify(context.Background(), in.r, in.body)
				if err != nil {
					t.Fatalf("%s: Verify: %v", in.name, err)
				}
				if got, want := res.Scope.Service, tc.wantService; got != want {
					t.Errorf("%s: service = %q, want %q", in.name, got, want)
				}
				if got, want := res.Presigned, tc.presign; got != want {
					t.Errorf("%s: presigned = %v, want %v", in.name, got, want)
				}
				if got, want := res.Credentials.AccessKeyID, tc.spec.defaults().creds.AccessKeyID; got != want {
					t.Errorf("%s: access key = %q, want %q", in.name, got, want)
				}
			}
		})
	}
}

// TestCanonicalURIDoubleEncodes pins the non-S3 rule: the canonical URI is
// the URI-encoding of the still-encoded path.
func TestCanonicalURIDoubleEncodes(t *testing.T) {
	tests := []struct{ name, raw, want string }{
		{"root", "/", "/"},
		{"empty", "", "/"},
		{"ARN", backupARNPath, "/backup-vaults/v/recovery-points/arn%253Aaws%253Abackup%253Aus-east-1%253A111122223333%253Arecovery-point%253Aabc"},
		{"unreserved kept", "/a-b_c.d~e/F0", "/a-b_c.d~e/F0"},
		{"space and utf-8", "/a%20b/%E1%88%B4", "/a%2520b/%25E1%2588%25B4"},
		{"raw reserved", "/a:b@c!$", "/a%3Ab%40c%21%24"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := canonicalURI(tc.raw); got != tc.want {
				t.Errorf("canonicalURI(%q) = %q, want %q", tc.raw, got, tc.want)
			}
		})
	}
}

func TestCanonicalQuery(t *testing.T) {
	tests := []struct {
		name, raw string
		skipSig   bool
		want      string
	}{
		{"empty", "", false, ""},
		{"sorted by key then value", "b=2&a=2&a=1", false, "a=1&a=2&b=2"},
		{"sorted after encoding", "k=a-b&k=a%2Fb", false, "k=a%2Fb&k=a-b"},
		{"key without value", "Param1&b=", false, "Param1=&b="},
		{"space as plus or %20", "a=x+y&b=x%20y", false, "a=x%20y&b=x%20y"},
		{"reserved re-encoded", "a=%3A%2B*", false, "a=%3A%2B%2A"},
		{"signature dropped when presigned", "X-Amz-Signature=abc&a=1", true, "a=1"},
		{"signature kept otherwise", "X-Amz-Signature=abc&a=1", false, "X-Amz-Signature=abc&a=1"},
		{"empty pairs skipped", "&&a=1&", false, "a=1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := canonicalQuery(tc.raw, tc.skipSig); got != tc.want {
				t.Errorf("canonicalQuery(%q) = %q, want %q", tc.raw, got, tc.want)
			}
		})
	}
}

func TestNormalizePath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/", "/"},
		{"//", "/"},
		{"//example//", "/example/"},
		{"/example/..", "/"},
		{"/example/foo/../bar/./baz", "/example/bar/baz"},
		{"/a%2Fb/", "/a%2Fb/"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if got := normalizePath(tc.in); got != tc.want {
				t.Errorf("normalizePath(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

type failingLookup struct{ err error }

func (f failingLookup) LookupAccessKey(context.Context, string) (Credentials, error) {
	return Credentials{}, f.err
}

// TestVerifyRejects starts from SDK-signed requests, breaks one thing, and
// checks the error code (and the message where AWS's wording is known).
func TestVerifyRejects(t *testing.T) {
	setAuth := func(v string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", v) }
	}
	editAuth := func(old, new string) func(*http.Request) {
		return func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), old, new, 1))
		}
	}
	tests := []struct {
		name     string
		spec     reqSpec
		presign  bool
		mutate   func(r *http.Request) // on the signed client request, before the wire
		body     *string               // body the server hands to Verify, if not the signed one
		now      time.Time
		lookup   CredentialLookup
		wantCode string
		wantMsg  string
	}{
		{name: "tampered body", spec: kmsJSON, body: ptr(`{"KeyId":"alias/other","Plaintext":"aGVsbG8="}`),
			wantCode: SignatureDoesNotMatch, wantMsg: msgSignatureMismatch},
		{name: "tampered signed header", spec: kmsJSON, mutate: func(r *http.Request) { r.Header.Set("X-Amz-Target", "TrentService.Decrypt") },
			wantCode: SignatureDoesNotMatch},
		{name: "tampered path", spec: backupGet, mutate: func(r *http.Request) {
			r.URL.RawPath = strings.Replace(r.URL.RawPath, "abc", "abd", 1)
			r.URL.Path = strings.Replace(r.URL.Path, "abc", "abd", 1)
		}, wantCode: SignatureDoesNotMatch},
		{name: "path decoded once (single-encoded canonical URI)", spec: backupGet, mutate: func(r *http.Request) {
			r.URL.RawPath = ""
			r.URL.Path = "/backup-vaults/v/recovery-points/arn:aws:backup:us-east-1:111122223333:recovery-point:abc"
		}, wantCode: SignatureDoesNotMatch},
		{name: "tampered query", spec: backupGet, mutate: func(r *http.Request) { r.URL.RawQuery += "&maxResults=1" },
			wantCode: SignatureDoesNotMatch},
		{name: "wrong secret", spec: with(kmsJSON, func(s *reqSpec) {
			s.creds = aws.Credentials{AccessKeyID: testKeyID, SecretAccessKey: "not-the-secret"}
		}), wantCode: SignatureDoesNotMatch, wantMsg: msgSignatureMismatch},
		{name: "signature not hex", spec: kmsJSON, mutate: func(r *http.Request) {
			a := r.Header.Get("Authorization")
			r.Header.Set("Authorization", a[:len(a)-64]+strings.Repeat("z", 64))
		}, wantCode: SignatureDoesNotMatch},
		{name: "unknown access key", spec: with(kmsJSON, func(s *reqSpec) {
			s.creds = aws.Credentials{AccessKeyID: "AKIAUNKNOWNEXAMPLE00", SecretAccessKey: testSecret}
		}), wantCode: InvalidClientTokenId, wantMsg: msgInvalidToken},
		{name: "host not in SignedHeaders", spec: kmsJSON, mutate: editAuth("host;", ""),
			wantCode: IncompleteSignature, wantMsg: msgHostNotSigned},
		{name: "header repeated in SignedHeaders", spec: kmsJSON, mutate: editAuth("host;", "host;host;"),
			wantCode: IncompleteSignature},
		{name: "clock 16 minutes ahead of request", spec: stsForm, now: t0.Add(16 * time.Minute), wantCode: RequestExpired,
			wantMsg: "Signature expired: 20240101T003000Z is now earlier than 20240101T003100Z (20240101T004600Z - 15 min.)"},
		{name: "clock 16 minutes behind request", spec: stsForm, now: t0.Add(-16 * time.Minute), wantCode: RequestExpired,
			wantMsg: "Signature not yet current: 20240101T003000Z is still later than 20240101T002900Z (20240101T001400Z + 15 min.)"},
		{name: "presigned expired", spec: stsPresign, presign: true, now: t0.Add(61 * time.Second),
			wantCode: RequestExpired, wantMsg: msgPresignExpired},
		{name: "presigned without expiry past skew", spec: with(stsPresign, func(s *reqSpec) {
			s.url = "https://sts.us-east-1.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15"
		}), presign: true, now: t0.Add(16 * time.Minute), wantCode: RequestExpired},
		{name: "presigned from the future", spec: stsPresign, presign: true, now: t0.Add(-16 * time.Minute), wantCode: RequestExpired},
		{name: "presigned X-Amz-Expires over a week", spec: with(stsPresign, func(s *reqSpec) {
			s.url = "https://sts.us-east-1.amazonaws.com/?Action=GetCallerIdentity&X-Amz-Expires=604801"
		}), presign: true, wantCode: IncompleteSignature, wantMsg: "X-Amz-Expires must be less than a week (in seconds) that is 604800."},
		{name: "presigned tampered query", spec: stsPresign, presign: true, mutate: func(r *http.Request) {
			r.URL.RawQuery = strings.Replace(r.URL.RawQuery, "GetCallerIdentity", "GetSessionToken", 1)
		}, wantCode: SignatureDoesNotMatch},
		{name: "presigned missing parameters", spec: stsPresign, presign: true, mutate: func(r *http.Request) {
			q := r.URL.Query()
			q.Del("X-Amz-Signature")
			q.Del("X-Amz-Date")
			r.URL.RawQuery = q.Encode()
		}, wantCode: IncompleteSignature,
			wantMsg: "AWS query-string parameters must include 'X-Amz-Signature'. AWS query-string parameters must include 'X-Amz-Date'. Re-examine the query-string parameters."},
		{name: "presigned wrong algorithm", spec: stsPresign, presign: true, mutate: func(r *http.Request) {
			q := r.URL.Query()
			q.Set("X-Amz-Algorithm", "AWS4-ECDSA-P256-SHA256")
			r.URL.RawQuery = q.Encode()
		}, wantCode: IncompleteSignature},
		{name: "missing Authorization", spec: kmsJSON, mutate: func(r *http.Request) { r.Header.Del("Authorization") },
			wantCode: MissingAuthenticationToken, wantMsg: "Request is missing Authentication Token"},
		{name: "empty Authorization", spec: kmsJSON, mutate: setAuth("  "),
			wantCode: MissingAuthenticationToken},
		{name: "Authorization with only the algorithm", spec: kmsJSON, mutate: func(r *http.Request) {
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256")
			r.Header.Del("X-Amz-Date")
		}, wantCode: IncompleteSignature,
			wantMsg: "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. " +
				"Authorization header requires 'SignedHeaders' parameter. " +
				"Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=AWS4-HMAC-SHA256"},
		{name: "Authorization missing Credential", spec: kmsJSON, mutate: editAuth("Credential=", "Credentials="),
			wantCode: IncompleteSignature},
		{name: "Authorization missing SignedHeaders", spec: kmsJSON, mutate: editAuth("SignedHeaders=", "Signedheaders="),
			wantCode: IncompleteSignature},
		{name: "Authorization missing Signature", spec: kmsJSON, mutate: editAuth("Signature=", "Sig="),
			wantCode: IncompleteSignature},
		{name: "Authorization empty Signature", spec: kmsJSON, mutate: func(r *http.Request) {
			a := r.Header.Get("Authorization")
			r.Header.Set("Authorization", a[:len(a)-64])
		}, wantCode: IncompleteSignature},
		{name: "missing date header", spec: kmsJSON, mutate: func(r *http.Request) { r.Header.Del("X-Amz-Date") },
			wantCode: IncompleteSignature},
		{name: "malformed X-Amz-Date", spec: kmsJSON, mutate: func(r *http.Request) { r.Header.Set("X-Amz-Date", "2024-01-01T00:30:00Z") },
			wantCode: IncompleteSignature},
		{name: "Authorization duplicate parameter", spec: kmsJSON, mutate: func(r *http.Request) {
			r.Header.Set("Authorization", r.Header.Get("Authorization")+", Signature=00")
		}, wantCode: IncompleteSignature},
		{name: "other algorithm", spec: kmsJSON, mutate: setAuth("AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg="),
			wantCode: IncompleteSignature},
		{name: "credential with 4 elements", spec: kmsJSON, mutate: editAuth("/us-east-1/", "/"),
			wantCode: IncompleteSignature},
		{name: "credential with bad terminator", spec: kmsJSON, mutate: editAuth("aws4_request", "aws5_request"),
			wantCode: IncompleteSignature,
			wantMsg:  "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'."},
		{name: "credential scope date differs from X-Amz-Date", spec: kmsJSON, mutate: editAuth("/20240101/", "/20231231/"),
			wantCode: SignatureDoesNotMatch,
			wantMsg:  "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20231231' != '20240101', from '20240101T003000Z'."},
		{name: "both Authorization and presigned query", spec: kmsJSON, mutate: func(r *http.Request) {
			r.URL.RawQuery = "X-Amz-Credential=x"
		}, wantCode: IncompleteSignature},
		{name: "wrong session token", spec: with(stsForm, func(s *reqSpec) {
			s.creds = aws.Credentials{AccessKeyID: tempKeyID, SecretAccessKey: tempSecret, SessionToken: "not-the-token"}
		}), wantCode: InvalidClientTokenId, wantMsg: msgInvalidToken},
		{name: "missing session token", spec: with(stsForm, func(s *reqSpec) {
			s.creds = aws.Credentials{AccessKeyID: tempKeyID, SecretAccessKey: tempSecret}
		}), wantCode: InvalidClientTokenId},
		{name: "session token with a long-term key", spec: with(stsForm, func(s *reqSpec) {
			s.creds = aws.Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret, SessionToken: tempToken}
		}), wantCode: InvalidClientTokenId},
		{name: "presigned wrong session token", spec: with(stsPresign, func(s *reqSpec) {
			s.creds = aws.Credentials{AccessKeyID: tempKeyID, SecretAccessKey: tempSecret, SessionToken: "nope"}
		}), presign: true, wantCode: InvalidClientTokenId},
		{name: "expired session token", spec: with(stsForm, func(s *reqSpec) {
			s.creds = aws.Credentials{AccessKeyID: oldKeyID, SecretAccessKey: tempSecret, SessionToken: tempToken}
		}), wantCode: ExpiredToken, wantMsg: "The security token included in the request is expired"},
		{name: "x-amz-content-sha256 does not match body", spec: with(kmsJSON, func(s *reqSpec) {
			s.header["X-Amz-Content-Sha256"] = hashHex([]byte("something else"))
		}), wantCode: SignatureDoesNotMatch, wantMsg: "The provided 'x-amz-content-sha256' header does not match what was computed."},
		{name: "streaming payload refused", spec: with(kmsJSON, func(s *reqSpec) {
			s.header["X-Amz-Content-Sha256"] = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
		}), wantCode: IncompleteSignature},
		{name: "UNSIGNED-PAYLOAD refused on header form", spec: with(kmsJSON, func(s *reqSpec) {
			s.header["X-Amz-Content-Sha256"] = "UNSIGNED-PAYLOAD"
		}), wantCode: IncompleteSignature},
		{name: "garbage x-amz-content-sha256", spec: with(kmsJSON, func(s *reqSpec) {
			s.header["X-Amz-Content-Sha256"] = "nothex"
		}), wantCode: IncompleteSignature},
		{name: "lookup failure is not an auth error", spec: kmsJSON, lookup: failingLookup{errors.New("database is down")},
			wantCode: "<not *Error: look up access key: database is down>"},
		{name: "lookup unknown key wrapped", spec: kmsJSON, lookup: failingLookup{errors.Join(errors.New("x"), ErrUnknownAccessKey)},
			wantCode: InvalidClientTokenId},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			payloadHash := ""
			if tc.presign {
				payloadHash = hashHex(nil)
			}
			server, body := serverRequest(t, tc.spec, payloadHash, tc.mutate, tc.body)
			now := tc.now
			if now.IsZero() {
				now = t0
			}
			v := newVerifier(now)
			if tc.lookup != nil {
				v.Lookup = tc.lookup
			}
			_, err := v.Verify(context.Background(), server, body)
			if got := errCode(err); got != tc.wantCode {
				t.Fatalf("code = %q, want %q (err: %v)", got, tc.wantCode, err)
			}
			var e *Error
			if tc.wantMsg != "" && errors.As(err, &e) && e.Message != tc.wantMsg {
				t.Errorf("message =\n%q\nwant\n%q", e.Message, tc.wantMsg)
			}
			if err != nil && strings.Contains(err.Error(), testSecret) || err != nil && strings.Contains(err.Error(), tempSecret) {
				t.Errorf("error reveals a secret: %v", err)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// serverRequest signs spec (presigned with payloadHash, or in the
// Authorization header when it is ""), applies mutate to the client
// request, and returns the request and body as the server reads them,
// body replacing the one sent when set.
func serverRequest(t *testing.T, spec reqSpec, payloadHash string, mutate func(*http.Request), body *string) (*http.Request, []byte) {
	t.Helper()
	var client *http.Request
	if payloadHash != "" {
		client, _ = presign(t, spec, payloadHash)
	} else {
		client, _ = signHeader(t, spec)
	}
	if mutate != nil {
		mutate(client)
	}
	server, sent := toServer(t, client)
	if body != nil {
		return server, []byte(*body)
	}
	return server, sent
}

func TestParseScope(t *testing.T) {
	hdr, _ := signHeader(t, backupGet)
	pre, _ := presign(t, stsPresign, hashHex(nil))
	tests := []struct {
		name     string
		r        *http.Request
		want     Scope
		wantCode string
	}{
		{name: "Authorization header", r: hdr, want: Scope{AccessKeyID: testKeyID, Date: "20240101", Region: "us-east-1", Service: "backup"}},
		{name: "presigned query", r: pre, want: Scope{AccessKeyID: testKeyID, Date: "20240101", Region: "us-east-1", Service: "sts"}},
		{name: "unsigned", r: &http.Request{Method: "GET", URL: &url.URL{Path: "/"}}, wantCode: MissingAuthenticationToken},
		{name: "nil request", r: nil, wantCode: MissingAuthenticationToken},
		{name: "malformed", r: &http.Request{Header: http.Header{"Authorization": {"AWS4-HMAC-SHA256 Credential=a/b"}}}, wantCode: IncompleteSignature},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseScope(tc.r)
			if code := errCode(err); code != tc.wantCode {
				t.Fatalf("code = %q, want %q (err: %v)", code, tc.wantCode, err)
			}
			if got != tc.want {
				t.Errorf("scope = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestHTTPStatus(t *testing.T) {
	tests := []struct {
		code string
		want int
	}{
		{MissingAuthenticationToken, 403},
		{IncompleteSignature, 400},
		{InvalidClientTokenId, 403},
		{SignatureDoesNotMatch, 403},
		{RequestExpired, 400},
		{ExpiredToken, 403},
	}
	for _, tc := range tests {
		t.Run(tc.code, func(t *testing.T) {
			if got := (&Error{Code: tc.code}).HTTPStatus(); got != tc.want {
				t.Errorf("HTTPStatus() = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestCredentialsNeverPrintSecret(t *testing.T) {
	c := testKeys[tempKeyID]
	for _, s := range []string{c.String(), c.GoString()} {
		if strings.Contains(s, tempSecret) || strings.Contains(s, tempToken) {
			t.Errorf("Credentials print %q", s)
		}
	}
}

func TestVerifierWithoutLookup(t *testing.T) {
	r, _ := signHeader(t, kmsJSON)
	var v Verifier
	if _, err := v.Verify(context.Background(), r, []byte(kmsJSON.body)); err == nil {
		t.Fatal("Verify without a Lookup succeeded")
	}
}

// TestVerifyStrict: on JSON and query services, as AWS requires, the
// Content-Type and every x-amz-* header sent are signed and the payload
// is signed; what the SDKs sign (headers and presigned URLs with the
// body's hash) still verifies. Each refused case verifies without Strict,
// which is the looseness Strict closes.
func TestVerifyStrict(t *testing.T) {
	kmsNoTarget := with(kmsJSON, func(s *reqSpec) { delete(s.header, "X-Amz-Target") })
	kmsNoType := with(kmsJSON, func(s *reqSpec) { delete(s.header, "Content-Type") })
	kmsHostOnly := with(kmsJSON, func(s *reqSpec) { s.header = nil; s.body = "" })
	addTarget := func(r *http.Request) { r.Header.Set("X-Amz-Target", "TrentService.Encrypt") }
	tests := []struct {
		name     string
		spec     reqSpec
		presign  string // payload hash to presign with; "" signs the header form
		mutate   func(*http.Request)
		body     *string // the body sent with a presigned URL (presign sends none)
		wantCode string  // "" verifies
	}{
		{name: "query form POST", spec: stsForm},
		{name: "json POST", spec: kmsJSON},
		{name: "json POST with session token", spec: with(kmsJSON, func(s *reqSpec) { s.creds = tempCreds })},
		{name: "presigned query GET with the empty body's hash", spec: stsPresign, presign: hashHex(nil)},
		{name: "presigned query GET with session token", spec: with(stsPresign, func(s *reqSpec) { s.creds = tempCreds }), presign: hashHex(nil)},
		{name: "presigned json POST with its headers and body signed", spec: kmsJSON, presign: hashHex([]byte(kmsJSON.body)),
			mutate: func(r *http.Request) {
				r.Body, r.ContentLength = io.NopCloser(strings.NewReader(kmsJSON.body)), int64(len(kmsJSON.body))
			}},
		{name: "X-Amz-Target not signed", spec: kmsNoTarget, mutate: addTarget, wantCode: IncompleteSignature},
		{name: "Content-Type not signed", spec: kmsNoType, mutate: func(r *http.Request) { r.Header.Set("Content-Type", "application/x-amz-json-1.1") },
			wantCode: IncompleteSignature},
		{name: "presigned UNSIGNED-PAYLOAD", spec: stsPresign, presign: "UNSIGNED-PAYLOAD", wantCode: SignatureDoesNotMatch},
		{name: "presigned over host only, operation and body chosen later", spec: kmsHostOnly, presign: "UNSIGNED-PAYLOAD", mutate: func(r *http.Request) {
			addTarget(r)
			r.Header.Set("Content-Type", "application/x-amz-json-1.1")
		}, body: ptr(`{"KeyId":"alias/other","Plaintext":"aGVsbG8="}`), wantCode: IncompleteSignature},
		{name: "x-amz-content-sha256 UNSIGNED-PAYLOAD on a presigned URL", spec: with(stsPresign, func(s *reqSpec) {
			s.url += "&X-Amz-Content-Sha256=UNSIGNED-PAYLOAD"
		}), presign: "UNSIGNED-PAYLOAD", wantCode: IncompleteSignature},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			server, body := serverRequest(t, tc.spec, tc.presign, tc.mutate, tc.body)
			for _, strict := range []bool{false, true} {
				v := newVerifier(t0)
				v.Strict = strict
				_, err := v.Verify(context.Background(), server, body)
				want := tc.wantCode
				if !strict {
					want = ""
				}
				if got := errCode(err); got != want {
					t.Errorf("strict %v: code = %q, want %q (err: %v)", strict, got, want, err)
				}
			}
		})
	}
}
