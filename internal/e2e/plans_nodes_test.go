package e2e

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestTwoNodesOnePostgres: two coffer nodes share one PostgreSQL
// database and one data location and both tick every window at the same
// moment (more than River's leader election lets happen); then the first
// node stops and the second carries on. Every hourly window runs exactly
// once: none twice, none missed.
func TestTwoNodesOnePostgres(t *testing.T) {
	ctx := context.Background()
	w := newHourlyNodes(t)
	a, b, src, clock, start := w.a, w.b, w.src, w.clock, w.start

	const hours = 12
	for hour := 1; hour <= hours; hour++ {
		clock.Set(start.Add(time.Duration(hour) * time.Hour))
		nodes := []*node{a, b}
		if hour > hours/2 {
			nodes = []*node{b}
		}
		var wg sync.WaitGroup
		for _, n := range nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := n.app.Plans().Tick(ctx)
				if err != nil || len(res.Errors) > 0 {
					t.Errorf("hour %d: tick: %v %v", hour, err, res.Errors)
				}
			}()
		}
		wg.Wait()
		waitJobs(t, src, hour, 0)
		if hour == hours/2 {
			a.stop()
			src = b.clients(t, source, "source", "")
		}
	}

	checkEachWindowOnce(t, src, start, hours)
}
