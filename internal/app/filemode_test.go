package app_test

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/coffer-dev/coffer/internal/app"
	"github.com/coffer-dev/coffer/internal/config"
	"github.com/coffer-dev/coffer/internal/testenv"
)

// Every file coffer writes in its data directory is 0600 and every
// directory 0700: the SQLite store with its -wal and -shm, the root key,
// the credentials, the self-signed certificate, the blob stores.
func TestDataDirModes(t *testing.T) {
	c := testenv.StartCoffer(t, func(c *config.Config) { c.TLS.SelfSigned = true })
	ctx := context.Background()
	if _, err := kms.NewFromConfig(c.AWSConfig(t, c.Profile(t, "default"))).CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("mode test")}); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	err := filepath.WalkDir(c.Config.DataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		if got := info.Mode().Perm(); got != want {
			t.Errorf("%s: mode %v, want %v", path, got, want)
		}
		seen[filepath.Base(path)] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"coffer.db", "coffer.db-wal", "coffer.db-shm", "root.key", "credentials"} {
		if !seen[name] {
			t.Errorf("%s not in the data directory (test checks nothing)", name)
		}
	}
}

// Coffer warns at start when its data directory is readable by others.
func TestDataDirReadableWarns(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := config.DefaultConfig()
	cfg.Listen, cfg.DataDir = "127.0.0.1:0", dir
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	a, err := app.Open(context.Background(), cfg, app.NewLogger(cfg.Log, &log))
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	if !strings.Contains(log.String(), "readable by others") || !strings.Contains(log.String(), "chmod 700") {
		t.Errorf("no warning about the data directory's mode in the log:\n%s", log.String())
	}
}
