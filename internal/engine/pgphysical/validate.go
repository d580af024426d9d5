package pgphysical

import (
	"context"
	"fmt"
	"time"

	"github.com/coffer-dev/coffer/internal/engine"
	"github.com/coffer-dev/coffer/internal/engine/postgres"
)

// Validation is what Validate found on a restored server.
type Validation struct {
	// Tables are t's database's tables with row counts and checksums
	// (postgres.Checksums), to record with the recovery point.
	Tables []engine.Table
	// Result compares them with md.Tables; nil when md records none.
	Result *engine.VerifyResult
}

// Validate checks a server the caller started on a restored data
// directory: it waits (until ctx ends) for recovery to finish, checks
// the server left recovery past the backup's consistent point (EndLSN),
// then computes the table checksums of t's database as the logical
// engine records them and, when md records tables, compares them
// (an error wrapping engine.ErrMismatch names the differences).
func Validate(ctx context.Context, t engine.Target, md *engine.Metadata) (*Validation, error) {
	if md.Physical == nil {
		return nil, fmt.Errorf("%w: not a physical backup's metadata", engine.ErrFormat)
	}
	if err := waitPromoted(ctx, t, md.Physical.EndLSN); err != nil {
		return nil, err
	}
	tables, err := postgres.Checksums(ctx, t)
	if err != nil {
		return nil, fmt.Errorf("validate %s: %w", t, err)
	}
	v := &Validation{Tables: tables}
	if md.Tables != nil {
		v.Result, err = engine.Compare(md.Tables, tables)
	}
	return v, err
}

// waitPromoted waits until the server is out of recovery, then checks
// its WAL position is at or past end.
func waitPromoted(ctx context.Context, t engine.Target, end string) error {
	var last error
	for {
		conn, err := postgres.Connect(ctx, t)
		if err == nil {
			var inRecovery, past bool
			err = conn.QueryRow(ctx, `SELECT pg_is_in_recovery(), pg_is_in_recovery() OR pg_current_wal_lsn() >= $1::pg_lsn`, end).Scan(&inRecovery, &past)
			conn.Close(context.Background())
			switch {
			case err == nil && !inRecovery && !past:
				return fmt.Errorf("%w: the restored server at %s left recovery before the backup's consistent point %s", engine.ErrCorrupt, t, end)
			case err == nil && !inRecovery:
				return nil
			case err == nil:
				err = fmt.Errorf("the server is still recovering")
			}
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("validate %s: recovery did not finish: %v (%w)", t, last, context.Cause(ctx))
		case <-time.After(200 * time.Millisecond):
		}
	}
}
