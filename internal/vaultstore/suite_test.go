package vaultstore_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/coffer-dev/coffer/internal/meta"
	"github.com/coffer-dev/coffer/internal/meta/sqlite"
	"github.com/coffer-dev/coffer/internal/vaultstore/vaulttest"
)

func openSQLite(t *testing.T) meta.Store {
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// The suite on SQLite; vaulttest's own tests run it on PostgreSQL.
func TestSuite(t *testing.T) { vaulttest.Run(t, openSQLite) }
