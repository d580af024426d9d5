package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/coffer-dev/coffer/internal/demo"
)

func benchPITRCommand() *cobra.Command {
	o := demo.PITROptions{Scale: 10, Duration: 30 * time.Second, Clients: 4}
	cmd := &cobra.Command{
		Use:   "pitr",
		Short: "Compare coffer's continuous backup and point-in-time restore with pgBackRest's WAL archiving (pgbench TPS, window lag, WAL bytes stored, restore time)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Out = cmd.OutOrStdout()
			return demo.BenchPITR(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Scale, "scale", o.Scale, "pgbench scale (50 is about 750 MiB)")
	f.DurationVar(&o.Duration, "duration", o.Duration, "length of each pgbench run")
	f.IntVar(&o.Clients, "clients", o.Clients, "pgbench clients (-j is half)")
	f.StringVar(&o.DataDir, "data-dir", "", "keep the data here instead of a temporary directory")
	return cmd
}
