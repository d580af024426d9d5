package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

const (
	minioUser   = "coffer-bench"
	minioSecret = "coffer-bench-secret"
)

type minioServer struct {
	url, bucket, dir string
	cmd              *exec.Cmd
}

func (s *minioServer) env() []string {
	return []string{"COFFER_BENCH_S3_ACCESS_KEY=" + minioUser, "COFFER_BENCH_S3_SECRET_KEY=" + minioSecret}
}

func (s *minioServer) stop() {
	s.cmd.Process.Kill()
	s.cmd.Wait()
}

// minioBinary looks where internal/testenv does: $COFFER_MINIO_BIN, PATH,
// then scripts/install-minio.sh's cache.
func minioBinary() string {
	if p := os.Getenv("COFFER_MINIO_BIN"); p != "" {
		return p
	}
	if p, err := exec.LookPath("minio"); err == nil {
		return p
	}
	cache := os.Getenv("COFFER_CACHE_DIR")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache", "coffer")
	}
	p := filepath.Join(cache, "bin", "minio")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return ""
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// startMinIO runs a MinIO server on loopback with its data in dir.
func startMinIO(ctx context.Context, dir string) (*minioServer, error) {
	bin := minioBinary()
	if bin == "" {
		return nil, errors.New("no minio binary (run scripts/install-minio.sh)")
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	console, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "server", dir, "--address", addr, "--console-address", console, "--quiet")
	cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+minioUser, "MINIO_ROOT_PASSWORD="+minioSecret, "MINIO_BROWSER=off")
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &minioServer{url: "http://" + addr, bucket: "coffer-bench", dir: dir, cmd: cmd}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(s.url + "/minio/health/live")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("minio did not start on %s", addr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	c, err := minio.New(addr, &minio.Options{Creds: credentials.NewStaticV4(minioUser, minioSecret, ""), Region: "us-east-1"})
	if err == nil {
		err = c.MakeBucket(ctx, s.bucket, minio.MakeBucketOptions{Region: "us-east-1"})
	}
	if err != nil {
		s.stop()
		return nil, fmt.Errorf("create bucket: %w", err)
	}
	return s, nil
}
