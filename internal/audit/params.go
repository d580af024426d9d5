package audit

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/coffer-dev/coffer/internal/identity"
	"github.com/coffer-dev/coffer/internal/protocol"
	"github.com/coffer-dev/coffer/internal/reqctx"
)

// Redacted replaces a secret parameter's value, in CloudTrail's words.
const Redacted = "HIDDEN_DUE_TO_SECURITY_REASONS"

// secretParams are parameter names whose values are secrets in the AWS
// APIs coffer serves (compared case-insensitively; for query parameters
// the last dotted component is compared: Tags.member.1.Value -> Value).
var secretParams = map[string]bool{
	"password": true, "newpassword": true, "oldpassword": true, "masteruserpassword": true,
	"tdecredentialpassword": true, "keystorepassword": true,
	"privatekey": true, "addprivatekey": true, "secretaccesskey": true, "rawsecretaccesskey": true,
	"sessiontoken": true, "samlassertion": true, "webidentitytoken": true, "tradeintoken": true,
	"plaintext": true, "message": true, "presignedurl": true,
	"x-amz-security-token": true, // a presigned URL's session token
}

// omittedParams are left out altogether, as CloudTrail leaves them out:
// the binary payloads of KMS calls, and a presigned URL's signature,
// with which the URL could be replayed until it expires.
var omittedParams = map[string]bool{
	"ciphertextblob": true, "signature": true, "mac": true, "x-amz-signature": true,
}

// isSecret reports whether a parameter name carries a secret: one of the
// known names, or any name mentioning a password or a secret.
func isSecret(name string) bool {
	n := paramName(name)
	return secretParams[n] || strings.Contains(n, "password") || strings.Contains(n, "secret")
}

// isOmitted reports whether a parameter is not recorded at all.
func isOmitted(name string) bool { return omittedParams[paramName(name)] }

// paramName is the name compared with the lists: lower case, the last
// component of a dotted query parameter.
func paramName(name string) string {
	n := strings.ToLower(name)
	if i := strings.LastIndexByte(n, '.'); i >= 0 {
		n = n[i+1:]
	}
	return n
}

// maxValue bounds one recorded string value (ciphertexts, documents).
const maxValue = 1024

// Parameters extracts the request parameters of a call in its protocol,
// secrets redacted, as a JSON object: the form of an awsQuery request
// (less Action and Version), the JSON body of an awsJson request, and the
// path, query and JSON body of a restJson request.
func Parameters(kind protocol.Kind, r *http.Request, body []byte) json.RawMessage {
	switch kind {
	case protocol.Query:
		form := r.URL.Query()
		if posted, err := url.ParseQuery(string(body)); err == nil {
			for k, v := range posted {
				form[k] = append(form[k], v...)
			}
		}
		out := map[string]any{}
		for k, v := range form {
			if k == "Action" || k == "Version" || len(v) == 0 || isOmitted(k) {
				continue
			}
			out[k] = redactValue(k, v[0])
		}
		return marshalParams(out)
	case protocol.AWSJSON:
		return jsonParams(body)
	default:
		out := map[string]any{"path": r.URL.EscapedPath()}
		if q := r.URL.Query(); len(q) > 0 {
			qs := map[string]any{}
			for k, v := range q {
				if !isOmitted(k) {
					qs[k] = redactValue(k, v[0])
				}
			}
			out["query"] = qs
		}
		if len(bytes.TrimSpace(body)) > 0 {
			out["body"] = jsonParams(body)
		}
		return marshalParams(out)
	}
}

// jsonParams is a JSON body redacted; a body that is not an object is
// recorded as {"body": ...}, one that is not JSON by its length.
func jsonParams(body []byte) json.RawMessage {
	if len(bytes.TrimSpace(body)) == 0 {
		return json.RawMessage("{}")
	}
	b, ok := redactJSON(body)
	if !ok {
		return marshalParams(map[string]any{"unparsedBodyBytes": len(body)})
	}
	if b[0] != '{' {
		return marshalParams(map[string]any{"body": json.RawMessage(b)})
	}
	return b
}

func marshalParams(m map[string]any) json.RawMessage {
	b, err := json.Marshal(m)
	if err != nil {
		return json.RawMessage(`{"error":"parameters could not be encoded"}`)
	}
	return b
}

func redactValue(name, v string) any {
	if isSecret(name) {
		return Redacted
	}
	return clipValue(v)
}

// truncatedMark ends a clipped value.
const truncatedMark = "...(truncated)"

func clipValue(s string) string {
	if len(s) > maxValue {
		return s[:maxValue] + truncatedMark
	}
	return s
}

// FromCall builds the event of a finished HTTP call.
func FromCall(kind protocol.Kind, r *http.Request, body []byte, call *reqctx.Call, p *identity.Principal) Event {
	e := Event{
		AccountID: "", AccessKeyID: call.AccessKeyID,
		Service: call.Service, Operation: call.Operation, Region: call.Region,
		SourceIP: call.SourceIP, UserAgent: r.UserAgent(), RequestID: call.RequestID,
		HTTPStatus: call.Status, ErrorCode: call.ErrorCode, ErrorMessage: call.ErrorMessage,
		Parameters: Parameters(kind, r, body),
		Decisions:  call.Decisions,
	}
	if e.Operation == "" {
		// An operation the service does not have: record what was asked.
		e.Operation = requestedOperation(kind, r, body)
	}
	e.ReadOnly = IsReadOnly(e.Operation)
	if p != nil {
		e.AccountID, e.PrincipalType, e.PrincipalARN, e.PrincipalID, e.UserName = p.AccountID, string(p.Type), p.ARN, p.UserID, p.Name
		e.AccessKeyID = p.AccessKeyID
	}
	return e
}

// RecordCall records a finished HTTP call; the server calls it for every
// request it routes.
func (r *Recorder) RecordCall(kind protocol.Kind, req *http.Request, body []byte, call *reqctx.Call, p *identity.Principal) {
	r.Record(FromCall(kind, req, body, call, p))
}

// requestedOperation is the operation a request names, whether or not the
// service has it: the Action of a query request or the suffix of an
// awsJson X-Amz-Target, clipped; "" for restJson.
func requestedOperation(kind protocol.Kind, r *http.Request, body []byte) string {
	var op string
	switch kind {
	case protocol.Query:
		op = r.URL.Query().Get("Action")
		if form, err := url.ParseQuery(string(body)); err == nil && form.Get("Action") != "" {
			op = form.Get("Action")
		}
	case protocol.AWSJSON:
		t := r.Header.Get("X-Amz-Target")
		op = t[strings.LastIndexByte(t, '.')+1:]
	}
	return clip(op, 128)
}
