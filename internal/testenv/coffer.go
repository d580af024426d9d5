package testenv

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/coffer-dev/coffer/internal/app"
	"github.com/coffer-dev/coffer/internal/clusterenv"
	"github.com/coffer-dev/coffer/internal/config"
)

// Coffer is a coffer server running inside the test process on a free
// loopback port with a fresh data directory.
type Coffer struct {
	// App is the running server, for tests that need its parts.
	App             *app.App
	URL             string
	Config          config.Config
	CredentialsFile string
	ConfigFile      string
	CAFile          string
}

// StartCoffer starts a server; mutate, when given, adjusts the settings
// before they are validated. The server stops when the test ends.
func StartCoffer(t testing.TB, mutate func(*config.Config)) *Coffer {
	t.Helper()
	cfg := config.DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.Log.Level = "warn"
	if mutate != nil {
		mutate(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	var logw io.Writer = io.Discard
	if os.Getenv("COFFER_TEST_LOG") != "" {
		logw = os.Stderr
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.Open(ctx, cfg, app.NewLogger(cfg.Log, logw).With("test", t.Name()))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ln, err := a.Listen()
	if err != nil {
		cancel()
		a.Close()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("coffer shutdown: %v", err)
		}
		if n := a.AuditFailures(); n > 0 {
			t.Errorf("%d audit events could not be written (COFFER_TEST_LOG=1 shows why)", n)
		}
	})
	scheme := "http"
	if cfg.TLS.Enabled() {
		scheme = "https"
	}
	c := &Coffer{App: a, URL: scheme + "://" + ln.Addr().String(), Config: cfg, CredentialsFile: a.CredentialsFile, ConfigFile: a.ConfigFile, CAFile: a.CAFile}
	return c
}

// Profile reads one profile's keys from the credentials file.
func (c *Coffer) Profile(t testing.TB, name string) aws.Credentials {
	t.Helper()
	creds, err := clusterenv.Profile(c.CredentialsFile, name)
	if err != nil {
		t.Fatal(err)
	}
	return creds
}

// AWSConfig is an aws-sdk-go-v2 configuration for the given static
// credentials, pointed at this server.
func (c *Coffer) AWSConfig(t testing.TB, creds aws.Credentials) aws.Config {
	t.Helper()
	opts := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithRegion(c.Config.DefaultRegion()),
		awsconfig.WithCredentialsProvider(credentials.StaticCredentialsProvider{Value: creds}),
		awsconfig.WithBaseEndpoint(c.URL),
		awsconfig.WithRetryMaxAttempts(1),
		// Keep the developer's own AWS files out of the tests.
		awsconfig.WithSharedConfigFiles([]string{}),
		awsconfig.WithSharedCredentialsFiles([]string{}),
	}
	if c.CAFile != "" {
		f, err := os.Open(c.CAFile)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		opts = append(opts, awsconfig.WithCustomCABundle(f))
	}
	cfg, err := awsconfig.LoadDefaultConfig(context.Background(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// WaitHealthy polls the health endpoint until it answers 200.
func WaitHealthy(t testing.TB, client *http.Client, url string) {
	t.Helper()
	if err := clusterenv.WaitHealthy(context.Background(), client, url, 20*time.Second); err != nil {
		t.Fatal(err)
	}
}
