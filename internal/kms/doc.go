// Package kms is coffer's key management service: customer-managed and
// AWS-managed keys, aliases, key policies, grants, rotation and deletion,
// and the cryptography behind Encrypt, Decrypt, GenerateDataKey, Sign and
// GenerateMac. The HTTP adapter (internal/api/kms) and the other domains
// (backup jobs, RDS) call the same methods of *Service; each one asks
// authz with the caller in the context, the key policy as a mandatory
// resource policy, and the grants on the key.
//
// Key rows read outside a transaction are cached for a second (package
// memo) and forgotten whenever this process writes: a change made through
// another coffer node sharing the database (a key disabled, a deletion
// window ended) takes effect here within a second, as AWS KMS is
// eventually consistent across its endpoints.
//
// # Symmetric ciphertext format (version 1)
//
// Encrypt, GenerateDataKey* and ReEncrypt return self-describing blobs:
//
//	offset  size   field
//	0       1      format version, 0x01
//	1       16     key ID: the UUID of the KMS key, 16 raw bytes
//	17      4      key material version, uint32 big-endian (1 = the material
//	               the key was created with; each rotation adds one)
//	21      12     AES-GCM nonce, random
//	33      n+16   AES-256-GCM ciphertext of the n plaintext bytes, then the
//	               16-byte tag
//
// The additional authenticated data of the AEAD is
//
//	"coffer/kms/ciphertext/v1\x00" || bytes 0..32 of the blob || canonical(context)
//
// so the header cannot be altered and the encryption context must match
// exactly. canonical(context) is order-independent: the pairs sorted by
// key (byte order), each written as
//
//	uint32 BE len(key) || key || uint32 BE len(value) || value
//
// and the empty context is the empty string. A blob shorter than 49 bytes,
// with another version byte, naming an unknown key or material version, or
// failing authentication is InvalidCiphertextException.
//
// Asymmetric (RSA) ciphertexts are the raw RSAES-OAEP output, as in AWS;
// Decrypt needs the KeyId for them.
//
// # Key material at rest
//
// Each material version is a secret: 32 random bytes (SYMMETRIC_DEFAULT),
// the PKCS #8 DER private key (RSA_*, ECC_NIST_*), the 32-byte big-endian
// private scalar (ECC_SECG_P256K1, which Go's x509 cannot encode), the
// 32-byte FIPS 204 key generation seed ξ (ML_DSA_*), or
// 28/32/48/64 random bytes (HMAC_*). It is sealed by the root-key provider with the additional data
//
//	"kms/key-material/" || key ARN || "/" || decimal material version
//
// and stored in kms_key_material; the same sealed bytes are written to the
// key's region blob store under
//
//	kms/ACCOUNT/KEY-ID/material/VERSION   (the sealed bytes)
//	kms/ACCOUNT/KEY-ID/metadata.json      (spec, usage, manager, policy)
//
// so that the blob store and the root key rebuild every key after the loss
// of the metadata database. Plaintext material stays in process memory.
package kms
