package vaultstore

import (
	"errors"
	"fmt"
	"io"

	"github.com/coffer-dev/coffer/internal/vaultstore/chunker"
)

// MaxBlock is the largest fixed block Boundary accepts.
const MaxBlock = 16 << 20

// mark is a section boundary at stream offset off; block is how the
// section starting there is cut (0: content-defined).
type mark struct {
	off   int64
	block int
}

// Boundary ends the current chunk at this point of the stream and sets
// how the bytes written after it are cut, until the next Boundary: block
// 0 means the domain's content-defined chunks, block > 0 fixed blocks of
// that many bytes (the section's last block may be shorter), e.g. whole
// database pages, so that an unchanged page is an unchanged chunk
// wherever it sits in the stream. A stream without boundaries is one
// content-defined section. Boundaries change where chunks are cut, not
// the stored format.
func (w *Writer) Boundary(block int) error {
	if w.pw == nil {
		return errors.New("vaultstore: this writer takes no stream")
	}
	if block < 0 || (block > 0 && block < 512) || block > MaxBlock {
		return fmt.Errorf("vaultstore: block size %d is not 0 (content-defined) or between 512 bytes and %d", block, MaxBlock)
	}
	w.marksMu.Lock()
	w.marks = append(w.marks, mark{off: w.written, block: block})
	w.marksMu.Unlock()
	return nil
}

// nextMark is the offset of the first boundary not yet reached.
func (w *Writer) nextMark() (int64, bool) {
	w.marksMu.Lock()
	defer w.marksMu.Unlock()
	if len(w.marks) == 0 {
		return 0, false
	}
	return w.marks[0].off, true
}

// sections reads the stream one section at a time: Read returns io.EOF
// at the next boundary; next moves past it. A boundary at offset o is
// queued before any byte at or beyond o is written, so once bytes up to
// o+n have been read every boundary before o+n is known.
type sections struct {
	w     *Writer
	r     io.Reader
	off   int64 // stream offset of the next byte Read returns
	block int   // how the current section is cut
	buf   []byte
	pend  []byte // bytes read from r, not yet returned
	eof   bool
	rerr  error
}

func (s *sections) Read(p []byte) (int, error) {
	for {
		if o, ok := s.w.nextMark(); ok && o == s.off {
			return 0, io.EOF
		}
		if len(s.pend) == 0 {
			if s.eof {
				if s.rerr != nil {
					return 0, s.rerr
				}
				return 0, io.EOF
			}
			n, err := s.r.Read(s.buf)
			s.pend = s.buf[:n]
			if err != nil {
				s.eof = true
				if err != io.EOF {
					s.rerr, s.pend = err, nil
				}
			}
			continue
		}
		lim := int64(len(s.pend))
		if o, ok := s.w.nextMark(); ok && o-s.off < lim {
			lim = o - s.off
		}
		n := copy(p, s.pend[:lim])
		s.pend = s.pend[n:]
		s.off += int64(n)
		return n, nil
	}
}

// next moves past the boundaries at the current offset, taking the last
// one's block size; it reports false at the end of the stream.
func (s *sections) next() bool {
	s.w.marksMu.Lock()
	defer s.w.marksMu.Unlock()
	moved := false
	for len(s.w.marks) > 0 && s.w.marks[0].off == s.off {
		s.block = s.w.marks[0].block
		s.w.marks = s.w.marks[1:]
		moved = true
	}
	return moved
}

// chunkStream is the source of NewWriter: it cuts the stream, section by
// section (content-defined or fixed blocks, see Boundary).
func (w *Writer) chunkStream(r io.Reader, out chan<- *item) error {
	tab, err := chunker.NewTable(w.k.chunker)
	if err != nil {
		return err
	}
	s := &sections{w: w, r: r, buf: make([]byte, 256<<10)}
	c := chunker.New(s, tab, w.ds.params)
	var seq int64
	put := func(bp *[]byte) error {
		w.size += int64(len(*bp))
		err := w.emit(out, &item{seq: seq, data: *bp, buf: bp})
		seq++
		return err
	}
	for {
		if s.block == 0 {
			c.Reset(s)
			for {
				ch, err := c.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					return fmt.Errorf("read the stream: %w", err)
				}
				bp := getBuf(len(ch))
				*bp = append((*bp)[:0], ch...)
				if err := put(bp); err != nil {
					return err
				}
			}
		} else {
			for {
				bp := getBuf(s.block)
				n, err := io.ReadFull(s, (*bp)[:s.block])
				*bp = (*bp)[:n]
				if n > 0 {
					if err := put(bp); err != nil {
						return err
					}
				} else {
					putBuf(bp)
				}
				if err == io.EOF || err == io.ErrUnexpectedEOF {
					break
				}
				if err != nil {
					return fmt.Errorf("read the stream: %w", err)
				}
			}
		}
		if !s.next() {
			break
		}
	}
	return nil
}
