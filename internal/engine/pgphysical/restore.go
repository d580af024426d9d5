package pgphysical

import (
	"bufio"
	"context"
	"errors"
	"fmt"
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

func (e *Engine) restore(ctx context.Context, r io.Reader, dir string, md *engine.Metadata) (*RestoreResult, error) {
	dig := engine.NewDigest()
	d := &decoder{r: bufio.NewReaderSize(io.TeeReader(r, dig), 256<<10)}
	if err := d.start(); err != nil {
		return nil, err
	}
	alg := md.Physical.ManifestChecksums
	got := map[string]fileSum{}
	res := &RestoreResult{}
	var records int64
	buf := make([]byte, 256<<10)
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
		p := filepath.Join(dir, filepath.FromSlash(rec.path))
		if rec.kind == recDir {
			if err := os.MkdirAll(p, 0o700); err != nil {
				return nil, fmt.Errorf("restore: %w", err)
			}
			if err := e.own(p); err != nil {
				return nil, fmt.Errorf("restore: %w", err)
			}
			continue
		}
		if _, dup := got[rec.path]; dup {
			return nil, corrupt("file %s appears twice", rec.path)
		}
		fs, err := e.restoreFile(d.r, p, rec, alg, buf)
		if err != nil {
			return nil, err
		}
		got[rec.path] = fs
		res.Files++
		res.Bytes += rec.size
	}
	if _, err := d.r.ReadByte(); err != io.EOF {
		return nil, corrupt("%v", errTrailing)
	}
	if err := dig.Check(md); err != nil {
		return nil, err
	}
	man, err := os.ReadFile(filepath.Join(dir, manifestName))
	if err != nil {
		return nil, corrupt("the backup has no backup_manifest: %v", err)
	}
	m, err := parseManifest(man)
	if err != nil {
		return nil, err
	}
	if err := m.check(got, false); err != nil {
		return nil, err
	}
	if err := e.writeRecovery(dir); err != nil {
		return nil, err
	}
	return res, nil
}

// restoreFile writes one file's content, hashing it as the manifest does.
func (e *Engine) restoreFile(r io.Reader, p string, rec *record, alg string, buf []byte) (fileSum, error) {
	fs := fileSum{size: rec.size}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fs, fmt.Errorf("restore: %w", err)
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fs, fmt.Errorf("restore: %w", err)
	}
	h, _ := newChecksum(alg)
	w := io.Writer(f)
	if h != nil && rec.path != manifestName {
		w = io.MultiWriter(f, h)
	}
	_, err = io.CopyBuffer(w, io.LimitReader(r, rec.size), buf)
	if err == nil {
		var st os.FileInfo
		if st, err = f.Stat(); err == nil && st.Size() != rec.size {
			err = corrupt("file %s ends early: %d of %d bytes", rec.path, st.Size(), rec.size)
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = e.own(p)
	}
	if err != nil {
		if errors.Is(err, engine.ErrCorrupt) {
			return fs, err
		}
		return fs, fmt.Errorf("restore %s: %w", rec.path, err)
	}
	if h != nil && rec.path != manifestName {
		fs.alg, fs.sum = alg, checksumHex(alg, h)
	}
	return fs, nil
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
