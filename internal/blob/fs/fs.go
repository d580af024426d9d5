// Package fs stores blobs as files under a local directory. An object
// named "a/b/c" is the file ROOT/a/b/c.
//
// Writes are safe against crashes: the data goes to a temporary file
// (named with blob.TempPrefix) in the destination directory, which is
// fsynced, closed and renamed over the final name (Put) or hard-linked to
// it (Create, which must not replace), and then the directory is fsynced.
// A reader therefore sees the old object, the new one, or none. A crash
// can leave temporary files behind; List skips them and removes those
// older than TempMaxAge.
//
// Since an object is a file and a name prefix ending in "/" a directory,
// "a" and "a/b" cannot both exist here (on S3 they can); the vault
// storage engine's names never need both.
package fs

import (
	"context"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/coffer-dev/coffer/internal/blob"
)

// TempMaxAge is how old a temporary file must be before List deletes it
// as the leftover of a crashed write. A live write keeps touching its
// file, so it is never that old.
const TempMaxAge = time.Hour

// Store is a blob.Store on a local directory.
type Store struct {
	root string
}

var (
	_ blob.Store   = (*Store)(nil)
	_ blob.Creator = (*Store)(nil)
)

// New returns a store rooted at dir, creating dir (0700) if needed.
func New(dir string) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("blob store directory %s: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("create blob store directory: %w", err)
	}
	return &Store{root: abs}, nil
}

// Root returns the store's directory.
func (s *Store) Root() string { return s.root }

func (s *Store) path(name string) (string, error) {
	if err := blob.ValidName(name); err != nil {
		return "", err
	}
	return filepath.Join(s.root, filepath.FromSlash(name)), nil
}

// Put writes the object name atomically, replacing any previous one.
func (s *Store) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	p, err := s.path(name)
	if err != nil {
		return fmt.Errorf("put: %w", err)
	}
	tmp, err := s.writeTemp(ctx, p, r, size)
	if err != nil {
		return fmt.Errorf("put %s: %w", name, noSpace(err))
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("put %s: %w", name, err)
	}
	if err := syncDir(filepath.Dir(p)); err != nil {
		return fmt.Errorf("put %s: %w", name, err)
	}
	return nil
}

// Create writes the object name unless it exists (blob.ErrExists). The
// complete file is linked into place in one step, so a concurrent reader
// or creator never sees a partial object.
func (s *Store) Create(ctx context.Context, name string, r io.Reader, size int64) error {
	p, err := s.path(name)
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	if _, err := os.Lstat(p); err == nil {
		return fmt.Errorf("create %s: %w", name, blob.ErrExists)
	}
	tmp, err := s.writeTemp(ctx, p, r, size)
	if err != nil {
		return fmt.Errorf("create %s: %w", name, noSpace(err))
	}
	err = os.Link(tmp, p)
	os.Remove(tmp)
	if errors.Is(err, iofs.ErrExist) {
		return fmt.Errorf("create %s: %w", name, blob.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	if err := syncDir(filepath.Dir(p)); err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	return nil
}

// noSpace marks an error of a write that found the file system full (or
// the user's quota spent) as blob.ErrFull.
func noSpace(err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("%w: %w", blob.ErrFull, err)
	}
	return err
}

// writeTemp writes r to a synced and closed temporary file beside p and
// returns its path. size < 0 means unknown; otherwise r must yield
// exactly size bytes.
func (s *Store) writeTemp(ctx context.Context, p string, r io.Reader, size int64) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	dir := filepath.Dir(p)
	if err := s.mkdirAll(dir); err != nil {
		return "", err
	}
	f, err := os.CreateTemp(dir, blob.TempPrefix+"*")
	if err != nil {
		return "", err
	}
	tmp := f.Name()
	fail := func(err error) (string, error) {
		f.Close()
		os.Remove(tmp)
		return "", err
	}
	n, err := io.Copy(f, ctxReader{ctx, r})
	if err != nil {
		return fail(err)
	}
	if size >= 0 && n != size {
		return fail(fmt.Errorf("reader yielded %d bytes, want %d", n, size))
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return "", err
	}
	return tmp, nil
}

// mkdirAll creates dir and its missing parents under the root, fsyncing
// each parent so the new entries survive a crash.
func (s *Store) mkdirAll(dir string) error {
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", dir)
		}
		return nil
	}
	if dir == s.root || !strings.HasPrefix(dir, s.root) {
		return os.MkdirAll(dir, 0o700)
	}
	parent := filepath.Dir(dir)
	if err := s.mkdirAll(parent); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, iofs.ErrExist) {
		return err
	}
	return syncDir(parent)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// notExist reports whether err means the path is missing, including a
// file standing where a directory of the path should be.
func notExist(err error) bool {
	return errors.Is(err, iofs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// Get returns length bytes of name from offset (length < 0: to the end).
// A range that ends past the object is an error wrapping
// io.ErrUnexpectedEOF.
func (s *Store) Get(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	p, err := s.path(name)
	if err != nil {
		return nil, fmt.Errorf("get: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("get %s: %w", name, err)
	}
	if offset < 0 {
		return nil, fmt.Errorf("get %s: negative offset %d", name, offset)
	}
	f, err := os.Open(p)
	if notExist(err) {
		return nil, fmt.Errorf("get %s: %w", name, blob.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", name, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("get %s: %w", name, err)
	}
	if fi.IsDir() {
		f.Close()
		return nil, fmt.Errorf("get %s: %w", name, blob.ErrNotExist)
	}
	if length < 0 {
		length = fi.Size() - offset
	}
	if offset+length > fi.Size() || length < 0 {
		f.Close()
		return nil, fmt.Errorf("get %s: range %d+%d past size %d: %w", name, offset, length, fi.Size(), io.ErrUnexpectedEOF)
	}
	return &section{SectionReader: io.NewSectionReader(f, offset, length), f: f}, nil
}

type section struct {
	*io.SectionReader
	f *os.File
}

func (s *section) Close() error { return s.f.Close() }

// Stat describes name.
func (s *Store) Stat(ctx context.Context, name string) (blob.Info, error) {
	p, err := s.path(name)
	if err != nil {
		return blob.Info{}, fmt.Errorf("stat: %w", err)
	}
	fi, err := os.Stat(p)
	if notExist(err) || err == nil && fi.IsDir() {
		return blob.Info{}, fmt.Errorf("stat %s: %w", name, blob.ErrNotExist)
	}
	if err != nil {
		return blob.Info{}, fmt.Errorf("stat %s: %w", name, err)
	}
	return blob.Info{Name: name, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// Delete removes name; a missing object is not an error. Directories
// left empty stay: removing them would race with a Put into them.
func (s *Store) Delete(ctx context.Context, name string) error {
	p, err := s.path(name)
	if err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	if fi, err := os.Lstat(p); err == nil && fi.IsDir() {
		return nil // a directory is not an object
	}
	err = os.Remove(p)
	if notExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	return syncDir(filepath.Dir(p))
}

// List calls fn for every object whose name starts with prefix, in
// lexical order of the names. It walks only the directories that can hold
// such names, and sorts each directory's entries so that the walk order
// is the lexical order: a directory "d" sorts as "d/", which is where its
// children's names fall among its siblings.
func (s *Store) List(ctx context.Context, prefix string, fn func(blob.Info) error) error {
	// Start at the deepest directory the prefix names completely.
	base := ""
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		base = prefix[:i+1]
	}
	err := s.walk(ctx, base, prefix, fn)
	var st stopped
	if errors.As(err, &st) {
		return st.err // the caller's own error, as it was
	}
	if err != nil {
		return fmt.Errorf("list %q: %w", prefix, err)
	}
	return nil
}

// stopped carries an error returned by List's fn out of the walk.
type stopped struct{ err error }

func (s stopped) Error() string { return s.err.Error() }

// walk lists directory dir ("" or a slash-terminated name prefix).
func (s *Store) walk(ctx context.Context, dir, prefix string, fn func(blob.Info) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ents, err := os.ReadDir(filepath.Join(s.root, filepath.FromSlash(dir)))
	if notExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	type entry struct {
		key string // name, plus "/" for a directory
		e   iofs.DirEntry
	}
	var list []entry
	for _, e := range ents {
		n := e.Name()
		if strings.HasPrefix(n, blob.TempPrefix) {
			s.maybeRemoveTemp(filepath.Join(s.root, filepath.FromSlash(dir), n), e)
			continue
		}
		key := dir + n
		if e.IsDir() {
			key += "/"
			// Descend only if names below can start with prefix.
			if !strings.HasPrefix(key, prefix) && !strings.HasPrefix(prefix, key) {
				continue
			}
		} else if !e.Type().IsRegular() || !strings.HasPrefix(key, prefix) {
			continue
		}
		list = append(list, entry{key, e})
	}
	slices.SortFunc(list, func(a, b entry) int { return strings.Compare(a.key, b.key) })
	for _, ent := range list {
		if ent.e.IsDir() {
			if err := s.walk(ctx, ent.key, prefix, fn); err != nil {
				return err
			}
			continue
		}
		fi, err := ent.e.Info()
		if notExist(err) {
			continue // deleted since ReadDir
		}
		if err != nil {
			return err
		}
		if err := fn(blob.Info{Name: ent.key, Size: fi.Size(), ModTime: fi.ModTime()}); err != nil {
			return stopped{err}
		}
	}
	return nil
}

// maybeRemoveTemp deletes a temporary file left by a crashed write.
func (s *Store) maybeRemoveTemp(p string, e iofs.DirEntry) {
	fi, err := e.Info()
	if err == nil && fi.Mode().IsRegular() && time.Since(fi.ModTime()) > TempMaxAge {
		os.Remove(p)
	}
}

// ctxReader stops a copy when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
