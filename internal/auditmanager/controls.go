package auditmanager

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/coffer-dev/coffer/internal/backup"
	"github.com/coffer-dev/coffer/internal/plans"
)

// Compliance statuses.
const (
	Compliant    = "COMPLIANT"
	NonCompliant = "NON_COMPLIANT"
)

// Resource types of the evaluated resources, as AWS Config names them.
const (
	typeDBInstance    = "AWS::RDS::DBInstance"
	typeRecoveryPoint = "AWS::Backup::RecoveryPoint"
)

// param describes a control input parameter: its default and range.
type param struct {
	name     string
	def      string
	min, max int
	choices  []string // a text parameter's values; nil for a number
	list     bool     // a comma-separated list (of account IDs)
}

// control is a control coffer evaluates.
type control struct {
	inputs []param
	// eval evaluates the control on one account's region.
	eval func(ctx context.Context, e *evidence, p map[string]string) ([]ResourceResult, error)
}

// controls are the AWS Backup controls that make sense for coffer's
// resources.
var controls = map[string]control{
	"BACKUP_RESOURCES_PROTECTED_BY_BACKUP_PLAN": {eval: evalProtectedByPlan},
	"BACKUP_RECOVERY_POINT_ENCRYPTED":           {eval: evalEncrypted},
	"BACKUP_RECOVERY_POINT_MINIMUM_RETENTION_CHECK": {inputs: []param{{name: "requiredRetentionDays", def: "35", min: 1, max: 36500}},
		eval: evalMinRetention},
	"BACKUP_RESOURCES_PROTECTED_BY_CROSS_ACCOUNT": {inputs: []param{{name: "crossAccountList", list: true}},
		eval: evalCrossAccount},
	"BACKUP_RESOURCES_PROTECTED_BY_BACKUP_VAULT_LOCK": {inputs: []param{{name: "minRetentionDays", min: 1, max: 36500}, {name: "maxRetentionDays", min: 1, max: 36500}},
		eval: evalVaultLock},
	"BACKUP_LAST_RECOVERY_POINT_CREATED": {inputs: []param{{name: "recoveryPointAgeValue", def: "1", min: 1, max: 744},
		{name: "recoveryPointAgeUnit", def: "days", choices: []string{"hours", "days"}}},
		eval: evalLastRecoveryPoint},
	"RESTORE_TIME_FOR_RESOURCES_MEET_TARGET": {inputs: []param{{name: "maxRestoreTime", def: "720", min: 1, max: 43200}},
		eval: evalRestoreTime},
}

func controlNames() string {
	var names []string
	for n := range controls {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// params checks a control's input parameters and returns them with the
// defaults filled in.
func (c control) params(in []ControlInputParameter) (map[string]string, error) {
	out := map[string]string{}
	for _, p := range c.inputs {
		if p.def != "" {
			out[p.name] = p.def
		}
	}
	for _, ip := range in {
		i := slices.IndexFunc(c.inputs, func(p param) bool { return p.name == ip.ParameterName })
		if i < 0 {
			return nil, backup.InvalidParam("the control takes no parameter %q", ip.ParameterName)
		}
		p := c.inputs[i]
		v := strings.TrimSpace(ip.ParameterValue)
		switch {
		case p.list:
			for _, a := range strings.Split(v, ",") {
				if a = strings.TrimSpace(a); len(a) != 12 || strings.Trim(a, "0123456789") != "" {
					return nil, backup.InvalidParam("%s entry %q is not a 12-digit account ID", p.name, a)
				}
			}
		case p.choices != nil:
			if !slices.Contains(p.choices, v) {
				return nil, backup.InvalidParam("%s must be one of %s, not %q", p.name, strings.Join(p.choices, ", "), v)
			}
		default:
			n, err := strconv.Atoi(v)
			if err != nil || n < p.min || n > p.max {
				return nil, backup.InvalidParam("%s must be a whole number from %d to %d, not %q", p.name, p.min, p.max, v)
			}
		}
		out[p.name] = v
	}
	return out, nil
}

// ResourceResult is a control's verdict on one resource.
type ResourceResult struct {
	ResourceARN, ResourceName, ResourceType, Status string
}

// ControlResult is a control's evaluation in one account and region.
type ControlResult struct {
	Framework   *Framework
	Control     FrameworkControl
	Parameters  map[string]string
	Status      string
	Resources   []ResourceResult
	EvaluatedAt time.Time
}

// Count counts the resources with the status.
func (r ControlResult) Count(status string) int {
	n := 0
	for _, res := range r.Resources {
		if res.Status == status {
			n++
		}
	}
	return n
}

// evidence is what the controls of one account's region read, loaded
// once per evaluation.
type evidence struct {
	account, region string
	now             time.Time
	instances       []plans.Resource
	rpo             []plans.RPOEntry // of the account's region's instances
	points          []backup.AuditRecoveryPoint
	b               Backup
}

func (s *Service) gather(ctx context.Context, account, region string) (*evidence, error) {
	e := &evidence{account: account, region: region, now: s.now().UTC(), b: s.backup}
	var err error
	if e.instances, err = s.resources.Resources(ctx, account, region); err != nil {
		return nil, fmt.Errorf("list resources: %w", err)
	}
	all, err := s.plans.RPO(ctx)
	if err != nil {
		return nil, fmt.Errorf("protection view: %w", err)
	}
	prefix := "arn:aws:rds:" + region + ":" + account + ":db:"
	for _, r := range all {
		if strings.HasPrefix(r.ResourceARN, prefix) {
			e.rpo = append(e.rpo, r)
		}
	}
	if e.points, err = s.backup.AuditRecoveryPoints(ctx, account, region); err != nil {
		return nil, fmt.Errorf("recovery points: %w", err)
	}
	return e, nil
}

// Evaluate evaluates a framework's controls in its account and region.
func (s *Service) Evaluate(ctx context.Context, f *Framework) ([]ControlResult, error) {
	e, err := s.gather(ctx, f.Account, f.Region)
	if err != nil {
		return nil, err
	}
	var out []ControlResult
	for _, c := range f.Controls {
		def := controls[c.ControlName]
		p, err := def.params(c.ControlInputParameters)
		if err != nil {
			return nil, err
		}
		res, err := def.eval(ctx, e, p)
		if err != nil {
			return nil, fmt.Errorf("control %s: %w", c.ControlName, err)
		}
		res = e.inScope(res, c.ControlScope)
		r := ControlResult{Framework: f, Control: c, Parameters: p, Status: Compliant, Resources: res, EvaluatedAt: e.now}
		if r.Count(NonCompliant) > 0 {
			r.Status = NonCompliant
		}
		out = append(out, r)
	}
	return out, nil
}

// inScope keeps the results the control's scope covers: the resources
// named by ID (the instance identifier or ARN), and those whose
// instance carries the scope's tags.
func (e *evidence) inScope(rs []ResourceResult, sc *ControlScope) []ResourceResult {
	if sc == nil {
		return rs
	}
	tagsOf := map[string]map[string]string{}
	for _, i := range e.instances {
		tagsOf[i.ARN] = i.Tags
	}
	var out []ResourceResult
	for _, r := range rs {
		arn := r.ResourceARN
		if r.ResourceType == typeRecoveryPoint {
			arn = r.ResourceName // the protected resource
		}
		if len(sc.ComplianceResourceIds) > 0 && !slices.Contains(sc.ComplianceResourceIds, arn) && !slices.Contains(sc.ComplianceResourceIds, arn[strings.LastIndex(arn, ":")+1:]) {
			continue
		}
		ok := true
		for k, v := range sc.Tags {
			if tagsOf[arn][k] != v {
				ok = false
			}
		}
		if ok {
			out = append(out, r)
		}
	}
	return out
}

func verdict(ok bool) string {
	if ok {
		return Compliant
	}
	return NonCompliant
}

// perInstance judges every instance of the account's region.
func (e *evidence) perInstance(judge func(arn string, entries []plans.RPOEntry) (bool, error)) ([]ResourceResult, error) {
	var out []ResourceResult
	for _, i := range e.instances {
		var entries []plans.RPOEntry
		for _, r := range e.rpo {
			if r.ResourceARN == i.ARN {
				entries = append(entries, r)
			}
		}
		ok, err := judge(i.ARN, entries)
		if err != nil {
			return nil, err
		}
		out = append(out, ResourceResult{ResourceARN: i.ARN, ResourceName: i.ARN[strings.LastIndex(i.ARN, ":")+1:], ResourceType: typeDBInstance, Status: verdict(ok)})
	}
	return out, nil
}

// perRecoveryPoint judges every recovery point of the account's vaults
// in the region.
func (e *evidence) perRecoveryPoint(judge func(backup.AuditRecoveryPoint) bool) []ResourceResult {
	var out []ResourceResult
	for _, rp := range e.points {
		out = append(out, ResourceResult{ResourceARN: rp.ARN, ResourceName: rp.ResourceARN, ResourceType: typeRecoveryPoint, Status: verdict(judge(rp))})
	}
	return out
}

func evalProtectedByPlan(_ context.Context, e *evidence, _ map[string]string) ([]ResourceResult, error) {
	return e.perInstance(func(_ string, entries []plans.RPOEntry) (bool, error) {
		return slices.ContainsFunc(entries, func(r plans.RPOEntry) bool { return len(r.Plans) > 0 }), nil
	})
}

func evalEncrypted(_ context.Context, e *evidence, _ map[string]string) ([]ResourceResult, error) {
	return e.perRecoveryPoint(func(rp backup.AuditRecoveryPoint) bool { return rp.EncryptionKeyARN != "" }), nil
}

func evalMinRetention(_ context.Context, e *evidence, p map[string]string) ([]ResourceResult, error) {
	days, _ := strconv.ParseInt(p["requiredRetentionDays"], 10, 64)
	return e.perRecoveryPoint(func(rp backup.AuditRecoveryPoint) bool {
		return rp.Lifecycle.DeleteAfterDays == 0 || rp.Lifecycle.DeleteAfterDays >= days
	}), nil
}

// vaultAccount is the account in a vault ARN.
func vaultAccount(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 5 {
		return ""
	}
	return parts[4]
}

func evalCrossAccount(_ context.Context, e *evidence, p map[string]string) ([]ResourceResult, error) {
	var allowed []string
	if v := p["crossAccountList"]; v != "" {
		for _, a := range strings.Split(v, ",") {
			allowed = append(allowed, strings.TrimSpace(a))
		}
	}
	return e.perInstance(func(_ string, entries []plans.RPOEntry) (bool, error) {
		return slices.ContainsFunc(entries, func(r plans.RPOEntry) bool {
			acct := vaultAccount(r.VaultARN)
			return r.Kind == "copy" && acct != e.account && (allowed == nil || slices.Contains(allowed, acct))
		}), nil
	})
}

func evalVaultLock(ctx context.Context, e *evidence, p map[string]string) ([]ResourceResult, error) {
	minDays, _ := strconv.ParseInt(p["minRetentionDays"], 10, 64)
	maxDays, _ := strconv.ParseInt(p["maxRetentionDays"], 10, 64)
	return e.perInstance(func(_ string, entries []plans.RPOEntry) (bool, error) {
		for _, r := range entries {
			if r.Last.IsZero() {
				continue
			}
			lock, ok, err := e.b.VaultLockOf(ctx, r.VaultARN)
			if err != nil {
				return false, err
			}
			if ok && lock.Enabled && (minDays == 0 || lock.MinRetentionDays >= minDays) && (maxDays == 0 || (lock.MaxRetentionDays > 0 && lock.MaxRetentionDays <= maxDays)) {
				return true, nil
			}
		}
		return false, nil
	})
}

func evalLastRecoveryPoint(_ context.Context, e *evidence, p map[string]string) ([]ResourceResult, error) {
	n, _ := strconv.Atoi(p["recoveryPointAgeValue"])
	unit := time.Hour
	if p["recoveryPointAgeUnit"] == "days" {
		unit = 24 * time.Hour
	}
	oldest := e.now.Add(-time.Duration(n) * unit)
	return e.perInstance(func(_ string, entries []plans.RPOEntry) (bool, error) {
		return slices.ContainsFunc(entries, func(r plans.RPOEntry) bool { return !r.Last.IsZero() && !r.Last.Before(oldest) }), nil
	})
}

// evalRestoreTime judges the instances restored in the account's
// region: the newest completed restore of each must have taken at most
// maxRestoreTime minutes. Instances never restored are not evaluated.
func evalRestoreTime(ctx context.Context, e *evidence, p map[string]string) ([]ResourceResult, error) {
	minutes, _ := strconv.Atoi(p["maxRestoreTime"])
	jobs, err := e.b.CompletedRestores(ctx, e.account, e.region)
	if err != nil {
		return nil, err
	}
	took := map[string]time.Duration{} // newest restore per source resource
	for _, j := range jobs {
		took[j.ResourceARN] = j.Completed.Sub(j.Created)
	}
	all, err := e.perInstance(func(arn string, _ []plans.RPOEntry) (bool, error) {
		return took[arn] <= time.Duration(minutes)*time.Minute, nil
	})
	if err != nil {
		return nil, err
	}
	var out []ResourceResult
	for _, r := range all {
		if _, ok := took[r.ResourceARN]; ok {
			out = append(out, r)
		}
	}
	return out, nil
}
