-- Jobs a backup plan started record the plan and rule (CreatedBy).
ALTER TABLE backup_jobs ADD COLUMN plan_id TEXT NOT NULL DEFAULT '';
ALTER TABLE backup_jobs ADD COLUMN plan_arn TEXT NOT NULL DEFAULT '';
ALTER TABLE backup_jobs ADD COLUMN plan_version TEXT NOT NULL DEFAULT '';
ALTER TABLE backup_jobs ADD COLUMN rule_id TEXT NOT NULL DEFAULT '';
ALTER TABLE backup_jobs ADD COLUMN rule_name TEXT NOT NULL DEFAULT '';
