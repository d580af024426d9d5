package e2e

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
)

// snsMessage is the JSON document an SNS http/https endpoint receives.
type snsMessage struct {
	Type, MessageId, Token, TopicArn, Subject, Message, SubscribeURL, Timestamp string
	SignatureVersion, Signature, SigningCertURL, UnsubscribeURL                 string
	MessageAttributes                                                           map[string]struct{ Type, Value string }
}

// verifySNS checks a message's signature the way AWS documents for
// receivers: fetch the certificate from SigningCertURL (only from the
// trusted host), build the string to sign from the message's fields in
// their fixed order, and verify the base64 signature with the
// certificate's RSA key, SHA1withRSA for SignatureVersion 1 and
// SHA256withRSA for 2.
func verifySNS(m *snsMessage, trustedPrefix string, client *http.Client) error {
	if !strings.HasPrefix(m.SigningCertURL, trustedPrefix) {
		return fmt.Errorf("SigningCertURL %q is not on the trusted host %s", m.SigningCertURL, trustedPrefix)
	}
	resp, err := client.Get(m.SigningCertURL)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		return fmt.Errorf("SigningCertURL served no PEM certificate: %q", raw)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return err
	}
	var fields []string
	switch m.Type {
	case "Notification":
		fields = []string{"Message", m.Message, "MessageId", m.MessageId}
		if m.Subject != "" {
			fields = append(fields, "Subject", m.Subject)
		}
		fields = append(fields, "Timestamp", m.Timestamp, "TopicArn", m.TopicArn, "Type", m.Type)
	case "SubscriptionConfirmation", "UnsubscribeConfirmation":
		fields = []string{"Message", m.Message, "MessageId", m.MessageId, "SubscribeURL", m.SubscribeURL, "Timestamp", m.Timestamp,
			"Token", m.Token, "TopicArn", m.TopicArn, "Type", m.Type}
	default:
		return fmt.Errorf("unknown message type %q", m.Type)
	}
	var sb strings.Builder
	for _, f := range fields {
		sb.WriteString(f + "\n")
	}
	sig, err := base64.StdEncoding.DecodeString(m.Signature)
	if err != nil {
		return err
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return errors.New("the certificate's key is not RSA")
	}
	switch m.SignatureVersion {
	case "1":
		d := sha1.Sum([]byte(sb.String()))
		return rsa.VerifyPKCS1v15(pub, crypto.SHA1, d[:], sig)
	case "2":
		d := sha256.Sum256([]byte(sb.String()))
		return rsa.VerifyPKCS1v15(pub, crypto.SHA256, d[:], sig)
	}
	return fmt.Errorf("unknown SignatureVersion %q", m.SignatureVersion)
}

// receiver is an SNS http endpoint: it verifies every message, confirms
// subscriptions by visiting their SubscribeURL, and keeps the
// notifications. failNext makes it answer 500 to that many
// notifications first.
type receiver struct {
	t       *testing.T
	trusted string
	srv     *httptest.Server

	// manual receivers keep confirmations instead of visiting their
	// SubscribeURL.
	manual bool

	mu            sync.Mutex
	got           []snsMessage
	confirmations []snsMessage
	unsubscribed  []snsMessage
	failNext      int
	failed        int
}

func newReceiver(t *testing.T, trusted string, manual bool) *receiver {
	r := &receiver{t: t, trusted: trusted, manual: manual}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	var m snsMessage
	if err := json.Unmarshal(body, &m); err != nil {
		r.t.Errorf("receiver: body is not JSON: %v: %s", err, body)
		http.Error(w, "bad json", http.StatusBadRequest)
		return
	}
	if got := req.Header.Get("x-amz-sns-message-type"); got != m.Type {
		r.t.Errorf("x-amz-sns-message-type %q, message Type %q", got, m.Type)
	}
	if got := req.Header.Get("x-amz-sns-message-id"); got != m.MessageId {
		r.t.Errorf("x-amz-sns-message-id %q, MessageId %q", got, m.MessageId)
	}
	if err := verifySNS(&m, r.trusted, http.DefaultClient); err != nil {
		r.t.Errorf("receiver: signature of %s %s does not verify: %v", m.Type, m.MessageId, err)
		http.Error(w, "bad signature", http.StatusBadRequest)
		return
	}
	switch m.Type {
	case "SubscriptionConfirmation":
		if r.manual {
			r.mu.Lock()
			r.confirmations = append(r.confirmations, m)
			r.mu.Unlock()
			return
		}
		resp, err := http.Get(m.SubscribeURL)
		if err != nil {
			r.t.Errorf("receiver: confirm: %v", err)
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "<SubscriptionArn>") {
			r.t.Errorf("receiver: SubscribeURL answered %d %s", resp.StatusCode, b)
		}
	case "UnsubscribeConfirmation":
		r.mu.Lock()
		r.unsubscribed = append(r.unsubscribed, m)
		r.mu.Unlock()
	case "Notification":
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.failNext > 0 {
			r.failNext--
			r.failed++
			http.Error(w, "try again later", http.StatusServiceUnavailable)
			return
		}
		if req.Header.Get("x-amz-sns-subscription-arn") == "" {
			r.t.Errorf("notification without x-amz-sns-subscription-arn")
		}
		r.got = append(r.got, m)
	}
}

// wait returns the first notification (from the n-th on) that matches.
func (r *receiver) wait(t *testing.T, what string, match func(snsMessage) bool) snsMessage {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		for _, m := range r.got {
			if match(m) {
				r.mu.Unlock()
				return m
			}
		}
		r.mu.Unlock()
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no notification %s arrived; got %d: %+v", what, len(r.got), r.got)
	return snsMessage{}
}

// waitUnsubscribed returns the UnsubscribeConfirmation of subARN.
func (r *receiver) waitUnsubscribed(t *testing.T, subARN string) snsMessage {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		r.mu.Lock()
		for _, m := range r.unsubscribed {
			if strings.Contains(m.Message, "You have chosen to deactivate subscription "+subARN+".") {
				r.mu.Unlock()
				return m
			}
		}
		r.mu.Unlock()
	}
	t.Fatalf("no UnsubscribeConfirmation of %s arrived", subARN)
	return snsMessage{}
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

// event matches a vault notification by its EventType and State
// attributes and the job's ID.
func event(eventType, state, id string) func(snsMessage) bool {
	return func(m snsMessage) bool {
		a := m.MessageAttributes
		return a["EventType"].Value == eventType && a["State"].Value == state && a["Id"].Value == id
	}
}

// subscribe creates a topic named name in account (SignatureVersion 2,
// a policy that lets backup.amazonaws.com publish for the account),
// subscribes the receiver over http, waits until it confirmed, and
// returns the topic's ARN.
func (r *receiver) subscribe(t *testing.T, topics *sns.Client, name, account string) string {
	t.Helper()
	ctx := context.Background()
	topic := aws.ToString(must[*sns.CreateTopicOutput](t)(topics.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(name),
		Attributes: map[string]string{"SignatureVersion": "2"}})).TopicArn)
	must[*sns.SetTopicAttributesOutput](t)(topics.SetTopicAttributes(ctx, &sns.SetTopicAttributesInput{TopicArn: aws.String(topic),
		AttributeName: aws.String("Policy"), AttributeValue: aws.String(backupTopicPolicy(topic, account, true))}))
	must[*sns.SubscribeOutput](t)(topics.Subscribe(ctx, &sns.SubscribeInput{TopicArn: aws.String(topic), Protocol: aws.String("http"), Endpoint: aws.String(r.srv.URL)}))
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if a := must[*sns.GetTopicAttributesOutput](t)(topics.GetTopicAttributes(ctx, &sns.GetTopicAttributesInput{TopicArn: aws.String(topic)})).Attributes; a["SubscriptionsConfirmed"] == "1" {
			return topic
		}
		if time.Now().After(deadline) {
			t.Fatalf("the subscription to %s was not confirmed", topic)
		}
	}
}

func backupTopicPolicy(topic, account string, admitBackup bool) string {
	stmts := []string{fmt.Sprintf(`{"Sid":"owner","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:root"},"Action":"SNS:*","Resource":%q}`, account, topic)}
	if admitBackup {
		stmts = append(stmts, fmt.Sprintf(`{"Sid":"backup","Effect":"Allow","Principal":{"Service":"backup.amazonaws.com"},"Action":"SNS:Publish","Resource":%q,"Condition":{"StringEquals":{"aws:SourceAccount":%q}}}`, topic, account))
	}
	return `{"Version":"2012-10-17","Statement":[` + strings.Join(stmts, ",") + `]}`
}
