// Package sns is the API adapter for Amazon SNS (awsQuery, version
// 2010-03-31): it decodes the form parameters of the topic,
// subscription and publish operations, calls the sns domain and shapes
// the XML results. Public serves what SNS serves without a signature:
// the signing certificate and the confirm and unsubscribe links of its
// messages.
package sns

import (
	"context"
	"encoding/xml"
	"net/http"
	"net/url"
	"strconv"

	"github.com/coffer-dev/coffer/internal/awserr"
	"github.com/coffer-dev/coffer/internal/protocol"
	"github.com/coffer-dev/coffer/internal/reqctx"
	"github.com/coffer-dev/coffer/internal/sns"
)

const (
	version   = "2010-03-31"
	namespace = "http://sns.amazonaws.com/doc/2010-03-31/"
)

type api struct{ svc *sns.Service }

// New returns the SNS endpoint.
func New(svc *sns.Service) *protocol.QueryService {
	a := api{svc}
	return &protocol.QueryService{
		Name:         "sns",
		Version:      version,
		XMLNamespace: namespace,
		Ops: map[string]protocol.QueryOp{
			"CreateTopic":              a.createTopic,
			"DeleteTopic":              a.deleteTopic,
			"ListTopics":               a.listTopics,
			"GetTopicAttributes":       a.getTopicAttributes,
			"SetTopicAttributes":       a.setTopicAttributes,
			"Subscribe":                a.subscribe,
			"ConfirmSubscription":      a.confirmSubscription,
			"Unsubscribe":              a.unsubscribe,
			"ListSubscriptionsByTopic": a.listSubscriptions,
			"Publish":                  a.publish,
		},
	}
}

// entries reads a map serialised as prefix.entry.N.key / .value (or
// the names given), stopping at the first gap.
func entries(form url.Values, prefix, key, value string) map[string]string {
	out := map[string]string{}
	for i := 1; ; i++ {
		p := prefix + ".entry." + strconv.Itoa(i) + "."
		k, ok := form[p+key]
		if !ok || len(k) == 0 {
			return out
		}
		out[k[0]] = form.Get(p + value)
	}
}

type entryXML struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

func optToken(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (a api) createTopic(ctx context.Context, form url.Values) (any, error) {
	if form.Get("Tags.member.1.Key") != "" {
		return nil, awserr.New(awserr.Invalid, "InvalidParameter", "Invalid parameter: Tags are not supported by coffer's SNS")
	}
	arn, err := a.svc.CreateTopic(ctx, form.Get("Name"), entries(form, "Attributes", "key", "value"))
	if err != nil {
		return nil, err
	}
	return struct{ TopicArn string }{arn}, nil
}

func (a api) deleteTopic(ctx context.Context, form url.Values) (any, error) {
	return nil, a.svc.DeleteTopic(ctx, form.Get("TopicArn"))
}

func (a api) listTopics(ctx context.Context, form url.Values) (any, error) {
	arns, next, err := a.svc.ListTopics(ctx, form.Get("NextToken"))
	if err != nil {
		return nil, err
	}
	type topic struct{ TopicArn string }
	out := struct {
		Topics    []topic `xml:"Topics>member"`
		NextToken *string
	}{NextToken: optToken(next)}
	for _, t := range arns {
		out.Topics = append(out.Topics, topic{t})
	}
	return out, nil
}

func (a api) getTopicAttributes(ctx context.Context, form url.Values) (any, error) {
	attrs, err := a.svc.GetTopicAttributes(ctx, form.Get("TopicArn"))
	if err != nil {
		return nil, err
	}
	out := struct {
		Attributes []entryXML `xml:"Attributes>entry"`
	}{}
	for k, v := range attrs {
		out.Attributes = append(out.Attributes, entryXML{k, v})
	}
	return out, nil
}

func (a api) setTopicAttributes(ctx context.Context, form url.Values) (any, error) {
	return nil, a.svc.SetTopicAttributes(ctx, form.Get("TopicArn"), form.Get("AttributeName"), form.Get("AttributeValue"))
}

func (a api) subscribe(ctx context.Context, form url.Values) (any, error) {
	if len(entries(form, "Attributes", "key", "value")) > 0 {
		return nil, awserr.New(awserr.Invalid, "InvalidParameter", "Invalid parameter: Attributes: subscription attributes (filter policies, raw delivery, redrive) are not supported by coffer's SNS")
	}
	arn, err := a.svc.Subscribe(ctx, form.Get("TopicArn"), form.Get("Protocol"), form.Get("Endpoint"), form.Get("ReturnSubscriptionArn") == "true")
	if err != nil {
		return nil, err
	}
	return struct{ SubscriptionArn string }{arn}, nil
}

func (a api) confirmSubscription(ctx context.Context, form url.Values) (any, error) {
	arn, err := a.svc.ConfirmSubscription(ctx, form.Get("TopicArn"), form.Get("Token"))
	if err != nil {
		return nil, err
	}
	return struct{ SubscriptionArn string }{arn}, nil
}

func (a api) unsubscribe(ctx context.Context, form url.Values) (any, error) {
	return nil, a.svc.Unsubscribe(ctx, form.Get("SubscriptionArn"))
}

func (a api) listSubscriptions(ctx context.Context, form url.Values) (any, error) {
	subs, next, err := a.svc.ListSubscriptionsByTopic(ctx, form.Get("TopicArn"), form.Get("NextToken"))
	if err != nil {
		return nil, err
	}
	type member struct{ SubscriptionArn, Owner, Protocol, Endpoint, TopicArn string }
	out := struct {
		Subscriptions []member `xml:"Subscriptions>member"`
		NextToken     *string
	}{NextToken: optToken(next)}
	for _, s := range subs {
		out.Subscriptions = append(out.Subscriptions, member{s.ARN, s.Owner, s.Protocol, s.Endpoint, s.TopicARN})
	}
	return out, nil
}

func (a api) publish(ctx context.Context, form url.Values) (any, error) {
	switch {
	case form.Get("TargetArn") != "" || form.Get("PhoneNumber") != "":
		return nil, awserr.New(awserr.Invalid, "InvalidParameter", "Invalid parameter: coffer's SNS publishes to topics only (TopicArn)")
	case form.Get("MessageStructure") != "":
		return nil, awserr.New(awserr.Invalid, "InvalidParameter", "Invalid parameter: MessageStructure is not supported by coffer's SNS")
	}
	attrs := map[string]string{}
	for i := 1; ; i++ {
		p := "MessageAttributes.entry." + strconv.Itoa(i) + "."
		name := form.Get(p + "Name")
		if name == "" {
			break
		}
		if t := form.Get(p + "Value.DataType"); t != "String" {
			return nil, awserr.New(awserr.Invalid, "ParameterValueInvalid", "The message attribute '%s' has an invalid message attribute type %q; coffer supports String", name, t)
		}
		attrs[name] = form.Get(p + "Value.StringValue")
	}
	id, err := a.svc.Publish(ctx, form.Get("TopicArn"), form.Get("Subject"), form.Get("Message"), attrs)
	if err != nil {
		return nil, err
	}
	return struct{ MessageId string }{id}, nil
}

// Public serves, without a signature, the signing certificate at
// sns.CertPath and the SubscribeURL and UnsubscribeURL links of the
// messages, answering the links with SNS's XML documents.
func Public(svc *sns.Service, q *protocol.QueryService) map[string]http.Handler {
	reply := func(w http.ResponseWriter, r *http.Request, action string, result any, err error) {
		if err != nil {
			q.WriteError(w, r, err)
			return
		}
		type meta struct {
			RequestId string
		}
		doc := struct {
			XMLName  xml.Name
			XMLNS    string `xml:"xmlns,attr"`
			Result   any    `xml:",omitempty"`
			Metadata meta   `xml:"ResponseMetadata"`
		}{XMLName: xml.Name{Local: action + "Response"}, XMLNS: namespace, Result: result, Metadata: meta{reqctx.CallFrom(r.Context()).RequestID}}
		b, _ := xml.Marshal(doc)
		w.Header().Set("Content-Type", "text/xml")
		w.Write(b)
	}
	return map[string]http.Handler{
		sns.CertPath: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			pem, err := svc.Certificate(r.Context())
			if err != nil {
				http.Error(w, "the signing certificate is not available", http.StatusServiceUnavailable)
				return
			}
			w.Header().Set("Content-Type", "application/x-x509-ca-cert")
			w.Write(pem)
		}),
		sns.ConfirmPath: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			arn, err := svc.ConfirmSubscription(r.Context(), r.URL.Query().Get("TopicArn"), r.URL.Query().Get("Token"))
			reply(w, r, "ConfirmSubscription", struct {
				XMLName         xml.Name `xml:"ConfirmSubscriptionResult"`
				SubscriptionArn string
			}{SubscriptionArn: arn}, err)
		}),
		sns.UnsubscribePath: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			reply(w, r, "Unsubscribe", nil, svc.Unsubscribe(r.Context(), r.URL.Query().Get("SubscriptionArn")))
		}),
	}
}
