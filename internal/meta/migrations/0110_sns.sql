-- SNS: topics, their http/https subscriptions, the deliveries of each
-- message to each subscription, and the key that signs them. Times are
-- Unix nanoseconds.
CREATE TABLE sns_topics (
	arn TEXT PRIMARY KEY,
	account_id TEXT NOT NULL,
	region TEXT NOT NULL,
	name TEXT NOT NULL,
	-- JSON object of the attributes SetTopicAttributes sets (Policy,
	-- DisplayName, SignatureVersion).
	attributes TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	UNIQUE (account_id, region, name)
);

CREATE TABLE sns_subscriptions (
	arn TEXT PRIMARY KEY,
	topic_arn TEXT NOT NULL,
	owner TEXT NOT NULL,
	protocol TEXT NOT NULL,
	endpoint TEXT NOT NULL,
	-- the token of the SubscriptionConfirmation message; confirmed is 1
	-- once ConfirmSubscription presented it.
	token TEXT NOT NULL,
	confirmed INTEGER NOT NULL,
	created_at BIGINT NOT NULL
);
CREATE INDEX sns_subscriptions_topic ON sns_subscriptions (topic_arn, arn);
CREATE UNIQUE INDEX sns_subscriptions_token ON sns_subscriptions (token);

CREATE TABLE sns_deliveries (
	id TEXT PRIMARY KEY,
	topic_arn TEXT NOT NULL,
	subscription_arn TEXT NOT NULL,
	endpoint TEXT NOT NULL,
	message_type TEXT NOT NULL,
	message_id TEXT NOT NULL,
	-- the signed JSON document POSTed, the same on every attempt.
	body TEXT NOT NULL,
	-- PENDING, DELIVERED or FAILED (gave up).
	status TEXT NOT NULL,
	attempts INTEGER NOT NULL,
	last_error TEXT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE INDEX sns_deliveries_topic ON sns_deliveries (topic_arn, status);

CREATE TABLE sns_signing_keys (
	id TEXT PRIMARY KEY,
	-- PEM certificate, served at SigningCertURL.
	certificate TEXT NOT NULL,
	-- the PKCS#8 private key sealed with the root key (base64).
	sealed_key TEXT NOT NULL,
	created_at BIGINT NOT NULL
);
