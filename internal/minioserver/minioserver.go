// Package minioserver runs a throwaway MinIO server on loopback, for the
// tests (through internal/testenv) and for `coffer bench storage`: the
// binary is found where scripts/install-minio.sh puts it, the server gets
// free ports and its own directory, and Start returns once it is live and
// holds one empty bucket.
package minioserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// ErrNoBinary is Start's error when there is no minio binary.
var ErrNoBinary = errors.New("minio server binary not found ($COFFER_MINIO_BIN, PATH, ~/.cache/coffer/bin/minio); run scripts/install-minio.sh")

// Server is a running MinIO server with one bucket.
type Server struct {
	Endpoint  string // host:port, e.g. "127.0.0.1:40123"
	URL       string // "http://" + Endpoint
	AccessKey string
	SecretKey string
	Region    string
	Bucket    string
	Dir       string // holds the data (Dir/data) and the log (Dir/minio.log)

	stop func()
}

// Binary returns the path of the minio server binary, or "" if there is
// none. It looks at $COFFER_MINIO_BIN, then PATH, then where
// scripts/install-minio.sh puts it: ${COFFER_CACHE_DIR:-$HOME/.cache/coffer}/bin/minio.
func Binary() string {
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

// Start runs a server with its files under s.Dir and the credentials,
// region and bucket s names, and fills in Endpoint and URL. Stop ends it.
func Start(ctx context.Context, s Server) (*Server, error) {
	bin := Binary()
	if bin == "" {
		return nil, ErrNoBinary
	}
	// A free port can be taken between our probe and MinIO's bind: retry.
	var err error
	for try := 0; try < 3; try++ {
		if err = s.run(bin, ""); err == nil {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	c, err := minio.New(s.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""), Region: s.Region})
	if err == nil {
		err = c.MakeBucket(ctx, s.Bucket, minio.MakeBucketOptions{Region: s.Region})
	}
	if err != nil {
		s.Stop()
		return nil, fmt.Errorf("create bucket %s on minio: %w", s.Bucket, err)
	}
	return &s, nil
}

// Restart starts a server Stop stopped again, on the same address and
// data, for tests of a storage outage.
func (s *Server) Restart() error {
	bin := Binary()
	if bin == "" {
		return ErrNoBinary
	}
	return s.run(bin, s.Endpoint)
}

// Stop ends the server (SIGTERM, then SIGKILL after 10 s).
func (s *Server) Stop() {
	if s.stop != nil {
		s.stop()
	}
}

// LogTail is the end of the server's log.
func (s *Server) LogTail() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "minio.log"))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(bytes.TrimSpace(b))
}

// run starts the server on addr, or a free port when addr is "".
func (s *Server) run(bin, addr string) error {
	var err error
	if addr == "" {
		if addr, err = freePort(); err != nil {
			return err
		}
	}
	console, err := freePort()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(s.Dir, "minio.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(bin, "server", filepath.Join(s.Dir, "data"), "--address", addr, "--console-address", console, "--quiet")
	cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+s.AccessKey,
		"MINIO_ROOT_PASSWORD="+s.SecretKey,
		"MINIO_REGION="+s.Region,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
		"MINIO_CI_CD=1",
		"HOME="+s.Dir, // keeps ~/.minio (certs, config) out of the real home
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("run %s: %w", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-exited
			}
		})
	}
	live := "http://" + addr + "/minio/health/live"
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-exited:
			return fmt.Errorf("minio exited before it was live (%v); log:\n%s", err, s.LogTail())
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
			return fmt.Errorf("minio at %s not live after 60s; log:\n%s", addr, s.LogTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.Endpoint, s.URL, s.stop = addr, "http://"+addr, stop
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
