package vaultstore

import (
	"bytes"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"strings"
)

var errNoRows = sql.ErrNoRows

func newBytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

// placeholders returns "?, ?, ..." with n marks.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
