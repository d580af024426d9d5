package dumpgen

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"testing"
)

func read(t *testing.T, v int, n int64) []byte {
	b, err := io.ReadAll(Reader(v, n))
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(b)) != n {
		t.Fatalf("version %d: %d bytes, want %d", v, len(b), n)
	}
	return b
}

func TestDeterministic(t *testing.T) {
	a := read(t, Base, 1<<20)
	sum := sha256.Sum256(a)
	if got := hex.EncodeToString(sum[:8]); got != "cff8e52421f39a5e" {
		t.Errorf("base stream digest %s", got)
	}
	if !bytes.Equal(a, read(t, Base, 1<<20)) {
		t.Fatal("not deterministic")
	}
}

// Versions differ in about 2% (clustered) and 4% (random) of rows.
func TestVersions(t *testing.T) {
	const n = 32 << 20
	lines := func(b []byte) [][]byte { return bytes.Split(b, []byte("\n")) }
	a, b, c := lines(read(t, Base, n)), lines(read(t, Clustered, n)), lines(read(t, Random, n))
	diff := func(x, y [][]byte) float64 {
		d := 0
		m := min(len(x), len(y)) - 1
		for i := 0; i < m; i++ {
			if !bytes.Equal(x[i], y[i]) {
				d++
			}
		}
		return float64(d) / float64(m)
	}
	if d := diff(a, b); d == 0 || d > 0.1 {
		t.Errorf("clustered version changes %.3f of rows", d)
	}
	if d := diff(b, c); d < 0.01 || d > 0.03 {
		t.Errorf("random version changes %.3f more rows", d)
	}
	var cl, rnd int
	const rows = 20000000
	for r := uint64(0); r < rows; r++ {
		if revision(Clustered, r) == 2 {
			cl++
		}
		if revision(Random, r) == 3 {
			rnd++
		}
	}
	if f := float64(cl) / rows; f < 0.015 || f > 0.025 {
		t.Errorf("clustered version changes %.4f of rows", f)
	}
	if f := float64(rnd) / rows; f < 0.015 || f > 0.025 {
		t.Errorf("random version changes %.4f of rows", f)
	}
}
