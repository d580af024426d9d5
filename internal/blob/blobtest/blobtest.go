// Package blobtest is the test suite every blob.Store implementation
// runs: call Run from the implementation's tests with a function that
// returns a new, empty store.
package blobtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/coffer-dev/coffer/internal/blob"
	"github.com/coffer-dev/coffer/internal/testenv"
)

// Run runs the suite. newStore is called once per subtest and must return
// an empty store; it should register any cleanup with t.
func Run(t *testing.T, newStore func(t *testing.T) blob.Store) {
	tests := []struct {
		name string
		f    func(t *testing.T, s blob.Store)
	}{
		{"PutGet", testPutGet},
		{"Empty", testEmpty},
		{"Range", testRange},
		{"NotExist", testNotExist},
		{"InvalidNames", testInvalidNames},
		{"ListPrefixOrder", testList},
		{"ListStop", testListStop},
		{"Delete", testDelete},
		{"Overwrite", testOverwrite},
		{"OverwriteAtomic", testOverwriteAtomic},
		{"SizeMismatch", testSizeMismatch},
		{"Create", testCreate},
		{"CreateRace", testCreateRace},
		{"Large", testLarge},
		{"ConcurrentPuts", testConcurrentPuts},
		{"ContextCancel", testContextCancel},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.f(t, newStore(t))
		})
	}
}

// Data returns n deterministic pseudo-random bytes for seed.
func Data(seed uint64, n int) []byte {
	var key [32]byte
	key[0], key[1] = byte(seed), byte(seed>>8)
	b := make([]byte, n)
	rand.NewChaCha8(key).Read(b)
	return b
}

// Put stores data under name or fails the test.
func Put(t testing.TB, s blob.Store, name string, data []byte) {
	t.Helper()
	if err := s.Put(context.Background(), name, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatalf("Put(%q): %v", name, err)
	}
}

// Read returns the range of name, or the error of Get or of reading.
func Read(s blob.Store, name string, offset, length int64) ([]byte, error) {
	rc, err := s.Get(context.Background(), name, offset, length)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(rc)
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	return b, err
}

// MustRead is Read failing the test on error.
func MustRead(t testing.TB, s blob.Store, name string, offset, length int64) []byte {
	t.Helper()
	b, err := Read(s, name, offset, length)
	if err != nil {
		t.Fatalf("Get(%q, %d, %d): %v", name, offset, length, err)
	}
	return b
}

// Names lists prefix and returns the names in the order List gave them.
func Names(t testing.TB, s blob.Store, prefix string) []string {
	t.Helper()
	var names []string
	err := s.List(context.Background(), prefix, func(fi blob.Info) error {
		names = append(names, fi.Name)
		return nil
	})
	if err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	return names
}

func testPutGet(t *testing.T, s blob.Store) {
	data := Data(1, 100_000)
	Put(t, s, "dir/sub/obj", data)
	if got := MustRead(t, s, "dir/sub/obj", 0, -1); !bytes.Equal(got, data) {
		t.Fatalf("Get returned %d bytes, not what was put (%d bytes)", len(got), len(data))
	}
	fi, err := s.Stat(context.Background(), "dir/sub/obj")
	if err != nil {
		t.Fatalf("Stat: %v", err)
	}
	if fi.Name != "dir/sub/obj" || fi.Size != int64(len(data)) {
		t.Errorf("Stat = {Name %q Size %d}, want {Name %q Size %d}", fi.Name, fi.Size, "dir/sub/obj", len(data))
	}
	if fi.ModTime.IsZero() {
		t.Errorf("Stat: zero ModTime")
	}
	Put(t, s, "top", []byte("x"))
	if got := MustRead(t, s, "top", 0, -1); string(got) != "x" {
		t.Errorf("Get(top) = %q, want %q", got, "x")
	}
}

func testEmpty(t *testing.T, s blob.Store) {
	Put(t, s, "empty", nil)
	if got := MustRead(t, s, "empty", 0, -1); len(got) != 0 {
		t.Errorf("Get(empty) = %d bytes, want 0", len(got))
	}
	fi, err := s.Stat(context.Background(), "empty")
	if err != nil || fi.Size != 0 {
		t.Errorf("Stat(empty) = %+v, %v; want size 0", fi, err)
	}
}

func testRange(t *testing.T, s blob.Store) {
	data := Data(2, 10_000)
	Put(t, s, "r", data)
	for _, tc := range []struct {
		name           string
		offset, length int64
	}{
		{"whole", 0, -1},
		{"whole explicit", 0, 10_000},
		{"head", 0, 100},
		{"middle", 1234, 4321},
		{"tail to end", 9_000, -1},
		{"tail exact", 9_000, 1_000},
		{"last byte", 9_999, 1},
		{"one byte", 5000, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := MustRead(t, s, "r", tc.offset, tc.length)
			end := int64(len(data))
			if tc.length >= 0 {
				end = tc.offset + tc.length
			}
			if want := data[tc.offset:end]; !bytes.Equal(got, want) {
				t.Errorf("got %d bytes, want %d bytes data[%d:%d]", len(got), len(want), tc.offset, end)
			}
		})
	}
	t.Run("past end", func(t *testing.T) {
		got, err := Read(s, "r", 9_000, 2_000)
		if err == nil {
			t.Fatalf("Get(9000, 2000) of a 10000-byte object = %d bytes, want an error", len(got))
		}
		if blob.IsNotExist(err) {
			t.Errorf("Get past end: %v; must not be ErrNotExist", err)
		}
	})
}

func testNotExist(t *testing.T, s blob.Store) {
	ctx := context.Background()
	if _, err := Read(s, "missing", 0, -1); !blob.IsNotExist(err) {
		t.Errorf("Get(missing) error = %v, want ErrNotExist", err)
	}
	if _, err := Read(s, "missing", 10, 5); !blob.IsNotExist(err) {
		t.Errorf("Get(missing, range) error = %v, want ErrNotExist", err)
	}
	if _, err := s.Stat(ctx, "missing"); !blob.IsNotExist(err) {
		t.Errorf("Stat(missing) error = %v, want ErrNotExist", err)
	}
	if err := s.Delete(ctx, "missing"); err != nil {
		t.Errorf("Delete(missing) = %v, want nil", err)
	}
	// "d" is only a prefix of "d/x", not an object; a file is not a directory.
	Put(t, s, "d/x", []byte("x"))
	for _, name := range []string{"d", "d/x/y"} {
		if _, err := s.Stat(ctx, name); !blob.IsNotExist(err) {
			t.Errorf("Stat(%q) error = %v, want ErrNotExist", name, err)
		}
		if _, err := Read(s, name, 0, -1); !blob.IsNotExist(err) {
			t.Errorf("Get(%q) error = %v, want ErrNotExist", name, err)
		}
	}
}

func testInvalidNames(t *testing.T, s blob.Store) {
	ctx := context.Background()
	for _, name := range []string{"", "/abs", "a//b", "a/", "..", "a/../b", "./a", "a/.", blob.TempPrefix + "x", `a\b`} {
		err := s.Put(ctx, name, strings.NewReader("x"), 1)
		if err == nil {
			t.Errorf("Put(%q) succeeded, want an error", name)
			continue
		}
		if _, err := s.Stat(ctx, name); err == nil {
			t.Errorf("Stat(%q) succeeded, want an error", name)
		}
	}
}

func testList(t *testing.T, s blob.Store) {
	names := []string{"a-c", "a/b", "a/c/d", "a0", "b", "ab", "a/b2", "a/b/c", "z/y/x", "a/c/e", "a.b"}
	// a/b and a/b/c cannot both be files in a directory; keep the set
	// portable by dropping a/b/c.
	names = slices.DeleteFunc(names, func(n string) bool { return n == "a/b/c" })
	for i, j := range rand.New(rand.NewPCG(1, 2)).Perm(len(names)) {
		Put(t, s, names[j], []byte(fmt.Sprint(i)))
	}
	sorted := slices.Sorted(slices.Values(names))
	for _, tc := range []struct{ prefix string }{
		{""}, {"a"}, {"a/"}, {"a/b"}, {"a/c/"}, {"a/c/d"}, {"z"}, {"nope"}, {"a-"}, {"b"},
	} {
		var want []string
		for _, n := range sorted {
			if strings.HasPrefix(n, tc.prefix) {
				want = append(want, n)
			}
		}
		got := Names(t, s, tc.prefix)
		if !slices.Equal(got, want) {
			t.Errorf("List(%q) = %q, want %q", tc.prefix, got, want)
		}
	}
	// Sizes come with the names.
	err := s.List(context.Background(), "a/b2", func(fi blob.Info) error {
		if want, _ := Read(s, fi.Name, 0, -1); fi.Size != int64(len(want)) {
			t.Errorf("List: %s size %d, want %d", fi.Name, fi.Size, len(want))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testListStop(t *testing.T, s blob.Store) {
	for i := range 5 {
		Put(t, s, fmt.Sprintf("p/%d", i), []byte("x"))
	}
	stop := errors.New("enough")
	n := 0
	err := s.List(context.Background(), "p/", func(blob.Info) error {
		n++
		if n == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Errorf("List returned %v, want the callback's error", err)
	}
	if n != 2 {
		t.Errorf("callback called %d times after returning an error at 2", n)
	}
}

func testDelete(t *testing.T, s blob.Store) {
	ctx := context.Background()
	Put(t, s, "del/a", []byte("a"))
	Put(t, s, "del/b", []byte("b"))
	if err := s.Delete(ctx, "del/a"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := s.Stat(ctx, "del/a"); !blob.IsNotExist(err) {
		t.Errorf("Stat after Delete = %v, want ErrNotExist", err)
	}
	if got := Names(t, s, "del/"); !slices.Equal(got, []string{"del/b"}) {
		t.Errorf("List after Delete = %q, want [del/b]", got)
	}
	if err := s.Delete(ctx, "del/a"); err != nil {
		t.Errorf("second Delete = %v, want nil", err)
	}
	// A name freed by Delete can be written again.
	Put(t, s, "del/a", []byte("again"))
	if got := MustRead(t, s, "del/a", 0, -1); string(got) != "again" {
		t.Errorf("Get after re-Put = %q", got)
	}
}

func testOverwrite(t *testing.T, s blob.Store) {
	Put(t, s, "o", Data(3, 5000))
	Put(t, s, "o", []byte("short"))
	if got := MustRead(t, s, "o", 0, -1); string(got) != "short" {
		t.Errorf("Get after overwrite = %d bytes %.10q, want %q", len(got), got, "short")
	}
	if got := Names(t, s, ""); !slices.Equal(got, []string{"o"}) {
		t.Errorf("List after overwrite = %q, want [o]", got)
	}
}

// testOverwriteAtomic replaces an object while readers read it: each read
// must return one version whole.
func testOverwriteAtomic(t *testing.T, s blob.Store) {
	const size = 1 << 20
	versions := [][]byte{bytes.Repeat([]byte{'A'}, size), bytes.Repeat([]byte{'B'}, size)}
	Put(t, s, "atomic", versions[0])
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				got, err := Read(s, "atomic", 0, -1)
				if err != nil {
					errc <- fmt.Errorf("Get during overwrite: %w", err)
					return
				}
				if !bytes.Equal(got, versions[0]) && !bytes.Equal(got, versions[1]) {
					errc <- fmt.Errorf("Get during overwrite returned %d bytes that are neither version", len(got))
					return
				}
			}
		}()
	}
	for i := range 20 {
		Put(t, s, "atomic", versions[i%2])
	}
	cancel()
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
}

func testSizeMismatch(t *testing.T, s blob.Store) {
	ctx := context.Background()
	err := s.Put(ctx, "short", strings.NewReader("12345"), 10)
	if err == nil {
		t.Errorf("Put of 5 bytes with size 10 succeeded")
	}
	if _, err := s.Stat(ctx, "short"); !blob.IsNotExist(err) {
		t.Errorf("Stat after failed Put = %v, want ErrNotExist", err)
	}
}

func creator(t *testing.T, s blob.Store) blob.Creator {
	c, ok := s.(blob.Creator)
	if !ok {
		testenv.Missing(t, "%T does not implement blob.Creator: conditional create is untested", s)
	}
	return c
}

func testCreate(t *testing.T, s blob.Store) {
	c := creator(t, s)
	ctx := context.Background()
	if err := c.Create(ctx, "c/one", strings.NewReader("first"), 5); err != nil {
		t.Fatalf("Create: %v", err)
	}
	err := c.Create(ctx, "c/one", strings.NewReader("second"), 6)
	if !errors.Is(err, blob.ErrExists) {
		t.Errorf("second Create = %v, want ErrExists", err)
	}
	if got := MustRead(t, s, "c/one", 0, -1); string(got) != "first" {
		t.Errorf("after second Create, Get = %q, want %q", got, "first")
	}
	if got := Names(t, s, "c/"); !slices.Equal(got, []string{"c/one"}) {
		t.Errorf("List = %q, want [c/one] (no temporaries)", got)
	}
	if testing.Short() {
		return
	}
	// Big enough for a multipart upload on S3 (16 MiB parts).
	big := Data(4, 20<<20)
	if err := c.Create(ctx, "c/big", bytes.NewReader(big), int64(len(big))); err != nil {
		t.Fatalf("Create big: %v", err)
	}
	if err := c.Create(ctx, "c/big", bytes.NewReader(big), int64(len(big))); !errors.Is(err, blob.ErrExists) {
		t.Errorf("second Create big = %v, want ErrExists", err)
	}
}

// testCreateRace has several writers Create one name: exactly one wins,
// and the object is the winner's, whole.
func testCreateRace(t *testing.T, s blob.Store) {
	c := creator(t, s)
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			data := bytes.Repeat([]byte{byte('a' + i)}, 256<<10)
			errs[i] = c.Create(context.Background(), "race", bytes.NewReader(data), int64(len(data)))
		}()
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Errorf("Create succeeded for writers %d and %d", winner, i)
			}
			winner = i
		case !errors.Is(err, blob.ErrExists):
			t.Errorf("writer %d: Create = %v, want nil or ErrExists", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no Create succeeded")
	}
	want := bytes.Repeat([]byte{byte('a' + winner)}, 256<<10)
	if got := MustRead(t, s, "race", 0, -1); !bytes.Equal(got, want) {
		t.Errorf("object is not writer %d's data", winner)
	}
}

// testLarge writes an object big enough for a multipart upload on S3.
func testLarge(t *testing.T, s blob.Store) {
	if testing.Short() {
		testenv.Missing(t, "the large object (multipart upload) is skipped in -short mode")
	}
	data := Data(5, 40<<20)
	Put(t, s, "large/pack", data)
	fi, err := s.Stat(context.Background(), "large/pack")
	if err != nil || fi.Size != int64(len(data)) {
		t.Fatalf("Stat = %+v, %v; want size %d", fi, err, len(data))
	}
	got := MustRead(t, s, "large/pack", 0, -1)
	if sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatalf("Get returned %d bytes that differ from the %d put", len(got), len(data))
	}
	// A range across the 16 MiB part boundary.
	off, n := int64(16<<20)-1000, int64(5000)
	if got := MustRead(t, s, "large/pack", off, n); !bytes.Equal(got, data[off:off+n]) {
		t.Errorf("range across part boundary differs")
	}
}

func testConcurrentPuts(t *testing.T, s blob.Store) {
	const workers, each = 8, 4
	var wg sync.WaitGroup
	errc := make(chan error, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				name := fmt.Sprintf("cc/%02d/%02d", w, i)
				data := Data(uint64(100+w*each+i), 64<<10)
				if err := s.Put(context.Background(), name, bytes.NewReader(data), int64(len(data))); err != nil {
					errc <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	names := Names(t, s, "cc/")
	if len(names) != workers*each {
		t.Fatalf("List found %d objects, want %d", len(names), workers*each)
	}
	for w := range workers {
		for i := range each {
			name := fmt.Sprintf("cc/%02d/%02d", w, i)
			if got := MustRead(t, s, name, 0, -1); !bytes.Equal(got, Data(uint64(100+w*each+i), 64<<10)) {
				t.Errorf("%s: content differs", name)
			}
		}
	}
}

// cancelAfter is a reader that cancels its context after n bytes.
type cancelAfter struct {
	r      io.Reader
	n      int
	cancel context.CancelFunc
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	if c.n <= 0 {
		c.cancel()
	}
	if len(p) > c.n && c.n > 0 {
		p = p[:c.n]
	}
	n, err := c.r.Read(p)
	c.n -= n
	return n, err
}

func testContextCancel(t *testing.T, s blob.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Put(ctx, "cancelled", strings.NewReader("x"), 1); err == nil {
		t.Errorf("Put with a cancelled context succeeded")
	}
	if _, err := s.Get(ctx, "cancelled", 0, -1); err == nil {
		t.Errorf("Get with a cancelled context succeeded")
	}
	if _, err := s.Stat(context.Background(), "cancelled"); !blob.IsNotExist(err) {
		t.Errorf("Stat after cancelled Put = %v, want ErrNotExist", err)
	}

	// Cancelled midway: the old version stays, whole.
	old := Data(6, 1000)
	Put(t, s, "midway", old)
	data := Data(7, 8<<20)
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	r := &cancelAfter{r: bytes.NewReader(data), n: 1 << 20, cancel: cancel}
	if err := s.Put(ctx, "midway", r, int64(len(data))); err == nil {
		t.Errorf("Put cancelled midway succeeded")
	}
	if got := MustRead(t, s, "midway", 0, -1); !bytes.Equal(got, old) {
		t.Errorf("after a cancelled Put the object is %d bytes, want the old %d", len(got), len(old))
	}
	if got := Names(t, s, ""); !slices.Equal(got, []string{"midway"}) {
		t.Errorf("List after cancelled Puts = %q, want [midway]", got)
	}
}
