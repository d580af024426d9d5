package console

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coffer-dev/coffer/internal/authz"
	"github.com/coffer-dev/coffer/internal/awserr"
	"github.com/coffer-dev/coffer/internal/backup"
	"github.com/coffer-dev/coffer/internal/identity"
	"github.com/coffer-dev/coffer/internal/plans"
)

func (h *Handler) routeBackup(m *http.ServeMux) {
	m.HandleFunc("GET /console/vaults", h.authed(h.vaults))
	m.HandleFunc("POST /console/vaults", h.authed(h.createVault))
	m.HandleFunc("GET /console/vaults/{name}", h.authed(h.vault))
	m.HandleFunc("POST /console/vaults/{name}/policy", h.authed(h.putVaultPolicy))
	m.HandleFunc("POST /console/vaults/{name}/backup", h.authed(h.startBackup))
	m.HandleFunc("POST /console/vaults/{name}/copy", h.authed(h.startCopy))
	m.HandleFunc("POST /console/vaults/{name}/restore", h.authed(h.startRestore))
	m.HandleFunc("POST /console/vaults/{name}/delete", h.authed(h.deleteRecoveryPoint))
	m.HandleFunc("POST /console/vaults/{name}/lock", h.authed(h.putVaultLock))
	m.HandleFunc("POST /console/vaults/{name}/lifecycle", h.authed(h.updateLifecycle))
	m.HandleFunc("POST /console/vaults/{name}/legal-holds", h.authed(h.createLegalHold))
	m.HandleFunc("POST /console/vaults/{name}/legal-holds/cancel", h.authed(h.cancelLegalHold))
	m.HandleFunc("POST /console/vaults/{name}/notifications", h.authed(h.putNotifications))
	m.HandleFunc("POST /console/vaults/{name}/notifications/delete", h.authed(h.deleteNotifications))
	m.HandleFunc("GET /console/jobs", h.authed(h.jobsPage))
	m.HandleFunc("GET /console/jobs.json", h.authed(h.jobsJSON))
}

type dashboardData struct {
	ByState map[string]int
	Jobs    []*backup.Job
	Vaults  int
	RPO     []plans.RPOEntry
	Errors  []string
}

// dashboard shows the jobs of the last 24 hours by state, failed first.
func (h *Handler) dashboard(q *request) {
	d := dashboardData{ByState: map[string]int{}}
	jobs, err := h.listJobs(q, time.Now().Add(-24*time.Hour))
	if err != nil {
		d.Errors = append(d.Errors, errorText(err))
	}
	slices.SortStableFunc(jobs, func(a, b *backup.Job) int {
		return boolRank(a.State == backup.StateFailed) - boolRank(b.State == backup.StateFailed)
	})
	for _, j := range jobs {
		d.ByState[j.Kind+" "+j.State]++
	}
	d.Jobs = jobs
	var vaults []*backup.Vault
	if err := h.call(q, "backup", "ListBackupVaults", struct{}{}, func(ctx context.Context) (err error) {
		vaults, _, err = h.opts.Backup.ListVaults(ctx, backup.Page{})
		return err
	}); err != nil {
		d.Errors = append(d.Errors, errorText(err))
	}
	d.Vaults = len(vaults)
	if err := h.call(q, "backup", "ListProtectedResources", struct{}{}, func(ctx context.Context) (err error) {
		d.RPO, err = h.rpo(ctx, q)
		return err
	}); err != nil {
		d.Errors = append(d.Errors, errorText(err))
	}
	h.render(q, http.StatusOK, "dashboard", "Dashboard", d, nil)
}

func boolRank(b bool) int {
	if b {
		return 0
	}
	return 1
}

// listJobs lists the caller's backup, copy and restore jobs created after
// since (all when zero), newest first.
func (h *Handler) listJobs(q *request, since time.Time) ([]*backup.Job, error) {
	var all []*backup.Job
	for kind, op := range map[string]string{backup.KindBackup: "ListBackupJobs", backup.KindCopy: "ListCopyJobs", backup.KindRestore: "ListRestoreJobs"} {
		var js []*backup.Job
		if err := h.call(q, "backup", op, struct{}{}, func(ctx context.Context) (err error) {
			js, _, err = h.opts.Backup.ListJobs(ctx, kind, backup.JobFilter{CreatedAfter: since}, backup.Page{})
			return err
		}); err != nil {
			return nil, err
		}
		all = append(all, js...)
	}
	slices.SortFunc(all, func(a, b *backup.Job) int { return b.Created.Compare(a.Created) })
	return all, nil
}

type vaultsData struct {
	Vaults []*backup.Vault
	Keys   []keyRow
}

func (h *Handler) vaults(q *request) { h.showVaults(q, nil) }

func (h *Handler) showVaults(q *request, actionErr error) {
	var d vaultsData
	err := h.call(q, "backup", "ListBackupVaults", struct{}{}, func(ctx context.Context) (err error) {
		d.Vaults, _, err = h.opts.Backup.ListVaults(ctx, backup.Page{})
		return err
	})
	if actionErr == nil {
		actionErr = err
	}
	d.Keys, _ = h.keyRows(q)
	h.render(q, http.StatusOK, "vaults", "Backup vaults", d, actionErr)
}

func (h *Handler) createVault(q *request) {
	in := backup.CreateVaultInput{Name: strings.TrimSpace(q.r.PostFormValue("name")), EncryptionKeyARN: q.r.PostFormValue("key")}
	params := map[string]string{"BackupVaultName": in.Name, "EncryptionKeyArn": in.EncryptionKeyARN}
	err := h.call(q, "backup", "CreateBackupVault", params, func(ctx context.Context) error {
		_, err := h.opts.Backup.CreateVault(ctx, in)
		return err
	})
	if err != nil {
		h.showVaults(q, err)
		return
	}
	redirect(q, "/console/vaults/"+in.Name, "Backup vault "+in.Name+" created.")
}

type vaultData struct {
	Vault          *backup.Vault
	Policy         string
	OrgPolicy      string
	RecoveryPoints []*backup.RecoveryPoint
	// Holds are the legal holds that select the vault.
	Holds []*backup.LegalHold
	// Notifications is nil when the vault has none; Events are those it
	// may name.
	Notifications *backup.VaultNotifications
	Events        []string
}

func (h *Handler) vault(q *request) { h.showVault(q, http.StatusOK, nil) }

func (h *Handler) showVault(q *request, status int, actionErr error) {
	name := q.r.PathValue("name")
	var d vaultData
	err := h.call(q, "backup", "DescribeBackupVault", map[string]string{"BackupVaultName": name}, func(ctx context.Context) (err error) {
		d.Vault, err = h.opts.Backup.DescribeVault(ctx, name)
		return err
	})
	if err != nil {
		h.render(q, http.StatusOK, "error", "Backup vault "+name, nil, err)
		return
	}
	if err := h.call(q, "backup", "GetBackupVaultAccessPolicy", map[string]string{"BackupVaultName": name}, func(ctx context.Context) error {
		v, err := h.opts.Backup.GetVaultAccessPolicy(ctx, name)
		if err == nil {
			d.Policy = v.AccessPolicy
		}
		return err
	}); err != nil && !isNotFound(err) && actionErr == nil {
		actionErr = err
	}
	if err := h.call(q, "backup", "ListRecoveryPointsByBackupVault", map[string]string{"BackupVaultName": name}, func(ctx context.Context) (err error) {
		d.RecoveryPoints, _, err = h.opts.Backup.ListRecoveryPointsByVault(ctx, name, "", backup.Page{})
		return err
	}); err != nil && actionErr == nil {
		actionErr = err
	}
	for _, rp := range d.RecoveryPoints {
		if rp.Status != "COMPLETED" {
			rp.RestoreMetadata = nil
			continue
		}
		arn := rp.ARN
		if err := h.call(q, "backup", "GetRecoveryPointRestoreMetadata", map[string]string{"BackupVaultName": name, "RecoveryPointArn": arn}, func(ctx context.Context) error {
			_, full, err := h.opts.Backup.RestoreMetadata(ctx, name, arn)
			if err == nil {
				rp.RestoreMetadata = full.RestoreMetadata
			}
			return err
		}); err != nil && actionErr == nil {
			actionErr = err
		}
	}
	if d.Holds, err = h.vaultHolds(q, name); err != nil && actionErr == nil {
		actionErr = err
	}
	if err := h.call(q, "backup", "GetBackupVaultNotifications", map[string]string{"BackupVaultName": name}, func(ctx context.Context) (err error) {
		d.Notifications, err = h.opts.Backup.GetVaultNotifications(ctx, name)
		return err
	}); err != nil && !isNotFound(err) && actionErr == nil {
		actionErr = err
	}
	d.Events = backup.BackupVaultEvents
	d.OrgPolicy = h.orgPolicy(q)
	if q.r.Method == http.MethodPost && d.Policy == "" {
		d.Policy = q.r.PostFormValue("policy")
	}
	h.render(q, status, "vault", "Backup vault "+name, d, actionErr)
}

// orgPolicy is the seed's vault access policy: CopyIntoBackupVault for
// every principal of the caller's organization.
func (h *Handler) orgPolicy(q *request) string {
	orgID := "o-exampleorgid"
	var org identity.Organization
	if err := h.call(q, "organizations", "DescribeOrganization", struct{}{}, func(ctx context.Context) (err error) {
		org, err = h.opts.Identity.DescribeOrganization(ctx)
		return err
	}); err == nil {
		orgID = org.ID
	}
	return `{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "AllowCopyFromTheOrganization",
      "Effect": "Allow",
      "Principal": "*",
      "Action": "backup:CopyIntoBackupVault",
      "Resource": "*",
      "Condition": {"StringEquals": {"aws:PrincipalOrgID": "` + orgID + `"}}
    }
  ]
}`
}

func (h *Handler) putVaultPolicy(q *request) {
	name, doc := q.r.PathValue("name"), q.r.PostFormValue("policy")
	err := h.call(q, "backup", "PutBackupVaultAccessPolicy", map[string]string{"BackupVaultName": name, "Policy": doc}, func(ctx context.Context) error {
		return h.opts.Backup.PutVaultAccessPolicy(ctx, name, doc)
	})
	if err != nil {
		h.showVault(q, http.StatusOK, err)
		return
	}
	redirect(q, "/console/vaults/"+name, "Access policy saved.")
}

func (h *Handler) startBackup(q *request) {
	name := q.r.PathValue("name")
	in := backup.StartBackupJobInput{VaultName: name, ResourceARN: strings.TrimSpace(q.r.PostFormValue("resource")), IAMRoleARN: strings.TrimSpace(q.r.PostFormValue("role"))}
	var j *backup.Job
	err := h.call(q, "backup", "StartBackupJob", map[string]string{"BackupVaultName": name, "ResourceArn": in.ResourceARN, "IamRoleArn": in.IAMRoleARN}, func(ctx context.Context) (err error) {
		j, err = h.opts.Backup.StartBackupJob(ctx, in)
		return err
	})
	if err != nil {
		h.showVault(q, http.StatusOK, err)
		return
	}
	redirect(q, "/console/jobs", "Backup job "+j.ID+" started.")
}

func (h *Handler) startCopy(q *request) {
	name := q.r.PathValue("name")
	in := backup.StartCopyJobInput{SourceVaultName: name, RecoveryPointARN: q.r.PostFormValue("recoveryPoint"),
		DestinationVaultARN: strings.TrimSpace(q.r.PostFormValue("destination")), IAMRoleARN: strings.TrimSpace(q.r.PostFormValue("role"))}
	var j *backup.Job
	err := h.call(q, "backup", "StartCopyJob", map[string]string{"SourceBackupVaultName": name, "RecoveryPointArn": in.RecoveryPointARN,
		"DestinationBackupVaultArn": in.DestinationVaultARN, "IamRoleArn": in.IAMRoleARN}, func(ctx context.Context) (err error) {
		j, err = h.opts.Backup.StartCopyJob(ctx, in)
		return err
	})
	if err != nil {
		h.showVault(q, http.StatusOK, err)
		return
	}
	redirect(q, "/console/jobs", "Copy job "+j.ID+" started.")
}

// startRestore starts a restore; the form's metadata is one KEY=VALUE a
// line, prefilled with the recovery point's restore metadata.
func (h *Handler) startRestore(q *request) {
	meta := map[string]string{}
	for _, line := range strings.Split(q.r.PostFormValue("metadata"), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok && k != "" {
			meta[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	in := backup.StartRestoreJobInput{RecoveryPointARN: q.r.PostFormValue("recoveryPoint"), IAMRoleARN: strings.TrimSpace(q.r.PostFormValue("role")), Metadata: meta}
	var j *backup.Job
	err := h.call(q, "backup", "StartRestoreJob", map[string]any{"RecoveryPointArn": in.RecoveryPointARN, "IamRoleArn": in.IAMRoleARN, "Metadata": meta}, func(ctx context.Context) (err error) {
		j, err = h.opts.Backup.StartRestoreJob(ctx, in)
		return err
	})
	if err != nil {
		h.showVault(q, http.StatusOK, err)
		return
	}
	redirect(q, "/console/jobs", "Restore job "+j.ID+" started.")
}

func (h *Handler) deleteRecoveryPoint(q *request) {
	name, arn := q.r.PathValue("name"), q.r.PostFormValue("recoveryPoint")
	err := h.call(q, "backup", "DeleteRecoveryPoint", map[string]string{"BackupVaultName": name, "RecoveryPointArn": arn}, func(ctx context.Context) error {
		return h.opts.Backup.DeleteRecoveryPoint(ctx, name, arn)
	})
	if err != nil {
		h.showVault(q, http.StatusOK, err)
		return
	}
	redirect(q, "/console/vaults/"+name, "Recovery point deleted.")
}

func (h *Handler) jobsPage(q *request) {
	jobs, err := h.listJobs(q, time.Time{})
	h.render(q, http.StatusOK, "jobs", "Jobs", jobs, err)
}

// jobRow is a job as jobs.json reports it to the page's script.
type jobRow struct {
	ID, Kind, State, StatusMessage, PercentDone string
	BytesTransferred, Size                      int64
}

// jobsJSON answers the jobs page's script, which updates the table's
// state and progress without reloading the page.
func (h *Handler) jobsJSON(q *request) {
	jobs, err := h.listJobs(q, time.Time{})
	if err != nil {
		http.Error(q.w, errorText(err), errorStatus(err))
		return
	}
	rows := make([]jobRow, len(jobs))
	for i, j := range jobs {
		rows[i] = jobRow{j.ID, j.Kind, j.State, j.StatusMessage, j.PercentDone, j.BytesTransferred, j.Size}
	}
	writeJSON(q.w, rows)
}

// isNotFound reports whether err is AWS Backup's answer for something
// that does not exist (a vault without an access policy).
func isNotFound(err error) bool {
	var ae *awserr.Error
	return errors.As(err, &ae) && ae.Code == "ResourceNotFoundException"
}

// rpo is the RPO view (coffer status) of the caller's account in the
// session's region: per protected resource and vault, the newest
// recovery point and whether it is overdue. Seeing it takes
// backup:ListProtectedResources.
func (h *Handler) rpo(ctx context.Context, q *request) ([]plans.RPOEntry, error) {
	if err := h.opts.Authz.Authorize(ctx, authz.Request{Action: "backup:ListProtectedResources", Resource: "*", ResourceAccount: q.p.AccountID}); err != nil {
		return nil, err
	}
	all, err := h.opts.Plans.RPO(ctx)
	if err != nil {
		return nil, err
	}
	var out []plans.RPOEntry
	for _, e := range all {
		// arn:aws:backup:REGION:ACCOUNT:backup-vault:NAME
		if f := strings.Split(e.VaultARN, ":"); len(f) > 4 && f[3] == q.se.region && f[4] == q.p.AccountID {
			out = append(out, e)
		}
	}
	return out, nil
}

// putVaultLock sets the vault lock: retention bounds, and with
// "changeable for" days the date after which it is in compliance mode.
// An empty field is not set.
func (h *Handler) putVaultLock(q *request) {
	name := q.r.PathValue("name")
	in := backup.PutVaultLockInput{VaultName: name}
	for field, dst := range map[string]**int64{"min": &in.MinRetentionDays, "max": &in.MaxRetentionDays, "changeable": &in.ChangeableForDays} {
		v := strings.TrimSpace(q.r.PostFormValue(field))
		if v == "" {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			h.showVault(q, http.StatusOK, message("Retention and changeable days are whole numbers of days."))
			return
		}
		*dst = &n
	}
	err := h.call(q, "backup", "PutBackupVaultLockConfiguration", map[string]any{"BackupVaultName": name, "MinRetentionDays": in.MinRetentionDays,
		"MaxRetentionDays": in.MaxRetentionDays, "ChangeableForDays": in.ChangeableForDays}, func(ctx context.Context) error {
		return h.opts.Backup.PutVaultLock(ctx, in)
	})
	if err != nil {
		h.showVault(q, http.StatusOK, err)
		return
	}
	redirect(q, "/console/vaults/"+name, "Vault lock saved.")
}
