package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/coffer-dev/coffer/internal/clusterenv"
	"github.com/coffer-dev/coffer/internal/config"
	"github.com/coffer-dev/coffer/internal/testenv"
)

var buildOnce struct {
	sync.Once
	path string
	err  error
}

// binary builds coffer once per test run.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "coffer-bin-")
		if err != nil {
			buildOnce.err = err
			return
		}
		buildOnce.path = filepath.Join(dir, "coffer")
		out, err := exec.Command("go", "build", "-o", buildOnce.path, ".").CombinedOutput()
		if err != nil {
			buildOnce.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildOnce.err != nil {
		t.Fatal(buildOnce.err)
	}
	return buildOnce.path
}

// process is a coffer serve process and its log.
type process struct {
	*clusterenv.Node
	stderr *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func startServe(t *testing.T, env []string, args ...string) *process {
	t.Helper()
	p := &process{stderr: &syncBuffer{}}
	n, err := clusterenv.StartServe(context.Background(), binary(t), env, p.stderr, args...)
	if n != nil {
		t.Cleanup(func() { n.Cmd.Process.Kill(); n.Cmd.Wait() })
	}
	if err != nil {
		t.Fatalf("%v\n%s", err, p.stderr)
	}
	p.Node = n
	return p
}

// stop sends SIGTERM and expects a clean exit.
func (p *process) stop(t *testing.T) {
	t.Helper()
	if err := p.Stop(30 * time.Second); err != nil {
		t.Fatalf("%v\n%s", err, p.stderr)
	}
}

func callerARN(t *testing.T, url, credsFile string) string {
	t.Helper()
	c := &testenv.Coffer{URL: url, CredentialsFile: credsFile, Config: config.DefaultConfig()}
	out, err := sts.NewFromConfig(c.AWSConfig(t, c.Profile(t, "default"))).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.Arn)
}

// Settings from a YAML file, overridden by COFFER_* variables, overridden
// by flags; JSON logs with one line per request and no secret in them; a
// clean stop on SIGTERM; a restart keeps the bootstrap.
func TestServeLifecycle(t *testing.T) {
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	cfgFile := filepath.Join(dir, "coffer.yaml")
	os.WriteFile(cfgFile, []byte("dataDir: "+filepath.Join(dir, "ignored")+"\nlog:\n  format: text\n"), 0o600)
	env := []string{"COFFER_DATA_DIR=" + dataDir, "COFFER_LOG_FORMAT=text"}

	p := startServe(t, env, "--config", cfgFile, "--log-format", "json")
	creds := filepath.Join(dataDir, "credentials")
	if got := callerARN(t, p.URL, creds); got != "arn:aws:iam::000000000000:user/admin" {
		t.Fatalf("caller = %s", got)
	}
	p.stop(t)
	if _, err := os.Stat(filepath.Join(dir, "ignored")); err == nil {
		t.Error("the config file's dataDir was used although COFFER_DATA_DIR overrides it")
	}

	secret := (&testenv.Coffer{CredentialsFile: creds}).Profile(t, "default").SecretAccessKey
	logs := p.stderr.String()
	if strings.Contains(logs, secret) {
		t.Fatal("the secret access key appears in the logs")
	}
	var found bool
	sc := bufio.NewScanner(strings.NewReader(logs))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %s", line)
		}
		if rec["msg"] == "request" && rec["operation"] == "GetCallerIdentity" {
			found = true
			for _, k := range []string{"request_id", "account", "service", "status", "latency"} {
				if _, ok := rec[k]; !ok {
					t.Errorf("request log line lacks %q: %s", k, line)
				}
			}
		}
	}
	if !found {
		t.Fatalf("no JSON request log line for GetCallerIdentity in:\n%s", logs)
	}

	before, _ := os.ReadFile(creds)
	p = startServe(t, env, "--config", cfgFile)
	if got := callerARN(t, p.URL, creds); got != "arn:aws:iam::000000000000:user/admin" {
		t.Fatalf("after restart caller = %s", got)
	}
	after, _ := os.ReadFile(creds)
	if !bytes.Equal(before, after) {
		t.Error("a restart rewrote the credentials file")
	}
	p.stop(t)
}

func TestServeOnPostgres(t *testing.T) {
	pg := testenv.StartPostgres(t)
	dsn := pg.CreateDatabase(t, "coffer")
	dataDir := t.TempDir()
	p := startServe(t, nil, "--data-dir", dataDir, "--database", dsn)
	if got := callerARN(t, p.URL, filepath.Join(dataDir, "credentials")); got != "arn:aws:iam::000000000000:user/admin" {
		t.Fatalf("caller = %s", got)
	}
	p.stop(t)
	if _, err := os.Stat(filepath.Join(dataDir, "coffer.db")); err == nil {
		t.Error("a SQLite database was created although PostgreSQL was configured")
	}
}

func TestServeRejectsBadSettings(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"bad listen", []string{"--listen", "nowhere"}, nil, "listen address"},
		{"bad log format", []string{"--log-format", "xml"}, nil, "log format"},
		{"bad region", []string{"--regions", "moon"}, nil, "not an AWS region"},
		{"mysql database", []string{"--database", "mysql://x"}, nil, "postgres://"},
		{"half tls", []string{"--tls-cert", "c.pem"}, nil, "both"},
		{"bad env bool", nil, []string{"COFFER_TLS_SELF_SIGNED=maybe"}, "COFFER_TLS_SELF_SIGNED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(binary(t), append([]string{"serve", "--data-dir", t.TempDir()}, tt.args...)...)
			cmd.Env = append(os.Environ(), tt.env...)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("coffer serve accepted %v", tt.args)
			}
			if !strings.Contains(string(out), tt.want) {
				t.Fatalf("output %q does not mention %q", out, tt.want)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	out, err := exec.Command(binary(t), "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "coffer ") {
		t.Fatalf("version: %v %s", err, out)
	}
}
