package console

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/coffer-dev/coffer/internal/backup"
)

// formDays reads a form field of whole days; empty is 0 (never, none).
func formDays(q *request, field string) (int64, error) {
	v := strings.TrimSpace(q.r.PostFormValue(field))
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, message("Days are whole numbers of days; " + strconv.Quote(v) + " is not.")
	}
	return n, nil
}

// updateLifecycle changes when a recovery point moves to cold storage
// and when it is deleted; an empty field is never.
func (h *Handler) updateLifecycle(q *request) {
	name, arn := q.r.PathValue("name"), q.r.PostFormValue("recoveryPoint")
	var l backup.Lifecycle
	var err error
	if l.ColdAfterDays, err = formDays(q, "cold"); err == nil {
		l.DeleteAfterDays, err = formDays(q, "delete")
	}
	if err != nil {
		h.showVault(q, http.StatusOK, err)
		return
	}
	params := map[string]any{"BackupVaultName": name, "RecoveryPointArn": arn,
		"Lifecycle": map[string]int64{"MoveToColdStorageAfterDays": l.ColdAfterDays, "DeleteAfterDays": l.DeleteAfterDays}}
	err = h.call(q, "backup", "UpdateRecoveryPointLifecycle", params, func(ctx context.Context) error {
		_, _, err := h.opts.Backup.UpdateRecoveryPointLifecycle(ctx, name, arn, l)
		return err
	})
	if err != nil {
		h.showVault(q, http.StatusOK, err)
		return
	}
	redirect(q, "/console/vaults/"+name, "Lifecycle saved.")
}

// vaultHolds lists the caller's legal holds that select the vault.
func (h *Handler) vaultHolds(q *request, vault string) ([]*backup.LegalHold, error) {
	var all []*backup.LegalHold
	if err := h.call(q, "backup", "ListLegalHolds", struct{}{}, func(ctx context.Context) (err error) {
		all, err = h.opts.Backup.ListLegalHolds(ctx)
		return err
	}); err != nil {
		return nil, err
	}
	var out []*backup.LegalHold
	for _, hold := range all {
		if slices.Contains(hold.Selection.VaultNames, vault) {
			out = append(out, hold)
		}
	}
	return out, nil
}

// createLegalHold places a hold on the vault's recovery points.
func (h *Handler) createLegalHold(q *request) {
	name := q.r.PathValue("name")
	in := backup.CreateLegalHoldInput{Title: strings.TrimSpace(q.r.PostFormValue("title")), Description: strings.TrimSpace(q.r.PostFormValue("description")),
		Selection: backup.HoldSelection{VaultNames: []string{name}}}
	params := map[string]any{"Title": in.Title, "Description": in.Description, "RecoveryPointSelection": map[string]any{"VaultNames": in.Selection.VaultNames}}
	var hold *backup.LegalHold
	err := h.call(q, "backup", "CreateLegalHold", params, func(ctx context.Context) (err error) {
		hold, err = h.opts.Backup.CreateLegalHold(ctx, in)
		return err
	})
	if err != nil {
		h.showVault(q, http.StatusOK, err)
		return
	}
	redirect(q, "/console/vaults/"+name, "Legal hold "+hold.ID+" created.")
}

// cancelLegalHold releases a hold, keeping its record the days asked.
func (h *Handler) cancelLegalHold(q *request) {
	name, id := q.r.PathValue("name"), q.r.PostFormValue("hold")
	desc := strings.TrimSpace(q.r.PostFormValue("description"))
	days, err := formDays(q, "retain")
	if err != nil {
		h.showVault(q, http.StatusOK, err)
		return
	}
	params := map[string]any{"LegalHoldId": id, "CancelDescription": desc, "RetainRecordInDays": days}
	err = h.call(q, "backup", "CancelLegalHold", params, func(ctx context.Context) error {
		return h.opts.Backup.CancelLegalHold(ctx, id, desc, days)
	})
	if err != nil {
		h.showVault(q, http.StatusOK, err)
		return
	}
	redirect(q, "/console/vaults/"+name, "Legal hold "+id+" canceled.")
}

// putNotifications sets the vault's SNS topic and the events sent to it.
func (h *Handler) putNotifications(q *request) {
	name, topic := q.r.PathValue("name"), strings.TrimSpace(q.r.PostFormValue("topic"))
	if err := q.r.ParseForm(); err != nil {
		h.showVault(q, http.StatusOK, message("The form could not be read; reload the page and try again."))
		return
	}
	events := q.r.PostForm["event"]
	if events == nil {
		events = []string{}
	}
	params := map[string]any{"BackupVaultName": name, "SNSTopicArn": topic, "BackupVaultEvents": events}
	err := h.call(q, "backup", "PutBackupVaultNotifications", params, func(ctx context.Context) error {
		return h.opts.Backup.PutVaultNotifications(ctx, name, topic, events)
	})
	if err != nil {
		h.showVault(q, http.StatusOK, err)
		return
	}
	redirect(q, "/console/vaults/"+name, "Notifications saved.")
}

// deleteNotifications turns the vault's notifications off.
func (h *Handler) deleteNotifications(q *request) {
	name := q.r.PathValue("name")
	err := h.call(q, "backup", "DeleteBackupVaultNotifications", map[string]string{"BackupVaultName": name}, func(ctx context.Context) error {
		return h.opts.Backup.DeleteVaultNotifications(ctx, name)
	})
	if err != nil {
		h.showVault(q, http.StatusOK, err)
		return
	}
	redirect(q, "/console/vaults/"+name, "Notifications turned off.")
}
