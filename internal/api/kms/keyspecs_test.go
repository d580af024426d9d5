package kms_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/asn1"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/cloudflare/circl/sign/mldsa/mldsa44"
	"github.com/cloudflare/circl/sign/mldsa/mldsa65"
	"github.com/cloudflare/circl/sign/mldsa/mldsa87"

	"github.com/coffer-dev/coffer/internal/testenv"
)

// TestNewKeySpecs covers the key specs of AWS's model beyond the NIST
// curves, RSA and HMAC_256..512: signatures of ECC_SECG_P256K1 and
// ECC_NIST_EDWARDS25519 keys are verified outside coffer (OpenSSL, and
// Go's crypto/ed25519), ML_DSA_* signatures with a FIPS 204 verifier,
// HMAC_224 keys make 28-byte MACs, and SM2 is refused by name.
func TestNewKeySpecs(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		testenv.Missing(t, "openssl is not installed (scripts/test-deps.sh installs it)")
	}
	_, a, _ := start(t)
	ctx := context.Background()
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	opensslVerifies := func(args ...string) {
		t.Helper()
		out, err := exec.Command(openssl, append([]string{"pkeyutl", "-verify", "-pubin", "-keyform", "DER"}, args...)...).CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte("Signature Verified Successfully")) {
			t.Fatalf("openssl rejects the KMS signature: %v: %s", err, out)
		}
	}
	msg := []byte("the recovery point manifest")

	t.Run("ECC_SECG_P256K1", func(t *testing.T) {
		cur = t
		k := must(a.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: types.KeySpecEccSecgP256k1, KeyUsage: types.KeyUsageTypeSignVerify})).KeyMetadata
		if !slices.Equal(k.SigningAlgorithms, []types.SigningAlgorithmSpec{types.SigningAlgorithmSpecEcdsaSha256}) {
			t.Errorf("SigningAlgorithms = %v", k.SigningAlgorithms)
		}
		sig := must(a.Sign(ctx, &kms.SignInput{KeyId: k.KeyId, Message: msg, SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})).Signature
		dig := sha256.Sum256(msg)
		if !must(a.Verify(ctx, &kms.VerifyInput{KeyId: k.KeyId, Message: dig[:], MessageType: types.MessageTypeDigest, Signature: sig, SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})).SignatureValid {
			t.Fatal("KMS rejects its own signature")
		}
		_, err := a.Verify(ctx, &kms.VerifyInput{KeyId: k.KeyId, Message: []byte("other"), Signature: sig, SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
		wantCode(t, err, "KMSInvalidSignatureException")
		pub := must(a.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: k.KeyId}))
		if pub.KeySpec != types.KeySpecEccSecgP256k1 {
			t.Errorf("GetPublicKey KeySpec = %s", pub.KeySpec)
		}
		opensslVerifies("-inkey", write("k1.der", pub.PublicKey), "-in", write("k1.dig", dig[:]), "-sigfile", write("k1.sig", sig))

		_, err = a.GenerateDataKeyPair(ctx, &kms.GenerateDataKeyPairInput{KeyId: k.KeyId, KeyPairSpec: types.DataKeyPairSpecEccSecgP256k1})
		testenv.WantAPIError(t, err, "UnsupportedOperationException", "KeyPairSpec ECC_SECG_P256K1 is not supported")
	})

	t.Run("ECC_NIST_EDWARDS25519", func(t *testing.T) {
		cur = t
		k := must(a.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: types.KeySpecEccNistEdwards25519, KeyUsage: types.KeyUsageTypeSignVerify})).KeyMetadata
		pub := must(a.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: k.KeyId}))
		edPub, ok := must(x509.ParsePKIXPublicKey(pub.PublicKey)).(ed25519.PublicKey)
		if !ok {
			t.Fatalf("public key is not Ed25519")
		}

		sig := must(a.Sign(ctx, &kms.SignInput{KeyId: k.KeyId, Message: msg, SigningAlgorithm: types.SigningAlgorithmSpecEd25519Sha512})).Signature
		if !ed25519.Verify(edPub, msg, sig) {
			t.Fatal("crypto/ed25519 rejects the KMS signature")
		}
		opensslVerifies("-inkey", write("ed.der", pub.PublicKey), "-rawin", "-in", write("ed.msg", msg), "-sigfile", write("ed.sig", sig))
		if !must(a.Verify(ctx, &kms.VerifyInput{KeyId: k.KeyId, Message: msg, Signature: sig, SigningAlgorithm: types.SigningAlgorithmSpecEd25519Sha512})).SignatureValid {
			t.Fatal("KMS rejects its own signature")
		}
		dig := sha512.Sum512(msg)
		_, err := a.Sign(ctx, &kms.SignInput{KeyId: k.KeyId, Message: dig[:], MessageType: types.MessageTypeDigest, SigningAlgorithm: types.SigningAlgorithmSpecEd25519Sha512})
		wantCode(t, err, "ValidationException")

		// Ed25519ph over a SHA-512 digest.
		sig = must(a.Sign(ctx, &kms.SignInput{KeyId: k.KeyId, Message: dig[:], MessageType: types.MessageTypeDigest, SigningAlgorithm: types.SigningAlgorithmSpecEd25519PhSha512})).Signature
		if err := ed25519.VerifyWithOptions(edPub, dig[:], sig, &ed25519.Options{Hash: crypto.SHA512}); err != nil {
			t.Fatalf("crypto/ed25519 rejects the Ed25519ph signature: %v", err)
		}
		if !must(a.Verify(ctx, &kms.VerifyInput{KeyId: k.KeyId, Message: msg, Signature: sig, SigningAlgorithm: types.SigningAlgorithmSpecEd25519PhSha512})).SignatureValid {
			t.Fatal("KMS rejects its own Ed25519ph signature over the raw message")
		}

		// Data key pairs.
		sym := must(a.CreateKey(ctx, &kms.CreateKeyInput{})).KeyMetadata
		pair := must(a.GenerateDataKeyPair(ctx, &kms.GenerateDataKeyPairInput{KeyId: sym.KeyId, KeyPairSpec: types.DataKeyPairSpecEccNistEdwards25519}))
		priv, ok := must(x509.ParsePKCS8PrivateKey(pair.PrivateKeyPlaintext)).(ed25519.PrivateKey)
		if !ok || !bytes.Equal(priv.Public().(ed25519.PublicKey), must(x509.ParsePKIXPublicKey(pair.PublicKey)).(ed25519.PublicKey)) {
			t.Fatal("Ed25519 data key pair halves do not match")
		}
	})

	t.Run("HMAC_224", func(t *testing.T) {
		cur = t
		k := must(a.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: types.KeySpecHmac224, KeyUsage: types.KeyUsageTypeGenerateVerifyMac})).KeyMetadata
		mac := must(a.GenerateMac(ctx, &kms.GenerateMacInput{KeyId: k.KeyId, Message: msg, MacAlgorithm: types.MacAlgorithmSpecHmacSha224})).Mac
		if len(mac) != sha256.Size224 {
			t.Fatalf("MAC of %d bytes, want %d", len(mac), sha256.Size224)
		}
		if !must(a.VerifyMac(ctx, &kms.VerifyMacInput{KeyId: k.KeyId, Message: msg, Mac: mac, MacAlgorithm: types.MacAlgorithmSpecHmacSha224})).MacValid {
			t.Fatal("MAC not valid")
		}
		_, err := a.GenerateMac(ctx, &kms.GenerateMacInput{KeyId: k.KeyId, Message: msg, MacAlgorithm: types.MacAlgorithmSpecHmacSha256})
		wantCode(t, err, "InvalidKeyUsageException")
	})

	// ML-DSA: the public key is a SubjectPublicKeyInfo with NIST's OIDs
	// (read here with encoding/asn1), the signature a pure ML-DSA one with
	// an empty context, checked with CIRCL's FIPS 204 verifier.
	mldsa := []struct {
		spec   types.KeySpec
		oid    asn1.ObjectIdentifier
		verify func(pub, msg, sig []byte) bool
	}{
		{types.KeySpecMlDsa44, asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 3, 17}, func(pub, msg, sig []byte) bool {
			var pk mldsa44.PublicKey
			return pk.UnmarshalBinary(pub) == nil && mldsa44.Verify(&pk, msg, nil, sig)
		}},
		{types.KeySpecMlDsa65, asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 3, 18}, func(pub, msg, sig []byte) bool {
			var pk mldsa65.PublicKey
			return pk.UnmarshalBinary(pub) == nil && mldsa65.Verify(&pk, msg, nil, sig)
		}},
		{types.KeySpecMlDsa87, asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 3, 19}, func(pub, msg, sig []byte) bool {
			var pk mldsa87.PublicKey
			return pk.UnmarshalBinary(pub) == nil && mldsa87.Verify(&pk, msg, nil, sig)
		}},
	}
	for _, tc := range mldsa {
		t.Run(string(tc.spec), func(t *testing.T) {
			cur = t
			k := must(a.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: tc.spec, KeyUsage: types.KeyUsageTypeSignVerify})).KeyMetadata
			sig := must(a.Sign(ctx, &kms.SignInput{KeyId: k.KeyId, Message: msg, SigningAlgorithm: types.SigningAlgorithmSpecMlDsaShake256})).Signature
			der := must(a.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: k.KeyId})).PublicKey
			var spki struct {
				Algorithm struct{ Algorithm asn1.ObjectIdentifier }
				PublicKey asn1.BitString
			}
			if rest, err := asn1.Unmarshal(der, &spki); err != nil || len(rest) > 0 {
				t.Fatalf("public key is not a SubjectPublicKeyInfo: %v", err)
			}
			if !spki.Algorithm.Algorithm.Equal(tc.oid) {
				t.Fatalf("public key algorithm %v, want %v", spki.Algorithm.Algorithm, tc.oid)
			}
			if !tc.verify(spki.PublicKey.Bytes, msg, sig) {
				t.Fatal("the FIPS 204 verifier rejects the KMS signature")
			}
			if tc.verify(spki.PublicKey.Bytes, []byte("other"), sig) {
				t.Fatal("the signature verifies another message")
			}
			if !must(a.Verify(ctx, &kms.VerifyInput{KeyId: k.KeyId, Message: msg, Signature: sig, SigningAlgorithm: types.SigningAlgorithmSpecMlDsaShake256})).SignatureValid {
				t.Fatal("KMS rejects its own signature")
			}
			_, err := a.Sign(ctx, &kms.SignInput{KeyId: k.KeyId, Message: make([]byte, 64), MessageType: types.MessageTypeDigest, SigningAlgorithm: types.SigningAlgorithmSpecMlDsaShake256})
			wantCode(t, err, "ValidationException")
			_, err = a.Sign(ctx, &kms.SignInput{KeyId: k.KeyId, Message: make([]byte, 64), MessageType: types.MessageTypeExternalMu, SigningAlgorithm: types.SigningAlgorithmSpecMlDsaShake256})
			testenv.WantAPIError(t, err, "UnsupportedOperationException", "EXTERNAL_MU")
		})
	}

	_, err = a.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: types.KeySpecSm2, KeyUsage: types.KeyUsageTypeSignVerify})
	testenv.WantAPIError(t, err, "UnsupportedOperationException", "KeySpec SM2 is not supported by coffer")
}
