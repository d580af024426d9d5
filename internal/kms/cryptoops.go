package kms

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"strings"

	"github.com/coffer-dev/coffer/internal/awserr"
)

const (
	maxPlaintext  = 4096
	maxCiphertext = 6144
)

// EncryptInput is Encrypt's request.
type EncryptInput struct {
	Call
	KeyId               string
	Plaintext           []byte
	EncryptionContext   map[string]string
	GrantTokens         []string
	EncryptionAlgorithm string
	DryRun              bool
}

// EncryptOutput is Encrypt's answer; KeyId is the key ARN.
type EncryptOutput struct {
	CiphertextBlob      []byte
	KeyId               string
	EncryptionAlgorithm string
}

func checkPlaintext(pt []byte) error {
	if len(pt) == 0 {
		return awserr.Validation("1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	if len(pt) > maxPlaintext {
		return awserr.Validation("1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to %d", maxPlaintext)
	}
	return nil
}

// Encrypt encrypts up to 4096 bytes under a key.
func (s *Service) Encrypt(ctx context.Context, in *EncryptInput) (*EncryptOutput, error) {
	if err := checkPlaintext(in.Plaintext); err != nil {
		return nil, err
	}
	k, err := s.resolveUse(ctx, in.KeyId, in.Call, opEncrypt, in.EncryptionContext, in.GrantTokens)
	if err != nil {
		return nil, err
	}
	if err := requireUsage(k, UsageEncrypt, "Encrypt"); err != nil {
		return nil, err
	}
	alg := in.EncryptionAlgorithm
	if alg == "" {
		alg = AlgSymmetric
	}
	if !contains(specs[k.Spec].encrypt, alg) {
		return nil, awserr.New(awserr.Invalid, "InvalidKeyUsageException", "Encryption algorithm %s is not valid for %s, a %s key.", alg, k.ARN, k.Spec)
	}
	m, err := s.currentMaterial(ctx, k)
	if err != nil {
		return nil, err
	}
	var ct []byte
	if k.Spec == SpecSymmetric {
		ct = m.sealSymmetric(k.uuid(), in.Plaintext, in.EncryptionContext)
	} else {
		if len(in.EncryptionContext) > 0 {
			return nil, awserr.Validation("encryption context is not supported with asymmetric keys")
		}
		if max := rsaMaxPlaintext(specs[k.Spec].bits, alg); len(in.Plaintext) > max {
			return nil, awserr.Validation("plaintext of %d bytes is too long for %s with %s: at most %d bytes", len(in.Plaintext), k.Spec, alg, max)
		}
		if ct, err = rsa.EncryptOAEP(oaepHash(alg), rand.Reader, &m.rsa.PublicKey, in.Plaintext, nil); err != nil {
			return nil, fmt.Errorf("rsa encrypt: %w", err)
		}
	}
	if in.DryRun {
		return nil, dryRun()
	}
	return &EncryptOutput{CiphertextBlob: ct, KeyId: k.ARN, EncryptionAlgorithm: alg}, nil
}

// DecryptInput is Decrypt's request.
type DecryptInput struct {
	Call
	CiphertextBlob      []byte
	EncryptionContext   map[string]string
	GrantTokens         []string
	KeyId               string
	EncryptionAlgorithm string
	DryRun              bool
}

// DecryptOutput is Decrypt's answer.
type DecryptOutput struct {
	KeyId               string
	Plaintext           []byte
	EncryptionAlgorithm string
}

func invalidCiphertext() error {
	return awserr.New(awserr.Invalid, "InvalidCiphertextException", "The ciphertext is invalid, was not produced by this KMS, or its encryption context does not match the one given.")
}

func incorrectKey() error {
	return awserr.New(awserr.Invalid, "IncorrectKeyException", "The key ID in the request does not identify a KMS key that can perform this operation.")
}

// Decrypt decrypts a ciphertext. For symmetric ciphertexts the key comes
// from the blob; a KeyId, when given, must name the same key.
func (s *Service) Decrypt(ctx context.Context, in *DecryptInput) (*DecryptOutput, error) {
	k, pt, alg, err := s.decrypt(ctx, in, opDecrypt)
	if err != nil {
		return nil, err
	}
	if in.DryRun {
		return nil, dryRun()
	}
	return &DecryptOutput{KeyId: k.ARN, Plaintext: pt, EncryptionAlgorithm: alg}, nil
}

func (s *Service) decrypt(ctx context.Context, in *DecryptInput, op operation) (*key, []byte, string, error) {
	if len(in.CiphertextBlob) == 0 {
		return nil, nil, "", awserr.Validation("1 validation error detected: Value at 'ciphertextBlob' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	if len(in.CiphertextBlob) > maxCiphertext {
		return nil, nil, "", awserr.Validation("1 validation error detected: Value at 'ciphertextBlob' failed to satisfy constraint: Member must have length less than or equal to %d", maxCiphertext)
	}
	alg := in.EncryptionAlgorithm
	if alg == "" {
		alg = AlgSymmetric
	}
	region := in.region(ctx)
	keyRef := in.KeyId
	hdr, _, perr := parseCiphertext(in.CiphertextBlob)
	var pre *key
	if alg == AlgSymmetric {
		if perr != nil {
			return nil, nil, "", invalidCiphertext()
		}
		var err error
		if pre, err = s.loadKey(ctx, s.store, hdr.KeyID.String()); err != nil {
			return nil, nil, "", err
		}
		if pre == nil || pre.Region != region {
			return nil, nil, "", invalidCiphertext()
		}
		if keyRef == "" {
			keyRef = KeyARN(region, pre.Account, pre.ID)
		}
	} else if keyRef == "" {
		return nil, nil, "", awserr.Validation("KeyId is required to decrypt with %s", alg)
	}
	k, err := s.resolveUseWith(ctx, keyRef, in.Call, op, in.EncryptionContext, in.GrantTokens, pre)
	if err != nil {
		return nil, nil, "", err
	}
	if err := requireUsage(k, UsageEncrypt, op.Name); err != nil {
		return nil, nil, "", err
	}
	if !contains(specs[k.Spec].encrypt, alg) {
		return nil, nil, "", incorrectKey()
	}
	if alg == AlgSymmetric {
		if k.uuid() != hdr.KeyID {
			return nil, nil, "", incorrectKey()
		}
		m, err := s.material(ctx, k, hdr.Version)
		if err != nil {
			return nil, nil, "", err
		}
		if m == nil {
			return nil, nil, "", invalidCiphertext()
		}
		pt, err := m.openSymmetric(in.CiphertextBlob, in.EncryptionContext)
		if err != nil {
			return nil, nil, "", invalidCiphertext()
		}
		return k, pt, alg, nil
	}
	m, err := s.currentMaterial(ctx, k)
	if err != nil {
		return nil, nil, "", err
	}
	pt, err := rsa.DecryptOAEP(oaepHash(alg), nil, m.rsa, in.CiphertextBlob, nil)
	if err != nil {
		return nil, nil, "", invalidCiphertext()
	}
	return k, pt, alg, nil
}

// ReEncryptInput is ReEncrypt's request.
type ReEncryptInput struct {
	Call
	CiphertextBlob                 []byte
	SourceEncryptionContext        map[string]string
	SourceKeyId                    string
	DestinationKeyId               string
	DestinationEncryptionContext   map[string]string
	SourceEncryptionAlgorithm      string
	DestinationEncryptionAlgorithm string
	GrantTokens                    []string
	DryRun                         bool
}

// ReEncryptOutput is ReEncrypt's answer.
type ReEncryptOutput struct {
	CiphertextBlob                 []byte
	SourceKeyId                    string
	KeyId                          string
	SourceEncryptionAlgorithm      string
	DestinationEncryptionAlgorithm string
}

// ReEncrypt decrypts under one key and encrypts under another without
// exposing the plaintext: kms:ReEncryptFrom on the source key and
// kms:ReEncryptTo on the destination key.
func (s *Service) ReEncrypt(ctx context.Context, in *ReEncryptInput) (*ReEncryptOutput, error) {
	src, pt, srcAlg, err := s.decrypt(ctx, &DecryptInput{Call: in.Call, CiphertextBlob: in.CiphertextBlob, EncryptionContext: in.SourceEncryptionContext,
		GrantTokens: in.GrantTokens, KeyId: in.SourceKeyId, EncryptionAlgorithm: in.SourceEncryptionAlgorithm}, opReEncryptFrom)
	if err != nil {
		return nil, err
	}
	defer clear(pt)
	out, err := s.encryptAs(ctx, &EncryptInput{Call: in.Call, KeyId: in.DestinationKeyId, Plaintext: pt, EncryptionContext: in.DestinationEncryptionContext,
		GrantTokens: in.GrantTokens, EncryptionAlgorithm: in.DestinationEncryptionAlgorithm}, opReEncryptTo)
	if err != nil {
		return nil, err
	}
	if in.DryRun {
		return nil, dryRun()
	}
	return &ReEncryptOutput{CiphertextBlob: out.CiphertextBlob, SourceKeyId: src.ARN, KeyId: out.KeyId,
		SourceEncryptionAlgorithm: srcAlg, DestinationEncryptionAlgorithm: out.EncryptionAlgorithm}, nil
}

// encryptAs is Encrypt authorized as another operation (ReEncryptTo).
func (s *Service) encryptAs(ctx context.Context, in *EncryptInput, op operation) (*EncryptOutput, error) {
	if in.DestinationKeyID() == "" {
		return nil, awserr.Validation("1 validation error detected: Value null at 'destinationKeyId' failed to satisfy constraint: Member must not be null")
	}
	k, err := s.resolveUse(ctx, in.KeyId, in.Call, op, in.EncryptionContext, in.GrantTokens)
	if err != nil {
		return nil, err
	}
	if err := requireUsage(k, UsageEncrypt, op.Name); err != nil {
		return nil, err
	}
	alg := in.EncryptionAlgorithm
	if alg == "" {
		alg = AlgSymmetric
	}
	if !contains(specs[k.Spec].encrypt, alg) {
		return nil, awserr.New(awserr.Invalid, "InvalidKeyUsageException", "Encryption algorithm %s is not valid for %s, a %s key.", alg, k.ARN, k.Spec)
	}
	m, err := s.currentMaterial(ctx, k)
	if err != nil {
		return nil, err
	}
	if k.Spec == SpecSymmetric {
		return &EncryptOutput{CiphertextBlob: m.sealSymmetric(k.uuid(), in.Plaintext, in.EncryptionContext), KeyId: k.ARN, EncryptionAlgorithm: alg}, nil
	}
	if max := rsaMaxPlaintext(specs[k.Spec].bits, alg); len(in.Plaintext) > max {
		return nil, awserr.Validation("plaintext of %d bytes is too long for %s with %s: at most %d bytes", len(in.Plaintext), k.Spec, alg, max)
	}
	ct, err := rsa.EncryptOAEP(oaepHash(alg), rand.Reader, &m.rsa.PublicKey, in.Plaintext, nil)
	if err != nil {
		return nil, err
	}
	return &EncryptOutput{CiphertextBlob: ct, KeyId: k.ARN, EncryptionAlgorithm: alg}, nil
}

// DestinationKeyID is the key an EncryptInput targets.
func (in *EncryptInput) DestinationKeyID() string { return in.KeyId }

// GenerateDataKeyInput is GenerateDataKey's (and
// GenerateDataKeyWithoutPlaintext's) request. Other domains call
// GenerateDataKey with Call.ViaService set to their endpoint name.
type GenerateDataKeyInput struct {
	Call
	KeyId             string
	EncryptionContext map[string]string
	NumberOfBytes     int
	KeySpec           string
	GrantTokens       []string
	DryRun            bool
}

// GenerateDataKeyOutput is the answer: a fresh data key in plaintext and
// encrypted under the KMS key (Plaintext is nil for WithoutPlaintext).
type GenerateDataKeyOutput struct {
	CiphertextBlob []byte
	Plaintext      []byte `json:",omitempty"`
	KeyId          string
}

// GenerateDataKey returns a data key and its ciphertext.
func (s *Service) GenerateDataKey(ctx context.Context, in *GenerateDataKeyInput) (*GenerateDataKeyOutput, error) {
	return s.generateDataKey(ctx, in, opGenerateDataKey)
}

// GenerateDataKeyWithoutPlaintext returns only the encrypted data key.
func (s *Service) GenerateDataKeyWithoutPlaintext(ctx context.Context, in *GenerateDataKeyInput) (*GenerateDataKeyOutput, error) {
	out, err := s.generateDataKey(ctx, in, opGenerateDataKeyWP)
	if err != nil {
		return nil, err
	}
	clear(out.Plaintext)
	out.Plaintext = nil
	return out, nil
}

func (s *Service) generateDataKey(ctx context.Context, in *GenerateDataKeyInput, op operation) (*GenerateDataKeyOutput, error) {
	n := in.NumberOfBytes
	switch {
	case n != 0 && in.KeySpec != "":
		return nil, awserr.Validation("Please specify either number of bytes or key spec, not both.")
	case in.KeySpec == "AES_256":
		n = 32
	case in.KeySpec == "AES_128":
		n = 16
	case in.KeySpec != "":
		return nil, awserr.Validation("1 validation error detected: Value '%s' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [AES_256, AES_128]", in.KeySpec)
	case n == 0:
		return nil, awserr.Validation("Please specify either number of bytes or key spec.")
	case n < 1 || n > 1024:
		return nil, awserr.Validation("1 validation error detected: Value '%d' at 'numberOfBytes' failed to satisfy constraint: Member must have value between 1 and 1024", n)
	}
	k, err := s.resolveUse(ctx, in.KeyId, in.Call, op, in.EncryptionContext, in.GrantTokens)
	if err != nil {
		return nil, err
	}
	if k.Spec != SpecSymmetric {
		return nil, awserr.New(awserr.Invalid, "InvalidKeyUsageException", "%s is a %s key; data keys are generated under symmetric encryption keys.", k.ARN, k.Spec)
	}
	m, err := s.currentMaterial(ctx, k)
	if err != nil {
		return nil, err
	}
	if in.DryRun {
		return nil, dryRun()
	}
	pt := randomBytes(n)
	return &GenerateDataKeyOutput{CiphertextBlob: m.sealSymmetric(k.uuid(), pt, in.EncryptionContext), Plaintext: pt, KeyId: k.ARN}, nil
}

// GenerateDataKeyPairInput is GenerateDataKeyPair's request.
type GenerateDataKeyPairInput struct {
	Call
	KeyId             string
	EncryptionContext map[string]string
	KeyPairSpec       string
	GrantTokens       []string
	DryRun            bool
}

// GenerateDataKeyPairOutput is its answer.
type GenerateDataKeyPairOutput struct {
	PrivateKeyCiphertextBlob []byte
	PrivateKeyPlaintext      []byte `json:",omitempty"`
	PublicKey                []byte
	KeyId                    string
	KeyPairSpec              string
}

// GenerateDataKeyPair returns an asymmetric data key pair with the
// private key encrypted under a symmetric KMS key.
func (s *Service) GenerateDataKeyPair(ctx context.Context, in *GenerateDataKeyPairInput) (*GenerateDataKeyPairOutput, error) {
	return s.generateDataKeyPair(ctx, in, opGenerateDKPair)
}

// GenerateDataKeyPairWithoutPlaintext omits the plaintext private key.
func (s *Service) GenerateDataKeyPairWithoutPlaintext(ctx context.Context, in *GenerateDataKeyPairInput) (*GenerateDataKeyPairOutput, error) {
	out, err := s.generateDataKeyPair(ctx, in, opGenerateDKPairWP)
	if err != nil {
		return nil, err
	}
	clear(out.PrivateKeyPlaintext)
	out.PrivateKeyPlaintext = nil
	return out, nil
}

func (s *Service) generateDataKeyPair(ctx context.Context, in *GenerateDataKeyPairInput, op operation) (*GenerateDataKeyPairOutput, error) {
	switch in.KeyPairSpec {
	case SpecRSA2048, SpecRSA3072, SpecRSA4096, SpecP256, SpecP384, SpecP521, SpecEd25519:
	case SpecP256K1, "SM2":
		return nil, awserr.New(awserr.Invalid, "UnsupportedOperationException", "KeyPairSpec %s is not supported by coffer: it cannot encode that private key as PKCS #8; use another key pair spec", in.KeyPairSpec)
	default:
		return nil, awserr.Validation("1 validation error detected: Value '%s' at 'keyPairSpec' failed to satisfy constraint: Member must satisfy enum value set: [RSA_2048, RSA_3072, RSA_4096, ECC_NIST_P256, ECC_NIST_P384, ECC_NIST_P521, ECC_SECG_P256K1, SM2, ECC_NIST_EDWARDS25519]", in.KeyPairSpec)
	}
	k, err := s.resolveUse(ctx, in.KeyId, in.Call, op, in.EncryptionContext, in.GrantTokens)
	if err != nil {
		return nil, err
	}
	if k.Spec != SpecSymmetric {
		return nil, awserr.New(awserr.Invalid, "InvalidKeyUsageException", "%s is a %s key; data key pairs are protected by symmetric encryption keys.", k.ARN, k.Spec)
	}
	m, err := s.currentMaterial(ctx, k)
	if err != nil {
		return nil, err
	}
	if in.DryRun {
		return nil, dryRun()
	}
	priv, pub, err := generateKeyPair(in.KeyPairSpec)
	if err != nil {
		return nil, err
	}
	return &GenerateDataKeyPairOutput{PrivateKeyCiphertextBlob: m.sealSymmetric(k.uuid(), priv, in.EncryptionContext), PrivateKeyPlaintext: priv,
		PublicKey: pub, KeyId: k.ARN, KeyPairSpec: in.KeyPairSpec}, nil
}

// GenerateRandomInput is GenerateRandom's request.
type GenerateRandomInput struct {
	Call
	NumberOfBytes    int
	CustomKeyStoreId string
}

// GenerateRandom returns random bytes; it needs kms:GenerateRandom in an
// IAM policy.
func (s *Service) GenerateRandom(ctx context.Context, in *GenerateRandomInput) ([]byte, error) {
	if in.NumberOfBytes < 1 || in.NumberOfBytes > 1024 {
		return nil, awserr.Validation("1 validation error detected: Value '%d' at 'numberOfBytes' failed to satisfy constraint: Member must have value between 1 and 1024", in.NumberOfBytes)
	}
	if in.CustomKeyStoreId != "" {
		return nil, awserr.New(awserr.Invalid, "CustomKeyStoreNotFoundException", "custom key stores are not supported")
	}
	if err := s.authorizeIAM(ctx, "kms:GenerateRandom", "*", nil); err != nil {
		return nil, err
	}
	return randomBytes(in.NumberOfBytes), nil
}

// SignInput is Sign's request (and Verify's, with Signature).
type SignInput struct {
	Call
	KeyId            string
	Message          []byte
	MessageType      string
	GrantTokens      []string
	SigningAlgorithm string
	Signature        []byte
	DryRun           bool
}

// SignOutput is Sign's answer.
type SignOutput struct {
	KeyId            string
	Signature        []byte
	SigningAlgorithm string
}

func (s *Service) signingKey(ctx context.Context, in *SignInput, op operation) (*key, *material, []byte, error) {
	if len(in.Message) == 0 || len(in.Message) > 4096 {
		return nil, nil, nil, awserr.Validation("1 validation error detected: Value at 'message' failed to satisfy constraint: Member must have length between 1 and 4096")
	}
	h, ok := signingHash(in.SigningAlgorithm)
	if !ok {
		return nil, nil, nil, awserr.Validation("1 validation error detected: Value '%s' at 'signingAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: [%s, ECDSA_SHA_256, ECDSA_SHA_384, ECDSA_SHA_512, %s, %s, %s]", in.SigningAlgorithm, strings.Join(rsaSigAlgs, ", "), AlgEd25519, AlgEd25519ph, AlgMLDSA)
	}
	var dig []byte
	switch {
	case in.SigningAlgorithm == AlgMLDSA && in.MessageType == "EXTERNAL_MU":
		return nil, nil, nil, awserr.New(awserr.Invalid, "UnsupportedOperationException", "MessageType EXTERNAL_MU is not supported by coffer; send the RAW message")
	case pureSigning(in.SigningAlgorithm):
		if in.MessageType != "" && in.MessageType != "RAW" {
			return nil, nil, nil, awserr.Validation("Signing algorithm %s takes RAW messages only.", in.SigningAlgorithm)
		}
		dig = in.Message
	case in.MessageType == "" || in.MessageType == "RAW":
		dig = digest(h, in.Message)
	case in.MessageType == "DIGEST":
		if len(in.Message) != h.Size() {
			return nil, nil, nil, awserr.Validation("Digest is invalid length for algorithm %s.", in.SigningAlgorithm)
		}
		dig = in.Message
	default:
		return nil, nil, nil, awserr.Validation("1 validation error detected: Value '%s' at 'messageType' failed to satisfy constraint: Member must satisfy enum value set: [RAW, DIGEST]", in.MessageType)
	}
	k, err := s.resolveUse(ctx, in.KeyId, in.Call, op, nil, in.GrantTokens)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := requireUsage(k, UsageSign, op.Name); err != nil {
		return nil, nil, nil, err
	}
	if !contains(specs[k.Spec].signing, in.SigningAlgorithm) {
		return nil, nil, nil, awserr.New(awserr.Invalid, "InvalidKeyUsageException", "Signing algorithm %s is not valid for %s, a %s key.", in.SigningAlgorithm, k.ARN, k.Spec)
	}
	m, err := s.currentMaterial(ctx, k)
	if err != nil {
		return nil, nil, nil, err
	}
	return k, m, dig, nil
}

// Sign signs a message or digest with an asymmetric SIGN_VERIFY key.
func (s *Service) Sign(ctx context.Context, in *SignInput) (*SignOutput, error) {
	k, m, dig, err := s.signingKey(ctx, in, opSign)
	if err != nil {
		return nil, err
	}
	if in.DryRun {
		return nil, dryRun()
	}
	h, _ := signingHash(in.SigningAlgorithm)
	sig, err := m.sign(in.SigningAlgorithm, h, dig)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	return &SignOutput{KeyId: k.ARN, Signature: sig, SigningAlgorithm: in.SigningAlgorithm}, nil
}

// VerifyOutput is Verify's answer.
type VerifyOutput struct {
	KeyId            string
	SignatureValid   bool
	SigningAlgorithm string
}

// Verify checks a signature; an invalid one is KMSInvalidSignatureException.
func (s *Service) Verify(ctx context.Context, in *SignInput) (*VerifyOutput, error) {
	if len(in.Signature) == 0 {
		return nil, awserr.Validation("1 validation error detected: Value null at 'signature' failed to satisfy constraint: Member must not be null")
	}
	k, m, dig, err := s.signingKey(ctx, in, opVerify)
	if err != nil {
		return nil, err
	}
	if in.DryRun {
		return nil, dryRun()
	}
	h, _ := signingHash(in.SigningAlgorithm)
	if !m.verify(in.SigningAlgorithm, h, dig, in.Signature) {
		return nil, awserr.New(awserr.Invalid, "KMSInvalidSignatureException", "The signature is not valid for this message, key and signing algorithm.")
	}
	return &VerifyOutput{KeyId: k.ARN, SignatureValid: true, SigningAlgorithm: in.SigningAlgorithm}, nil
}

// PublicKeyOutput is GetPublicKey's answer.
type PublicKeyOutput struct {
	KeyId                 string
	PublicKey             []byte
	CustomerMasterKeySpec string
	KeySpec               string
	KeyUsage              string
	EncryptionAlgorithms  []string `json:",omitempty"`
	SigningAlgorithms     []string `json:",omitempty"`
}

// GetPublicKey returns the DER SubjectPublicKeyInfo of an asymmetric key.
func (s *Service) GetPublicKey(ctx context.Context, in *KeyInput) (*PublicKeyOutput, error) {
	k, err := s.resolveUse(ctx, in.KeyId, in.Call, opGetPublicKey, nil, in.GrantTokens)
	if err != nil {
		return nil, err
	}
	if k.Spec == SpecSymmetric || k.Usage == UsageMAC {
		return nil, awserr.New(awserr.Invalid, "UnsupportedOperationException", "%s is a %s key, which has no public key.", k.ARN, k.Spec)
	}
	m, err := s.currentMaterial(ctx, k)
	if err != nil {
		return nil, err
	}
	der, err := m.publicKeyDER()
	if err != nil {
		return nil, err
	}
	out := &PublicKeyOutput{KeyId: k.ARN, PublicKey: der, CustomerMasterKeySpec: k.Spec, KeySpec: k.Spec, KeyUsage: k.Usage}
	if k.Usage == UsageEncrypt {
		out.EncryptionAlgorithms = specs[k.Spec].encrypt
	} else {
		out.SigningAlgorithms = specs[k.Spec].signing
	}
	return out, nil
}

// MacInput is GenerateMac's request (and VerifyMac's, with Mac).
type MacInput struct {
	Call
	KeyId        string
	Message      []byte
	MacAlgorithm string
	GrantTokens  []string
	Mac          []byte
	DryRun       bool
}

// MacOutput is GenerateMac's and VerifyMac's answer.
type MacOutput struct {
	KeyId        string
	Mac          []byte `json:",omitempty"`
	MacValid     bool   `json:",omitempty"`
	MacAlgorithm string
}

func (s *Service) macKey(ctx context.Context, in *MacInput, op operation) (*key, *material, error) {
	if len(in.Message) == 0 || len(in.Message) > 4096 {
		return nil, nil, awserr.Validation("1 validation error detected: Value at 'message' failed to satisfy constraint: Member must have length between 1 and 4096")
	}
	switch in.MacAlgorithm {
	case "HMAC_SHA_224", "HMAC_SHA_256", "HMAC_SHA_384", "HMAC_SHA_512":
	default:
		return nil, nil, awserr.Validation("1 validation error detected: Value '%s' at 'macAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: [HMAC_SHA_224, HMAC_SHA_256, HMAC_SHA_384, HMAC_SHA_512]", in.MacAlgorithm)
	}
	k, err := s.resolveUse(ctx, in.KeyId, in.Call, op, nil, in.GrantTokens)
	if err != nil {
		return nil, nil, err
	}
	if err := requireUsage(k, UsageMAC, op.Name); err != nil {
		return nil, nil, err
	}
	if !contains(specs[k.Spec].mac, in.MacAlgorithm) {
		return nil, nil, awserr.New(awserr.Invalid, "InvalidKeyUsageException", "MAC algorithm %s is not valid for %s, a %s key.", in.MacAlgorithm, k.ARN, k.Spec)
	}
	m, err := s.currentMaterial(ctx, k)
	return k, m, err
}

// GenerateMac computes an HMAC with an HMAC key.
func (s *Service) GenerateMac(ctx context.Context, in *MacInput) (*MacOutput, error) {
	k, m, err := s.macKey(ctx, in, opGenerateMac)
	if err != nil {
		return nil, err
	}
	if in.DryRun {
		return nil, dryRun()
	}
	return &MacOutput{KeyId: k.ARN, Mac: m.hmac(in.MacAlgorithm, in.Message), MacAlgorithm: in.MacAlgorithm}, nil
}

// VerifyMac checks an HMAC; a wrong one is KMSInvalidMacException.
func (s *Service) VerifyMac(ctx context.Context, in *MacInput) (*MacOutput, error) {
	if len(in.Mac) == 0 {
		return nil, awserr.Validation("1 validation error detected: Value null at 'mac' failed to satisfy constraint: Member must not be null")
	}
	k, m, err := s.macKey(ctx, in, opVerifyMac)
	if err != nil {
		return nil, err
	}
	if in.DryRun {
		return nil, dryRun()
	}
	if !hmac.Equal(m.hmac(in.MacAlgorithm, in.Message), in.Mac) {
		return nil, awserr.New(awserr.Invalid, "KMSInvalidMacException", "The MAC is not valid for this message, key and MAC algorithm.")
	}
	return &MacOutput{KeyId: k.ARN, MacValid: true, MacAlgorithm: in.MacAlgorithm}, nil
}
