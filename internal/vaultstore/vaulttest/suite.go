// Package vaulttest is the vault storage engine's test suite, run against
// every metadata store (SQLite in package vaultstore's tests, PostgreSQL
// in this package's).
package vaulttest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coffer-dev/coffer/internal/blob"
	"github.com/coffer-dev/coffer/internal/blob/fs"
	"github.com/coffer-dev/coffer/internal/meta"
	"github.com/coffer-dev/coffer/internal/vaultstore"
	"github.com/coffer-dev/coffer/internal/vaultstore/localkeys"
)

// Open returns a fresh, migrated metadata store.
type Open func(t *testing.T) meta.Store

// Run runs the suite.
func Run(t *testing.T, open Open) {
	for _, tc := range []struct {
		name string
		f    func(*testing.T, Open)
	}{
		{"RoundTrip", testRoundTrip},
		{"Dedup", testDedup},
		{"NoPlaintextInStorage", testNoPlaintextInStorage},
		{"WrongKeyRefused", testWrongKeyRefused},
		{"StreamErrorMidway", testStreamErrorMidway},
		{"Copy", testCopy},
		{"GC", testGC},
		{"GCRacingWriters", testGCRace},
		{"Corruption", testCorruption},
		{"RebuildIndex", testRebuild},
		{"LeaseFencing", testLeaseFencing},
		{"Protected", testProtected},
		{"Sections", testSections},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.f(t, open) })
	}
}

const keyA = "arn:aws:kms:us-east-1:111122223333:key/aaaaaaaa-1111-2222-3333-444444444444"
const keyB = "arn:aws:kms:us-east-1:666777888999:key/bbbbbbbb-1111-2222-3333-444444444444"

// stores maps regions to directories under one root.
type stores struct{ root string }

func (s stores) Store(region string) (blob.Store, error) {
	return fs.New(filepath.Join(s.root, region))
}

type env struct {
	e     *vaultstore.Engine
	db    meta.Store
	keys  *localkeys.Keys
	dir   string
	clock *clock
}

// clock is a settable time source.
type clock struct{ ns atomic.Int64 }

func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func newEnv(t *testing.T, db meta.Store, mutate func(*vaultstore.Options)) *env {
	t.Helper()
	dir := t.TempDir()
	keys := localkeys.New()
	c := &clock{}
	c.ns.Store(time.Now().UnixNano())
	o := vaultstore.Options{PackSize: 1 << 20, Now: func() time.Time { return time.Unix(0, c.ns.Load()) }}
	if mutate != nil {
		mutate(&o)
	}
	e, err := vaultstore.Open(db, keys, stores{dir}, o)
	if err != nil {
		t.Fatal(err)
	}
	return &env{e: e, db: db, keys: keys, dir: dir, clock: c}
}

func domA() vaultstore.Domain {
	return vaultstore.Domain{Region: "us-east-1", Vault: "src-vault", KeyARN: keyA}
}

func domB() vaultstore.Domain {
	return vaultstore.Domain{Region: "eu-west-1", Vault: "backup-vault", KeyARN: keyB}
}

func write(t testing.TB, e *vaultstore.Engine, d vaultstore.Domain, data []byte) (vaultstore.ManifestID, vaultstore.Stats) {
	t.Helper()
	ctx := context.Background()
	w, err := e.NewWriter(ctx, d, map[string]string{"engine": "postgres"})
	if err != nil {
		t.Fatal(err)
	}
	writeUneven(t, w, data, 300000)
	id, st, err := w.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return id, st
}

// writeUneven writes data in pieces of uneven lengths up to step, which
// exercise the writer's pipe.
func writeUneven(t testing.TB, w *vaultstore.Writer, data []byte, step int) {
	t.Helper()
	for rest := data; len(rest) > 0; {
		n := min(len(rest), 1+len(rest)%step)
		if _, err := w.Write(rest[:n]); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}
}

func readAll(t testing.TB, e *vaultstore.Engine, id vaultstore.ManifestID) []byte {
	t.Helper()
	b, err := tryRead(e, id)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func tryRead(e *vaultstore.Engine, id vaultstore.ManifestID) ([]byte, error) {
	r, err := e.OpenReader(context.Background(), id)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// readMixed reads the first bytes with Read, the rest with WriteTo (as
// io.Copy does).
func readMixed(t testing.TB, e *vaultstore.Engine, id vaultstore.ManifestID, first int) []byte {
	t.Helper()
	r, err := e.OpenReader(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out bytes.Buffer
	if _, err := io.CopyN(&out, io.LimitReader(r, int64(first)), int64(first)); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	if _, err := io.Copy(&out, r); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// genStream makes n bytes with repeated regions and compressible parts.
func genStream(seed uint64, n int) []byte {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	out := make([]byte, 0, n)
	for len(out) < n {
		switch k := rng.IntN(10); {
		case k < 4 && len(out) > 1000:
			// repeat an earlier region
			start := rng.IntN(len(out))
			l := min(rng.IntN(300000)+1, len(out)-start, n-len(out))
			out = append(out, out[start:start+l]...)
		case k < 7:
			l := min(rng.IntN(200000)+1, n-len(out))
			for i := 0; i < l; i++ {
				out = append(out, byte(rng.IntN(256)))
			}
		default:
			l := min(rng.IntN(200000)+1, n-len(out))
			row := fmt.Sprintf("%d\tcustomer-%d\t%d.%02d\tactive\n", rng.IntN(1e6), rng.IntN(1e5), rng.IntN(1000), rng.IntN(100))
			for i := 0; i < l; i++ {
				out = append(out, row[i%len(row)])
			}
		}
	}
	return out
}

func testRoundTrip(t *testing.T, open Open) {
	{
		en := newEnv(t, open(t), nil)
		sizes := []int{0, 1, 100, 16 << 10, 64<<10 + 7, 3 << 20, 9<<20 + 12345}
		if !testing.Short() {
			sizes = append(sizes, 100<<20)
		}
		for i, n := range sizes {
			data := genStream(uint64(i), n)
			id, st := write(t, en.e, domA(), data)
			if st.BytesIn != int64(n) {
				t.Fatalf("size %d: BytesIn %d", n, st.BytesIn)
			}
			got := readAll(t, en.e, id)
			if !bytes.Equal(got, data) {
				t.Fatalf("size %d: read back %d bytes, differ", n, len(got))
			}
			if got := readMixed(t, en.e, id, n/3+1); !bytes.Equal(got, data) {
				t.Fatalf("size %d: Read then WriteTo gave %d bytes, differ", n, len(got))
			}
			info, err := en.e.Stat(context.Background(), id)
			if err != nil || info.Size != int64(n) || info.SHA256 != sha256.Sum256(data) {
				t.Fatalf("stat %+v %v", info, err)
			}
		}
	}
}

func testDedup(t *testing.T, open Open) {
	en := newEnv(t, open(t), nil)
	data := genStream(42, 8<<20)
	_, st1 := write(t, en.e, domA(), data)
	id2, st2 := write(t, en.e, domA(), data)
	if st2.ChunksNew != 0 || st2.ChunksReused != st2.Chunks || st2.Packs != 0 {
		t.Fatalf("second write of the same stream: %+v (first %+v)", st2, st1)
	}
	// Change 2% in one place: only a few chunks are new.
	v2 := bytes.Clone(data)
	copy(v2[4<<20:], bytes.Repeat([]byte("changed!"), (len(data)/50)/8))
	_, st3 := write(t, en.e, domA(), v2)
	if st3.ChunksNew > 8 {
		t.Fatalf("2%% clustered change stored %d new chunks of %d", st3.ChunksNew, st3.Chunks)
	}
	if !bytes.Equal(readAll(t, en.e, id2), data) {
		t.Fatal("dedup'd stream differs")
	}
}

// No plaintext marker appears anywhere in storage.
func testNoPlaintextInStorage(t *testing.T, open Open) {
	en := newEnv(t, open(t), nil)
	marker := []byte("SECRET-MARKER-7f3a9c")
	var data []byte
	for len(data) < 4<<20 {
		data = append(data, marker...)
		data = append(data, genStream(uint64(len(data)), 997)...)
	}
	id, _ := write(t, en.e, domA(), data)
	write(t, en.e, vaultstore.Domain{Region: "us-east-1", Vault: "src-vault", KeyARN: keyB}, data)
	if _, _, err := en.e.Copy(context.Background(), id, domB(), nil); err != nil {
		t.Fatal(err)
	}
	files := 0
	filepath.Walk(en.dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		files++
		b, _ := os.ReadFile(p)
		for _, m := range [][]byte{marker, []byte("customer-"), data[1000:1032]} {
			if bytes.Contains(b, m) {
				t.Errorf("%s contains plaintext %q", p, m)
			}
		}
		return nil
	})
	if files < 5 {
		t.Fatalf("only %d files in storage", files)
	}
}

func testWrongKeyRefused(t *testing.T, open Open) {
	en := newEnv(t, open(t), nil)
	id, _ := write(t, en.e, domA(), genStream(1, 1<<20))
	en.keys.Authorize = func(ctx context.Context, op, arn string) error {
		if arn == keyA && op == "Decrypt" {
			return errors.New("AccessDeniedException: not allowed by the key policy")
		}
		return nil
	}
	_, err := tryRead(en.e, id)
	var ke *vaultstore.KeyError
	if !errors.As(err, &ke) || ke.KeyARN != keyA || !bytes.Contains([]byte(err.Error()), []byte(keyA)) {
		t.Fatalf("read with refused key: %v", err)
	}
	if _, _, err := en.e.Copy(context.Background(), id, domB(), nil); !errors.As(err, &ke) || ke.KeyARN != keyA {
		t.Fatalf("copy with refused source key: %v", err)
	}
	if _, err := en.e.NewWriter(context.Background(), domA(), nil); !errors.As(err, &ke) {
		t.Fatalf("write with refused key: %v", err)
	}
}

// A stream that fails midway leaves nothing committed.
func testStreamErrorMidway(t *testing.T, open Open) {
	en := newEnv(t, open(t), nil)
	ctx := context.Background()
	w, err := en.e.NewWriter(ctx, domA(), nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(genStream(3, 3<<20))
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if _, err := en.e.Stat(ctx, w.ID()); !errors.Is(err, vaultstore.ErrNotFound) {
		t.Fatalf("aborted manifest: %v", err)
	}
	// Cancelling the context fails the writer.
	cctx, cancel := context.WithCancel(ctx)
	w, err = en.e.NewWriter(cctx, domA(), nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(genStream(4, 1<<20))
	cancel()
	if _, _, err := w.Commit(ctx); err == nil {
		t.Fatal("commit after cancel succeeded")
	}
}

func testCopy(t *testing.T, open Open) {
	en := newEnv(t, open(t), nil)
	ctx := context.Background()
	v1 := genStream(7, 12<<20)
	v2 := bytes.Clone(v1)
	// 2% changed in clusters.
	for i := 0; i < 4; i++ {
		off := (i*3 + 1) << 20
		copy(v2[off:], bytes.Repeat([]byte{byte(i)}, len(v1)/200))
	}
	id1, _ := write(t, en.e, domA(), v1)
	id2, _ := write(t, en.e, domA(), v2)
	c1, st1, err := en.e.Copy(ctx, id1, domB(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if st1.ChunksNew == 0 || st1.BytesRead == 0 || st1.BytesWritten == 0 {
		t.Fatalf("first copy stats %+v", st1)
	}
	c2, st2, err := en.e.Copy(ctx, id2, domB(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if st2.BytesWritten > int64(len(v2))*15/100 {
		t.Fatalf("copy into a domain holding most chunks wrote %d of %d bytes", st2.BytesWritten, len(v2))
	}
	if st2.ChunksReused < st2.Chunks*8/10 {
		t.Fatalf("second copy reused %d of %d chunks", st2.ChunksReused, st2.Chunks)
	}
	t.Logf("copy 1: %+v; copy 2: %+v", st1, st2)
	if !bytes.Equal(readAll(t, en.e, c1), v1) || !bytes.Equal(readAll(t, en.e, c2), v2) {
		t.Fatal("copies read back differently")
	}
	info, _ := en.e.Stat(ctx, c2)
	if info.Domain != domB() {
		t.Fatalf("copy is in %v", info.Domain)
	}
	// Copy back into the source region under another key.
	back := vaultstore.Domain{Region: "us-east-1", Vault: "src-vault", KeyARN: keyB}
	c3, _, err := en.e.Copy(ctx, c2, back, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readAll(t, en.e, c3), v2) {
		t.Fatal("copy back differs")
	}
}
