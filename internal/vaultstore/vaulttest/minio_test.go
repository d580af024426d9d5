package vaulttest_test

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"testing"

	"github.com/coffer-dev/coffer/internal/blob/s3"
	"github.com/coffer-dev/coffer/internal/meta/sqlite"
	"github.com/coffer-dev/coffer/internal/storage"
	"github.com/coffer-dev/coffer/internal/testenv"
	"github.com/coffer-dev/coffer/internal/vaultstore"
	"github.com/coffer-dev/coffer/internal/vaultstore/dumpgen"
	"github.com/coffer-dev/coffer/internal/vaultstore/localkeys"
)

// The engine on a real S3 server: us-east-1 on MinIO, eu-west-1 on a
// directory; write, read, copy across regions, verify, rebuild.
func TestOnMinIO(t *testing.T) {
	srv := testenv.StartMinIO(t)
	ctx := context.Background()
	dir := t.TempDir()
	cfg := storage.Config{Regions: map[string]storage.Backend{"us-east-1": {Type: storage.TypeS3, S3: s3.Config{
		Endpoint: srv.URL, Bucket: srv.Bucket, Prefix: "coffer", Region: srv.Region, AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey,
	}}}}
	regions, err := storage.New(cfg, dir, []string{"us-east-1", "eu-west-1"}, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(ctx, filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	keys := localkeys.New()
	e, err := vaultstore.Open(db, keys, regions, vaultstore.Options{PackSize: 4 << 20, Uploads: 2})
	if err != nil {
		t.Fatal(err)
	}
	src := vaultstore.Domain{Region: "us-east-1", Vault: "111122223333.prod", KeyARN: "arn:aws:kms:us-east-1:111122223333:key/a"}
	dst := vaultstore.Domain{Region: "eu-west-1", Vault: "666777888999.backup", KeyARN: "arn:aws:kms:eu-west-1:666777888999:key/b"}
	data, _ := io.ReadAll(dumpgen.Reader(dumpgen.Clustered, 20<<20))
	w, err := e.NewWriter(ctx, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data)
	id, st, err := w.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("write: %+v", st)
	read := func(e *vaultstore.Engine, id vaultstore.ManifestID) []byte {
		r, err := e.OpenReader(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		b, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if !bytes.Equal(read(e, id), data) {
		t.Fatal("read back from MinIO differs")
	}
	cid, cst, err := e.Copy(ctx, id, dst, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("copy to eu-west-1: %+v", cst)
	if !bytes.Equal(read(e, cid), data) {
		t.Fatal("cross-region copy differs")
	}
	rep, err := e.Verify(ctx, vaultstore.VerifyOptions{DataPercent: 100})
	if err != nil || !rep.OK() {
		t.Fatalf("verify: %+v %v", rep, err)
	}
	db2, _ := sqlite.Open(ctx, filepath.Join(dir, "meta2.db"))
	defer db2.Close()
	e2, _ := vaultstore.Open(db2, keys, regions, vaultstore.Options{})
	if rs, err := e2.RebuildIndex(ctx, "us-east-1", ""); err != nil || rs.Manifests != 1 {
		t.Fatalf("rebuild from MinIO: %+v %v", rs, err)
	}
	if !bytes.Equal(read(e2, id), data) {
		t.Fatal("read after rebuild from MinIO differs")
	}
}
