package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/coffer-dev/coffer/internal/testenv"
)

// TestTopics drives coffer's SNS through aws-sdk-go-v2 on SQLite and on
// PostgreSQL: topic creation and its errors, a subscription confirmed by
// a verifying receiver, a SignatureVersion 1 (SHA1withRSA) delivery, and
// a topic policy that lets another account publish.
func TestTopics(t *testing.T) {
	testenv.ForEachStore(t, func(t *testing.T, c *testenv.Coffer) {
		ctx := context.Background()
		owner := sns.NewFromConfig(c.AWSConfig(t, c.Profile(t, "source")))
		other := sns.NewFromConfig(c.AWSConfig(t, c.Profile(t, "backup")))

		arn := aws.ToString(must[*sns.CreateTopicOutput](t)(owner.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("alerts")})).TopicArn)
		again := aws.ToString(must[*sns.CreateTopicOutput](t)(owner.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("alerts")})).TopicArn)
		if again != arn {
			t.Errorf("CreateTopic again = %s, want %s", again, arn)
		}
		for name, in := range map[string]*sns.CreateTopicInput{
			"bad name":             {Name: aws.String("no spaces allowed")},
			"fifo":                 {Name: aws.String("alerts.fifo")},
			"unknown attribute":    {Name: aws.String("t2"), Attributes: map[string]string{"Colour": "red"}},
			"bad policy":           {Name: aws.String("t3"), Attributes: map[string]string{"Policy": `{"Statement":"nope"}`}},
			"bad signature":        {Name: aws.String("t4"), Attributes: map[string]string{"SignatureVersion": "3"}},
			"delivery policy":      {Name: aws.String("t5"), Attributes: map[string]string{"DeliveryPolicy": `{"http":{}}`}},
			"different attributes": {Name: aws.String("alerts"), Attributes: map[string]string{"DisplayName": "other"}},
		} {
			if _, err := owner.CreateTopic(ctx, in); errCode(err) != "InvalidParameter" {
				t.Errorf("%s: %v", name, err)
			}
		}
		if _, err := owner.GetTopicAttributes(ctx, &sns.GetTopicAttributesInput{TopicArn: aws.String(arn + "-missing")}); errCode(err) != "NotFound" {
			t.Errorf("missing topic: %v", err)
		}
		if _, err := other.GetTopicAttributes(ctx, &sns.GetTopicAttributesInput{TopicArn: aws.String(arn)}); errCode(err) != "AuthorizationError" {
			t.Errorf("another account reading the topic: %v", err)
		}
		for name, in := range map[string]*sns.SubscribeInput{
			"email":          {TopicArn: aws.String(arn), Protocol: aws.String("email"), Endpoint: aws.String("ops@example.com")},
			"scheme differs": {TopicArn: aws.String(arn), Protocol: aws.String("https"), Endpoint: aws.String("http://127.0.0.1:1/")},
		} {
			if _, err := owner.Subscribe(ctx, in); errCode(err) != "InvalidParameter" {
				t.Errorf("subscribe %s: %v", name, err)
			}
		}

		rcv := newReceiver(t, c.URL+"/", false)
		sub := aws.ToString(must[*sns.SubscribeOutput](t)(owner.Subscribe(ctx, &sns.SubscribeInput{TopicArn: aws.String(arn), Protocol: aws.String("http"),
			Endpoint: aws.String(rcv.srv.URL + "/alerts"), ReturnSubscriptionArn: true})).SubscriptionArn)
		if !strings.HasPrefix(sub, arn+":") {
			t.Fatalf("Subscribe with ReturnSubscriptionArn = %q", sub)
		}
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			attrs := must[*sns.GetTopicAttributesOutput](t)(owner.GetTopicAttributes(ctx, &sns.GetTopicAttributesInput{TopicArn: aws.String(arn)})).Attributes
			if attrs["SubscriptionsConfirmed"] == "1" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the subscription was not confirmed: %v", attrs)
			}
		}

		// The default SignatureVersion is 1, as in SNS.
		pub := must[*sns.PublishOutput](t)(owner.Publish(ctx, &sns.PublishInput{TopicArn: aws.String(arn), Message: aws.String("disk almost full")}))
		m := rcv.wait(t, "v1 message", func(m snsMessage) bool { return m.MessageId == aws.ToString(pub.MessageId) })
		if m.SignatureVersion != "1" || m.Subject != "" {
			t.Errorf("message %+v", m)
		}
		if _, err := other.Publish(ctx, &sns.PublishInput{TopicArn: aws.String(arn), Message: aws.String("x")}); errCode(err) != "AuthorizationError" {
			t.Errorf("another account publishing under the default policy: %v", err)
		}
		policy := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:root"},"Action":"SNS:Publish","Resource":%q}]}`, testenv.BackupAccount, arn)
		must[*sns.SetTopicAttributesOutput](t)(owner.SetTopicAttributes(ctx, &sns.SetTopicAttributesInput{TopicArn: aws.String(arn), AttributeName: aws.String("Policy"), AttributeValue: aws.String(policy)}))
		pub = must[*sns.PublishOutput](t)(other.Publish(ctx, &sns.PublishInput{TopicArn: aws.String(arn), Message: aws.String("from the backup account"), Subject: aws.String("cross-account")}))
		rcv.wait(t, "cross-account message", func(m snsMessage) bool {
			return m.MessageId == aws.ToString(pub.MessageId) && m.Subject == "cross-account"
		})
		if _, err := other.Subscribe(ctx, &sns.SubscribeInput{TopicArn: aws.String(arn), Protocol: aws.String("http"), Endpoint: aws.String(rcv.srv.URL + "/x")}); errCode(err) != "AuthorizationError" {
			t.Errorf("another account subscribing with only Publish granted: %v", err)
		}
		for name, in := range map[string]*sns.PublishInput{
			"empty":         {TopicArn: aws.String(arn), Message: aws.String("")},
			"long subject":  {TopicArn: aws.String(arn), Message: aws.String("x"), Subject: aws.String(strings.Repeat("s", 101))},
			"subject lines": {TopicArn: aws.String(arn), Message: aws.String("x"), Subject: aws.String("a\nb")},
			"too long":      {TopicArn: aws.String(arn), Message: aws.String(strings.Repeat("m", 262145))},
		} {
			if _, err := owner.Publish(ctx, in); errCode(err) != "InvalidParameter" {
				t.Errorf("publish %s: %v", name, err)
			}
		}
		// The certificate is served without a signature.
		resp, err := http.Get(c.URL + "/_coffer/sns/SimpleNotificationService.pem")
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("certificate: %v %v", err, resp)
		}
		resp.Body.Close()
	})
}
