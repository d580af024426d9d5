package vaultstore

import (
	"bytes"
	"database/sql"
	"strings"
)

var errNoRows = sql.ErrNoRows

func newBytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

// placeholders returns "?, ?, ..." with n marks.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}
