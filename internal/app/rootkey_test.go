package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/coffer-dev/coffer/internal/app"
	"github.com/coffer-dev/coffer/internal/config"
	"github.com/coffer-dev/coffer/internal/rootkey"
	"github.com/coffer-dev/coffer/internal/testenv"
)

// openErr is app.Open's error for cfg (nil when it opens).
func openErr(t *testing.T, cfg config.Config) error {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := app.Open(context.Background(), cfg, app.NewLogger(cfg.Log, io.Discard))
	if err == nil {
		a.Close()
	}
	return err
}

func replaceKey(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, err := rootkey.CreateFile(path); err != nil {
		t.Fatal(err)
	}
}

func wantRefused(t *testing.T, err error, keyFile string, keyExists bool, says ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("coffer started")
	}
	for _, s := range says {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error does not say %q: %v", s, err)
		}
	}
	if _, serr := os.Stat(keyFile); (serr == nil) != keyExists {
		t.Errorf("root key file exists = %v, want %v", serr == nil, keyExists)
	}
}

// On a SQLite store that holds secrets, coffer refuses to start when its
// root key file is missing (and does not make a new one) or holds
// another key; on a store from before the check value, a missing key is
// refused too and the present one is recorded.
func TestRootKeyCheckSQLite(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	use := func(c *config.Config) { c.DataDir = dataDir }
	c := startStoppable(t, use)
	c.stop()
	cfg := c.coffer.Config
	keyFile := cfg.RootKey.File
	saved, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	restore := func() {
		t.Helper()
		if err := os.WriteFile(keyFile, saved, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("missing", func(t *testing.T) {
		if err := os.Remove(keyFile); err != nil {
			t.Fatal(err)
		}
		wantRefused(t, openErr(t, cfg), keyFile, false, "root key file "+keyFile+" does not exist", "coffer.db", "does not create one", "Restore root.key")
		restore()
	})
	t.Run("another key", func(t *testing.T) {
		replaceKey(t, keyFile)
		wantRefused(t, openErr(t, cfg), keyFile, true, "is not the key the secrets in the metadata store", "restore that root key")
		restore()
	})
	t.Run("store from before the check value", func(t *testing.T) {
		store, err := app.OpenStore(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.ExecContext(context.Background(), `UPDATE root_key_check SET sealed = NULL`); err != nil {
			t.Fatal(err)
		}
		store.Close()
		if err := os.Remove(keyFile); err != nil {
			t.Fatal(err)
		}
		wantRefused(t, openErr(t, cfg), keyFile, false, "does not exist")
		restore()
		if err := openErr(t, cfg); err != nil {
			t.Fatalf("with its key: %v", err)
		}
		replaceKey(t, keyFile)
		wantRefused(t, openErr(t, cfg), keyFile, true, "is not the key")
		restore()
	})
	// With its own key it starts and serves.
	c = startStoppable(t, use)
	defer c.stop()
	if _, err := sts.NewFromConfig(c.coffer.AWSConfig(t, c.coffer.Profile(t, "default"))).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatal(err)
	}
}

// A second node joining a shared PostgreSQL store starts only with the
// first node's root key: with none it does not create one, with another
// it refuses.
func TestRootKeyCheckSharedPostgres(t *testing.T) {
	pg := testenv.StartPostgres(t)
	dsn := pg.CreateDatabase(t, "coffer")
	first := startStoppable(t, func(c *config.Config) { c.DataDir, c.Database = filepath.Join(t.TempDir(), "a"), dsn })
	defer first.stop()
	cfg := config.DefaultConfig()
	cfg.Listen, cfg.Database, cfg.DataDir = "127.0.0.1:0", dsn, filepath.Join(t.TempDir(), "b")
	cfg.Log.Level = "warn"
	keyFile := filepath.Join(cfg.DataDir, "root.key")

	wantRefused(t, openErr(t, cfg), keyFile, false, "does not exist", "PostgreSQL", "copy it from another node")
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := rootkey.CreateFile(keyFile); err != nil {
		t.Fatal(err)
	}
	wantRefused(t, openErr(t, cfg), keyFile, true, "is not the key", "same root key as the other nodes")

	key, err := os.ReadFile(first.coffer.Config.RootKey.File)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, key, 0o600); err != nil {
		t.Fatal(err)
	}
	second := startStoppable(t, func(c *config.Config) { *c = cfg })
	defer second.stop()
	if _, err := sts.NewFromConfig(second.coffer.AWSConfig(t, first.coffer.Profile(t, "default"))).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatal(err)
	}
}

// Health reports the root key's provider and that it opens the store's
// check value.
func TestHealthReportsRootKey(t *testing.T) {
	c := testenv.StartCoffer(t, nil)
	testenv.WaitHealthy(t, http.DefaultClient, c.URL) // the job queue may still be starting
	resp, err := http.Get(c.URL + "/_coffer/health")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct {
		Status  string
		RootKey struct{ Provider, Status string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || got.Status != "ok" || got.RootKey.Provider != "file" || got.RootKey.Status != "ok" {
		t.Fatalf("health = %d %+v", resp.StatusCode, got)
	}
}
