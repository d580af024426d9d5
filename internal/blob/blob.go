// Package blob defines the narrow object-store interface the vault storage
// engine writes through. Implementations live in blob/fs (a local
// directory) and blob/s3 (S3-compatible object storage); retry,
// concurrency limits, metrics and logging wrap a Store from the outside.
package blob

import (
	"context"
	"errors"
	"io"
	"time"
)

// ErrNotExist is returned (possibly wrapped) when an object is missing.
var ErrNotExist = errors.New("blob: object does not exist")

// ErrExists is returned by Creator.Create when the object already exists.
var ErrExists = errors.New("blob: object already exists")

// ErrFull is returned (wrapped with the store's own error) when a write
// failed because the store has no space left.
var ErrFull = errors.New("blob: the store is full")

// IsNotExist reports whether err says the object does not exist.
func IsNotExist(err error) bool { return errors.Is(err, ErrNotExist) }

// Info describes one stored object.
type Info struct {
	Name    string
	Size    int64
	ModTime time.Time
}

// Store reads and writes whole, immutable objects named by slash-separated
// paths (see ValidName). Put replaces atomically: a reader sees the old
// object, the new one, or none, never a torn write. Errors for a missing
// object wrap ErrNotExist; errors worth retrying satisfy Retryable.
//
// Implementations: blob/fs, blob/s3. Wrap adds retries, a concurrency
// limit, metrics and logging. blob/blobtest is the suite every
// implementation passes.
type Store interface {
	// Put stores the size bytes read from r under name. size < 0 means
	// unknown; otherwise r yielding another count fails the Put and
	// leaves any previous object in place.
	Put(ctx context.Context, name string, r io.Reader, size int64) error
	// Get returns length bytes from offset; length < 0 reads to the end.
	// A range that ends past the object is an error wrapping
	// io.ErrUnexpectedEOF (at Get or while reading), never a short read.
	// The caller closes the reader.
	Get(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error)
	Stat(ctx context.Context, name string) (Info, error)
	// List calls fn for each object whose name starts with prefix, in
	// lexical (byte) order. An error from fn stops the listing and is
	// returned as it is.
	List(ctx context.Context, prefix string, fn func(Info) error) error
	// Delete removes an object; deleting a missing object is not an error.
	Delete(ctx context.Context, name string) error
}

// Creator is implemented by stores that can create an object only if it
// does not exist yet (O_EXCL on a directory, If-None-Match on S3). The
// check and the write are one atomic step: of concurrent Creates of one
// name exactly one succeeds, the others get ErrExists. Callers find it by
// type assertion; the wrappers from Wrap keep it exactly when the store
// they wrap has it.
type Creator interface {
	Create(ctx context.Context, name string, r io.Reader, size int64) error
}
