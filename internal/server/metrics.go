package server

import (
	"sort"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/coffer-dev/coffer/internal/reqctx"
)

type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "coffer_requests_total",
			Help: "API requests by service, operation, HTTP status and AWS error code.",
		}, []string{"service", "operation", "status", "error_code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "coffer_request_duration_seconds",
			Help:    "API request latency by service and operation.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"service", "operation"}),
	}
	reg.MustRegister(m.requests, m.latency, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) observe(c *reqctx.Call, status int, d time.Duration) {
	m.requests.WithLabelValues(c.Service, c.Operation, strconv.Itoa(status), c.ErrorCode).Inc()
	m.latency.WithLabelValues(c.Service, c.Operation).Observe(d.Seconds())
}

func sorted(s []string) []string { sort.Strings(s); return s }
