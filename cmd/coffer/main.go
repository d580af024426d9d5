// Command coffer is a self-hosted backup service for databases that speaks
// the AWS Backup, KMS, Organizations, IAM, STS and RDS APIs.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := &cobra.Command{
		Use:           "coffer",
		Short:         "Encrypted, cross-account database backups on the AWS Backup and KMS APIs",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(serveCommand(), versionCommand(), auditCommand(), dbCommand(), statusCommand(), demoCommand(), vaultCommand(), benchCommand())
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "coffer:", err)
		os.Exit(1)
	}
}
