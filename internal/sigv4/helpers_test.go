package sigv4

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/smithy-go/logging"
)

const (
	testKeyID  = "AKIAIOSFODNN7EXAMPLE"
	testSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	tempKeyID  = "ASIAIOSFODNN7EXAMPLE"
	tempSecret = "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY"
	tempToken  = "FwoGZXIvYXdzEXAMPLETOKEN//////////wEaDEXAMPLE="
	oldKeyID   = "ASIAEXPIREDEXAMPLE00"
)

// t0 is the signing time of every test request; the verifier's clock is t0
// unless a case says otherwise.
var t0 = time.Date(2024, 1, 1, 0, 30, 0, 0, time.UTC)

// memLookup is an in-memory CredentialLookup.
type memLookup map[string]Credentials

var _ CredentialLookup = memLookup(nil)

func (m memLookup) LookupAccessKey(_ context.Context, id string) (Credentials, error) {
	c, ok := m[id]
	if !ok {
		return Credentials{}, fmt.Errorf("access key %q: %w", id, ErrUnknownAccessKey)
	}
	return c, nil
}

var testKeys = memLookup{
	testKeyID: {AccessKeyID: testKeyID, SecretAccessKey: testSecret},
	tempKeyID: {AccessKeyID: tempKeyID, SecretAccessKey: tempSecret, SessionToken: tempToken, Expires: t0.Add(time.Hour)},
	oldKeyID:  {AccessKeyID: oldKeyID, SecretAccessKey: tempSecret, SessionToken: tempToken, Expires: t0.Add(-time.Minute)},
}

func newVerifier(now time.Time) *Verifier {
	return &Verifier{Lookup: testKeys, Now: func() time.Time { return now }}
}

var (
	permCreds = aws.Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret}
	tempCreds = aws.Credentials{AccessKeyID: tempKeyID, SecretAccessKey: tempSecret, SessionToken: tempToken}
)

func hashHex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// reqSpec describes a request to sign with aws-sdk-go-v2's signer.
type reqSpec struct {
	method, url string
	header      map[string]string
	body        string
	service     string
	region      string
	creds       aws.Credentials
	at          time.Time
}

// canonLog captures the canonical string the SDK signer logs.
type canonLog struct{ canonical string }

func (c *canonLog) logger() logging.Logger {
	return logging.LoggerFunc(func(_ logging.Classification, format string, v ...interface{}) {
		if len(v) > 0 {
			if s, ok := v[0].(string); ok {
				c.canonical = s
			}
		}
	})
}

// newClientRequest builds the unsigned client-side request.
func newClientRequest(t testing.TB, s reqSpec) *http.Request {
	t.Helper()
	var body io.Reader
	if s.body != "" {
		body = strings.NewReader(s.body)
	}
	r, err := http.NewRequest(s.method, s.url, body)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	for k, v := range s.header {
		r.Header.Set(k, v)
	}
	return r
}

func (s reqSpec) defaults() reqSpec {
	if s.region == "" {
		s.region = "us-east-1"
	}
	if s.creds.AccessKeyID == "" {
		s.creds = permCreds
	}
	if s.at.IsZero() {
		s.at = t0
	}
	return s
}

// signHeader signs the request with SignHTTP (Authorization header) and
// returns the client request and the canonical string the SDK signed.
func signHeader(t testing.TB, s reqSpec) (*http.Request, string) {
	t.Helper()
	s = s.defaults()
	r := newClientRequest(t, s)
	var log canonLog
	err := v4.NewSigner().SignHTTP(context.Background(), s.creds, r, hashHex([]byte(s.body)), s.service, s.region, s.at,
		func(o *v4.SignerOptions) { o.Logger, o.LogSigning = log.logger(), true })
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return r, log.canonical
}

// presign presigns the request with PresignHTTP and returns the client
// request for the signed URL.
func presign(t testing.TB, s reqSpec, payloadHash string) (*http.Request, string) {
	t.Helper()
	s = s.defaults()
	r := newClientRequest(t, s)
	var log canonLog
	u, hdr, err := v4.NewSigner().PresignHTTP(context.Background(), s.creds, r, payloadHash, s.service, s.region, s.at,
		func(o *v4.SignerOptions) { o.Logger, o.LogSigning = log.logger(), true })
	if err != nil {
		t.Fatalf("presign: %v", err)
	}
	out, err := http.NewRequest(s.method, u, nil)
	if err != nil {
		t.Fatalf("new presigned request: %v", err)
	}
	for k, v := range hdr {
		if k != "Host" {
			out.Header[k] = v
		}
	}
	return out, log.canonical
}

// toServer sends the client request through the HTTP/1.1 wire format and
// reads it back as the server sees it (Host in r.Host, RequestURI set, the
// raw path preserved).
func toServer(t testing.TB, r *http.Request) (*http.Request, []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := r.Write(&buf); err != nil {
		t.Fatalf("write request: %v", err)
	}
	sr, err := http.ReadRequest(bufio.NewReader(&buf))
	if err != nil {
		t.Fatalf("read request: %v", err)
	}
	body, err := io.ReadAll(sr.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return sr, body
}

// errCode returns the *Error code of err, "" for nil, or "<not *Error>".
func errCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return "<not *Error: " + err.Error() + ">"
}
