// Package cloudtrail is the API adapter for the CloudTrail subset coffer
// serves (awsJson1_1): LookupEvents over coffer's audit trail. A caller
// sees the events of its own account, in the region it signs for (and
// those of the global services IAM and Organizations).
package cloudtrail

import (
	"context"
	"errors"
	"time"

	"github.com/coffer-dev/coffer/internal/audit"
	"github.com/coffer-dev/coffer/internal/authz"
	"github.com/coffer-dev/coffer/internal/awserr"
	"github.com/coffer-dev/coffer/internal/awsmodel"
	"github.com/coffer-dev/coffer/internal/identity"
	"github.com/coffer-dev/coffer/internal/meta"
	"github.com/coffer-dev/coffer/internal/protocol"
	"github.com/coffer-dev/coffer/internal/reqctx"
)

type api struct {
	authz *authz.Authorizer
	rec   *audit.Recorder
	store meta.Querier
}

// New returns the CloudTrail endpoint.
func New(az *authz.Authorizer, rec *audit.Recorder, store meta.Querier) *protocol.JSONService {
	a := api{az, rec, store}
	return &protocol.JSONService{
		Name:              "cloudtrail",
		TargetPrefix:      "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101",
		ShortTargetPrefix: "CloudTrail_20131101",
		ContentType:       "application/x-amz-json-1.1",
		Model:             awsmodel.Load("cloudtrail"),
		Ops: map[string]protocol.JSONOp{
			"LookupEvents": protocol.JSONHandler(a.lookupEvents),
		},
	}
}

type lookupAttribute struct{ AttributeKey, AttributeValue string }

type lookupIn struct {
	LookupAttributes []lookupAttribute
	StartTime        *protocol.Epoch
	EndTime          *protocol.Epoch
	EventCategory    string
	MaxResults       *int
	NextToken        string
}

type resource struct{ ResourceType, ResourceName string }

type event struct {
	EventId         string
	EventName       string
	ReadOnly        string
	AccessKeyId     string `json:",omitempty"`
	EventTime       *protocol.Epoch
	EventSource     string
	Username        string `json:",omitempty"`
	Resources       []resource
	CloudTrailEvent string
}

type lookupOut struct {
	Events    []event
	NextToken string `json:",omitempty"`
}

var lookupKeys = map[string]bool{"EventId": true, "EventName": true, "ReadOnly": true, "Username": true, "ResourceType": true, "ResourceName": true, "EventSource": true, "AccessKeyId": true}

func (a api) lookupEvents(ctx context.Context, in *lookupIn) (*lookupOut, error) {
	p := identity.Caller(ctx)
	if p == nil {
		return nil, awserr.New(awserr.Unauthenticated, "MissingAuthenticationToken", "Request is missing Authentication Token")
	}
	if err := a.authz.Authorize(ctx, authz.Request{Action: "cloudtrail:LookupEvents", Resource: "*", ResourceAccount: p.AccountID}); err != nil {
		return nil, err
	}
	q := audit.Query{AccountID: p.AccountID, Region: reqctx.CallFrom(ctx).Region, Limit: 50, Cursor: in.NextToken}
	if len(in.LookupAttributes) > 1 {
		return nil, awserr.New(awserr.Invalid, "InvalidLookupAttributesException", "You cannot specify more than one lookup attribute.")
	}
	if len(in.LookupAttributes) == 1 {
		la := in.LookupAttributes[0]
		if !lookupKeys[la.AttributeKey] || la.AttributeValue == "" {
			return nil, awserr.New(awserr.Invalid, "InvalidLookupAttributesException", "Lookup attribute %q is not one of EventId, EventName, ReadOnly, Username, ResourceType, ResourceName, EventSource, AccessKeyId, or has no value.", la.AttributeKey)
		}
		q.AttributeKey, q.AttributeValue = la.AttributeKey, la.AttributeValue
	}
	if in.StartTime != nil {
		q.Start = timeOf(in.StartTime)
	}
	if in.EndTime != nil {
		q.End = timeOf(in.EndTime)
	}
	if !q.Start.IsZero() && !q.End.IsZero() && q.Start.After(q.End) {
		return nil, awserr.New(awserr.Invalid, "InvalidTimeRangeException", "StartTime must be before EndTime.")
	}
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 50 {
			return nil, awserr.New(awserr.Invalid, "InvalidMaxResultsException", "MaxResults must be between 1 and 50.")
		}
		q.Limit = *in.MaxResults
	}
	if in.EventCategory != "" && in.EventCategory != "insight" {
		return nil, awserr.New(awserr.Invalid, "InvalidEventCategoryException", "EventCategory must be insight.")
	}
	out := &lookupOut{Events: []event{}}
	if in.EventCategory == "insight" {
		return out, nil // coffer records no Insights events
	}
	if err := a.rec.Flush(ctx); err != nil {
		return nil, err
	}
	evs, next, err := audit.Lookup(ctx, a.store, q)
	if errors.Is(err, audit.ErrBadCursor) {
		return nil, awserr.New(awserr.Invalid, "InvalidNextTokenException", "Invalid NextToken.")
	}
	if err != nil {
		return nil, err
	}
	for _, e := range evs {
		ro := "false"
		if e.ReadOnly {
			ro = "true"
		}
		out.Events = append(out.Events, event{EventId: e.ID, EventName: e.Operation, ReadOnly: ro, AccessKeyId: e.AccessKeyID,
			EventTime: protocol.EpochPtr(e.Time), EventSource: e.EventSource(), Username: e.UserName, Resources: []resource{}, CloudTrailEvent: e.CloudTrailJSON()})
	}
	out.NextToken = next
	return out, nil
}

func timeOf(e *protocol.Epoch) time.Time { return time.Time(*e) }
