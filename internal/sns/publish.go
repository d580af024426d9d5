package sns

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"

	"github.com/coffer-dev/coffer/internal/identity"
	"github.com/coffer-dev/coffer/internal/meta"
	"github.com/coffer-dev/coffer/internal/reqctx"
)

// Message types, as the Type field and the x-amz-sns-message-type header
// name them.
const (
	TypeNotification = "Notification"
	TypeConfirmation = "SubscriptionConfirmation"
	TypeUnsubscribe  = "UnsubscribeConfirmation"
)

// Message is the JSON document SNS POSTs to an http/https endpoint.
type Message struct {
	Type              string
	MessageId         string
	Token             string `json:",omitempty"`
	TopicArn          string
	Subject           string `json:",omitempty"`
	Message           string
	SubscribeURL      string `json:",omitempty"`
	Timestamp         string
	SignatureVersion  string
	Signature         string
	SigningCertURL    string
	UnsubscribeURL    string                      `json:",omitempty"`
	MessageAttributes map[string]MessageAttribute `json:",omitempty"`
}

// MessageAttribute is a String message attribute.
type MessageAttribute struct {
	Type, Value string
}

// maxMessageBytes is SNS's limit on a message (256 KiB).
const maxMessageBytes = 262144

const timestampLayout = "2006-01-02T15:04:05.000Z"

func (s *Service) newMessage(ctx context.Context, t *Topic, typ string) (*Message, *signer, error) {
	sg, err := s.loadSigner(ctx)
	if err != nil {
		return nil, nil, err
	}
	base := s.base()
	if base == "" {
		return nil, nil, errors.New("sns: the server's URL is not known yet, so messages cannot link back to it")
	}
	version := t.Attributes["SignatureVersion"]
	if version == "" {
		version = "1"
	}
	return &Message{Type: typ, MessageId: newID(), TopicArn: t.ARN, Timestamp: s.now().UTC().Format(timestampLayout),
		SignatureVersion: version, SigningCertURL: base + CertPath}, sg, nil
}

// confirmation is the signed SubscriptionConfirmation message carrying
// a subscription's token. It is built before the transaction that
// queues it: the signing key may have to be created first.
func (s *Service) confirmation(ctx context.Context, t *Topic, token string) (*Message, error) {
	return s.tokenMessage(ctx, t, TypeConfirmation, token,
		fmt.Sprintf("You have chosen to subscribe to the topic %s.\nTo confirm the subscription, visit the SubscribeURL included in this message.", t.ARN))
}

// unsubscribeConfirmation is the signed UnsubscribeConfirmation message
// an endpoint receives when its subscription is deleted: its
// SubscribeURL restores the subscription.
func (s *Service) unsubscribeConfirmation(ctx context.Context, t *Topic, subARN, token string) (*Message, error) {
	return s.tokenMessage(ctx, t, TypeUnsubscribe, token,
		fmt.Sprintf("You have chosen to deactivate subscription %s.\nTo cancel this operation and restore the subscription, visit the SubscribeURL included in this message.", subARN))
}

// tokenMessage is a signed message of type typ carrying token, whose
// SubscribeURL confirms with it.
func (s *Service) tokenMessage(ctx context.Context, t *Topic, typ, token, text string) (*Message, error) {
	m, sg, err := s.newMessage(ctx, t, typ)
	if err != nil {
		return nil, err
	}
	m.Token = token
	m.Message = text
	m.SubscribeURL = s.base() + ConfirmPath + "?" + url.Values{"Action": {"ConfirmSubscription"}, "TopicArn": {t.ARN}, "Token": {token}}.Encode()
	return m, sg.sign(m)
}

// Publish sends a message to every confirmed subscription of a topic and
// returns its MessageId.
func (s *Service) Publish(ctx context.Context, topicARN, subject, message string, attrs map[string]string) (string, error) {
	t, err := s.topic(ctx, topicARN, "sns:Publish")
	if err != nil {
		return "", err
	}
	return s.fanout(ctx, t, subject, message, attrs)
}

// PublishFrom publishes as an AWS service principal (backup.amazonaws.com)
// on behalf of one of its resources: the topic's policy must admit the
// service; aws:SourceAccount and aws:SourceArn name the resource. A
// denial counts in coffer_sns_publishes_total{result="denied"} and is
// returned.
func (s *Service) PublishFrom(ctx context.Context, service, sourceAccount, sourceARN, topicARN, subject, message string, attrs map[string]string) (string, error) {
	region, _, _, err := parseTopicARN(topicARN)
	if err != nil {
		return "", err
	}
	ctx = identity.WithCaller(ctx, identity.ServicePrincipal(service))
	ctx = reqctx.WithCall(ctx, &reqctx.Call{Service: "sns", Region: region, Operation: "Publish", RequestID: newID()})
	t, err := s.loadTopic(ctx, s.store, topicARN)
	if err != nil {
		s.metrics.publishes.WithLabelValues("error").Inc()
		return "", err
	}
	extra := map[string][]string{"aws:SourceAccount": {sourceAccount}, "aws:SourceArn": {sourceARN}}
	if err := s.authorize(ctx, "sns:Publish", t, extra); err != nil {
		s.metrics.publishes.WithLabelValues("denied").Inc()
		return "", err
	}
	return s.fanout(ctx, t, subject, message, attrs)
}

func (s *Service) fanout(ctx context.Context, t *Topic, subject, message string, attrs map[string]string) (string, error) {
	switch {
	case message == "":
		return "", invalidParam("Invalid parameter: Empty message")
	case len(message) > maxMessageBytes:
		return "", invalidParam("Invalid parameter: Message too long")
	case len(subject) > 100 || strings.ContainsAny(subject, "\r\n") || !utf8.ValidString(subject):
		return "", invalidParam("Invalid parameter: Subject must be at most 100 printable characters on one line")
	}
	m, sg, err := s.newMessage(ctx, t, TypeNotification)
	if err != nil {
		return "", err
	}
	m.Subject, m.Message = subject, message
	for k, v := range attrs {
		if m.MessageAttributes == nil {
			m.MessageAttributes = map[string]MessageAttribute{}
		}
		m.MessageAttributes[k] = MessageAttribute{Type: "String", Value: v}
	}
	if err := sg.sign(m); err != nil {
		return "", err
	}
	err = s.store.InTx(ctx, func(q meta.Querier) error {
		rows, err := q.QueryContext(ctx, `SELECT arn, endpoint FROM sns_subscriptions WHERE topic_arn = ? AND confirmed = 1`, t.ARN)
		if err != nil {
			return err
		}
		var subs [][2]string
		for rows.Next() {
			var sub [2]string
			if err := rows.Scan(&sub[0], &sub[1]); err != nil {
				rows.Close()
				return err
			}
			subs = append(subs, sub)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, sub := range subs {
			per := *m
			per.UnsubscribeURL = s.base() + UnsubscribePath + "?" + url.Values{"Action": {"Unsubscribe"}, "SubscriptionArn": {sub[0]}}.Encode()
			if err := s.queueDelivery(ctx, q, sub[0], sub[1], &per); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	s.metrics.publishes.WithLabelValues("published").Inc()
	return m.MessageId, nil
}

// deliveryArgs is the queued work: one row of sns_deliveries.
type deliveryArgs struct {
	DeliveryID string `json:"delivery_id"`
}

func (deliveryArgs) Kind() string { return "sns_delivery" }

func (s *Service) queueDelivery(ctx context.Context, q meta.Querier, subARN, endpoint string, m *Message) error {
	body, err := json.Marshal(m)
	if err != nil {
		return err
	}
	id := newID()
	if _, err := q.ExecContext(ctx, `INSERT INTO sns_deliveries (id, topic_arn, subscription_arn, endpoint, message_type, message_id, body, status, attempts, last_error, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, 'PENDING', 0, '', ?)`, id, m.TopicArn, subARN, endpoint, m.Type, m.MessageId, string(body), s.now().UnixNano()); err != nil {
		return err
	}
	return s.queue.InsertTx(ctx, q, deliveryArgs{DeliveryID: id}, &river.InsertOpts{MaxAttempts: s.attempts})
}

// AddWorkers registers the delivery worker with the queue's workers.
func (s *Service) AddWorkers(w *river.Workers) {
	river.AddWorker(w, &deliveryWorker{s: s})
}

type deliveryWorker struct {
	river.WorkerDefaults[deliveryArgs]
	s *Service
}

// Work POSTs one message to one endpoint. A failed attempt is recorded
// and returned, so the queue retries it with its exponential backoff
// (1 s, 16 s, 81 s, ... as River's default policy spaces them); the last
// failed attempt marks the delivery FAILED.
func (w *deliveryWorker) Work(ctx context.Context, rj *river.Job[deliveryArgs]) error {
	return w.s.deliver(ctx, rj.Args.DeliveryID, rj.Attempt, rj.MaxAttempts)
}

// delivery is one message's delivery to one endpoint.
type delivery struct {
	TopicARN, SubscriptionARN, Endpoint, MessageType, MessageID, Status string
}

// Delivery statuses.
const (
	DeliveryPending   = "PENDING"
	DeliveryDelivered = "DELIVERED"
	DeliveryFailed    = "FAILED"
)

func (s *Service) deliver(ctx context.Context, id string, attempt, maxAttempts int) error {
	var d delivery
	var body string
	err := s.store.QueryRowContext(ctx, `SELECT subscription_arn, endpoint, message_type, message_id, topic_arn, body, status FROM sns_deliveries WHERE id = ?`, id).
		Scan(&d.SubscriptionARN, &d.Endpoint, &d.MessageType, &d.MessageID, &d.TopicARN, &body, &d.Status)
	if errors.Is(err, sql.ErrNoRows) || err == nil && d.Status != DeliveryPending {
		return nil
	}
	if err != nil {
		return err
	}
	log := s.log.With("topic", d.TopicARN, "subscription", d.SubscriptionARN, "message", d.MessageID, "type", d.MessageType, "attempt", attempt)
	// An UnsubscribeConfirmation goes to a subscription that was
	// deleted; other messages only to one that still exists.
	table := "sns_subscriptions"
	if d.MessageType == TypeUnsubscribe {
		table = "sns_unsubscribed"
	}
	var n int
	if err := s.store.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table+` WHERE arn = ?`, d.SubscriptionARN).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return s.finishDelivery(ctx, id, attempt-1, DeliveryFailed, "the subscription was deleted before delivery")
	}
	derr := s.post(ctx, d, body)
	if derr == nil {
		s.metrics.deliveries.WithLabelValues("delivered").Inc()
		log.Info("sns message delivered")
		return s.finishDelivery(ctx, id, attempt, DeliveryDelivered, "")
	}
	status := DeliveryPending
	if attempt >= maxAttempts {
		status = DeliveryFailed
		s.metrics.deliveries.WithLabelValues("failed").Inc()
		log.Warn("sns delivery failed; giving up", "error", derr)
	} else {
		s.metrics.deliveries.WithLabelValues("retried").Inc()
		log.Warn("sns delivery failed; will retry", "error", derr)
	}
	if err := s.finishDelivery(ctx, id, attempt, status, derr.Error()); err != nil {
		return err
	}
	return derr
}

// finishDelivery records an attempt; a delivery that ended keeps its
// outcome but no longer its body.
func (s *Service) finishDelivery(ctx context.Context, id string, attempts int, status, lastError string) error {
	_, err := s.store.ExecContext(ctx, `UPDATE sns_deliveries SET status = ?, attempts = ?, last_error = ?, updated_at = ?,
		body = CASE WHEN ? = 'PENDING' THEN body ELSE '' END WHERE id = ?`,
		status, attempts, lastError, s.now().UnixNano(), status, id)
	return err
}

// post sends the message as SNS does: a POST of the JSON document as
// text/plain with the x-amz-sns-* headers; any 2xx is delivered.
func (s *Service) post(ctx context.Context, d delivery, body string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.Endpoint, strings.NewReader(body))
	if err != nil {
		return fmt.Errorf("endpoint %s: %w", d.Endpoint, err)
	}
	req.Header.Set("Content-Type", "text/plain; charset=UTF-8")
	req.Header.Set("User-Agent", "Amazon Simple Notification Service Agent")
	req.Header.Set("x-amz-sns-message-type", d.MessageType)
	req.Header.Set("x-amz-sns-message-id", d.MessageID)
	req.Header.Set("x-amz-sns-topic-arn", d.TopicARN)
	if d.MessageType == TypeNotification {
		req.Header.Set("x-amz-sns-subscription-arn", d.SubscriptionARN)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s: %w", d.Endpoint, err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: HTTP %d %s", d.Endpoint, resp.StatusCode, bytes.TrimSpace(snippet))
	}
	return nil
}

type metrics struct {
	deliveries *prometheus.CounterVec
	publishes  *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "coffer_sns_deliveries_total",
			Help: "Attempts to deliver SNS messages to http/https endpoints, by result: delivered, retried (failed, will retry), failed (gave up)."}, []string{"result"}),
		publishes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "coffer_sns_publishes_total",
			Help: "Messages published to SNS topics, by result: published, denied (the topic policy did not admit a service publisher), error."}, []string{"result"}),
	}
	if reg != nil {
		reg.MustRegister(m.deliveries, m.publishes)
	}
	return m
}
