-- AWS Backup plans. A plan row holds what every version shares; each
-- CreateBackupPlan and UpdateBackupPlan adds a version whose document is
-- the plan's JSON (BackupPlanName, Rules with their RuleId, ...), and
-- version_id names the one in force. A deleted plan keeps its rows with
-- deletion_date set.
CREATE TABLE backup_plans (
	id TEXT PRIMARY KEY,
	account_id TEXT NOT NULL,
	region TEXT NOT NULL,
	name TEXT NOT NULL,
	version_id TEXT NOT NULL,
	creator_request_id TEXT NOT NULL DEFAULT '',
	creation_date BIGINT NOT NULL,
	deletion_date BIGINT NOT NULL DEFAULT 0,
	last_execution_date BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX backup_plans_scope ON backup_plans (account_id, region, name);
CREATE UNIQUE INDEX backup_plans_creator ON backup_plans (account_id, region, creator_request_id) WHERE creator_request_id <> '';

CREATE TABLE backup_plan_versions (
	plan_id TEXT NOT NULL,
	version_id TEXT NOT NULL,
	document TEXT NOT NULL,
	creation_date BIGINT NOT NULL,
	PRIMARY KEY (plan_id, version_id)
);

-- Resource assignments of a plan; document is the selection's JSON
-- (Resources, NotResources, ListOfTags, Conditions).
CREATE TABLE backup_selections (
	id TEXT PRIMARY KEY,
	plan_id TEXT NOT NULL,
	name TEXT NOT NULL,
	iam_role_arn TEXT NOT NULL,
	document TEXT NOT NULL,
	creator_request_id TEXT NOT NULL DEFAULT '',
	creation_date BIGINT NOT NULL
);
CREATE INDEX backup_selections_plan ON backup_selections (plan_id);
CREATE UNIQUE INDEX backup_selections_name ON backup_selections (plan_id, name);

-- The scheduler's progress: the windows of a rule starting at or before
-- scheduled_through were handed to the backup domain (each with its own
-- idempotency key, so handing one over twice creates one job).
CREATE TABLE backup_plan_cursors (
	plan_id TEXT NOT NULL,
	rule_id TEXT NOT NULL,
	scheduled_through BIGINT NOT NULL,
	PRIMARY KEY (plan_id, rule_id)
);
