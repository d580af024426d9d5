package sns

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"net/url"

	"github.com/coffer-dev/coffer/internal/authz"
	"github.com/coffer-dev/coffer/internal/identity"
	"github.com/coffer-dev/coffer/internal/meta"
)

// PendingConfirmation is what Subscribe answers, and
// ListSubscriptionsByTopic shows, for a subscription not yet confirmed.
const (
	PendingConfirmation = "pending confirmation"
	pendingListed       = "PendingConfirmation"
)

// Subscription is an endpoint subscribed to a topic.
type Subscription struct {
	ARN, TopicARN, Owner, Protocol, Endpoint string
	Confirmed                                bool
}

// Subscribe subscribes an http or https endpoint to a topic and sends it
// the SubscriptionConfirmation message. It returns the subscription ARN,
// or "pending confirmation" unless returnARN asks for the ARN anyway.
func (s *Service) Subscribe(ctx context.Context, topicARN, protocol, endpoint string, returnARN bool) (string, error) {
	if protocol == "" {
		return "", invalidParam("Invalid parameter: Protocol")
	}
	t, err := s.topic(ctx, topicARN, "sns:Subscribe")
	if err != nil {
		return "", err
	}
	if protocol != "http" && protocol != "https" {
		return "", invalidParam("Invalid parameter: Protocol %s: coffer delivers to http and https endpoints only", protocol)
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme != protocol || u.Host == "" {
		return "", invalidParam("Invalid parameter: Endpoint must be a URL beginning with %s://", protocol)
	}
	p := identity.Caller(ctx)
	var existing Subscription
	var token string
	err = s.store.QueryRowContext(ctx, `SELECT arn, confirmed, token FROM sns_subscriptions WHERE topic_arn = ? AND protocol = ? AND endpoint = ?`, t.ARN, protocol, endpoint).
		Scan(&existing.ARN, &existing.Confirmed, &token)
	switch {
	case err == nil && existing.Confirmed:
		return existing.ARN, nil
	case err == nil:
		// Subscribing again resends the confirmation.
		m, err := s.confirmation(ctx, t, token)
		if err != nil {
			return "", err
		}
		err = s.store.InTx(ctx, func(q meta.Querier) error { return s.queueDelivery(ctx, q, existing.ARN, endpoint, m) })
		return pendingOr(existing.ARN, returnARN), err
	case !errors.Is(err, sql.ErrNoRows):
		return "", err
	}
	sub := Subscription{ARN: t.ARN + ":" + newID(), TopicARN: t.ARN, Owner: p.AccountID, Protocol: protocol, Endpoint: endpoint}
	token = newToken()
	m, err := s.confirmation(ctx, t, token)
	if err != nil {
		return "", err
	}
	err = s.store.InTx(ctx, func(q meta.Querier) error {
		if _, err := q.ExecContext(ctx, `INSERT INTO sns_subscriptions (arn, topic_arn, owner, protocol, endpoint, token, confirmed, created_at) VALUES (?, ?, ?, ?, ?, ?, 0, ?)`,
			sub.ARN, sub.TopicARN, sub.Owner, sub.Protocol, sub.Endpoint, token, s.now().UnixNano()); err != nil {
			return err
		}
		return s.queueDelivery(ctx, q, sub.ARN, endpoint, m)
	})
	if err != nil {
		return "", err
	}
	return pendingOr(sub.ARN, returnARN), nil
}

func pendingOr(arn string, returnARN bool) string {
	if returnARN {
		return arn
	}
	return PendingConfirmation
}

// ConfirmSubscription confirms the subscription a token was sent to. The
// token is the authority: AWS lets anyone holding it confirm.
func (s *Service) ConfirmSubscription(ctx context.Context, topicARN, token string) (string, error) {
	if _, _, _, err := parseTopicARN(topicARN); err != nil {
		return "", err
	}
	if token == "" {
		return "", invalidParam("Invalid parameter: Token")
	}
	if identity.Caller(ctx) != nil {
		authz.NoPermissionRequired(ctx, "the confirmation token authorizes sns:ConfirmSubscription")
	}
	var arn string
	err := s.store.QueryRowContext(ctx, `SELECT arn FROM sns_subscriptions WHERE topic_arn = ? AND token = ?`, topicARN, token).Scan(&arn)
	if errors.Is(err, sql.ErrNoRows) {
		return s.resubscribe(ctx, topicARN, token)
	}
	if err != nil {
		return "", err
	}
	if _, err := s.store.ExecContext(ctx, `UPDATE sns_subscriptions SET confirmed = 1 WHERE arn = ?`, arn); err != nil {
		return "", err
	}
	s.log.Info("subscription confirmed", "subscription", arn)
	return arn, nil
}

// resubscribe restores, confirmed, the subscription whose
// UnsubscribeConfirmation carried token. When the endpoint subscribed
// again in the meantime, that subscription stands and is returned.
func (s *Service) resubscribe(ctx context.Context, topicARN, token string) (string, error) {
	var sub Subscription
	var created int64
	err := s.store.QueryRowContext(ctx, `SELECT arn, owner, protocol, endpoint, created_at FROM sns_unsubscribed WHERE topic_arn = ? AND token = ?`, topicARN, token).
		Scan(&sub.ARN, &sub.Owner, &sub.Protocol, &sub.Endpoint, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return "", invalidParam("Invalid token")
	}
	if err != nil {
		return "", err
	}
	arn := sub.ARN
	err = s.store.InTx(ctx, func(q meta.Querier) error {
		if _, err := q.ExecContext(ctx, `DELETE FROM sns_unsubscribed WHERE arn = ?`, sub.ARN); err != nil {
			return err
		}
		err := q.QueryRowContext(ctx, `SELECT arn FROM sns_subscriptions WHERE topic_arn = ? AND protocol = ? AND endpoint = ?`, topicARN, sub.Protocol, sub.Endpoint).Scan(&arn)
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		arn = sub.ARN
		_, err = q.ExecContext(ctx, `INSERT INTO sns_subscriptions (arn, topic_arn, owner, protocol, endpoint, token, confirmed, created_at) VALUES (?, ?, ?, ?, ?, ?, 1, ?)`,
			sub.ARN, topicARN, sub.Owner, sub.Protocol, sub.Endpoint, token, created)
		return err
	})
	if err != nil {
		return "", err
	}
	s.log.Info("subscription restored", "subscription", arn)
	return arn, nil
}

func (s *Service) loadSubscription(ctx context.Context, arn string) (*Subscription, error) {
	var sub Subscription
	err := s.store.QueryRowContext(ctx, `SELECT arn, topic_arn, owner, protocol, endpoint, confirmed FROM sns_subscriptions WHERE arn = ?`, arn).
		Scan(&sub.ARN, &sub.TopicARN, &sub.Owner, &sub.Protocol, &sub.Endpoint, &sub.Confirmed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("Subscription does not exist")
	}
	return &sub, err
}

// Unsubscribe deletes a subscription, as whom the topic's policy or
// the caller's own policies let. Without a caller (the
// UnsubscribeURL of a message) the ARN is the authority, as in SNS.
func (s *Service) Unsubscribe(ctx context.Context, subARN string) error {
	if subARN == "" {
		return invalidParam("Invalid parameter: SubscriptionArn")
	}
	sub, err := s.loadSubscription(ctx, subARN)
	if err != nil {
		if identity.Caller(ctx) != nil {
			if aerr := s.check(ctx, authz.Request{Action: "sns:Unsubscribe", Resource: subARN}); aerr != nil {
				return aerr
			}
		}
		return err
	}
	t, err := s.loadTopic(ctx, s.store, sub.TopicARN)
	if err != nil {
		return err
	}
	if identity.Caller(ctx) != nil {
		if err := s.authorize(ctx, "sns:Unsubscribe", t, nil); err != nil {
			return err
		}
	}
	// A confirmed endpoint is told, as SNS tells it, with a new token
	// that restores the subscription.
	var m *Message
	token := newToken()
	if sub.Confirmed {
		if m, err = s.unsubscribeConfirmation(ctx, t, sub.ARN, token); err != nil {
			return err
		}
	}
	err = s.store.InTx(ctx, func(q meta.Querier) error {
		var created int64
		if err := q.QueryRowContext(ctx, `SELECT created_at FROM sns_subscriptions WHERE arn = ?`, sub.ARN).Scan(&created); err != nil {
			return err
		}
		if _, err := q.ExecContext(ctx, `DELETE FROM sns_subscriptions WHERE arn = ?`, sub.ARN); err != nil {
			return err
		}
		if m == nil {
			return nil
		}
		if _, err := q.ExecContext(ctx, `INSERT INTO sns_unsubscribed (arn, topic_arn, owner, protocol, endpoint, token, created_at, deleted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			sub.ARN, sub.TopicARN, sub.Owner, sub.Protocol, sub.Endpoint, token, created, s.now().UnixNano()); err != nil {
			return err
		}
		return s.queueDelivery(ctx, q, sub.ARN, sub.Endpoint, m)
	})
	if err == nil {
		s.log.Info("unsubscribed", "subscription", sub.ARN)
	}
	return err
}

// newToken is a confirmation token: 64 hex digits.
func newToken() string {
	var tok [32]byte
	rand.Read(tok[:])
	return hex.EncodeToString(tok[:])
}

// ListSubscriptionsByTopic lists a topic's subscriptions, 100 a page.
func (s *Service) ListSubscriptionsByTopic(ctx context.Context, topicARN, token string) ([]Subscription, string, error) {
	t, err := s.topic(ctx, topicARN, "sns:ListSubscriptionsByTopic")
	if err != nil {
		return nil, "", err
	}
	arns, next, err := s.listARNs(ctx, `SELECT arn FROM sns_subscriptions WHERE topic_arn = ? AND arn > ? ORDER BY arn LIMIT ?`, token, t.ARN)
	if err != nil {
		return nil, "", err
	}
	out := make([]Subscription, 0, len(arns))
	for _, a := range arns {
		sub, err := s.loadSubscription(ctx, a)
		if err != nil {
			return nil, "", err
		}
		if !sub.Confirmed {
			sub.ARN = pendingListed
		}
		out = append(out, *sub)
	}
	return out, next, nil
}
