package blob_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/coffer-dev/coffer/internal/blob"
	"github.com/coffer-dev/coffer/internal/blob/blobtest"
	"github.com/coffer-dev/coffer/internal/blob/fs"
)

func newFS(t *testing.T) *fs.Store {
	t.Helper()
	s, err := fs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// flaky fails the first failN calls of each operation with a temporary
// error. A failing Put first reads a little of its reader, as a real
// upload that breaks midway does.
type flaky struct {
	blob.Store
	failN int
	err   error
	mu    sync.Mutex
	calls map[string]int
}

func newFlaky(s blob.Store, n int) *flaky {
	return &flaky{Store: s, failN: n, err: blob.Temporary(errors.New("boom")), calls: map[string]int{}}
}

func (f *flaky) fail(op string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[op]++
	return f.calls[op] <= f.failN
}

func (f *flaky) count(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

func (f *flaky) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	if f.fail("put") {
		io.CopyN(io.Discard, r, 3)
		return f.err
	}
	return f.Store.Put(ctx, name, r, size)
}

func (f *flaky) Get(ctx context.Context, name string, off, n int64) (io.ReadCloser, error) {
	if f.fail("get") {
		return nil, f.err
	}
	return f.Store.Get(ctx, name, off, n)
}

func (f *flaky) Stat(ctx context.Context, name string) (blob.Info, error) {
	if f.fail("stat") {
		return blob.Info{}, f.err
	}
	return f.Store.Stat(ctx, name)
}

// List delivers the first two names, then fails (while failing).
func (f *flaky) List(ctx context.Context, prefix string, fn func(blob.Info) error) error {
	failing := f.fail("list")
	n := 0
	err := f.Store.List(ctx, prefix, func(fi blob.Info) error {
		if failing && n == 2 {
			return f.err
		}
		n++
		return fn(fi)
	})
	return err
}

func fastRetry(n int) blob.RetryOptions {
	return blob.RetryOptions{MaxAttempts: n, BaseDelay: time.Microsecond, MaxDelay: time.Millisecond}
}

func TestRetry(t *testing.T) {
	ctx := context.Background()
	f := newFlaky(newFS(t), 2)
	s := blob.WithRetry(f, fastRetry(3))

	data := []byte("hello, world")
	if err := s.Put(ctx, "a", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if got := blobtest.MustRead(t, s, "a", 0, -1); !bytes.Equal(got, data) {
		t.Errorf("Get = %q, want %q (reader not rewound between tries?)", got, data)
	}
	if _, err := s.Stat(ctx, "a"); err != nil {
		t.Errorf("Stat: %v", err)
	}
	for _, op := range []string{"put", "get", "stat"} {
		if got := f.count(op); got != 3 {
			t.Errorf("%s tried %d times, want 3", op, got)
		}
	}
	// Missing objects are not retried.
	if _, err := s.Stat(ctx, "missing"); !blob.IsNotExist(err) {
		t.Errorf("Stat(missing) = %v", err)
	}
	if got := f.count("stat"); got != 4 {
		t.Errorf("Stat(missing) was retried: %d calls in all, want 4", got)
	}
}

func TestRetryGivesUp(t *testing.T) {
	f := newFlaky(newFS(t), 100)
	s := blob.WithRetry(f, fastRetry(4))
	_, err := s.Stat(context.Background(), "x")
	if err == nil || !strings.Contains(err.Error(), "giving up after 4 attempts") || !strings.Contains(err.Error(), "boom") {
		t.Errorf("Stat = %v, want giving up after 4 attempts: boom", err)
	}
	if got := f.count("stat"); got != 4 {
		t.Errorf("tried %d times, want 4", got)
	}
}

// A patient context (a job's) keeps trying past MaxAttempts until its
// time is up; an impatient one (an API call's) gives up after them.
func TestRetryPatient(t *testing.T) {
	tests := []struct {
		name      string
		ctx       context.Context
		wantErr   bool
		wantCalls int
	}{
		{"impatient", context.Background(), true, 3},
		{"patient without end", blob.Patient(context.Background(), time.Time{}), false, 11},
		{"patient until later", blob.Patient(context.Background(), time.Now().Add(time.Hour)), false, 11},
		{"patience over", blob.Patient(context.Background(), time.Now().Add(-time.Second)), true, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFlaky(newFS(t), 10)
			s := blob.WithRetry(f, fastRetry(3))
			_, err := s.Stat(tc.ctx, "x")
			if gotErr := err != nil && !blob.IsNotExist(err); gotErr != tc.wantErr {
				t.Errorf("Stat = %v, want error %v", err, tc.wantErr)
			}
			if got := f.count("stat"); got != tc.wantCalls {
				t.Errorf("tried %d times, want %d", got, tc.wantCalls)
			}
		})
	}
}

// A reader that cannot seek cannot be replayed: one try only.
func TestRetryUnseekable(t *testing.T) {
	f := newFlaky(newFS(t), 1)
	s := blob.WithRetry(f, fastRetry(3))
	r := io.MultiReader(strings.NewReader("data")) // hides Seek
	if err := s.Put(context.Background(), "x", r, 4); err == nil {
		t.Error("Put of an unseekable reader was retried into success")
	}
	if got := f.count("put"); got != 1 {
		t.Errorf("tried %d times, want 1", got)
	}
}

func TestRetryListResumes(t *testing.T) {
	base := newFS(t)
	for i := range 5 {
		blobtest.Put(t, base, fmt.Sprintf("l/%d", i), []byte("x"))
	}
	f := newFlaky(base, 2)
	s := blob.WithRetry(f, fastRetry(3))
	got := blobtest.Names(t, s, "l/")
	want := []string{"l/0", "l/1", "l/2", "l/3", "l/4"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("List through failures = %q, want %q", got, want)
	}
}

func TestRetryCancelDuringBackoff(t *testing.T) {
	f := newFlaky(newFS(t), 100)
	s := blob.WithRetry(f, blob.RetryOptions{MaxAttempts: 5, BaseDelay: time.Hour, MaxDelay: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := s.Stat(ctx, "x")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Stat = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Stat took %v after its context ended", d)
	}
}

func TestRetryable(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"plain", errors.New("x"), false},
		{"temporary", blob.Temporary(errors.New("x")), true},
		{"wrapped temporary", fmt.Errorf("put: %w", blob.Temporary(errors.New("x"))), true},
		{"not exist", fmt.Errorf("get: %w", blob.ErrNotExist), false},
		{"exists", blob.ErrExists, false},
		{"canceled", blob.Temporary(context.Canceled), false},
		{"connection reset", fmt.Errorf("read: %w", syscall.ECONNRESET), true},
		{"connection refused", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, true},
		{"marker false", marker(false), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := blob.Retryable(tc.err); got != tc.want {
				t.Errorf("Retryable(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

type marker bool

func (m marker) Error() string   { return "marker" }
func (m marker) Retryable() bool { return bool(m) }

// gate counts concurrent Puts and holds each until released.
type gate struct {
	blob.Store
	cur, peak atomic.Int64
	release   chan struct{}
}

func (g *gate) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	n := g.cur.Add(1)
	defer g.cur.Add(-1)
	for {
		p := g.peak.Load()
		if n <= p || g.peak.CompareAndSwap(p, n) {
			break
		}
	}
	<-g.release
	return g.Store.Put(ctx, name, r, size)
}

func TestLimit(t *testing.T) {
	g := &gate{Store: newFS(t), release: make(chan struct{})}
	s := blob.WithLimit(g, 3)
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Put(context.Background(), fmt.Sprint(i), strings.NewReader("x"), 1); err != nil {
				t.Error(err)
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	if got := g.cur.Load(); got != 3 {
		t.Errorf("%d Puts in flight, want 3", got)
	}
	// A waiter gives up when its context ends.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := s.Put(ctx, "late", strings.NewReader("x"), 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Put waiting for a slot = %v, want DeadlineExceeded", err)
	}
	close(g.release)
	wg.Wait()
	if got := g.peak.Load(); got > 3 {
		t.Errorf("peak concurrency %d, want <= 3", got)
	}
}

// A Get holds its slot until the reader is closed.
func TestLimitGetHoldsSlot(t *testing.T) {
	base := newFS(t)
	blobtest.Put(t, base, "x", []byte("x"))
	s := blob.WithLimit(base, 1)
	rc, err := s.Get(context.Background(), "x", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := s.Stat(ctx, "x"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Stat while a Get is open = %v, want to wait", err)
	}
	rc.Close()
	if _, err := s.Stat(context.Background(), "x"); err != nil {
		t.Errorf("Stat after Close: %v", err)
	}
}

// noCreate is a Store without Create.
type noCreate struct{ blob.Store }

func TestWrapForwardsCreator(t *testing.T) {
	opts := blob.WrapOptions{
		Name: "t", Retry: fastRetry(3), MaxConcurrent: 2,
		Registerer: prometheus.NewRegistry(), Logger: slog.New(slog.DiscardHandler),
	}
	w, err := blob.Wrap(newFS(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	c, ok := w.(blob.Creator)
	if !ok {
		t.Fatal("Wrap(fs store) does not implement Creator")
	}
	ctx := context.Background()
	if err := c.Create(ctx, "c", strings.NewReader("1"), 1); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, "c", strings.NewReader("2"), 1); !errors.Is(err, blob.ErrExists) {
		t.Errorf("second Create through the wrappers = %v, want ErrExists", err)
	}
	w2, err := blob.Wrap(noCreate{newFS(t)}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := w2.(blob.Creator); ok {
		t.Error("Wrap of a store without Create implements Creator")
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := blob.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := blob.NewMetrics(reg); err != nil {
		t.Fatalf("second NewMetrics on one registry: %v", err)
	}
	s := m.Wrap(newFS(t), "r1")
	blobtest.Put(t, s, "a", []byte("12345"))
	blobtest.MustRead(t, s, "a", 1, 3)
	s.Stat(context.Background(), "missing")
	got := gather(t, reg)
	for series, want := range map[string]float64{
		`coffer_blob_operations_total{op="get",result="ok",store="r1"}`:         1,
		`coffer_blob_operations_total{op="put",result="ok",store="r1"}`:         1,
		`coffer_blob_operations_total{op="stat",result="not_exist",store="r1"}`: 1,
		`coffer_blob_bytes_total{op="get",store="r1"}`:                          3,
		`coffer_blob_bytes_total{op="put",store="r1"}`:                          5,
		`coffer_blob_operation_duration_seconds_count{op="stat",store="r1"}`:    1,
	} {
		if got[series] != want {
			t.Errorf("%s = %v, want %v", series, got[series], want)
		}
	}
	if len(got) != 8 {
		t.Errorf("%d series, want 8: %v", len(got), got)
	}
}

// gather returns counter values and histogram counts by series.
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, lp := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", lp.GetName(), lp.GetValue()))
			}
			ls := "{" + strings.Join(labels, ",") + "}"
			switch {
			case m.Counter != nil:
				out[mf.GetName()+ls] = m.GetCounter().GetValue()
			case m.Histogram != nil:
				out[mf.GetName()+"_count"+ls] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}

func TestLog(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := blob.WithLogger(newFS(t), l)
	blobtest.Put(t, s, "obj", []byte("SECRET-PLAINTEXT"))
	blobtest.MustRead(t, s, "obj", 0, -1)
	s.Put(context.Background(), "bad//name", strings.NewReader("SECRET-PLAINTEXT"), 16)
	out := buf.String()
	for _, want := range []string{"op=put name=obj size=16", "op=get name=obj", "level=WARN", "bad//name"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "SECRET") {
		t.Errorf("log shows object contents:\n%s", out)
	}
}
