package console

import (
	"context"
	"net/http"
	"strings"

	"github.com/coffer-dev/coffer/internal/plans"
	"github.com/coffer-dev/coffer/internal/protocol"
)

// Plans is what the console needs of the backup plans domain.
type Plans interface {
	CreatePlan(ctx context.Context, d plans.Document, tags map[string]string, creatorRequestID string) (*plans.Plan, error)
	ListPlans(ctx context.Context, includeDeleted bool) ([]*plans.Plan, error)
	DeletePlan(ctx context.Context, id string) (*plans.Plan, error)
	CreateSelection(ctx context.Context, planID string, sel plans.Selection, creatorRequestID string) (*plans.SelectionInfo, error)
	ListSelections(ctx context.Context, planID string) ([]*plans.SelectionInfo, error)
	// RPO is the RPO view of every account; the dashboard shows the
	// caller's part of it.
	RPO(ctx context.Context) ([]plans.RPOEntry, error)
}

func (h *Handler) routePlans(m *http.ServeMux) {
	m.HandleFunc("GET /console/plans", h.authed(h.plansPage))
	m.HandleFunc("POST /console/plans", h.authed(h.createPlan))
	m.HandleFunc("POST /console/plans/{id}/selections", h.authed(h.createSelection))
	m.HandleFunc("POST /console/plans/{id}/delete", h.authed(h.deletePlan))
}

type planRow struct {
	*plans.Plan
	Selections []*plans.SelectionInfo
}

type plansData struct {
	Plans    []planRow
	Template string
	Draft    string
}

// planTemplate is a starting point: a daily backup kept 35 days, copied
// into another account's vault.
const planTemplate = `{
  "BackupPlanName": "daily",
  "Rules": [
    {
      "RuleName": "daily",
      "TargetBackupVaultName": "source-vault",
      "ScheduleExpression": "cron(0 5 ? * * *)",
      "StartWindowMinutes": 60,
      "Lifecycle": {"DeleteAfterDays": 35},
      "CopyActions": [
        {"DestinationBackupVaultArn": "arn:aws:backup:us-east-1:666777888999:backup-vault:backup-vault", "Lifecycle": {"DeleteAfterDays": 35}}
      ]
    }
  ]
}`

func (h *Handler) plansPage(q *request) { h.showPlans(q, nil) }

func (h *Handler) showPlans(q *request, actionErr error) {
	d := plansData{Template: planTemplate, Draft: q.r.PostFormValue("plan")}
	var all []*plans.Plan
	err := h.call(q, "backup", "ListBackupPlans", struct{}{}, func(ctx context.Context) (err error) {
		all, err = h.opts.Plans.ListPlans(ctx, false)
		return err
	})
	if actionErr == nil {
		actionErr = err
	}
	for _, p := range all {
		row := planRow{Plan: p}
		if err := h.call(q, "backup", "ListBackupSelections", map[string]string{"BackupPlanId": p.ID}, func(ctx context.Context) (err error) {
			row.Selections, err = h.opts.Plans.ListSelections(ctx, p.ID)
			return err
		}); err != nil && actionErr == nil {
			actionErr = err
		}
		d.Plans = append(d.Plans, row)
	}
	h.render(q, http.StatusOK, "plans", "Backup plans", d, actionErr)
}

// createPlan creates a plan from its JSON document (CreateBackupPlan's
// BackupPlan member).
func (h *Handler) createPlan(q *request) {
	text := q.r.PostFormValue("plan")
	var doc plans.Document
	if err := protocol.DecodeJSON([]byte(text), &doc); err != nil {
		h.showPlans(q, err)
		return
	}
	var p *plans.Plan
	err := h.call(q, "backup", "CreateBackupPlan", map[string]any{"BackupPlan": doc}, func(ctx context.Context) (err error) {
		p, err = h.opts.Plans.CreatePlan(ctx, doc, nil, "")
		return err
	})
	if err != nil {
		h.showPlans(q, err)
		return
	}
	redirect(q, "/console/plans", "Backup plan "+p.Document.BackupPlanName+" created.")
}

// createSelection assigns resources (one ARN a line) to a plan.
func (h *Handler) createSelection(q *request) {
	id := q.r.PathValue("id")
	sel := plans.Selection{SelectionName: strings.TrimSpace(q.r.PostFormValue("name")), IamRoleArn: strings.TrimSpace(q.r.PostFormValue("role"))}
	for _, line := range strings.Split(q.r.PostFormValue("resources"), "\n") {
		if v := strings.TrimSpace(line); v != "" {
			sel.Resources = append(sel.Resources, v)
		}
	}
	err := h.call(q, "backup", "CreateBackupSelection", map[string]any{"BackupPlanId": id, "BackupSelection": sel}, func(ctx context.Context) error {
		_, err := h.opts.Plans.CreateSelection(ctx, id, sel, "")
		return err
	})
	if err != nil {
		h.showPlans(q, err)
		return
	}
	redirect(q, "/console/plans", "Resources assigned.")
}

func (h *Handler) deletePlan(q *request) {
	id := q.r.PathValue("id")
	err := h.call(q, "backup", "DeleteBackupPlan", map[string]string{"BackupPlanId": id}, func(ctx context.Context) error {
		_, err := h.opts.Plans.DeletePlan(ctx, id)
		return err
	})
	if err != nil {
		h.showPlans(q, err)
		return
	}
	redirect(q, "/console/plans", "Backup plan deleted.")
}
