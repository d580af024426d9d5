package s3

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/minio/minio-go/v7"

	"github.com/coffer-dev/coffer/internal/blob"
)

// Error is a failed S3 request, classified. It wraps blob.ErrNotExist or
// blob.ErrExists where those apply, and says whether a retry may help.
type Error struct {
	Op     string // put, create, get, stat, list, delete, open
	Name   string // object name or list prefix (without the store's prefix)
	Code   string // S3 error code, e.g. SlowDown, NoSuchKey
	Status int    // HTTP status, 0 if no response
	Msg    string // what went wrong, for people
	Err    error  // underlying error
}

func (e *Error) Error() string {
	s := "s3 " + e.Op
	if e.Name != "" {
		s += " " + e.Name
	}
	return s + ": " + e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

// Retryable reports whether trying again may succeed: 5xx, 429 and the
// throttling and timeout codes S3 and MinIO use. A response-less failure
// (connection refused, reset) defers to blob.Retryable's generic rules.
func (e *Error) Retryable() bool {
	switch e.Code {
	case "SlowDown", "SlowDownRead", "SlowDownWrite", "RequestTimeout", "RequestTimeTooSkewed",
		"InternalError", "ServiceUnavailable", "Throttling", "ThrottlingException",
		"RequestLimitExceeded", "RequestThrottled", "XMinioServerNotInitialized",
		"ConditionalRequestConflict", "ExpiredToken", "ExpiredTokenException":
		return true
	}
	if e.Status >= 500 || e.Status == http.StatusTooManyRequests || e.Status == http.StatusRequestTimeout {
		return true
	}
	if e.Status == 0 && e.Err != nil {
		return blob.Retryable(e.Err)
	}
	return false
}

// err classifies err from minio-go for op on name.
func (s *Store) err(op, name string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("s3 %s %s: %w", op, name, err)
	}
	resp := minio.ToErrorResponse(err)
	e := &Error{Op: op, Name: name, Code: resp.Code, Status: resp.StatusCode, Err: err}
	bucket, at := s.cfg.Bucket, s.endpoint
	switch {
	case resp.Code == "NoSuchKey" || (resp.StatusCode == http.StatusNotFound && resp.Code != "NoSuchBucket" && name != ""):
		e.Msg, e.Err = "object does not exist", fmt.Errorf("%w (%v)", blob.ErrNotExist, err)
	case resp.Code == "NoSuchBucket":
		e.Msg = fmt.Sprintf("bucket %s does not exist at %s; create it or fix the bucket name", bucket, at)
	case resp.Code == "PreconditionFailed" && op == "create":
		e.Msg, e.Err = "object already exists", fmt.Errorf("%w (%v)", blob.ErrExists, err)
	case resp.Code == "InvalidAccessKeyId":
		e.Msg = fmt.Sprintf("%s does not know the access key ID; check the credentials for bucket %s", at, bucket)
	case resp.Code == "SignatureDoesNotMatch":
		e.Msg = fmt.Sprintf("%s rejected the request signature; check the secret access key for bucket %s", at, bucket)
	case resp.Code == "AccessDenied" || resp.StatusCode == http.StatusForbidden:
		e.Msg = fmt.Sprintf("access denied to bucket %s at %s; check the credentials and the bucket policy (%s)", bucket, at, resp.Message)
	case resp.StatusCode == 0:
		e.Msg = fmt.Sprintf("request to %s failed: %v", at, err)
	default:
		e.Msg = fmt.Sprintf("%s (HTTP %d %s)", resp.Message, resp.StatusCode, resp.Code)
		if resp.Message == "" {
			e.Msg = fmt.Sprintf("HTTP %d %s", resp.StatusCode, resp.Code)
		}
	}
	return e
}
