package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPrecedence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(path, []byte("listen: 127.0.0.1:9000\ndataDir: /from/yaml\nlog:\n  format: json\n"), 0o600)
	c := DefaultConfig()
	if err := c.LoadFile(path); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"COFFER_DATA_DIR": "/from/env", "COFFER_REGIONS": "eu-west-1, us-east-1"}
	if err := c.LoadEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:9000" || c.DataDir != "/from/env" || c.Log.Format != "json" {
		t.Errorf("got listen %s, dataDir %s, log %s", c.Listen, c.DataDir, c.Log.Format)
	}
	if c.DefaultRegion() != "eu-west-1" || len(c.Regions) != 2 {
		t.Errorf("regions = %v", c.Regions)
	}
	if c.RootKey.File != "/from/env/root.key" {
		t.Errorf("root key file = %s, want it in the data dir", c.RootKey.File)
	}
}

func TestLoadFileRejectsUnknownKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(path, []byte("lisen: 127.0.0.1:9000\n"), 0o600)
	c := DefaultConfig()
	if err := c.LoadFile(path); err == nil || !strings.Contains(err.Error(), "lisen") {
		t.Fatalf("err = %v, want one naming the unknown key", err)
	}
	os.WriteFile(path, nil, 0o600)
	if err := c.LoadFile(path); err != nil {
		t.Fatalf("an empty file: %v", err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"default", func(*Config) {}, ""},
		{"no port", func(c *Config) { c.Listen = "localhost" }, "listen address"},
		{"password hidden", func(c *Config) { c.Database = "mysql://u:hunter2@h/db" }, "***"},
		{"env key without variable", func(c *Config) { c.RootKey = RootKey{Provider: "env"} }, "envVar"},
		{"unknown provider", func(c *Config) { c.RootKey.Provider = "hsm" }, "not file, env or kms"},
		{"kms without a key ARN", func(c *Config) { c.RootKey = RootKey{Provider: "kms", KMSKeyID: "alias/root"} }, "kmsKeyId"},
		{"tiny body limit", func(c *Config) { c.Limits.MaxBodyBytes = 10 }, "too small"},
		{"both tls modes", func(c *Config) { c.TLS = TLS{Cert: "c", Key: "k", SelfSigned: true} }, "not both"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.change(&c)
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatal("the database password leaked into the error")
			}
		})
	}
}
