// Package storage maps regions to blob stores: each region is a storage
// location, a directory under the data directory by default
// (DATA_DIR/regions/REGION/vaults) or an S3-compatible bucket. A
// cross-region copy moves data from one region's store to another's.
//
// Configuration (the "storage" key of coffer's YAML):
//
//	storage:
//	  regions:
//	    us-east-1:
//	      type: dir                 # the default
//	      dir: /srv/coffer/us-east-1
//	    eu-west-1:
//	      type: s3
//	      s3:
//	        endpoint: https://minio.example.net:9000
//	        bucket: coffer-eu
//	        prefix: vaults
//	        region: eu-west-1
//	        # access_key_id / secret_access_key, or the AWS credential chain
//	        create_bucket: true     # create a missing bucket (else refused)
//	      maxConcurrent: 16
package storage

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sort"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/coffer-dev/coffer/internal/blob"
	"github.com/coffer-dev/coffer/internal/blob/fs"
	"github.com/coffer-dev/coffer/internal/blob/s3"
)

// Backend types.
const (
	TypeDir = "dir"
	TypeS3  = "s3"
)

// Config maps regions to backends; a region not listed gets a directory
// under the data directory.
type Config struct {
	Regions map[string]Backend `yaml:"regions"`
}

// Backend is one region's storage.
type Backend struct {
	// Type is "dir" (default) or "s3".
	Type string `yaml:"type"`
	// Dir is the directory of a dir backend (default
	// DATA_DIR/regions/REGION/vaults).
	Dir string `yaml:"dir"`
	// S3 locates the bucket of an s3 backend.
	S3 s3.Config `yaml:"s3"`
	// MaxConcurrent caps the store's operations in flight (default: 16
	// for s3, none for dir).
	MaxConcurrent int `yaml:"maxConcurrent"`
}

// Validate checks the backends against the configured regions.
func (c *Config) Validate(regions []string) error {
	names := make([]string, 0, len(c.Regions))
	for r := range c.Regions {
		names = append(names, r)
	}
	sort.Strings(names)
	for _, r := range names {
		b := c.Regions[r]
		if !slices.Contains(regions, r) {
			return fmt.Errorf("storage.regions names region %q, which is not among the configured regions", r)
		}
		switch b.Type {
		case "", TypeDir:
			if b.S3 != (s3.Config{}) {
				return fmt.Errorf("storage.regions[%s]: s3 settings given for a dir backend (set type: s3)", r)
			}
		case TypeS3:
			cfg := b.S3
			if err := cfg.Validate(); err != nil {
				return fmt.Errorf("storage.regions[%s]: %v", r, err)
			}
			if b.Dir != "" {
				return fmt.Errorf("storage.regions[%s]: dir given for an s3 backend", r)
			}
		default:
			return fmt.Errorf("storage.regions[%s]: type %q is not dir or s3", r, b.Type)
		}
		if b.MaxConcurrent < 0 {
			return fmt.Errorf("storage.regions[%s]: maxConcurrent must not be negative", r)
		}
	}
	return nil
}

// Options are what Open wraps every store with.
type Options struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Regions opens each region's store on first use and keeps it.
type Regions struct {
	cfg     Config
	dataDir string
	regions []string
	o       Options
	mu      sync.Mutex
	stores  map[string]blob.Store
	metrics *blob.Metrics
}

// New returns the region map for cfg (validated) under dataDir.
func New(cfg Config, dataDir string, regions []string, o Options) (*Regions, error) {
	r := &Regions{cfg: cfg, dataDir: dataDir, regions: regions, o: o, stores: map[string]blob.Store{}}
	if o.Registerer != nil {
		m, err := blob.NewMetrics(o.Registerer)
		if err != nil {
			return nil, err
		}
		r.metrics = m
	}
	return r, nil
}

// DefaultDir is where a region's data lives without configuration.
func DefaultDir(dataDir, region string) string {
	return filepath.Join(dataDir, "regions", region, "vaults")
}

// OpenConfigured opens the store of every region the configuration
// names, so a missing bucket or wrong credentials stop the server at
// start with a message naming the region, rather than failing its first
// job.
func (r *Regions) OpenConfigured() error {
	names := make([]string, 0, len(r.cfg.Regions))
	for region := range r.cfg.Regions {
		names = append(names, region)
	}
	sort.Strings(names)
	for _, region := range names {
		if _, err := r.Store(region); err != nil {
			return fmt.Errorf("open the configured stores: %w", err)
		}
	}
	return nil
}

// Store returns the region's store, wrapped with retries (S3), a
// concurrency limit, metrics and logging.
func (r *Regions) Store(region string) (blob.Store, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s, ok := r.stores[region]; ok {
		return s, nil
	}
	if !slices.Contains(r.regions, region) {
		return nil, fmt.Errorf("region %q is not configured", region)
	}
	b := r.cfg.Regions[region]
	var s blob.Store
	wo := blob.WrapOptions{Name: region, MaxConcurrent: b.MaxConcurrent}
	switch b.Type {
	case TypeS3:
		cfg := b.S3
		if err := cfg.Validate(); err != nil {
			return nil, err
		}
		st, err := s3.Open(context.Background(), cfg)
		if err != nil {
			return nil, fmt.Errorf("region %s: %w", region, err)
		}
		s = st
		wo.Retry = blob.DefaultRetryOptions()
		if wo.MaxConcurrent == 0 {
			wo.MaxConcurrent = 16
		}
	default:
		dir := b.Dir
		if dir == "" {
			dir = DefaultDir(r.dataDir, region)
		}
		st, err := fs.New(dir)
		if err != nil {
			return nil, fmt.Errorf("region %s: %w", region, err)
		}
		s = st
	}
	// blob.Wrap's order (logging, metrics, retry, limit), with one set
	// of metrics shared by all regions and labelled by region.
	ws, err := blob.Wrap(s, wo)
	if err != nil {
		return nil, err
	}
	if r.metrics != nil {
		ws = r.metrics.Wrap(ws, region)
	}
	if r.o.Logger != nil {
		ws = blob.WithLogger(ws, r.o.Logger.With("store", region))
	}
	r.stores[region] = ws
	return ws, nil
}
