package clusterbench

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"
)

// The targets of issue 16 on this machine, besides zero 5xx and every
// job COMPLETED.
const (
	targetP99 = 200 * time.Millisecond
	targetRSS = 300 << 20 // bytes, each node
)

// Result is a run's figures; --json prints it as is.
type Result struct {
	Nodes           int     `json:"nodes"`
	DurationSeconds float64 `json:"durationSeconds"`
	// WallSeconds includes the drain after the load.
	WallSeconds  float64 `json:"wallSeconds"`
	JobsInFlight int     `json:"jobsInFlight"`
	RatePerSec   int     `json:"ratePerSecond"`
	Instances    struct {
		Postgres int `json:"postgres"`
		SQLite   int `json:"sqlite"`
	} `json:"instances"`
	Kills []Kill `json:"kills"`
	Jobs  Jobs   `json:"jobs"`
	// API is the mixed load; JobCalls the jobs' own StartBackupJob and
	// DescribeBackupJob calls.
	API      Calls  `json:"api"`
	JobCalls Calls  `json:"jobCalls"`
	Memory   []Node `json:"nodesMemory"`
	// LoadAverage is the machine's (1, 5 and 15 minutes) at the end: the
	// nodes share it with whatever else runs.
	LoadAverage string `json:"loadAverage"`
	// Missed lists the targets the run missed.
	Missed []string `json:"missed"`
}

// Kill is one node killed and restarted.
type Kill struct {
	Node        int     `json:"node"`
	At          string  `json:"at"`
	DownSeconds float64 `json:"downSeconds"`
}

// Jobs account for every backup job started: Started is the sum of the
// outcomes.
type Jobs struct {
	Started   int `json:"started"`
	Completed int `json:"completed"`
	// TakenOver completed on a later attempt, after their node was lost.
	TakenOver int `json:"takenOver"`
	// FailedNotOwn ended FAILED although nothing was wrong with the job
	// (every job of the bench is valid): the target is 0.
	FailedNotOwn int `json:"failedNotOwn"`
	// FailedPlacement ended FAILED because the node holding their
	// instance's server was away (the message names it).
	FailedPlacement int `json:"failedPlacement"`
	// Other ended ABORTED, EXPIRED or PARTIAL.
	Other int `json:"other"`
	// Unfinished had not ended when the drain ran out.
	Unfinished int `json:"unfinished"`
	// PerMinute is the jobs completed in each minute since the load
	// began (those past the duration completed in the drain).
	PerMinute []int `json:"completedPerMinute"`
	// SecondsP50 and SecondsP99 are the completed jobs' times from
	// StartBackupJob to seen COMPLETED.
	SecondsP50 float64 `json:"secondsP50"`
	SecondsP99 float64 `json:"secondsP99"`
	// FailureMessages counts the StatusMessages of failed jobs.
	FailureMessages map[string]int `json:"failureMessages,omitempty"`
}

// Calls sum up API calls.
type Calls struct {
	Requests int            `json:"requests"`
	NotSent  int64          `json:"notSent,omitempty"`
	P50Ms    float64        `json:"p50Ms"`
	P99Ms    float64        `json:"p99Ms"`
	MaxMs    float64        `json:"maxMs"`
	Errors   map[string]int `json:"errors"`
	Status5x int            `json:"status5xx"`
	ByOp     []Op           `json:"byOperation"`
}

// Op is one operation's calls.
type Op struct {
	Name     string  `json:"name"`
	Requests int     `json:"requests"`
	P50Ms    float64 `json:"p50Ms"`
	P99Ms    float64 `json:"p99Ms"`
}

// Node is one node's peak memory.
type Node struct {
	Node       int     `json:"node"`
	PeakRSSMiB float64 `json:"peakRssMiB"`
	CPUSeconds float64 `json:"cpuSeconds"`
	Kills      int64   `json:"kills"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// quantile of sorted durations.
func quantile(s []time.Duration, q float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	return s[int(q*float64(len(s)-1)+0.5)]
}

func (t *calls) sum(notSent int64) Calls {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := Calls{Errors: map[string]int{}, Status5x: t.status5xx, NotSent: notSent}
	var all []time.Duration
	for name, l := range t.latencies {
		s := append([]time.Duration(nil), l...)
		sort.Slice(s, func(i, k int) bool { return s[i] < s[k] })
		c.ByOp = append(c.ByOp, Op{Name: name, Requests: len(s), P50Ms: ms(quantile(s, .5)), P99Ms: ms(quantile(s, .99))})
		all = append(all, s...)
	}
	sort.Slice(c.ByOp, func(i, k int) bool { return c.ByOp[i].Name < c.ByOp[k].Name })
	sort.Slice(all, func(i, k int) bool { return all[i] < all[k] })
	c.Requests = len(all)
	c.P50Ms, c.P99Ms = ms(quantile(all, .5)), ms(quantile(all, .99))
	if len(all) > 0 {
		c.MaxMs = ms(all[len(all)-1])
	}
	for k, v := range t.errors {
		c.Errors[k] = v
	}
	return c
}

func (b *bench) result(took time.Duration, api, jobCalls *calls, notSent int64, jobs []job, kills []Kill) *Result {
	r := &Result{Nodes: len(b.nodes), DurationSeconds: b.o.Duration.Seconds(), WallSeconds: took.Seconds(), JobsInFlight: b.o.Jobs, RatePerSec: b.o.Rate,
		Kills: kills, API: api.sum(notSent), JobCalls: jobCalls.sum(0)}
	if r.Kills == nil {
		r.Kills = []Kill{}
	}
	r.Instances.Postgres, r.Instances.SQLite = b.o.Postgres, b.o.SQLite
	r.Jobs.FailureMessages = map[string]int{}
	var jobTimes []time.Duration
	r.Jobs.PerMinute = make([]int, int((took+time.Minute-1)/time.Minute))
	for _, j := range jobs {
		r.Jobs.Started++
		switch j.state {
		case "COMPLETED":
			r.Jobs.Completed++
			jobTimes = append(jobTimes, j.took)
			if strings.Contains(j.message, "attempt ") {
				r.Jobs.TakenOver++
			}
			if m := int(j.ended / time.Minute); m < len(r.Jobs.PerMinute) {
				r.Jobs.PerMinute[m]++
			}
		case "FAILED":
			if placementMessage.MatchString(j.message) {
				r.Jobs.FailedPlacement++
			} else {
				r.Jobs.FailedNotOwn++
			}
			r.Jobs.FailureMessages[j.message]++
		case "ABORTED", "EXPIRED", "PARTIAL":
			r.Jobs.Other++
		default:
			r.Jobs.Unfinished++
		}
	}
	sort.Slice(jobTimes, func(i, k int) bool { return jobTimes[i] < jobTimes[k] })
	r.Jobs.SecondsP50, r.Jobs.SecondsP99 = quantile(jobTimes, .5).Seconds(), quantile(jobTimes, .99).Seconds()
	if l, err := os.ReadFile("/proc/loadavg"); err == nil {
		r.LoadAverage = strings.Join(strings.Fields(string(l))[:3], " ")
	}
	for _, n := range b.nodes {
		n.sample()
		r.Memory = append(r.Memory, Node{Node: n.index, PeakRSSMiB: float64(n.peakRSS.Load()) / (1 << 20), CPUSeconds: n.cpuSeconds(), Kills: n.kills.Load()})
	}
	if r.API.Status5x+r.JobCalls.Status5x > 0 {
		r.Missed = append(r.Missed, "zero 5xx")
	}
	if r.Jobs.Completed != r.Jobs.Started {
		r.Missed = append(r.Missed, "every job COMPLETED")
	}
	if r.API.P99Ms > ms(targetP99) {
		r.Missed = append(r.Missed, "API p99 ≤ 200 ms")
	}
	for _, m := range r.Memory {
		if m.PeakRSSMiB > float64(targetRSS>>20) {
			r.Missed = append(r.Missed, fmt.Sprintf("node %d ≤ 300 MiB RSS", m.Node))
		}
	}
	if r.Missed == nil {
		r.Missed = []string{}
	}
	return r
}

// Print writes the figures beside the targets.
func (r *Result) Print(w io.Writer) {
	fmt.Fprintf(w, "\ncoffer bench cluster: %d nodes on one PostgreSQL and one MinIO, %gs of load (%gs with the drain)\n", r.Nodes, r.DurationSeconds, r.WallSeconds)
	fmt.Fprintf(w, "  %d backup jobs in flight over %d PostgreSQL and %d SQLite instances; %d API calls/s; %d node kills (SIGKILL, then restart)\n\n",
		r.JobsInFlight, r.Instances.Postgres, r.Instances.SQLite, r.RatePerSec, len(r.Kills))
	fmt.Fprintf(w, "jobs completed per minute:")
	for i, n := range r.Jobs.PerMinute {
		mark := ""
		if float64(i*60) >= r.DurationSeconds {
			mark = " (drain)"
		}
		fmt.Fprintf(w, "  %d: %d%s", i+1, n, mark)
	}
	fmt.Fprintf(w, "\njob time, start to COMPLETED: p50 %.1f s, p99 %.1f s\nkills:", r.Jobs.SecondsP50, r.Jobs.SecondsP99)
	for _, k := range r.Kills {
		fmt.Fprintf(w, "  node %d at %s (down %.1fs)", k.Node, k.At, k.DownSeconds)
	}
	fmt.Fprintf(w, "\n\n%-40s %9s %9s %9s\n", "API load by operation", "requests", "p50 ms", "p99 ms")
	for _, o := range r.API.ByOp {
		fmt.Fprintf(w, "%-40s %9d %9.1f %9.1f\n", o.Name, o.Requests, o.P50Ms, o.P99Ms)
	}
	fmt.Fprintf(w, "%-40s %9d %9.1f %9.1f  (max %.0f ms", "all", r.API.Requests, r.API.P50Ms, r.API.P99Ms, r.API.MaxMs)
	if r.API.NotSent > 0 {
		fmt.Fprintf(w, "; %d not sent: too many in flight", r.API.NotSent)
	}
	fmt.Fprintf(w, ")\n%-40s %9d %9.1f %9.1f\n", "the jobs' own Start/DescribeBackupJob", r.JobCalls.Requests, r.JobCalls.P50Ms, r.JobCalls.P99Ms)
	fmt.Fprintf(w, "\nerrors by code (API load / jobs' calls):\n")
	codes := map[string]bool{}
	for k := range r.API.Errors {
		codes[k] = true
	}
	for k := range r.JobCalls.Errors {
		codes[k] = true
	}
	var sorted []string
	for k := range codes {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	if len(sorted) == 0 {
		fmt.Fprintf(w, "  none\n")
	}
	for _, k := range sorted {
		fmt.Fprintf(w, "  %-38s %9d %9d\n", k, r.API.Errors[k], r.JobCalls.Errors[k])
	}
	fmt.Fprintf(w, "  (connection: refused or cut by a node being killed; not an HTTP answer)\n")
	if len(r.Jobs.FailureMessages) > 0 {
		fmt.Fprintf(w, "\nfailed jobs' messages:\n")
		for m, n := range r.Jobs.FailureMessages {
			fmt.Fprintf(w, "  %4d  %s\n", n, m)
		}
	}
	verdict := func(ok bool) string {
		if ok {
			return "ok"
		}
		return "MISSED"
	}
	fmt.Fprintf(w, "\n%-44s %-18s %-14s\n", "", "measured", "target")
	fmt.Fprintf(w, "%-44s %-18d %-14s %s\n", "5xx answers (API load + jobs' calls)", r.API.Status5x+r.JobCalls.Status5x, "0", verdict(r.API.Status5x+r.JobCalls.Status5x == 0))
	fmt.Fprintf(w, "%-44s %-18s %-14s %s\n", "jobs COMPLETED", fmt.Sprintf("%d of %d", r.Jobs.Completed, r.Jobs.Started), "all", verdict(r.Jobs.Completed == r.Jobs.Started))
	fmt.Fprintf(w, "%-44s %-18d\n", "  of which taken over after a node loss", r.Jobs.TakenOver)
	fmt.Fprintf(w, "%-44s %-18d %-14s %s\n", "jobs FAILED, not their own fault", r.Jobs.FailedNotOwn, "0", verdict(r.Jobs.FailedNotOwn == 0))
	fmt.Fprintf(w, "%-44s %-18d %-14s\n", "jobs FAILED, their instance's node away", r.Jobs.FailedPlacement, "(apart)")
	fmt.Fprintf(w, "%-44s %-18d\n", "jobs ABORTED/EXPIRED/PARTIAL", r.Jobs.Other)
	fmt.Fprintf(w, "%-44s %-18d\n", "jobs unfinished when the drain ran out", r.Jobs.Unfinished)
	fmt.Fprintf(w, "%-44s %-18s %-14s %s\n", "API p50 / p99", fmt.Sprintf("%.1f / %.1f ms", r.API.P50Ms, r.API.P99Ms), "p99 ≤ 200 ms", verdict(r.API.P99Ms <= ms(targetP99)))
	for _, m := range r.Memory {
		fmt.Fprintf(w, "%-44s %-18s %-14s %s\n", fmt.Sprintf("node %d peak RSS (VmHWM, %d kills)", m.Node, m.Kills), fmt.Sprintf("%.0f MiB", m.PeakRSSMiB), "≤ 300 MiB", verdict(m.PeakRSSMiB <= float64(targetRSS>>20)))
	}
	fmt.Fprintf(w, "\nCPU seconds by node:")
	for _, m := range r.Memory {
		fmt.Fprintf(w, "  %d: %.0f", m.Node, m.CPUSeconds)
	}
	fmt.Fprintf(w, "  (machine load average at the end: %s)\n", r.LoadAverage)
}
