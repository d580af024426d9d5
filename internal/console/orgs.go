package console

import (
	"context"
	"net/http"

	"github.com/coffer-dev/coffer/internal/identity"
)

func (h *Handler) routeOrgs(m *http.ServeMux) {
	m.HandleFunc("GET /console/organization", h.authed(h.organization))
	m.HandleFunc("POST /console/organization/cross-account", h.authed(h.setCrossAccount))
}

type orgData struct {
	Org          identity.Organization
	Accounts     []identity.Account
	CrossAccount string // "true", "false", or "" when not known
	Errors       []string
}

// organization shows the organization, its accounts (to its management
// account) and the cross-account backup opt-in.
func (h *Handler) organization(q *request) { h.showOrganization(q, nil) }

func (h *Handler) showOrganization(q *request, actionErr error) {
	var d orgData
	if err := h.call(q, "organizations", "DescribeOrganization", struct{}{}, func(ctx context.Context) (err error) {
		d.Org, err = h.opts.Identity.DescribeOrganization(ctx)
		return err
	}); err != nil {
		d.Errors = append(d.Errors, errorText(err))
	}
	if err := h.call(q, "organizations", "ListAccounts", struct{}{}, func(ctx context.Context) (err error) {
		d.Accounts, err = h.opts.Identity.ListAccounts(ctx)
		return err
	}); err != nil {
		d.Errors = append(d.Errors, errorText(err))
	}
	if err := h.call(q, "backup", "DescribeGlobalSettings", struct{}{}, func(ctx context.Context) error {
		settings, _, err := h.opts.Backup.GlobalSettings(ctx)
		d.CrossAccount = settings[crossAccountSetting]
		return err
	}); err != nil {
		d.Errors = append(d.Errors, errorText(err))
	}
	h.render(q, http.StatusOK, "organization", "Organization", d, actionErr)
}

const crossAccountSetting = "isCrossAccountBackupEnabled"

// setCrossAccount is the management account's cross-account backup
// opt-in (backup:UpdateGlobalSettings).
func (h *Handler) setCrossAccount(q *request) {
	v := "false"
	if q.r.PostFormValue("enabled") == "true" {
		v = "true"
	}
	settings := map[string]string{crossAccountSetting: v}
	if err := h.call(q, "backup", "UpdateGlobalSettings", map[string]any{"GlobalSettings": settings}, func(ctx context.Context) error {
		return h.opts.Backup.UpdateGlobalSettings(ctx, settings)
	}); err != nil {
		h.showOrganization(q, err)
		return
	}
	redirect(q, "/console/organization", "Cross-account backup is now "+map[string]string{"true": "enabled", "false": "disabled"}[v]+".")
}
