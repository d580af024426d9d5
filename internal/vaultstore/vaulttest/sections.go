package vaulttest

import (
	"bytes"
	"context"
	"math/rand/v2"
	"testing"

	"github.com/coffer-dev/coffer/internal/vaultstore"
)

// section is part of a stream and how it is cut.
type section struct {
	block int
	data  []byte
}

// writeSections writes secs, each after a Boundary, in uneven writes
// that straddle nothing (a Boundary always falls between writes).
func writeSections(t *testing.T, e *vaultstore.Engine, d vaultstore.Domain, secs []section) (vaultstore.ManifestID, vaultstore.Stats) {
	t.Helper()
	ctx := context.Background()
	w, err := e.NewWriter(ctx, d, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secs {
		if err := w.Boundary(s.block); err != nil {
			t.Fatal(err)
		}
		writeUneven(t, w, s.data, 7001)
	}
	id, st, err := w.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return id, st
}

// testSections: fixed-block sections are cut on their block boundaries
// wherever they sit in the stream, so one changed page costs one chunk
// even when what precedes it changed length; the stream reads back whole.
func testSections(t *testing.T, open Open) {
	en := newEnv(t, open(t), nil)
	rnd := rand.New(rand.NewPCG(7, 8))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rnd.Uint32())
		}
		return b
	}
	head, pages, tail := random(50<<10), random(64*8192+1000), random(30<<10)
	secs := []section{{0, head}, {8192, pages}, {0, tail}, {8192, nil}, {0, random(100)}}
	id1, st1 := writeSections(t, en.e, domA(), secs)
	if want := bytes.Join([][]byte{head, pages, tail, secs[4].data}, nil); !bytes.Equal(readAll(t, en.e, id1), want) {
		t.Fatal("sectioned stream did not read back as written")
	}
	// 65 page chunks (the last one 1000 bytes) plus the content-defined ones.
	if st1.Chunks < 65+3 {
		t.Fatalf("first write has %d chunks, want at least 68", st1.Chunks)
	}

	head2 := append(random(777), head...)
	pages2 := bytes.Clone(pages)
	copy(pages2[10*8192+100:], random(50)) // one page changes
	id2, st2 := writeSections(t, en.e, domA(), []section{{0, head2}, {8192, pages2}, {0, tail}})
	if want := bytes.Join([][]byte{head2, pages2, tail}, nil); !bytes.Equal(readAll(t, en.e, id2), want) {
		t.Fatal("second sectioned stream did not read back as written")
	}
	// New: the changed page and the head's chunks (at most 4 for 51 KiB
	// with a 16 KiB minimum); every other page and the tail are reused.
	if st2.ChunksNew > 5 || st2.ChunksReused < 64 {
		t.Fatalf("second write stored %d new chunks and reused %d, want at most 5 new and 64 reused pages", st2.ChunksNew, st2.ChunksReused)
	}

	// Without boundaries the same bytes are cut content-defined: the
	// pages are not page-aligned chunks.
	_, st3 := write(t, en.e, domA(), bytes.Join([][]byte{head, pages, tail}, nil))
	if st3.Chunks >= 65 {
		t.Fatalf("a stream without boundaries was cut into %d chunks, as if it had page sections", st3.Chunks)
	}

	// Blocks larger than what the pipeline's tokens stand for (a chunk
	// then takes every token) pass too.
	big := random(9<<20 + 5)
	idBig, stBig := writeSections(t, en.e, domA(), []section{{8 << 20, big}, {0, tail}})
	if !bytes.Equal(readAll(t, en.e, idBig), append(bytes.Clone(big), tail...)) || stBig.Chunks < 3 {
		t.Fatalf("stream with 8 MiB blocks: %d chunks or wrong content", stBig.Chunks)
	}

	w, err := en.e.NewWriter(context.Background(), domA(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	for _, bad := range []int{-1, 100, vaultstore.MaxBlock + 1} {
		if err := w.Boundary(bad); err == nil {
			t.Fatalf("Boundary(%d) accepted", bad)
		}
	}
}
