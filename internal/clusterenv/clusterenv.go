// Package clusterenv runs several `coffer serve` processes as the nodes
// of one installation: one metadata PostgreSQL database (which also holds
// River's queue), one data directory (the root key file, the credentials
// file the first node's bootstrap writes, the instance servers) and,
// optionally, region us-east-1 on an S3 bucket (MinIO). The cluster tests
// of cmd/coffer and `coffer bench cluster` build their nodes with it.
//
// Files, under Options.Dir:
//
//	bootstrap.yaml  Options.Bootstrap (the organization and accounts);
//	                every node is given it, the first one applies it
//	coffer.yaml     storage.regions.us-east-1 on the S3 bucket, when there is one
//	data/           the shared data directory (--data-dir)
package clusterenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"gopkg.in/ini.v1"

	"github.com/coffer-dev/coffer/internal/minioserver"
	"github.com/coffer-dev/coffer/internal/pgaccount"
	"github.com/coffer-dev/coffer/internal/pgserver"
)

// Options describe the installation the nodes share.
type Options struct {
	// Exe is the coffer binary.
	Exe string
	// Dir holds the files the nodes share (see the package comment).
	Dir string
	// DSN is the metadata PostgreSQL database.
	DSN string
	// Bootstrap is the first start's declarations (demo.Bootstrap: the
	// organization, its accounts and their administrators' profiles).
	Bootstrap string
	// S3, when set, is where region us-east-1 keeps its vaults.
	S3 *minioserver.Server
	// Env is more environment for every node, e.g.
	// COFFER_JOB_STALE_AFTER=3s.
	Env []string
}

// Cluster is the shared part of the nodes.
type Cluster struct {
	o Options
	// DataDir is the data directory the nodes share.
	DataDir string
	args    []string
}

// New writes the shared files into o.Dir.
func New(o Options) (*Cluster, error) {
	c := &Cluster{o: o, DataDir: filepath.Join(o.Dir, "data")}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(c.BootstrapFile(), []byte(o.Bootstrap), 0o600); err != nil {
		return nil, err
	}
	c.args = []string{"--data-dir", c.DataDir, "--database", o.DSN}
	if o.S3 != nil {
		if err := c.UseConfig(S3Config(*o.S3, o.S3.Bucket, false)); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// UseConfig makes yaml the configuration file of the nodes started from
// now on.
func (c *Cluster) UseConfig(yaml string) error {
	cfg := filepath.Join(c.o.Dir, "coffer.yaml")
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		return err
	}
	if !slices.Contains(c.args, "--config") {
		c.args = append(c.args, "--config", cfg)
	}
	return nil
}

// BootstrapFile is the first start's declarations the nodes share.
func (c *Cluster) BootstrapFile() string { return filepath.Join(c.o.Dir, "bootstrap.yaml") }

// S3Config is coffer's YAML for region us-east-1 on a bucket of the
// server, created at start when create is set.
func S3Config(m minioserver.Server, bucket string, create bool) string {
	return fmt.Sprintf(`storage:
  regions:
    us-east-1:
      type: s3
      s3: {endpoint: %q, bucket: %q, region: %q, access_key_id: %q, secret_access_key: %q, path_style: true, create_bucket: %t}
`, m.Endpoint, bucket, m.Region, m.AccessKey, m.SecretKey, create)
}

// StoreArgs are the flags that point a coffer command (serve, vault
// verify, status) at the shared store: --data-dir, --database and, with
// an S3 bucket, --config.
func (c *Cluster) StoreArgs() []string { return append([]string(nil), c.args...) }

// Node is one coffer serve process.
type Node struct {
	// Addr is the node's listen address, kept across restarts (its node
	// ID, host name @ address, is its name in coffer_nodes).
	Addr string
	// URL is its endpoint, http://Addr.
	URL string
	// Cmd is the running process.
	Cmd    *exec.Cmd
	exe    string
	env    []string
	args   []string
	stderr io.Writer
	// creds is the credentials file of the node's clients.
	creds string
}

// StartNode starts a node of the cluster on a free loopback port, its
// log to stderr, with more environment (e.g. COFFER_NODE_ID=a), and
// waits until it is healthy.
func (c *Cluster) StartNode(ctx context.Context, stderr io.Writer, env ...string) (*Node, error) {
	n, err := StartServe(ctx, c.o.Exe, append(slices.Clone(c.o.Env), env...), stderr, append([]string{"--bootstrap", c.BootstrapFile()}, c.args...)...)
	if n != nil {
		n.creds = c.CredentialsFile()
	}
	return n, err
}

// StartServe runs exe serve on a free loopback port with more flags and
// environment, its log to stderr, and waits until it is healthy. The
// node's clients read the credentials file of the --data-dir in args.
func StartServe(ctx context.Context, exe string, env []string, stderr io.Writer, args ...string) (*Node, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	n := &Node{Addr: addr, URL: "http://" + addr, exe: exe, env: env, args: args, stderr: stderr}
	for i, a := range args {
		if a == "--data-dir" && i+1 < len(args) {
			n.creds = filepath.Join(args[i+1], "credentials")
		}
	}
	return n, n.Start(ctx)
}

// Start starts the node's process (again, after Kill or Stop) on its
// address and waits until it is healthy.
func (n *Node) Start(ctx context.Context) error {
	cmd := exec.Command(n.exe, append([]string{"serve", "--listen", n.Addr}, n.args...)...)
	cmd.Stderr = n.stderr
	cmd.Env = append(os.Environ(), n.env...)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start coffer serve: %w", err)
	}
	n.Cmd = cmd
	if err := WaitHealthy(ctx, http.DefaultClient, n.URL, time.Minute); err != nil {
		n.Kill()
		return err
	}
	return nil
}

// PID is the node's process ID.
func (n *Node) PID() int { return n.Cmd.Process.Pid }

// Kill stops the node the hard way (SIGKILL, no goodbye) and waits for
// it to exit.
func (n *Node) Kill() {
	n.Cmd.Process.Signal(syscall.SIGKILL)
	n.Cmd.Wait() // the SIGKILL's exit status: nothing to report
}

// Stop sends SIGTERM and waits up to timeout for a clean exit.
func (n *Node) Stop(timeout time.Duration) error {
	if err := n.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("stop coffer at %s: %w", n.URL, err)
	}
	done := make(chan error, 1)
	go func() { done <- n.Cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("coffer at %s exited with %v after SIGTERM", n.URL, err)
		}
		return nil
	case <-time.After(timeout):
		n.Cmd.Process.Kill()
		<-done
		return fmt.Errorf("coffer at %s did not stop within %s of SIGTERM", n.URL, timeout)
	}
}

// WaitHealthy polls url's /_coffer/health until it answers 200.
func WaitHealthy(ctx context.Context, client *http.Client, url string, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/_coffer/health", nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("coffer at %s did not become healthy within %s", url, within)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// CredentialsFile is the credentials file the first node's bootstrap
// wrote (profiles default, source and backup).
func (c *Cluster) CredentialsFile() string { return filepath.Join(c.DataDir, "credentials") }

// Profile reads one profile's keys from a credentials file.
func Profile(file, name string) (aws.Credentials, error) {
	f, err := ini.Load(file)
	if err != nil {
		return aws.Credentials{}, err
	}
	sec, err := f.GetSection(name)
	if err != nil {
		return aws.Credentials{}, fmt.Errorf("profile %q not in %s", name, file)
	}
	creds := aws.Credentials{AccessKeyID: sec.Key("aws_access_key_id").String(), SecretAccessKey: sec.Key("aws_secret_access_key").String()}
	if creds.AccessKeyID == "" {
		return creds, errors.New("profile " + name + " has no aws_access_key_id")
	}
	return creds, nil
}

// AWSConfig is an aws-sdk-go-v2 configuration for a profile's keys,
// pointed at the node, in us-east-1, with more options when given.
func (n *Node) AWSConfig(ctx context.Context, profile string, opts ...func(*awsconfig.LoadOptions) error) (aws.Config, error) {
	creds, err := Profile(n.creds, profile)
	if err != nil {
		return aws.Config{}, err
	}
	return awsconfig.LoadDefaultConfig(ctx, append([]func(*awsconfig.LoadOptions) error{
		awsconfig.WithRegion("us-east-1"),
		awsconfig.WithCredentialsProvider(credentials.StaticCredentialsProvider{Value: creds}),
		awsconfig.WithBaseEndpoint(n.URL),
		// Keep the user's own AWS files out.
		awsconfig.WithSharedConfigFiles([]string{}),
		awsconfig.WithSharedCredentialsFiles([]string{}),
	}, opts...)...)
}

// StopInstanceServers stops the DB instances' PostgreSQL servers still
// running in the shared data directory (DATA-DIR/pg/db-*/data): the
// servers run in their own session, so nodes that were killed leave them
// behind.
func (c *Cluster) StopInstanceServers() error {
	pids, err := filepath.Glob(filepath.Join(c.DataDir, "pg", "db-*", "data", "postmaster.pid"))
	if err != nil || len(pids) == 0 {
		return err
	}
	bin, err := pgserver.BinDir()
	if err != nil {
		return err
	}
	cred, err := pgaccount.Credential()
	if err != nil {
		return err
	}
	var errs []error
	for _, pid := range pids {
		cmd := exec.Command(filepath.Join(bin, "pg_ctl"), "-D", filepath.Dir(pid), "-m", "fast", "-w", "stop")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		if out, err := cmd.CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("stop the instance server in %s: %v: %s", filepath.Dir(pid), err, out))
		}
	}
	return errors.Join(errs...)
}
