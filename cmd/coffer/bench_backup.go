package main

import (
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/spf13/cobra"

	"github.com/coffer-dev/coffer/internal/demo"
)

func benchBackupCommand() *cobra.Command {
	var o demo.BenchOptions
	var size string
	var verbose bool
	var cpuProfile string
	cmd := &cobra.Command{
		Use:   "backup",
		Short: "Time backup, incremental backup, cross-account copy and restore of a PostgreSQL database against bare pg_dump and pg_restore, and physical backups against pgBackRest",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			n, err := parseSize(size)
			if err != nil {
				return err
			}
			o.Size, o.Out = n, cmd.OutOrStdout()
			if verbose {
				o.Log = cmd.ErrOrStderr()
			}
			if cpuProfile == "" {
				return demo.Bench(cmd.Context(), o)
			}
			f, err := os.Create(cpuProfile)
			if err != nil {
				return fmt.Errorf("cpu profile: %w", err)
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				f.Close()
				return fmt.Errorf("cpu profile: %w", err)
			}
			err = demo.Bench(cmd.Context(), o)
			pprof.StopCPUProfile()
			if cerr := f.Close(); err == nil && cerr != nil {
				err = fmt.Errorf("cpu profile: %w", cerr)
			}
			return err
		},
	}
	cmd.Flags().StringVar(&size, "size", "1GiB", "size of the generated database")
	cmd.Flags().BoolVar(&verbose, "verbose", false, "show coffer's log")
	cmd.Flags().StringVar(&o.Part, "part", "all", "what to run: jobs (backup jobs against pg_dump), physical (physical backups against pgBackRest and pg_dump), all")
	cmd.Flags().IntVar(&o.PageChunk, "page-chunk", 0, "physical backups: bytes per chunk of relation files and WAL, a multiple of 8192 (0: the engine's default, 32768; -1: content-defined chunks)")
	cmd.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of coffer's process (go tool pprof; focus on pgphysical or vaultstore) to this file")
	cmd.Flags().StringVar(&o.DataDir, "data-dir", "", "keep the data here instead of a temporary directory")
	return cmd
}
