// Package pgwal is continuous backup of a PostgreSQL server: its WAL
// streamed over a physical replication slot into the vault, indexed
// with the commit times it holds, and point-in-time restore from a base
// backup (package pgphysical) plus that WAL.
//
// An Archive is one server's continuous backup in one vault domain
// (vault, region, KMS key), named by a stream (the instance). Its
// index lives in the metadata store (migration 0140); its data are
// ordinary vault manifests, encrypted, chunked and deduplicated in the
// domain like any recovery point data, so copies and re-encryption
// need nothing of their own.
//
// # Capture
//
// Capture opens a SQL connection (for status) and a physical
// replication connection (pgconn with replication=true, as pgphysical
// does; the user needs REPLICATION), then:
//
//  1. IDENTIFY_SYSTEM: the system identifier must be the one the stream
//     was first captured from (pw_streams.system_id), as must
//     wal_segment_size; WAL pages must be 8 KiB.
//  2. Reads the slot's row of pg_replication_slots. A missing slot is
//     created with CREATE_REPLICATION_SLOT <slot> PHYSICAL RESERVE_WAL.
//     A slot whose wal_status is 'lost' (the server removed WAL past
//     max_slot_wal_keep_size before coffer stored it) is reported
//     (event slot-lost, logged at ERROR), dropped and created again;
//     'unreserved' (past the bound, not yet removed) is reported as
//     slot-unreserved. When the slot's restart_lsn is beyond what the
//     archive holds, the WAL between is gone: pw_streams.gap_lsn
//     records where the archive resumes and event gap says restores
//     need a base backup taken after it. The server's own
//     max_slot_wal_keep_size is the bound: the instance keeps running
//     and coffer reports, rather than letting the slot fill the disk.
//  3. START_REPLICATION SLOT <slot> PHYSICAL <lsn> TIMELINE <tli> from
//     the start of the last stored segment when it is incomplete (the
//     slot's segment is still on the server's disk: a segment file is
//     removed whole), else from the next segment, else (first run or
//     after a gap) from the start of the slot's restart segment. So
//     every stored segment holds its bytes from the segment's start.
//  4. Each XLogData message's bytes are appended to the current
//     segment's buffer (one segment, 16 MiB by default, in memory) and
//     fed to the WAL record parser, which notes the times of commit
//     and abort records (see below). A segment is stored when it
//     completes, and the current partial segment every FlushInterval
//     (default 2 s) if it grew: a new vault manifest holding the
//     segment's bytes from its start, cut into fixed 256 KiB blocks
//     (Writer.Boundary), so a rewrite stores only the blocks that
//     changed (the last) and dedups the rest (WAL compressed in 256 KiB
//     blocks is 8% smaller than in 64 KiB ones and within 3% of whole
//     segments, measured on pgbench WAL); then the index row is
//     replaced and the previous manifest deleted (GC reclaims its
//     unshared tail). One segment costs at most one manifest plus the
//     partial one.
//  5. After each store, a standby status update confirms as written,
//     flushed and applied exactly the end of what the vault holds. The
//     server releases WAL only up to there, so a crash of coffer, a
//     stop, or a vault that refuses writes (Capture returns the error;
//     Run retries with backoff) loses nothing while the slot is
//     within its bound.
//  6. Latest restorable time: each FlushInterval the capture reads
//     SELECT clock_timestamp(), pg_current_wal_insert_lsn() on the
//     server. Once the archive holds WAL up to that insert position
//     (moved back to the page start when it points just past a page
//     header), every commit whose timestamp was taken before the probe
//     has its record stored, except one caught between taking its
//     timestamp and inserting its record: the latest restorable time is
//     the probe's time less 10 ms (pw_streams.safe_time, with
//     safe_lsn). Under load it trails the server by about two flush
//     intervals. The same probe reads pg_current_wal_lsn() and the
//     slot's restart_lsn (what the server was told is stored): their
//     difference is the replication lag.
//  7. When the server's timeline ends (CopyDone, then the next
//     timeline and its start), the segment is stored, the new
//     timeline's history file is fetched with TIMELINE_HISTORY into
//     pw_timelines, and streaming goes on on the new timeline.
//
// # WAL record parsing
//
// The parser follows PostgreSQL 15's WAL layout. Pages are 8 KiB; each
// starts with a header (24 bytes; 40 on a segment's first page):
//
//	offset  size  field
//	0       2     xlp_magic = 0xD110 (little-endian, as all fields)
//	2       2     xlp_info (0x0001: the page starts with the rest of a record)
//	4       4     xlp_tli
//	8       8     xlp_pageaddr, the page's own LSN (checked)
//	16      4     xlp_rem_len, bytes of that record still to come
//	20      4     padding (long header: + 8 system id, 4 segment size, 4 page size)
//
// Records start 8-byte aligned and may span pages (their header too);
// each starts with XLogRecord (24 bytes): xl_tot_len (4), xl_xid (4),
// xl_prev (8), xl_info (1), xl_rmid (1), 2 padding, xl_crc (4). A
// record of the transaction resource manager (xl_rmid 1) whose
// xl_info & 0x70 is COMMIT (0x00), ABORT (0x20), COMMIT_PREPARED (0x30)
// or ABORT_PREPARED (0x40) is read whole: after the header come block
// ids, 253 (origin, 2 more bytes) and 252 (top-level xid, 4 more)
// skipped, then 255 (main data length, 1 byte) or 254 (4 bytes); the
// main data is the record's last bytes and begins with xact_time, an
// int64 of microseconds since 2000-01-01 UTC. These are the records
// recovery_target_time is checked against. Other records are skipped by
// length. An XLOG_SWITCH record (rmid 0, info 0x40) or a zero length
// ends the segment's records. The parser starts at a page boundary and
// skips a continued record's rest (xlp_rem_len).
//
// # Stored data
//
// A stored segment is a vault manifest (metadata coffer:kind
// "pgwal-segment", coffer:stream, coffer:segment = the pg_wal file name,
// coffer:end-lsn) whose content is the segment file's bytes from offset
// 0 to end_lsn − segment start, unchanged. A base backup is a
// pgphysical stream (coffer:kind "pgwal-base-backup") with its
// engine.Metadata kept in pw_base_backups as JSON.
//
// Index (metadata store, times Unix nanoseconds, LSNs as integers):
//
//	pw_streams       stream, system_id, segment_size, safe_lsn, safe_time
//	                 (the latest restorable time and the WAL it needs),
//	                 gap_lsn, gap_at (where the archive resumed after
//	                 losing WAL), created_at, and at the last probe
//	                 (probed_at) the server's pg_current_wal_lsn()
//	                 (server_lsn) and the slot's restart_lsn (slot_lsn):
//	                 the replication lag Status reports (migration 0190)
//	pw_segments      stream, timeline, segno, end_lsn, manifest_id,
//	                 first_commit, last_commit (times of the commit and
//	                 abort records ending in the segment), stored_at
//	pw_timelines     stream, timeline, history (the .history file)
//	pw_base_backups  stream, manifest_id, timeline, start_lsn, end_lsn,
//	                 completed_at, metadata
//
// # Window
//
// A base backup is a usable start when it began after the last gap,
// its end LSN is at or before safe_lsn, and the stored segments hold
// every byte from its end segment's start to safe_lsn. The window runs
// from the oldest usable base backup's completion to safe_time. No
// usable base backup: ErrNoWindow.
//
// # Restore
//
// Restore(target) refuses a target outside the window with a
// *WindowError carrying the window; otherwise it restores the newest
// usable base backup completed at or before the target (pgphysical,
// which checks it against its manifest), then writes the stored
// segments from that backup's end segment into pg_wal, each zero-filled
// to the segment size (PostgreSQL reads the zeros as the end of the
// WAL), owned like pg_wal, and the history files. It parses what it
// writes and stops after the segment where the first commit or abort
// later than the target (and after the backup's end) ends. Then it
// appends to postgresql.auto.conf, after pgphysical's settings (the
// last setting of a name wins):
//
//	recovery_target = ''
//	recovery_target_time = '<target, microseconds, +00>'
//	recovery_target_inclusive = on
//	recovery_target_action = 'promote'
//	recovery_target_timeline = 'latest'
//
// so recovery stops just before that commit, keeping every transaction
// committed at or before the target, and promotes. When no stored
// commit is later than the target (a latest restore, or a target after
// the last commit), recovery_target_time is left out and recovery
// replays all the WAL written, which by the window's definition holds
// every commit up to the target (PostgreSQL would otherwise fail with
// "recovery ended before configured recovery target was reached").
// The caller starts the server and checks it with pgphysical.Validate.
//
// # Retention
//
// Prune(keepFrom) keeps the newest usable base backup completed at or
// before keepFrom and everything after; it deletes older base backups
// and the segments before that backup's end segment (vault manifests
// refused as protected by a vault lock or legal hold stay).
// Expire(retention) is Prune(now − retention) on the archive's clock
// (Options.Now), what the lifecycle sweeper calls; the vault's GC then
// reclaims the chunks.
package pgwal
