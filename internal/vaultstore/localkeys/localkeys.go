// Package localkeys is a KeyWrapper for the vault storage engine that
// wraps data keys locally with AES-256-GCM, for tests, benchmarks and
// offline tools. Each KMS key ARN gets its own key-encryption key,
// HKDF-SHA-256(root, info = "coffer localkeys v1 " + ARN); the encryption
// context is bound as additional data, so a wrapped key opens only with
// the same key ARN and context, as with KMS.
//
// Wrapped key: "LK1" | nonce (12) | AES-256-GCM(KEK, nonce, data key,
// AAD = ARN 0x00 then each context pair "k=v" 0x00 in key order).
package localkeys

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
)

// ErrRefused is wrapped by errors for keys that are disabled or that the
// Authorize hook refuses.
var ErrRefused = errors.New("localkeys: access to the key refused")

// Keys wraps and unwraps data keys under per-ARN keys derived from a root.
type Keys struct {
	root []byte
	mu   sync.Mutex
	off  map[string]bool
	// Authorize, if set, is asked before every operation (op is
	// "GenerateDataKey" or "Decrypt"); an error refuses it.
	Authorize func(ctx context.Context, op, keyARN string) error
}

// New returns Keys with a random root.
func New() *Keys {
	root := make([]byte, 32)
	rand.Read(root)
	return &Keys{root: root, off: map[string]bool{}}
}

// FromRoot returns Keys for a 32-byte root.
func FromRoot(root []byte) (*Keys, error) {
	if len(root) != 32 {
		return nil, fmt.Errorf("localkeys: root is %d bytes, want 32", len(root))
	}
	return &Keys{root: append([]byte(nil), root...), off: map[string]bool{}}, nil
}

// LoadOrCreate reads a hex root from path, creating it (0600) if missing.
func LoadOrCreate(path string) (*Keys, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		k := New()
		if err := os.WriteFile(path, []byte(hex.EncodeToString(k.root)+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("localkeys: write %s: %w", path, err)
		}
		return k, nil
	}
	if err != nil {
		return nil, fmt.Errorf("localkeys: read %s: %w", path, err)
	}
	root, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("localkeys: %s does not hold a hex key", path)
	}
	return FromRoot(root)
}

// Disable makes every later operation on keyARN fail, as a disabled or
// deleted KMS key does.
func (k *Keys) Disable(keyARN string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.off[keyARN] = true
}

func (k *Keys) check(ctx context.Context, op, keyARN string) error {
	k.mu.Lock()
	off := k.off[keyARN]
	k.mu.Unlock()
	if off {
		return fmt.Errorf("%w: %s is disabled", ErrRefused, keyARN)
	}
	if k.Authorize != nil {
		if err := k.Authorize(ctx, op, keyARN); err != nil {
			return fmt.Errorf("%w: %s on %s: %v", ErrRefused, op, keyARN, err)
		}
	}
	return nil
}

func (k *Keys) aead(keyARN string) cipher.AEAD {
	kek, err := hkdf.Key(sha256.New, k.root, nil, "coffer localkeys v1 "+keyARN, 32)
	if err != nil {
		panic(err)
	}
	b, _ := aes.NewCipher(kek)
	a, _ := cipher.NewGCM(b)
	return a
}

func aad(keyARN string, encCtx map[string]string) []byte {
	keys := make([]string, 0, len(encCtx))
	for key := range encCtx {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	b := append([]byte(keyARN), 0)
	for _, key := range keys {
		b = append(b, key+"="+encCtx[key]...)
		b = append(b, 0)
	}
	return b
}

// GenerateDataKey returns a random 32-byte key and its wrapped form.
func (k *Keys) GenerateDataKey(ctx context.Context, keyARN string, encCtx map[string]string) (plaintext, wrapped []byte, err error) {
	if err := k.check(ctx, "GenerateDataKey", keyARN); err != nil {
		return nil, nil, err
	}
	plaintext = make([]byte, 32)
	rand.Read(plaintext)
	nonce := make([]byte, 12)
	rand.Read(nonce)
	wrapped = append([]byte("LK1"), nonce...)
	wrapped = k.aead(keyARN).Seal(wrapped, nonce, plaintext, aad(keyARN, encCtx))
	return plaintext, wrapped, nil
}

// Decrypt unwraps a key made by GenerateDataKey with the same ARN and
// encryption context.
func (k *Keys) Decrypt(ctx context.Context, keyARN string, wrapped []byte, encCtx map[string]string) ([]byte, error) {
	if err := k.check(ctx, "Decrypt", keyARN); err != nil {
		return nil, err
	}
	if len(wrapped) < 3+12+16 || string(wrapped[:3]) != "LK1" {
		return nil, errors.New("localkeys: not a wrapped key")
	}
	p, err := k.aead(keyARN).Open(nil, wrapped[3:15], wrapped[15:], aad(keyARN, encCtx))
	if err != nil {
		return nil, errors.New("localkeys: wrapped key does not open under this key ARN and encryption context")
	}
	return p, nil
}
