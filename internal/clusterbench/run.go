package clusterbench

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// run drives the load for the duration, kills and restarts nodes, lets
// the jobs in flight end and gathers the figures.
func (b *bench) run(ctx context.Context) (*Result, error) {
	lb := &balancer{nodes: b.nodes}
	api, jobCalls := newCalls(), newCalls()
	var notSent atomic.Int64
	loadCtx, stopLoad := context.WithTimeout(ctx, b.o.Duration)
	defer stopLoad()
	b.logf("load: %d backup jobs in flight, %d API calls/s over %d nodes, one node killed every %s, for %s", b.o.Jobs, b.o.Rate, len(b.nodes), b.o.KillEvery, b.o.Duration)
	t0 := time.Now()
	var wg sync.WaitGroup
	// Memory, every second, until the end.
	sampleCtx, stopSampling := context.WithCancel(ctx)
	defer stopSampling()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			for _, n := range b.nodes {
				n.sample()
			}
			select {
			case <-sampleCtx.Done():
				return
			case <-time.After(time.Second):
			}
		}
	}()
	var (
		kills   []Kill
		killErr error
	)
	if b.o.KillEvery > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(b.o.KillEvery)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-loadCtx.Done():
					return
				case <-tick.C:
				}
				if loadCtx.Err() != nil {
					return // the tick of the load's end
				}
				n := b.nodes[i%len(b.nodes)]
				at := time.Since(t0)
				down, err := n.killAndRestart(ctx)
				kills = append(kills, Kill{Node: n.index, At: at.Round(time.Second).String(), DownSeconds: down.Seconds()})
				b.logf("killed node %d (SIGKILL) and restarted it: down %s", n.index, down.Round(time.Millisecond))
				if err != nil {
					killErr = err
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		b.runLoad(loadCtx, lb, api, &notSent)
	}()
	// Progress, once a minute.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-loadCtx.Done():
				return
			case <-time.After(time.Minute):
			}
			api.mu.Lock()
			var n int
			for _, l := range api.latencies {
				n += len(l)
			}
			e5 := api.status5xx
			api.mu.Unlock()
			b.logf("%s: %d API calls, %d 5xx", time.Since(t0).Round(time.Second), n, e5)
		}
	}()
	drainCtx, stopDrain := context.WithCancel(ctx)
	defer stopDrain()
	go func() {
		select {
		case <-loadCtx.Done():
			b.logf("load over; letting the jobs in flight end (at most %s)", b.o.Drain)
			sleep(ctx, b.o.Drain)
			stopDrain()
		case <-drainCtx.Done():
		}
	}()
	jobs := b.runJobs(loadCtx, drainCtx, lb, jobCalls, t0)
	took := time.Since(t0)
	stopDrain()
	stopLoad()
	// The sampler stops after the kills and the load have.
	stopSampling()
	wg.Wait()
	if killErr != nil {
		return nil, killErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return b.result(took, api, jobCalls, notSent.Load(), jobs, kills), nil
}
