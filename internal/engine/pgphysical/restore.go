package pgphysical

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"

	"github.com/coffer-dev/coffer/internal/engine"
	"github.com/coffer-dev/coffer/internal/engine/postgres"
)

// RestoreResult is what Restore wrote.
type RestoreResult struct {
	Files int64 // files written, WAL and backup_manifest included
	Bytes int64 // their bytes
}

// recoverySettings are appended to postgresql.auto.conf; with
// recovery.signal they make the server replay the backup's WAL from
// pg_wal up to the backup's consistent point, stop there and promote.
// PostgreSQL 15 insists on a restore_command for archive recovery:
// 'false' fetches nothing, so the WAL comes from pg_wal alone. The
// settings only act while recovery.signal exists, which the server
// removes when it promotes.
const recoverySettings = `
# coffer restore of a physical base backup: recover to its consistent point
restore_command = 'false'
recovery_target = 'immediate'
recovery_target_action = 'promote'
`

// Restore unpacks a stream written by Snapshot into dir, which must not
// exist or be empty; checks the stream against md (size and SHA-256) and
// every file against the backup's backup_manifest (sizes, checksums, no
// extra files, the WAL segments present); and writes the recovery
// settings, so that a server started on dir reaches the backup's
// consistent point and promotes. On error dir is left empty.
func (e *Engine) Restore(ctx context.Context, r io.Reader, dir string, md *engine.Metadata) (*RestoreResult, error) {
	if err := md.Check(postgres.Name, DumpFormat); err != nil {
		return nil, err
	}
	if md.Physical == nil {
		return nil, fmt.Errorf("%w: physical backup metadata without its WAL positions", engine.ErrFormat)
	}
	if _, err := newChecksum(md.Physical.ManifestChecksums); err != nil {
		return nil, err
	}
	if err := e.prepareDir(dir); err != nil {
		return nil, err
	}
	res, err := e.restore(ctx, r, dir, md)
	if err != nil {
		if cerr := emptyDir(dir); cerr != nil {
			err = fmt.Errorf("%w (and cleaning %s up failed: %v)", err, dir, cerr)
		}
		return nil, err
	}
	return res, nil
}

func (e *Engine) prepareDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if len(entries) > 0 {
		return fmt.Errorf("%w: data directory %s is not empty", engine.ErrNotEmpty, dir)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	return e.own(dir)
}

func (e *Engine) own(p string) error {
	if e.o.Owner == nil {
		return nil
	}
	return os.Lchown(p, int(e.o.Owner.Uid), int(e.o.Owner.Gid))
}

// emptyDir removes what a failed restore left in dir.
func emptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var first error
	for _, en := range entries {
		if err := os.RemoveAll(filepath.Join(dir, en.Name())); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// verifiedStream is a stream that checks its own length and SHA-256,
// as vaultstore.Reader does: at its end it returns an error instead of
// io.EOF when they differ from StreamDigest.
type verifiedStream interface {
	io.Reader
	StreamDigest() (int64, [32]byte)
}

// restore reads the stream on the caller's goroutine and hands the
// directories and file contents, in stream order, to a fileWriter on
// another, so that reading from the vault overlaps writing and hashing
// the files.
func (e *Engine) restore(ctx context.Context, r io.Reader, dir string, md *engine.Metadata) (*RestoreResult, error) {
	// The stream is hashed once: by the reader when it checks the digest
	// md records, else here.
	var dig *engine.Digest
	if vs, ok := r.(verifiedStream); !ok || !sameDigest(vs, md) {
		dig = engine.NewDigest()
		r = io.TeeReader(r, dig)
	}
	d := &decoder{r: bufio.NewReaderSize(r, 256<<10)}
	if err := d.start(); err != nil {
		return nil, err
	}
	fw := newFileWriter(e, dir, md.Physical.ManifestChecksums)
	go fw.run()
	res, err := e.decode(ctx, d, fw)
	close(fw.ops)
	if werr := <-fw.done; err == nil || werr != nil && errors.Is(err, errWriterFailed) {
		err = werr
	}
	if err != nil {
		return nil, err
	}
	if dig != nil {
		if err := dig.Check(md); err != nil {
			return nil, err
		}
	}
	man, err := os.ReadFile(filepath.Join(dir, manifestName))
	if err != nil {
		return nil, corrupt("the backup has no backup_manifest: %v", err)
	}
	m, err := parseManifest(man)
	if err != nil {
		return nil, err
	}
	if err := m.check(fw.got, false); err != nil {
		return nil, err
	}
	if err := e.writeRecovery(dir); err != nil {
		return nil, err
	}
	return res, nil
}

// sameDigest reports whether vs checks the stream against the digest md
// records.
func sameDigest(vs verifiedStream, md *engine.Metadata) bool {
	n, sum := vs.StreamDigest()
	return md.StreamSHA256 != "" && n == md.StreamSize && hex.EncodeToString(sum[:]) == md.StreamSHA256
}

// errWriterFailed stops the decoding when the file writer has failed; the
// writer's error is the one returned.
var errWriterFailed = errors.New("file writer failed")

// decode reads the records up to the end of the stream and passes them
// to fw.
func (e *Engine) decode(ctx context.Context, d *decoder, fw *fileWriter) (*RestoreResult, error) {
	res := &RestoreResult{}
	seen := map[string]bool{}
	var records int64
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		rec, err := d.next()
		if err != nil {
			return nil, err
		}
		if rec.kind == recEnd {
			if rec.n != records {
				return nil, corrupt("the stream holds %d records, its end record says %d", records, rec.n)
			}
			break
		}
		records++
		if rec.kind == recFile {
			if seen[rec.path] {
				return nil, corrupt("file %s appears twice", rec.path)
			}
			seen[rec.path] = true
			res.Files++
			res.Bytes += rec.size
		}
		if err := fw.send(writeOp{rec: rec}); err != nil {
			return nil, err
		}
		for left := rec.size; left > 0; {
			buf, err := fw.buffer()
			if err != nil {
				return nil, err
			}
			n, err := io.ReadFull(d.r, buf[:min(int64(len(buf)), left)])
			if err != nil {
				fw.free <- buf
				if err == io.EOF || err == io.ErrUnexpectedEOF {
					err = corrupt("file %s ends early: %d of %d bytes", rec.path, rec.size-left+int64(n), rec.size)
				}
				return nil, fmt.Errorf("restore %s: %w", rec.path, err)
			}
			left -= int64(n)
			if err := fw.send(writeOp{data: buf[:n], last: left == 0}); err != nil {
				fw.free <- buf
				return nil, err
			}
		}
	}
	if _, err := d.r.ReadByte(); err == nil {
		return nil, corrupt("%v", errTrailing)
	} else if err != io.EOF {
		return nil, err
	}
	return res, nil
}

// writeOp is one step of a restore, in stream order: a record (a
// directory, or a file to create), or a piece of the current file's
// content (last: the file is complete).
type writeOp struct {
	rec  *record
	data []byte
	last bool
}

// fileWriter creates the directories and files of a restore and hashes
// each file as the manifest does. Content buffers cycle between the
// decoder and the writer through free, which bounds the bytes in flight.
type fileWriter struct {
	e    *Engine
	dir  string
	alg  string
	ops  chan writeOp
	free chan []byte
	stop chan struct{} // closed when the writer fails
	done chan error
	got  map[string]fileSum // valid once done has answered

	f   *os.File
	cur *record
	h   hash.Hash
	n   int64
}

const (
	restoreBuffers = 8
	restoreBuffer  = 256 << 10
)

func newFileWriter(e *Engine, dir, alg string) *fileWriter {
	fw := &fileWriter{e: e, dir: dir, alg: alg, ops: make(chan writeOp, restoreBuffers), free: make(chan []byte, restoreBuffers),
		stop: make(chan struct{}), done: make(chan error, 1), got: map[string]fileSum{}}
	for i := 0; i < restoreBuffers; i++ {
		fw.free <- make([]byte, restoreBuffer)
	}
	return fw
}

// send passes op to the writer unless it has failed.
func (fw *fileWriter) send(op writeOp) error {
	select {
	case fw.ops <- op:
		return nil
	case <-fw.stop:
		return errWriterFailed
	}
}

// buffer takes a free content buffer unless the writer has failed.
func (fw *fileWriter) buffer() ([]byte, error) {
	select {
	case b := <-fw.free:
		return b, nil
	case <-fw.stop:
		return nil, errWriterFailed
	}
}

// run does the ops until ops is closed; after an error it only gives
// the buffers back.
func (fw *fileWriter) run() {
	var err error
	for op := range fw.ops {
		if err == nil {
			if err = fw.do(op); err != nil {
				close(fw.stop)
			}
		}
		if op.data != nil {
			fw.free <- op.data[:cap(op.data)]
		}
	}
	if fw.f != nil {
		fw.f.Close()
		if err == nil {
			err = corrupt("file %s ends early: %d of %d bytes", fw.cur.path, fw.n, fw.cur.size)
		}
	}
	fw.done <- err
}

func (fw *fileWriter) do(op writeOp) error {
	if op.rec != nil {
		p := filepath.Join(fw.dir, filepath.FromSlash(op.rec.path))
		if op.rec.kind == recDir {
			if err := os.MkdirAll(p, 0o700); err != nil {
				return fmt.Errorf("restore: %w", err)
			}
			if err := fw.e.own(p); err != nil {
				return fmt.Errorf("restore: %w", err)
			}
			return nil
		}
		return fw.create(p, op.rec)
	}
	if _, err := fw.f.Write(op.data); err != nil {
		return fmt.Errorf("restore %s: %w", fw.cur.path, err)
	}
	if fw.h != nil {
		fw.h.Write(op.data)
	}
	fw.n += int64(len(op.data))
	if op.last {
		return fw.closeFile()
	}
	return nil
}

// create starts a file; an empty one is complete at once.
func (fw *fileWriter) create(p string, rec *record) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	fw.f, fw.cur, fw.n = f, rec, 0
	fw.h = nil
	if rec.path != manifestName {
		fw.h, _ = newChecksum(fw.alg)
	}
	if rec.size == 0 {
		return fw.closeFile()
	}
	return nil
}

// closeFile finishes the current file and records its checksum.
func (fw *fileWriter) closeFile() error {
	f, rec := fw.f, fw.cur
	fw.f = nil
	if err := f.Close(); err != nil {
		return fmt.Errorf("restore %s: %w", rec.path, err)
	}
	if err := fw.e.own(f.Name()); err != nil {
		return fmt.Errorf("restore %s: %w", rec.path, err)
	}
	fs := fileSum{size: fw.n}
	if fw.h != nil {
		fs.alg, fs.sum = fw.alg, checksumHex(fw.alg, fw.h)
	}
	fw.got[rec.path] = fs
	return nil
}

// writeRecovery makes the server recover to the backup's consistent
// point when it starts.
func (e *Engine) writeRecovery(dir string) error {
	auto := filepath.Join(dir, "postgresql.auto.conf")
	f, err := os.OpenFile(auto, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("restore: recovery settings: %w", err)
	}
	_, err = f.WriteString(recoverySettings)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = e.own(auto)
	}
	if err == nil {
		sig := filepath.Join(dir, "recovery.signal")
		if err = os.WriteFile(sig, nil, 0o600); err == nil {
			err = e.own(sig)
		}
	}
	if err != nil {
		return fmt.Errorf("restore: recovery settings: %w", err)
	}
	return nil
}
