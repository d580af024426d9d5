package main

import (
	"encoding/json"
	"os/exec"
	"testing"

	"github.com/coffer-dev/coffer/internal/clusterbench"
	"github.com/coffer-dev/coffer/internal/minioserver"
	"github.com/coffer-dev/coffer/internal/pgserver"
	"github.com/coffer-dev/coffer/internal/testenv"
)

// TestBenchCluster runs coffer bench cluster briefly (20 s of load, one
// node killed) and checks that it completes and that its accounting adds
// up: every job started has one outcome, the completions per minute sum
// to the completed jobs, the calls by operation to all calls, the kills
// by node to the kills. It asserts nothing about speed.
func TestBenchCluster(t *testing.T) {
	if minioserver.Binary() == "" {
		testenv.Missing(t, "%v", minioserver.ErrNoBinary)
	}
	if _, err := pgserver.BinDir(); err != nil {
		testenv.Missing(t, "%v", err)
	}
	out, err := exec.Command(binary(t), "bench", "cluster", "--json", "--quiet", "--duration", "20s", "--kill-every", "15s", "--drain", "3m",
		"--postgres", "1", "--sqlite", "1", "--jobs", "4", "--rate", "20").Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("coffer bench cluster: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	var r clusterbench.Result
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("coffer bench cluster --json: %v\n%s", err, out)
	}
	if r.Nodes != 3 || len(r.Memory) != 3 {
		t.Errorf("%d nodes, memory of %d; want 3", r.Nodes, len(r.Memory))
	}
	if len(r.Kills) != 1 {
		t.Errorf("%d kills in 20 s with one every 15 s; want 1", len(r.Kills))
	}
	var kills int64
	for _, m := range r.Memory {
		kills += m.Kills
		if m.PeakRSSMiB <= 0 {
			t.Errorf("node %d: no peak RSS", m.Node)
		}
	}
	if kills != int64(len(r.Kills)) {
		t.Errorf("kills by node sum to %d, not %d", kills, len(r.Kills))
	}
	j := r.Jobs
	if j.Started == 0 {
		t.Error("no job started")
	}
	if sum := j.Completed + j.FailedNotOwn + j.FailedPlacement + j.Other + j.Unfinished; sum != j.Started {
		t.Errorf("job outcomes sum to %d, not the %d started: %+v", sum, j.Started, j)
	}
	perMinute := 0
	for _, n := range j.PerMinute {
		perMinute += n
	}
	if perMinute != j.Completed || j.TakenOver > j.Completed {
		t.Errorf("completed per minute sum to %d, taken over %d; %d completed", perMinute, j.TakenOver, j.Completed)
	}
	failed := 0
	for _, n := range j.FailureMessages {
		failed += n
	}
	if failed != j.FailedNotOwn+j.FailedPlacement {
		t.Errorf("failure messages count %d jobs; %d failed", failed, j.FailedNotOwn+j.FailedPlacement)
	}
	for _, c := range []clusterbench.Calls{r.API, r.JobCalls} {
		byOp, errs := 0, 0
		for _, o := range c.ByOp {
			byOp += o.Requests
		}
		for _, n := range c.Errors {
			errs += n
		}
		if byOp != c.Requests || errs > c.Requests || c.Status5x > errs || c.Requests == 0 {
			t.Errorf("calls: %d requests, %d by operation, %d errors, %d 5xx", c.Requests, byOp, errs, c.Status5x)
		}
	}
}
