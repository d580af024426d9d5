package backup

import "github.com/coffer-dev/coffer/internal/awserr"

// Backup's error codes for the domains that share its API (restore
// testing, Backup Audit Manager); InvalidParam is in backup.go.

// MissingParam is MissingParameterValueException.
func MissingParam(name string) error { return missingParam(name) }

// NotFound is ResourceNotFoundException.
func NotFound(format string, args ...any) error { return notFound(format, args...) }

// AlreadyExists is AlreadyExistsException.
func AlreadyExists(format string, args ...any) error { return alreadyExists(format, args...) }

// InvalidRequest is InvalidRequestException.
func InvalidRequest(format string, args ...any) error { return invalidRequest(format, args...) }

// LimitExceeded is LimitExceededException.
func LimitExceeded(format string, args ...any) error { return awsLimit(format, args...) }

// Conflict is ConflictException.
func Conflict(format string, args ...any) error {
	return awserr.New(awserr.Conflict, "ConflictException", format, args...)
}
