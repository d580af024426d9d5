package blob

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"time"
)

// RetryOptions configures WithRetry.
type RetryOptions struct {
	// MaxAttempts is the number of tries, the first included (< 2: no
	// retries).
	MaxAttempts int
	// BaseDelay is the backoff before the second try; it doubles with
	// each further try up to MaxDelay. The actual wait is drawn from
	// [d/2, d) ("equal jitter") so that clients throttled together do not
	// come back together.
	BaseDelay time.Duration
	MaxDelay  time.Duration
	// OnRetry, if set, is called before each wait with the try that just
	// failed (1-based).
	OnRetry func(op, name string, attempt int, err error)
}

// DefaultRetryOptions suits an S3-compatible store: 6 tries over about
// 10 seconds.
func DefaultRetryOptions() RetryOptions {
	return RetryOptions{MaxAttempts: 6, BaseDelay: 200 * time.Millisecond, MaxDelay: 5 * time.Second}
}

type patientKey struct{}

// Patient marks ctx's operations to be retried, with backoff (up to
// MaxDelay between tries), past MaxAttempts until the time until (or
// until ctx ends, when until is zero): background work such as a backup
// job waits out a store's outage within its completion window, where an
// API call gives up after MaxAttempts.
func Patient(ctx context.Context, until time.Time) context.Context {
	return context.WithValue(ctx, patientKey{}, until)
}

// patient reports whether ctx's operation may try again at now.
func patient(ctx context.Context, now time.Time) bool {
	until, ok := ctx.Value(patientKey{}).(time.Time)
	return ok && (until.IsZero() || now.Before(until))
}

// WithRetry returns s with operations that fail with a Retryable error
// tried again, with exponential backoff and jitter, up to
// opts.MaxAttempts times.
//
// Put and Create are retried only when their reader is an io.Seeker (a
// *bytes.Reader, an *os.File), which is rewound before each try; other
// readers get one try. A Get is retried until it returns a reader; errors
// while reading it are the caller's. A List resumes after the last name
// it delivered, so fn never sees a name twice.
func WithRetry(s Store, opts RetryOptions) Store {
	if opts.BaseDelay <= 0 {
		opts.BaseDelay = 100 * time.Millisecond
	}
	if opts.MaxDelay < opts.BaseDelay {
		opts.MaxDelay = max(opts.BaseDelay, 10*time.Second)
	}
	return expose(&retryStore{s: s, o: opts}, s)
}

type retryStore struct {
	s Store
	o RetryOptions
}

// delay is the backoff after the attempt-th failure.
func (r *retryStore) delay(attempt int) time.Duration {
	d := r.o.BaseDelay << (attempt - 1)
	if d > r.o.MaxDelay || d <= 0 {
		d = r.o.MaxDelay
	}
	return d/2 + rand.N(d/2+1)
}

// do runs f until it succeeds, fails for good, or runs out of tries.
// rewind, if not nil, prepares the next try; an error from it ends the
// retries with the last error.
func (r *retryStore) do(ctx context.Context, op, name string, rewind func() error, f func() error) error {
	for attempt := 1; ; attempt++ {
		err := f()
		if err == nil || !Retryable(err) {
			return err
		}
		if attempt >= r.o.MaxAttempts && !patient(ctx, time.Now()) {
			if attempt == 1 {
				return err
			}
			return fmt.Errorf("blob: %s %s: giving up after %d attempts: %w", op, name, attempt, err)
		}
		if rewind != nil {
			if rerr := rewind(); rerr != nil {
				return err
			}
		}
		if r.o.OnRetry != nil {
			r.o.OnRetry(op, name, attempt, err)
		}
		t := time.NewTimer(r.delay(attempt))
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("blob: %s %s: %w while waiting to retry after: %w", op, name, ctx.Err(), err)
		case <-t.C:
		}
	}
}

// rewinder returns a function that seeks rd back to where it is now, or
// nil when rd cannot seek.
func rewinder(rd io.Reader) (func() error, bool) {
	sk, ok := rd.(io.Seeker)
	if !ok {
		return nil, false
	}
	pos, err := sk.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, false
	}
	return func() error {
		_, err := sk.Seek(pos, io.SeekStart)
		return err
	}, true
}

func (r *retryStore) write(ctx context.Context, op, name string, rd io.Reader, put func() error) error {
	rewind, ok := rewinder(rd)
	if !ok {
		return put()
	}
	return r.do(ctx, op, name, rewind, put)
}

func (r *retryStore) Put(ctx context.Context, name string, rd io.Reader, size int64) error {
	return r.write(ctx, "put", name, rd, func() error { return r.s.Put(ctx, name, rd, size) })
}

func (r *retryStore) create(ctx context.Context, name string, rd io.Reader, size int64) error {
	return r.write(ctx, "create", name, rd, func() error { return createOn(ctx, r.s, name, rd, size) })
}

func (r *retryStore) Get(ctx context.Context, name string, offset, length int64) (rc io.ReadCloser, err error) {
	err = r.do(ctx, "get", name, nil, func() error {
		rc, err = r.s.Get(ctx, name, offset, length)
		return err
	})
	return rc, err
}

func (r *retryStore) Stat(ctx context.Context, name string) (fi Info, err error) {
	err = r.do(ctx, "stat", name, nil, func() error {
		fi, err = r.s.Stat(ctx, name)
		return err
	})
	return fi, err
}

func (r *retryStore) List(ctx context.Context, prefix string, fn func(Info) error) error {
	var last string
	seen := false
	var fnErr error
	err := r.do(ctx, "list", prefix, nil, func() error {
		err := r.s.List(ctx, prefix, func(fi Info) error {
			if seen && fi.Name <= last {
				return nil
			}
			if err := fn(fi); err != nil {
				fnErr = err
				return err
			}
			last, seen = fi.Name, true
			return nil
		})
		if fnErr != nil {
			return nil // stop; fnErr is returned below
		}
		return err
	})
	if fnErr != nil {
		return fnErr // the caller's own error, never retried
	}
	return err
}

func (r *retryStore) Delete(ctx context.Context, name string) error {
	return r.do(ctx, "delete", name, nil, func() error { return r.s.Delete(ctx, name) })
}
