package blob

import (
	"context"
	"errors"
	"net"
	"syscall"
)

// Retryable reports whether the operation that returned err may succeed
// if tried again: a throttled or failing server (HTTP 5xx, SlowDown) or a
// broken connection. A backend that knows better marks its errors with a
// method Retryable() bool, which wins over the generic rules below.
// Cancelled contexts, missing objects and existing objects are never
// retryable.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if errors.Is(err, ErrNotExist) || errors.Is(err, ErrExists) {
		return false
	}
	var r interface{ Retryable() bool }
	if errors.As(err, &r) {
		return r.Retryable()
	}
	if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	var oe *net.OpError
	return errors.As(err, &oe)
}

// Temporary wraps err so that Retryable reports true for it. Backends use
// it for failures they know to be transient.
func Temporary(err error) error {
	if err == nil {
		return nil
	}
	return temporary{err}
}

type temporary struct{ err error }

func (t temporary) Error() string   { return t.err.Error() }
func (t temporary) Unwrap() error   { return t.err }
func (t temporary) Retryable() bool { return true }
