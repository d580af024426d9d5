package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/coffer-dev/coffer/internal/app"
	"github.com/coffer-dev/coffer/internal/config"
)

func serveCommand() *cobra.Command {
	var configFile string
	flags := config.DefaultConfig()
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the coffer server",
		Long: `Run the coffer server: every AWS-compatible endpoint on one port.

Settings come from the defaults, then the --config YAML file, then COFFER_*
environment variables, then these flags. On first start in an empty data
directory coffer creates its organization, the management account
` + "000000000000" + ` and an IAM user "admin" in it, and writes the admin's access key
to DATA_DIR/credentials (profile default) with a matching DATA_DIR/config.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(configFile)
			if err != nil {
				return err
			}
			applyFlags(cmd.Flags(), &cfg, flags)
			if err := cfg.Validate(); err != nil {
				return err
			}
			log := app.NewLogger(cfg.Log, os.Stderr)
			app.TuneGC()
			a, err := app.Open(cmd.Context(), cfg, log)
			if err != nil {
				return err
			}
			ln, err := a.Listen()
			if err != nil {
				a.Close()
				return err
			}
			scheme := "http"
			if a.CAFile != "" {
				scheme = "https"
				fmt.Fprintf(os.Stderr, "self-signed certificate: export AWS_CA_BUNDLE=%s\n", a.CAFile)
			}
			fmt.Fprintf(os.Stderr, "coffer listening on %s://%s\n  export AWS_SHARED_CREDENTIALS_FILE=%s AWS_CONFIG_FILE=%s\n  aws --endpoint-url %s://%s sts get-caller-identity\n",
				scheme, ln.Addr(), a.CredentialsFile, a.ConfigFile, scheme, ln.Addr())
			return a.Serve(cmd.Context(), ln)
		},
	}
	f := cmd.Flags()
	f.StringVar(&configFile, "config", "", "YAML configuration file")
	f.StringVar(&flags.Listen, "listen", flags.Listen, "address for every service")
	f.StringVar(&flags.DataDir, "data-dir", flags.DataDir, "data directory")
	f.StringVar(&flags.Database, "database", "", "postgres:// URL of a shared metadata database (default: SQLite in the data directory)")
	f.StringSliceVar(&flags.Regions, "regions", flags.Regions, "regions served; the first is the default")
	f.StringVar(&flags.Bootstrap, "bootstrap", "", "YAML file declaring organizations, accounts and users to create on first start")
	f.StringVar(&flags.TLS.Cert, "tls-cert", "", "TLS certificate file")
	f.StringVar(&flags.TLS.Key, "tls-key", "", "TLS private key file")
	f.BoolVar(&flags.TLS.SelfSigned, "tls-self-signed", false, "serve TLS with a certificate created in the data directory")
	f.StringVar(&flags.Log.Format, "log-format", flags.Log.Format, "log format: text or json")
	f.StringVar(&flags.Log.Level, "log-level", flags.Log.Level, "log level: debug, info, warn, error")
	return cmd
}

// applyFlags copies the flags given on the command line over cfg.
func applyFlags(fs *pflag.FlagSet, cfg *config.Config, flags config.Config) {
	set := map[string]func(){
		"listen":          func() { cfg.Listen = flags.Listen },
		"data-dir":        func() { cfg.DataDir = flags.DataDir },
		"database":        func() { cfg.Database = flags.Database },
		"regions":         func() { cfg.Regions = flags.Regions },
		"bootstrap":       func() { cfg.Bootstrap = flags.Bootstrap },
		"tls-cert":        func() { cfg.TLS.Cert = flags.TLS.Cert },
		"tls-key":         func() { cfg.TLS.Key = flags.TLS.Key },
		"tls-self-signed": func() { cfg.TLS.SelfSigned = flags.TLS.SelfSigned },
		"log-format":      func() { cfg.Log.Format = flags.Log.Format },
		"log-level":       func() { cfg.Log.Level = flags.Log.Level },
	}
	fs.Visit(func(f *pflag.Flag) {
		if apply, ok := set[f.Name]; ok {
			apply()
		}
	})
}
