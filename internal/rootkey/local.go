package rootkey

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

const (
	formatV1    = 0x01
	fingerprint = 8
	nonceSize   = 12
	headerSize  = 1 + fingerprint + nonceSize
	keySize     = 32
	aadPrefix   = "coffer/rootkey/v1\x00"
)

// ErrOpen is returned when a sealed secret cannot be opened: wrong root
// key, wrong additional data, or tampering.
var ErrOpen = errors.New("rootkey: sealed secret cannot be opened (wrong root key, wrong owner, or corrupted)")

// Local seals with a 256-bit key held in memory.
type Local struct {
	aead cipher.AEAD
	id   [fingerprint]byte
}

var _ Provider = (*Local)(nil)

// NewLocal returns a provider for a raw 32-byte key.
func NewLocal(key []byte) (*Local, error) {
	if len(key) != keySize {
		return nil, fmt.Errorf("rootkey: key must be %d bytes, got %d", keySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	l := &Local{aead: aead}
	sum := sha256.Sum256(append([]byte("coffer rootkey id"), key...))
	copy(l.id[:], sum[:])
	return l, nil
}

// Seal encrypts plaintext, binding aad.
func (l *Local) Seal(_ context.Context, plaintext, aad []byte) ([]byte, error) {
	out := make([]byte, headerSize, headerSize+len(plaintext)+l.aead.Overhead())
	out[0] = formatV1
	copy(out[1:], l.id[:])
	nonce := out[1+fingerprint : headerSize]
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return l.aead.Seal(out, nonce, plaintext, fullAAD(aad)), nil
}

// Open decrypts what Seal produced with the same aad.
func (l *Local) Open(_ context.Context, sealed, aad []byte) ([]byte, error) {
	if len(sealed) < headerSize+l.aead.Overhead() || sealed[0] != formatV1 {
		return nil, ErrOpen
	}
	if !bytes.Equal(sealed[1:1+fingerprint], l.id[:]) {
		return nil, fmt.Errorf("%w: sealed under another root key", ErrOpen)
	}
	pt, err := l.aead.Open(nil, sealed[1+fingerprint:headerSize], sealed[headerSize:], fullAAD(aad))
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}

func fullAAD(aad []byte) []byte { return append([]byte(aadPrefix), aad...) }

// LoadOrCreateFile reads the base64 root key at path, creating it (mode
// 0600, in a 0700 directory) with a fresh random key if it does not exist.
// A key file readable by others is refused.
func LoadOrCreateFile(path string) (*Local, error) {
	l, err := LoadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return CreateFile(path)
	}
	return l, err
}

// LoadFile reads the base64 root key at path. A missing file is an error
// wrapping fs.ErrNotExist; a key file readable by others is refused.
func LoadFile(path string) (*Local, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read root key: %w", err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("root key file %s has mode %v; it must be readable by its owner only (chmod 600)", path, st.Mode().Perm())
	}
	return parseKey(string(data), path)
}

// CreateFile writes a fresh random root key to path (mode 0600, in a 0700
// directory); it fails if the file exists.
func CreateFile(path string) (*Local, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	key := make([]byte, keySize)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create root key: %w", err)
	}
	if _, err := f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n"); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	return NewLocal(key)
}

// FromEnv reads a base64 root key from the named environment variable.
func FromEnv(name string) (*Local, error) {
	v, ok := os.LookupEnv(name)
	if !ok || strings.TrimSpace(v) == "" {
		return nil, fmt.Errorf("root key environment variable %s is not set", name)
	}
	return parseKey(v, "$"+name)
}

func parseKey(s, source string) (*Local, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(key) != keySize {
		return nil, fmt.Errorf("root key in %s must be %d bytes, base64-encoded", source, keySize)
	}
	return NewLocal(key)
}
