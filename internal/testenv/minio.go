package testenv

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/coffer-dev/coffer/internal/minioserver"
)

// MinIOServer is a running MinIO server with one empty bucket.
type MinIOServer = minioserver.Server

// StartMinIO starts a MinIO server on free loopback ports with its data
// in a temporary directory, waits until it is live, creates a bucket, and
// stops it when the test ends. Without a minio binary it calls Missing
// (run scripts/install-minio.sh).
func StartMinIO(t testing.TB) MinIOServer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	srv, err := minioserver.Start(ctx, minioserver.Server{
		AccessKey: "coffer-test-access",
		SecretKey: "coffer-test-secret-key",
		Region:    "us-east-1",
		Bucket:    "coffer-test",
		Dir:       t.TempDir(),
	})
	if errors.Is(err, minioserver.ErrNoBinary) {
		Missing(t, "%v", err)
	}
	if err != nil {
		t.Fatalf("start minio: %v", err)
	}
	t.Cleanup(func() {
		srv.Stop()
		if t.Failed() {
			if s := srv.LogTail(); s != "" && !strings.Contains(s, "Exiting on signal") {
				t.Logf("minio log:\n%s", s)
			}
		}
	})
	return *srv
}
