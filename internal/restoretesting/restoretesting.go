// Package restoretesting is AWS Backup's restore testing: restore
// testing plans (a schedule and which recovery points to pick), their
// selections (which protected resources, with which restore metadata and
// validation window), and the scheduler that, on each run of a plan,
// restores the picked recovery points into temporary instances through
// the backup domain's restore jobs, whose validation (the recovery
// point's checksums, plus the selection's validation query) is the
// test's result, and deletes each temporary instance once the
// selection's ValidationWindowHours have passed.
//
// Plans and selections are stored as the JSON of their API shapes (AWS's
// member names), so the API adapter decodes requests straight into them.
// A selection's RestoreMetadataOverrides may carry the key
// ValidationQuery: SQL run on the restored database that must return
// true.
package restoretesting

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"regexp"
	"time"

	"github.com/coffer-dev/coffer/internal/authz"
	"github.com/coffer-dev/coffer/internal/backup"
	"github.com/coffer-dev/coffer/internal/callscope"
	"github.com/coffer-dev/coffer/internal/meta"
	"github.com/coffer-dev/coffer/internal/plans"
)

// Limits and defaults of AWS Backup restore testing.
const (
	DefaultSchedule           = "cron(0 5 ? * * *)"
	defaultStartWindowHours   = 24
	maxStartWindowHours       = 168
	defaultSelectionWindow    = 30
	maxSelectionWindow        = 365
	maxValidationWindowHours  = 168
	maxProtectedResourceArns  = 30
	maxRunsPerTick            = 1000
	defaultTickInterval       = time.Minute
	temporaryInstancePrefix   = "awsbackup-restore-test-"
	algorithmLatest           = "LATEST_WITHIN_WINDOW"
	algorithmRandom           = "RANDOM_WITHIN_WINDOW"
	recoveryPointTypeSnapshot = "SNAPSHOT"
	recoveryPointTypeContin   = "CONTINUOUS"
)

// Names consist of letters, digits and underscores, at most 50.
var nameRe = regexp.MustCompile(`^[a-zA-Z0-9_]{1,50}$`)

// checkName checks the name member of a plan or selection, parent the
// request member holding it.
func checkName(parent, member, name string) error {
	switch {
	case name == "":
		return backup.MissingParam(parent + "." + member)
	case !nameRe.MatchString(name):
		return backup.InvalidParam("%s %q must be 1 to 50 letters, digits or underscores", member, name)
	}
	return nil
}

// Backup is what restore testing uses of the backup domain.
type Backup interface {
	StartPlannedRestore(ctx context.Context, pr backup.PlannedRestore) (*backup.Job, bool, error)
	TestableRecoveryPoints(ctx context.Context, account, region string, since time.Time) ([]backup.TestableRecoveryPoint, error)
	Job(ctx context.Context, id string) (*backup.Job, error)
	SetDeletionStatus(ctx context.Context, id, status, message string) error
	CheckJobRole(ctx context.Context, roleARN string) error
}

var _ Backup = (*backup.Service)(nil)

// Instances deletes restore tests' temporary instances.
type Instances interface {
	// DeleteTemporary asks, acting as the role, for the instance to be
	// deleted; gone reports that it no longer exists.
	DeleteTemporary(ctx context.Context, roleARN, instanceARN string) (gone bool, err error)
}

// Service is the restore testing domain and its scheduler.
type Service struct {
	store     meta.Store
	authz     *authz.Authorizer
	backup    Backup
	resources plans.Resources
	instances Instances
	log       *slog.Logger
	now       func() time.Time
}

// Options configure a Service.
type Options struct {
	Store  meta.Store
	Authz  *authz.Authorizer
	Backup Backup
	// Resources lists resources with their tags, for selections' tag
	// conditions.
	Resources plans.Resources
	Instances Instances
	Log       *slog.Logger
	// Now is the scheduler's clock; the backup domain must use the same.
	Now func() time.Time
}

// New returns the restore testing domain.
func New(o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Service{store: o.Store, authz: o.Authz, backup: o.Backup, resources: o.Resources, instances: o.Instances, log: o.Log, now: o.Now}
}

type scope = callscope.Scope

func (s *Service) scope(ctx context.Context) (scope, error) { return callscope.Of(ctx) }

func (s *Service) authorize(ctx context.Context, action, resource string) error {
	return s.authz.Authorize(ctx, authz.Request{Action: action, Resource: resource})
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// PlanARN is arn:aws:backup:REGION:ACCOUNT:restore-testing-plan:NAME-ID.
func PlanARN(region, account, name, id string) string {
	return "arn:aws:backup:" + region + ":" + account + ":restore-testing-plan:" + name + "-" + id
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func unixTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}
