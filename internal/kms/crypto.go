package kms

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"errors"
	"fmt"
	"hash"

	"github.com/google/uuid"
)

// Key specs, usages and algorithms with AWS's names.
const (
	SpecSymmetric = "SYMMETRIC_DEFAULT"
	SpecRSA2048   = "RSA_2048"
	SpecRSA3072   = "RSA_3072"
	SpecRSA4096   = "RSA_4096"
	SpecP256      = "ECC_NIST_P256"
	SpecP384      = "ECC_NIST_P384"
	SpecP521      = "ECC_NIST_P521"
	SpecHMAC256   = "HMAC_256"
	SpecHMAC384   = "HMAC_384"
	SpecHMAC512   = "HMAC_512"

	UsageEncrypt = "ENCRYPT_DECRYPT"
	UsageSign    = "SIGN_VERIFY"
	UsageMAC     = "GENERATE_VERIFY_MAC"

	AlgSymmetric  = "SYMMETRIC_DEFAULT"
	AlgOAEPSHA1   = "RSAES_OAEP_SHA_1"
	AlgOAEPSHA256 = "RSAES_OAEP_SHA_256"
)

// specInfo is what a key spec allows.
type specInfo struct {
	usages  []string
	bits    int
	curve   elliptic.Curve
	macSize int
	signing []string
	encrypt []string
	mac     []string
}

var specs = map[string]specInfo{
	SpecSymmetric: {usages: []string{UsageEncrypt}, encrypt: []string{AlgSymmetric}},
	SpecRSA2048:   {usages: []string{UsageEncrypt, UsageSign}, bits: 2048, encrypt: rsaEncAlgs, signing: rsaSigAlgs},
	SpecRSA3072:   {usages: []string{UsageEncrypt, UsageSign}, bits: 3072, encrypt: rsaEncAlgs, signing: rsaSigAlgs},
	SpecRSA4096:   {usages: []string{UsageEncrypt, UsageSign}, bits: 4096, encrypt: rsaEncAlgs, signing: rsaSigAlgs},
	SpecP256:      {usages: []string{UsageSign}, curve: elliptic.P256(), signing: []string{"ECDSA_SHA_256"}},
	SpecP384:      {usages: []string{UsageSign}, curve: elliptic.P384(), signing: []string{"ECDSA_SHA_384"}},
	SpecP521:      {usages: []string{UsageSign}, curve: elliptic.P521(), signing: []string{"ECDSA_SHA_512"}},
	SpecHMAC256:   {usages: []string{UsageMAC}, macSize: 32, mac: []string{"HMAC_SHA_256"}},
	SpecHMAC384:   {usages: []string{UsageMAC}, macSize: 48, mac: []string{"HMAC_SHA_384"}},
	SpecHMAC512:   {usages: []string{UsageMAC}, macSize: 64, mac: []string{"HMAC_SHA_512"}},
}

var (
	rsaEncAlgs = []string{AlgOAEPSHA1, AlgOAEPSHA256}
	rsaSigAlgs = []string{
		"RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512",
		"RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512",
	}
)

// generateMaterial returns fresh secret material for spec.
func generateMaterial(spec string) ([]byte, error) {
	info, ok := specs[spec]
	if !ok {
		return nil, fmt.Errorf("unsupported key spec %s", spec)
	}
	switch {
	case spec == SpecSymmetric:
		return randomBytes(32), nil
	case info.macSize > 0:
		return randomBytes(info.macSize), nil
	case info.bits > 0:
		k, err := rsa.GenerateKey(rand.Reader, info.bits)
		if err != nil {
			return nil, err
		}
		return x509.MarshalPKCS8PrivateKey(k)
	default:
		k, err := ecdsa.GenerateKey(info.curve, rand.Reader)
		if err != nil {
			return nil, err
		}
		return x509.MarshalPKCS8PrivateKey(k)
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return b
}

// material is one version of a key's secret, ready to use.
type material struct {
	spec    string
	version uint32
	aead    cipher.AEAD // SYMMETRIC_DEFAULT
	mac     []byte      // HMAC_*
	rsa     *rsa.PrivateKey
	ec      *ecdsa.PrivateKey
}

func loadMaterial(spec string, version uint32, raw []byte) (*material, error) {
	m := &material{spec: spec, version: version}
	info, ok := specs[spec]
	if !ok {
		return nil, fmt.Errorf("unsupported key spec %s", spec)
	}
	switch {
	case spec == SpecSymmetric:
		if len(raw) != 32 {
			return nil, errors.New("symmetric material is not 32 bytes")
		}
		block, err := aes.NewCipher(raw)
		if err != nil {
			return nil, err
		}
		if m.aead, err = cipher.NewGCM(block); err != nil {
			return nil, err
		}
	case info.macSize > 0:
		m.mac = append([]byte(nil), raw...)
	default:
		k, err := x509.ParsePKCS8PrivateKey(raw)
		if err != nil {
			return nil, fmt.Errorf("parse private key: %w", err)
		}
		switch k := k.(type) {
		case *rsa.PrivateKey:
			m.rsa = k
		case *ecdsa.PrivateKey:
			m.ec = k
		default:
			return nil, fmt.Errorf("unexpected private key type %T", k)
		}
	}
	return m, nil
}

// sealSymmetric encrypts plaintext into a version-1 blob.
func (m *material) sealSymmetric(keyID uuid.UUID, plaintext []byte, ec map[string]string) []byte {
	h := header{KeyID: keyID, Version: m.version}
	copy(h.Nonce[:], randomBytes(12))
	return m.sealWithHeader(h, plaintext, ec)
}

func (m *material) sealWithHeader(h header, plaintext []byte, ec map[string]string) []byte {
	hdr := h.marshal()
	out := make([]byte, ctHeaderSize, ctHeaderSize+len(plaintext)+gcmTagSize)
	copy(out, hdr)
	return m.aead.Seal(out, h.Nonce[:], plaintext, ciphertextAAD(hdr, ec))
}

// openSymmetric decrypts a blob whose header has been parsed.
func (m *material) openSymmetric(blob []byte, ec map[string]string) ([]byte, error) {
	h, body, err := parseCiphertext(blob)
	if err != nil {
		return nil, err
	}
	pt, err := m.aead.Open(nil, h.Nonce[:], body, ciphertextAAD(blob, ec))
	if err != nil {
		return nil, errBadCiphertext
	}
	return pt, nil
}

func (m *material) publicKey() crypto.PublicKey {
	switch {
	case m.rsa != nil:
		return &m.rsa.PublicKey
	case m.ec != nil:
		return &m.ec.PublicKey
	}
	return nil
}

func oaepHash(alg string) hash.Hash {
	if alg == AlgOAEPSHA1 {
		return sha1.New()
	}
	return sha256.New()
}

// rsaMaxPlaintext is the largest message RSAES-OAEP takes with alg.
func rsaMaxPlaintext(bits int, alg string) int {
	return bits/8 - 2*oaepHash(alg).Size() - 2
}

// signingHash maps AWS's signing algorithm to its hash.
func signingHash(alg string) (crypto.Hash, bool) {
	switch alg {
	case "RSASSA_PSS_SHA_256", "RSASSA_PKCS1_V1_5_SHA_256", "ECDSA_SHA_256":
		return crypto.SHA256, true
	case "RSASSA_PSS_SHA_384", "RSASSA_PKCS1_V1_5_SHA_384", "ECDSA_SHA_384":
		return crypto.SHA384, true
	case "RSASSA_PSS_SHA_512", "RSASSA_PKCS1_V1_5_SHA_512", "ECDSA_SHA_512":
		return crypto.SHA512, true
	}
	return 0, false
}

func digest(h crypto.Hash, msg []byte) []byte {
	switch h {
	case crypto.SHA256:
		s := sha256.Sum256(msg)
		return s[:]
	case crypto.SHA384:
		s := sha512.Sum384(msg)
		return s[:]
	default:
		s := sha512.Sum512(msg)
		return s[:]
	}
}

// sign signs a digest with alg (already checked against the key spec).
func (m *material) sign(alg string, h crypto.Hash, dig []byte) ([]byte, error) {
	switch {
	case m.ec != nil:
		return ecdsa.SignASN1(rand.Reader, m.ec, dig)
	case len(alg) > 11 && alg[:11] == "RSASSA_PSS_":
		return rsa.SignPSS(rand.Reader, m.rsa, h, dig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	default:
		return rsa.SignPKCS1v15(rand.Reader, m.rsa, h, dig)
	}
}

// verify checks a signature over a digest.
func (m *material) verify(alg string, h crypto.Hash, dig, sig []byte) bool {
	switch {
	case m.ec != nil:
		return ecdsa.VerifyASN1(&m.ec.PublicKey, dig, sig)
	case len(alg) > 11 && alg[:11] == "RSASSA_PSS_":
		return rsa.VerifyPSS(&m.rsa.PublicKey, h, dig, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil
	default:
		return rsa.VerifyPKCS1v15(&m.rsa.PublicKey, h, dig, sig) == nil
	}
}

func (m *material) hmac(alg string, msg []byte) []byte {
	var f func() hash.Hash
	switch alg {
	case "HMAC_SHA_256":
		f = sha256.New
	case "HMAC_SHA_384":
		f = sha512.New384
	default:
		f = sha512.New
	}
	h := hmac.New(f, m.mac)
	h.Write(msg)
	return h.Sum(nil)
}

// generateKeyPair makes a data key pair for GenerateDataKeyPair.
func generateKeyPair(spec string) (priv []byte, pub []byte, err error) {
	var k crypto.Signer
	switch spec {
	case SpecRSA2048, SpecRSA3072, SpecRSA4096:
		k, err = rsa.GenerateKey(rand.Reader, specs[spec].bits)
	case SpecP256, SpecP384, SpecP521:
		k, err = ecdsa.GenerateKey(specs[spec].curve, rand.Reader)
	default:
		return nil, nil, fmt.Errorf("unsupported key pair spec %s", spec)
	}
	if err != nil {
		return nil, nil, err
	}
	if priv, err = x509.MarshalPKCS8PrivateKey(k); err != nil {
		return nil, nil, err
	}
	pub, err = x509.MarshalPKIXPublicKey(k.Public())
	return priv, pub, err
}
