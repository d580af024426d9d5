package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/coffer-dev/coffer/internal/meta"
)

// Node is a coffer serve process sharing the store, as its row in
// coffer_nodes and River's tables show it.
type Node struct {
	ID, Address        string
	Started, Heartbeat time.Time
	// Leader: River's elected leader (it schedules periodic work and
	// rescues the jobs of nodes that stopped).
	Leader bool
	// Running is how many jobs the node's attempts hold.
	Running int
}

// Cluster is the nodes and the queue of a store.
type Cluster struct {
	Nodes []Node
	// Leader is River's leader's ID ("" when none is elected).
	Leader string
	// Depth counts River jobs by state (available, running, retryable,
	// scheduled, completed, discarded, cancelled, pending).
	Depth map[string]int
}

// beat records this node's heartbeat in coffer_nodes.
func (q *Queue) beat(ctx context.Context) error {
	now := time.Now().UnixNano()
	_, err := q.store.ExecContext(ctx, `INSERT INTO coffer_nodes (id, address, started_at, heartbeat_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET address = excluded.address, heartbeat_at = excluded.heartbeat_at`, q.node, q.address, q.started.UnixNano(), now)
	return err
}

// beatUntil renews this node's heartbeat every third of the lease until
// ctx ends, then removes the node's row (a clean stop).
func (q *Queue) beatUntil(ctx context.Context) {
	tick := time.NewTicker(q.lease / 3)
	defer tick.Stop()
	for {
		if err := q.beat(ctx); err != nil && ctx.Err() == nil {
			q.log.Warn("node heartbeat", "error", err)
		}
		select {
		case <-ctx.Done():
			if _, err := q.store.ExecContext(context.WithoutCancel(ctx), `DELETE FROM coffer_nodes WHERE id = ?`, q.node); err != nil {
				q.log.Warn("remove this node from coffer_nodes", "error", err)
			}
			return
		case <-tick.C:
		}
	}
}

// NodeHeartbeat is the last heartbeat of node id: a node ID, or a host
// name, which stands for the nodes of that host (default node IDs are
// HOST@LISTEN-ADDRESS); known is false when no such node has a row (it
// stopped cleanly, or never ran).
func (q *Queue) NodeHeartbeat(ctx context.Context, id string) (time.Time, bool, error) {
	rows, err := q.store.QueryContext(ctx, `SELECT id, heartbeat_at FROM coffer_nodes`)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("heartbeat of node %s: %w", id, err)
	}
	defer rows.Close()
	var last int64
	known := false
	for rows.Next() {
		var node string
		var beat int64
		if err := rows.Scan(&node, &beat); err != nil {
			return time.Time{}, false, err
		}
		if node == id || strings.HasPrefix(node, id+"@") {
			known, last = true, max(last, beat)
		}
	}
	if err := rows.Err(); err != nil {
		return time.Time{}, false, err
	}
	return time.Unix(0, last), known, nil
}

// ClusterStatus reads the nodes and the queue of store.
func ClusterStatus(ctx context.Context, store meta.Store) (*Cluster, error) {
	c := &Cluster{Depth: map[string]int{}}
	err := store.QueryRowContext(ctx, `SELECT leader_id FROM river_leader`).Scan(&c.Leader)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("river leader: %w", err)
	}
	rows, err := store.QueryContext(ctx, `SELECT state, COUNT(*) FROM river_job GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("queue depth: %w", err)
	}
	for rows.Next() {
		var state string
		var n int
		if err := rows.Scan(&state, &n); err != nil {
			rows.Close()
			return nil, err
		}
		c.Depth[state] = n
	}
	rows.Close()
	last := `attempted_by[array_length(attempted_by, 1)]`
	if store.Dialect() == meta.SQLite {
		last = `json_extract(attempted_by, '$[#-1]')`
	}
	running := map[string]int{}
	rows, err = store.QueryContext(ctx, `SELECT `+last+`, COUNT(*) FROM river_job WHERE state = 'running' GROUP BY 1`)
	if err != nil {
		return nil, fmt.Errorf("running jobs by node: %w", err)
	}
	for rows.Next() {
		var node *string
		var n int
		if err := rows.Scan(&node, &n); err != nil {
			rows.Close()
			return nil, err
		}
		if node != nil {
			running[*node] = n
		}
	}
	rows.Close()
	rows, err = store.QueryContext(ctx, `SELECT id, address, started_at, heartbeat_at FROM coffer_nodes ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("nodes: %w", err)
	}
	defer rows.Close()
	seen := map[string]bool{}
	for rows.Next() {
		var n Node
		var started, beat int64
		if err := rows.Scan(&n.ID, &n.Address, &started, &beat); err != nil {
			return nil, err
		}
		n.Started, n.Heartbeat = time.Unix(0, started), time.Unix(0, beat)
		n.Leader, n.Running = n.ID == c.Leader, running[n.ID]
		seen[n.ID] = true
		c.Nodes = append(c.Nodes, n)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// Jobs still held by a node gone from coffer_nodes (a clean stop
	// with attempts cut off): they are rescued once their lease ends.
	for id, n := range running {
		if !seen[id] {
			c.Nodes = append(c.Nodes, Node{ID: id, Running: n})
		}
	}
	sort.Slice(c.Nodes, func(i, j int) bool { return c.Nodes[i].ID < c.Nodes[j].ID })
	return c, nil
}

// Collector exports ClusterStatus as Prometheus gauges, read from the
// store at each scrape.
type Collector struct {
	store                             meta.Store
	heartbeat, leader, running, depth *prometheus.Desc
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector returns the collector of store's nodes and queue.
func NewCollector(store meta.Store) *Collector {
	return &Collector{
		store:     store,
		heartbeat: prometheus.NewDesc("coffer_node_heartbeat_timestamp_seconds", "Last heartbeat of each coffer node sharing the store.", []string{"node", "address"}, nil),
		leader:    prometheus.NewDesc("coffer_node_leader", "1 for the node River elected leader.", []string{"node"}, nil),
		running:   prometheus.NewDesc("coffer_node_running_jobs", "Jobs each node's attempts hold.", []string{"node"}, nil),
		depth:     prometheus.NewDesc("coffer_jobs_queue", "River jobs by state.", []string{"state"}, nil),
	}
}

func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.heartbeat
	ch <- c.leader
	ch <- c.running
	ch <- c.depth
}

func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := ClusterStatus(ctx, c.store)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.depth, err)
		return
	}
	for _, n := range st.Nodes {
		if !n.Heartbeat.IsZero() {
			ch <- prometheus.MustNewConstMetric(c.heartbeat, prometheus.GaugeValue, float64(n.Heartbeat.UnixNano())/1e9, n.ID, n.Address)
		}
		leader := 0.0
		if n.Leader {
			leader = 1
		}
		ch <- prometheus.MustNewConstMetric(c.leader, prometheus.GaugeValue, leader, n.ID)
		ch <- prometheus.MustNewConstMetric(c.running, prometheus.GaugeValue, float64(n.Running), n.ID)
	}
	for state, n := range st.Depth {
		ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(n), state)
	}
}
