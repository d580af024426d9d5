package testenv

import (
	"errors"
	"strings"
	"testing"

	"github.com/aws/smithy-go"
)

// WantAPIError fails the test unless err is an AWS API error with code
// and a message containing msg.
func WantAPIError(t testing.TB, err error, code, msg string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v, want %s", err, code)
	}
	if ae.ErrorCode() != code || !strings.Contains(ae.ErrorMessage(), msg) {
		t.Fatalf("err = %s: %s\nwant %s: ...%s...", ae.ErrorCode(), ae.ErrorMessage(), code, msg)
	}
}

// Must returns a function that returns a call's result, failing the test
// on its error: testenv.Must[*iam.GetUserOutput](t)(client.GetUser(...)).
func Must[T any](t testing.TB) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}
