package backupplans

import (
	"context"

	"github.com/coffer-dev/coffer/internal/protocol"
)

func (a *adapter) registerTemplates(s *protocol.RESTService) {
	s.Handle("GET /backup/template/plans", "ListBackupPlanTemplates", a.listTemplates)
	s.Handle("GET /backup/template/plans/{templateId}/toPlan", "GetBackupPlanFromTemplate", a.planFromTemplate)
}

func (a *adapter) listTemplates(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	ts, err := a.p.ListTemplates(ctx)
	if err != nil {
		return 0, nil, err
	}
	type member struct{ BackupPlanTemplateId, BackupPlanTemplateName string }
	list := make([]member, len(ts))
	for i, t := range ts {
		list[i] = member{t.ID, t.Name}
	}
	list, next, err := page(r, list)
	if err != nil {
		return 0, nil, err
	}
	return 0, struct {
		BackupPlanTemplatesList []member
		NextToken               *string `json:",omitempty"`
	}{list, next}, nil
}

func (a *adapter) planFromTemplate(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	d, err := a.p.PlanFromTemplate(ctx, r.PathValue("templateId"))
	if err != nil {
		return 0, nil, err
	}
	return 0, struct{ BackupPlanDocument any }{d}, nil
}
