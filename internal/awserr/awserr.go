// Package awserr is the error vocabulary shared by coffer's domain services
// and its wire protocols. A domain returns *Error with a Kind (what went
// wrong, which decides the HTTP status through one table) and the AWS error
// code its service documents (NotFoundException, NoSuchEntity, ...); the
// protocol codecs render it in their format. Any other error reaching a
// codec is an internal failure and is reported without its text, unless it
// says a store coffer depends on cannot be reached (the metadata database
// restarting, a connection refused or reset): that is a 503
// ServiceUnavailable, which the SDKs retry.
package awserr

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
)

// Kind classifies an error for the HTTP status and for retry decisions.
type Kind int

const (
	Internal        Kind = iota // a bug or an unexpected failure: 500
	Invalid                     // the request is malformed or violates a rule: 400
	NotFound                    // the named resource does not exist: 400 (AWS JSON/query) or 404 (REST)
	Conflict                    // the resource exists or is in the wrong state: 400/409
	Denied                      // authenticated but not authorized: 400/403
	Unauthenticated             // bad or missing credentials: 403
	Limit                       // a quota or size limit: 400
	Throttled                   // slow down: 400 (AWS answers throttling with 400)
	Unavailable                 // retryable server-side trouble: 503
	TooLarge                    // request entity too large: 413
)

// Error is an AWS-style error: a code clients branch on and a message for
// people.
type Error struct {
	Kind    Kind
	Code    string
	Message string
	// Status overrides the Kind's default HTTP status when the service's
	// model documents another one (Backup's ResourceNotFoundException is
	// 404, for instance).
	Status int
	Err    error // the underlying cause, never shown to clients
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Code + ": " + e.Message + ": " + e.Err.Error()
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// HTTPStatus is the status code the error is sent with.
func (e *Error) HTTPStatus() int {
	if e.Status != 0 {
		return e.Status
	}
	return kindStatus[e.Kind]
}

// Retryable reports whether a client may retry the same request.
func (e *Error) Retryable() bool {
	return e.Kind == Unavailable || e.Kind == Throttled || e.Kind == Internal
}

var kindStatus = map[Kind]int{
	Internal:        http.StatusInternalServerError,
	Invalid:         http.StatusBadRequest,
	NotFound:        http.StatusBadRequest,
	Conflict:        http.StatusBadRequest,
	Denied:          http.StatusBadRequest,
	Unauthenticated: http.StatusForbidden,
	Limit:           http.StatusBadRequest,
	Throttled:       http.StatusBadRequest,
	Unavailable:     http.StatusServiceUnavailable,
	TooLarge:        http.StatusRequestEntityTooLarge,
}

// New returns an error of the given kind and AWS code.
func New(kind Kind, code, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}

// WithStatus returns e with its HTTP status set, for codes whose status
// differs from their kind's default.
func (e *Error) WithStatus(status int) *Error { e.Status = status; return e }

// As extracts an *Error from err, or wraps an unexpected error as an
// internal failure whose message reveals nothing.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if unreachable(err) {
		return &Error{Kind: Unavailable, Code: "ServiceUnavailable", Message: "The service is unavailable: a store it depends on cannot be reached. Try again.", Err: err}
	}
	return &Error{Kind: Internal, Code: "InternalFailure", Message: "The request processing has failed because of an unknown error, exception or failure.", Err: err}
}

// unreachable reports whether err is a store's connection failing rather
// than an answer: a refused, reset or cut connection, or a PostgreSQL
// connection exception (SQLSTATE class 08) or shutdown (57P01-57P03).
func unreachable(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var pg interface{ SQLState() string }
	if errors.As(err, &pg) {
		c := pg.SQLState()
		return strings.HasPrefix(c, "08") || c == "57P01" || c == "57P02" || c == "57P03"
	}
	return false
}

// Common errors shared by every protocol.

// Validation is the generic input error every AWS JSON service accepts.
func Validation(format string, args ...any) *Error {
	return New(Invalid, "ValidationException", format, args...)
}

// AccessDenied is the authorization failure in AWS's wording.
func AccessDenied(format string, args ...any) *Error {
	return New(Denied, "AccessDeniedException", format, args...)
}
