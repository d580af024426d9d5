package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/spf13/cobra"

	rdsapi "github.com/coffer-dev/coffer/internal/api/rds"
)

func dbCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "db", Short: "Manage the databases coffer protects"}
	cmd.AddCommand(dbRegisterCommand())
	return cmd
}

func dbRegisterCommand() *cobra.Command {
	var (
		endpoint, profile, region string
		req                       rdsapi.RegisterRequest
		dsnEnv, dsnFile, path     string
		tags                      []string
	)
	cmd := &cobra.Command{
		Use:   "register",
		Short: "Record an existing PostgreSQL or SQLite database as a DB instance",
		Long: `Record an existing database as a DB instance, so AWS Backup jobs can back
it up and restore it like an instance coffer created (RegisterDBInstance,
a coffer extension of the RDS API). coffer checks that it can connect, then
stores the connection's password encrypted under the instance's KMS key
(--kms-key-id, or the account's aws/rds key).

The PostgreSQL connection URL (postgres://USER:PASSWORD@HOST:PORT/DATABASE)
is read from the environment variable named by --dsn-env (default
COFFER_DB_DSN) or from --dsn-file, never from the command line, where other
users of the machine could see it. USER must be able to read every table
(pg_dump runs as it). For SQLite give --path.

Credentials and region come from the AWS profile, as for the AWS CLI.`,
		Example: `  COFFER_DB_DSN=postgres://app:...@db.internal:5432/app \
    coffer db register --endpoint-url http://127.0.0.1:4566 \
      --db-instance-identifier app-prod --engine postgres --kms-key-id alias/app
  coffer db register --endpoint-url http://127.0.0.1:4566 \
      --db-instance-identifier notes --engine sqlite --path /srv/notes.db`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch req.Engine {
			case "sqlite":
				if path == "" {
					return fmt.Errorf("give the database file with --path")
				}
				abs, err := filepath.Abs(path)
				if err != nil {
					return err
				}
				req.ConnectionString = abs
			case "postgres":
				if dsnFile != "" {
					b, err := os.ReadFile(dsnFile)
					if err != nil {
						return fmt.Errorf("read --dsn-file: %w", err)
					}
					req.ConnectionString = strings.TrimSpace(string(b))
				} else {
					req.ConnectionString = os.Getenv(dsnEnv)
				}
				if req.ConnectionString == "" {
					return fmt.Errorf("no connection URL: set %s or give --dsn-file", dsnEnv)
				}
			default:
				return fmt.Errorf("--engine must be postgres or sqlite")
			}
			req.Tags = map[string]string{}
			for _, t := range tags {
				k, v, ok := strings.Cut(t, "=")
				if !ok || k == "" {
					return fmt.Errorf("--tag %q: want KEY=VALUE", t)
				}
				req.Tags[k] = v
			}
			opts := []func(*awsconfig.LoadOptions) error{}
			if profile != "" {
				opts = append(opts, awsconfig.WithSharedConfigProfile(profile))
			}
			if region != "" {
				opts = append(opts, awsconfig.WithRegion(region))
			}
			if endpoint != "" {
				opts = append(opts, awsconfig.WithBaseEndpoint(endpoint))
			}
			cfg, err := awsconfig.LoadDefaultConfig(cmd.Context(), opts...)
			if err != nil {
				return err
			}
			inst, err := rdsapi.Register(cmd.Context(), cfg, http.DefaultClient, req)
			if err != nil {
				return err
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "    ")
			return enc.Encode(map[string]any{"DBInstance": inst})
		},
	}
	f := cmd.Flags()
	f.StringVar(&endpoint, "endpoint-url", os.Getenv("AWS_ENDPOINT_URL"), "coffer's URL")
	f.StringVar(&profile, "profile", "", "AWS profile (default: AWS_PROFILE or default)")
	f.StringVar(&region, "region", "", "region (default: the profile's)")
	f.StringVar(&req.Identifier, "db-instance-identifier", "", "the instance's identifier (RDS's rules)")
	f.StringVar(&req.Engine, "engine", "", "postgres or sqlite")
	f.StringVar(&req.KMSKeyID, "kms-key-id", "", "KMS key (ID, ARN or alias) for the instance's credentials and backups; default aws/rds")
	f.StringVar(&dsnEnv, "dsn-env", "COFFER_DB_DSN", "environment variable holding the postgres:// URL")
	f.StringVar(&dsnFile, "dsn-file", "", "file holding the postgres:// URL")
	f.StringVar(&path, "path", "", "SQLite database file (absolute path)")
	f.StringArrayVar(&tags, "tag", nil, "tag KEY=VALUE (repeatable)")
	cmd.MarkFlagRequired("db-instance-identifier")
	cmd.MarkFlagRequired("engine")
	return cmd
}
