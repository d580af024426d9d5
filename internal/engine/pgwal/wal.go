package pgwal

import (
	"encoding/binary"
	"fmt"
	"time"
)

// WAL layout constants of PostgreSQL 15 (access/xlog_internal.h,
// access/xlogrecord.h, access/xact.h).
const (
	pageSize        = 8192 // XLOG_BLCKSZ
	shortPageHeader = 24   // SizeOfXLogShortPHD
	longPageHeader  = 40   // SizeOfXLogLongPHD, on a segment's first page
	recordHeader    = 24   // SizeOfXLogRecord
	pageMagic       = 0xD110

	xlpFirstIsContRecord = 0x0001

	rmXLOG      = 0
	rmXact      = 1
	xlogSwitch  = 0x40 // XLOG_SWITCH in xl_info's high nibble
	xactOpMask  = 0x70
	xactCommit  = 0x00
	xactAbort   = 0x20
	xactCommitP = 0x30 // COMMIT_PREPARED
	xactAbortP  = 0x40 // ABORT_PREPARED

	blockIDDataShort   = 255
	blockIDDataLong    = 254
	blockIDOrigin      = 253
	blockIDTopLevelXID = 252
)

// pgEpoch is PostgreSQL's timestamp epoch.
var pgEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// LSN is a WAL position.
type LSN uint64

func (l LSN) String() string { return fmt.Sprintf("%X/%X", uint64(l)>>32, uint32(l)) }

// ParseLSN reads PostgreSQL's text form of an LSN ("16/B374D848").
func ParseLSN(s string) (LSN, error) {
	var hi, lo uint32
	if _, err := fmt.Sscanf(s, "%X/%X", &hi, &lo); err != nil {
		return 0, fmt.Errorf("parse LSN %q: %w", s, err)
	}
	return LSN(uint64(hi)<<32 | uint64(lo)), nil
}

// SegmentName is the file name of segment segno on timeline tli, as in
// pg_wal.
func SegmentName(tli uint32, segno uint64, segSize int64) string {
	per := uint64(0x100000000 / segSize)
	return fmt.Sprintf("%08X%08X%08X", tli, segno/per, segno%per)
}

// HistoryName is the file name of timeline tli's history file.
func HistoryName(tli uint32) string { return fmt.Sprintf("%08X.history", tli) }

// pageBoundary moves an insert position that points just past a page
// header back to the page's start: pg_current_wal_insert_lsn() reports
// a position after the header of a page no record has reached yet,
// while a replica that has everything ends at the page's start.
func pageBoundary(l LSN, segSize int64) LSN {
	off := uint64(l) % pageSize
	if (off == shortPageHeader && uint64(l)%uint64(segSize) != shortPageHeader) ||
		(off == longPageHeader && uint64(l)%uint64(segSize) == longPageHeader) {
		return l - LSN(off)
	}
	return l
}

// parser follows WAL records through the bytes fed to it in order and
// reports the time of every transaction commit and abort record
// (the records recovery_target_time is checked against) with the LSN
// where the record ends. It starts at a page boundary and skips the
// continuation of a record begun before it.
type parser struct {
	segSize int64
	pos     uint64 // LSN of the next byte
	synced  bool   // pos is inside records, not in a continuation
	hdr     [longPageHeader]byte
	hdrLen  int    // header bytes of the current page, 0 when past it
	hdrHave int    //
	skip    uint64 // continuation bytes still to skip
	toSeg   bool   // skip to the next segment (after XLOG_SWITCH or zeros)
	rec     []byte // the record's bytes so far (all of an xact record, else its header)
	need    uint64 // the record's total length, 0 before its header is read
	got     uint64 // bytes of it seen
	onTime  func(t time.Time, end LSN)
}

func newParser(start LSN, segSize int64, onTime func(time.Time, LSN)) *parser {
	return &parser{segSize: segSize, pos: uint64(start), onTime: onTime}
}

// feed consumes the next bytes of WAL. It returns an error when the
// bytes are not WAL (a bad page header).
func (p *parser) feed(b []byte) error {
	for len(b) > 0 {
		inPage := p.pos % pageSize
		if p.toSeg {
			n := min(uint64(len(b)), uint64(p.segSize)-p.pos%uint64(p.segSize))
			p.pos += n
			b = b[n:]
			if p.pos%uint64(p.segSize) == 0 {
				p.toSeg, p.synced, p.need, p.got = false, false, 0, 0
			}
			continue
		}
		if inPage == 0 && p.hdrLen == 0 {
			p.hdrLen, p.hdrHave = shortPageHeader, 0
			if p.pos%uint64(p.segSize) == 0 {
				p.hdrLen = longPageHeader
			}
		}
		if p.hdrLen > 0 {
			n := copy(p.hdr[p.hdrHave:p.hdrLen], b)
			p.hdrHave += n
			p.pos += uint64(n)
			b = b[n:]
			if p.hdrHave < p.hdrLen {
				continue
			}
			if err := p.pageHeader(); err != nil {
				return err
			}
			p.hdrLen = 0
			continue
		}
		room := pageSize - inPage
		if !p.synced {
			n := min(uint64(len(b)), room, p.skip)
			p.pos += n
			p.skip -= n
			b = b[n:]
			if p.skip == 0 {
				p.synced = true
			}
			continue
		}
		if p.need == 0 && p.got == 0 {
			// A record starts at the next MAXALIGNed position.
			if pad := (8 - p.pos%8) % 8; pad > 0 {
				n := min(uint64(len(b)), pad)
				p.pos += n
				b = b[n:]
				continue
			}
			p.rec = p.rec[:0]
		}
		want := uint64(recordHeader)
		if p.need > 0 {
			want = p.need
		}
		n := min(uint64(len(b)), room, want-p.got)
		if p.need == 0 || (len(p.rec) > 17 && p.rec[17] == rmXact) {
			p.rec = append(p.rec, b[:n]...)
		}
		p.got += n
		p.pos += n
		b = b[n:]
		if p.need == 0 && p.got == recordHeader {
			tot := binary.LittleEndian.Uint32(p.rec[0:4])
			if tot < recordHeader { // zeros: the rest of a switched segment
				p.toSeg = true
				continue
			}
			p.need = uint64(tot)
		}
		if p.need > 0 && p.got == p.need {
			p.record()
			p.need, p.got = 0, 0
		}
	}
	return nil
}

// pageHeader checks the page header just read; before the first record
// boundary it sets how much of a continued record to skip.
func (p *parser) pageHeader() error {
	magic := binary.LittleEndian.Uint16(p.hdr[0:2])
	info := binary.LittleEndian.Uint16(p.hdr[2:4])
	addr := binary.LittleEndian.Uint64(p.hdr[8:16])
	page := p.pos - uint64(p.hdrLen)
	if magic != pageMagic || addr != page {
		return fmt.Errorf("%w: WAL page at %s has magic %#x and address %s", errNotWAL, LSN(page), magic, LSN(addr))
	}
	if !p.synced && p.skip == 0 {
		if info&xlpFirstIsContRecord != 0 {
			p.skip = uint64(binary.LittleEndian.Uint32(p.hdr[16:20]))
		}
		p.synced = p.skip == 0
	}
	return nil
}

// record handles a whole record: the switch record ends the segment's
// WAL; a commit or abort reports its time.
func (p *parser) record() {
	info, rmid := p.rec[16], p.rec[17]
	if rmid == rmXLOG && info&0xF0 == xlogSwitch {
		p.toSeg = p.pos%uint64(p.segSize) != 0
		return
	}
	if rmid != rmXact {
		return
	}
	switch info & xactOpMask {
	case xactCommit, xactAbort, xactCommitP, xactAbortP:
	default:
		return
	}
	if t, ok := xactTime(p.rec); ok && p.onTime != nil {
		p.onTime(t, LSN(p.pos))
	}
}

// xactTime reads xact_time, the first field of a commit or abort
// record's main data, which comes last in the record.
func xactTime(rec []byte) (time.Time, bool) {
	off := recordHeader
	var main int
	for main == 0 {
		if off >= len(rec) {
			return time.Time{}, false
		}
		switch rec[off] {
		case blockIDDataShort:
			if off+2 > len(rec) {
				return time.Time{}, false
			}
			main = int(rec[off+1])
		case blockIDDataLong:
			if off+5 > len(rec) {
				return time.Time{}, false
			}
			main = int(binary.LittleEndian.Uint32(rec[off+1:]))
		case blockIDOrigin:
			off += 3
		case blockIDTopLevelXID:
			off += 5
		default: // block references: commit records carry none
			return time.Time{}, false
		}
	}
	if main < 8 || main > len(rec)-off {
		return time.Time{}, false
	}
	us := int64(binary.LittleEndian.Uint64(rec[len(rec)-main:]))
	return pgEpoch.Add(time.Duration(us) * time.Microsecond), true
}
