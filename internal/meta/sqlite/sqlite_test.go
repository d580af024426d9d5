package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/coffer-dev/coffer/internal/meta"
	"github.com/coffer-dev/coffer/internal/meta/metatest"
	"github.com/coffer-dev/coffer/internal/meta/sqlite"
)

func TestSuite(t *testing.T) {
	metatest.Run(t, func(t *testing.T) meta.Store {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "meta.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestReopenKeepsSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "meta.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	v1, _ := s.SchemaVersion(ctx)
	s.Close()
	s, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	v2, _ := s.SchemaVersion(ctx)
	if v1 != v2 || v1 == 0 {
		t.Fatalf("versions %d then %d", v1, v2)
	}
}
