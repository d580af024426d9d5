package vaulttest

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coffer-dev/coffer/internal/vaultstore"
)

func mustVerify(t *testing.T, e *vaultstore.Engine, pct float64) *vaultstore.VerifyReport {
	t.Helper()
	rep, err := e.Verify(context.Background(), vaultstore.VerifyOptions{DataPercent: pct})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range rep.Problems {
		t.Errorf("verify: %s", p)
	}
	return rep
}

func dirSize(t *testing.T, dir string) int64 {
	var n int64
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

// interleave builds A1 B1 A2 B2 ... from two streams in blocks.
func interleave(a, b []byte, block int) []byte {
	var out []byte
	for i := 0; i < len(a); i += block {
		out = append(out, a[i:min(i+block, len(a))]...)
		out = append(out, b[i:min(i+block, len(b))]...)
	}
	return out
}

func testGC(t *testing.T, open Open) {
	en := newEnv(t, open(t), nil)
	ctx := context.Background()
	a, b := genStream(11, 6<<20), genStream(12, 6<<20)
	v1 := interleave(a, b, 400<<10)
	id1, _ := write(t, en.e, domA(), v1)
	id2, _ := write(t, en.e, domA(), a)
	only1, _ := write(t, en.e, domA(), genStream(13, 3<<20))
	before := dirSize(t, en.dir)
	indexBefore := len(objects(t, en.dir, "/index/"))

	// Nothing is garbage yet.
	st, err := en.e.GC(ctx, "", "", vaultstore.GCOptions{})
	if err != nil || st.PacksCondemned+st.PacksDeleted+st.PacksRepacked != 0 {
		t.Fatalf("GC with nothing deleted: %+v %v", st, err)
	}
	for _, id := range []vaultstore.ManifestID{id1, only1} {
		if err := en.e.DeleteManifest(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := en.e.OpenReader(ctx, id1); !errors.Is(err, vaultstore.ErrNotFound) {
		t.Fatalf("deleted manifest opens: %v", err)
	}
	// Within the grace period nothing is condemned.
	st, err = en.e.GC(ctx, "", "", vaultstore.GCOptions{})
	if err != nil || st.PacksCondemned != 0 {
		t.Fatalf("GC within grace: %+v %v", st, err)
	}
	en.clock.advance(2 * time.Hour)
	st, err = en.e.GC(ctx, "", "", vaultstore.GCOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first GC: %+v", st)
	if st.PacksCondemned == 0 || st.PacksRepacked == 0 {
		t.Fatalf("GC condemned %d and repacked %d packs", st.PacksCondemned, st.PacksRepacked)
	}
	if !bytes.Equal(readAll(t, en.e, id2), a) {
		t.Fatal("surviving recovery point changed")
	}
	en.clock.advance(2 * time.Hour)
	st, err = en.e.GC(ctx, "", "", vaultstore.GCOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("second GC: %+v", st)
	if st.PacksDeleted == 0 || st.BytesReclaimed == 0 {
		t.Fatalf("second GC deleted nothing: %+v", st)
	}
	after := dirSize(t, en.dir)
	if after >= before-int64(len(b))/2 {
		t.Fatalf("storage %d bytes before, %d after deleting ~%d", before, after, len(b)+3<<20)
	}
	if !bytes.Equal(readAll(t, en.e, id2), a) {
		t.Fatal("surviving recovery point changed after deletion")
	}
	if n := len(objects(t, en.dir, "/index/")); n >= indexBefore {
		t.Fatalf("%d index objects before, %d after the packs of one were deleted", indexBefore, n)
	}
	mustVerify(t, en.e, 100)
	// The freed content can be written again (nothing stale is reused).
	id4, _ := write(t, en.e, domA(), v1)
	if !bytes.Equal(readAll(t, en.e, id4), v1) {
		t.Fatal("rewritten stream differs")
	}
	mustVerify(t, en.e, 100)
}

// Writers deduplicating against old data while GC condemns, repacks and
// deletes: no committed recovery point ever loses a chunk.
func testGCRace(t *testing.T, open Open) {
	en := newEnv(t, open(t), func(o *vaultstore.Options) { o.PackSize = 256 << 10 })
	ctx := context.Background()
	// Real time, short delays: GC runs for real while writers write.
	en.clock.advance(0)
	rounds := 12
	if testing.Short() {
		rounds = 4
	}
	base := genStream(99, 2<<20)
	var mu sync.Mutex
	live := map[vaultstore.ManifestID][]byte{}
	for round := 0; round < rounds; round++ {
		var wg sync.WaitGroup
		stop := make(chan struct{})
		gcErr := make(chan error, 1)
		go func() {
			defer close(gcErr)
			for {
				select {
				case <-stop:
					return
				default:
				}
				en.clock.advance(time.Millisecond)
				if _, err := en.e.GC(ctx, "", "", vaultstore.GCOptions{Grace: time.Nanosecond, DeleteDelay: time.Nanosecond, RepackWaste: 0.2}); err != nil && !errors.Is(err, vaultstore.ErrGCBusy) {
					gcErr <- err
					return
				}
			}
		}()
		for w := 0; w < 3; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(round), uint64(w)))
				data := bytes.Clone(base)
				for i := 0; i < 3; i++ {
					off := rng.IntN(len(data) - 100000)
					copy(data[off:], genStream(uint64(round*100+w*10+i), 100000))
				}
				id, _ := write(t, en.e, domA(), data)
				mu.Lock()
				live[id] = data
				mu.Unlock()
			}(w)
		}
		wg.Wait()
		// Delete some older recovery points.
		mu.Lock()
		for id := range live {
			if rand.IntN(2) == 0 {
				if err := en.e.DeleteManifest(ctx, id); err != nil {
					t.Fatal(err)
				}
				delete(live, id)
			}
		}
		mu.Unlock()
		close(stop)
		if err := <-gcErr; err != nil {
			t.Fatalf("round %d: GC: %v", round, err)
		}
		for id, data := range live {
			got, err := tryRead(en.e, id)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("round %d: recovery point %s: %v", round, id, err)
			}
		}
	}
	rep := mustVerify(t, en.e, 100)
	if rep.Manifests != len(live) {
		t.Fatalf("verify saw %d manifests, %d live", rep.Manifests, len(live))
	}
}

// objects lists the files under dir whose path contains part.
func objects(t *testing.T, dir, part string) []string {
	var out []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && strings.Contains(p, part) {
			out = append(out, p)
		}
		return nil
	})
	if len(out) == 0 {
		t.Fatalf("no %s objects", part)
	}
	return out
}

func testCorruption(t *testing.T, open Open) {
	type damage struct {
		name string
		kind string // object kind: /data/, /manifests/
		do   func(path string) error
	}
	for _, d := range []damage{
		{"flip a bit in a pack", "/data/", func(p string) error {
			b, _ := os.ReadFile(p)
			b[len(b)/2] ^= 0x04
			return os.WriteFile(p, b, 0o600)
		}},
		{"truncate a pack", "/data/", func(p string) error { return os.Truncate(p, 1000) }},
		{"delete a pack", "/data/", os.Remove},
		{"flip a bit in a manifest", "/manifests/", func(p string) error {
			b, _ := os.ReadFile(p)
			b[len(b)-3] ^= 0x80
			return os.WriteFile(p, b, 0o600)
		}},
		{"delete a manifest", "/manifests/", os.Remove},
	} {
		t.Run(d.name, func(t *testing.T) {
			en := newEnv(t, open(t), nil)
			data := genStream(5, 3<<20)
			id, _ := write(t, en.e, domA(), data)
			mustVerify(t, en.e, 100)
			objs := objects(t, en.dir, d.kind)
			if err := d.do(objs[0]); err != nil {
				t.Fatal(err)
			}
			rep, err := en.e.Verify(context.Background(), vaultstore.VerifyOptions{DataPercent: 100})
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Problems) == 0 {
				t.Fatal("verify found nothing")
			}
			p := rep.Problems[0]
			t.Logf("verify: %s", p)
			if !strings.Contains(objs[0], strings.Fields(p.Object)[len(strings.Fields(p.Object))-1]) {
				t.Errorf("problem names %q, damaged object is %s", p.Object, objs[0])
			}
			if len(p.Manifests) != 1 || p.Manifests[0] != id {
				t.Errorf("affected %v, want [%s]", p.Manifests, id)
			}
			got, err := tryRead(en.e, id)
			if err == nil {
				t.Fatalf("read of damaged recovery point succeeded (%d bytes, equal %v)", len(got), bytes.Equal(got, data))
			}
			t.Logf("read: %v", err)
			if d.kind == "/data/" && !strings.Contains(err.Error(), "pack ") {
				t.Errorf("read error does not name the pack: %v", err)
			}
		})
	}
	// Structure only (no keys needed) still finds a missing pack.
	en := newEnv(t, open(t), nil)
	write(t, en.e, domA(), genStream(6, 2<<20))
	os.Remove(objects(t, en.dir, "/data/")[0])
	rep, err := en.e.Verify(context.Background(), vaultstore.VerifyOptions{})
	if err != nil || len(rep.Problems) == 0 || !strings.Contains(rep.Problems[0].Err, "missing") {
		t.Fatalf("structural verify: %+v %v", rep, err)
	}
}

func testRebuild(t *testing.T, open Open) {
	en := newEnv(t, open(t), nil)
	ctx := context.Background()
	v1 := genStream(21, 5<<20)
	id1, _ := write(t, en.e, domA(), v1)
	id2, _ := write(t, en.e, domA(), v1[:3<<20])
	cid, _, err := en.e.Copy(ctx, id1, domB(), nil)
	if err != nil {
		t.Fatal(err)
	}
	// A second engine on an empty metadata store, same storage and KMS.
	fresh, err := vaultstore.Open(open(t), en.keys, stores{en.dir}, vaultstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fresh.OpenReader(ctx, id1); !errors.Is(err, vaultstore.ErrNotFound) {
		t.Fatalf("empty index: %v", err)
	}
	// Remove index objects of one region: trailers must do.
	for _, p := range objects(t, filepath.Join(en.dir, "eu-west-1"), "/index/") {
		os.Remove(p)
	}
	for _, region := range []string{"us-east-1", "eu-west-1"} {
		st, err := fresh.RebuildIndex(ctx, region, "")
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %+v", region, st)
		if len(st.Problems) != 0 || st.Manifests == 0 || st.Packs == 0 {
			t.Fatalf("rebuild %s: %+v", region, st)
		}
		if region == "eu-west-1" && st.PacksFromTrailers != st.Packs {
			t.Fatalf("rebuild without index objects used %d trailers for %d packs", st.PacksFromTrailers, st.Packs)
		}
	}
	for id, want := range map[vaultstore.ManifestID][]byte{id1: v1, id2: v1[:3<<20], cid: v1} {
		if got := readAll(t, fresh, id); !bytes.Equal(got, want) {
			t.Fatalf("%s differs after rebuild", id)
		}
	}
	mustVerify(t, fresh, 100)
	// Rebuilding again adds nothing.
	st, err := fresh.RebuildIndex(ctx, "us-east-1", "src-vault")
	if err != nil || st.Manifests != 0 {
		t.Fatalf("second rebuild: %+v %v", st, err)
	}
	// Dedup continues against the rebuilt index.
	_, ws := write(t, fresh, domA(), v1)
	if ws.ChunksNew != 0 {
		t.Fatalf("write after rebuild stored %d new chunks", ws.ChunksNew)
	}
	// Without the key, nothing can be rebuilt.
	en.keys.Disable(keyA)
	other, _ := vaultstore.Open(open(t), en.keys, stores{en.dir}, vaultstore.Options{})
	var ke *vaultstore.KeyError
	if _, err := other.RebuildIndex(ctx, "us-east-1", ""); !errors.As(err, &ke) {
		t.Fatalf("rebuild with disabled key: %v", err)
	}
}

// A writer whose lease expired (and was collected) cannot commit.
func testLeaseFencing(t *testing.T, open Open) {
	en := newEnv(t, open(t), nil)
	ctx := context.Background()
	w, err := en.e.NewWriter(ctx, domA(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(genStream(8, 3<<20)); err != nil {
		t.Fatal(err)
	}
	en.clock.advance(time.Hour)
	st, err := en.e.GC(ctx, "", "", vaultstore.GCOptions{})
	if err != nil || st.LeasesExpired != 1 {
		t.Fatalf("GC: %+v %v", st, err)
	}
	if _, _, err := w.Commit(ctx); !errors.Is(err, vaultstore.ErrLeaseExpired) {
		t.Fatalf("commit after lease expiry: %v", err)
	}
	// Its packs are collected.
	en.clock.advance(2 * time.Hour)
	en.e.GC(ctx, "", "", vaultstore.GCOptions{})
	en.clock.advance(2 * time.Hour)
	en.e.GC(ctx, "", "", vaultstore.GCOptions{})
	filepath.Walk(en.dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && (strings.Contains(p, "/data/") || strings.Contains(p, "/manifests/")) {
			t.Errorf("left behind: %s", p)
		}
		return nil
	})
	mustVerify(t, en.e, 100)
}

type protectAll struct{}

func (protectAll) Protected(ctx context.Context, d vaultstore.Domain, id vaultstore.ManifestID) (bool, error) {
	return true, nil
}

func testProtected(t *testing.T, open Open) {
	en := newEnv(t, open(t), func(o *vaultstore.Options) { o.Protector = protectAll{} })
	data := genStream(9, 1<<20)
	id, _ := write(t, en.e, domA(), data)
	if err := en.e.DeleteManifest(context.Background(), id); !errors.Is(err, vaultstore.ErrProtected) {
		t.Fatalf("delete of protected manifest: %v", err)
	}
	en.clock.advance(10 * time.Hour)
	en.e.GC(context.Background(), "", "", vaultstore.GCOptions{})
	en.clock.advance(10 * time.Hour)
	en.e.GC(context.Background(), "", "", vaultstore.GCOptions{})
	if !bytes.Equal(readAll(t, en.e, id), data) {
		t.Fatal("protected recovery point changed")
	}
}
