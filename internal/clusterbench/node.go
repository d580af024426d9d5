package clusterbench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coffer-dev/coffer/internal/clusterenv"
)

// node is one coffer node as the load sees it: up (taking requests, as a
// load balancer's health check would say) or down while it is killed and
// restarted, and the memory its processes peaked at.
type node struct {
	index int
	n     *clusterenv.Node
	// mu serialises kills, restarts and the final stop.
	mu sync.Mutex
	up atomic.Bool
	// pid is the running process's, 0 while there is none.
	pid atomic.Int64
	// peakRSS is the most VmHWM (peak resident set) any of the node's
	// processes reached, in bytes.
	peakRSS atomic.Int64
	// cpu is the CPU time (user + system, clock ticks) of the node's
	// processes that were killed; lastCPU the running one's last sample.
	cpu, lastCPU atomic.Int64
	kills        atomic.Int64
	clients      *clients
}

func newNode(index int, n *clusterenv.Node) *node {
	nd := &node{index: index, n: n}
	nd.pid.Store(int64(n.PID()))
	nd.up.Store(true)
	return nd
}

// sample reads the process's peak resident set (VmHWM) and keeps the
// highest seen.
func (n *node) sample() {
	pid := n.pid.Load()
	if pid == 0 {
		return
	}
	hwm, err := vmHWM(int(pid))
	if err != nil {
		return // the process is being killed: its last sample stands
	}
	if t, err := cpuTicks(int(pid)); err == nil {
		n.lastCPU.Store(t)
	}
	for {
		old := n.peakRSS.Load()
		if hwm <= old || n.peakRSS.CompareAndSwap(old, hwm) {
			return
		}
	}
}

// vmHWM is a process's peak resident set size in bytes, from
// /proc/PID/status.
func vmHWM(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("VmHWM of %d: %w", pid, err)
			}
			return kb << 10, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}

// cpuSeconds is the CPU time the node's processes used so far.
func (n *node) cpuSeconds() float64 {
	return float64(n.cpu.Load()+n.lastCPU.Load()) / clockTicks
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times: 100 on
// every Linux architecture Go supports.
const clockTicks = 100

// cpuTicks is a process's user plus system time, in clock ticks, from
// /proc/PID/stat.
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// "PID (comm) STATE PPID ...": comm may hold spaces and parentheses;
	// utime and stime are the 14th and 15th fields.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	u, err := strconv.ParseInt(f[11], 10, 64)
	if err != nil {
		return 0, err
	}
	st, err := strconv.ParseInt(f[12], 10, 64)
	return u + st, err
}

// killAndRestart takes the node out of the load, samples its memory one
// last time, kills it (SIGKILL) and starts it again on its address; it
// returns how long the node was down.
func (n *node) killAndRestart(ctx context.Context) (time.Duration, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.up.Store(false)
	n.sample()
	n.pid.Store(0)
	n.cpu.Add(n.lastCPU.Swap(0))
	killed := time.Now()
	n.n.Kill()
	n.kills.Add(1)
	if err := n.n.Start(ctx); err != nil {
		return time.Since(killed), fmt.Errorf("restart node %d: %w", n.index, err)
	}
	n.pid.Store(int64(n.n.PID()))
	n.up.Store(true)
	return time.Since(killed), nil
}

// stop takes the node out of the load and stops it cleanly.
func (n *node) stop() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.up.Store(false)
	n.sample()
	if n.pid.Swap(0) == 0 {
		return nil
	}
	return n.n.Stop(time.Minute)
}

// balancer spreads calls over the nodes that are up, round robin.
type balancer struct {
	nodes []*node
	next  atomic.Uint64
}

// pick returns a node that is up; when none is, the next one anyway (its
// calls fail, and are counted).
func (l *balancer) pick() *node {
	for range l.nodes {
		n := l.nodes[int(l.next.Add(1)%uint64(len(l.nodes)))]
		if n.up.Load() {
			return n
		}
	}
	return l.nodes[int(l.next.Add(1)%uint64(len(l.nodes)))]
}
