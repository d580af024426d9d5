package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/coffer-dev/coffer/internal/blob/s3"
	"github.com/coffer-dev/coffer/internal/meta/sqlite"
	"github.com/coffer-dev/coffer/internal/storage"
	"github.com/coffer-dev/coffer/internal/vaultstore"
	"github.com/coffer-dev/coffer/internal/vaultstore/localkeys"
)

// WorkerArgs say what one worker process does.
type WorkerArgs struct {
	Repo       string // SQLite database, key file and (without S3) data
	Op         string // backup, restore or copy
	File       string // input (backup) or output (restore)
	Manifest   string // restore and copy
	S3Endpoint string // store data in this bucket (credentials from COFFER_BENCH_S3_*)
	S3Bucket   string
}

var (
	srcDomain = vaultstore.Domain{Region: "us-east-1", Vault: "bench", KeyARN: "arn:aws:kms:us-east-1:111122223333:key/11111111-2222-3333-4444-555555555555"}
	dstDomain = vaultstore.Domain{Region: "us-east-1", Vault: "bench-copy", KeyARN: "arn:aws:kms:us-east-1:666777888999:key/66666666-7777-8888-9999-000000000000"}
)

// Worker runs one operation of the benchmark in this process and prints
// its result as JSON.
func Worker(ctx context.Context, a WorkerArgs, out io.Writer) error {
	db, err := sqlite.Open(ctx, filepath.Join(a.Repo, "coffer.db"))
	if err != nil {
		return err
	}
	defer db.Close()
	keys, err := localkeys.LoadOrCreate(filepath.Join(a.Repo, "kek"))
	if err != nil {
		return err
	}
	cfg := storage.Config{}
	if a.S3Endpoint != "" {
		cfg.Regions = map[string]storage.Backend{"us-east-1": {Type: storage.TypeS3, S3: s3.Config{
			Endpoint: a.S3Endpoint, Bucket: a.S3Bucket, Region: "us-east-1",
			AccessKeyID: os.Getenv("COFFER_BENCH_S3_ACCESS_KEY"), SecretAccessKey: os.Getenv("COFFER_BENCH_S3_SECRET_KEY"),
		}}}
	}
	regions, err := storage.New(cfg, a.Repo, []string{"us-east-1"}, storage.Options{})
	if err != nil {
		return err
	}
	e, err := vaultstore.Open(db, keys, regions, vaultstore.Options{})
	if err != nil {
		return err
	}
	var res workerResult
	switch a.Op {
	case "backup":
		f, err := os.Open(a.File)
		if err != nil {
			return err
		}
		defer f.Close()
		w, err := e.NewWriter(ctx, srcDomain, map[string]string{"file": filepath.Base(a.File)})
		if err != nil {
			return err
		}
		if _, err := io.Copy(w, f); err != nil {
			w.Abort()
			return err
		}
		id, st, err := w.Commit(ctx)
		if err != nil {
			return err
		}
		res = workerResult{Manifest: string(id), BytesIn: st.BytesIn, BytesWritten: st.BytesWritten, ChunksReused: st.ChunksReused, Chunks: st.Chunks}
	case "restore":
		r, err := e.OpenReader(ctx, vaultstore.ManifestID(a.Manifest))
		if err != nil {
			return err
		}
		defer r.Close()
		f, err := os.Create(a.File)
		if err != nil {
			return err
		}
		n, err := io.Copy(f, r)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		res = workerResult{Manifest: a.Manifest, BytesIn: n}
	case "copy":
		id, st, err := e.Copy(ctx, vaultstore.ManifestID(a.Manifest), dstDomain, nil)
		if err != nil {
			return err
		}
		res = workerResult{Manifest: string(id), BytesIn: st.BytesIn, BytesWritten: st.BytesWritten, ChunksReused: st.ChunksReused, Chunks: st.Chunks}
	default:
		return fmt.Errorf("unknown worker operation %q", a.Op)
	}
	return json.NewEncoder(out).Encode(res)
}
