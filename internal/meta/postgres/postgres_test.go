package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/coffer-dev/coffer/internal/meta"
	"github.com/coffer-dev/coffer/internal/meta/metatest"
	"github.com/coffer-dev/coffer/internal/meta/postgres"
	"github.com/coffer-dev/coffer/internal/testenv"
)

func TestSuite(t *testing.T) {
	srv := testenv.StartPostgres(t)
	n := 0
	metatest.Run(t, func(t *testing.T) meta.Store {
		n++
		dsn := srv.CreateDatabase(t, fmt.Sprintf("suite%d", n))
		s, err := postgres.Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// Several nodes starting at once migrate the schema exactly once.
func TestConcurrentMigration(t *testing.T) {
	srv := testenv.StartPostgres(t)
	dsn := srv.CreateDatabase(t, "concurrent")
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := postgres.Open(context.Background(), dsn)
			if err != nil {
				errs <- err
				return
			}
			s.Close()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
