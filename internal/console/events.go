package console

import (
	"context"
	"errors"
	"net/http"

	"github.com/coffer-dev/coffer/internal/audit"
	"github.com/coffer-dev/coffer/internal/authz"
	"github.com/coffer-dev/coffer/internal/awserr"
)

type eventsData struct {
	Events           []audit.Event
	Key, Value, Next string
	Keys             []string
	ErrorsOnly       bool
	Cursor           string
}

// eventKeys are the filters the page offers: CloudTrail's lookup
// attributes coffer indexes.
var eventKeys = []string{"EventName", "EventSource", "Username", "AccessKeyId", "EventId", "ReadOnly", "PrincipalArn", "ErrorCode"}

// events is the event history of the signed-in account in the session's
// region (and the global services), newest first, 50 a page, as
// CloudTrail's LookupEvents shows it and with its permission.
func (h *Handler) events(q *request) {
	f := q.r.URL.Query()
	d := eventsData{Keys: eventKeys, Key: f.Get("key"), Value: f.Get("value"), ErrorsOnly: f.Get("errors") == "1", Cursor: f.Get("cursor")}
	query := audit.Query{AccountID: q.p.AccountID, Region: q.se.region, Limit: 50, Cursor: d.Cursor}
	if d.ErrorsOnly {
		query.AttributeKey, query.AttributeValue = "ErrorCode", "*"
	} else if d.Value != "" {
		if !audit.SupportedAttribute(d.Key) {
			h.render(q, http.StatusOK, "events", "Event history", d, message("Choose one of the filters offered."))
			return
		}
		query.AttributeKey, query.AttributeValue = d.Key, d.Value
	}
	params := map[string]any{"LookupAttributes": []map[string]string{{"AttributeKey": query.AttributeKey, "AttributeValue": query.AttributeValue}}}
	err := h.call(q, "cloudtrail", "LookupEvents", params, func(ctx context.Context) (err error) {
		if err := h.opts.Authz.Authorize(ctx, authz.Request{Action: "cloudtrail:LookupEvents", Resource: "*", ResourceAccount: q.p.AccountID}); err != nil {
			return err
		}
		if err := h.opts.Audit.Flush(ctx); err != nil {
			return err
		}
		d.Events, d.Next, err = audit.Lookup(ctx, h.opts.Trail, query)
		if errors.Is(err, audit.ErrBadCursor) {
			return awserr.New(awserr.Invalid, "InvalidNextTokenException", "Invalid NextToken.")
		}
		return err
	})
	h.render(q, http.StatusOK, "events", "Event history", d, err)
}
