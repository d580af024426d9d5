package pgphysical

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/coffer-dev/coffer/internal/engine"
)

// Stream format constants (see the package documentation).
const (
	magic         = "CFPB"
	formatVersion = 1
	recDir        = 'D'
	recFile       = 'F'
	recEnd        = 'E'
	// PageSize is PostgreSQL's block size (BLCKSZ), the unit relation
	// files change in.
	PageSize = 8192
	// maxPath bounds a record's path.
	maxPath = 4096
)

// Sink receives the stream. Boundary(block) starts a new chunk at the
// current position and asks for what follows to be cut into fixed blocks
// of that many bytes (0: content-defined), as vaultstore.Writer does.
type Sink interface {
	io.Writer
	Boundary(block int) error
}

// PlainSink makes any writer a Sink that ignores boundaries (a file, a
// digest).
func PlainSink(w io.Writer) Sink { return plainSink{w} }

type plainSink struct{ io.Writer }

func (plainSink) Boundary(int) error { return nil }

// relFile matches the files holding relation pages: base/<db>/<node>,
// global/<node>, with a fork suffix and a segment number.
var relFile = regexp.MustCompile(`^(base/[0-9]+|global)/[0-9]+(_(fsm|vm|init))?(\.[0-9]+)?$`)

// isRelation reports whether the file at p is made of 8 KiB pages.
func isRelation(p string) bool { return relFile.MatchString(p) }

// walFile matches WAL segment files: timeline, log, segment.
var walFile = regexp.MustCompile(`^pg_wal/([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})$`)

// walSegment reports whether p is a WAL segment of size bytes and the
// LSN its first page starts at.
func walSegment(p string, size int64) (bool, uint64) {
	m := walFile.FindStringSubmatch(p)
	if m == nil || size <= 0 || size%PageSize != 0 || size&(size-1) != 0 || size > 1<<30 {
		return false, 0
	}
	log, _ := strconv.ParseUint(m[2], 16, 32)
	seg, _ := strconv.ParseUint(m[3], 16, 32)
	return true, log<<32 + seg*uint64(size)
}

// walPages passes a WAL segment through page by page, zeroing the pages
// whose header (xlp_pageaddr, bytes 8-15, little-endian) does not carry
// their own address: stale content of a recycled segment, beyond the end
// of the WAL. PostgreSQL stops reading WAL at such a page, as at a zero
// one, so recovery is unchanged and the stale bytes cost nothing.
type walPages struct {
	r    io.Reader
	addr uint64 // LSN of the next page
	page [PageSize]byte
	rest []byte
}

func (w *walPages) Read(p []byte) (int, error) {
	if len(w.rest) == 0 {
		if _, err := io.ReadFull(w.r, w.page[:]); err != nil {
			return 0, err
		}
		if binary.LittleEndian.Uint64(w.page[8:16]) != w.addr {
			clear(w.page[:])
		}
		w.addr += PageSize
		w.rest = w.page[:]
	}
	n := copy(p, w.rest)
	w.rest = w.rest[n:]
	return n, nil
}

// encoder writes records to a sink through a buffer, flushing it before
// each boundary so the boundary falls where the record says.
type encoder struct {
	sink    Sink
	w       *bufio.Writer
	records int64
	scratch [binary.MaxVarintLen64]byte
}

// newEncoder writes to sink and, when digest is not nil, to digest.
func newEncoder(sink Sink, digest io.Writer) *encoder {
	w := io.Writer(sink)
	if digest != nil {
		w = io.MultiWriter(sink, digest)
	}
	return &encoder{sink: sink, w: bufio.NewWriterSize(w, 256<<10)}
}

// digestSink is a Sink that hashes what it takes, as vaultstore.Writer
// does: StreamDigest is the length and SHA-256 of the bytes written so
// far.
type digestSink interface {
	Sink
	StreamDigest() (int64, [32]byte)
}

func (e *encoder) uvarint(v uint64) {
	n := binary.PutUvarint(e.scratch[:], v)
	e.w.Write(e.scratch[:n])
}

func (e *encoder) start() error {
	_, err := e.w.Write([]byte{magic[0], magic[1], magic[2], magic[3], formatVersion, 0, 0, 0})
	return err
}

func (e *encoder) header(kind byte, p string, mode int64) {
	e.w.WriteByte(kind)
	e.uvarint(uint64(len(p)))
	e.w.WriteString(p)
	e.uvarint(uint64(mode & 0o7777))
	e.records++
}

func (e *encoder) dir(p string, mode int64) error {
	e.header(recDir, p, mode)
	return nil
}

// file writes a file record; relation files' contents are cut into
// block-byte chunks.
func (e *encoder) file(p string, mode, size int64, content io.Reader, block int) error {
	e.header(recFile, p, mode)
	e.uvarint(uint64(size))
	wal, walBase := walSegment(p, size)
	aligned := block > 0 && size > 0 && (isRelation(p) || wal)
	if aligned {
		if err := e.boundary(block); err != nil {
			return err
		}
	}
	if wal {
		content = &walPages{r: content, addr: walBase}
	}
	n, err := io.CopyN(e.w, content, size)
	if err != nil {
		return fmt.Errorf("file %s: %d of %d bytes: %w", p, n, size, err)
	}
	if aligned {
		return e.boundary(0)
	}
	return nil
}

func (e *encoder) boundary(block int) error {
	if err := e.w.Flush(); err != nil {
		return err
	}
	return e.sink.Boundary(block)
}

func (e *encoder) end() error {
	e.w.WriteByte(recEnd)
	e.uvarint(uint64(e.records))
	return e.w.Flush()
}

// decoder reads records.
type decoder struct{ r *bufio.Reader }

// record is one decoded record header; a file's content follows it.
type record struct {
	kind byte
	path string
	mode int64
	size int64 // files
	n    int64 // end: the record count
}

func corrupt(format string, a ...any) error {
	return fmt.Errorf("%w: %s", engine.ErrCorrupt, fmt.Sprintf(format, a...))
}

func (d *decoder) start() error {
	var h [8]byte
	if _, err := io.ReadFull(d.r, h[:]); err != nil {
		return corrupt("stream header: %v", err)
	}
	if string(h[:4]) != magic {
		return fmt.Errorf("%w: not a physical backup stream (magic %q)", engine.ErrFormat, h[:4])
	}
	if h[4] != formatVersion {
		return fmt.Errorf("%w: physical backup stream version %d, this coffer reads %d; upgrade coffer", engine.ErrFormat, h[4], formatVersion)
	}
	return nil
}

func (d *decoder) next() (*record, error) {
	kind, err := d.r.ReadByte()
	if err != nil {
		return nil, corrupt("stream ends without its end record: %v", err)
	}
	uv := func() (int64, error) {
		v, err := binary.ReadUvarint(d.r)
		if err != nil || v > 1<<62 {
			return 0, corrupt("bad number in a record: %v", err)
		}
		return int64(v), nil
	}
	rec := &record{kind: kind}
	switch kind {
	case recEnd:
		rec.n, err = uv()
		return rec, err
	case recDir, recFile:
	default:
		return nil, corrupt("unknown record type %#x", kind)
	}
	n, err := uv()
	if err != nil {
		return nil, err
	}
	if n == 0 || n > maxPath {
		return nil, corrupt("path of %d bytes", n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(d.r, b); err != nil {
		return nil, corrupt("path: %v", err)
	}
	rec.path = string(b)
	if err := checkPath(rec.path); err != nil {
		return nil, err
	}
	if rec.mode, err = uv(); err != nil {
		return nil, err
	}
	if kind == recFile {
		if rec.size, err = uv(); err != nil {
			return nil, err
		}
	}
	return rec, nil
}

// checkPath refuses paths that would leave the data directory.
func checkPath(p string) error {
	if p != path.Clean(p) || path.IsAbs(p) || p == "." || p == ".." || strings.HasPrefix(p, "../") || strings.ContainsRune(p, 0) {
		return corrupt("path %q is not a clean relative path", p)
	}
	return nil
}

// errNoEnd is returned when bytes follow the end record.
var errTrailing = errors.New("bytes after the end record")
