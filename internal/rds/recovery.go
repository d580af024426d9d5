package rds

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// waitRecovered waits until a server started on a restored data
// directory has finished recovery and promoted (a point-in-time
// restore replays WAL for a while, accepting read-only connections
// meanwhile), so that roles and databases can be written.
func waitRecovered(ctx context.Context, conn *pgx.Conn) error {
	for {
		var inRecovery bool
		if err := conn.QueryRow(ctx, `SELECT pg_is_in_recovery()`).Scan(&inRecovery); err != nil {
			return fmt.Errorf("wait for recovery: %w", err)
		}
		if !inRecovery {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for recovery to finish: %w", context.Cause(ctx))
		case <-time.After(100 * time.Millisecond):
		}
	}
}
