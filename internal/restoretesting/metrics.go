package restoretesting

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/coffer-dev/coffer/internal/backup"
)

// Counter counts the restore tests (the backup domain).
type Counter interface {
	CountRestoreTests(ctx context.Context) ([]backup.RestoreTestCounts, error)
}

// Collector exports the restore tests' results, read from the store at
// each scrape so every node shows the same numbers:
//
//	coffer_restore_tests{account,region,plan,validation_status}         restore jobs started by the plan
//	coffer_restore_test_last_created_seconds{account,region,plan,validation_status} newest such job
//
// validation_status is SUCCESSFUL, FAILED, TIMED_OUT, VALIDATING, or
// "none" for a test that has not validated (still running, or failed
// before validation).
type Collector struct {
	c          Counter
	jobs, last *prometheus.Desc
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector returns the restore tests' metrics.
func NewCollector(c Counter) *Collector {
	labels := []string{"account", "region", "plan", "validation_status"}
	return &Collector{c: c,
		jobs: prometheus.NewDesc("coffer_restore_tests", "Restore jobs started by restore testing plans, by validation status.", labels, nil),
		last: prometheus.NewDesc("coffer_restore_test_last_created_seconds", "Creation time of the newest restore test job, by validation status.", labels, nil),
	}
}

// Describe sends the metrics' descriptions.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) { ch <- c.jobs; ch <- c.last }

// Collect reads the counts; a store error reports an invalid metric.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	counts, err := c.c.CountRestoreTests(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.jobs, err)
		return
	}
	for _, n := range counts {
		status := n.ValidationStatus
		if status == "" {
			status = "none"
		}
		ch <- prometheus.MustNewConstMetric(c.jobs, prometheus.GaugeValue, float64(n.Jobs), n.Account, n.Region, n.PlanARN, status)
		ch <- prometheus.MustNewConstMetric(c.last, prometheus.GaugeValue, float64(n.LastCreated.UnixNano())/1e9, n.Account, n.Region, n.PlanARN, status)
	}
}
