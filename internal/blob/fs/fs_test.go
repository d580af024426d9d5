package fs_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/coffer-dev/coffer/internal/blob"
	"github.com/coffer-dev/coffer/internal/blob/blobtest"
	"github.com/coffer-dev/coffer/internal/blob/fs"
)

func newStore(t *testing.T) *fs.Store {
	t.Helper()
	s, err := fs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSuite(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store { return newStore(t) })
}

// TestSuiteWrapped runs the suite through every wrapper.
func TestSuiteWrapped(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store {
		s, err := blob.Wrap(newStore(t), blob.WrapOptions{
			Name:          "test",
			Retry:         blob.RetryOptions{MaxAttempts: 3, BaseDelay: time.Millisecond},
			MaxConcurrent: 4,
		})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestTempFiles(t *testing.T) {
	s := newStore(t)
	blobtest.Put(t, s, "d/obj", []byte("x"))
	fresh := filepath.Join(s.Root(), "d", blob.TempPrefix+"fresh")
	stale := filepath.Join(s.Root(), "d", blob.TempPrefix+"stale")
	for _, p := range []string{fresh, stale} {
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * fs.TempMaxAge)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	if got := blobtest.Names(t, s, ""); !slices.Equal(got, []string{"d/obj"}) {
		t.Errorf("List = %q, want [d/obj]", got)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale temporary file still there after List (%v)", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("fresh temporary file removed by List: %v", err)
	}
}

func TestFilesOnDisk(t *testing.T) {
	s := newStore(t)
	blobtest.Put(t, s, "a/b/c", []byte("hello"))
	b, err := os.ReadFile(filepath.Join(s.Root(), "a", "b", "c"))
	if err != nil || string(b) != "hello" {
		t.Fatalf("file on disk = %q, %v", b, err)
	}
	ents, _ := os.ReadDir(filepath.Join(s.Root(), "a", "b"))
	if len(ents) != 1 {
		t.Errorf("directory holds %d entries, want 1 (no temporaries left)", len(ents))
	}
}
