package vaultstore_test

import (
	"context"
	"io"
	"path/filepath"
	"testing"

	"github.com/coffer-dev/coffer/internal/blob"
	"github.com/coffer-dev/coffer/internal/blob/fs"
	"github.com/coffer-dev/coffer/internal/vaultstore"
	"github.com/coffer-dev/coffer/internal/vaultstore/dumpgen"
	"github.com/coffer-dev/coffer/internal/vaultstore/localkeys"
)

type dirStores string

func (d dirStores) Store(region string) (blob.Store, error) {
	return fs.New(filepath.Join(string(d), region))
}

// BenchmarkWriteRead writes and reads a 128 MiB dump (go test -bench).
func BenchmarkWriteRead(b *testing.B) {
	const size = 128 << 20
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		db := openSQLite(&testing.T{})
		e, err := vaultstore.Open(db, localkeys.New(), dirStores(b.TempDir()), vaultstore.Options{})
		if err != nil {
			b.Fatal(err)
		}
		d := vaultstore.Domain{Region: "us-east-1", Vault: "bench", KeyARN: "arn:aws:kms:us-east-1:111122223333:key/bench"}
		b.StartTimer()
		w, err := e.NewWriter(ctx, d, nil)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(w, dumpgen.Reader(dumpgen.Base, size))
		id, st, err := w.Commit(ctx)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(st.BytesWritten)/float64(size), "stored/in")
		r, err := e.OpenReader(ctx, id)
		if err != nil {
			b.Fatal(err)
		}
		if n, err := io.Copy(io.Discard, r); err != nil || n != size {
			b.Fatal(n, err)
		}
		r.Close()
		db.Close()
	}
	b.SetBytes(size)
}
