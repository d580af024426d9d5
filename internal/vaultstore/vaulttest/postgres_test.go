package vaulttest_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/coffer-dev/coffer/internal/meta"
	"github.com/coffer-dev/coffer/internal/meta/postgres"
	"github.com/coffer-dev/coffer/internal/testenv"
	"github.com/coffer-dev/coffer/internal/vaultstore/vaulttest"
)

func TestSuitePostgres(t *testing.T) {
	srv := testenv.StartPostgres(t)
	n := 0
	vaulttest.Run(t, func(t *testing.T) meta.Store {
		n++
		s, err := postgres.Open(context.Background(), srv.CreateDatabase(t, fmt.Sprintf("vs%d", n)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
