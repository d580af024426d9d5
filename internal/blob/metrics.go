package blob

import (
	"context"
	"errors"
	"io"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics holds the Prometheus collectors of the blob stores. One Metrics
// serves many stores, told apart by the "store" label.
//
//	coffer_blob_operations_total{store,op,result}     counter
//	coffer_blob_operation_duration_seconds{store,op}  histogram
//	coffer_blob_bytes_total{store,op}                 counter (put, create: sent; get: read)
//
// op is put, create, get, stat, list or delete; result is ok, not_exist,
// exists, canceled or error. A Get's duration ends when its reader is
// returned, not when it is drained.
type Metrics struct {
	ops      *prometheus.CounterVec
	duration *prometheus.HistogramVec
	bytes    *prometheus.CounterVec
}

// NewMetrics registers the collectors with reg. Registering twice with
// the same registerer reuses the collectors already there.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		ops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "coffer", Subsystem: "blob", Name: "operations_total",
			Help: "Blob store operations by store, operation and result.",
		}, []string{"store", "op", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "coffer", Subsystem: "blob", Name: "operation_duration_seconds",
			Help:    "Blob store operation latency, retries included.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 9), // 1ms .. ~65s
		}, []string{"store", "op"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "coffer", Subsystem: "blob", Name: "bytes_total",
			Help: "Bytes written to (put, create) or read from (get) blob stores.",
		}, []string{"store", "op"}),
	}
	var err error
	if m.ops, err = register(reg, m.ops); err != nil {
		return nil, err
	}
	if m.duration, err = register(reg, m.duration); err != nil {
		return nil, err
	}
	if m.bytes, err = register(reg, m.bytes); err != nil {
		return nil, err
	}
	return m, nil
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, err
	}
	return c, nil
}

// Wrap returns s instrumented under the label store=name.
func (m *Metrics) Wrap(s Store, name string) Store {
	return expose(&metricStore{s: s, m: m, name: name}, s)
}

// Result classifies err for metrics and logs.
func Result(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrNotExist):
		return "not_exist"
	case errors.Is(err, ErrExists):
		return "exists"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "canceled"
	default:
		return "error"
	}
}

type metricStore struct {
	s    Store
	m    *Metrics
	name string
}

func (ms *metricStore) observe(op string, start time.Time, err error) {
	ms.m.ops.WithLabelValues(ms.name, op, Result(err)).Inc()
	ms.m.duration.WithLabelValues(ms.name, op).Observe(time.Since(start).Seconds())
}

func (ms *metricStore) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	start := time.Now()
	err := ms.s.Put(ctx, name, r, size) // r unwrapped: retry below needs its Seek
	ms.observe("put", start, err)
	if err == nil && size > 0 {
		ms.m.bytes.WithLabelValues(ms.name, "put").Add(float64(size))
	}
	return err
}

func (ms *metricStore) create(ctx context.Context, name string, r io.Reader, size int64) error {
	start := time.Now()
	err := createOn(ctx, ms.s, name, r, size)
	ms.observe("create", start, err)
	if err == nil && size > 0 {
		ms.m.bytes.WithLabelValues(ms.name, "create").Add(float64(size))
	}
	return err
}

func (ms *metricStore) Get(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	start := time.Now()
	rc, err := ms.s.Get(ctx, name, offset, length)
	ms.observe("get", start, err)
	if err != nil {
		return nil, err
	}
	return &countingReadCloser{ReadCloser: rc, done: func(n int64) {
		ms.m.bytes.WithLabelValues(ms.name, "get").Add(float64(n))
	}}, nil
}

func (ms *metricStore) Stat(ctx context.Context, name string) (Info, error) {
	start := time.Now()
	fi, err := ms.s.Stat(ctx, name)
	ms.observe("stat", start, err)
	return fi, err
}

func (ms *metricStore) List(ctx context.Context, prefix string, fn func(Info) error) error {
	start := time.Now()
	err := ms.s.List(ctx, prefix, fn)
	ms.observe("list", start, err)
	return err
}

func (ms *metricStore) Delete(ctx context.Context, name string) error {
	start := time.Now()
	err := ms.s.Delete(ctx, name)
	ms.observe("delete", start, err)
	return err
}

// countingReadCloser reports the bytes read through it once, on Close.
type countingReadCloser struct {
	io.ReadCloser
	n    atomic.Int64
	once atomic.Bool
	done func(int64)
}

func (c *countingReadCloser) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func (c *countingReadCloser) Close() error {
	err := c.ReadCloser.Close()
	if c.once.CompareAndSwap(false, true) {
		c.done(c.n.Load())
	}
	return err
}
