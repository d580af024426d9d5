package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/coffer-dev/coffer/internal/vaultstore/bench"
)

func benchCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "bench", Short: "Benchmarks"}
	cmd.AddCommand(benchStorageCommand(), benchWorkerCommand(), benchBackupCommand(), benchInstancesCommand(), benchPITRCommand(), benchClusterCommand())
	return cmd
}

func benchStorageCommand() *cobra.Command {
	var o bench.Options
	var size string
	cmd := &cobra.Command{
		Use:   "storage",
		Short: "Compare coffer's vault storage with restic and borg on a pg_dump-style stream",
		Long: `Generates a pg_dump-style stream in three versions (the second with 2% of
rows changed in clusters, the third with 2% more changed at random), backs
them up with coffer, restic and borg on local disk and with coffer on MinIO
over loopback, restores the last version, copies into another vault and
key, and prints wall time, throughput, CPU seconds, peak RSS and bytes
added. scripts/bench-deps.sh installs restic, borg and MinIO. Run it on an
otherwise idle machine (or under nice, knowing the numbers then include
contention).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			n, err := parseSize(size)
			if err != nil {
				return err
			}
			o.Size = n
			if o.Exe, err = os.Executable(); err != nil {
				return err
			}
			o.Out = cmd.OutOrStdout()
			return bench.Run(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&size, "size", "1GiB", "size of each version (e.g. 64MiB, 1GiB)")
	f.StringVar(&o.WorkDir, "work-dir", "", "scratch directory (default: a temporary one, removed afterwards)")
	f.BoolVar(&o.Keep, "keep", false, "keep the scratch directory")
	f.BoolVar(&o.SkipPeers, "skip-peers", false, "do not run restic and borg")
	f.BoolVar(&o.SkipMinIO, "skip-minio", false, "do not run coffer on MinIO")
	return cmd
}

func benchWorkerCommand() *cobra.Command {
	var a bench.WorkerArgs
	cmd := &cobra.Command{
		Use:    "storage-worker",
		Short:  "One measured operation of coffer bench storage (internal)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return bench.Worker(cmd.Context(), a, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&a.Repo, "repo", "", "repository directory")
	f.StringVar(&a.Op, "op", "", "backup, restore or copy")
	f.StringVar(&a.File, "file", "", "input or output file")
	f.StringVar(&a.Manifest, "manifest", "", "recovery point")
	f.StringVar(&a.S3Endpoint, "s3-endpoint", "", "S3 endpoint URL")
	f.StringVar(&a.S3Bucket, "s3-bucket", "", "S3 bucket")
	return cmd
}

// parseSize reads "64MiB", "1GiB", "500MB" or a byte count.
func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			n, err := strconv.ParseFloat(strings.TrimSuffix(s, u.suffix), 64)
			if err != nil || n <= 0 {
				return 0, fmt.Errorf("size %q: want e.g. 64MiB or 1GiB", s)
			}
			return int64(n * float64(u.mult)), nil
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("size %q: want e.g. 64MiB or 1GiB", s)
	}
	return n, nil
}
