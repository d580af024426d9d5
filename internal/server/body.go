package server

import (
	"errors"
	"io"
	"sync"
)

// bodyAllowance is how much of each request body is read without
// counting against the shared budget of unauthenticated bytes: enough for
// every ordinary API call, so a full budget does not stop them.
const bodyAllowance = 32 << 10

// errBudget is returned by readBody when the shared budget cannot hold
// the body's next bytes.
var errBudget = errors.New("too many request body bytes held for callers not yet authenticated")

// budget counts the request body bytes held, beyond each request's
// allowance, by requests whose signature is not yet checked.
type budget struct {
	mu   sync.Mutex
	free int64
}

func (b *budget) take(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if n > b.free {
		return false
	}
	b.free -= n
	return true
}

func (b *budget) give(n int64) {
	b.mu.Lock()
	b.free += n
	b.mu.Unlock()
}

// bodyChunk is the unit in which a body is read and counted.
const bodyChunk = 16 << 10

// chunks recycles the read buffers, so bodies refused or joined leave no
// garbage for the collector to let pile up.
var chunks = sync.Pool{New: func() any { return new([bodyChunk]byte) }}

// readBody reads the whole body in chunks as bytes arrive (a declared
// Content-Length reserves nothing), taking from b each chunk beyond the
// allowance, and joins them at the end. held is what it took, for the
// caller to give back once the request is authenticated or answered,
// also on error.
func readBody(r io.Reader, b *budget) (body []byte, held int64, err error) {
	var read []*[bodyChunk]byte
	defer func() {
		for _, c := range read {
			chunks.Put(c)
		}
	}()
	total := 0
	for {
		if total >= bodyAllowance {
			if !b.take(bodyChunk) {
				return nil, held, errBudget
			}
			held += bodyChunk
		}
		c := chunks.Get().(*[bodyChunk]byte)
		read = append(read, c)
		n, err := io.ReadFull(r, c[:])
		total += n
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return nil, held, err
		}
	}
	body = make([]byte, 0, total)
	for _, c := range read {
		body = append(body, c[:min(bodyChunk, total-len(body))]...)
	}
	return body, held, nil
}
