// Package s3 stores blobs in a bucket of S3-compatible object storage
// (AWS S3, MinIO, Ceph RGW) through minio-go. An object named "a/b" is
// the key Prefix+"a/b" in Bucket.
//
// Put is a single PUT, or a multipart upload (PartSize parts) for
// objects larger than one part; either way the object appears whole or
// not at all. Create adds "If-None-Match: *", which S3 and MinIO honour
// on PUT and on CompleteMultipartUpload, and maps 412 to blob.ErrExists.
//
// minio-go's own retries are off by default (Config.MaxRetries = 1):
// errors come back classified (Error.Retryable) for blob.WithRetry, so
// retry policy lives in one place.
package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/coffer-dev/coffer/internal/blob"
)

// Config says where the bucket is and how to sign requests.
type Config struct {
	// Endpoint is host[:port], or a URL "http://host:port" /
	// "https://host" whose scheme then decides UseTLS.
	Endpoint string `yaml:"endpoint"`
	Bucket   string `yaml:"bucket"`
	// Prefix is prepended to every object name; a missing trailing "/"
	// is added.
	Prefix string `yaml:"prefix"`
	// Region of the bucket; empty asks the server.
	Region string `yaml:"region"`
	// Static credentials. When AccessKeyID is empty the standard AWS
	// chain is used: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/
	// AWS_SESSION_TOKEN, then the shared credentials file
	// (AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials, profile
	// AWS_PROFILE), then the EC2/ECS instance role.
	AccessKeyID     string `yaml:"access_key_id"`
	SecretAccessKey string `yaml:"secret_access_key"`
	SessionToken    string `yaml:"session_token"`
	UseTLS          bool   `yaml:"use_tls"`
	// CreateBucket creates the bucket when it does not exist; otherwise
	// a missing bucket is refused when the store is opened.
	CreateBucket bool `yaml:"create_bucket"`
	// PathStyle forces path-style requests (http://host/bucket/key);
	// otherwise minio-go picks (virtual-host style for AWS).
	PathStyle bool `yaml:"path_style"`
	// PartSize of multipart uploads; objects up to one part go in a
	// single PUT. Default 16 MiB, so a 16–32 MiB pack takes one or two
	// parts.
	PartSize uint64 `yaml:"part_size"`
	// PartThreads is the number of parts of one object uploaded at once
	// (each holds a PartSize buffer). Default 2.
	PartThreads uint `yaml:"part_threads"`
	// MaxRetries is minio-go's own retry count; 1 (the default) turns it
	// off, leaving retries to blob.WithRetry.
	MaxRetries int `yaml:"max_retries"`
	// Transport, if set, carries the HTTP requests (tests inject faults
	// with it).
	Transport http.RoundTripper `yaml:"-"`
}

// DefaultConfig returns the defaults Validate fills in.
func DefaultConfig() Config {
	return Config{PartSize: 16 << 20, PartThreads: 2, MaxRetries: 1}
}

// Validate checks cfg and fills in defaults.
func (c *Config) Validate() error {
	if c.Endpoint == "" {
		return errors.New("s3: endpoint is required")
	}
	if c.Bucket == "" {
		return errors.New("s3: bucket is required")
	}
	if (c.AccessKeyID == "") != (c.SecretAccessKey == "") {
		return errors.New("s3: set both access_key_id and secret_access_key, or neither to use the AWS credential chain")
	}
	d := DefaultConfig()
	if c.PartSize == 0 {
		c.PartSize = d.PartSize
	}
	if c.PartSize < 5<<20 {
		return fmt.Errorf("s3: part_size %d is below S3's minimum of 5 MiB", c.PartSize)
	}
	if c.PartThreads == 0 {
		c.PartThreads = d.PartThreads
	}
	if c.MaxRetries == 0 {
		c.MaxRetries = d.MaxRetries
	}
	if c.Prefix != "" {
		c.Prefix = strings.Trim(c.Prefix, "/") + "/"
	}
	return nil
}

// LogValue shows cfg without its secrets.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("endpoint", c.Endpoint),
		slog.String("bucket", c.Bucket),
		slog.String("prefix", c.Prefix),
		slog.String("region", c.Region),
		slog.Bool("static_credentials", c.AccessKeyID != ""),
	)
}

// Store is a blob.Store on an S3 bucket.
type Store struct {
	cfg      Config
	endpoint string // for messages: scheme://host
	client   *minio.Client
	core     *minio.Core
}

var (
	_ blob.Store   = (*Store)(nil)
	_ blob.Creator = (*Store)(nil)
)

// Open connects to the bucket and checks that it exists and that the
// credentials work.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	host := cfg.Endpoint
	if strings.Contains(host, "://") {
		u, err := url.Parse(host)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("s3: endpoint %q: want host[:port] or http(s)://host[:port]", cfg.Endpoint)
		}
		switch u.Scheme {
		case "http":
			cfg.UseTLS = false
		case "https":
			cfg.UseTLS = true
		default:
			return nil, fmt.Errorf("s3: endpoint %q: scheme must be http or https", cfg.Endpoint)
		}
		host = u.Host
	}
	var creds *credentials.Credentials
	if cfg.AccessKeyID != "" {
		creds = credentials.NewStaticV4(cfg.AccessKeyID, cfg.SecretAccessKey, cfg.SessionToken)
	} else {
		creds = credentials.NewChainCredentials([]credentials.Provider{
			&credentials.EnvAWS{},
			&credentials.FileAWSCredentials{},
			&credentials.IAM{Client: &http.Client{Timeout: 5 * time.Second}},
		})
	}
	opts := &minio.Options{
		Creds:      creds,
		Secure:     cfg.UseTLS,
		Region:     cfg.Region,
		Transport:  cfg.Transport,
		MaxRetries: cfg.MaxRetries,
	}
	if cfg.PathStyle {
		opts.BucketLookup = minio.BucketLookupPath
	}
	client, err := minio.New(host, opts)
	if err != nil {
		return nil, fmt.Errorf("s3: endpoint %q: %w", cfg.Endpoint, err)
	}
	scheme := "http"
	if cfg.UseTLS {
		scheme = "https"
	}
	s := &Store{cfg: cfg, endpoint: scheme + "://" + host, client: client, core: &minio.Core{Client: client}}
	if cfg.AccessKeyID == "" {
		if v, err := creds.GetWithContext(nil); err != nil || v.SignerType.IsAnonymous() {
			return nil, fmt.Errorf("s3: no credentials for bucket %s at %s: set access_key_id and secret_access_key, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile in the shared credentials file", cfg.Bucket, s.endpoint)
		}
	}
	ok, err := client.BucketExists(ctx, cfg.Bucket)
	if err != nil {
		return nil, s.err("open", "", err)
	}
	switch {
	case ok:
	case cfg.CreateBucket:
		if err := client.MakeBucket(ctx, cfg.Bucket, minio.MakeBucketOptions{Region: cfg.Region}); err != nil {
			return nil, s.err("create bucket", "", err)
		}
	default:
		return nil, &Error{Op: "open", Code: "NoSuchBucket", Status: http.StatusNotFound,
			Msg: fmt.Sprintf("bucket %s does not exist at %s; create it, fix the bucket name, or set create_bucket: true", cfg.Bucket, s.endpoint)}
	}
	return s, nil
}

// Client returns the underlying minio-go client.
func (s *Store) Client() *minio.Client { return s.client }

func (s *Store) key(name string) (string, error) {
	if err := blob.ValidName(name); err != nil {
		return "", err
	}
	return s.cfg.Prefix + name, nil
}

func (s *Store) putOptions() minio.PutObjectOptions {
	return minio.PutObjectOptions{
		ContentType: "application/octet-stream",
		PartSize:    s.cfg.PartSize,
		NumThreads:  s.cfg.PartThreads,
	}
}

// Put writes name, replacing any previous object. size < 0 means
// unknown (always multipart).
func (s *Store) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	return s.put(ctx, "put", name, r, size, s.putOptions())
}

// Create writes name unless it exists (blob.ErrExists).
func (s *Store) Create(ctx context.Context, name string, r io.Reader, size int64) error {
	opts := s.putOptions()
	opts.SetMatchETagExcept("*")
	return s.put(ctx, "create", name, r, size, opts)
}

func (s *Store) put(ctx context.Context, op, name string, r io.Reader, size int64, opts minio.PutObjectOptions) error {
	key, err := s.key(name)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s %s: %w", op, name, err)
	}
	info, err := s.client.PutObject(ctx, s.cfg.Bucket, key, r, size, opts)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return fmt.Errorf("%s %s: %w", op, name, cerr)
		}
		return s.err(op, name, err)
	}
	if size >= 0 && info.Size != size {
		return fmt.Errorf("%s %s: uploaded %d bytes, want %d", op, name, info.Size, size)
	}
	return nil
}

// Get returns length bytes of name from offset (length < 0: to the end)
// in one GET. A range that ends past the object is an error wrapping
// io.ErrUnexpectedEOF.
func (s *Store) Get(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	key, err := s.key(name)
	if err != nil {
		return nil, fmt.Errorf("get: %w", err)
	}
	if offset < 0 {
		return nil, fmt.Errorf("get %s: negative offset %d", name, offset)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("get %s: %w", name, err)
	}
	if length == 0 {
		// S3 has no empty range; check the object and return nothing.
		fi, err := s.Stat(ctx, name)
		if err != nil {
			return nil, err
		}
		if offset > fi.Size {
			return nil, fmt.Errorf("get %s: offset %d past size %d: %w", name, offset, fi.Size, io.ErrUnexpectedEOF)
		}
		return io.NopCloser(strings.NewReader("")), nil
	}
	var opts minio.GetObjectOptions
	switch {
	case length > 0:
		err = opts.SetRange(offset, offset+length-1)
	case offset > 0:
		err = opts.SetRange(offset, 0)
	}
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", name, err)
	}
	body, info, _, err := s.core.GetObject(ctx, s.cfg.Bucket, key, opts)
	if err != nil {
		if minio.ToErrorResponse(err).Code == "InvalidRange" {
			return s.emptyOrShort(ctx, name, offset, length)
		}
		return nil, s.err("get", name, err)
	}
	if length > 0 && info.Size != length {
		body.Close()
		return nil, fmt.Errorf("get %s: range %d+%d past the end (got %d bytes): %w", name, offset, length, info.Size, io.ErrUnexpectedEOF)
	}
	return &exactReader{rc: body, left: info.Size, name: name}, nil
}

// emptyOrShort handles a 416: reading from the very end is an empty
// read, anything else is past the end.
func (s *Store) emptyOrShort(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	fi, err := s.Stat(ctx, name)
	if err != nil {
		return nil, err
	}
	if length < 0 && offset == fi.Size {
		return io.NopCloser(strings.NewReader("")), nil
	}
	return nil, fmt.Errorf("get %s: range %d+%d past size %d: %w", name, offset, length, fi.Size, io.ErrUnexpectedEOF)
}

// exactReader turns a body that ends early into io.ErrUnexpectedEOF.
type exactReader struct {
	rc   io.ReadCloser
	left int64
	name string
}

func (e *exactReader) Read(p []byte) (int, error) {
	n, err := e.rc.Read(p)
	e.left -= int64(n)
	if err == io.EOF && e.left > 0 {
		return n, fmt.Errorf("get %s: body ended %d bytes early: %w", e.name, e.left, io.ErrUnexpectedEOF)
	}
	return n, err
}

func (e *exactReader) Close() error { return e.rc.Close() }

// Stat describes name.
func (s *Store) Stat(ctx context.Context, name string) (blob.Info, error) {
	key, err := s.key(name)
	if err != nil {
		return blob.Info{}, fmt.Errorf("stat: %w", err)
	}
	oi, err := s.client.StatObject(ctx, s.cfg.Bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return blob.Info{}, s.err("stat", name, err)
	}
	return blob.Info{Name: name, Size: oi.Size, ModTime: oi.LastModified}, nil
}

// List calls fn for the objects under prefix in lexical (byte) order, as
// S3 lists them. Keys that are not valid blob names (e.g. "dir/" markers
// made by other tools) are skipped.
func (s *Store) List(ctx context.Context, prefix string, fn func(blob.Info) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops minio-go's listing goroutine on early return
	for oi := range s.client.ListObjects(ctx, s.cfg.Bucket, minio.ListObjectsOptions{
		Prefix:    s.cfg.Prefix + prefix,
		Recursive: true,
	}) {
		if oi.Err != nil {
			return s.err("list", prefix, oi.Err)
		}
		name := strings.TrimPrefix(oi.Key, s.cfg.Prefix)
		if blob.ValidName(name) != nil {
			continue
		}
		if err := fn(blob.Info{Name: name, Size: oi.Size, ModTime: oi.LastModified}); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("list %q: %w", prefix, err)
	}
	return nil
}

// Delete removes name; a missing object is not an error.
func (s *Store) Delete(ctx context.Context, name string) error {
	key, err := s.key(name)
	if err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	err = s.client.RemoveObject(ctx, s.cfg.Bucket, key, minio.RemoveObjectOptions{})
	if err != nil && minio.ToErrorResponse(err).Code != "NoSuchKey" {
		return s.err("delete", name, err)
	}
	return nil
}
