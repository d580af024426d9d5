-- SNS subscriptions deleted by Unsubscribe, kept so that the SubscribeURL
-- of their UnsubscribeConfirmation message (ConfirmSubscription with
-- token) restores them, and counted in SubscriptionsDeleted. Deleted
-- with their topic.
CREATE TABLE sns_unsubscribed (
	arn TEXT PRIMARY KEY,
	topic_arn TEXT NOT NULL,
	owner TEXT NOT NULL,
	protocol TEXT NOT NULL,
	endpoint TEXT NOT NULL,
	token TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	deleted_at BIGINT NOT NULL
);
CREATE INDEX sns_unsubscribed_topic ON sns_unsubscribed (topic_arn);
CREATE UNIQUE INDEX sns_unsubscribed_token ON sns_unsubscribed (token);
