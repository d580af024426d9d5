// Package backup is the AWS Backup domain: vaults and their access
// policies, the organization's and account's settings, recovery points,
// and the backup, copy and restore jobs that move databases into and
// between vaults. Every operation authorizes its caller through authz.
// Continuous backup recovery points (continuous.go) hold no manifest:
// their data is the resource's WAL archive, reached through Continuous.
package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"time"

	"github.com/riverqueue/river"

	"github.com/coffer-dev/coffer/internal/authz"
	"github.com/coffer-dev/coffer/internal/awserr"
	"github.com/coffer-dev/coffer/internal/engine"
	"github.com/coffer-dev/coffer/internal/identity"
	"github.com/coffer-dev/coffer/internal/meta"
)

// KeyInfo is what the backup domain needs to know of a KMS key.
type KeyInfo struct {
	ARN     string
	Account string
	// Manager is "AWS" for AWS-managed keys (aws/backup, aws/rds), else
	// "CUSTOMER".
	Manager string
	Usage   string // ENCRYPT_DECRYPT for keys a vault can use
	Spec    string // SYMMETRIC_DEFAULT for keys a vault can use
	Enabled bool
}

// Keys is the KMS the backup domain uses.
type Keys interface {
	// ManagedKey returns the ARN of the AWS-managed key alias/aws/SERVICE
	// in the account and region, creating it on first use.
	ManagedKey(ctx context.Context, account, region, service string) (string, error)
	// DescribeKey describes a key (ID, ARN or alias) as the caller in ctx
	// may see it.
	DescribeKey(ctx context.Context, region, keyID string) (KeyInfo, error)
}

// Organizations answers the questions cross-account rules ask.
type Organizations interface {
	// SameOrganization reports whether both accounts belong to one
	// organization.
	SameOrganization(ctx context.Context, accountA, accountB string) (bool, error)
	// ManagementAccount returns the management account of the account's
	// organization, or "" when it belongs to none.
	ManagementAccount(ctx context.Context, account string) (string, error)
}

// Roles gives jobs the identities they act as.
type Roles interface {
	// AssumeRoleAsService returns a session of roleARN for the service
	// principal, refused when the role's trust policy does not let the
	// service assume it.
	AssumeRoleAsService(ctx context.Context, roleARN, service string) (*identity.Principal, error)
	// EnsureBackupServiceRole returns the ARN of the account's
	// AWSBackupDefaultServiceRole, creating it when missing.
	EnsureBackupServiceRole(ctx context.Context, account string) (string, error)
}

// Domain names a dedup domain of the vault storage: the recovery points
// of one vault encrypted under one KMS key.
type Domain struct {
	Region, Account, Vault, KeyARN string
	// KeyService is the service whose kms:ViaService the storage engine's
	// KMS calls with KeyARN carry (KeyServiceRDS or KeyServiceBackup); it
	// is not part of the domain's identity.
	KeyService string
}

// Key services: a recovery point under its database's own key is an RDS
// snapshot, used through RDS (which is what lets aws/rds-encrypted
// databases be backed up at all); one under its vault's key (an
// unencrypted database, a copy) is used through Backup, as the aws/backup
// key policy requires.
const (
	KeyServiceRDS    = "rds"
	KeyServiceBackup = "backup"
)

// Written reports what a write or copy stored.
type Written struct {
	ManifestID   string
	Size         int64 // logical bytes of the stream
	BytesWritten int64 // bytes added to storage
}

// Storage is the vault storage engine. The caller in ctx is who unwraps
// and wraps the domains' keys through KMS.
type Storage interface {
	// Write stores what fill writes into the sink and its (encrypted)
	// metadata, committing only when fill succeeded and the whole stream
	// is durable; on error nothing is stored.
	Write(ctx context.Context, d Domain, meta map[string]string, fill func(Sink) error) (Written, error)
	Read(ctx context.Context, d Domain, manifestID string) (io.ReadCloser, map[string]string, error)
	// Copy re-encrypts a recovery point into another domain, writing only
	// what the destination lacks.
	Copy(ctx context.Context, src, dst Domain, manifestID string) (Written, error)
	Delete(ctx context.Context, d Domain, manifestID string) error
	// ReleaseAttempts drops what the attempts of job before attempt
	// wrote and did not commit (they are fenced out: another attempt
	// took the job over) and frees its space at once.
	ReleaseAttempts(ctx context.Context, job string, attempt int64) error
}

// attemptKey carries the job attempt a worker runs.
type attemptKey struct{}

type jobAttempt struct {
	job     string
	attempt int64
}

// Attempt names the job and attempt ctx runs, for storage to tag what it
// writes (ReleaseAttempts); job is "" outside a job.
func Attempt(ctx context.Context) (job string, attempt int64) {
	a, _ := ctx.Value(attemptKey{}).(jobAttempt)
	return a.job, a.attempt
}

// Resources are the databases backup protects (RDS DB instances).
type Resources interface {
	// Source opens a resource for a snapshot, acting as the caller in
	// ctx (the job's role session).
	Source(ctx context.Context, resourceARN string) (*Source, error)
	// CreateRestored creates a new, empty DB instance to restore into,
	// as the caller in ctx.
	CreateRestored(ctx context.Context, spec RestoreSpec) (*Restored, error)
	// RestorePhysical creates a new DB instance from a physical snapshot,
	// as the caller in ctx: it unpacks r (checked against md and the
	// backup's manifest) into a new data directory, makes the instance's
	// server of it (recovery runs to the backup's consistent point) and
	// validates the server. On error nothing is left but, when the
	// instance was made, the failed instance (Restored non-nil). A table
	// checksum mismatch is no error: Validated.Result says it.
	RestorePhysical(ctx context.Context, spec RestoreSpec, r io.Reader, md *engine.Metadata) (*Restored, *Validated, error)
	// CheckRestore refuses restore metadata (requested, over the recovery
	// point's recorded) that a restore could only fail on, with Backup's
	// InvalidParameterValueException.
	CheckRestore(recorded, requested map[string]string) error
	// AbandonRestored marks FAILED, with reason, the instance a restore
	// attempt created and could not finish (its node stopped).
	AbandonRestored(ctx context.Context, arn, reason string) error
	// Holder names the coffer node that holds the server of resource
	// arn, and whether it is this node (true as well for a resource that
	// every node reaches).
	Holder(ctx context.Context, arn string) (node string, here bool, err error)
}

// Source is a database about to be snapshotted.
type Source struct {
	ARN, Type, Name string
	// KeyARN is the database's KMS key: the recovery point stays
	// encrypted under it, as RDS snapshots do.
	KeyARN string
	Engine engine.Engine
	Target engine.Target
	// Physical, when set, takes the snapshot instead of Engine: a
	// physical backup of the server Target names (an administrator
	// allowed replication connections).
	Physical Snapshotter
	// RestoreMetadata is what GetRecoveryPointRestoreMetadata shows.
	RestoreMetadata map[string]string
	// Secrets are what a restore needs and nobody may read back (the
	// master password); they travel in the encrypted manifest.
	Secrets map[string]string
}

// RestoreSpec describes the instance a restore creates.
type RestoreSpec struct {
	Account, Region string
	// Metadata is the recovery point's restore metadata overridden by
	// the caller's (DBInstanceIdentifier, KmsKeyId, ...); Requested is
	// the caller's part alone.
	Metadata, Requested map[string]string
	// Recorded is the recovery point's own restore metadata (the
	// source's).
	Recorded map[string]string
	Secrets  map[string]string
}

// Sink is where a snapshot is written: a stream whose writer may mark
// sections cut into fixed blocks (Boundary, as vaultstore.Writer: 0 is
// content-defined), so that unchanged database pages store nothing.
type Sink interface {
	io.Writer
	Boundary(block int) error
}

// Snapshotter takes physical snapshots (engine/pgphysical).
type Snapshotter interface {
	Snapshot(ctx context.Context, t engine.Target, sink Sink) (*engine.Metadata, error)
}

// Validated is what validating a physically restored server found.
type Validated struct {
	// Tables are the restored database's tables with row counts and
	// checksums; Result compares them with the recovery point's, nil
	// when it records none.
	Tables []engine.Table
	Result *engine.VerifyResult
	// Files is the number of files checked against the backup's
	// manifest.
	Files int64
	// How long unpacking (with the manifest check), making the server
	// (start and recovery) and validating it took, for the job's log.
	Unpacked, Recovered, Validated time.Duration
}

// Restored is the instance a restore fills.
type Restored struct {
	ARN    string
	Engine engine.Engine
	Target engine.Target
	// Finish makes the instance available, or removes it when the
	// restore failed.
	Finish func(ctx context.Context, ok bool) error
}

// Queue enqueues jobs in the caller's transaction and leases running
// ones to a node.
type Queue interface {
	InsertTx(ctx context.Context, tx meta.Querier, args river.JobArgs, opts *river.InsertOpts) error
	// Lease is how long a node may go without renewing a running job
	// before another node takes it over.
	Lease() time.Duration
	// Renew renews the lease of attempt of the running queue job id;
	// false: the lease is lost and the attempt must stop.
	Renew(ctx context.Context, id int64, attempt int) (bool, error)
	// AwaitSuccessor returns once no later attempt of queue job id is
	// queued or running.
	AwaitSuccessor(ctx context.Context, id int64, attempt int) error
	// NodeHeartbeat is the last heartbeat of coffer node id; known is
	// false when the node is not running (it stopped, cleanly or not
	// seen yet).
	NodeHeartbeat(ctx context.Context, id string) (beat time.Time, known bool, err error)
}

// Service is the backup domain.
type Service struct {
	store meta.Store
	authz *authz.Authorizer
	keys  Keys
	orgs  Organizations
	roles Roles
	data  Storage
	dbs   Resources
	cont  Continuous
	queue Queue
	log   *slog.Logger
	now   func() time.Time

	onBackupDone func(ctx context.Context, j *Job)
	tagOwners    map[string]TagOwner
	notifier     Notifier
	perAccount   int
}

// Options configure a Service.
type Options struct {
	Store     meta.Store
	Authz     *authz.Authorizer
	Keys      Keys
	Orgs      Organizations
	Roles     Roles
	Storage   Storage
	Resources Resources
	Queue     Queue
	Log       *slog.Logger
	Now       func() time.Time
	// JobsPerAccount bounds the jobs one account runs at once across all
	// nodes (default 2).
	JobsPerAccount int
}

// New returns the backup domain.
func New(o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.JobsPerAccount == 0 {
		o.JobsPerAccount = 2
	}
	return &Service{tagOwners: map[string]TagOwner{}, perAccount: o.JobsPerAccount, store: o.Store, authz: o.Authz, keys: o.Keys, orgs: o.Orgs, roles: o.Roles, data: o.Storage, dbs: o.Resources, queue: o.Queue, log: o.Log, now: o.Now}
}

// Scope is where an operation acts: the caller's account and the region
// the request was signed for.
type Scope struct {
	Account string
	Region  string
}

func (s *Service) scope(ctx context.Context) (Scope, *identity.Principal, error) {
	p := identity.Caller(ctx)
	if p == nil {
		return Scope{}, nil, awserr.New(awserr.Unauthenticated, "MissingAuthenticationTokenException", "Request is missing Authentication Token")
	}
	return Scope{Account: p.AccountID, Region: region(ctx)}, p, nil
}

func alreadyExists(format string, args ...any) error {
	return awserr.New(awserr.Conflict, "AlreadyExistsException", format, args...)
}

func isNotFound(err error) bool {
	var e *awserr.Error
	return errors.As(err, &e) && e.Kind == awserr.NotFound
}

// Errors with Backup's codes.

func notFound(format string, args ...any) error {
	return awserr.New(awserr.NotFound, "ResourceNotFoundException", format, args...)
}

// InvalidParam is Backup's error for a malformed parameter.
func InvalidParam(format string, args ...any) error {
	return awserr.New(awserr.Invalid, "InvalidParameterValueException", format, args...)
}

func missingParam(name string) error {
	return awserr.New(awserr.Invalid, "MissingParameterValueException", "%s is required", name)
}

func invalidRequest(format string, args ...any) error {
	return awserr.New(awserr.Invalid, "InvalidRequestException", format, args...)
}

var vaultNameRe = regexp.MustCompile(`^[a-zA-Z0-9\-_]{2,50}$`)

// VaultARN is arn:aws:backup:REGION:ACCOUNT:backup-vault:NAME.
func VaultARN(region, account, name string) string {
	return fmt.Sprintf("arn:aws:backup:%s:%s:backup-vault:%s", region, account, name)
}

func awsLimit(format string, args ...any) error {
	return awserr.New(awserr.Limit, "LimitExceededException", format, args...)
}

// authorizeAny authorizes an action that names no resource.
func (s *Service) authorizeAny(ctx context.Context, action string) error {
	return s.authz.Authorize(ctx, authz.Request{Action: action, Resource: "*"})
}

func invalidResourceState(format string, args ...any) error {
	return awserr.New(awserr.Conflict, "InvalidResourceStateException", format, args...)
}
