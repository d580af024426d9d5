package rootkey

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// KMS keeps the root of trust in an external key service that speaks the
// AWS KMS API (AWS KMS itself, or another coffer deployment whose key is
// in turn protected by an HSM-backed root): each secret is sealed under
// a fresh 256-bit data key from GenerateDataKey, and only the data key's
// ciphertext, which the external service alone can decrypt, is kept.
//
// Sealed format (version 2):
//
//	offset  size  field
//	0       1     format version, 0x02
//	1       2     n: length of the wrapped data key, uint16 big-endian
//	3       n     the data key's CiphertextBlob from the external service
//	3+n     12    AES-GCM nonce, random
//	15+n    m+16  AES-256-GCM ciphertext and tag of the secret, with
//	              additional data = "coffer/rootkey/v2\x00" || aad
//
// The external service also binds aad, through the encryption context
// {"coffer:aad": base64(aad)}, so a wrapped data key opens only for the
// record it was made for.
type KMS struct {
	client *kms.Client
	keyID  string
}

var _ Provider = (*KMS)(nil)

const (
	formatKMSv2  = 0x02
	aadPrefixV2  = "coffer/rootkey/v2\x00"
	kmsContextKV = "coffer:aad"
)

// NewKMS returns a provider that wraps secrets under keyID (a key ARN
// or alias) through client.
func NewKMS(client *kms.Client, keyID string) *KMS { return &KMS{client: client, keyID: keyID} }

func kmsContext(aad []byte) map[string]string {
	return map[string]string{kmsContextKV: base64.StdEncoding.EncodeToString(aad)}
}

// Seal encrypts plaintext under a new data key from the external service.
func (p *KMS) Seal(ctx context.Context, plaintext, aad []byte) ([]byte, error) {
	dk, err := p.client.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String(p.keyID), KeySpec: types.DataKeySpecAes256, EncryptionContext: kmsContext(aad)})
	if err != nil {
		return nil, fmt.Errorf("rootkey: generate data key with %s: %w", p.keyID, err)
	}
	defer clear(dk.Plaintext)
	if len(dk.CiphertextBlob) > 0xffff {
		return nil, errors.New("rootkey: wrapped data key too long")
	}
	aead, err := gcm(dk.Plaintext)
	if err != nil {
		return nil, err
	}
	out := []byte{formatKMSv2}
	out = binary.BigEndian.AppendUint16(out, uint16(len(dk.CiphertextBlob)))
	out = append(out, dk.CiphertextBlob...)
	nonce := make([]byte, nonceSize)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out = append(out, nonce...)
	return aead.Seal(out, nonce, plaintext, append([]byte(aadPrefixV2), aad...)), nil
}

// Open asks the external service to unwrap the data key, then decrypts.
func (p *KMS) Open(ctx context.Context, sealed, aad []byte) ([]byte, error) {
	if len(sealed) < 3 || sealed[0] != formatKMSv2 {
		return nil, ErrOpen
	}
	n := int(binary.BigEndian.Uint16(sealed[1:3]))
	if len(sealed) < 3+n+nonceSize+16 {
		return nil, ErrOpen
	}
	wrapped, nonce, body := sealed[3:3+n], sealed[3+n:3+n+nonceSize], sealed[3+n+nonceSize:]
	dk, err := p.client.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: wrapped, KeyId: aws.String(p.keyID), EncryptionContext: kmsContext(aad)})
	if err != nil {
		var ic *types.InvalidCiphertextException
		if errors.As(err, &ic) {
			return nil, ErrOpen
		}
		return nil, fmt.Errorf("rootkey: unwrap data key with %s: %w", p.keyID, err)
	}
	defer clear(dk.Plaintext)
	aead, err := gcm(dk.Plaintext)
	if err != nil {
		return nil, err
	}
	pt, err := aead.Open(nil, nonce, body, append([]byte(aadPrefixV2), aad...))
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}

func gcm(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("rootkey: data key: %w", err)
	}
	return cipher.NewGCM(block)
}
