package identity

import (
	"net/http"

	"github.com/coffer-dev/coffer/internal/awserr"
)

// IAM's error codes and statuses (botocore iam 2010-05-08).

func noSuchEntity(format string, args ...any) *awserr.Error {
	return awserr.New(awserr.NotFound, "NoSuchEntity", format, args...).WithStatus(http.StatusNotFound)
}

func entityExists(format string, args ...any) *awserr.Error {
	return awserr.New(awserr.Conflict, "EntityAlreadyExists", format, args...).WithStatus(http.StatusConflict)
}

func deleteConflict(format string, args ...any) *awserr.Error {
	return awserr.New(awserr.Conflict, "DeleteConflict", format, args...).WithStatus(http.StatusConflict)
}

func limitExceeded(format string, args ...any) *awserr.Error {
	return awserr.New(awserr.Limit, "LimitExceeded", format, args...).WithStatus(http.StatusConflict)
}

func malformedPolicy(format string, args ...any) *awserr.Error {
	return awserr.New(awserr.Invalid, "MalformedPolicyDocument", format, args...)
}

func invalidInput(format string, args ...any) *awserr.Error {
	return awserr.New(awserr.Invalid, "InvalidInput", format, args...)
}

// validationError is the code IAM and STS use for parameters that break
// the model's constraints.
func validationError(format string, args ...any) *awserr.Error {
	return awserr.New(awserr.Invalid, "ValidationError", format, args...)
}

func missingAuth() *awserr.Error {
	return awserr.New(awserr.Unauthenticated, "MissingAuthenticationToken", "Request is missing Authentication Token")
}

// Organizations' errors (awsJson: the code is the exception name).

func orgErr(kind awserr.Kind, code, format string, args ...any) *awserr.Error {
	return awserr.New(kind, code, format, args...)
}

func orgNotInUse() *awserr.Error {
	return orgErr(awserr.Invalid, "AWSOrganizationsNotInUseException", "Your account is not a member of an organization.")
}

func orgAccessDenied() *awserr.Error {
	return orgErr(awserr.Denied, "AccessDeniedException", "You don't have permissions to access this resource. Only the management account of the organization can perform this operation.")
}

func awserrPacked(size int) *awserr.Error {
	return awserr.New(awserr.Invalid, "PackedPolicyTooLarge", "Packed size of session policy (%d characters) exceeds %d characters; use a shorter policy", size, maxSessionPolicySize)
}
