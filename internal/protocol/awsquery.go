package protocol

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/coffer-dev/coffer/internal/awserr"
	"github.com/coffer-dev/coffer/internal/awsmodel"
	"github.com/coffer-dev/coffer/internal/reqctx"
)

// QueryOp is one awsQuery operation: the form parameters in, a value to
// encode as the <OperationResult> element out.
type QueryOp func(ctx context.Context, form url.Values) (any, error)

// QueryService serves an awsQuery API: form-encoded Action and Version in
// the body (or the query string of a GET), XML out.
type QueryService struct {
	Name         string // signing name, "sts"
	Version      string // API version, "2011-06-15"
	XMLNamespace string // "https://sts.amazonaws.com/doc/2011-06-15/"
	Ops          map[string]QueryOp
	// Model, when set, is the service's AWS model, which QueryOperation
	// reads inputs by.
	Model *awsmodel.Model
}

// QueryOperation registers fn as operation of s's model: the form is
// read by the input shape (awsmodel.QueryInput), checked against it
// (required members, lengths, ranges, enums, patterns; ValidationError
// in AWS's wording) and decoded into In, whose fields are named as the
// model's members; what fn returns is the <OperationResult> element.
// Authorization stays with the domain call fn makes. It panics when s
// has no model or the model has no such operation: both are fixed at
// build time.
func QueryOperation[In, Out any](s *QueryService, operation string, fn func(context.Context, *In) (Out, error)) {
	if s.Model == nil {
		panic(fmt.Sprintf("protocol: %s has no model to register %s by", s.Name, operation))
	}
	if _, ok := s.Model.Operations[operation]; !ok {
		panic(fmt.Sprintf("protocol: %s has no operation %s in its model", s.Name, operation))
	}
	s.Ops[operation] = func(ctx context.Context, form url.Values) (any, error) {
		doc, vs := s.Model.QueryInput(operation, form)
		if vs = append(vs, s.Model.Validate(operation, doc)...); len(vs) > 0 {
			return nil, awserr.New(awserr.Invalid, "ValidationError", "%s", awsmodel.Message(vs))
		}
		b, err := json.Marshal(doc)
		if err != nil {
			return nil, fmt.Errorf("encode form input: %w", err)
		}
		in := new(In)
		if err := DecodeJSON(b, in); err != nil {
			return nil, err
		}
		return fn(ctx, in)
	}
}

// QueryAction is QueryOperation for an operation whose response has no
// result element, only its metadata (DeleteUser).
func QueryAction[In any](s *QueryService, operation string, fn func(context.Context, *In) error) {
	QueryOperation(s, operation, func(ctx context.Context, in *In) (any, error) { return nil, fn(ctx, in) })
}

var _ Service = (*QueryService)(nil)

func (s *QueryService) SigningName() string { return s.Name }
func (s *QueryService) Protocol() Kind      { return Query }

func (s *QueryService) Serve(w http.ResponseWriter, r *http.Request, body []byte) {
	ctx := r.Context()
	form, err := queryForm(r, body)
	if err != nil {
		s.WriteError(w, r, err)
		return
	}
	action := form.Get("Action")
	if action == "" {
		s.WriteError(w, r, awserr.New(awserr.Invalid, "MissingAction", "the request must contain the parameter Action"))
		return
	}
	if v := form.Get("Version"); v != "" && v != s.Version {
		s.WriteError(w, r, awserr.New(awserr.Invalid, "InvalidAction", "could not find operation %s for version %s; this service speaks version %s", action, v, s.Version))
		return
	}
	op, ok := s.Ops[action]
	if !ok {
		s.WriteError(w, r, awserr.New(awserr.Invalid, "InvalidAction", "%s is not a valid %s action", action, strings.ToUpper(s.Name)))
		return
	}
	reqctx.CallFrom(ctx).Operation = action
	out, err := op(ctx, form)
	if err == nil {
		err = checkAuthorized(ctx)
	}
	if err != nil {
		s.WriteError(w, r, err)
		return
	}
	var buf bytes.Buffer
	enc := xml.NewEncoder(&buf)
	resp := xml.StartElement{Name: xml.Name{Local: action + "Response"}, Attr: []xml.Attr{{Name: xml.Name{Local: "xmlns"}, Value: s.XMLNamespace}}}
	err = enc.EncodeToken(resp)
	if err == nil && out != nil {
		err = enc.EncodeElement(out, xml.StartElement{Name: xml.Name{Local: action + "Result"}})
	}
	if err == nil {
		err = enc.EncodeElement(struct {
			RequestID string `xml:"RequestId"`
		}{reqctx.CallFrom(ctx).RequestID}, xml.StartElement{Name: xml.Name{Local: "ResponseMetadata"}})
	}
	if err == nil {
		err = enc.EncodeToken(resp.End())
	}
	if err == nil {
		err = enc.Flush()
	}
	if err != nil {
		s.WriteError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(http.StatusOK)
	w.Write(buf.Bytes())
	record(ctx, http.StatusOK, nil)
}

func queryForm(r *http.Request, body []byte) (url.Values, error) {
	form := r.URL.Query()
	if r.Method == http.MethodGet {
		return form, nil
	}
	if r.Method != http.MethodPost {
		return nil, awserr.New(awserr.Invalid, "InvalidAction", "awsQuery requests are POST with a form body or GET with a query string, not %s", r.Method)
	}
	if ct := mediaType(r.Header.Get("Content-Type")); ct != "application/x-www-form-urlencoded" && len(body) > 0 {
		return nil, awserr.New(awserr.Invalid, "InvalidParameterValue", "Content-Type %q is not supported; send application/x-www-form-urlencoded", ct)
	}
	posted, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, awserr.New(awserr.Invalid, "MalformedQueryString", "the form body is not valid application/x-www-form-urlencoded: %v", err)
	}
	for k, vs := range posted {
		form[k] = append(form[k], vs...)
	}
	if vs := invalidUTF8Params(form); vs != nil {
		return nil, awserr.New(awserr.Invalid, "ValidationError", "%s", awsmodel.Message(vs))
	}
	return form, nil
}

// WriteError renders AWS's query error document.
func (s *QueryService) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	e := awserr.As(err)
	errType := "Sender"
	if e.HTTPStatus() >= 500 {
		errType = "Receiver"
	}
	doc := struct {
		XMLName xml.Name `xml:"ErrorResponse"`
		XMLNS   string   `xml:"xmlns,attr"`
		Error   struct {
			Type    string
			Code    string
			Message string
		}
		RequestID string `xml:"RequestId"`
	}{XMLNS: s.XMLNamespace, RequestID: reqctx.CallFrom(r.Context()).RequestID}
	doc.Error.Type, doc.Error.Code, doc.Error.Message = errType, e.Code, e.Message
	b, _ := xml.Marshal(doc)
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(e.HTTPStatus())
	w.Write(b)
	record(r.Context(), e.HTTPStatus(), e)
}

// QueryMembers reads a list serialised as prefix.member.1, prefix.member.2,
// ... (or prefix.1, ... when member is ""), stopping at the first gap.
func QueryMembers(form url.Values, prefix, member string) []string {
	var out []string
	for i := 1; ; i++ {
		key := prefix + "." + strconv.Itoa(i)
		if member != "" {
			key = prefix + "." + member + "." + strconv.Itoa(i)
		}
		v, ok := form[key]
		if !ok || len(v) == 0 {
			return out
		}
		out = append(out, v[0])
	}
}
