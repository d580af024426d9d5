package auditmanager

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/coffer-dev/coffer/internal/backup"
	"github.com/coffer-dev/coffer/internal/jobs"
	"github.com/coffer-dev/coffer/internal/meta"
	"github.com/coffer-dev/coffer/internal/tags"
)

// Report templates coffer writes.
const (
	TemplateControlCompliance  = "CONTROL_COMPLIANCE_REPORT"
	TemplateResourceCompliance = "RESOURCE_COMPLIANCE_REPORT"
)

// Report job statuses.
const (
	ReportCreated   = "CREATED"
	ReportRunning   = "RUNNING"
	ReportCompleted = "COMPLETED"
	ReportFailed    = "FAILED"
)

// DeliveryChannel is ReportDeliveryChannel.
type DeliveryChannel struct {
	S3BucketName string
	S3KeyPrefix  string   `json:",omitempty"`
	Formats      []string `json:",omitempty"`
}

// Setting is ReportSetting.
type Setting struct {
	ReportTemplate     string
	FrameworkArns      []string `json:",omitempty"`
	NumberOfFrameworks int32    `json:",omitempty"`
	Accounts           []string `json:",omitempty"`
	OrganizationUnits  []string `json:",omitempty"`
	Regions            []string `json:",omitempty"`
}

// ReportPlan is a stored report plan.
type ReportPlan struct {
	Account, Region, Name, ARN, Description, IdempotencyToken string
	Delivery                                                  DeliveryChannel
	Setting                                                   Setting
	Created, LastAttempted, LastSuccessful                    time.Time
}

// ReportJob is a report job.
type ReportJob struct {
	ID, Account, Region, PlanName, PlanARN, Template, Status, StatusMessage string
	Bucket                                                                  string
	Keys                                                                    []string
	Created, Completed                                                      time.Time
}

func (d *DeliveryChannel) formats() []string {
	if len(d.Formats) == 0 {
		return []string{"CSV"}
	}
	return d.Formats
}

func (d *DeliveryChannel) validate() error {
	if d.S3BucketName == "" {
		return backup.MissingParam("ReportDeliveryChannel.S3BucketName")
	}
	for _, f := range d.Formats {
		if f != "CSV" && f != "JSON" {
			return backup.InvalidParam("report format %q must be CSV or JSON", f)
		}
	}
	return nil
}

func (s *Service) validateSetting(ctx context.Context, sc scope, st *Setting) error {
	switch st.ReportTemplate {
	case "":
		return backup.MissingParam("ReportSetting.ReportTemplate")
	case TemplateControlCompliance, TemplateResourceCompliance:
	case "BACKUP_JOB_REPORT", "COPY_JOB_REPORT", "RESTORE_JOB_REPORT", "SCAN_JOB_REPORT":
		return backup.InvalidParam("report template %s is not available in coffer; it writes %s and %s", st.ReportTemplate, TemplateControlCompliance, TemplateResourceCompliance)
	default:
		return backup.InvalidParam("report template %q is not a report template", st.ReportTemplate)
	}
	if len(st.FrameworkArns) == 0 {
		return backup.MissingParam("ReportSetting.FrameworkArns")
	}
	if len(st.Accounts)+len(st.OrganizationUnits) > 0 || (len(st.Regions) > 0 && !slices.Equal(st.Regions, []string{sc.Region})) {
		return backup.InvalidParam("coffer writes reports of the report plan's own account and region; Accounts, OrganizationUnits and other Regions are not supported")
	}
	for _, a := range st.FrameworkArns {
		var n int
		if err := s.store.QueryRowContext(ctx, `SELECT COUNT(*) FROM backup_frameworks WHERE arn = ? AND account_id = ? AND region = ?`, a, sc.Account, sc.Region).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return backup.InvalidParam("framework %s does not exist in account %s, region %s", a, sc.Account, sc.Region)
		}
	}
	return nil
}

const reportPlanColumns = `account_id, region, name, arn, description, delivery_channel, setting, idempotency_token, creation_date, last_attempted, last_successful`

func scanReportPlan(row interface{ Scan(...any) error }) (*ReportPlan, error) {
	var p ReportPlan
	var delivery, setting string
	var created, attempted, succeeded int64
	if err := row.Scan(&p.Account, &p.Region, &p.Name, &p.ARN, &p.Description, &delivery, &setting, &p.IdempotencyToken, &created, &attempted, &succeeded); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(delivery), &p.Delivery); err != nil {
		return nil, fmt.Errorf("report plan %s: %w", p.Name, err)
	}
	if err := json.Unmarshal([]byte(setting), &p.Setting); err != nil {
		return nil, fmt.Errorf("report plan %s: %w", p.Name, err)
	}
	p.Created, p.LastAttempted, p.LastSuccessful = unixTime(created), unixTime(attempted), unixTime(succeeded)
	return &p, nil
}

func (s *Service) queryReportPlans(ctx context.Context, query string, args ...any) ([]*ReportPlan, error) {
	return meta.QueryAll(ctx, s.store, scanReportPlan, query, args...)
}

// CreateReportPlan creates a report plan.
func (s *Service) CreateReportPlan(ctx context.Context, p ReportPlan, tagMap map[string]string) (*ReportPlan, error) {
	sc, err := s.scope(ctx, "backup:CreateReportPlan", "*")
	if err != nil {
		return nil, err
	}
	if p.IdempotencyToken != "" {
		if got, found, err := meta.FindOne(ctx, s.store, scanReportPlan, `SELECT `+reportPlanColumns+` FROM backup_report_plans WHERE account_id = ? AND region = ? AND idempotency_token = ?`, sc.Account, sc.Region, p.IdempotencyToken); found || err != nil {
			return got, err
		}
	}
	if err := checkName("ReportPlanName", p.Name); err != nil {
		return nil, err
	}
	if err := checkDescription("ReportPlanDescription", p.Description); err != nil {
		return nil, err
	}
	if err := p.Delivery.validate(); err != nil {
		return nil, err
	}
	if err := s.validateSetting(ctx, sc, &p.Setting); err != nil {
		return nil, err
	}
	if prob := tags.Validate(tagMap); prob != nil {
		return nil, backup.InvalidParam("%s", prob.Message)
	}
	delivery, _ := json.Marshal(p.Delivery)
	setting, _ := json.Marshal(p.Setting)
	p.Account, p.Region, p.Created = sc.Account, sc.Region, s.now().UTC()
	p.ARN = "arn:aws:backup:" + sc.Region + ":" + sc.Account + ":report-plan:" + p.Name + "-" + randomID(16)
	err = s.store.InTx(ctx, func(q meta.Querier) error {
		if _, err := q.ExecContext(ctx, `INSERT INTO backup_report_plans (`+reportPlanColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0)`,
			p.Account, p.Region, p.Name, p.ARN, p.Description, string(delivery), string(setting), p.IdempotencyToken, p.Created.UnixNano()); err != nil {
			return err
		}
		return backup.TagTable.Put(ctx, q, p.ARN, tagMap)
	})
	if errors.Is(err, meta.ErrConflict) {
		return nil, backup.AlreadyExists("report plan %s already exists in account %s, region %s", p.Name, sc.Account, sc.Region)
	}
	return &p, err
}

func (s *Service) reportPlan(ctx context.Context, name, action string) (scope, *ReportPlan, error) {
	sc, err := s.scope(ctx, action, "*")
	if err != nil {
		return sc, nil, err
	}
	if name == "" {
		return sc, nil, backup.MissingParam("ReportPlanName")
	}
	p, err := scanReportPlan(s.store.QueryRowContext(ctx, `SELECT `+reportPlanColumns+` FROM backup_report_plans WHERE account_id = ? AND region = ? AND name = ?`, sc.Account, sc.Region, name))
	if errors.Is(err, sql.ErrNoRows) {
		return sc, nil, backup.NotFound("report plan %s does not exist in account %s, region %s", name, sc.Account, sc.Region)
	}
	return sc, p, err
}

// DescribeReportPlan returns a report plan.
func (s *Service) DescribeReportPlan(ctx context.Context, name string) (*ReportPlan, error) {
	_, p, err := s.reportPlan(ctx, name, "backup:DescribeReportPlan")
	return p, err
}

// ListReportPlans lists the caller's report plans in the region.
func (s *Service) ListReportPlans(ctx context.Context) ([]*ReportPlan, error) {
	sc, err := s.scope(ctx, "backup:ListReportPlans", "*")
	if err != nil {
		return nil, err
	}
	return s.queryReportPlans(ctx, `SELECT `+reportPlanColumns+` FROM backup_report_plans WHERE account_id = ? AND region = ? ORDER BY creation_date, name`, sc.Account, sc.Region)
}

// UpdateReportPlan replaces the members given.
func (s *Service) UpdateReportPlan(ctx context.Context, name string, description *string, delivery *DeliveryChannel, setting *Setting) (*ReportPlan, error) {
	sc, p, err := s.reportPlan(ctx, name, "backup:UpdateReportPlan")
	if err != nil {
		return nil, err
	}
	if description != nil {
		if err := checkDescription("ReportPlanDescription", *description); err != nil {
			return nil, err
		}
		p.Description = *description
	}
	if delivery != nil {
		if err := delivery.validate(); err != nil {
			return nil, err
		}
		p.Delivery = *delivery
	}
	if setting != nil {
		if err := s.validateSetting(ctx, sc, setting); err != nil {
			return nil, err
		}
		p.Setting = *setting
	}
	d, _ := json.Marshal(p.Delivery)
	st, _ := json.Marshal(p.Setting)
	_, err = s.store.ExecContext(ctx, `UPDATE backup_report_plans SET description = ?, delivery_channel = ?, setting = ? WHERE arn = ?`, p.Description, string(d), string(st), p.ARN)
	return p, err
}

// DeleteReportPlan deletes a report plan.
func (s *Service) DeleteReportPlan(ctx context.Context, name string) error {
	_, p, err := s.reportPlan(ctx, name, "backup:DeleteReportPlan")
	if err != nil {
		return err
	}
	return s.store.InTx(ctx, func(q meta.Querier) error {
		if _, err := q.ExecContext(ctx, `DELETE FROM backup_report_plans WHERE arn = ?`, p.ARN); err != nil {
			return err
		}
		_, err := q.ExecContext(ctx, `DELETE FROM `+string(backup.TagTable)+` WHERE resource_arn = ?`, p.ARN)
		return err
	})
}

const reportJobColumns = `id, account_id, region, plan_name, plan_arn, template, status, status_message, s3_bucket, s3_keys, creation_date, completion_date`

func scanReportJob(row interface{ Scan(...any) error }) (*ReportJob, error) {
	var j ReportJob
	var keys string
	var created, completed int64
	if err := row.Scan(&j.ID, &j.Account, &j.Region, &j.PlanName, &j.PlanARN, &j.Template, &j.Status, &j.StatusMessage, &j.Bucket, &keys, &created, &completed); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(keys), &j.Keys); err != nil {
		return nil, fmt.Errorf("report job %s: %w", j.ID, err)
	}
	j.Created, j.Completed = unixTime(created), unixTime(completed)
	return &j, nil
}

type reportArgs struct {
	JobID string `json:"job_id"`
}

func (reportArgs) Kind() string { return "backup_report_job" }

// StartReportJob queues a report of the plan.
func (s *Service) StartReportJob(ctx context.Context, planName, token string) (*ReportJob, error) {
	sc, p, err := s.reportPlan(ctx, planName, "backup:StartReportJob")
	if err != nil {
		return nil, err
	}
	if token != "" {
		if j, found, err := meta.FindOne(ctx, s.store, scanReportJob, `SELECT `+reportJobColumns+` FROM backup_report_jobs WHERE account_id = ? AND region = ? AND idempotency_token = ?`, sc.Account, sc.Region, token); found || err != nil {
			return j, err
		}
	}
	return s.enqueueReport(ctx, p, token)
}

// enqueueReport creates a report job of the plan and queues it.
func (s *Service) enqueueReport(ctx context.Context, p *ReportPlan, token string) (*ReportJob, error) {
	j := &ReportJob{ID: "ReportJobId-" + randomID(16), Account: p.Account, Region: p.Region, PlanName: p.Name, PlanARN: p.ARN,
		Template: p.Setting.ReportTemplate, Status: ReportCreated, Bucket: p.Delivery.S3BucketName, Keys: []string{}, Created: s.now().UTC()}
	err := s.store.InTx(ctx, func(q meta.Querier) error {
		if _, err := q.ExecContext(ctx, `INSERT INTO backup_report_jobs (`+reportJobColumns+`, idempotency_token) VALUES (?, ?, ?, ?, ?, ?, ?, '', ?, '[]', ?, 0, ?)`,
			j.ID, j.Account, j.Region, j.PlanName, j.PlanARN, j.Template, j.Status, j.Bucket, j.Created.UnixNano(), token); err != nil {
			return err
		}
		return s.queue.InsertTx(ctx, q, reportArgs{JobID: j.ID}, &river.InsertOpts{MaxAttempts: 1})
	})
	return j, err
}

// DescribeReportJob returns a report job of the caller's account.
func (s *Service) DescribeReportJob(ctx context.Context, id string) (*ReportJob, error) {
	sc, err := s.scope(ctx, "backup:DescribeReportJob", "*")
	if err != nil {
		return nil, err
	}
	if id == "" {
		return nil, backup.MissingParam("ReportJobId")
	}
	j, err := scanReportJob(s.store.QueryRowContext(ctx, `SELECT `+reportJobColumns+` FROM backup_report_jobs WHERE id = ? AND account_id = ?`, id, sc.Account))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, backup.NotFound("report job %s does not exist in account %s", id, sc.Account)
	}
	return j, err
}

// ReportJobFilter narrows ListReportJobs.
type ReportJobFilter struct {
	PlanName, Status            string
	CreatedAfter, CreatedBefore time.Time
}

// ListReportJobs lists the caller's report jobs in the region, newest
// first.
func (s *Service) ListReportJobs(ctx context.Context, f ReportJobFilter) ([]*ReportJob, error) {
	sc, err := s.scope(ctx, "backup:ListReportJobs", "*")
	if err != nil {
		return nil, err
	}
	if f.PlanName != "" {
		if _, _, err := s.reportPlan(ctx, f.PlanName, "backup:ListReportJobs"); err != nil {
			return nil, err
		}
	}
	query := `SELECT ` + reportJobColumns + ` FROM backup_report_jobs WHERE account_id = ? AND region = ?`
	args := []any{sc.Account, sc.Region}
	add := func(cond string, v any) { query += " AND " + cond; args = append(args, v) }
	if f.PlanName != "" {
		add("plan_name = ?", f.PlanName)
	}
	if f.Status != "" {
		add("status = ?", f.Status)
	}
	if !f.CreatedAfter.IsZero() {
		add("creation_date > ?", f.CreatedAfter.UnixNano())
	}
	if !f.CreatedBefore.IsZero() {
		add("creation_date < ?", f.CreatedBefore.UnixNano())
	}
	return meta.QueryAll(ctx, s.store, scanReportJob, query+` ORDER BY creation_date DESC, id`, args...)
}

// Report plans run once a day, from 01:00 UTC (AWS creates their
// reports between 01:00 and 05:00 UTC).
const (
	dailyReportFrom  = 1
	dailyReportUntil = 5
)

// Tick starts the daily report of every report plan whose report of the
// day has not started yet, once the day's report window opened; it
// returns how many it started.
func (s *Service) Tick(ctx context.Context) (int, error) {
	now := s.now().UTC()
	if now.Hour() < dailyReportFrom || now.Hour() >= dailyReportUntil {
		return 0, nil
	}
	opened := time.Date(now.Year(), now.Month(), now.Day(), dailyReportFrom, 0, 0, 0, time.UTC)
	due, err := s.queryReportPlans(ctx, `SELECT `+reportPlanColumns+` FROM backup_report_plans WHERE last_attempted < ? ORDER BY creation_date, arn`, opened.UnixNano())
	if err != nil {
		return 0, err
	}
	n := 0
	for _, p := range due {
		// The day's token makes the day's job once, whichever node ticks.
		token := "daily:" + opened.Format("2006-01-02")
		var exists int
		if err := s.store.QueryRowContext(ctx, `SELECT COUNT(*) FROM backup_report_jobs WHERE plan_arn = ? AND idempotency_token = ?`, p.ARN, token).Scan(&exists); err != nil {
			return n, err
		}
		if exists > 0 {
			continue
		}
		if _, err := s.enqueueReport(ctx, p, token); err != nil {
			return n, fmt.Errorf("daily report of %s: %w", p.Name, err)
		}
		n++
	}
	return n, nil
}

type tickArgs struct{}

func (tickArgs) Kind() string { return "backup_report_plans_tick" }

// PeriodicJobs is the daily reports' River periodic job (every quarter
// hour), inserted by the elected leader only.
func PeriodicJobs() []*river.PeriodicJob {
	return []*river.PeriodicJob{jobs.Periodic[tickArgs](15 * time.Minute)}
}

// AddWorkers registers the report job and tick workers.
func (s *Service) AddWorkers(w *river.Workers) {
	river.AddWorker(w, river.WorkFunc(func(ctx context.Context, rj *river.Job[reportArgs]) error {
		return s.runReport(ctx, rj.Args.JobID)
	}))
	jobs.AddTicker[tickArgs](w, s.Tick)
}

// runReport evaluates the plan's frameworks and writes the report; a
// failure is the job's FAILED status, not a queue retry.
func (s *Service) runReport(ctx context.Context, id string) error {
	j, err := scanReportJob(s.store.QueryRowContext(ctx, `SELECT `+reportJobColumns+` FROM backup_report_jobs WHERE id = ?`, id))
	if err != nil {
		return err
	}
	if j.Status != ReportCreated {
		return nil
	}
	if _, err := s.store.ExecContext(ctx, `UPDATE backup_report_jobs SET status = ? WHERE id = ?`, ReportRunning, id); err != nil {
		return err
	}
	keys, werr := s.writeReport(ctx, j)
	now := s.now().UTC()
	status, msg := ReportCompleted, ""
	if werr != nil {
		status, msg = ReportFailed, werr.Error()
		s.log.Warn("report job failed", "job", id, "error", werr)
	}
	k, _ := json.Marshal(keys)
	if _, err := s.store.ExecContext(ctx, `UPDATE backup_report_jobs SET status = ?, status_message = ?, s3_keys = ?, completion_date = ? WHERE id = ?`,
		status, msg, string(k), now.UnixNano(), id); err != nil {
		return err
	}
	col := "last_attempted = ?"
	args := []any{now.UnixNano()}
	if werr == nil {
		col += ", last_successful = ?"
		args = append(args, now.UnixNano())
	}
	_, err = s.store.ExecContext(ctx, `UPDATE backup_report_plans SET `+col+` WHERE arn = ?`, append(args, j.PlanARN)...)
	return err
}

func (s *Service) writeReport(ctx context.Context, j *ReportJob) ([]string, error) {
	p, err := scanReportPlan(s.store.QueryRowContext(ctx, `SELECT `+reportPlanColumns+` FROM backup_report_plans WHERE arn = ?`, j.PlanARN))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("report plan %s was deleted", j.PlanName)
	}
	if err != nil {
		return nil, err
	}
	var results []ControlResult
	for _, arn := range p.Setting.FrameworkArns {
		fs, err := s.queryFrameworks(ctx, `SELECT `+frameworkColumns+` FROM backup_frameworks WHERE arn = ?`, arn)
		if err != nil {
			return nil, err
		}
		if len(fs) == 0 {
			return nil, fmt.Errorf("framework %s of report plan %s no longer exists", arn, p.Name)
		}
		r, err := s.Evaluate(ctx, fs[0])
		if err != nil {
			return nil, fmt.Errorf("evaluate framework %s: %w", fs[0].Name, err)
		}
		results = append(results, r...)
	}
	header, rows := reportItems(p.Setting.ReportTemplate, j, results)
	dir := strings.Trim(p.Delivery.S3KeyPrefix, "/")
	if dir != "" {
		dir += "/"
	}
	dir += fmt.Sprintf("Backup/%s/%s/%s/%s_%s", j.Region, j.Created.Format("2006/01/02"), p.Name, j.Template, j.ID)
	var keys []string
	for _, format := range p.Delivery.formats() {
		body, ctype, ext, err := encodeReport(format, header, rows)
		if err != nil {
			return keys, err
		}
		key := dir + ext
		if err := s.buckets.Put(ctx, j.Region, j.Bucket, key, ctype, body); err != nil {
			return keys, fmt.Errorf("write s3://%s/%s: %w", j.Bucket, key, err)
		}
		keys = append(keys, key)
	}
	return keys, nil
}

// reportItems lays the results out as the template's items.
func reportItems(template string, j *ReportJob, results []ControlResult) ([]string, [][]string) {
	if template == TemplateControlCompliance {
		header := []string{"accountId", "region", "frameworkName", "frameworkDescription", "controlName", "controlComplianceStatus", "lastEvaluationTime",
			"numResourcesCompliant", "numResourcesNonCompliant", "controlScope", "controlParameters"}
		var rows [][]string
		for _, r := range results {
			scope, params := "", ""
			if r.Control.ControlScope != nil {
				b, _ := json.Marshal(r.Control.ControlScope)
				scope = string(b)
			}
			if len(r.Parameters) > 0 {
				b, _ := json.Marshal(r.Parameters)
				params = string(b)
			}
			rows = append(rows, []string{j.Account, j.Region, r.Framework.Name, r.Framework.Description, r.Control.ControlName, r.Status,
				r.EvaluatedAt.Format(time.RFC3339Nano), strconv.Itoa(r.Count(Compliant)), strconv.Itoa(r.Count(NonCompliant)), scope, params})
		}
		return header, rows
	}
	header := []string{"accountId", "region", "frameworkName", "frameworkDescription", "controlName", "resourceName", "resourceId", "resourceType",
		"resourceComplianceStatus", "lastEvaluationTime"}
	var rows [][]string
	for _, r := range results {
		for _, res := range r.Resources {
			rows = append(rows, []string{j.Account, j.Region, r.Framework.Name, r.Framework.Description, r.Control.ControlName, res.ResourceName,
				res.ResourceARN, res.ResourceType, res.Status, r.EvaluatedAt.Format(time.RFC3339Nano)})
		}
	}
	return header, rows
}

// encodeReport renders the items as CSV (a header row, then one row an
// item) or JSON ({"reportItems": [...]}, numbers as numbers).
func encodeReport(format string, header []string, rows [][]string) (body []byte, contentType, ext string, err error) {
	if format == "JSON" {
		items := make([]map[string]any, 0, len(rows))
		for _, row := range rows {
			item := map[string]any{}
			for i, h := range header {
				if strings.HasPrefix(h, "num") {
					n, _ := strconv.Atoi(row[i])
					item[h] = n
					continue
				}
				item[h] = row[i]
			}
			items = append(items, item)
		}
		b, err := json.Marshal(map[string]any{"reportItems": items})
		return b, "application/json", ".json", err
	}
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	if err := w.Write(header); err != nil {
		return nil, "", "", err
	}
	if err := w.WriteAll(rows); err != nil {
		return nil, "", "", err
	}
	return buf.Bytes(), "text/csv", ".csv", nil
}
