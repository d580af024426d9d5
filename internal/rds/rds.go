package rds

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/coffer-dev/coffer/internal/authz"
	"github.com/coffer-dev/coffer/internal/awserr"
	"github.com/coffer-dev/coffer/internal/engine"
	"github.com/coffer-dev/coffer/internal/identity"
	"github.com/coffer-dev/coffer/internal/meta"
	"github.com/coffer-dev/coffer/internal/reqctx"
)

// KeyInfo is what RDS needs to know of a KMS key.
type KeyInfo struct {
	ARN     string
	Account string
	Region  string
	// Manager is "AWS" for AWS-managed keys (aws/rds), else "CUSTOMER".
	Manager string
	Usage   string // ENCRYPT_DECRYPT for keys that can encrypt storage
	Spec    string // SYMMETRIC_DEFAULT for keys that can encrypt storage
	// State is Enabled, Disabled, PendingDeletion, ...
	State string
}

// Grant is what CreateGrant is asked to create for an instance.
type Grant struct {
	KeyARN string
	// Grantee is the principal allowed to use the key: the RDS service
	// of the region (rds.REGION.amazonaws.com).
	Grantee string
	// Name names the grant after the instance.
	Name       string
	Operations []string
	// Context constrains the grant to this exact encryption context.
	Context map[string]string
}

// Keys is the KMS that RDS uses. Every call is made as the principal in
// ctx, through the RDS service: the implementation sets kms:ViaService to
// rds.REGION.amazonaws.com, so key policies written for RDS apply.
type Keys interface {
	// ManagedKey returns the ARN of the AWS-managed key alias/aws/SERVICE
	// of the account and region, creating it on first use.
	ManagedKey(ctx context.Context, account, region, service string) (string, error)
	// DescribeKey describes a key (ID, ARN, alias name or alias ARN).
	DescribeKey(ctx context.Context, region, keyID string) (KeyInfo, error)
	// CreateGrant creates a grant on a key and returns its ID.
	CreateGrant(ctx context.Context, region string, g Grant) (string, error)
	// RetireGrant removes a grant created by CreateGrant.
	RetireGrant(ctx context.Context, region, keyARN, grantID string) error
	// GenerateDataKey returns a 256-bit data key and its ciphertext under
	// the key, bound to the encryption context.
	GenerateDataKey(ctx context.Context, region, keyARN string, ec map[string]string) (plaintext, ciphertext []byte, err error)
	// Decrypt opens a ciphertext made by GenerateDataKey.
	Decrypt(ctx context.Context, region, keyARN string, ciphertext []byte, ec map[string]string) ([]byte, error)
}

// Service is the RDS domain: DB instances on their hosts.
type Service struct {
	store       meta.Store
	authz       *authz.Authorizer
	keys        Keys
	hosts       *Hosts
	engines     map[string]engine.Engine
	log         *slog.Logger
	now         func() time.Time
	snaps       SnapshotData // DB snapshots' data (snapshot.go)
	backupSnaps BackupSnapshots
	// continuous is the WAL archives (SetContinuousBackup).
	continuous ContinuousBackup
	// noGrantWarned: instances told once that they lack the automated
	// backups' grant.
	noGrantWarned sync.Map

	// work tracks background provisioning and deletion, so Close can
	// wait for it.
	work   sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc
}

// Options configure a Service.
type Options struct {
	Store meta.Store
	Authz *authz.Authorizer
	Keys  Keys
	Hosts *Hosts
	// Engines are the engine adapters by name ("postgres", "sqlite").
	Engines map[string]engine.Engine
	Log     *slog.Logger
	Now     func() time.Time
}

// New returns the RDS domain.
func New(o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Service{store: o.Store, authz: o.Authz, keys: o.Keys, hosts: o.Hosts, engines: o.Engines,
		log: o.Log, now: o.Now, ctx: ctx, cancel: cancel}
	if o.Hosts == nil { // reading the store only (coffer status)
		return s
	}
	if srv, err := o.Hosts.Servers(); err == nil && srv.opts.Failed == nil {
		srv.opts.Failed = s.serverFailed
	}
	return s
}

// Close stops background work (provisioning, deletion) and waits for it.
// It does not stop the hosts: (*Hosts).Close does.
func (s *Service) Close() {
	s.cancel()
	s.work.Wait()
}

// Wait blocks until background provisioning and deletion started so far
// have finished, for tests.
func (s *Service) Wait() { s.work.Wait() }

// scope is where an operation acts: the caller's account and the region
// the request was signed for.
type scope struct {
	Account string
	Region  string
}

func (s *Service) scope(ctx context.Context) (scope, error) {
	p := identity.Caller(ctx)
	if p == nil {
		return scope{}, awserr.New(awserr.Unauthenticated, "MissingAuthenticationToken", "Request is missing Authentication Token")
	}
	r := reqctx.CallFrom(ctx).Region
	if r == "" {
		return scope{}, awserr.New(awserr.Invalid, "InvalidParameterValue", "the request names no region")
	}
	return scope{Account: p.AccountID, Region: r}, nil
}

func (s *Service) authorize(ctx context.Context, action, resource string, cond map[string][]string) error {
	return s.authz.Authorize(ctx, authz.Request{Action: "rds:" + action, Resource: resource, Context: cond, DeniedCode: "AccessDenied"})
}

// InstanceARN is arn:aws:rds:REGION:ACCOUNT:db:ID.
func InstanceARN(region, account, id string) string {
	return fmt.Sprintf("arn:%s:rds:%s:%s:db:%s", identity.Partition, region, account, id)
}

// ServicePrincipal is the RDS service of a region, as grants and
// kms:ViaService name it.
func ServicePrincipal(region string) string { return "rds." + region + ".amazonaws.com" }

// Errors with RDS's codes (botocore rds 2014-10-31).

func invalidParam(format string, args ...any) *awserr.Error {
	return awserr.New(awserr.Invalid, "InvalidParameterValue", format, args...)
}

func invalidCombination(format string, args ...any) *awserr.Error {
	return awserr.New(awserr.Invalid, "InvalidParameterCombination", format, args...)
}

func missingParam(name string) *awserr.Error {
	return awserr.New(awserr.Invalid, "MissingParameter", "The request must contain the parameter %s", name)
}

func instanceNotFound(id string) *awserr.Error {
	return awserr.New(awserr.NotFound, "DBInstanceNotFound", "DBInstance %s not found.", id).WithStatus(404)
}

func alreadyExists(id string) *awserr.Error {
	return awserr.New(awserr.Conflict, "DBInstanceAlreadyExists", "DB instance already exists").WithStatus(400)
}

func invalidState(format string, args ...any) *awserr.Error {
	return awserr.New(awserr.Conflict, "InvalidDBInstanceState", format, args...)
}

func keyNotAccessible(format string, args ...any) *awserr.Error {
	return awserr.New(awserr.Invalid, "KMSKeyNotAccessibleFault", format, args...)
}
