package sns

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"

	"github.com/coffer-dev/coffer/internal/authz"
	"github.com/coffer-dev/coffer/internal/awserr"
	"github.com/coffer-dev/coffer/internal/identity"
	"github.com/coffer-dev/coffer/internal/meta"
	"github.com/coffer-dev/coffer/internal/policy"
	"github.com/coffer-dev/coffer/internal/reqctx"
)

// Queue enqueues deliveries in the caller's transaction.
type Queue interface {
	InsertTx(ctx context.Context, tx meta.Querier, args river.JobArgs, opts *river.InsertOpts) error
}

// Sealer protects the signing key at rest (the root key).
type Sealer interface {
	Seal(ctx context.Context, plaintext, aad []byte) ([]byte, error)
	Open(ctx context.Context, sealed, aad []byte) ([]byte, error)
}

// Options configure a Service.
type Options struct {
	Store   meta.Store
	Authz   *authz.Authorizer
	Queue   Queue
	RootKey Sealer
	Log     *slog.Logger
	// Registerer takes the delivery metrics; nil registers none.
	Registerer prometheus.Registerer
	// Client POSTs the deliveries; nil is a client with a 15-second
	// timeout.
	Client *http.Client
	Now    func() time.Time
	// MaxAttempts bounds the deliveries of one message to one endpoint
	// (default 5: the first and four retries with River's backoff).
	MaxAttempts int
}

// Service is the topic service.
type Service struct {
	store    meta.Store
	authz    *authz.Authorizer
	queue    Queue
	sealer   Sealer
	log      *slog.Logger
	client   *http.Client
	now      func() time.Time
	attempts int
	metrics  *metrics

	mu      sync.Mutex
	baseURL string
	signer  *signer
}

// New returns the topic service.
func New(o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 15 * time.Second}
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = 5
	}
	return &Service{store: o.Store, authz: o.Authz, queue: o.Queue, sealer: o.RootKey, log: o.Log, client: o.Client, now: o.Now,
		attempts: o.MaxAttempts, metrics: newMetrics(o.Registerer)}
}

// SetBaseURL sets the URL subscribers reach coffer at, which prefixes
// the SubscribeURL, UnsubscribeURL and SigningCertURL of messages.
func (s *Service) SetBaseURL(u string) {
	s.mu.Lock()
	s.baseURL = strings.TrimSuffix(u, "/")
	s.mu.Unlock()
}

func (s *Service) base() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.baseURL
}

// Public paths, served without authentication, as SNS serves its
// certificate and the links in its messages.
const (
	CertPath        = "/_coffer/sns/SimpleNotificationService.pem"
	ConfirmPath     = "/_coffer/sns/confirm"
	UnsubscribePath = "/_coffer/sns/unsubscribe"
)

// Errors with SNS's codes (the model's error shapes).

func invalidParam(format string, args ...any) error {
	return awserr.New(awserr.Invalid, "InvalidParameter", format, args...)
}

func notFound(format string, args ...any) error {
	return awserr.New(awserr.NotFound, "NotFound", format, args...).WithStatus(http.StatusNotFound)
}

var topicNameRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)

// TopicARN is arn:aws:sns:REGION:ACCOUNT:NAME.
func TopicARN(region, account, name string) string {
	return fmt.Sprintf("arn:aws:sns:%s:%s:%s", region, account, name)
}

// parseTopicARN checks a topic ARN and returns its region, account and
// name.
func parseTopicARN(arn string) (region, account, name string, err error) {
	parts := strings.Split(arn, ":")
	if len(parts) != 6 || parts[0] != "arn" || parts[1] != "aws" || parts[2] != "sns" || parts[3] == "" || len(parts[4]) != 12 || !topicNameRe.MatchString(parts[5]) {
		return "", "", "", invalidParam("Invalid parameter: TopicArn %q is not a topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)", arn)
	}
	return parts[3], parts[4], parts[5], nil
}

// Topic is a topic and its settable attributes.
type Topic struct {
	ARN, Account, Region, Name string
	Attributes                 map[string]string
	Created                    time.Time
}

// settable are the attributes CreateTopic and SetTopicAttributes take.
var settable = map[string]bool{"Policy": true, "DisplayName": true, "SignatureVersion": true}

// maxPolicySize is SNS's limit on a topic policy (30 KiB).
const maxPolicySize = 30720

func checkAttribute(name, value string) error {
	if name == "DeliveryPolicy" {
		return invalidParam("Invalid parameter: DeliveryPolicy: coffer's retry policy is fixed (see EffectiveDeliveryPolicy: five attempts with exponential backoff) and cannot be set per topic")
	}
	if !settable[name] {
		return invalidParam("Invalid parameter: AttributeName %s is not an attribute coffer supports (Policy, DisplayName, SignatureVersion)", name)
	}
	switch name {
	case "Policy":
		if _, err := policy.Parse([]byte(value), policy.ParseOptions{Kind: policy.KindResource, MaxSize: maxPolicySize}); err != nil {
			return invalidParam("Invalid parameter: Policy Error: %v", err)
		}
	case "SignatureVersion":
		if value != "1" && value != "2" {
			return invalidParam("Invalid parameter: SignatureVersion must be 1 (SHA1withRSA) or 2 (SHA256withRSA), not %q", value)
		}
	}
	return nil
}

// defaultPolicy is the policy AWS gives a new topic: every action for
// callers of the owner account.
func defaultPolicy(arn, account string) string {
	return `{"Version":"2008-10-17","Id":"__default_policy_ID","Statement":[{"Sid":"__default_statement_ID","Effect":"Allow","Principal":{"AWS":"*"},` +
		`"Action":["SNS:GetTopicAttributes","SNS:SetTopicAttributes","SNS:AddPermission","SNS:RemovePermission","SNS:DeleteTopic","SNS:Subscribe","SNS:ListSubscriptionsByTopic","SNS:Publish"],` +
		`"Resource":"` + arn + `","Condition":{"StringEquals":{"AWS:SourceOwner":"` + account + `"}}}]}`
}

type scope struct{ Account, Region string }

func callerScope(ctx context.Context) (scope, error) {
	p := identity.Caller(ctx)
	if p == nil {
		return scope{}, awserr.New(awserr.Unauthenticated, "MissingAuthenticationToken", "Request is missing Authentication Token")
	}
	return scope{Account: p.AccountID, Region: reqctx.CallFrom(ctx).Region}, nil
}

// authorize asks whether the caller may act on a topic, with the topic's
// policy as the resource policy. extra adds condition keys (the source
// of a service's publish).
func (s *Service) authorize(ctx context.Context, action string, t *Topic, extra map[string][]string) error {
	req := authz.Request{Action: action, Resource: t.ARN, ResourceAccount: t.Account, Context: map[string][]string{}}
	if p := identity.Caller(ctx); p != nil && p.AccountID != "" {
		req.Context["aws:SourceOwner"] = []string{p.AccountID}
	}
	for k, v := range extra {
		req.Context[k] = v
	}
	pol, err := policy.Parse([]byte(t.Attributes["Policy"]), policy.ParseOptions{Kind: policy.KindResource})
	if err != nil {
		return fmt.Errorf("stored policy of %s: %w", t.ARN, err)
	}
	req.ResourcePolicy = pol
	return s.check(ctx, req)
}

// check authorizes a request, answering a denial with SNS's
// AuthorizationError (HTTP 403).
func (s *Service) check(ctx context.Context, req authz.Request) error {
	req.DeniedCode = "AuthorizationError"
	err := s.authz.Authorize(ctx, req)
	var e *awserr.Error
	if errors.As(err, &e) && e.Kind == awserr.Denied {
		e.Status = http.StatusForbidden
	}
	return err
}

func (s *Service) loadTopic(ctx context.Context, q meta.Querier, arn string) (*Topic, error) {
	var t Topic
	var attrs string
	var created int64
	err := q.QueryRowContext(ctx, `SELECT arn, account_id, region, name, attributes, created_at FROM sns_topics WHERE arn = ?`, arn).
		Scan(&t.ARN, &t.Account, &t.Region, &t.Name, &attrs, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("Topic does not exist")
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(attrs), &t.Attributes); err != nil {
		return nil, fmt.Errorf("attributes of %s: %w", arn, err)
	}
	t.Created = time.Unix(0, created).UTC()
	return &t, nil
}

// topic loads a topic of the request's region and authorizes action on
// it. A topic that does not exist is NotFound only to callers who may
// act on its ARN.
func (s *Service) topic(ctx context.Context, arn, action string) (*Topic, error) {
	if arn == "" {
		return nil, invalidParam("Invalid parameter: TopicArn")
	}
	region, account, _, err := parseTopicARN(arn)
	if err != nil {
		return nil, err
	}
	t, err := s.loadTopic(ctx, s.store, arn)
	if err != nil {
		var e *awserr.Error
		if errors.As(err, &e) && e.Kind == awserr.NotFound {
			if aerr := s.check(ctx, authz.Request{Action: action, Resource: arn, ResourceAccount: account}); aerr != nil {
				return nil, aerr
			}
		}
		return nil, err
	}
	if region != reqctx.CallFrom(ctx).Region && reqctx.CallFrom(ctx).Region != "" {
		return nil, invalidParam("Invalid parameter: TopicArn %s is in region %s, not %s", arn, region, reqctx.CallFrom(ctx).Region)
	}
	if err := s.authorize(ctx, action, t, nil); err != nil {
		return nil, err
	}
	return t, nil
}

// CreateTopic creates a topic in the caller's account and region, or
// returns the one of that name when the attributes given match it.
func (s *Service) CreateTopic(ctx context.Context, name string, attrs map[string]string) (string, error) {
	sc, err := callerScope(ctx)
	if err != nil {
		return "", err
	}
	if strings.HasSuffix(name, ".fifo") {
		return "", invalidParam("Invalid parameter: Topic Name: FIFO topics are not supported by coffer")
	}
	if !topicNameRe.MatchString(name) {
		return "", invalidParam("Invalid parameter: Topic Name must be 1 to 256 ASCII letters, digits, underscores or hyphens")
	}
	arn := TopicARN(sc.Region, sc.Account, name)
	if err := s.check(ctx, authz.Request{Action: "sns:CreateTopic", Resource: arn}); err != nil {
		return "", err
	}
	for k, v := range attrs {
		if err := checkAttribute(k, v); err != nil {
			return "", err
		}
	}
	if existing, err := s.loadTopic(ctx, s.store, arn); err == nil {
		for k, v := range attrs {
			if existing.Attributes[k] != v {
				return "", invalidParam("Invalid parameter: Attributes Reason: Topic already exists with different attributes")
			}
		}
		return arn, nil
	}
	stored := map[string]string{"Policy": defaultPolicy(arn, sc.Account)}
	for k, v := range attrs {
		stored[k] = v
	}
	b, _ := json.Marshal(stored)
	_, err = s.store.ExecContext(ctx, `INSERT INTO sns_topics (arn, account_id, region, name, attributes, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		arn, sc.Account, sc.Region, name, string(b), s.now().UnixNano())
	if errors.Is(err, meta.ErrConflict) {
		return arn, nil
	}
	return arn, err
}

// DeleteTopic deletes a topic and its subscriptions; deliveries already
// queued give up.
func (s *Service) DeleteTopic(ctx context.Context, arn string) error {
	t, err := s.topic(ctx, arn, "sns:DeleteTopic")
	if err != nil {
		return err
	}
	return s.store.InTx(ctx, func(q meta.Querier) error {
		if _, err := q.ExecContext(ctx, `DELETE FROM sns_subscriptions WHERE topic_arn = ?`, t.ARN); err != nil {
			return err
		}
		if _, err := q.ExecContext(ctx, `DELETE FROM sns_unsubscribed WHERE topic_arn = ?`, t.ARN); err != nil {
			return err
		}
		_, err := q.ExecContext(ctx, `DELETE FROM sns_topics WHERE arn = ?`, t.ARN)
		return err
	})
}

// ListTopics lists the caller's topics in the region, 100 a page.
func (s *Service) ListTopics(ctx context.Context, token string) ([]string, string, error) {
	sc, err := callerScope(ctx)
	if err != nil {
		return nil, "", err
	}
	if err := s.check(ctx, authz.Request{Action: "sns:ListTopics", Resource: "*"}); err != nil {
		return nil, "", err
	}
	return s.listARNs(ctx, `SELECT arn FROM sns_topics WHERE account_id = ? AND region = ? AND arn > ? ORDER BY arn LIMIT ?`, token, sc.Account, sc.Region)
}

// listARNs pages a query of ARNs whose last two arguments are the ARN
// to start after and the limit, 100 at a time.
func (s *Service) listARNs(ctx context.Context, query, token string, args ...any) ([]string, string, error) {
	const pageSize = 100
	after := ""
	if token != "" {
		b, err := hex.DecodeString(token)
		if err != nil {
			return nil, "", invalidParam("Invalid parameter: NextToken")
		}
		after = string(b)
	}
	rows, err := s.store.QueryContext(ctx, query, append(args, after, pageSize+1)...)
	if err != nil {
		return nil, "", err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return nil, "", err
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) > pageSize {
		out = out[:pageSize]
		next = hex.EncodeToString([]byte(out[pageSize-1]))
	}
	return out, next, nil
}

// GetTopicAttributes returns the topic's attributes as SNS names them.
func (s *Service) GetTopicAttributes(ctx context.Context, arn string) (map[string]string, error) {
	t, err := s.topic(ctx, arn, "sns:GetTopicAttributes")
	if err != nil {
		return nil, err
	}
	var confirmed, pending int
	if err := s.store.QueryRowContext(ctx, `SELECT COALESCE(SUM(confirmed), 0), COUNT(*) - COALESCE(SUM(confirmed), 0) FROM sns_subscriptions WHERE topic_arn = ?`, t.ARN).Scan(&confirmed, &pending); err != nil {
		return nil, err
	}
	var deleted int
	if err := s.store.QueryRowContext(ctx, `SELECT COUNT(*) FROM sns_unsubscribed WHERE topic_arn = ?`, t.ARN).Scan(&deleted); err != nil {
		return nil, err
	}
	out := map[string]string{
		"TopicArn": t.ARN, "Owner": t.Account, "DisplayName": "",
		"SubscriptionsConfirmed": strconv.Itoa(confirmed), "SubscriptionsPending": strconv.Itoa(pending), "SubscriptionsDeleted": strconv.Itoa(deleted),
		"EffectiveDeliveryPolicy": s.effectiveDeliveryPolicy(),
	}
	for k, v := range t.Attributes {
		out[k] = v
	}
	return out, nil
}

// effectiveDeliveryPolicy describes the retries coffer makes.
func (s *Service) effectiveDeliveryPolicy() string {
	return fmt.Sprintf(`{"http":{"defaultHealthyRetryPolicy":{"numRetries":%d,"numNoDelayRetries":0,"backoffFunction":"exponential"},"disableSubscriptionOverrides":false,"defaultRequestPolicy":{"headerContentType":"text/plain; charset=UTF-8"}}}`, s.attempts-1)
}

// SetTopicAttributes sets one attribute.
func (s *Service) SetTopicAttributes(ctx context.Context, arn, name, value string) error {
	if name == "" {
		return invalidParam("Invalid parameter: AttributeName")
	}
	t, err := s.topic(ctx, arn, "sns:SetTopicAttributes")
	if err != nil {
		return err
	}
	if err := checkAttribute(name, value); err != nil {
		return err
	}
	if name == "Policy" && value == "" {
		value = defaultPolicy(t.ARN, t.Account)
	}
	t.Attributes[name] = value
	b, _ := json.Marshal(t.Attributes)
	_, err = s.store.ExecContext(ctx, `UPDATE sns_topics SET attributes = ? WHERE arn = ?`, string(b), t.ARN)
	return err
}

func newID() string {
	var b [16]byte
	rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
