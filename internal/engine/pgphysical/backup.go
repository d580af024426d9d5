package pgphysical

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/coffer-dev/coffer/internal/engine"
	"github.com/coffer-dev/coffer/internal/engine/postgres"
)

// DumpFormat names the stream format in engine.Metadata.
const DumpFormat = "postgres-base-backup/v1"

// DefaultPageChunk is four pages: measured against one page per chunk
// (see the package documentation), it stores less after clustered
// changes and takes less than half the time, the vault's cost per chunk
// dominating at 8 KiB.
const DefaultPageChunk = 4 * PageSize

// Options configure the engine.
type Options struct {
	// PageChunk is the chunk size for relation files and WAL segments,
	// a multiple of PageSize; 0 means DefaultPageChunk; -1 cuts them
	// content-defined like everything else (for comparison).
	PageChunk int
	// ManifestChecksums is the backup_manifest checksum algorithm asked
	// of the server: CRC32C (the default), SHA224, SHA256, SHA384,
	// SHA512.
	ManifestChecksums string
	// Owner, when set, owns what Restore creates (the account the
	// server will run as).
	Owner *syscall.Credential
}

// Engine takes and restores physical base backups.
type Engine struct{ o Options }

// New checks o and returns the engine.
func New(o Options) (*Engine, error) {
	if o.PageChunk == 0 {
		o.PageChunk = DefaultPageChunk
	}
	if o.PageChunk < -1 || o.PageChunk%PageSize != 0 && o.PageChunk != -1 || o.PageChunk > 16<<20 {
		return nil, fmt.Errorf("pgphysical: page chunk %d is not a multiple of %d up to 16 MiB", o.PageChunk, PageSize)
	}
	if o.ManifestChecksums == "" {
		o.ManifestChecksums = "CRC32C"
	}
	if _, err := newChecksum(o.ManifestChecksums); err != nil || o.ManifestChecksums == "NONE" {
		return nil, fmt.Errorf("pgphysical: manifest checksum algorithm %q is not one of CRC32C, SHA224, SHA256, SHA384, SHA512", o.ManifestChecksums)
	}
	return &Engine{o: o}, nil
}

// Snapshot takes a base backup of the server t names over the
// replication protocol (t.User needs the REPLICATION attribute and a
// pg_hba.conf entry for replication) and writes it to sink as the
// stream the package documentation describes. Writes may go on: the
// backup is consistent once recovery replays its WAL to EndLSN. On error
// what was written must be discarded.
func (e *Engine) Snapshot(ctx context.Context, t engine.Target, sink Sink) (*engine.Metadata, error) {
	started := time.Now().UTC()
	conn, err := connectReplication(ctx, t)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	ident, err := conn.Exec(ctx, "IDENTIFY_SYSTEM").ReadAll()
	if err != nil {
		return nil, fmt.Errorf("base backup of %s: identify system: %w", t, err)
	}
	if len(ident) != 1 || len(ident[0].Rows) != 1 || len(ident[0].Rows[0]) < 2 {
		return nil, fmt.Errorf("base backup of %s: unexpected IDENTIFY_SYSTEM answer", t)
	}
	md := &engine.Metadata{
		FormatVersion: engine.FormatVersion, Engine: postgres.Name, EngineVersion: conn.ParameterStatus("server_version"),
		DumpFormat: DumpFormat, ChecksumAlgorithm: postgres.ChecksumAlgorithm, StartedAt: started,
		Physical: &engine.Physical{SystemIdentifier: string(ident[0].Rows[0][0]), ManifestChecksums: e.o.ManifestChecksums},
	}
	label := "coffer " + started.Format(time.RFC3339)
	q := fmt.Sprintf("BASE_BACKUP (LABEL '%s', CHECKPOINT 'fast', WAL true, WAIT true, MANIFEST 'yes', MANIFEST_CHECKSUMS '%s', TABLESPACE_MAP false, PROGRESS false)",
		label, e.o.ManifestChecksums)
	conn.Frontend().Send(&pgproto3.Query{String: q})
	if err := conn.Frontend().Flush(); err != nil {
		return nil, fmt.Errorf("base backup of %s: %w", t, err)
	}
	s := &bbStream{conn: conn, ctx: ctx}
	// The stream is hashed once: by the sink when it hashes what it
	// takes (the vault's writer), else here.
	ds, hashed := sink.(digestSink)
	dig := engine.NewDigest()
	var digest io.Writer
	if !hashed {
		digest = dig
	}
	enc := newEncoder(sink, digest)
	if err := e.receive(s, enc, md); err != nil {
		return nil, fmt.Errorf("base backup of %s: %w", t, err)
	}
	if len(s.results) != 3 || len(s.results[0]) != 1 || len(s.results[2]) != 1 {
		return nil, fmt.Errorf("base backup of %s: unexpected result sets from BASE_BACKUP", t)
	}
	for _, ts := range s.results[1] {
		if ts[0] != "" {
			return nil, fmt.Errorf("base backup of %s: the server has tablespaces besides pg_default and pg_global, which physical backups do not support", t)
		}
	}
	md.Physical.StartLSN, md.Physical.EndLSN = s.results[0][0][0], s.results[2][0][0]
	var tli int
	if _, err := fmt.Sscan(s.results[2][0][1], &tli); err != nil {
		return nil, fmt.Errorf("base backup of %s: timeline %q: %w", t, s.results[2][0][1], err)
	}
	md.Physical.Timeline = int32(tli)
	if hashed {
		var sum [32]byte
		md.StreamSize, sum = ds.StreamDigest()
		md.StreamSHA256 = hex.EncodeToString(sum[:])
	} else {
		md.StreamSize, md.StreamSHA256 = dig.Size(), dig.Sum()
	}
	md.CompletedAt = time.Now().UTC()
	return md, nil
}

// connectReplication opens a physical replication connection to t.
func connectReplication(ctx context.Context, t engine.Target) (*pgconn.PgConn, error) {
	if t.Host == "" || t.User == "" {
		return nil, fmt.Errorf("%w: a physical backup needs the server's host and a user (got %s)", engine.ErrUnavailable, t)
	}
	cfg, err := pgconn.ParseConfig(postgres.ConnString(t))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", engine.ErrUnavailable, t, err)
	}
	cfg.Password = t.Password
	cfg.RuntimeParams["replication"] = "true"
	cfg.RuntimeParams["application_name"] = "coffer"
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		msg := err.Error()
		if t.Password != "" {
			msg = strings.ReplaceAll(msg, t.Password, "********")
		}
		return nil, fmt.Errorf("%w: replication connection to %s: %s; %s", engine.ErrUnavailable, t, msg, replicationHint(err))
	}
	return conn, nil
}

// replicationHint says what to do about a refused replication connection.
func replicationHint(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "53300" { // too_many_connections
		return "the server has no free WAL sender (max_wal_senders): other backups or replication connections hold them; try again when they end"
	}
	return "the user needs the REPLICATION attribute and a replication line in pg_hba.conf"
}

// receive reads BASE_BACKUP's answer: result sets (start, tablespaces),
// the archive as CopyData ('n' new archive, 'd' data, 'm' manifest,
// 'p' progress), then the end result set.
func (e *Engine) receive(s *bbStream, enc *encoder, md *engine.Metadata) error {
	if err := enc.start(); err != nil {
		return err
	}
	kind, payload, err := s.advance()
	if err != nil {
		return err
	}
	archives := 0
	for kind != 0 {
		switch kind {
		case 'n':
			name, _, _ := bytes.Cut(payload, []byte{0})
			if archives++; archives > 1 || string(name) != "base.tar" {
				return fmt.Errorf("archive %q: the server has tablespaces besides pg_default and pg_global, which physical backups do not support", name)
			}
			ar := &archiveReader{s: s}
			if err := e.unpackTar(ar, enc, md); err != nil {
				return err
			}
			if _, err := io.Copy(io.Discard, ar); err != nil {
				return err
			}
			kind, payload = ar.kind, ar.payload
		case 'm':
			ar := &archiveReader{s: s}
			man, err := io.ReadAll(ar)
			if err != nil {
				return fmt.Errorf("backup_manifest: %w", err)
			}
			if err := enc.file(manifestName, 0o600, int64(len(man)), bytes.NewReader(man), 0); err != nil {
				return err
			}
			md.Physical.Files++
			kind, payload = ar.kind, ar.payload
		case 'p':
			if kind, payload, err = s.advance(); err != nil {
				return err
			}
		case 'Z':
			return errors.New("the server ended the backup without sending it")
		default:
			return fmt.Errorf("unexpected backup message %q", kind)
		}
	}
	if err := enc.end(); err != nil {
		return err
	}
	for {
		k, _, err := s.advance()
		if err != nil {
			return err
		}
		if k == 'Z' {
			return nil
		}
	}
}

// unpackTar turns the server's tar archive into records.
func (e *Engine) unpackTar(r io.Reader, enc *encoder, md *engine.Metadata) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read the base backup archive: %w", err)
		}
		name := path.Clean(h.Name) // the server writes some names as ./pg_wal/...
		if err := checkPath(name); err != nil {
			return err
		}
		switch h.Typeflag {
		case tar.TypeDir:
			err = enc.dir(name, h.Mode)
		case tar.TypeReg:
			err = enc.file(name, h.Mode, h.Size, tr, e.o.PageChunk)
			md.Physical.Files++
			md.LogicalSize += h.Size
		case tar.TypeSymlink:
			err = fmt.Errorf("%s is a symbolic link (a tablespace), which physical backups do not support", name)
		default:
			err = fmt.Errorf("%s: unexpected archive entry type %q", name, h.Typeflag)
		}
		if err != nil {
			return err
		}
	}
}

// bbStream receives BASE_BACKUP's messages.
type bbStream struct {
	conn    *pgconn.PgConn
	ctx     context.Context
	results [][][]string // result sets, rows of text values ("" for NULL)
	cur     [][]string
}

// advance returns the next CopyData payload with its kind byte; kind 0
// when the copy is done, 'Z' at ReadyForQuery. Result sets are collected
// on the way. The payload is valid until the next call.
func (s *bbStream) advance() (byte, []byte, error) {
	for {
		m, err := s.conn.ReceiveMessage(s.ctx)
		if err != nil {
			return 0, nil, err
		}
		switch m := m.(type) {
		case *pgproto3.RowDescription:
			s.cur = [][]string{}
		case *pgproto3.DataRow:
			row := make([]string, len(m.Values))
			for i, v := range m.Values {
				row[i] = string(v)
			}
			s.cur = append(s.cur, row)
		case *pgproto3.CommandComplete:
			if s.cur != nil {
				s.results = append(s.results, s.cur)
				s.cur = nil
			}
		case *pgproto3.CopyData:
			if len(m.Data) == 0 {
				return 0, nil, errors.New("empty backup message")
			}
			return m.Data[0], m.Data[1:], nil
		case *pgproto3.CopyDone:
			return 0, nil, nil
		case *pgproto3.ReadyForQuery:
			return 'Z', nil, nil
		case *pgproto3.ErrorResponse:
			return 0, nil, pgconn.ErrorResponseToPgError(m)
		}
	}
}

// archiveReader reads the 'd' messages that follow an 'n' or 'm'
// message; at the next other message it returns io.EOF and keeps that
// message in kind and payload.
type archiveReader struct {
	s       *bbStream
	data    []byte
	end     bool
	kind    byte
	payload []byte
}

func (r *archiveReader) Read(p []byte) (int, error) {
	for len(r.data) == 0 {
		if r.end {
			return 0, io.EOF
		}
		k, pl, err := r.s.advance()
		if err != nil {
			return 0, err
		}
		switch k {
		case 'd':
			r.data = pl
		case 'p':
		default:
			r.end, r.kind, r.payload = true, k, bytes.Clone(pl)
		}
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}
