// Package rootkey seals the secrets coffer keeps at rest (access-key
// secrets, KMS key material, database credentials) under a root of trust.
//
// Sealed format (version 1), produced by Local:
//
//	offset  size  field
//	0       1     format version, 0x01
//	1       8     key fingerprint: first 8 bytes of SHA-256("coffer rootkey id" || key)
//	9       12    AES-GCM nonce, random
//	21      n+16  AES-256-GCM ciphertext and tag over the secret, with
//	              additional data = "coffer/rootkey/v1\x00" || aad
//
// aad names what the secret belongs to (for example "iam/access-key/AKIA...")
// so a sealed blob cannot be moved to another record and opened there.
//
// Key check value: the text "coffer root key check v1" sealed, in the
// provider's format, with aad "coffer/root-key-check" (CheckValue). The
// metadata store keeps it (table root_key_check); Verify opens it to prove
// a key is the one the store's secrets are sealed with.
package rootkey

import "context"

// Provider seals and opens secrets under the root key.
type Provider interface {
	Seal(ctx context.Context, plaintext, aad []byte) ([]byte, error)
	Open(ctx context.Context, sealed, aad []byte) ([]byte, error)
}
