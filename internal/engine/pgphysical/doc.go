// Package pgphysical takes physical base backups of a PostgreSQL server
// over the replication protocol and restores them into a new data
// directory.
//
// # Backup
//
// Snapshot opens a physical replication connection (pgconn with
// replication=true; the user needs REPLICATION and a replication line
// in pg_hba.conf) and runs, through pgconn's frontend,
//
//	BASE_BACKUP (LABEL 'coffer <time>', CHECKPOINT 'fast', WAL true, WAIT true,
//	             MANIFEST 'yes', MANIFEST_CHECKSUMS 'CRC32C', TABLESPACE_MAP false, PROGRESS false)
//
// PostgreSQL 15's answer is a result set with the start LSN and
// timeline, one with the tablespaces, one CopyOut whose CopyData
// messages are 'n' (a new archive: base.tar), 'd' (archive or manifest
// bytes), 'm' (the manifest follows) or 'p' (progress), then a result
// set with the end LSN. The tar archive holds the data directory and,
// with WAL true, the WAL segments from the backup's start to its end in
// pg_wal. Snapshot reads the archive as it arrives and writes each entry
// as a record of the stream below; nothing is buffered whole except the
// backup_manifest. jackc/pglogrepl's BaseBackup helpers parse the same
// messages; speaking them directly through pgconn (already a dependency)
// keeps the archive a stream read entry by entry. Servers with
// tablespaces other than pg_default and pg_global are refused.
//
// The backup is consistent once recovery replays its WAL up to the end
// LSN (engine.Physical.EndLSN). Writes may go on during the backup.
//
// # Stream format (version 1)
//
// Integers are unsigned LEB128 varints ("uv"):
//
//	offset  size  field
//	0       4     magic "CFPB"
//	4       1     version = 1
//	5       3     reserved, zero
//	8       ...   records, back to back, the last one an end record
//
// Records:
//
//	'D' (0x44) | uv path length | path | uv mode              a directory
//	'F' (0x46) | uv path length | path | uv mode | uv size | size bytes    a file
//	'E' (0x45) | uv number of 'D' and 'F' records before it                end
//
// Paths are relative to the data directory, '/'-separated, clean (no
// "." or ".." parts), at most 4096 bytes. Modes are the permission bits
// the server sent (restores use 0700 and 0600). Files come in archive
// order; the last file is "backup_manifest", PostgreSQL's manifest of
// the backup (JSON; every file but pg_wal's with its size and checksum,
// the WAL range, and the manifest's own SHA-256). Nothing follows the
// end record.
//
// # Stream integrity
//
// Metadata.StreamSize and StreamSHA256 are the length and SHA-256 of the
// whole stream, exactly as written to the Sink, and the stream is hashed
// once on each side. Snapshot takes them from a Sink that hashes what it
// takes (StreamDigest: vaultstore.Writer, whose manifest records the same
// two values), else hashes the stream itself. Restore relies on a reader
// that checks its stream against the same length and SHA-256 (again
// StreamDigest: vaultstore.Reader, which returns an error instead of
// io.EOF when they differ) and reads it to its end; from any other
// reader, or when the reader's digest is not the metadata's, it hashes
// the stream itself and compares. Either way a restore fails, and
// leaves the directory empty, unless every byte it read is the byte the
// snapshot wrote. Each file is checked again against backup_manifest
// (below), which PostgreSQL wrote.
//
// WAL segment files (pg_wal/ + 24 hex digits) are stored with every
// 8 KiB WAL page whose header's xlp_pageaddr (bytes 8-15,
// little-endian) is not the page's own LSN replaced by zeros: such pages
// are stale content of a recycled segment, beyond the end of the WAL,
// and PostgreSQL stops reading WAL at them exactly as at a zeroed page.
// (Backups are taken from little-endian servers.)
//
// # Chunking
//
// The stream goes to a Sink, normally the vault's writer
// (vaultstore.Writer), with sections marked: the content of every
// relation file (base/<db>/<relfilenode>[_fsm|_vm|_init][.<segment>],
// global/<relfilenode>...) and of every WAL segment is its own section
// cut into fixed, page-aligned chunks of Options.PageChunk bytes;
// everything else (record headers, other files, the manifest) is cut
// content-defined. An unchanged run of pages is then an unchanged chunk
// wherever its file sits in the stream, and stores nothing in the next
// backup of the same instance.
//
// The default chunk is four pages (32 KiB). Measured with `coffer bench
// backup --part physical --size 256MiB` (a 261 MiB database; bytes
// added to the vault; after 2% of rows changed in 20 runs of
// consecutive ids and VACUUM; pgBackRest stores 114.4 MiB and then
// 112.9 MiB on the same data):
//
//	relation chunks          full      after 2% changed   full backup time vs pgBackRest
//	8 KiB (one page)         126.8 MiB  6.28 MiB            2.6x
//	32 KiB (four pages)      117.9 MiB  5.38 MiB            1.0x
//	64 KiB                   115.8 MiB  5.70-5.80 MiB       1.0-1.9x
//	content-defined (64 KiB) 116.1 MiB  6.49 MiB            0.4x
//
// (times on a shared, heavily loaded 2-core machine: only rough.) One
// page per chunk compresses worse (zstd on 8 KiB) and costs the vault an
// index row and reference per page, which made full backups 2.5 times
// slower; four pages store the least after clustered changes. After
// changes scattered over every page, smaller chunks would store less:
// PageChunk = 8192 gives exactly "an unchanged page stores nothing".
//
// # Restore
//
// Restore reads the stream into an empty (or new) directory, owned by
// Options.Owner when set. One goroutine reads the stream and passes the
// directories and file contents, in stream order, through a few 256 KiB
// buffers to another that creates them and hashes each file with the
// manifest's algorithm as it writes it, so that reading (from the
// vault: fetching, decrypting, decompressing) overlaps writing. Restore
// checks the stream's size and SHA-256 (above); then checks the restored files against backup_manifest
// (its own SHA-256 first; every listed file present with its size and
// checksum; no file outside pg_wal that it does not list; every WAL
// segment of its WAL range present). Only then does it write the
// recovery settings: recovery.signal, and in postgresql.auto.conf
// restore_command = 'false' (the WAL is in pg_wal), recovery_target =
// 'immediate', recovery_target_action = 'promote', so a server started on
// the directory replays to the backup's consistent point, stops there and
// promotes. Any failure leaves the directory empty. VerifyDir re-reads a
// restored directory against its manifest, as pg_verifybackup does.
//
// # Validation
//
// The caller starts the server (it owns ports, accounts and
// supervision). Validate waits until it has left recovery, checks its
// WAL position is past the backup's end LSN, and computes the row counts
// and checksums of the database's tables with engine/postgres's
// Checksums, the ones logical recovery points record; when the metadata
// records tables it compares them (engine.ErrMismatch). A physical
// backup taken while writes go on has no single SQL snapshot to record
// tables from, so Snapshot records none: the first validated restore's
// Validation.Tables are what later restores of the same recovery point
// compare with.
//
// # Why not engine.Engine
//
// engine.Engine restores a stream into a database named by a Target
// (a connection), and Verify reads that database. A physical restore's
// target is a data directory that no server runs on yet, the server is
// started in between by whoever supervises servers (internal/rds), and
// validation needs the backup's WAL position. So the engine is a
// sibling with the same shape: Snapshot(ctx, target, sink) -> Metadata,
// Restore(ctx, stream, dir, md), Validate(ctx, started server, md). The
// Metadata is engine.Metadata with DumpFormat "postgres-base-backup/v1"
// and Physical set, so recovery points, copies and re-encryption treat
// physical and logical snapshots alike; the consumer (backup jobs)
// declares the interface it needs.
package pgphysical
