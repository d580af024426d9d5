package main

import (
	"context"

	"github.com/spf13/pflag"

	"github.com/coffer-dev/coffer/internal/app"
	"github.com/coffer-dev/coffer/internal/config"
	"github.com/coffer-dev/coffer/internal/meta"
)

// storeFlags find coffer's settings and metadata store as coffer serve
// does, for the commands that read them beside a running server.
type storeFlags struct {
	configFile, dataDir, database string
}

func (f *storeFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&f.configFile, "config", "", "YAML configuration file (as for coffer serve)")
	fl.StringVar(&f.dataDir, "data-dir", "", "data directory (default: from the configuration, ./coffer-data)")
	fl.StringVar(&f.database, "database", "", "postgres:// URL of the metadata database (default: from the configuration, SQLite in the data directory)")
}

// config is the validated configuration with the flags applied.
func (f *storeFlags) config() (config.Config, error) {
	cfg, err := config.Load(f.configFile)
	if err != nil {
		return cfg, err
	}
	if f.dataDir != "" {
		cfg.DataDir = f.dataDir
	}
	if f.database != "" {
		cfg.Database = f.database
	}
	return cfg, cfg.Validate()
}

// openStore opens the metadata store the configuration names.
func (f *storeFlags) openStore(ctx context.Context) (meta.Store, config.Config, error) {
	cfg, err := f.config()
	if err != nil {
		return nil, cfg, err
	}
	store, err := app.OpenStore(ctx, cfg)
	return store, cfg, err
}
