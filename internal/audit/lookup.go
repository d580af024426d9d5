package audit

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/coffer-dev/coffer/internal/meta"
)

// Query selects events, newest first.
type Query struct {
	// AccountID keeps the events of one account; "" keeps all (coffer
	// audit run by the operator).
	AccountID string
	// Region keeps the events of one region plus those of the global
	// services (IAM, Organizations); "" keeps all.
	Region     string
	Start, End time.Time // zero means unbounded
	// Attribute is a CloudTrail lookup attribute: EventId, EventName,
	// ReadOnly, Username, EventSource, AccessKeyId, plus coffer's
	// PrincipalArn and ErrorCode ("*" matches any error).
	AttributeKey, AttributeValue string
	Limit                        int
	// Cursor continues a previous lookup (its NextCursor).
	Cursor string
}

// attributeColumns maps lookup attributes to columns.
var attributeColumns = map[string]string{
	"EventId":      "event_id",
	"EventName":    "operation",
	"ReadOnly":     "read_only",
	"Username":     "user_name",
	"EventSource":  "service",
	"AccessKeyId":  "access_key_id",
	"PrincipalArn": "principal_arn",
	"ErrorCode":    "error_code",
}

// ErrBadCursor is returned for a cursor Lookup did not issue.
var ErrBadCursor = fmt.Errorf("audit: invalid cursor")

// SupportedAttribute reports whether Lookup can filter on key; the
// CloudTrail keys ResourceType and ResourceName are valid but match
// nothing here, since events do not index resources.
func SupportedAttribute(key string) bool {
	_, ok := attributeColumns[key]
	return ok
}

// Lookup returns up to q.Limit events (newest first) and the cursor of
// the next page, "" when there is none.
func Lookup(ctx context.Context, db meta.Querier, q Query) ([]Event, string, error) {
	where := []string{"1 = 1"}
	var args []any
	if q.AccountID != "" {
		where, args = append(where, "account_id = ?"), append(args, q.AccountID)
	}
	if q.Region != "" {
		where, args = append(where, "(region = ? OR service IN ('iam', 'organizations'))"), append(args, q.Region)
	}
	if !q.Start.IsZero() {
		where, args = append(where, "event_time >= ?"), append(args, q.Start.UnixNano())
	}
	if !q.End.IsZero() {
		where, args = append(where, "event_time <= ?"), append(args, q.End.UnixNano())
	}
	if q.AttributeKey != "" {
		col, ok := attributeColumns[q.AttributeKey]
		if !ok {
			return nil, "", nil
		}
		v := any(q.AttributeValue)
		switch q.AttributeKey {
		case "ReadOnly":
			v = boolInt(strings.EqualFold(q.AttributeValue, "true"))
		case "EventSource":
			v = strings.TrimSuffix(q.AttributeValue, ".amazonaws.com")
		}
		if q.AttributeKey == "ErrorCode" && q.AttributeValue == "*" {
			where = append(where, "error_code <> ''")
		} else {
			where, args = append(where, col+" = ?"), append(args, v)
		}
	}
	if q.Cursor != "" {
		t, id, err := decodeCursor(q.Cursor)
		if err != nil {
			return nil, "", err
		}
		where, args = append(where, "(event_time < ? OR (event_time = ? AND event_id < ?))"), append(args, t, t, id)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 50
	}
	rows, err := db.QueryContext(ctx, `SELECT event_id, event_time, account_id, principal_type, principal_arn, principal_id, user_name, access_key_id,
		service, operation, region, source_ip, user_agent, request_id, http_status, error_code, error_message, read_only, request_parameters, decision, additional_event_data
		FROM audit_events WHERE `+strings.Join(where, " AND ")+` ORDER BY event_time DESC, event_id DESC LIMIT `+strconv.Itoa(limit+1), args...)
	if err != nil {
		return nil, "", fmt.Errorf("read audit events: %w", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var e Event
		var t int64
		var params, decisions, additional string
		if err := rows.Scan(&e.ID, &t, &e.AccountID, &e.PrincipalType, &e.PrincipalARN, &e.PrincipalID, &e.UserName, &e.AccessKeyID,
			&e.Service, &e.Operation, &e.Region, &e.SourceIP, &e.UserAgent, &e.RequestID, &e.HTTPStatus, &e.ErrorCode, &e.ErrorMessage,
			&e.ReadOnly, &params, &decisions, &additional); err != nil {
			return nil, "", err
		}
		e.Time = time.Unix(0, t).UTC()
		if json.Valid([]byte(params)) {
			e.Parameters = json.RawMessage(params)
		}
		if additional != "" && json.Valid([]byte(additional)) {
			e.AdditionalData = json.RawMessage(additional)
		}
		json.Unmarshal([]byte(decisions), &e.Decisions)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		last := out[limit-1]
		next = encodeCursor(last.Time.UnixNano(), last.ID)
	}
	return out, next, nil
}

func encodeCursor(t int64, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(t, 10) + "/" + id))
}

func decodeCursor(c string) (int64, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, "", ErrBadCursor
	}
	ts, id, ok := strings.Cut(string(b), "/")
	t, err := strconv.ParseInt(ts, 10, 64)
	if !ok || err != nil {
		return 0, "", ErrBadCursor
	}
	return t, id, nil
}

// CloudTrailJSON renders an event as the JSON document CloudTrail puts in
// LookupEvents' CloudTrailEvent field.
func (e Event) CloudTrailJSON() string {
	type userIdentity struct {
		Type        string `json:"type,omitempty"`
		PrincipalID string `json:"principalId,omitempty"`
		ARN         string `json:"arn,omitempty"`
		AccountID   string `json:"accountId,omitempty"`
		AccessKeyID string `json:"accessKeyId,omitempty"`
		UserName    string `json:"userName,omitempty"`
	}
	doc := struct {
		EventVersion       string          `json:"eventVersion"`
		UserIdentity       userIdentity    `json:"userIdentity"`
		EventTime          string          `json:"eventTime"`
		EventSource        string          `json:"eventSource"`
		EventName          string          `json:"eventName"`
		AWSRegion          string          `json:"awsRegion"`
		SourceIPAddress    string          `json:"sourceIPAddress"`
		UserAgent          string          `json:"userAgent"`
		ErrorCode          string          `json:"errorCode,omitempty"`
		ErrorMessage       string          `json:"errorMessage,omitempty"`
		RequestParameters  json.RawMessage `json:"requestParameters"`
		ResponseElements   any             `json:"responseElements"`
		AdditionalData     json.RawMessage `json:"additionalEventData,omitempty"`
		RequestID          string          `json:"requestID"`
		EventID            string          `json:"eventID"`
		ReadOnly           bool            `json:"readOnly"`
		EventType          string          `json:"eventType"`
		ManagementEvent    bool            `json:"managementEvent"`
		RecipientAccountID string          `json:"recipientAccountId"`
		HTTPStatus         int             `json:"cofferHttpStatus"`
		Authorization      []string        `json:"cofferAuthorization,omitempty"`
	}{
		EventVersion: "1.08",
		UserIdentity: userIdentity{Type: principalTypeName(e.PrincipalType), PrincipalID: e.PrincipalID, ARN: e.PrincipalARN, AccountID: e.AccountID, AccessKeyID: e.AccessKeyID, UserName: e.UserName},
		EventTime:    e.Time.UTC().Format(time.RFC3339), EventSource: e.EventSource(), EventName: e.Operation, AWSRegion: e.Region,
		SourceIPAddress: e.SourceIP, UserAgent: e.UserAgent, ErrorCode: e.ErrorCode, ErrorMessage: e.ErrorMessage,
		RequestParameters: e.Parameters, AdditionalData: e.AdditionalData, RequestID: e.RequestID, EventID: e.ID, ReadOnly: e.ReadOnly,
		EventType: "AwsApiCall", ManagementEvent: true, RecipientAccountID: e.AccountID, HTTPStatus: e.HTTPStatus, Authorization: e.Decisions,
	}
	if e.Service == "signin" && e.Operation == "ConsoleLogin" {
		// A console sign-in (package console) is recorded as CloudTrail
		// records one: its own event type, the outcome as the response.
		outcome := "Success"
		if e.ErrorMessage != "" {
			outcome = "Failure"
		}
		doc.EventType, doc.ResponseElements = "AwsConsoleSignIn", map[string]string{"ConsoleLogin": outcome}
	}
	b, _ := json.Marshal(doc)
	return string(b)
}

// principalTypeName is CloudTrail's userIdentity.type.
func principalTypeName(t string) string {
	switch t {
	case "User":
		return "IAMUser"
	case "Account":
		return "Root"
	case "":
		return "Unknown"
	}
	return t
}
