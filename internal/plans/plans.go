// Package plans is AWS Backup's backup plans: plans with versions and
// rules, the resource selections assigned to them, the scheduler that
// turns each rule's schedule into exactly one backup job per window and
// resource (and its copy actions into copy jobs), the periodic lifecycle
// sweep, and the RPO view of what the plans protect.
//
// A plan document uses AWS's JSON member names, so GetBackupPlanFromJSON
// and ExportBackupPlanTemplate are (un)marshalling, and the API adapter
// decodes requests straight into it.
package plans

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/coffer-dev/coffer/internal/authz"
	"github.com/coffer-dev/coffer/internal/awserr"
	"github.com/coffer-dev/coffer/internal/backup"
	"github.com/coffer-dev/coffer/internal/callscope"
	"github.com/coffer-dev/coffer/internal/meta"
	"github.com/coffer-dev/coffer/internal/plans/schedule"
)

// Defaults and limits of AWS Backup.
const (
	DefaultSchedule            = "cron(0 5 ? * * *)"
	DefaultStartWindow         = 480
	MinStartWindow             = 60
	DefaultCompletionWindow    = 10080
	maxRules                   = 100
	maxCopyActions             = 10
	maxSelectionResourceCount  = 500
	minScheduleInterval        = time.Hour
	templateMaxBytes           = 1 << 20
	maxWindowsPerTick          = 1000
	copyCatchUp                = 6 * time.Hour // how far back the tick restarts missed copy actions
	lifecycleInterval          = time.Hour
	defaultTickInterval        = time.Minute
	versionIDBytes             = 24
	planIDBytes                = 16
	namePatternText            = `^[a-zA-Z0-9\-\_\.]{1,50}$`
	maxRecoveryPointTagEntries = 50
)

var nameRe = regexp.MustCompile(namePatternText)

// Lifecycle is a rule's or copy action's lifecycle, as AWS writes it.
type Lifecycle struct {
	MoveToColdStorageAfterDays *int64 `json:",omitempty"`
	DeleteAfterDays            *int64 `json:",omitempty"`
	// Not supported; kept to refuse them clearly.
	OptInToArchiveForSupportedResources *bool   `json:",omitempty"`
	DeleteAfterEvent                    *string `json:",omitempty"`
}

// Domain is the lifecycle the backup domain applies.
func (l *Lifecycle) Domain() backup.Lifecycle {
	if l == nil {
		return backup.Lifecycle{}
	}
	var out backup.Lifecycle
	if l.MoveToColdStorageAfterDays != nil {
		out.ColdAfterDays = *l.MoveToColdStorageAfterDays
	}
	if l.DeleteAfterDays != nil {
		out.DeleteAfterDays = *l.DeleteAfterDays
	}
	return out
}

// CopyAction copies each recovery point a rule makes into another vault.
type CopyAction struct {
	DestinationBackupVaultArn string
	Lifecycle                 *Lifecycle `json:",omitempty"`
}

// Rule is one schedule of a plan.
type Rule struct {
	RuleName                   string
	RuleId                     string `json:",omitempty"`
	TargetBackupVaultName      string
	ScheduleExpression         string            `json:",omitempty"`
	ScheduleExpressionTimezone string            `json:",omitempty"`
	StartWindowMinutes         *int64            `json:",omitempty"`
	CompletionWindowMinutes    *int64            `json:",omitempty"`
	Lifecycle                  *Lifecycle        `json:",omitempty"`
	RecoveryPointTags          map[string]string `json:",omitempty"`
	CopyActions                []CopyAction      `json:",omitempty"`
	EnableContinuousBackup     *bool             `json:",omitempty"`
	// Not supported; kept to refuse them clearly.
	TargetLogicallyAirGappedBackupVaultArn *string         `json:",omitempty"`
	IndexActions                           json.RawMessage `json:",omitempty"`
	ScanActions                            json.RawMessage `json:",omitempty"`
}

// Schedule parses the rule's expression in its time zone.
func (r *Rule) Schedule() (schedule.Schedule, error) {
	loc, err := schedule.LoadLocation(r.ScheduleExpressionTimezone)
	if err != nil {
		return nil, err
	}
	expr := r.ScheduleExpression
	if expr == "" {
		expr = DefaultSchedule
	}
	return schedule.Parse(expr, loc)
}

// continuous reports whether the rule is a continuous backup rule.
func (r *Rule) continuous() bool {
	return r.EnableContinuousBackup != nil && *r.EnableContinuousBackup
}

func (r *Rule) startWindow() int64 {
	if r.StartWindowMinutes == nil {
		return DefaultStartWindow
	}
	return *r.StartWindowMinutes
}

func (r *Rule) completionWindow() int64 {
	if r.CompletionWindowMinutes == nil {
		return DefaultCompletionWindow
	}
	return *r.CompletionWindowMinutes
}

// Document is a plan version: AWS's BackupPlan.
type Document struct {
	BackupPlanName         string
	Rules                  []Rule
	AdvancedBackupSettings json.RawMessage `json:",omitempty"`
	ScanSettings           json.RawMessage `json:",omitempty"`
}

// Plan is a plan and the version in force (or the one asked for).
type Plan struct {
	ID, ARN, Account, Region string
	VersionID                string
	CreatorRequestID         string
	Created                  time.Time // the plan's creation
	VersionCreated           time.Time // this version's creation
	Deleted, LastExecution   time.Time
	Document                 Document
}

// Rule returns the rule with the ID.
func (p *Plan) Rule(id string) *Rule {
	for i := range p.Document.Rules {
		if p.Document.Rules[i].RuleId == id {
			return &p.Document.Rules[i]
		}
	}
	return nil
}

// PlanARN is arn:aws:backup:REGION:ACCOUNT:backup-plan:ID.
func PlanARN(region, account, id string) string {
	return fmt.Sprintf("arn:aws:backup:%s:%s:backup-plan:%s", region, account, id)
}

// Resource is a resource a selection may pick, with its tags.
type Resource struct {
	ARN  string
	Tags map[string]string
}

// Resources lists the resources of an account in a region that plans
// can back up.
type Resources interface {
	Resources(ctx context.Context, account, region string) ([]Resource, error)
}

// ResourcesFunc adapts a function to Resources.
type ResourcesFunc func(ctx context.Context, account, region string) ([]Resource, error)

// Resources calls f.
func (f ResourcesFunc) Resources(ctx context.Context, account, region string) ([]Resource, error) {
	return f(ctx, account, region)
}

// Backup is what plans use of the backup domain.
type Backup interface {
	StartPlannedBackup(ctx context.Context, pb backup.PlannedBackup) (*backup.Job, bool, error)
	StartPlannedCopy(ctx context.Context, pc backup.PlannedCopy) (*backup.Job, error)
	RecordExpiredWindow(ctx context.Context, pb backup.PlannedBackup, windowStart time.Time) (*backup.Job, error)
	CompletedPlannedBackups(ctx context.Context, since time.Time) ([]*backup.Job, error)
	ApplyLifecycle(ctx context.Context) (backup.LifecycleResult, error)
	VaultExists(ctx context.Context, account, region, name string) (bool, error)
	CheckJobRole(ctx context.Context, roleARN string) error
	LatestRecoveryPoints(ctx context.Context) ([]backup.LatestRecoveryPoint, error)
	NotifyPlan(ctx context.Context, account, region, event, planARN, versionID string, vaults []string)
}

var _ Backup = (*backup.Service)(nil)

// Service is the plans domain and its scheduler.
type Service struct {
	store     meta.Store
	authz     *authz.Authorizer
	backup    Backup
	resources Resources
	log       *slog.Logger
	now       func() time.Time
}

// Options configure a Service.
type Options struct {
	Store     meta.Store
	Authz     *authz.Authorizer
	Backup    Backup
	Resources Resources
	Log       *slog.Logger
	// Now is the clock of the scheduler and of the plans' dates; the
	// backup domain must use the same one.
	Now func() time.Time
}

// New returns the plans domain.
func New(o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Service{store: o.Store, authz: o.Authz, backup: o.Backup, resources: o.Resources, log: o.Log, now: o.Now}
}

type scope = callscope.Scope

func (s *Service) scope(ctx context.Context) (scope, error) { return callscope.Of(ctx) }

func (s *Service) authorize(ctx context.Context, action, resource string) error {
	return s.authz.Authorize(ctx, authz.Request{Action: action, Resource: resource})
}

// Errors with Backup's codes.

func invalidParam(format string, args ...any) error {
	return awserr.New(awserr.Invalid, "InvalidParameterValueException", format, args...)
}

func missingParam(name string) error {
	return awserr.New(awserr.Invalid, "MissingParameterValueException", "%s is required", name)
}

func notFound(format string, args ...any) error {
	return awserr.New(awserr.NotFound, "ResourceNotFoundException", format, args...)
}

func invalidRequest(format string, args ...any) error {
	return awserr.New(awserr.Invalid, "InvalidRequestException", format, args...)
}

func alreadyExists(format string, args ...any) error {
	return awserr.New(awserr.Conflict, "AlreadyExistsException", format, args...)
}

func limitExceeded(format string, args ...any) error {
	return awserr.New(awserr.Limit, "LimitExceededException", format, args...)
}

func newUUID() string {
	var b [planIDBytes]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	s := hex.EncodeToString(b[:])
	return s[0:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:32]
}

// newVersionID is an opaque version ID like AWS's (base64 of random
// bytes).
func newVersionID() string {
	var b [versionIDBytes]byte
	rand.Read(b[:])
	return base64.RawStdEncoding.EncodeToString(b[:])
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

// validate applies AWS Backup's rules to a plan document written in
// scope sc, filling in rule IDs (kept from prev for rules of the same
// name) and checking that vaults exist.
func (s *Service) validate(ctx context.Context, sc scope, d *Document, prev *Document, checkVaults bool) error {
	if d.BackupPlanName == "" {
		return missingParam("BackupPlan.BackupPlanName")
	}
	if !nameRe.MatchString(d.BackupPlanName) {
		return invalidParam("BackupPlanName %q must be 1 to 50 letters, digits or '-_.'", d.BackupPlanName)
	}
	if len(d.Rules) == 0 {
		return missingParam("BackupPlan.Rules")
	}
	if len(d.Rules) > maxRules {
		return limitExceeded("a backup plan has at most %d rules, not %d", maxRules, len(d.Rules))
	}
	if len(d.AdvancedBackupSettings) > 0 && string(d.AdvancedBackupSettings) != "null" && string(d.AdvancedBackupSettings) != "[]" {
		return invalidParam("AdvancedBackupSettings apply to EC2 Windows VSS and S3 backups; coffer backs up databases and does not accept them")
	}
	if len(d.ScanSettings) > 0 && string(d.ScanSettings) != "null" && string(d.ScanSettings) != "[]" {
		return invalidParam("ScanSettings (malware scanning) are not supported by coffer")
	}
	prevIDs := map[string]string{}
	if prev != nil {
		for _, r := range prev.Rules {
			prevIDs[r.RuleName] = r.RuleId
		}
	}
	seen := map[string]bool{}
	for i := range d.Rules {
		r := &d.Rules[i]
		if err := s.validateRule(ctx, sc, r, checkVaults); err != nil {
			return err
		}
		if seen[r.RuleName] {
			return invalidParam("rule name %q is used twice; rule names are unique within a plan", r.RuleName)
		}
		seen[r.RuleName] = true
		r.RuleId = prevIDs[r.RuleName]
		if r.RuleId == "" {
			r.RuleId = newUUID()
		}
	}
	return nil
}

func (s *Service) validateRule(ctx context.Context, sc scope, r *Rule, checkVaults bool) error {
	switch {
	case r.RuleName == "":
		return missingParam("Rules.RuleName")
	case !nameRe.MatchString(r.RuleName):
		return invalidParam("RuleName %q must be 1 to 50 letters, digits or '-_.'", r.RuleName)
	case r.TargetBackupVaultName == "":
		return missingParam("Rules.TargetBackupVaultName")
	case r.TargetLogicallyAirGappedBackupVaultArn != nil:
		return invalidParam("rule %s: logically air-gapped vaults are not supported by coffer yet", r.RuleName)
	case len(r.IndexActions) > 0 && string(r.IndexActions) != "null" && string(r.IndexActions) != "[]":
		return invalidParam("rule %s: IndexActions are not supported by coffer", r.RuleName)
	case len(r.ScanActions) > 0 && string(r.ScanActions) != "null" && string(r.ScanActions) != "[]":
		return invalidParam("rule %s: ScanActions are not supported by coffer", r.RuleName)
	}
	if r.continuous() {
		var l *backup.Lifecycle
		if r.Lifecycle != nil {
			d := r.Lifecycle.Domain()
			l = &d
		}
		if err := backup.CheckContinuousLifecycle(r.RuleName, l); err != nil {
			return err
		}
	}
	sched, err := r.Schedule()
	if err != nil {
		return invalidParam("rule %s: %s", r.RuleName, err.Error())
	}
	if sched.MinInterval() < minScheduleInterval {
		return invalidParam("rule %s: %s runs every %s; a backup rule runs at most once an hour", r.RuleName, sched.String(), sched.MinInterval())
	}
	if sched.Next(s.now()).IsZero() {
		return invalidParam("rule %s: %s has no run after now", r.RuleName, sched.String())
	}
	start := r.startWindow()
	if start < MinStartWindow || start > backup.MaxWindowMinutes {
		return invalidParam("rule %s: StartWindowMinutes must be at least %d and at most %d, not %d", r.RuleName, MinStartWindow, backup.MaxWindowMinutes, start)
	}
	if r.CompletionWindowMinutes != nil && *r.CompletionWindowMinutes > backup.MaxWindowMinutes {
		return invalidParam("rule %s: CompletionWindowMinutes must be at most %d, not %d", r.RuleName, backup.MaxWindowMinutes, *r.CompletionWindowMinutes)
	}
	if r.CompletionWindowMinutes != nil && *r.CompletionWindowMinutes < start+60 {
		return invalidParam("rule %s: CompletionWindowMinutes (%d) must be at least 60 minutes longer than StartWindowMinutes (%d)", r.RuleName, *r.CompletionWindowMinutes, start)
	}
	if err := r.Lifecycle.Check("rule " + r.RuleName); err != nil {
		return err
	}
	if len(r.RecoveryPointTags) > maxRecoveryPointTagEntries {
		return invalidParam("rule %s: at most %d RecoveryPointTags, not %d", r.RuleName, maxRecoveryPointTagEntries, len(r.RecoveryPointTags))
	}
	for k, v := range r.RecoveryPointTags {
		if k == "" || len(k) > 128 || len(v) > 256 || strings.HasPrefix(strings.ToLower(k), "aws:") {
			return invalidParam("rule %s: recovery point tag %q: keys are 1 to 128 characters without the aws: prefix, values at most 256", r.RuleName, k)
		}
	}
	if ok, err := s.vaultExists(ctx, checkVaults, sc.Account, sc.Region, r.TargetBackupVaultName); err != nil {
		return err
	} else if !ok {
		return invalidParam("rule %s: backup vault %s does not exist in account %s, region %s; create it first", r.RuleName, r.TargetBackupVaultName, sc.Account, sc.Region)
	}
	if len(r.CopyActions) > maxCopyActions {
		return limitExceeded("rule %s: at most %d copy actions, not %d", r.RuleName, maxCopyActions, len(r.CopyActions))
	}
	target := backup.VaultARN(sc.Region, sc.Account, r.TargetBackupVaultName)
	dests := map[string]bool{}
	for _, ca := range r.CopyActions {
		if ca.DestinationBackupVaultArn == "" {
			return missingParam("CopyActions.DestinationBackupVaultArn")
		}
		account, region, name, err := backup.ParseVaultARN(ca.DestinationBackupVaultArn)
		if err != nil {
			return invalidParam("rule %s: copy action destination %q is not a backup vault ARN (arn:aws:backup:REGION:ACCOUNT:backup-vault:NAME)", r.RuleName, ca.DestinationBackupVaultArn)
		}
		if ca.DestinationBackupVaultArn == target {
			return invalidParam("rule %s: a copy action cannot copy into the rule's own target vault %s", r.RuleName, target)
		}
		if dests[ca.DestinationBackupVaultArn] {
			return invalidParam("rule %s: two copy actions copy into %s", r.RuleName, ca.DestinationBackupVaultArn)
		}
		dests[ca.DestinationBackupVaultArn] = true
		if ok, err := s.vaultExists(ctx, checkVaults, account, region, name); err != nil {
			return err
		} else if !ok {
			return invalidParam("rule %s: copy action destination vault %s does not exist", r.RuleName, ca.DestinationBackupVaultArn)
		}
		if err := ca.Lifecycle.Check("rule " + r.RuleName + " copy action to " + ca.DestinationBackupVaultArn); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) vaultExists(ctx context.Context, check bool, account, region, name string) (bool, error) {
	if !check {
		return true, nil
	}
	return s.backup.VaultExists(ctx, account, region, name)
}

// Check refuses what coffer cannot honour in a lifecycle (archive tiers,
// deletion after an event, periods under a day, cold storage too close to
// deletion), naming what holds it.
func (l *Lifecycle) Check(what string) error {
	if l == nil {
		return nil
	}
	if l.OptInToArchiveForSupportedResources != nil && *l.OptInToArchiveForSupportedResources {
		return invalidParam("%s: OptInToArchiveForSupportedResources is not supported by coffer", what)
	}
	if l.DeleteAfterEvent != nil {
		return invalidParam("%s: DeleteAfterEvent is not supported by coffer", what)
	}
	for name, v := range map[string]*int64{"MoveToColdStorageAfterDays": l.MoveToColdStorageAfterDays, "DeleteAfterDays": l.DeleteAfterDays} {
		if v != nil && *v < 1 {
			return invalidParam("%s: %s must be at least 1, not %d", what, name, *v)
		}
	}
	if err := l.Domain().Validate(); err != nil {
		var e *awserr.Error
		if errors.As(err, &e) {
			return invalidParam("%s: %s", what, e.Message)
		}
		return err
	}
	return nil
}
