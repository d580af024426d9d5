package app

import (
	"context"

	"github.com/coffer-dev/coffer/internal/config"
	"github.com/coffer-dev/coffer/internal/meta"
)

// OpenStore opens the metadata store cfg names, for subcommands that read
// it without serving (coffer audit). cfg must be validated.
func OpenStore(ctx context.Context, cfg config.Config) (meta.Store, error) {
	return openStore(ctx, cfg)
}

// AuditFailures is the number of audit events that could not be written.
func (a *App) AuditFailures() int64 { return a.audit.Failed() }
