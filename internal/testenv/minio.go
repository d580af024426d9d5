package testenv

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// MinIOServer is a running MinIO server with one empty bucket.
type MinIOServer struct {
	Endpoint  string // host:port, e.g. "127.0.0.1:40123"
	URL       string // "http://" + Endpoint
	AccessKey string
	SecretKey string
	Region    string
	Bucket    string
	Dir       string // the server's data directory
}

// MinIOBinary returns the path of the minio server binary, or "" if
// there is none. It looks at $COFFER_MINIO_BIN, then PATH, then where
// scripts/install-minio.sh puts it:
// ${COFFER_CACHE_DIR:-$HOME/.cache/coffer}/bin/minio.
func MinIOBinary() string {
	if p := os.Getenv("COFFER_MINIO_BIN"); p != "" {
		return p
	}
	if p, err := exec.LookPath("minio"); err == nil {
		return p
	}
	cache := os.Getenv("COFFER_CACHE_DIR")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		cache = filepath.Join(home, ".cache", "coffer")
	}
	p := filepath.Join(cache, "bin", "minio")
	if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
		return p
	}
	return ""
}

// StartMinIO starts a MinIO server on free loopback ports with its data
// in a temporary directory, waits until it is live, creates a bucket, and
// stops it when the test ends. Without a minio binary it calls Missing
// (run scripts/install-minio.sh).
func StartMinIO(t testing.TB) MinIOServer {
	t.Helper()
	bin := MinIOBinary()
	if bin == "" {
		Missing(t, "minio server binary not found ($COFFER_MINIO_BIN, PATH, ~/.cache/coffer/bin/minio); run scripts/install-minio.sh")
	}
	srv := MinIOServer{
		AccessKey: "coffer-test-access",
		SecretKey: "coffer-test-secret-key",
		Region:    "us-east-1",
		Bucket:    "coffer-test",
		Dir:       t.TempDir(),
	}
	// A free port can be taken between our probe and MinIO's bind: retry.
	var lastErr error
	for try := 0; try < 3; try++ {
		if lastErr = startMinIO(t, bin, &srv); lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		t.Fatalf("start minio: %v", lastErr)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, err := minio.New(srv.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(srv.AccessKey, srv.SecretKey, ""),
		Region: srv.Region,
	})
	if err != nil {
		t.Fatalf("minio client: %v", err)
	}
	if err := client.MakeBucket(ctx, srv.Bucket, minio.MakeBucketOptions{Region: srv.Region}); err != nil {
		t.Fatalf("create bucket %s on minio: %v", srv.Bucket, err)
	}
	return srv
}

func startMinIO(t testing.TB, bin string, srv *MinIOServer) error {
	t.Helper()
	addr, err := freePort()
	if err != nil {
		return err
	}
	console, err := freePort()
	if err != nil {
		return err
	}
	logPath := filepath.Join(t.TempDir(), "minio.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logf.Close()
	data := filepath.Join(srv.Dir, "data")
	cmd := exec.Command(bin, "server", data, "--address", addr, "--console-address", console, "--quiet")
	cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+srv.AccessKey,
		"MINIO_ROOT_PASSWORD="+srv.SecretKey,
		"MINIO_REGION="+srv.Region,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
		"MINIO_CI_CD=1",
		"HOME="+srv.Dir, // keeps ~/.minio (certs, config) out of the real home
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("run %s: %w", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}
	tail := func() string {
		b, _ := os.ReadFile(logPath)
		if len(b) > 2000 {
			b = b[len(b)-2000:]
		}
		return string(bytes.TrimSpace(b))
	}

	live := "http://" + addr + "/minio/health/live"
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-exited:
			return fmt.Errorf("minio exited before it was live (%v); log:\n%s", err, tail())
		default:
		}
		resp, err := http.Get(live)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			stop()
			return fmt.Errorf("minio at %s not live after 60s; log:\n%s", addr, tail())
		}
		time.Sleep(50 * time.Millisecond)
	}
	srv.Endpoint = addr
	srv.URL = "http://" + addr
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			if s := tail(); s != "" && !strings.Contains(s, "Exiting on signal") {
				t.Logf("minio log:\n%s", s)
			}
		}
	})
	return nil
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
