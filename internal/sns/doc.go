// Package sns is an Amazon SNS-compatible topic service: topics with
// access policies, http/https subscriptions confirmed by the
// subscription handshake, and Publish, whose messages are signed as SNS
// signs them and delivered through the job queue with retries. Every
// operation authorizes its caller through authz, with the topic's policy
// as the resource policy, so AWS services (backup.amazonaws.com) publish
// only where a topic policy admits them.
//
// # Messages on the wire
//
// Each delivery is an HTTP POST of one JSON object, Content-Type
// "text/plain; charset=UTF-8", User-Agent "Amazon Simple Notification
// Service Agent", with the headers x-amz-sns-message-type (the Type),
// x-amz-sns-message-id, x-amz-sns-topic-arn and, for notifications,
// x-amz-sns-subscription-arn. The members, all strings:
//
//	Type              "SubscriptionConfirmation", "Notification" or "UnsubscribeConfirmation"
//	MessageId         a random UUID
//	Token             (confirmations) 64 hex digits, the subscription's token
//	                  (UnsubscribeConfirmation: a new one, which restores it)
//	TopicArn          arn:aws:sns:REGION:ACCOUNT:NAME
//	Subject           (notifications, when published with one) <= 100 characters, one line
//	Message           the text (<= 262144 bytes)
//	SubscribeURL      (confirmations) BASE/_coffer/sns/confirm?Action=ConfirmSubscription&TopicArn=...&Token=...
//	Timestamp         UTC, 2006-01-02T15:04:05.000Z
//	SignatureVersion  "1" or "2", the topic's SignatureVersion attribute (default "1", as in SNS)
//	Signature         base64 of the RSA PKCS#1 v1.5 signature, below
//	SigningCertURL    BASE/_coffer/sns/SimpleNotificationService.pem
//	UnsubscribeURL    (notifications) BASE/_coffer/sns/unsubscribe?Action=Unsubscribe&SubscriptionArn=...
//	MessageAttributes (notifications, when published with some) {"Name": {"Type": "String", "Value": "..."}}
//
// BASE is the URL coffer listens on (http or https, host and port).
//
// The signature covers the string to sign: for each signed member, in
// this order, its name, a newline, its value, a newline. Notifications
// sign Message, MessageId, Subject (only when present), Timestamp,
// TopicArn, Type; both kinds of confirmation sign Message, MessageId,
// SubscribeURL, Timestamp, Token, TopicArn, Type. SignatureVersion 1 signs the SHA-1
// of that string, 2 its SHA-256, with the RSA 2048 key whose
// self-signed X.509 certificate (PEM) SigningCertURL serves without a
// signature, as a receiver built for SNS verifies it. The confirm and
// unsubscribe links, also unsigned, answer SNS's XML documents
// (ConfirmSubscriptionResponse, UnsubscribeResponse).
//
// Unsubscribe (the API or a message's UnsubscribeURL) of a confirmed
// subscription sends its endpoint an UnsubscribeConfirmation, "You have
// chosen to deactivate subscription ARN.\nTo cancel this operation and
// restore the subscription, visit the SubscribeURL included in this
// message.", whose SubscribeURL (ConfirmSubscription with its token)
// restores the subscription, confirmed, under its ARN.
//
// # Delivery
//
// Publish writes one sns_deliveries row per confirmed subscription, with
// the signed body, and queues a River job for it in the same
// transaction. A delivery is done on any 2xx answer; otherwise the job
// fails and River retries it with its exponential backoff (attempt⁴
// seconds: 1 s, 16 s, 81 s, 256 s), five attempts in all, after which
// the row is FAILED with the last error. Every outcome is logged and
// counted in coffer_sns_deliveries_total{result="delivered|retried|failed"};
// publishes in coffer_sns_publishes_total{result="published|denied|error"},
// where denied is a service principal (AWS Backup) the topic policy does
// not admit.
//
// # Tables
//
//	sns_topics         arn, account_id, region, name, attributes (JSON object
//	                   of Policy, DisplayName, SignatureVersion),
//	                   created_at (Unix ns)
//	sns_subscriptions  arn (TOPICARN:UUID), topic_arn, owner (account),
//	                   protocol (http|https), endpoint, token, confirmed (0|1),
//	                   created_at
//	sns_unsubscribed   the subscriptions Unsubscribe deleted, restorable
//	                   with their UnsubscribeConfirmation's token: arn,
//	                   topic_arn, owner, protocol, endpoint, token,
//	                   created_at, deleted_at; counted in the topic's
//	                   SubscriptionsDeleted, deleted with the topic
//	sns_deliveries     id, topic_arn, subscription_arn, endpoint, message_type,
//	                   message_id, body (the signed JSON; emptied once the
//	                   delivery ended), status
//	                   (PENDING|DELIVERED|FAILED), attempts, last_error, updated_at
//	sns_signing_keys   id ("current"), certificate (PEM), sealed_key (base64 of
//	                   the PKCS#8 key sealed by the root key, AAD
//	                   "coffer sns signing key v1"), created_at
package sns
