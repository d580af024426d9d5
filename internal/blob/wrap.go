package blob

import (
	"context"
	"io"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
)

// WrapOptions says which wrappers Wrap stacks around a store. The zero
// value adds none.
type WrapOptions struct {
	// Name labels the store in metrics and logs, e.g. "us-east-1".
	Name string
	// Retry enables retries when Retry.MaxAttempts > 1.
	Retry RetryOptions
	// MaxConcurrent caps the operations in flight (0: no limit).
	MaxConcurrent int
	// Registerer receives the metrics (nil: no metrics).
	Registerer prometheus.Registerer
	// Logger receives one record per operation (nil: no logging).
	Logger *slog.Logger
}

// Wrap is the one place the wrappers are stacked. From the outside in:
//
//	logging -> metrics -> retry -> concurrency limit -> s
//
// so a log record and a metric sample describe one logical operation with
// all its attempts, and an attempt waiting out its backoff holds no
// concurrency slot. The result implements Creator exactly when s does.
func Wrap(s Store, opts WrapOptions) (Store, error) {
	if opts.MaxConcurrent > 0 {
		s = WithLimit(s, opts.MaxConcurrent)
	}
	if opts.Retry.MaxAttempts > 1 {
		r := opts.Retry
		if opts.Logger != nil && r.OnRetry == nil {
			l := opts.Logger.With("store", opts.Name)
			r.OnRetry = func(op, name string, attempt int, err error) {
				l.Warn("blob: retrying", "op", op, "name", name, "attempt", attempt, "err", err)
			}
		}
		s = WithRetry(s, r)
	}
	if opts.Registerer != nil {
		m, err := NewMetrics(opts.Registerer)
		if err != nil {
			return nil, err
		}
		s = m.Wrap(s, opts.Name)
	}
	if opts.Logger != nil {
		s = WithLogger(s, opts.Logger.With("store", opts.Name))
	}
	return s, nil
}

// wrapper is a Store whose Create is not exported, so a wrapper around a
// store without Creator does not claim to have one.
type wrapper interface {
	Store
	create(ctx context.Context, name string, r io.Reader, size int64) error
}

// expose returns w as a Store that implements Creator iff inner does.
func expose(w wrapper, inner Store) Store {
	if _, ok := inner.(Creator); ok {
		return withCreate{w}
	}
	return plain{w}
}

type plain struct{ wrapper }

type withCreate struct{ wrapper }

func (w withCreate) Create(ctx context.Context, name string, r io.Reader, size int64) error {
	return w.create(ctx, name, r, size)
}

// createOn calls s's Create; callers only reach it when s is a Creator.
func createOn(ctx context.Context, s Store, name string, r io.Reader, size int64) error {
	return s.(Creator).Create(ctx, name, r, size)
}
