package blob

import (
	"context"
	"io"
	"sync"
)

// WithLimit returns s limited to n operations in flight. A Get holds its
// slot until the returned reader is closed, since the connection stays
// busy until then.
func WithLimit(s Store, n int) Store {
	if n <= 0 {
		panic("blob: WithLimit needs n > 0")
	}
	return expose(&limitStore{s: s, sem: make(chan struct{}, n)}, s)
}

type limitStore struct {
	s   Store
	sem chan struct{}
}

func (l *limitStore) acquire(ctx context.Context) error {
	select {
	case l.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *limitStore) release() { <-l.sem }

func (l *limitStore) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	if err := l.acquire(ctx); err != nil {
		return err
	}
	defer l.release()
	return l.s.Put(ctx, name, r, size)
}

func (l *limitStore) create(ctx context.Context, name string, r io.Reader, size int64) error {
	if err := l.acquire(ctx); err != nil {
		return err
	}
	defer l.release()
	return createOn(ctx, l.s, name, r, size)
}

func (l *limitStore) Get(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	if err := l.acquire(ctx); err != nil {
		return nil, err
	}
	rc, err := l.s.Get(ctx, name, offset, length)
	if err != nil {
		l.release()
		return nil, err
	}
	return &releaseOnClose{ReadCloser: rc, release: l.release}, nil
}

func (l *limitStore) Stat(ctx context.Context, name string) (Info, error) {
	if err := l.acquire(ctx); err != nil {
		return Info{}, err
	}
	defer l.release()
	return l.s.Stat(ctx, name)
}

// List holds one slot for the whole listing.
func (l *limitStore) List(ctx context.Context, prefix string, fn func(Info) error) error {
	if err := l.acquire(ctx); err != nil {
		return err
	}
	defer l.release()
	return l.s.List(ctx, prefix, fn)
}

func (l *limitStore) Delete(ctx context.Context, name string) error {
	if err := l.acquire(ctx); err != nil {
		return err
	}
	defer l.release()
	return l.s.Delete(ctx, name)
}

type releaseOnClose struct {
	io.ReadCloser
	once    sync.Once
	release func()
}

func (r *releaseOnClose) Close() error {
	err := r.ReadCloser.Close()
	r.once.Do(r.release)
	return err
}
