package main

import (
	"encoding/json"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/coffer-dev/coffer/internal/clusterbench"
)

func benchClusterCommand() *cobra.Command {
	o := clusterbench.Options{Nodes: 3, Duration: 5 * time.Minute, Drain: 5 * time.Minute, Jobs: 50, Rate: 200, KillEvery: time.Minute, Postgres: 25, SQLite: 25, BackupRetention: 1}
	var asJSON, quiet bool
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Run several coffer nodes on one PostgreSQL and one MinIO under backup jobs and API load, killing one node a minute; print jobs per minute, API latency and errors, each node's peak memory",
		Long: `Starts a PostgreSQL (initdb in a scratch directory), a MinIO (its binary
from $COFFER_MINIO_BIN, PATH or ~/.cache/coffer/bin/minio:
scripts/install-minio.sh) and --nodes coffer serve processes of this
binary sharing them, all on loopback. Through the RDS API it creates small
PostgreSQL and SQLite instances (spread over the nodes, which hold their
servers), then for --duration keeps --jobs backup jobs of them in flight,
sends --rate API calls a second spread over the nodes that are up
(List*/Describe* of Backup and RDS, KMS Encrypt/Decrypt/DescribeKey, one
attempt each, so every error counts), and every --kill-every kills one
node (SIGKILL) and restarts it, round robin. Then the jobs in flight get
--drain to end. It prints jobs completed per minute, API p50/p99 latency
and errors by code (5xx apart), each node's peak RSS (VmHWM, sampled every
second) and how jobs ended, beside the targets: zero 5xx, every job
COMPLETED, p99 ≤ 200 ms, each node ≤ 300 MiB. A job that failed because
the node holding its instance's server was away (its message names the
node) is counted apart.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			o.Exe = exe
			if !quiet {
				o.Progress = cmd.ErrOrStderr()
			}
			r, err := clusterbench.Run(cmd.Context(), o)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(r)
			}
			r.Print(cmd.OutOrStdout())
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Nodes, "nodes", o.Nodes, "coffer serve processes")
	f.DurationVar(&o.Duration, "duration", o.Duration, "how long the load runs")
	f.DurationVar(&o.Drain, "drain", o.Drain, "how long the jobs in flight then get to end")
	f.IntVar(&o.Jobs, "jobs", o.Jobs, "backup jobs in flight at once")
	f.IntVar(&o.Rate, "rate", o.Rate, "API calls a second, over all nodes")
	f.DurationVar(&o.KillEvery, "kill-every", o.KillEvery, "kill (SIGKILL) and restart one node this often, round robin; 0 never")
	f.IntVar(&o.Postgres, "postgres", o.Postgres, "PostgreSQL instances")
	f.IntVar(&o.SQLite, "sqlite", o.SQLite, "SQLite instances")
	f.IntVar(&o.BackupRetention, "backup-retention", o.BackupRetention, "the PostgreSQL instances' BackupRetentionPeriod (RDS's default 1: their WAL is captured continuously; 0: off)")
	f.StringVar(&o.WorkDir, "work-dir", "", "scratch directory (default: a temporary one, removed afterwards)")
	f.BoolVar(&o.Keep, "keep", false, "keep the scratch directory (nodes' logs, data)")
	f.BoolVar(&asJSON, "json", false, "print the figures as JSON")
	f.BoolVar(&quiet, "quiet", false, "no progress on stderr")
	return cmd
}
