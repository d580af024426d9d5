package protocol

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/coffer-dev/coffer/internal/awserr"
	"github.com/coffer-dev/coffer/internal/awsmodel"
	"github.com/coffer-dev/coffer/internal/reqctx"
)

// JSONOp is one awsJson operation: the raw JSON input in, an output value
// to marshal out.
type JSONOp func(ctx context.Context, input []byte) (any, error)

// JSONHandler adapts a typed operation to a JSONOp, decoding the input
// into In.
func JSONHandler[In, Out any](fn func(context.Context, *In) (*Out, error)) JSONOp {
	return func(ctx context.Context, input []byte) (any, error) {
		in := new(In)
		if err := DecodeJSON(input, in); err != nil {
			return nil, err
		}
		out, err := fn(ctx, in)
		if err != nil {
			return nil, err
		}
		return out, nil
	}
}

// DecodeJSON decodes a JSON request body; an empty body is an empty input.
// Unknown members are ignored, as AWS services do. Strings that are not
// valid UTF-8 are refused with ValidationException rather than decoded
// with replacement characters.
func DecodeJSON(input []byte, v any) error {
	if len(strings.TrimSpace(string(input))) == 0 {
		return nil
	}
	if vs := awsmodel.InvalidUTF8(input); vs != nil {
		return awserr.Validation("%s", awsmodel.Message(vs))
	}
	if err := json.Unmarshal(input, v); err != nil {
		var ae *awserr.Error
		if errors.As(err, &ae) {
			return ae
		}
		return awserr.New(awserr.Invalid, "SerializationException", "the request body is not valid JSON for this operation: %s", jsonErrorText(err))
	}
	return nil
}

func jsonErrorText(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("member %q must be %s, not %s", te.Field, te.Type, te.Value)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%v at offset %d", se, se.Offset)
	}
	return err.Error()
}

// JSONService serves an awsJson1_1 API: POST / with
// X-Amz-Target: <TargetPrefix>.<Operation>.
type JSONService struct {
	Name         string // signing name, "kms"
	TargetPrefix string // "TrentService"
	// ShortTargetPrefix, when set, is a second prefix the service answers
	// to: CloudTrail's model says com.amazonaws.cloudtrail.v20131101.
	// CloudTrail_20131101, while aws-sdk-go-v2 sends CloudTrail_20131101,
	// and AWS takes both.
	ShortTargetPrefix string
	ContentType       string // "application/x-amz-json-1.1"
	Ops               map[string]JSONOp
	// Model, when set, is the service's AWS model: errors are rendered
	// with the members their shapes define.
	Model *awsmodel.Model
	// ValidateInput has inputs checked against Model before the operation
	// runs (awsmodel.ValidateJSON), answering ValidationException as AWS
	// services whose framework validates requests do (KMS; Organizations
	// answers InvalidInputException of its own instead).
	ValidateInput bool
}

var _ Service = (*JSONService)(nil)

func (s *JSONService) SigningName() string { return s.Name }
func (s *JSONService) Protocol() Kind      { return AWSJSON }

func (s *JSONService) Serve(w http.ResponseWriter, r *http.Request, body []byte) {
	ctx := r.Context()
	target := r.Header.Get("X-Amz-Target")
	// The operation follows the last dot: some prefixes have dots of their
	// own (com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101).
	i := strings.LastIndexByte(target, '.')
	prefix, opName, ok := target[:max(i, 0)], target[i+1:], i >= 0
	switch {
	case r.Method != http.MethodPost || r.URL.Path != "/":
		s.WriteError(w, r, awserr.New(awserr.Invalid, "UnknownOperationException", "%s requests are POST / with an X-Amz-Target header", s.TargetPrefix))
		return
	case target == "":
		s.WriteError(w, r, awserr.New(awserr.Invalid, "UnknownOperationException", "missing X-Amz-Target header; expected %s.<Operation>", s.TargetPrefix))
		return
	case !ok || (prefix != s.TargetPrefix && (s.ShortTargetPrefix == "" || prefix != s.ShortTargetPrefix)):
		s.WriteError(w, r, awserr.New(awserr.Invalid, "UnknownOperationException", "X-Amz-Target %q does not name an operation of %s", target, s.TargetPrefix))
		return
	}
	if ct := mediaType(r.Header.Get("Content-Type")); ct != "" && !strings.HasPrefix(ct, "application/x-amz-json-") && ct != "application/json" {
		s.WriteError(w, r, awserr.New(awserr.Invalid, "SerializationException", "Content-Type %q is not supported; send %s", ct, s.ContentType))
		return
	}
	op, found := s.Ops[opName]
	if !found {
		s.WriteError(w, r, awserr.New(awserr.Invalid, "UnknownOperationException", "%s has no operation %q", s.TargetPrefix, opName))
		return
	}
	reqctx.CallFrom(ctx).Operation = opName
	if s.ValidateInput {
		if vs := s.Model.ValidateJSON(opName, body); len(vs) > 0 {
			s.WriteError(w, r, awserr.Validation("%s", awsmodel.Message(vs)))
			return
		}
	}
	out, err := op(ctx, body)
	if err == nil {
		err = checkAuthorized(ctx)
	}
	if err != nil {
		s.WriteError(w, r, err)
		return
	}
	writeJSON(w, r, s.ContentType, http.StatusOK, out)
}

// WriteError renders {"__type": code, "message": ...} with the code also
// in x-amzn-ErrorType (see errorBody for the members).
func (s *JSONService) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	writeJSONError(w, r, s.ContentType, s.Model, err)
}

func writeJSONError(w http.ResponseWriter, r *http.Request, contentType string, m *awsmodel.Model, err error) {
	e := awserr.As(err)
	w.Header().Set("x-amzn-ErrorType", e.Code)
	writeJSON(w, r, contentType, e.HTTPStatus(), errorBody(m, e))
	record(r.Context(), e.HTTPStatus(), e)
}

// errorBody is the JSON body of an error: "__type" with the code, then
// the members of the error's shape in m as the model spells them
// ("message" in KMS, "Message" and "Code" in Backup and Organizations),
// so that SDKs fill the modeled fields. A code the model does not define
// (a framework error such as ValidationException), or a service without
// a model, gets "message". Members coffer has no value for (Backup's
// Type and Context) are omitted, as the model makes every member
// optional.
func errorBody(m *awsmodel.Model, e *awserr.Error) map[string]string {
	body := map[string]string{"__type": e.Code}
	var shape *awsmodel.Shape
	if m != nil {
		shape = m.ErrorShape(e.Code)
	}
	if shape == nil {
		body["message"] = e.Message
		return body
	}
	if _, ok := shape.Members["Message"]; ok {
		body["Message"] = e.Message
	} else {
		body["message"] = e.Message
	}
	if _, ok := shape.Members["Code"]; ok {
		body["Code"] = e.Code
	}
	return body
}

func writeJSON(w http.ResponseWriter, r *http.Request, contentType string, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"__type":"InternalFailure","message":"response encoding failed"}`)
	}
	if string(b) == "null" {
		b = []byte("{}")
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	w.Write(b)
	record(r.Context(), status, nil)
}

func mediaType(ct string) string {
	t, _, _ := strings.Cut(ct, ";")
	return strings.ToLower(strings.TrimSpace(t))
}
