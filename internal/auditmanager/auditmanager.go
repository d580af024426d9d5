// Package auditmanager is AWS Backup Audit Manager: frameworks of
// controls evaluated on coffer's resources (RDS DB instances and the
// recovery points of the account's vaults), report plans, and report
// jobs that write compliance reports, as CSV and JSON, to an
// S3-compatible bucket.
//
// # Report objects
//
// A report job writes one object per format the plan's delivery channel
// names (CSV when none) at
//
//	[S3KeyPrefix/]Backup/REGION/YYYY/MM/DD/REPORTPLANNAME/TEMPLATE_JOBID.{csv,json}
//
// The JSON object is {"reportItems": [ITEM, ...]}; the CSV object has a
// header row of the same member names, then a row per item. Items of a
// CONTROL_COMPLIANCE_REPORT: accountId, region, frameworkName,
// frameworkDescription, controlName, controlComplianceStatus
// (COMPLIANT, NON_COMPLIANT), lastEvaluationTime (RFC 3339),
// numResourcesCompliant, numResourcesNonCompliant, controlScope,
// controlParameters (JSON). Items of a RESOURCE_COMPLIANCE_REPORT:
// accountId, region, frameworkName, frameworkDescription, controlName,
// resourceName, resourceId (its ARN), resourceType
// (AWS::RDS::DBInstance, AWS::Backup::RecoveryPoint),
// resourceComplianceStatus, lastEvaluationTime.
package auditmanager

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"regexp"
	"time"

	"github.com/riverqueue/river"

	"github.com/coffer-dev/coffer/internal/authz"
	"github.com/coffer-dev/coffer/internal/backup"
	"github.com/coffer-dev/coffer/internal/callscope"
	"github.com/coffer-dev/coffer/internal/meta"
	"github.com/coffer-dev/coffer/internal/plans"
)

// Frameworks and report plans are named like this.
var nameRe = regexp.MustCompile(`^[a-zA-Z][_a-zA-Z0-9]{0,255}$`)

const maxDescription = 1024

// Backup is what the controls read of the backup domain.
type Backup interface {
	AuditRecoveryPoints(ctx context.Context, account, region string) ([]backup.AuditRecoveryPoint, error)
	VaultLockOf(ctx context.Context, vaultARN string) (backup.VaultLock, bool, error)
	CompletedRestores(ctx context.Context, account, region string) ([]*backup.Job, error)
}

var _ Backup = (*backup.Service)(nil)

// Plans is the backup plans' view of what they protect where.
type Plans interface {
	RPO(ctx context.Context) ([]plans.RPOEntry, error)
}

var _ Plans = (*plans.Service)(nil)

// Buckets writes report objects to S3-compatible buckets.
type Buckets interface {
	// Put writes an object into the bucket of the region's S3 endpoint.
	Put(ctx context.Context, region, bucket, key, contentType string, body []byte) error
}

// Queue enqueues report jobs in the caller's transaction.
type Queue interface {
	InsertTx(ctx context.Context, tx meta.Querier, args river.JobArgs, opts *river.InsertOpts) error
}

// Service is Backup Audit Manager.
type Service struct {
	store     meta.Store
	authz     *authz.Authorizer
	backup    Backup
	plans     Plans
	resources plans.Resources
	buckets   Buckets
	queue     Queue
	log       *slog.Logger
	now       func() time.Time
}

// Options configure a Service.
type Options struct {
	Store     meta.Store
	Authz     *authz.Authorizer
	Backup    Backup
	Plans     Plans
	Resources plans.Resources
	Buckets   Buckets
	Queue     Queue
	Log       *slog.Logger
	Now       func() time.Time
}

// New returns Backup Audit Manager.
func New(o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Service{store: o.Store, authz: o.Authz, backup: o.Backup, plans: o.Plans, resources: o.Resources, buckets: o.Buckets, queue: o.Queue, log: o.Log, now: o.Now}
}

type scope = callscope.Scope

// scope returns the caller's scope once action on resource is authorized.
func (s *Service) scope(ctx context.Context, action, resource string) (scope, error) {
	sc, err := callscope.Of(ctx)
	if err != nil {
		return scope{}, err
	}
	return sc, s.authz.Authorize(ctx, authz.Request{Action: action, Resource: resource})
}

func checkName(field, name string) error {
	switch {
	case name == "":
		return backup.MissingParam(field)
	case !nameRe.MatchString(name):
		return backup.InvalidParam("%s %q must start with a letter and hold only letters, digits and underscores (at most 256)", field, name)
	}
	return nil
}

func checkDescription(field, d string) error {
	if len(d) > maxDescription {
		return backup.InvalidParam("%s is longer than %d characters", field, maxDescription)
	}
	return nil
}

func randomID(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func unixTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}
