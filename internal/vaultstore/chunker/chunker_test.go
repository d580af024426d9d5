package chunker

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/zeebo/blake3"
)

// testData is len bytes of the BLAKE3 XOF of label: fixed forever.
func testData(t testing.TB, label string, n int) []byte {
	t.Helper()
	h := blake3.New()
	h.Write([]byte(label))
	b := make([]byte, n)
	if _, err := io.ReadFull(h.Digest(), b); err != nil {
		t.Fatal(err)
	}
	return b
}

func cuts(t testing.TB, r io.Reader, key []byte, p Params) []int {
	t.Helper()
	tab, err := NewTable(key)
	if err != nil {
		t.Fatal(err)
	}
	c := New(r, tab, p)
	var out []int
	for {
		ch, err := c.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, len(ch))
	}
}

func digest(lengths []int) string {
	h := sha256.New()
	for _, l := range lengths {
		binary.Write(h, binary.LittleEndian, uint32(l))
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// The vectors pin the gear table derivation and the cut rule: a change
// here is a format change.
func TestVectors(t *testing.T) {
	data := testData(t, "coffer chunker test vector", 4<<20)
	key := bytes.Repeat([]byte{0x42}, KeySize)
	for _, tc := range []struct {
		name    string
		key     []byte
		first   []int
		count   int
		lengths string
	}{
		{"default", nil, []int{69407, 79965, 80053, 26132, 116205, 28797, 37409, 66120}, 61, "11acc916d0cffbdc"},
		{"keyed", key, []int{78150, 107914, 37507, 110989, 78052, 79027, 95645, 79503}, 55, "74b83a6b9584f184"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := cuts(t, bytes.NewReader(data), tc.key, DefaultParams)
			t.Logf("first %v count %d digest %s", got[:8], len(got), digest(got))
			if len(got) != tc.count || digest(got) != tc.lengths {
				t.Errorf("got %d chunks, digest %s; want %d, %s", len(got), digest(got), tc.count, tc.lengths)
			}
			for i, w := range tc.first {
				if got[i] != w {
					t.Errorf("chunk %d length %d, want %d", i, got[i], w)
				}
			}
		})
	}
}

func TestGearTable(t *testing.T) {
	tab, err := NewTable(nil)
	if err != nil {
		t.Fatal(err)
	}
	if tab[0] != 0x934060e21526c119 || tab[255] != 0x53eff35f64fa4786 {
		t.Errorf("gear[0]=%#x gear[255]=%#x", tab[0], tab[255])
	}
}

func TestBoundsAndReassembly(t *testing.T) {
	for _, n := range []int{0, 1, 100, DefaultParams.Min, DefaultParams.Min + 1, DefaultParams.Max, DefaultParams.Max + 1, 3 << 20} {
		data := testData(t, "bounds", n)
		tab, _ := NewTable(nil)
		c := New(bytes.NewReader(data), tab, DefaultParams)
		var got []byte
		var lens []int
		for {
			ch, err := c.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, ch...)
			lens = append(lens, len(ch))
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("n=%d: chunks do not reassemble the input", n)
		}
		for i, l := range lens {
			if l > DefaultParams.Max || (l < DefaultParams.Min && i != len(lens)-1) || l == 0 {
				t.Fatalf("n=%d: chunk %d has length %d", n, i, l)
			}
		}
	}
}

// Cut points depend on content only, not on how reads are split.
func TestReadSplitting(t *testing.T) {
	data := testData(t, "split", 2<<20)
	want := cuts(t, bytes.NewReader(data), nil, DefaultParams)
	got := cuts(t, iotest.OneByteReader(bytes.NewReader(data)), nil, DefaultParams)
	if digest(got) != digest(want) {
		t.Fatalf("one-byte reads give other cuts")
	}
	got = cuts(t, iotest.HalfReader(bytes.NewReader(data)), nil, DefaultParams)
	if digest(got) != digest(want) {
		t.Fatalf("half reads give other cuts")
	}
}

// An insertion near the start shifts data; cuts resynchronise so most
// chunks are shared.
func TestResync(t *testing.T) {
	data := testData(t, "resync", 4<<20)
	edited := append(append(append([]byte{}, data[:100000]...), []byte("inserted bytes")...), data[100000:]...)
	set := func(b []byte) map[[32]byte]bool {
		tab, _ := NewTable(nil)
		c := New(bytes.NewReader(b), tab, DefaultParams)
		m := map[[32]byte]bool{}
		for {
			ch, err := c.Next()
			if err != nil {
				return m
			}
			m[sha256.Sum256(ch)] = true
		}
	}
	a, b := set(data), set(edited)
	shared := 0
	for k := range b {
		if a[k] {
			shared++
		}
	}
	if shared < len(b)-3 {
		t.Fatalf("only %d of %d chunks shared after one insertion", shared, len(b))
	}
}

func TestKeyMovesCuts(t *testing.T) {
	data := testData(t, "keys", 1<<20)
	a := cuts(t, bytes.NewReader(data), nil, DefaultParams)
	b := cuts(t, bytes.NewReader(data), bytes.Repeat([]byte{1}, KeySize), DefaultParams)
	if digest(a) == digest(b) {
		t.Fatal("keyed and default tables cut at the same points")
	}
}

func TestReadError(t *testing.T) {
	boom := errors.New("boom")
	r := io.MultiReader(bytes.NewReader(testData(t, "err", 100000)), iotest.ErrReader(boom))
	tab, _ := NewTable(nil)
	c := New(r, tab, DefaultParams)
	for {
		_, err := c.Next()
		if err == nil {
			continue
		}
		if !errors.Is(err, boom) {
			t.Fatalf("err = %v, want boom", err)
		}
		return
	}
}

func TestParams(t *testing.T) {
	if err := DefaultParams.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []Params{{1, 2, 3}, {16 << 10, 60 << 10, 256 << 10}, {64 << 10, 64 << 10, 256 << 10}, {16, 64, 32 << 20}} {
		if p.Validate() == nil {
			t.Errorf("%v accepted", p)
		}
	}
	if _, err := NewTable([]byte{1}); err == nil {
		t.Error("short key accepted")
	}
}

func BenchmarkChunker(b *testing.B) {
	data := testData(b, "bench", 64<<20)
	tab, _ := NewTable(nil)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		c := New(bytes.NewReader(data), tab, DefaultParams)
		for {
			if _, err := c.Next(); err != nil {
				break
			}
		}
	}
}
