-- Backup Audit Manager. A framework's controls are the JSON of the API's
-- FrameworkControls; a report plan's delivery channel and setting the
-- JSON of ReportDeliveryChannel and ReportSetting.
CREATE TABLE backup_frameworks (
	account_id TEXT NOT NULL,
	region TEXT NOT NULL,
	name TEXT NOT NULL,
	arn TEXT NOT NULL,
	description TEXT NOT NULL DEFAULT '',
	controls TEXT NOT NULL,
	idempotency_token TEXT NOT NULL DEFAULT '',
	creation_date BIGINT NOT NULL,
	PRIMARY KEY (account_id, region, name)
);

CREATE TABLE backup_report_plans (
	account_id TEXT NOT NULL,
	region TEXT NOT NULL,
	name TEXT NOT NULL,
	arn TEXT NOT NULL,
	description TEXT NOT NULL DEFAULT '',
	delivery_channel TEXT NOT NULL,
	setting TEXT NOT NULL,
	idempotency_token TEXT NOT NULL DEFAULT '',
	creation_date BIGINT NOT NULL,
	last_attempted BIGINT NOT NULL DEFAULT 0,
	last_successful BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (account_id, region, name)
);

-- Report jobs; s3_keys is the JSON list of the objects the job wrote.
CREATE TABLE backup_report_jobs (
	id TEXT PRIMARY KEY,
	account_id TEXT NOT NULL,
	region TEXT NOT NULL,
	plan_name TEXT NOT NULL,
	plan_arn TEXT NOT NULL,
	template TEXT NOT NULL,
	status TEXT NOT NULL,
	status_message TEXT NOT NULL DEFAULT '',
	idempotency_token TEXT NOT NULL DEFAULT '',
	s3_bucket TEXT NOT NULL,
	s3_keys TEXT NOT NULL DEFAULT '[]',
	creation_date BIGINT NOT NULL,
	completion_date BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX backup_report_jobs_scope ON backup_report_jobs (account_id, region, creation_date);
