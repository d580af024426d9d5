package app_test

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/coffer-dev/coffer/internal/app"
	"github.com/coffer-dev/coffer/internal/config"
	"github.com/coffer-dev/coffer/internal/identity"
	"github.com/coffer-dev/coffer/internal/testenv"
)

type callerIdentity struct{ UserId, Account, Arn string }

func cliCallerIdentity(t *testing.T, cli string, c *testenv.Coffer, profile string) callerIdentity {
	t.Helper()
	cmd := exec.Command(cli, "--endpoint-url", c.URL, "--output", "json", "sts", "get-caller-identity")
	cmd.Env = c.CLIEnv(profile)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s sts get-caller-identity: %v\n%s", cli, err, out)
	}
	var id callerIdentity
	if err := json.Unmarshal(out, &id); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	return id
}

// The bootstrap administrator works at once from the credentials file,
// with both AWS CLIs, over HTTP and over TLS with a self-signed
// certificate.
func TestCLIGetCallerIdentity(t *testing.T) {
	clis := map[string]func(testing.TB) string{"v1": testenv.AWSCLIv1, "v2": testenv.AWSCLIv2}
	transports := map[string]func(*config.Config){
		"http": nil,
		"tls":  func(c *config.Config) { c.TLS.SelfSigned = true },
	}
	for tname, mutate := range transports {
		c := testenv.StartCoffer(t, mutate)
		for cname, find := range clis {
			t.Run(tname+"/"+cname, func(t *testing.T) {
				cli := find(t)
				id := cliCallerIdentity(t, cli, c, "default")
				want := "arn:aws:iam::" + identity.DefaultManagementAccountID + ":user/admin"
				if id.Arn != want || id.Account != identity.DefaultManagementAccountID || !strings.HasPrefix(id.UserId, "AIDA") {
					t.Fatalf("identity = %+v, want Arn %s", id, want)
				}
			})
		}
	}
}

func TestCredentialsFileMode(t *testing.T) {
	c := testenv.StartCoffer(t, nil)
	for _, f := range []string{c.CredentialsFile, filepath.Join(c.Config.DataDir, "root.key")} {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode = %v, want 0600", f, st.Mode().Perm())
		}
	}
}

// A bootstrap file declares accounts with fixed IDs and users with fixed
// keys; each user's profile works.
func TestBootstrapFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bootstrap.yaml")
	err := os.WriteFile(path, []byte(`
organizations:
  - managementAccount: "123456789012"
    members: ["111222333444", "666777888999"]
  - managementAccount: "999988887777"
accounts:
  - {id: "123456789012", name: management}
  - {id: "111222333444", name: source}
  - {id: "666777888999", name: backup}
  - {id: "999988887777", name: outsider}
users:
  - {account: "123456789012", name: admin, profile: default}
  - {account: "111222333444", name: admin, profile: source, accessKeyId: AKIASOURCE0000000001, secretAccessKey: source-secret-key-0001}
  - {account: "666777888999", name: operator, profile: backup}
`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	c := testenv.StartCoffer(t, func(cfg *config.Config) { cfg.Bootstrap = path })
	tests := []struct{ profile, arn string }{
		{"default", "arn:aws:iam::123456789012:user/admin"},
		{"source", "arn:aws:iam::111222333444:user/admin"},
		{"backup", "arn:aws:iam::666777888999:user/operator"},
	}
	for _, tt := range tests {
		t.Run(tt.profile, func(t *testing.T) {
			creds := c.Profile(t, tt.profile)
			out, err := sts.NewFromConfig(c.AWSConfig(t, creds)).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
			if err != nil {
				t.Fatal(err)
			}
			if got := aws.ToString(out.Arn); got != tt.arn {
				t.Errorf("Arn = %s, want %s", got, tt.arn)
			}
		})
	}
	if got := c.Profile(t, "source").AccessKeyID; got != "AKIASOURCE0000000001" {
		t.Errorf("source key = %s, want the declared one", got)
	}
}

func TestBootstrapFileRejected(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"bad account id", `accounts: [{id: "12345", name: x}]`, "12 digits"},
		{"undeclared member", "organizations: [{managementAccount: \"111111111111\"}]\naccounts: []", "not declared"},
		{"unknown field", `acounts: []`, "field acounts not found"},
		{"half a key", "accounts: [{id: \"111111111111\", name: a}]\nusers: [{account: \"111111111111\", name: u, accessKeyId: AKIAAAAAAAAAAAAAAAAA}]", "both"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "b.yaml")
			os.WriteFile(path, []byte(tt.yaml), 0o600)
			_, err := identity.LoadBootstrap(path)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

// A coffer can keep its root key in another KMS-speaking service (here a
// second coffer): its secrets are sealed under that service's key, and it
// starts again with them after a restart.
func TestRootKeyInExternalKMS(t *testing.T) {
	ctx := context.Background()
	keeper := testenv.StartCoffer(t, nil)
	creds := keeper.Profile(t, "default")
	key, err := kms.NewFromConfig(keeper.AWSConfig(t, creds)).CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("coffer root key")})
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", creds.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", creds.SecretAccessKey)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	dataDir := filepath.Join(t.TempDir(), "data")
	useKMS := func(c *config.Config) {
		c.DataDir = dataDir
		c.RootKey = config.RootKey{Provider: "kms", KMSKeyID: aws.ToString(key.KeyMetadata.Arn), KMSEndpoint: keeper.URL}
	}
	for run := 1; run <= 2; run++ {
		c := startStoppable(t, useKMS)
		out, err := sts.NewFromConfig(c.coffer.AWSConfig(t, c.coffer.Profile(t, "default"))).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if aws.ToString(out.Account) != identity.DefaultManagementAccountID {
			t.Fatalf("run %d: account %s", run, aws.ToString(out.Account))
		}
		c.stop()
	}
	if _, err := os.Stat(filepath.Join(dataDir, "root.key")); err == nil {
		t.Error("a local root key file was written although the root key is external")
	}
}

type stoppable struct {
	coffer *testenv.Coffer
	stop   func()
}

// startStoppable runs a coffer that the test stops before starting the
// next on the same data directory.
func startStoppable(t *testing.T, mutate func(*config.Config)) stoppable {
	t.Helper()
	cfg := config.DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.Log.Level = "warn"
	mutate(&cfg)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.Open(ctx, cfg, app.NewLogger(cfg.Log, io.Discard))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ln, err := a.Listen()
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	return stoppable{
		coffer: &testenv.Coffer{URL: "http://" + ln.Addr().String(), Config: cfg, CredentialsFile: a.CredentialsFile},
		stop: func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("shutdown: %v", err)
			}
		},
	}
}
