// Package clusterbench is `coffer bench cluster`: several coffer nodes on
// one PostgreSQL and one MinIO, all real processes on loopback, under
// backup jobs and a mixed API load while one node at a time is killed
// (SIGKILL) and restarted; it reports what the nodes held.
package clusterbench

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/coffer-dev/coffer/internal/clusterenv"
	"github.com/coffer-dev/coffer/internal/demo"
	"github.com/coffer-dev/coffer/internal/minioserver"
	"github.com/coffer-dev/coffer/internal/pgserver"
)

// Options shape a run.
type Options struct {
	// Exe is the coffer binary the nodes run.
	Exe string
	// Nodes is how many coffer serve processes share the store.
	Nodes int
	// Duration is how long jobs are started, the API load runs and nodes
	// are killed; jobs in flight then get Drain to end.
	Duration, Drain time.Duration
	// Jobs is how many backup jobs are in flight at once.
	Jobs int
	// Rate is the API load in requests per second, over all nodes.
	Rate int
	// KillEvery is how often a node is killed and restarted (round robin);
	// 0 never.
	KillEvery time.Duration
	// Postgres and SQLite are how many instances of each engine the jobs
	// back up.
	Postgres, SQLite int
	// BackupRetention is the PostgreSQL instances' BackupRetentionPeriod:
	// above 0 (RDS's default, 1) a node captures each one's WAL
	// continuously besides the jobs.
	BackupRetention int
	// WorkDir holds everything (a temporary directory when empty); Keep
	// keeps it.
	WorkDir string
	Keep    bool
	// Progress, when set, receives what happens as it happens.
	Progress io.Writer
}

// Run sets up the nodes and their store, runs the load and returns the
// figures.
func Run(ctx context.Context, o Options) (*Result, error) {
	bin := minioserver.Binary()
	if bin == "" {
		return nil, fmt.Errorf("coffer bench cluster runs MinIO: %w", minioserver.ErrNoBinary)
	}
	if _, err := exec.LookPath(bin); err != nil {
		return nil, fmt.Errorf("coffer bench cluster runs MinIO, and %s is not an executable (set $COFFER_MINIO_BIN to the minio server binary, or run scripts/install-minio.sh): %w", bin, err)
	}
	if _, err := pgserver.BinDir(); err != nil {
		return nil, fmt.Errorf("coffer bench cluster runs PostgreSQL: %w", err)
	}
	if o.Nodes < 1 || o.Jobs < 1 || o.Rate < 1 || o.Postgres+o.SQLite < 1 {
		return nil, fmt.Errorf("coffer bench cluster needs at least one node, job, request per second and instance")
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.WorkDir == "" {
		dir, err := os.MkdirTemp("", "coffer-bench-cluster-")
		if err != nil {
			return nil, err
		}
		o.WorkDir = dir
		if !o.Keep {
			defer os.RemoveAll(dir)
		}
	}
	b := &bench{o: o}
	defer b.close()
	if err := b.start(ctx); err != nil {
		return nil, err
	}
	if err := b.setup(ctx); err != nil {
		return nil, err
	}
	return b.run(ctx)
}

// bench is one run's servers, clients and tallies.
type bench struct {
	o       Options
	pg      *pgserver.Server
	minio   *minioserver.Server
	cluster *clusterenv.Cluster
	nodes   []*node
	logs    []*os.File
	fx      fixtures
	mu      sync.Mutex
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.o.Progress, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// start runs PostgreSQL, MinIO and the nodes.
func (b *bench) start(ctx context.Context) error {
	var err error
	if b.pg, err = pgserver.Start("max_connections=300"); err != nil {
		return fmt.Errorf("start the metadata PostgreSQL: %w", err)
	}
	dsn, err := b.pg.CreateDatabase(ctx, "coffer")
	if err != nil {
		return err
	}
	if b.minio, err = minioserver.Start(ctx, minioserver.Server{AccessKey: "coffer-bench-access", SecretKey: "coffer-bench-secret-key",
		Region: "us-east-1", Bucket: "coffer-bench", Dir: filepath.Join(b.o.WorkDir, "minio")}); err != nil {
		return fmt.Errorf("start minio: %w", err)
	}
	if b.cluster, err = clusterenv.New(clusterenv.Options{Exe: b.o.Exe, Dir: filepath.Join(b.o.WorkDir, "cluster"), DSN: dsn, S3: b.minio, Bootstrap: demo.Bootstrap}); err != nil {
		return err
	}
	b.logf("PostgreSQL on port %d, MinIO at %s; starting %d nodes (logs in %s)", b.pg.Port, b.minio.URL, b.o.Nodes, b.o.WorkDir)
	for i := 0; i < b.o.Nodes; i++ {
		f, err := os.OpenFile(filepath.Join(b.o.WorkDir, fmt.Sprintf("node-%d.log", i+1)), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return err
		}
		b.logs = append(b.logs, f)
		// A node ID of its own: the nodes share one host, and an
		// instance's server and WAL capture belong to the node that
		// created it (jobs.nodeId).
		n, err := b.cluster.StartNode(ctx, f, fmt.Sprintf("COFFER_NODE_ID=bench-node-%d", i+1))
		if err != nil {
			return fmt.Errorf("node %d: %w (log: %s)", i+1, err, f.Name())
		}
		b.nodes = append(b.nodes, newNode(i+1, n))
		b.logf("node %d at %s, pid %d", i+1, n.URL, n.PID())
	}
	return nil
}

// close stops the nodes (cleanly, all at once: each stops the instance
// servers it runs), then whatever instance server is left, MinIO and
// PostgreSQL.
func (b *bench) close() {
	var wg sync.WaitGroup
	for _, n := range b.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := n.stop(); err != nil {
				b.logf("node %d: %v", n.index, err)
			}
		}()
	}
	wg.Wait()
	if b.cluster != nil {
		if err := b.cluster.StopInstanceServers(); err != nil {
			b.logf("%v", err)
		}
	}
	if b.minio != nil {
		b.minio.Stop()
	}
	if b.pg != nil {
		b.pg.Close()
	}
	for _, f := range b.logs {
		f.Close()
	}
}
