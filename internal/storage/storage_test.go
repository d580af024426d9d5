package storage_test

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"

	"github.com/coffer-dev/coffer/internal/blob"
	"github.com/coffer-dev/coffer/internal/blob/s3"
	"github.com/coffer-dev/coffer/internal/storage"
	"github.com/coffer-dev/coffer/internal/testenv"
)

var regions = []string{"us-east-1", "eu-west-1"}

func roundTrip(t *testing.T, s blob.Store) {
	t.Helper()
	ctx := context.Background()
	if err := s.Put(ctx, "v/x", bytes.NewReader([]byte("data")), 4); err != nil {
		t.Fatal(err)
	}
	rc, err := s.Get(ctx, "v/x", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "data" {
		t.Fatalf("got %q", b)
	}
}

func TestDefaultDirectories(t *testing.T) {
	dir := t.TempDir()
	r, err := storage.New(storage.Config{}, dir, regions, storage.Options{Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	for _, reg := range regions {
		s, err := r.Store(reg)
		if err != nil {
			t.Fatal(err)
		}
		roundTrip(t, s)
		if _, ok := s.(blob.Creator); !ok {
			t.Errorf("%s: wrapped directory store lost Create", reg)
		}
		s2, _ := r.Store(reg)
		if s2 != s {
			t.Errorf("%s: store not reused", reg)
		}
	}
	if _, err := filepath.Glob(filepath.Join(dir, "regions", "eu-west-1", "vaults", "v", "x")); err != nil {
		t.Fatal(err)
	}
	if got, _ := filepath.Glob(filepath.Join(dir, "regions", "*", "vaults", "v", "x")); len(got) != 2 {
		t.Fatalf("objects at %v, want one per region under regions/REGION/vaults", got)
	}
	if _, err := r.Store("ap-south-1"); err == nil {
		t.Fatal("unconfigured region opened")
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, err string
	}{
		{"ok dir", "regions:\n  us-east-1:\n    dir: /tmp/x\n", ""},
		{"ok s3", "regions:\n  eu-west-1:\n    type: s3\n    s3:\n      endpoint: http://127.0.0.1:9000\n      bucket: b\n", ""},
		{"unknown region", "regions:\n  xx-east-9:\n    dir: /tmp\n", "not among the configured regions"},
		{"bad type", "regions:\n  us-east-1:\n    type: nfs\n", "not dir or s3"},
		{"s3 without bucket", "regions:\n  us-east-1:\n    type: s3\n    s3:\n      endpoint: http://x\n", "bucket is required"},
		{"s3 half credentials", "regions:\n  us-east-1:\n    type: s3\n    s3:\n      endpoint: http://x\n      bucket: b\n      access_key_id: AK\n", "secret_access_key"},
		{"s3 settings on dir", "regions:\n  us-east-1:\n    s3:\n      bucket: b\n", "set type: s3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c storage.Config
			dec := yaml.NewDecoder(strings.NewReader(tc.yaml))
			dec.KnownFields(true)
			if err := dec.Decode(&c); err != nil {
				t.Fatal(err)
			}
			err := c.Validate(regions)
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("err = %v, want %q", err, tc.err)
			}
		})
	}
}

func TestS3Region(t *testing.T) {
	srv := testenv.StartMinIO(t)
	cfg := storage.Config{Regions: map[string]storage.Backend{"eu-west-1": {Type: storage.TypeS3, S3: s3.Config{
		Endpoint: srv.URL, Bucket: srv.Bucket, Prefix: "vaults", Region: srv.Region, AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey,
	}}}}
	if err := cfg.Validate(regions); err != nil {
		t.Fatal(err)
	}
	r, err := storage.New(cfg, t.TempDir(), regions, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := r.Store("eu-west-1")
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, s)
	// Wrong credentials: a clear error naming the region.
	bad := cfg
	bad.Regions = map[string]storage.Backend{"eu-west-1": {Type: storage.TypeS3, S3: s3.Config{Endpoint: srv.URL, Bucket: srv.Bucket, Region: srv.Region, AccessKeyID: "nobody", SecretAccessKey: "wrong-secret"}}}
	r2, _ := storage.New(bad, t.TempDir(), regions, storage.Options{})
	if _, err := r2.Store("eu-west-1"); err == nil || !strings.Contains(err.Error(), "eu-west-1") {
		t.Fatalf("wrong credentials: %v", err)
	}
	// A missing bucket.
	bad.Regions = map[string]storage.Backend{"eu-west-1": {Type: storage.TypeS3, S3: s3.Config{Endpoint: srv.URL, Bucket: "no-such-bucket", Region: srv.Region, AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey}}}
	r3, _ := storage.New(bad, t.TempDir(), regions, storage.Options{})
	if _, err := r3.Store("eu-west-1"); err == nil || !strings.Contains(err.Error(), "no-such-bucket") {
		t.Fatalf("missing bucket: %v", err)
	}
}
