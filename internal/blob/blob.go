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

// IsNotExist reports whether err says the object does not exist.
func IsNotExist(err error) bool { return errors.Is(err, ErrNotExist) }

// Info describes one stored object.
type Info struct {
	Name    string
	Size    int64
	ModTime time.Time
}

// Store reads and writes whole, immutable objects named by slash-separated
// paths. Put replaces atomically: a reader sees the old object, the new
// one, or none, never a torn write.
type Store interface {
	Put(ctx context.Context, name string, r io.Reader, size int64) error
	// Get returns length bytes from offset; length < 0 reads to the end.
	Get(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error)
	Stat(ctx context.Context, name string) (Info, error)
	// List calls fn for each object whose name starts with prefix, in
	// lexical order.
	List(ctx context.Context, prefix string, fn func(Info) error) error
	// Delete removes an object; deleting a missing object is not an error.
	Delete(ctx context.Context, name string) error
}

// Creator is implemented by stores that can create an object only if it
// does not exist yet (O_EXCL on a directory, If-None-Match on S3).
type Creator interface {
	Create(ctx context.Context, name string, r io.Reader, size int64) error
}
