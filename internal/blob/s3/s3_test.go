package s3_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coffer-dev/coffer/internal/blob"
	"github.com/coffer-dev/coffer/internal/blob/blobtest"
	"github.com/coffer-dev/coffer/internal/blob/s3"
	"github.com/coffer-dev/coffer/internal/testenv"
)

func config(srv testenv.MinIOServer, prefix string) s3.Config {
	return s3.Config{
		Endpoint:        srv.URL,
		Bucket:          srv.Bucket,
		Prefix:          prefix,
		Region:          srv.Region,
		AccessKeyID:     srv.AccessKey,
		SecretAccessKey: srv.SecretKey,
	}
}

func open(t *testing.T, cfg s3.Config) *s3.Store {
	t.Helper()
	s, err := s3.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestSuite(t *testing.T) {
	srv := testenv.StartMinIO(t)
	var n atomic.Int64
	blobtest.Run(t, func(t *testing.T) blob.Store {
		// Each subtest gets its own prefix: an empty store.
		return open(t, config(srv, fmt.Sprintf("suite/%d", n.Add(1))))
	})
	t.Run("PrefixIsolation", func(t *testing.T) {
		a := open(t, config(srv, "iso/a"))
		b := open(t, config(srv, "iso/ab"))
		blobtest.Put(t, a, "x", []byte("a"))
		blobtest.Put(t, b, "x", []byte("b"))
		if got := blobtest.Names(t, a, ""); len(got) != 1 || got[0] != "x" {
			t.Errorf("List on prefix iso/a = %q, want [x]", got)
		}
		if got := blobtest.MustRead(t, a, "x", 0, -1); string(got) != "a" {
			t.Errorf("Get = %q, want %q", got, "a")
		}
	})
}

func TestOpenErrors(t *testing.T) {
	srv := testenv.StartMinIO(t)
	for _, tc := range []struct {
		name string
		edit func(*s3.Config)
		want string
	}{
		{"missing bucket", func(c *s3.Config) { c.Bucket = "no-such-bucket" },
			"bucket no-such-bucket does not exist at " + srv.URL},
		{"unknown access key", func(c *s3.Config) { c.AccessKeyID = "nobody" }, "coffer-test"},
		{"wrong secret", func(c *s3.Config) { c.SecretAccessKey = "wrong-secret-key" }, "coffer-test"},
		{"no bucket", func(c *s3.Config) { c.Bucket = "" }, "bucket is required"},
		{"half credentials", func(c *s3.Config) { c.SecretAccessKey = "" }, "set both"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config(srv, "")
			tc.edit(&cfg)
			_, err := s3.Open(context.Background(), cfg)
			if err == nil {
				t.Fatalf("Open succeeded, want an error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Open error = %q, want it to contain %q", err, tc.want)
			}
			for _, secret := range []string{srv.SecretKey, "wrong-secret-key"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q shows a secret", err)
				}
			}
			t.Logf("error: %v", err)
		})
	}
}

// TestCredentialChain opens the store with credentials from the
// environment only.
func TestCredentialChain(t *testing.T) {
	srv := testenv.StartMinIO(t)
	t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
	cfg := config(srv, "chain")
	cfg.AccessKeyID, cfg.SecretAccessKey = "", ""
	s := open(t, cfg)
	blobtest.Put(t, s, "x", []byte("x"))
}

// faults makes the first n requests that match fail with 503 SlowDown,
// before they reach the server.
type faults struct {
	next  http.RoundTripper
	match func(*http.Request) bool
	left  atomic.Int64
	seen  atomic.Int64
}

func (f *faults) RoundTrip(req *http.Request) (*http.Response, error) {
	if f.match(req) {
		f.seen.Add(1)
		if f.left.Add(-1) >= 0 {
			if req.Body != nil {
				req.Body.Close()
			}
			return slowDown(req), nil
		}
	}
	return f.next.RoundTrip(req)
}

func slowDown(req *http.Request) *http.Response {
	body := `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`
	return &http.Response{
		StatusCode:    http.StatusServiceUnavailable,
		Status:        "503 Service Unavailable",
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{"Content-Type": {"application/xml"}},
		Body:          ioNopCloser(body),
		ContentLength: int64(len(body)),
		Request:       req,
	}
}

func ioNopCloser(s string) *nopCloser { return &nopCloser{strings.NewReader(s)} }

type nopCloser struct{ *strings.Reader }

func (nopCloser) Close() error { return nil }

func isObjectPut(req *http.Request) bool {
	return req.Method == http.MethodPut && strings.Contains(req.URL.Path, "/retry/")
}

// TestRetry puts through a transport that answers 503 SlowDown a few
// times: the retry wrapper gets the object through, and gives up with a
// clear error when the faults outlast its attempts.
func TestRetry(t *testing.T) {
	srv := testenv.StartMinIO(t)
	f := &faults{next: http.DefaultTransport, match: isObjectPut}
	cfg := config(srv, "retry")
	cfg.Transport = f
	var retries atomic.Int64
	s, err := blob.Wrap(open(t, cfg), blob.WrapOptions{Retry: blob.RetryOptions{
		MaxAttempts: 4, BaseDelay: time.Millisecond, MaxDelay: 10 * time.Millisecond,
		OnRetry: func(op, name string, attempt int, err error) { retries.Add(1) },
	}})
	if err != nil {
		t.Fatal(err)
	}
	data := blobtest.Data(9, 100_000)

	f.left.Store(3)
	if err := s.Put(context.Background(), "obj", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatalf("Put through 3 SlowDowns with 4 attempts: %v", err)
	}
	if got, want := f.seen.Load(), int64(4); got != want {
		t.Errorf("PUT requests = %d, want %d", got, want)
	}
	if got := retries.Load(); got != 3 {
		t.Errorf("retries = %d, want 3", got)
	}
	if got := blobtest.MustRead(t, s, "obj", 0, -1); !bytes.Equal(got, data) {
		t.Errorf("object differs after retried Put")
	}

	f.seen.Store(0)
	f.left.Store(100)
	err = s.Put(context.Background(), "obj2", bytes.NewReader(data), int64(len(data)))
	if err == nil {
		t.Fatal("Put through endless SlowDowns succeeded")
	}
	var se *s3.Error
	if !errors.As(err, &se) || se.Code != "SlowDown" || se.Status != 503 {
		t.Errorf("error %v: want an *s3.Error with code SlowDown, status 503", err)
	}
	if !strings.Contains(err.Error(), "giving up after 4 attempts") {
		t.Errorf("error %q does not say it gave up after 4 attempts", err)
	}
	if got := f.seen.Load(); got != 4 {
		t.Errorf("PUT requests = %d, want 4", got)
	}
}

// TestRetryGivesUp runs without MinIO: a server that only ever answers
// 503 SlowDown.
func TestRetryGivesUp(t *testing.T) {
	var puts atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead && r.URL.Path == "/bucket/" || r.URL.Path == "/bucket" {
			return // the bucket exists
		}
		if r.Method == http.MethodPut {
			puts.Add(1)
		}
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`)
	}))
	defer ts.Close()
	st, err := s3.Open(context.Background(), s3.Config{
		Endpoint: ts.URL, Bucket: "bucket", Region: "us-east-1", PathStyle: true,
		AccessKeyID: "k", SecretAccessKey: "s",
	})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	s := blob.WithRetry(st, blob.RetryOptions{MaxAttempts: 5, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond})
	err = s.Put(context.Background(), "x", strings.NewReader("data"), 4)
	if err == nil || !strings.Contains(err.Error(), "giving up after 5 attempts") || !strings.Contains(err.Error(), "SlowDown") {
		t.Errorf("Put error = %v, want giving up after 5 attempts with SlowDown", err)
	}
	if got := puts.Load(); got != 5 {
		t.Errorf("server saw %d PUTs, want 5", got)
	}
	if !blob.Retryable(errors.Unwrap(err)) {
		t.Errorf("the SlowDown error is not Retryable")
	}
	// A cancelled context stops the retries at once.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Stat(ctx, "x"); !errors.Is(err, context.Canceled) {
		t.Errorf("Stat with cancelled context = %v, want context.Canceled", err)
	}
}
