// Package protocol implements the three AWS wire protocols coffer speaks:
// awsJson1_1 (KMS, Organizations), restJson1 (Backup) and awsQuery (STS,
// IAM, RDS). Each codec decodes a request into an operation's input,
// calls the operation, and encodes its output or its *awserr.Error exactly
// as the AWS SDKs parse them. Codecs know nothing of the domain; the
// per-service API adapters register operations with them.
package protocol

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/coffer-dev/coffer/internal/awserr"
	"github.com/coffer-dev/coffer/internal/awsmodel"
	"github.com/coffer-dev/coffer/internal/reqctx"
)

// Kind is a wire protocol.
type Kind int

const (
	AWSJSON  Kind = iota // awsJson1_0 / awsJson1_1
	RESTJSON             // restJson1
	Query                // awsQuery
)

func (k Kind) String() string {
	switch k {
	case AWSJSON:
		return "awsJson"
	case RESTJSON:
		return "restJson1"
	default:
		return "awsQuery"
	}
}

// Service is one AWS service endpoint, reached once the request is
// authenticated. body is the whole request body, already read and capped.
type Service interface {
	SigningName() string
	Protocol() Kind
	Serve(w http.ResponseWriter, r *http.Request, body []byte)
	// WriteError renders err in the service's protocol; the server uses
	// it for failures before dispatch (authentication, oversized bodies).
	WriteError(w http.ResponseWriter, r *http.Request, err error)
}

// record notes the outcome of an operation on the call.
func record(ctx context.Context, status int, err error) {
	c := reqctx.CallFrom(ctx)
	c.Status = status
	if err != nil {
		e := awserr.As(err)
		c.ErrorCode, c.ErrorMessage = e.Code, e.Message
	}
}

// checkAuthorized fails an operation that succeeded without asking the
// policy evaluator (reqctx.Call.Authorized), when the server requires
// every operation to: the domain forgot its authorization check, and the
// result is withheld rather than served unchecked.
func checkAuthorized(ctx context.Context) error {
	c := reqctx.CallFrom(ctx)
	if !c.RequireAuthorization || c.Authorized {
		return nil
	}
	return &awserr.Error{Kind: awserr.Internal, Code: "InternalFailure",
		Message: fmt.Sprintf("%s %s completed without an authorization decision, so coffer withholds its result; this is a bug in coffer", c.Service, c.Operation)}
}

// invalidUTF8Params reports the query-string or form parameters (names
// or values) that are not valid UTF-8, by name; nil when all are.
func invalidUTF8Params(form url.Values) []awsmodel.Violation {
	var out []awsmodel.Violation
	for _, k := range slices.Sorted(maps.Keys(form)) {
		if !utf8.ValidString(k) || slices.ContainsFunc(form[k], func(v string) bool { return !utf8.ValidString(v) }) {
			out = append(out, awsmodel.Violation{Path: strings.ToValidUTF8(k, "\uFFFD"), Constraint: "Member must be valid UTF-8"})
		}
	}
	return out
}

// Epoch is a timestamp that JSON protocols send as seconds since the Unix
// epoch, with milliseconds as a fraction.
type Epoch time.Time

func (t Epoch) MarshalJSON() ([]byte, error) {
	ms := time.Time(t).UnixMilli()
	return []byte(strconv.FormatFloat(float64(ms)/1000, 'f', -1, 64)), nil
}

func (t *Epoch) UnmarshalJSON(b []byte) error {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return awserr.New(awserr.Invalid, "SerializationException", "timestamp %s is not a number of seconds since the epoch", b)
	}
	*t = Epoch(time.UnixMilli(int64(f * 1000)).UTC())
	return nil
}

// EpochPtr converts a time to an optional JSON timestamp, nil for zero.
func EpochPtr(t time.Time) *Epoch {
	if t.IsZero() {
		return nil
	}
	e := Epoch(t)
	return &e
}
