package pgwal

import (
	"encoding/binary"
	"math/rand"
	"testing"
	"time"
)

const testSeg = 4 * pageSize // a small segment size keeps the WAL short

// walBuilder lays records out as PostgreSQL does: page headers, 8-byte
// alignment, records split across pages with xlp_rem_len.
type walBuilder struct {
	buf []byte
	pos uint64
}

func (w *walBuilder) put(b []byte, rem uint32) {
	started := false
	for len(b) > 0 {
		if w.pos%pageSize == 0 {
			h := make([]byte, shortPageHeader)
			if w.pos%testSeg == 0 {
				h = make([]byte, longPageHeader)
				binary.LittleEndian.PutUint16(h[2:], 0x0002)
			}
			binary.LittleEndian.PutUint16(h[0:], pageMagic)
			binary.LittleEndian.PutUint64(h[8:], w.pos)
			if started && rem > 0 {
				binary.LittleEndian.PutUint16(h[2:], binary.LittleEndian.Uint16(h[2:])|xlpFirstIsContRecord)
				binary.LittleEndian.PutUint32(h[16:], rem)
			}
			w.buf = append(w.buf, h...)
			w.pos += uint64(len(h))
		}
		n := min(uint64(len(b)), pageSize-w.pos%pageSize)
		w.buf = append(w.buf, b[:n]...)
		w.pos += n
		b = b[n:]
		rem -= uint32(n)
		started = true
	}
}

// record appends a record and returns the LSN where it ends.
func (w *walBuilder) record(rec []byte) LSN {
	for w.pos%8 != 0 {
		w.buf = append(w.buf, 0)
		w.pos++
	}
	w.put(rec, uint32(len(rec)))
	return LSN(w.pos)
}

func record(rmid, info byte, body []byte) []byte {
	r := make([]byte, recordHeader, recordHeader+len(body))
	r = append(r, body...)
	binary.LittleEndian.PutUint32(r[0:], uint32(len(r)))
	r[16], r[17] = info, rmid
	return r
}

func commit(t time.Time, origin bool) []byte {
	main := make([]byte, 12)
	binary.LittleEndian.PutUint64(main, uint64(t.Sub(pgEpoch).Microseconds()))
	var body []byte
	if origin {
		body = append(body, blockIDOrigin, 1, 0)
	}
	body = append(body, blockIDDataShort, byte(len(main)))
	return record(rmXact, xactCommit, append(body, main...))
}

type seen struct {
	t   time.Time
	end LSN
}

func parse(t *testing.T, wal []byte, start LSN, rng *rand.Rand) []seen {
	t.Helper()
	var got []seen
	p := newParser(start, testSeg, func(tm time.Time, end LSN) { got = append(got, seen{tm, end}) })
	b := wal[start:]
	for len(b) > 0 {
		n := min(len(b), 1+rng.Intn(3000))
		if err := p.feed(b[:n]); err != nil {
			t.Fatal(err)
		}
		b = b[n:]
	}
	return got
}

// TestParserCommitTimes: commit records, before and after records that
// span pages, and one split across a page boundary, are found with
// their end positions whatever pieces the WAL arrives in; a parser
// started mid-record skips the continuation; after XLOG_SWITCH the
// rest of the segment is skipped.
func TestParserCommitTimes(t *testing.T) {
	base := time.Date(2026, 12, 3, 14, 0, 0, 0, time.UTC)
	w := &walBuilder{}
	var want []seen
	add := func(i int, origin bool) {
		tm := base.Add(time.Duration(i) * time.Second)
		want = append(want, seen{tm, w.record(commit(tm, origin))})
	}
	add(0, false)
	w.record(record(10, 0, make([]byte, 9000))) // spans two pages
	add(1, true)
	for w.pos%pageSize < pageSize-20 { // the next commit straddles a page boundary
		w.record(record(10, 0, make([]byte, 8)))
	}
	add(2, false)
	w.record(record(rmXact, 0x10, make([]byte, 40))) // not a commit or abort (prepare)
	abort := record(rmXact, xactAbort, commit(base.Add(3*time.Second), false)[recordHeader:])
	want = append(want, seen{base.Add(3 * time.Second), w.record(abort)})
	w.record(record(rmXLOG, xlogSwitch, nil))
	for w.pos%testSeg != 0 { // what follows a switch: zeros under page headers
		w.put(make([]byte, min(64, pageSize-w.pos%pageSize)), 0)
	}
	add(4, false)

	for seed := int64(1); seed <= 20; seed++ {
		got := parse(t, w.buf, 0, rand.New(rand.NewSource(seed)))
		if len(got) != len(want) {
			t.Fatalf("seed %d: found %d commits, want %d: %v", seed, len(got), len(want), got)
		}
		for i := range want {
			if !got[i].t.Equal(want[i].t) || got[i].end != want[i].end {
				t.Fatalf("seed %d: commit %d at %s ending %s, want %s ending %s", seed, i, got[i].t, got[i].end, want[i].t, want[i].end)
			}
		}
	}
	// From the second page, which starts inside the 9000-byte record.
	got := parse(t, w.buf, pageSize, rand.New(rand.NewSource(1)))
	if len(got) != len(want)-1 || !got[0].t.Equal(want[1].t) {
		t.Fatalf("from the second page: %v", got)
	}
	// Bytes that are not WAL.
	bad := append([]byte(nil), w.buf...)
	bad[pageSize] ^= 0xff
	p := newParser(0, testSeg, nil)
	if err := p.feed(bad); err == nil {
		t.Fatal("a page with a wrong magic was accepted")
	}
}

func TestNamesAndPositions(t *testing.T) {
	const seg = 16 << 20
	if got := SegmentName(1, 0x1FF, seg); got != "0000000100000001000000FF" {
		t.Fatalf("SegmentName: %s", got)
	}
	if got := HistoryName(3); got != "00000003.history" {
		t.Fatalf("HistoryName: %s", got)
	}
	for in, want := range map[LSN]LSN{seg + pageSize + 24: seg + pageSize, seg + 40: seg, seg + 24: seg + 24, seg + pageSize + 48: seg + pageSize + 48} {
		if got := pageBoundary(in, seg); got != want {
			t.Errorf("pageBoundary(%s) = %s, want %s", in, got, want)
		}
	}
	l, err := ParseLSN("16/B374D848")
	if err != nil || l != 0x16B374D848 || l.String() != "16/B374D848" {
		t.Fatalf("ParseLSN: %v %v", l, err)
	}
	segs := []Segment{{Segno: 3, End: 4 * seg}, {Segno: 4, End: 5 * seg}, {Segno: 5, End: 5*seg + 100}}
	for _, c := range []struct {
		from, to LSN
		want     bool
	}{
		{3*seg + 10, 5*seg + 100, true},
		{3*seg + 10, 5*seg + 101, false},
		{2*seg + 10, 4 * seg, false},
		{4*seg + 5, 5 * seg, true},
	} {
		if got := continuous(segs, c.from, c.to, seg); got != c.want {
			t.Errorf("continuous(%s, %s) = %v", c.from, c.to, got)
		}
	}
	if continuous([]Segment{{Segno: 3, End: 4 * seg}, {Segno: 5, End: 6 * seg}}, 3*seg, 5*seg+1, seg) {
		t.Error("a missing segment was not noticed")
	}
}
