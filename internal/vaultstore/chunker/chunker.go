// Package chunker cuts a byte stream into content-defined chunks with
// FastCDC (Xia et al., 2016/2020): a gear rolling hash, normalized
// chunking with two masks, and hard minimum and maximum sizes.
//
// The gear table is keyed: 256 64-bit words drawn from the keyed BLAKE3
// XOF of the label "coffer chunker gear v1". A domain's chunker key
// (derived from its master key) therefore moves every cut point, so chunk
// lengths do not reveal which content two domains share. The zero key
// gives the fixed default table.
//
// The algorithm, for data starting at a chunk boundary, with n the bytes
// available (capped at Max):
//
//	if n <= Min: cut at n
//	h = 0
//	for i in [Min, min(Avg, n)):  h = h<<1 + gear[data[i]]; if h & maskS == 0: cut at i+1
//	for i in [Avg, n):            h = h<<1 + gear[data[i]]; if h & maskL == 0: cut at i+1
//	cut at n
//
// where maskS has the top log2(Avg)+2 bits set and maskL the top
// log2(Avg)-2 bits (normalization level 2). With a left-shifting gear hash
// bit k depends on the last k+1 bytes, so masks on the high bits look at
// a 64-byte window. Cut points are pinned by test vectors: changing any of
// this changes the format.
package chunker

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"

	"github.com/zeebo/blake3"
)

// Params are the chunk size bounds, fixed per dedup domain.
type Params struct {
	Min int `json:"min"`
	Avg int `json:"avg"`
	Max int `json:"max"`
}

// DefaultParams are 16/64/256 KiB.
var DefaultParams = Params{Min: 16 << 10, Avg: 64 << 10, Max: 256 << 10}

// Validate checks the bounds: Avg a power of two, 64 <= Min < Avg < Max,
// Max at most 16 MiB.
func (p Params) Validate() error {
	if p.Avg <= 0 || p.Avg&(p.Avg-1) != 0 {
		return fmt.Errorf("chunker: average size %d is not a power of two", p.Avg)
	}
	if p.Min < 64 || p.Min >= p.Avg || p.Avg >= p.Max || p.Max > 16<<20 {
		return fmt.Errorf("chunker: sizes %d/%d/%d must satisfy 64 <= min < avg < max <= 16 MiB", p.Min, p.Avg, p.Max)
	}
	if bits.TrailingZeros(uint(p.Avg)) < 4 {
		return errors.New("chunker: average size must be at least 16")
	}
	return nil
}

// KeySize is the length of a chunker key.
const KeySize = 32

// Table is a gear table.
type Table [256]uint64

// NewTable derives the gear table for key (nil or all zero: the default
// table).
func NewTable(key []byte) (*Table, error) {
	k := make([]byte, KeySize)
	if key != nil {
		if len(key) != KeySize {
			return nil, fmt.Errorf("chunker: key is %d bytes, want %d", len(key), KeySize)
		}
		copy(k, key)
	}
	h, err := blake3.NewKeyed(k)
	if err != nil {
		return nil, err
	}
	h.Write([]byte("coffer chunker gear v1"))
	var buf [256 * 8]byte
	if _, err := io.ReadFull(h.Digest(), buf[:]); err != nil {
		return nil, err
	}
	var t Table
	for i := range t {
		t[i] = binary.LittleEndian.Uint64(buf[i*8:])
	}
	return &t, nil
}

type masks struct{ s, l uint64 }

func masksFor(p Params) masks {
	b := bits.TrailingZeros(uint(p.Avg))
	return masks{s: ^uint64(0) << (64 - (b + 2)), l: ^uint64(0) << (64 - (b - 2))}
}

// Cut returns the length of the first chunk of data, which starts at a
// chunk boundary. When data holds fewer than p.Max bytes, they must be the
// end of the stream.
func (t *Table) Cut(p Params, data []byte) int {
	return t.cut(p, masksFor(p), data)
}

func (t *Table) cut(p Params, m masks, data []byte) int {
	n := len(data)
	if n <= p.Min {
		return n
	}
	if n > p.Max {
		n = p.Max
	}
	normal := min(p.Avg, n)
	var h uint64
	i := p.Min
	for ; i < normal; i++ {
		h = h<<1 + t[data[i]]
		if h&m.s == 0 {
			return i + 1
		}
	}
	for ; i < n; i++ {
		h = h<<1 + t[data[i]]
		if h&m.l == 0 {
			return i + 1
		}
	}
	return n
}

// Chunker reads a stream and returns its chunks in order.
type Chunker struct {
	t    *Table
	p    Params
	m    masks
	r    io.Reader
	buf  []byte
	beg  int // start of unconsumed data in buf
	end  int // end of valid data in buf
	eof  bool
	rerr error
}

// New returns a chunker over r.
func New(r io.Reader, t *Table, p Params) *Chunker {
	return &Chunker{t: t, p: p, m: masksFor(p), r: r, buf: make([]byte, 4*p.Max)}
}

// Reset makes c cut r from its start, as New would, reusing c's buffer.
func (c *Chunker) Reset(r io.Reader) {
	c.r, c.beg, c.end, c.eof, c.rerr = r, 0, 0, false, nil
}

// Next returns the next chunk, valid until the following call, or io.EOF
// after the last one. A read error is returned as it is.
func (c *Chunker) Next() ([]byte, error) {
	if c.end-c.beg < c.p.Max && !c.eof {
		if err := c.fill(); err != nil {
			return nil, err
		}
	}
	if c.beg == c.end {
		if c.rerr != nil {
			return nil, c.rerr
		}
		return nil, io.EOF
	}
	n := c.t.cut(c.p, c.m, c.buf[c.beg:c.end])
	chunk := c.buf[c.beg : c.beg+n]
	c.beg += n
	return chunk, nil
}

func (c *Chunker) fill() error {
	copy(c.buf, c.buf[c.beg:c.end])
	c.end -= c.beg
	c.beg = 0
	for c.end < len(c.buf) && !c.eof {
		n, err := c.r.Read(c.buf[c.end:])
		c.end += n
		if err == io.EOF {
			c.eof = true
		} else if err != nil {
			// Deliver nothing more: a stream that fails midway must not
			// produce a final short chunk that looks like its end.
			c.eof = true
			c.end = c.beg
			c.rerr = err
			return err
		}
	}
	return nil
}
