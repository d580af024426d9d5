// Package config holds coffer's settings: DefaultConfig, then a YAML file
// over it, then COFFER_* environment variables, then command-line flags,
// then Validate.
package config

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/coffer-dev/coffer/internal/storage"
)

// Config is the whole of coffer serve's settings.
type Config struct {
	// Listen is the address of the one port every service answers on.
	Listen string `yaml:"listen"`
	// DataDir holds the SQLite database, the root key, the credentials
	// file and, by default, the vault data.
	DataDir string `yaml:"dataDir"`
	// Database is empty for SQLite in DataDir, or a postgres:// URL.
	Database string `yaml:"database"`
	// Regions are the regions requests may be signed for; the first is
	// the default region written into the generated AWS config file.
	Regions []string `yaml:"regions"`
	// Bootstrap is an optional YAML file declaring organizations,
	// accounts and users to create on first start.
	Bootstrap string  `yaml:"bootstrap"`
	TLS       TLS     `yaml:"tls"`
	RootKey   RootKey `yaml:"rootKey"`
	Log       Log     `yaml:"log"`
	Limits    Limits  `yaml:"limits"`
	Jobs      Jobs    `yaml:"jobs"`
	RDS       RDS     `yaml:"rds"`

	// Storage maps regions to where vault data lives (default: a
	// directory per region under DataDir; see package storage).
	Storage storage.Config `yaml:"storage"`
}

// RDS configures where DB instances live.
type RDS struct {
	// PostgresHosts maps a region to the admin URL (postgres://...) of
	// the PostgreSQL server its postgres instances are created on: a role
	// that may create databases and roles. A region without one uses a
	// cluster coffer runs itself in DataDir/postgres/REGION.
	PostgresHosts map[string]string `yaml:"postgresHosts"`
	// ListenAddress is the address the instances' own PostgreSQL servers
	// listen on (default 127.0.0.1).
	ListenAddress string `yaml:"listenAddress"`
}

// TLS configures encryption in transit.
type TLS struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
	// SelfSigned creates a certificate for the listen address in
	// DataDir/tls on first start.
	SelfSigned bool `yaml:"selfSigned"`
}

// Enabled reports whether the listener speaks TLS.
func (t TLS) Enabled() bool { return t.SelfSigned || t.Cert != "" }

// RootKey chooses where the key sealing secrets at rest comes from.
type RootKey struct {
	// Provider is "file" (default: DataDir/root.key, created 0600),
	// "env" (a base64 key in the variable EnvVar), or "kms" (an external
	// key service speaking the AWS KMS API — AWS KMS, or another coffer —
	// holds the key: KMSKeyID, with credentials from the standard AWS
	// chain).
	Provider string `yaml:"provider"`
	File     string `yaml:"file"`
	EnvVar   string `yaml:"envVar"`
	// KMSKeyID is the key ARN the kms provider wraps secrets under.
	KMSKeyID string `yaml:"kmsKeyId"`
	// KMSEndpoint is the service's URL; empty means AWS KMS itself.
	KMSEndpoint string `yaml:"kmsEndpoint"`
	// KMSRegion defaults to the key ARN's region.
	KMSRegion string `yaml:"kmsRegion"`
}

// Log configures log/slog output.
type Log struct {
	Format string `yaml:"format"` // text or json
	Level  string `yaml:"level"`  // debug, info, warn, error
}

// Jobs tune the background job workers.
type Jobs struct {
	// StaleAfter is a running job's lease: how long its node may go
	// without renewing it (it renews every sixth of it) before River's
	// rescuer, on the leader node, gives the job to another node, which
	// runs it again from the start. A job is taken over within about
	// StaleAfter plus 30 s (the rescuer's period) of its node's death.
	StaleAfter time.Duration `yaml:"staleAfter"`
	// GCInterval is how often coffer serve collects the vaults' garbage
	// (the space of deleted recovery points and of failed or dead jobs'
	// writes), on one node at a time: the elected leader schedules it.
	GCInterval time.Duration `yaml:"gcInterval"`
	// NodeID names this node in coffer status --nodes, the metrics and
	// River's tables; unique among the nodes sharing a store (default:
	// host name @ listen address). At most 100 characters.
	NodeID string `yaml:"nodeId"`
}

// Limits bound requests.
type Limits struct {
	MaxBodyBytes int64 `yaml:"maxBodyBytes"`
	// MaxUnauthenticatedBytes bounds the request body bytes held, beyond
	// the first 32 KiB of each, by all requests not yet authenticated
	// (a body is read whole before its signature is checked); a request
	// that would exceed it is answered 503.
	MaxUnauthenticatedBytes int64 `yaml:"maxUnauthenticatedBytes"`
	// ReadHeaderTimeout bounds reading a request's headers; ReadTimeout
	// the whole request, body included; IdleTimeout how long a kept-alive
	// connection may wait for its next request.
	ReadHeaderTimeout time.Duration `yaml:"readHeaderTimeout"`
	ReadTimeout       time.Duration `yaml:"readTimeout"`
	IdleTimeout       time.Duration `yaml:"idleTimeout"`
}

// DefaultRegions are the regions served unless configured otherwise.
var DefaultRegions = []string{"us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1", "eu-west-2", "eu-central-1", "ap-southeast-1", "ap-southeast-2", "ap-northeast-1"}

// DefaultConfig is coffer serve with no settings.
func DefaultConfig() Config {
	return Config{
		Listen:  "127.0.0.1:4566",
		DataDir: "./coffer-data",
		Regions: append([]string(nil), DefaultRegions...),
		RootKey: RootKey{Provider: "file", EnvVar: "COFFER_ROOT_KEY"},
		Log:     Log{Format: "text", Level: "info"},
		Limits: Limits{MaxBodyBytes: 10 << 20, MaxUnauthenticatedBytes: 12 << 20,
			ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute},
		Jobs: Jobs{StaleAfter: 15 * time.Second, GCInterval: time.Hour},
	}
}

// LoadFile reads YAML settings over c. Unknown keys are errors, so a typo
// does not silently fall back to a default.
func (c *Config) LoadFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) { // an empty file sets nothing
		return fmt.Errorf("config file %s: %w", path, err)
	}
	return nil
}

// Env is the COFFER_* variables coffer reads, with what each sets.
var Env = map[string]func(c *Config, v string) error{
	"COFFER_LISTEN":                func(c *Config, v string) error { c.Listen = v; return nil },
	"COFFER_DATA_DIR":              func(c *Config, v string) error { c.DataDir = v; return nil },
	"COFFER_DATABASE":              func(c *Config, v string) error { c.Database = v; return nil },
	"COFFER_REGIONS":               func(c *Config, v string) error { c.Regions = splitList(v); return nil },
	"COFFER_BOOTSTRAP":             func(c *Config, v string) error { c.Bootstrap = v; return nil },
	"COFFER_TLS_CERT":              func(c *Config, v string) error { c.TLS.Cert = v; return nil },
	"COFFER_TLS_KEY":               func(c *Config, v string) error { c.TLS.Key = v; return nil },
	"COFFER_TLS_SELF_SIGNED":       func(c *Config, v string) error { return setBool(&c.TLS.SelfSigned, "COFFER_TLS_SELF_SIGNED", v) },
	"COFFER_ROOT_KEY_PROVIDER":     func(c *Config, v string) error { c.RootKey.Provider = v; return nil },
	"COFFER_ROOT_KEY_KMS_KEY_ID":   func(c *Config, v string) error { c.RootKey.KMSKeyID = v; return nil },
	"COFFER_ROOT_KEY_KMS_ENDPOINT": func(c *Config, v string) error { c.RootKey.KMSEndpoint = v; return nil },
	"COFFER_ROOT_KEY_FILE":         func(c *Config, v string) error { c.RootKey.File = v; return nil },
	"COFFER_LOG_FORMAT":            func(c *Config, v string) error { c.Log.Format = v; return nil },
	"COFFER_LOG_LEVEL":             func(c *Config, v string) error { c.Log.Level = v; return nil },
	"COFFER_JOB_STALE_AFTER": func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("COFFER_JOB_STALE_AFTER=%q is not a duration like 30s", v)
		}
		c.Jobs.StaleAfter = d
		return nil
	},
	"COFFER_NODE_ID": func(c *Config, v string) error { c.Jobs.NodeID = v; return nil },
	"COFFER_GC_INTERVAL": func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("COFFER_GC_INTERVAL=%q is not a duration like 1h", v)
		}
		c.Jobs.GCInterval = d
		return nil
	},
	"COFFER_MAX_BODY_BYTES": func(c *Config, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("COFFER_MAX_BODY_BYTES=%q is not a number of bytes", v)
		}
		c.Limits.MaxBodyBytes = n
		return nil
	},
}

// LoadEnv applies the COFFER_* variables that are set.
func (c *Config) LoadEnv(lookup func(string) (string, bool)) error {
	for name, set := range Env {
		if v, ok := lookup(name); ok {
			if err := set(c, v); err != nil {
				return err
			}
		}
	}
	return nil
}

func setBool(dst *bool, name, v string) error {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return fmt.Errorf("%s=%q is not true or false", name, v)
	}
	*dst = b
	return nil
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

var regionRe = regexp.MustCompile(`^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$`)

// Validate checks the settings and fills in paths derived from DataDir.
func (c *Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("listen address %q: %v (want host:port)", c.Listen, err)
	}
	if c.DataDir == "" {
		return errors.New("the data directory must not be empty")
	}
	if c.Database != "" && !strings.HasPrefix(c.Database, "postgres://") && !strings.HasPrefix(c.Database, "postgresql://") {
		return fmt.Errorf("database %q: give a postgres:// URL, or nothing for SQLite in the data directory", redactDSN(c.Database))
	}
	if len(c.Regions) == 0 {
		return errors.New("at least one region must be configured")
	}
	for _, r := range c.Regions {
		if !regionRe.MatchString(r) {
			return fmt.Errorf("region %q is not an AWS region name like us-east-1", r)
		}
	}
	if (c.TLS.Cert == "") != (c.TLS.Key == "") {
		return errors.New("give both a TLS certificate and its key, or neither")
	}
	if c.TLS.SelfSigned && c.TLS.Cert != "" {
		return errors.New("choose a TLS certificate or a self-signed one, not both")
	}
	switch c.RootKey.Provider {
	case "file":
		if c.RootKey.File == "" {
			c.RootKey.File = filepath.Join(c.DataDir, "root.key")
		}
	case "env":
		if c.RootKey.EnvVar == "" {
			return errors.New("the env root-key provider needs the name of the variable (rootKey.envVar)")
		}
	case "kms":
		parts := strings.SplitN(c.RootKey.KMSKeyID, ":", 6)
		if len(parts) != 6 || parts[0] != "arn" || parts[2] != "kms" {
			return fmt.Errorf("the kms root-key provider needs rootKey.kmsKeyId, a key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID), not %q", c.RootKey.KMSKeyID)
		}
		if c.RootKey.KMSRegion == "" {
			c.RootKey.KMSRegion = parts[3]
		}
	default:
		return fmt.Errorf("root key provider %q is not file, env or kms", c.RootKey.Provider)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return fmt.Errorf("log format %q is not text or json", c.Log.Format)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log level %q is not debug, info, warn or error", c.Log.Level)
	}
	if a := c.RDS.ListenAddress; a != "" && net.ParseIP(a) == nil {
		return fmt.Errorf("rds.listenAddress %q is not an IP address", a)
	}
	for region, dsn := range c.RDS.PostgresHosts {
		if !slices.Contains(c.Regions, region) {
			return fmt.Errorf("rds.postgresHosts names region %q, which is not among the configured regions", region)
		}
		if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
			return fmt.Errorf("rds.postgresHosts[%s] %q: give a postgres:// URL of a role that may create databases and roles", region, redactDSN(dsn))
		}
		if _, err := url.Parse(dsn); err != nil {
			return fmt.Errorf("rds.postgresHosts[%s] %q is not a valid URL", region, redactDSN(dsn))
		}
	}
	if err := c.Storage.Validate(c.Regions); err != nil {
		return err
	}
	if c.Jobs.StaleAfter < time.Second {
		return fmt.Errorf("jobs.staleAfter %s is too short (at least 1s)", c.Jobs.StaleAfter)
	}
	if len(c.Jobs.NodeID) > 100 {
		return fmt.Errorf("jobs.nodeId is %d characters long (at most 100)", len(c.Jobs.NodeID))
	}
	if c.Jobs.GCInterval < time.Second {
		return fmt.Errorf("jobs.gcInterval %s is too short (at least 1s)", c.Jobs.GCInterval)
	}
	if c.Limits.MaxBodyBytes < 1024 {
		return fmt.Errorf("maxBodyBytes %d is too small (at least 1024)", c.Limits.MaxBodyBytes)
	}
	if c.Limits.MaxUnauthenticatedBytes < c.Limits.MaxBodyBytes {
		return fmt.Errorf("maxUnauthenticatedBytes %d is below maxBodyBytes %d: a body of the largest size accepted could never be read", c.Limits.MaxUnauthenticatedBytes, c.Limits.MaxBodyBytes)
	}
	for name, d := range map[string]time.Duration{"readHeaderTimeout": c.Limits.ReadHeaderTimeout, "readTimeout": c.Limits.ReadTimeout, "idleTimeout": c.Limits.IdleTimeout} {
		if d <= 0 {
			return fmt.Errorf("limits.%s %s must be positive", name, d)
		}
	}
	return nil
}

// DefaultRegion is the first configured region.
func (c *Config) DefaultRegion() string { return c.Regions[0] }

// redactDSN hides a password in a connection string for error messages.
func redactDSN(dsn string) string {
	if i := strings.Index(dsn, "@"); i >= 0 {
		if j := strings.Index(dsn, "://"); j >= 0 && j < i {
			return dsn[:j+3] + "***" + dsn[i:]
		}
	}
	return dsn
}

// Load is DefaultConfig with the YAML file (when file is not empty) and
// the COFFER_* environment variables applied, not yet validated: the
// caller applies its flags, then Validate.
func Load(file string) (Config, error) {
	c := DefaultConfig()
	if file != "" {
		if err := c.LoadFile(file); err != nil {
			return c, err
		}
	}
	return c, c.LoadEnv(os.LookupEnv)
}
