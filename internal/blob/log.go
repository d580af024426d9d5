package blob

import (
	"context"
	"io"
	"log/slog"
	"time"
)

// WithLogger returns s with one log record per operation: op, name (or
// prefix), size or range, duration and error; never object contents.
// Successes and missing objects log at Debug, other failures at Warn.
func WithLogger(s Store, l *slog.Logger) Store {
	return expose(&logStore{s: s, l: l}, s)
}

type logStore struct {
	s Store
	l *slog.Logger
}

func (ls *logStore) log(ctx context.Context, op string, start time.Time, err error, attrs ...any) {
	level := slog.LevelDebug
	switch Result(err) {
	case "ok", "not_exist", "exists", "canceled":
	default:
		level = slog.LevelWarn
	}
	if !ls.l.Enabled(ctx, level) {
		return
	}
	attrs = append([]any{"op", op}, attrs...)
	attrs = append(attrs, "duration", time.Since(start))
	if err != nil {
		attrs = append(attrs, "err", err)
	}
	ls.l.Log(ctx, level, "blob "+op, attrs...)
}

func (ls *logStore) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	start := time.Now()
	err := ls.s.Put(ctx, name, r, size)
	ls.log(ctx, "put", start, err, "name", name, "size", size)
	return err
}

func (ls *logStore) create(ctx context.Context, name string, r io.Reader, size int64) error {
	start := time.Now()
	err := createOn(ctx, ls.s, name, r, size)
	ls.log(ctx, "create", start, err, "name", name, "size", size)
	return err
}

func (ls *logStore) Get(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	start := time.Now()
	rc, err := ls.s.Get(ctx, name, offset, length)
	ls.log(ctx, "get", start, err, "name", name, "offset", offset, "length", length)
	return rc, err
}

func (ls *logStore) Stat(ctx context.Context, name string) (Info, error) {
	start := time.Now()
	fi, err := ls.s.Stat(ctx, name)
	ls.log(ctx, "stat", start, err, "name", name, "size", fi.Size)
	return fi, err
}

func (ls *logStore) List(ctx context.Context, prefix string, fn func(Info) error) error {
	start := time.Now()
	n := 0
	err := ls.s.List(ctx, prefix, func(fi Info) error {
		n++
		return fn(fi)
	})
	ls.log(ctx, "list", start, err, "prefix", prefix, "count", n)
	return err
}

func (ls *logStore) Delete(ctx context.Context, name string) error {
	start := time.Now()
	err := ls.s.Delete(ctx, name)
	ls.log(ctx, "delete", start, err, "name", name)
	return err
}
