package rootkey

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestSealOpen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "root.key")
	p, err := LoadOrCreateFile(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Mode().Perm(); got != 0o600 {
		t.Fatalf("key file mode = %v, want 0600", got)
	}
	secret := []byte("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
	sealed, err := p.Seal(ctx, secret, []byte("iam/access-key/AKIA1"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, secret) {
		t.Fatal("sealed output contains the plaintext")
	}
	// Reloading the file gives the same key.
	p2, err := LoadOrCreateFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := p2.Open(ctx, sealed, []byte("iam/access-key/AKIA1"))
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Open = %q, %v; want the secret", got, err)
	}

	tests := []struct {
		name   string
		sealed []byte
		aad    string
	}{
		{"other owner", sealed, "iam/access-key/AKIA2"},
		{"flipped bit", flip(sealed, len(sealed)-1), "iam/access-key/AKIA1"},
		{"truncated", sealed[:10], "iam/access-key/AKIA1"},
		{"empty", nil, "iam/access-key/AKIA1"},
		{"wrong version", flip(sealed, 0), "iam/access-key/AKIA1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := p.Open(ctx, tt.sealed, []byte(tt.aad)); !errors.Is(err, ErrOpen) {
				t.Fatalf("Open err = %v, want ErrOpen", err)
			}
		})
	}

	other, err := NewLocal(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Open(ctx, sealed, []byte("iam/access-key/AKIA1")); !errors.Is(err, ErrOpen) {
		t.Fatalf("Open under another key err = %v, want ErrOpen", err)
	}
}

func TestKeyFilePermissionsEnforced(t *testing.T) {
	path := filepath.Join(t.TempDir(), "root.key")
	if _, err := LoadOrCreateFile(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateFile(path); err == nil {
		t.Fatal("a world-readable key file was accepted")
	}
}

func TestFromEnv(t *testing.T) {
	t.Setenv("COFFER_TEST_ROOT_KEY", base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32)))
	if _, err := FromEnv("COFFER_TEST_ROOT_KEY"); err != nil {
		t.Fatal(err)
	}
	t.Setenv("COFFER_TEST_ROOT_KEY", "c2hvcnQ=")
	if _, err := FromEnv("COFFER_TEST_ROOT_KEY"); err == nil {
		t.Fatal("a short key was accepted")
	}
	if _, err := FromEnv("COFFER_TEST_ROOT_KEY_UNSET"); err == nil {
		t.Fatal("an unset variable was accepted")
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 1
	return c
}
