package kms

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"hash"
	"math/big"

	"github.com/cloudflare/circl/pki"
	"github.com/cloudflare/circl/sign"
	"github.com/cloudflare/circl/sign/mldsa/mldsa44"
	"github.com/cloudflare/circl/sign/mldsa/mldsa65"
	"github.com/cloudflare/circl/sign/mldsa/mldsa87"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	k1ecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
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
	SpecP256K1    = "ECC_SECG_P256K1"
	SpecEd25519   = "ECC_NIST_EDWARDS25519"
	SpecMLDSA44   = "ML_DSA_44"
	SpecMLDSA65   = "ML_DSA_65"
	SpecMLDSA87   = "ML_DSA_87"
	SpecHMAC224   = "HMAC_224"
	SpecHMAC256   = "HMAC_256"
	SpecHMAC384   = "HMAC_384"
	SpecHMAC512   = "HMAC_512"

	UsageEncrypt = "ENCRYPT_DECRYPT"
	UsageSign    = "SIGN_VERIFY"
	UsageMAC     = "GENERATE_VERIFY_MAC"

	AlgSymmetric  = "SYMMETRIC_DEFAULT"
	AlgOAEPSHA1   = "RSAES_OAEP_SHA_1"
	AlgOAEPSHA256 = "RSAES_OAEP_SHA_256"

	AlgEd25519   = "ED25519_SHA_512"    // pure Ed25519 over the raw message
	AlgEd25519ph = "ED25519_PH_SHA_512" // Ed25519ph over the message's SHA-512
	AlgMLDSA     = "ML_DSA_SHAKE_256"   // ML-DSA (FIPS 204), pure, empty context
)

// unsupportedSpecs are the key specs of AWS's model that coffer refuses,
// with the reason.
var unsupportedSpecs = map[string]string{
	"SM2": "SM2 keys exist only in AWS's China Regions, and coffer has no SM2 implementation",
}

// specInfo is what a key spec allows.
type specInfo struct {
	usages  []string
	bits    int
	curve   elliptic.Curve
	macSize int
	pq      sign.Scheme // ML_DSA_*
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
	SpecP256K1:    {usages: []string{UsageSign}, signing: []string{"ECDSA_SHA_256"}},
	SpecEd25519:   {usages: []string{UsageSign}, signing: []string{AlgEd25519, AlgEd25519ph}},
	SpecMLDSA44:   {usages: []string{UsageSign}, pq: mldsa44.Scheme(), signing: []string{AlgMLDSA}},
	SpecMLDSA65:   {usages: []string{UsageSign}, pq: mldsa65.Scheme(), signing: []string{AlgMLDSA}},
	SpecMLDSA87:   {usages: []string{UsageSign}, pq: mldsa87.Scheme(), signing: []string{AlgMLDSA}},
	SpecHMAC224:   {usages: []string{UsageMAC}, macSize: 28, mac: []string{"HMAC_SHA_224"}},
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
	case info.pq != nil:
		return randomBytes(info.pq.SeedSize()), nil
	case spec == SpecP256K1:
		k, err := secp256k1.GeneratePrivateKey()
		if err != nil {
			return nil, err
		}
		return k.Serialize(), nil
	case spec == SpecEd25519:
		_, k, err := ed25519.GenerateKey(rand.Reader)
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
	k1      *secp256k1.PrivateKey // ECC_SECG_P256K1
	ed      ed25519.PrivateKey    // ECC_NIST_EDWARDS25519
	pq      sign.PrivateKey       // ML_DSA_*
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
	case info.pq != nil:
		if len(raw) != info.pq.SeedSize() {
			return nil, fmt.Errorf("%s material is not a %d-byte seed", spec, info.pq.SeedSize())
		}
		_, m.pq = info.pq.DeriveKey(raw)
	case spec == SpecP256K1:
		if len(raw) != secp256k1.PrivKeyBytesLen {
			return nil, errors.New("secp256k1 material is not 32 bytes")
		}
		m.k1 = secp256k1.PrivKeyFromBytes(raw)
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
		case ed25519.PrivateKey:
			m.ed = k
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

// publicKeyDER is the DER SubjectPublicKeyInfo of an asymmetric key.
func (m *material) publicKeyDER() ([]byte, error) {
	switch {
	case m.rsa != nil:
		return x509.MarshalPKIXPublicKey(&m.rsa.PublicKey)
	case m.ec != nil:
		return x509.MarshalPKIXPublicKey(&m.ec.PublicKey)
	case m.ed != nil:
		return x509.MarshalPKIXPublicKey(m.ed.Public())
	case m.k1 != nil:
		return marshalP256K1PublicKey(m.k1.PubKey()), nil
	case m.pq != nil:
		return pki.MarshalPKIXPublicKey(m.pq.Public().(sign.PublicKey))
	}
	return nil, fmt.Errorf("%s material has no public key", m.spec)
}

// OIDs of a secp256k1 SubjectPublicKeyInfo (RFC 5480, SEC 2).
var (
	oidECPublicKey = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	oidSecp256k1   = asn1.ObjectIdentifier{1, 3, 132, 0, 10}
)

// marshalP256K1PublicKey encodes a secp256k1 public key as KMS returns
// it: a SubjectPublicKeyInfo with id-ecPublicKey, the named curve
// secp256k1 and the uncompressed point.
func marshalP256K1PublicKey(pub *secp256k1.PublicKey) []byte {
	type algorithm struct {
		Algorithm asn1.ObjectIdentifier
		Curve     asn1.ObjectIdentifier
	}
	der, err := asn1.Marshal(struct {
		Algorithm algorithm
		PublicKey asn1.BitString
	}{algorithm{oidECPublicKey, oidSecp256k1}, asn1.BitString{Bytes: pub.SerializeUncompressed(), BitLength: 8 * secp256k1.PubKeyBytesLenUncompressed}})
	if err != nil {
		panic(fmt.Sprintf("encode secp256k1 public key: %v", err)) // fixed shapes of fixed sizes
	}
	return der
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

// signingHash maps AWS's signing algorithm to its hash; ML-DSA hashes
// inside the scheme, and has none.
func signingHash(alg string) (crypto.Hash, bool) {
	switch alg {
	case AlgMLDSA:
		return 0, true
	case "RSASSA_PSS_SHA_256", "RSASSA_PKCS1_V1_5_SHA_256", "ECDSA_SHA_256":
		return crypto.SHA256, true
	case "RSASSA_PSS_SHA_384", "RSASSA_PKCS1_V1_5_SHA_384", "ECDSA_SHA_384":
		return crypto.SHA384, true
	case "RSASSA_PSS_SHA_512", "RSASSA_PKCS1_V1_5_SHA_512", "ECDSA_SHA_512", AlgEd25519, AlgEd25519ph:
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

// sign signs a digest with alg (already checked against the key spec);
// for the pure algorithms (pureSigning) dig is the message itself.
func (m *material) sign(alg string, h crypto.Hash, dig []byte) ([]byte, error) {
	switch {
	case m.ec != nil:
		return ecdsa.SignASN1(rand.Reader, m.ec, dig)
	case m.k1 != nil:
		return k1ecdsa.Sign(m.k1, dig).Serialize(), nil
	case m.ed != nil:
		return m.ed.Sign(nil, dig, ed25519Options(alg))
	case m.pq != nil:
		return m.pq.Scheme().Sign(m.pq, dig, nil), nil
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
	case m.k1 != nil:
		return verifyP256K1(m.k1.PubKey(), dig, sig)
	case m.ed != nil:
		pub, _ := m.ed.Public().(ed25519.PublicKey)
		return ed25519.VerifyWithOptions(pub, dig, sig, ed25519Options(alg)) == nil
	case m.pq != nil:
		return m.pq.Scheme().Verify(m.pq.Public().(sign.PublicKey), dig, sig, nil)
	case len(alg) > 11 && alg[:11] == "RSASSA_PSS_":
		return rsa.VerifyPSS(&m.rsa.PublicKey, h, dig, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil
	default:
		return rsa.VerifyPKCS1v15(&m.rsa.PublicKey, h, dig, sig) == nil
	}
}

// pureSigning reports whether alg signs the message itself rather than a
// digest of it, and so takes RAW messages only.
func pureSigning(alg string) bool { return alg == AlgEd25519 || alg == AlgMLDSA }

// ed25519Options selects pure Ed25519 or Ed25519ph with SHA-512.
func ed25519Options(alg string) *ed25519.Options {
	if alg == AlgEd25519ph {
		return &ed25519.Options{Hash: crypto.SHA512}
	}
	return &ed25519.Options{}
}

// verifyP256K1 checks a DER ECDSA signature (any S, as OpenSSL signs)
// over a digest with a secp256k1 public key.
func verifyP256K1(pub *secp256k1.PublicKey, dig, sig []byte) bool {
	var rs struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(sig, &rs)
	if err != nil || len(rest) > 0 || rs.R.Sign() <= 0 || rs.S.Sign() <= 0 || rs.R.BitLen() > 256 || rs.S.BitLen() > 256 {
		return false
	}
	var r, s secp256k1.ModNScalar
	if r.SetByteSlice(rs.R.Bytes()) || s.SetByteSlice(rs.S.Bytes()) {
		return false // not below the group order
	}
	return k1ecdsa.NewSignature(&r, &s).Verify(dig, pub)
}

func (m *material) hmac(alg string, msg []byte) []byte {
	var f func() hash.Hash
	switch alg {
	case "HMAC_SHA_224":
		f = sha256.New224
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
	case SpecEd25519:
		_, k, err = ed25519.GenerateKey(rand.Reader)
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
