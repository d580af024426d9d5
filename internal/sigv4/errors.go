package sigv4

import (
	"errors"
	"net/http"
)

// Error codes returned in Error.Code. They are the generic (awsQuery) names;
// the server maps them to the JSON-protocol variants
// (UnrecognizedClientException, InvalidSignatureException, ...) itself.
const (
	// MissingAuthenticationToken: the request carries neither an
	// Authorization header nor presigned query parameters.
	MissingAuthenticationToken = "MissingAuthenticationToken"
	// IncompleteSignature: the signature parameters are missing or malformed.
	IncompleteSignature = "IncompleteSignature"
	// InvalidClientTokenId: unknown or inactive access key, or a session
	// token that does not belong to the access key.
	InvalidClientTokenId = "InvalidClientTokenId"
	// SignatureDoesNotMatch: the signature (or the declared payload hash)
	// does not match what the server computed.
	SignatureDoesNotMatch = "SignatureDoesNotMatch"
	// RequestExpired: the request time is outside the allowed clock skew, or
	// a presigned URL is past its X-Amz-Expires.
	RequestExpired = "RequestExpired"
	// ExpiredToken: the credentials (temporary or not) are past their expiry.
	ExpiredToken = "ExpiredToken"
)

// Messages whose wording AWS clients and users know.
const (
	msgMissingAuth       = "Request is missing Authentication Token"
	msgInvalidToken      = "The security token included in the request is invalid."
	msgExpiredToken      = "The security token included in the request is expired"
	msgSignatureMismatch = "The request signature we calculated does not match the signature you provided. " +
		"Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
	msgPresignExpired = "Request has expired"
	msgHostNotSigned  = "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
)

// ErrUnknownAccessKey is returned (possibly wrapped) by a CredentialLookup
// when the access key ID is unknown or inactive.
var ErrUnknownAccessKey = errors.New("sigv4: unknown or inactive access key")

// Error is an authentication failure to be reported to the client. Code is
// one of the constants above and Message is safe to send back: it never
// contains a secret.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// HTTPStatus is the status AWS uses for the code. IncompleteSignature and
// RequestExpired are 400, as documented in the Common Errors of the awsQuery
// services (STS, IAM, RDS); everything else is 403.
func (e *Error) HTTPStatus() int {
	switch e.Code {
	case IncompleteSignature, RequestExpired:
		return http.StatusBadRequest
	default:
		return http.StatusForbidden
	}
}

func newError(code, msg string) *Error { return &Error{Code: code, Message: msg} }
