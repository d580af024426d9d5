package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/coffer-dev/coffer/internal/demo"
)

func demoCommand() *cobra.Command {
	var o demo.Options
	var verbose bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the cross-account encrypted backup walkthrough end to end",
		Long: `Start coffer on its embedded defaults (in a temporary data directory unless
--data-dir is given), create the organization with the seed's accounts
111222333444 (source) and 666777888999 (backup), and run every step of the
walkthrough through the AWS API: keys, policies, a database with sample
data, vaults, the opt-in, a backup, the cross-account copy, the copy back,
a restore in the backup account with its own key, and the drill in which
the source account's administrator tries to destroy the backup account's
copy. It prints each step and the checks, and exits non-zero if any fails.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Out = cmd.OutOrStdout()
			if verbose {
				o.Log = os.Stderr
			}
			return demo.Run(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Engine, "engine", "", "database engine: postgres or sqlite (default: postgres when its binaries are installed)")
	f.StringVar(&o.DataDir, "data-dir", "", "keep coffer's data here instead of a temporary directory")
	f.IntVar(&o.Rows, "rows", 10000, "rows of sample data")
	f.BoolVar(&verbose, "verbose", false, "show coffer's log")
	return cmd
}
