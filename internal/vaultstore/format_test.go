package vaultstore

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/zeebo/blake3"
)

// fixedRand makes salts and nonces deterministic for golden vectors.
func fixedRand(t *testing.T) {
	h := blake3.New()
	h.Write([]byte("coffer format golden"))
	old := randReader
	randReader = h.Digest()
	t.Cleanup(func() { randReader = old })
}

func testKeys(t testing.TB) *domainKeys {
	k, err := deriveKeys(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestDomainID(t *testing.T) {
	got := domainIDFor("us-east-1", "vault-a", "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab").String()
	if got != "0d31b1cb5ca7d23ab1a60240186bd42e" {
		t.Fatalf("domain id %s", got)
	}
	if domainIDFor("r", "a", "bc") == domainIDFor("r", "ab", "c") {
		t.Fatal("domain ID is ambiguous")
	}
}

// The golden pack pins the byte layout: keys, AAD, pack header, trailer
// and footer. It changes only with FormatVersion.
func TestGoldenPack(t *testing.T) {
	fixedRand(t)
	k := testKeys(t)
	d := domainIDFor("r", "vault", "arn:aws:kms:us-east-1:111122223333:key/k")
	pb := newPackBuilder(k.enc, d, nil)
	a := []byte("hello, world")
	pb.add(chunkID(k.id, a), flagRaw, len(a), a)
	pack, name, _ := pb.finish()
	if id := chunkID(k.id, a).String(); id != "f9da72d88c6c83539b7f86afe302473c59aea30791ac37a55909d59c67ef9d24" {
		t.Errorf("golden chunk id %s", id)
	}
	const wantName = "bb642cd33715033c9615d7ec39c1e5eadfde86036c4de6fe81d7cdeddd63638c"
	if name != wantName {
		t.Errorf("golden pack name %s, want %s", name, wantName)
	}
	es, aead, err := parsePack(k.enc, d, pack)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || es[0].Offset != packHeaderSize || es[0].RawLen != int64(len(a)) {
		t.Fatalf("entries %+v", es)
	}
	got, err := openChunk(aead, d, es[0], pack[es[0].Offset:es[0].Offset+es[0].Length])
	if err != nil || string(got) != string(a) {
		t.Fatalf("open chunk: %q, %v", got, err)
	}
}

func TestPackCorruption(t *testing.T) {
	k := testKeys(t)
	d := domainIDFor("r", "vault", "key")
	pb := newPackBuilder(k.enc, d, nil)
	for i := 0; i < 5; i++ {
		p := bytes.Repeat([]byte{byte(i)}, 100+i)
		pb.add(chunkID(k.id, p), flagRaw, len(p), p)
	}
	pack, _, _ := pb.finish()
	if _, _, err := parsePack(k.enc, domainIDFor("r", "vault", "other"), pack); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("other domain: %v", err)
	}
	for i := range pack {
		bad := bytes.Clone(pack)
		bad[i] ^= 0x10
		es, aead, err := parsePack(k.enc, d, bad)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("byte %d: %v not ErrCorrupt", i, err)
			}
			continue
		}
		// The flip is in an entry: opening it must fail.
		failed := false
		for _, e := range es {
			if _, err := openChunk(aead, d, e, bad[e.Offset:e.Offset+e.Length]); err != nil {
				failed = true
			}
		}
		if !failed {
			t.Fatalf("flipping byte %d went unnoticed", i)
		}
	}
	for n := 0; n < len(pack); n += 7 {
		if _, _, err := parsePack(k.enc, d, pack[:n]); err == nil {
			t.Fatalf("truncated to %d bytes: parsed", n)
		}
	}
}

func TestManifestRoundTrip(t *testing.T) {
	m := &manifest{Size: 30, Created: 1700000000, Meta: map[string]string{"b": "2", "a": "1"}}
	m.SHA256 = sha256.Sum256([]byte("x"))
	m.Chunks = []ManifestEntry{{ID: ChunkID{1}, Length: 10}, {ID: ChunkID{2}, Length: 20}}
	got, err := decodeManifest(encodeManifest(m))
	if err != nil {
		t.Fatal(err)
	}
	if got.Size != 30 || got.Meta["a"] != "1" || len(got.Chunks) != 2 || got.Chunks[1].Length != 20 || got.SHA256 != m.SHA256 {
		t.Fatalf("got %+v", got)
	}
	m.Size = 31
	if _, err := decodeManifest(encodeManifest(m)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("size mismatch: %v", err)
	}
}

func TestGoldenManifestObject(t *testing.T) {
	fixedRand(t)
	k := testKeys(t)
	d := domainIDFor("r", "vault", "key")
	m := &manifest{Size: 5, Created: 1, Meta: map[string]string{"engine": "postgres"}, Chunks: []ManifestEntry{{ID: ChunkID{9}, Length: 5}}}
	mid := bytes.Repeat([]byte{0xab}, 16)
	obj := sealObject(k.meta, kindManifest, d, mid, encodeManifest(m))
	sum := sha256.Sum256(obj)
	if got := hex.EncodeToString(sum[:]); got != "f536af4bc3befc4b6f5fdaebd84e66c5f62518ab6124eef8013dbca708ed8e79" {
		t.Errorf("golden manifest object %s", got)
	}
	plain, err := openObject(k.meta, kindManifest, d, mid, obj)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decodeManifest(plain); err != nil {
		t.Fatal(err)
	}
	if _, err := openObject(k.meta, kindManifest, d, bytes.Repeat([]byte{1}, 16), obj); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("manifest under another ID opened: %v", err)
	}
	if _, err := openObject(k.meta, kindIndex, d, nil, obj); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("manifest opened as index: %v", err)
	}
}

func TestIndexRoundTrip(t *testing.T) {
	ps := []indexPack{{Name: hex.EncodeToString(make([]byte, 32)), Size: 1000, Entries: []Entry{{ID: ChunkID{1}, Offset: 40, Length: 128, RawLen: 100, Flags: flagRaw}}}}
	got, err := decodeIndex(encodeIndex(ps))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Entries[0] != ps[0].Entries[0] || got[0].Name != ps[0].Name {
		t.Fatalf("got %+v", got)
	}
}

func FuzzTrailer(f *testing.F) {
	f.Add(encodeEntries(nil, []Entry{{ID: ChunkID{1}, Offset: 40, Length: 128, RawLen: 100, Flags: flagRaw}}), int64(1000))
	f.Add([]byte{0}, int64(48))
	f.Fuzz(func(t *testing.T, b []byte, size int64) {
		es, err := decodeTrailer(b, size)
		if err != nil {
			return
		}
		if !bytes.Equal(encodeEntries(nil, es), b) {
			t.Fatal("decode/encode does not round-trip")
		}
	})
}

func FuzzManifest(f *testing.F) {
	f.Add(encodeManifest(&manifest{Size: 3, Meta: map[string]string{"k": "v"}, Chunks: []ManifestEntry{{Length: 3}}}))
	f.Add(encodeManifest(&manifest{}))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeManifest(b)
		if err != nil {
			return
		}
		if !bytes.Equal(encodeManifest(m), b) {
			t.Fatal("decode/encode does not round-trip")
		}
	})
}

func FuzzIndex(f *testing.F) {
	f.Add(encodeIndex([]indexPack{{Name: hex.EncodeToString(make([]byte, 32)), Size: 1000, Entries: []Entry{{ID: ChunkID{1}, Offset: 40, Length: 128, RawLen: 100, Flags: flagRaw}}}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		ps, err := decodeIndex(b)
		if err != nil {
			return
		}
		if !bytes.Equal(encodeIndex(ps), b) {
			t.Fatal("decode/encode does not round-trip")
		}
	})
}

// FuzzPack feeds arbitrary bytes to the pack parser with a real key.
func FuzzPack(f *testing.F) {
	k := testKeys(f)
	d := domainIDFor("r", "v", "k")
	pb := newPackBuilder(k.enc, d, nil)
	pb.add(ChunkID{}, flagRaw, 3, []byte("abc"))
	pack, _, _ := pb.finish()
	f.Add(pack)
	f.Fuzz(func(t *testing.T, b []byte) {
		es, aead, err := parsePack(k.enc, d, b)
		if err != nil {
			return
		}
		for _, e := range es {
			openChunk(aead, d, e, b[e.Offset:e.Offset+e.Length])
		}
	})
}
