-- Restore testing. A restore job a restore testing plan started names the
-- plan (CreatedBy.RestoreTestingPlanArn) and records what became of the
-- temporary instance it restored into (DeletionStatus).
ALTER TABLE backup_jobs ADD COLUMN restore_testing_plan_arn TEXT NOT NULL DEFAULT '';
ALTER TABLE backup_jobs ADD COLUMN deletion_status TEXT NOT NULL DEFAULT '';
ALTER TABLE backup_jobs ADD COLUMN deletion_status_message TEXT NOT NULL DEFAULT '';
CREATE INDEX backup_jobs_restore_testing ON backup_jobs (restore_testing_plan_arn) WHERE restore_testing_plan_arn <> '';

-- Restore testing plans; document is the plan's JSON as the API gives it
-- (RecoveryPointSelection, ScheduleExpression, ScheduleExpressionTimezone,
-- StartWindowHours). scheduled_through is the scheduler's cursor: the
-- runs at or before it were handed to the backup domain.
CREATE TABLE restore_testing_plans (
	account_id TEXT NOT NULL,
	region TEXT NOT NULL,
	name TEXT NOT NULL,
	arn TEXT NOT NULL,
	document TEXT NOT NULL,
	creator_request_id TEXT NOT NULL DEFAULT '',
	creation_date BIGINT NOT NULL,
	update_date BIGINT NOT NULL DEFAULT 0,
	last_execution_date BIGINT NOT NULL DEFAULT 0,
	scheduled_through BIGINT NOT NULL,
	PRIMARY KEY (account_id, region, name)
);

-- A plan's selections; document is the selection's JSON
-- (ProtectedResourceArns, ProtectedResourceConditions,
-- RestoreMetadataOverrides, ValidationWindowHours).
CREATE TABLE restore_testing_selections (
	account_id TEXT NOT NULL,
	region TEXT NOT NULL,
	plan_name TEXT NOT NULL,
	name TEXT NOT NULL,
	iam_role_arn TEXT NOT NULL,
	document TEXT NOT NULL,
	creator_request_id TEXT NOT NULL DEFAULT '',
	creation_date BIGINT NOT NULL,
	update_date BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (account_id, region, plan_name, name)
);

-- The restore jobs the plans started, until their temporary instance is
-- gone: delete_after is the job's ValidationWindowHours, counted from
-- its completion; done is 1 once the instance was deleted (or there was
-- none).
CREATE TABLE restore_testing_jobs (
	job_id TEXT PRIMARY KEY,
	account_id TEXT NOT NULL,
	region TEXT NOT NULL,
	plan_name TEXT NOT NULL,
	selection_name TEXT NOT NULL,
	iam_role_arn TEXT NOT NULL,
	validation_window_hours BIGINT NOT NULL,
	done INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX restore_testing_jobs_open ON restore_testing_jobs (done);
