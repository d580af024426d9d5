package plans

import "context"

// PlanTemplate is one of the backup plan templates AWS Backup offers.
type PlanTemplate struct {
	ID, Name string
	Document Document
}

func int64p(n int64) *int64 { return &n }

// planTemplates are AWS's templates whose IDs AWS documents: the daily
// backup kept 35 days (the AWS CLI reference's example). Its rule
// targets the Default vault every account has.
var planTemplates = []PlanTemplate{{
	ID: "87c0c1ef-254d-4180-8fef-2e76a2c38aaa", Name: "Daily-35day-Retention",
	Document: Document{BackupPlanName: "Daily-35day-Retention", Rules: []Rule{{
		RuleName: "DailyBackups", TargetBackupVaultName: "Default", ScheduleExpression: "cron(0 5 ? * * *)",
		StartWindowMinutes: int64p(480), CompletionWindowMinutes: int64p(DefaultCompletionWindow), Lifecycle: &Lifecycle{DeleteAfterDays: int64p(35)},
	}}},
}}

// ListTemplates returns the backup plan templates.
func (s *Service) ListTemplates(ctx context.Context) ([]PlanTemplate, error) {
	if _, err := s.scope(ctx); err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, "backup:ListBackupPlanTemplates", "*"); err != nil {
		return nil, err
	}
	return planTemplates, nil
}

// PlanFromTemplate returns a template's plan document, to create a plan
// from.
func (s *Service) PlanFromTemplate(ctx context.Context, id string) (*Document, error) {
	if _, err := s.scope(ctx); err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, "backup:GetBackupPlanFromTemplate", "*"); err != nil {
		return nil, err
	}
	if id == "" {
		return nil, missingParam("BackupPlanTemplateId")
	}
	for _, t := range planTemplates {
		if t.ID == id {
			d := t.Document
			d.Rules = append([]Rule(nil), t.Document.Rules...)
			return &d, nil
		}
	}
	return nil, notFound("backup plan template %s does not exist", id)
}
