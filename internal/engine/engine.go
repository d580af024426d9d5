// Package engine is the contract between coffer's backup jobs and the
// databases they protect. An Engine takes a consistent snapshot of a live
// database as a byte stream plus Metadata describing it, restores such a
// stream into a new, empty database, and verifies a database against the
// Metadata recorded at snapshot time. Each database engine lives in its own
// package (engine/postgres, engine/sqlite) and imports this one.
//
// The flow a backup job runs:
//
//	md, err := eng.Snapshot(ctx, source, w) // w: the vault's writer, read while produced
//	store md (JSON) with the recovery point
//	...
//	err = eng.Restore(ctx, target, r, md)   // target: a new, empty database
//	res, err := eng.Verify(ctx, target, md) // errors.Is(err, ErrMismatch) names tables
//
// # Metadata format
//
// Metadata is stored as JSON next to the recovery point (field names are
// fixed by the struct tags; FormatVersion 1):
//
//	{
//	  "formatVersion": 1,
//	  "engine": "postgres",
//	  "engineVersion": "15.18",
//	  "dumpFormat": "pg_dump-custom",
//	  "toolVersion": "pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)",
//	  "logicalSize": 7889455,
//	  "streamSize": 5040543,
//	  "streamSha256": "808b53af…",          // hex SHA-256 of the whole stream
//	  "checksumAlgorithm": "postgres-rowtext-hash-sum128/v1",
//	  "tables": [{"name": "public.items", "rows": 3, "checksum": "9c0e…32 hex digits"}],
//	  "startedAt": "2026-01-02T03:04:05.678Z",
//	  "completedAt": "2026-01-02T03:04:06.789Z",
//	  "physical": {"systemIdentifier": "7312…", "timeline": 1,  // physical base backups only
//	               "startLsn": "0/2000028", "endLsn": "0/2000138", "files": 972}
//	}
//
// Tables are sorted by name. A reader must refuse a formatVersion above
// the one it knows (Metadata.Check does). Checksums are only comparable
// between databases of the same engine and checksumAlgorithm; each engine
// package documents its algorithm.
//
// Streams are never buffered whole in memory: Snapshot writes to w as the
// engine's dump tool produces output (a slow w slows the dump down), and
// Restore feeds r to the restore tool as it reads it.
package engine

import (
	"context"
	"errors"
	"io"
)

// Engine is one database engine's snapshot, restore and verify.
// Implementations are safe for concurrent use.
type Engine interface {
	// Name is the engine's name as RDS spells it ("postgres", "sqlite").
	Name() string
	// Ready reports whether the database accepts connections and the
	// engine's tools are usable for it. Errors wrap ErrUnavailable,
	// ErrToolMissing or ErrToolVersion.
	Ready(ctx context.Context, t Target) error
	// Snapshot writes a consistent snapshot of the database to w and
	// returns its metadata. The snapshot is consistent while writes go on:
	// it reflects exactly one committed state. On error, what was written
	// to w must be discarded.
	Snapshot(ctx context.Context, t Target, w io.Writer) (*Metadata, error)
	// Restore loads a stream produced by Snapshot into t, which must be a
	// new, empty database (ErrNotEmpty otherwise). md is the snapshot's
	// metadata: its format and stream digest are checked (ErrFormat,
	// ErrCorrupt). On error the target may hold a partial restore and
	// must be dropped by the caller.
	Restore(ctx context.Context, t Target, r io.Reader, md *Metadata) error
	// Verify recomputes the per-table row counts and checksums of t and
	// compares them with md. A difference returns the result and an error
	// wrapping ErrMismatch that names the tables.
	Verify(ctx context.Context, t Target, md *Metadata) (*VerifyResult, error)
}

// Sentinel errors callers branch on. Errors returned by engines wrap them
// with a message that says what was wrong and what to do.
var (
	// ErrUnavailable: the database cannot be reached or opened (host down,
	// wrong credentials, file missing). Usually worth a retry later.
	ErrUnavailable = errors.New("database unavailable")
	// ErrToolMissing: a client binary the engine needs (pg_dump,
	// pg_restore) was not found.
	ErrToolMissing = errors.New("database tool missing")
	// ErrToolVersion: a client binary is older than the server.
	ErrToolVersion = errors.New("database tool too old")
	// ErrNotEmpty: the restore target already holds data.
	ErrNotEmpty = errors.New("restore target not empty")
	// ErrFormat: the stream or metadata is of another engine, dump format
	// or a metadata format version this build does not know.
	ErrFormat = errors.New("unsupported snapshot format")
	// ErrCorrupt: the stream read by Restore differs from the one Snapshot
	// wrote (size or SHA-256), or the restored database fails its
	// integrity check.
	ErrCorrupt = errors.New("snapshot corrupt")
	// ErrMismatch: Verify found tables whose rows differ from the metadata.
	ErrMismatch = errors.New("database does not match snapshot")
)
