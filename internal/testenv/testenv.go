// Package testenv gives tests the real servers and binaries they need
// (PostgreSQL, MinIO, the AWS CLIs, a running coffer) and decides what
// happens when one is missing: a skip on a developer's machine, a failure
// under COFFER_TEST_REQUIRE_ALL=1, which CI sets.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// RequireAll reports whether a missing dependency must fail the test
// instead of skipping it.
func RequireAll() bool { return os.Getenv("COFFER_TEST_REQUIRE_ALL") == "1" }

// Missing skips the test because what it needs is not here, or fails it
// when COFFER_TEST_REQUIRE_ALL=1.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if RequireAll() {
		t.Fatalf("COFFER_TEST_REQUIRE_ALL=1 but "+format, args...)
	}
	t.Skipf(format, args...)
}

// LookPath finds a binary or calls Missing.
func LookPath(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, "%s not found in PATH: %v", name, err)
	}
	return p
}
