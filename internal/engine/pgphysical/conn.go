package pgphysical

import (
	"context"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/coffer-dev/coffer/internal/engine"
)

// ConnectReplication opens a physical replication connection to t (for
// WAL streaming, package pgwal), with the errors Snapshot gives.
func ConnectReplication(ctx context.Context, t engine.Target) (*pgconn.PgConn, error) {
	return connectReplication(ctx, t)
}
