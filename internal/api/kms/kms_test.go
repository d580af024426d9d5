package kms_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"

	"github.com/coffer-dev/coffer/internal/config"
	"github.com/coffer-dev/coffer/internal/testenv"
)

const (
	acctA = "111122223333"
	acctB = "444455556666"
)

// start runs coffer with accounts A and B, each with an administrator.
func start(t testing.TB) (*testenv.Coffer, *kms.Client, *kms.Client) {
	t.Helper()
	cur = t
	path := filepath.Join(t.TempDir(), "bootstrap.yaml")
	err := os.WriteFile(path, []byte(`
accounts:
  - {id: "`+acctA+`", name: source}
  - {id: "`+acctB+`", name: backup}
users:
  - {account: "`+acctA+`", name: admin, profile: a, accessKeyId: AKIAACCOUNTA00000001, secretAccessKey: account-a-secret-key-0001}
  - {account: "`+acctB+`", name: admin, profile: b, accessKeyId: AKIAACCOUNTB00000001, secretAccessKey: account-b-secret-key-0001}
`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	c := testenv.StartCoffer(t, func(cfg *config.Config) { cfg.Bootstrap = path })
	a := kms.NewFromConfig(c.AWSConfig(t, c.Profile(t, "a")))
	b := kms.NewFromConfig(c.AWSConfig(t, c.Profile(t, "b")))
	return c, a, b
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v, want %s", err, code)
	}
	if ae.ErrorCode() != code {
		t.Fatalf("err = %s: %s, want %s", ae.ErrorCode(), ae.ErrorMessage(), code)
	}
}

// cur is the running test, for must; the tests here are not parallel.
var cur testing.TB

// must returns v, failing the current test when err is set.
func must[T any](v T, err error) T {
	if err != nil {
		cur.Helper()
		cur.Fatal(err)
	}
	return v
}

func TestSymmetricKeyLifecycle(t *testing.T) {
	_, a, _ := start(t)
	ctx := context.Background()
	k := must(a.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("orders"), Tags: []types.Tag{{TagKey: aws.String("team"), TagValue: aws.String("db")}}})).KeyMetadata
	if k.KeySpec != types.KeySpecSymmetricDefault || k.KeyManager != types.KeyManagerTypeCustomer || k.KeyState != types.KeyStateEnabled ||
		!strings.HasPrefix(aws.ToString(k.Arn), "arn:aws:kms:us-east-1:"+acctA+":key/") || k.CreationDate == nil {
		t.Fatalf("CreateKey = %+v", k)
	}
	id := aws.ToString(k.KeyId)
	must(a.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/orders"), TargetKeyId: k.KeyId}))
	_, err := a.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/orders"), TargetKeyId: k.KeyId})
	wantCode(t, err, "AlreadyExistsException")
	_, err = a.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/aws/x"), TargetKeyId: k.KeyId})
	wantCode(t, err, "InvalidAliasNameException")
	aliases := must(a.ListAliases(ctx, &kms.ListAliasesInput{KeyId: k.KeyId})).Aliases
	if len(aliases) != 1 || aws.ToString(aliases[0].AliasName) != "alias/orders" || aws.ToString(aliases[0].TargetKeyId) != id {
		t.Fatalf("ListAliases = %+v", aliases)
	}
	keys := must(a.ListKeys(ctx, &kms.ListKeysInput{})).Keys
	if len(keys) != 1 || aws.ToString(keys[0].KeyId) != id {
		t.Fatalf("ListKeys = %+v", keys)
	}
	must(a.UpdateKeyDescription(ctx, &kms.UpdateKeyDescriptionInput{KeyId: k.KeyId, Description: aws.String("orders db")}))
	if d := must(a.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/orders")})).KeyMetadata; aws.ToString(d.Description) != "orders db" {
		t.Fatalf("Description = %q", aws.ToString(d.Description))
	}

	ec := map[string]string{"table": "orders"}
	enc := must(a.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String("alias/orders"), Plaintext: []byte("secret"), EncryptionContext: ec}))
	dec := must(a.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec}))
	if string(dec.Plaintext) != "secret" || aws.ToString(dec.KeyId) != aws.ToString(k.Arn) {
		t.Fatalf("Decrypt = %q %s", dec.Plaintext, aws.ToString(dec.KeyId))
	}
	_, err = a.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: map[string]string{"table": "orderz"}})
	wantCode(t, err, "InvalidCiphertextException")
	_, err = a.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob[:len(enc.CiphertextBlob)-3], EncryptionContext: ec})
	wantCode(t, err, "InvalidCiphertextException")
	_, err = a.Encrypt(ctx, &kms.EncryptInput{KeyId: k.KeyId, Plaintext: make([]byte, 4097)})
	wantCode(t, err, "ValidationException")
	for _, bad := range []string{"not-a-key", "alias/missing", "arn:aws:kms:us-east-1:" + acctA + ":key/00000000-0000-0000-0000-000000000000"} {
		_, err = a.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(bad), Plaintext: []byte("x")})
		wantCode(t, err, "NotFoundException")
	}

	dk := must(a.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: k.KeyId, KeySpec: types.DataKeySpecAes256, EncryptionContext: ec}))
	if len(dk.Plaintext) != 32 {
		t.Fatalf("data key is %d bytes", len(dk.Plaintext))
	}
	back := must(a.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: dk.CiphertextBlob, EncryptionContext: ec, KeyId: k.Arn}))
	if !bytes.Equal(back.Plaintext, dk.Plaintext) {
		t.Fatal("data key does not decrypt to itself")
	}
	wp := must(a.GenerateDataKeyWithoutPlaintext(ctx, &kms.GenerateDataKeyWithoutPlaintextInput{KeyId: k.KeyId, NumberOfBytes: aws.Int32(16)}))
	if wp.CiphertextBlob == nil {
		t.Fatal("no ciphertext")
	}
	_, err = a.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: k.KeyId})
	wantCode(t, err, "ValidationException")
	pair := must(a.GenerateDataKeyPair(ctx, &kms.GenerateDataKeyPairInput{KeyId: k.KeyId, KeyPairSpec: types.DataKeyPairSpecEccNistP256}))
	priv := must(a.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: pair.PrivateKeyCiphertextBlob})).Plaintext
	if !bytes.Equal(priv, pair.PrivateKeyPlaintext) {
		t.Fatal("private key ciphertext does not decrypt to the private key")
	}
	if _, err := x509.ParsePKIXPublicKey(pair.PublicKey); err != nil {
		t.Fatal(err)
	}
	pwp := must(a.GenerateDataKeyPairWithoutPlaintext(ctx, &kms.GenerateDataKeyPairWithoutPlaintextInput{KeyId: k.KeyId, KeyPairSpec: types.DataKeyPairSpecRsa2048}))
	if pwp.PrivateKeyCiphertextBlob == nil || pwp.PublicKey == nil {
		t.Fatal("GenerateDataKeyPairWithoutPlaintext returned no key pair")
	}
	rnd := must(a.GenerateRandom(ctx, &kms.GenerateRandomInput{NumberOfBytes: aws.Int32(64)}))
	if len(rnd.Plaintext) != 64 {
		t.Fatalf("GenerateRandom = %d bytes", len(rnd.Plaintext))
	}

	k2 := must(a.CreateKey(ctx, &kms.CreateKeyInput{})).KeyMetadata
	re := must(a.ReEncrypt(ctx, &kms.ReEncryptInput{CiphertextBlob: enc.CiphertextBlob, SourceEncryptionContext: ec, DestinationKeyId: k2.KeyId}))
	if aws.ToString(re.SourceKeyId) != aws.ToString(k.Arn) || aws.ToString(re.KeyId) != aws.ToString(k2.Arn) {
		t.Fatalf("ReEncrypt = %+v", re)
	}
	if got := must(a.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: re.CiphertextBlob})).Plaintext; string(got) != "secret" {
		t.Fatalf("re-encrypted = %q", got)
	}
	_, err = a.UpdateAlias(ctx, &kms.UpdateAliasInput{AliasName: aws.String("alias/orders"), TargetKeyId: k2.KeyId})
	if err != nil {
		t.Fatal(err)
	}
	must(a.DeleteAlias(ctx, &kms.DeleteAliasInput{AliasName: aws.String("alias/orders")}))

	// Policies.
	pol := must(a.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: k.KeyId, PolicyName: aws.String("default")}))
	if !strings.Contains(aws.ToString(pol.Policy), "arn:aws:iam::"+acctA+":root") {
		t.Fatalf("default policy = %s", aws.ToString(pol.Policy))
	}
	names := must(a.ListKeyPolicies(ctx, &kms.ListKeyPoliciesInput{KeyId: k.KeyId})).PolicyNames
	if len(names) != 1 || names[0] != "default" {
		t.Fatalf("ListKeyPolicies = %v", names)
	}
	_, err = a.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: k.KeyId, Policy: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acctA + `:user/someone"},"Action":"kms:*","Resource":"*"}]}`)})
	wantCode(t, err, "MalformedPolicyDocumentException")
	must(a.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: k.KeyId, Policy: pol.Policy}))

	// Tags.
	must(a.TagResource(ctx, &kms.TagResourceInput{KeyId: k.KeyId, Tags: []types.Tag{{TagKey: aws.String("env"), TagValue: aws.String("prod")}}}))
	must(a.UntagResource(ctx, &kms.UntagResourceInput{KeyId: k.KeyId, TagKeys: []string{"team"}}))
	tags := must(a.ListResourceTags(ctx, &kms.ListResourceTagsInput{KeyId: k.KeyId})).Tags
	if len(tags) != 1 || aws.ToString(tags[0].TagKey) != "env" {
		t.Fatalf("tags = %+v", tags)
	}
	_, err = a.TagResource(ctx, &kms.TagResourceInput{KeyId: k.KeyId, Tags: []types.Tag{{TagKey: aws.String("aws:x"), TagValue: aws.String("y")}}})
	wantCode(t, err, "TagException")

	// Rotation.
	must(a.EnableKeyRotation(ctx, &kms.EnableKeyRotationInput{KeyId: k.KeyId, RotationPeriodInDays: aws.Int32(180)}))
	st := must(a.GetKeyRotationStatus(ctx, &kms.GetKeyRotationStatusInput{KeyId: k.KeyId}))
	if !st.KeyRotationEnabled || aws.ToInt32(st.RotationPeriodInDays) != 180 || st.NextRotationDate == nil {
		t.Fatalf("rotation status = %+v", st)
	}
	_, err = a.EnableKeyRotation(ctx, &kms.EnableKeyRotationInput{KeyId: k.KeyId, RotationPeriodInDays: aws.Int32(89)})
	wantCode(t, err, "ValidationException")
	must(a.RotateKeyOnDemand(ctx, &kms.RotateKeyOnDemandInput{KeyId: k.KeyId}))
	rots := must(a.ListKeyRotations(ctx, &kms.ListKeyRotationsInput{KeyId: k.KeyId})).Rotations
	if len(rots) != 1 || rots[0].RotationType != types.RotationTypeOnDemand {
		t.Fatalf("rotations = %+v", rots)
	}
	if got := must(a.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec})).Plaintext; string(got) != "secret" {
		t.Fatal("old ciphertext does not decrypt after rotation")
	}
	must(a.DisableKeyRotation(ctx, &kms.DisableKeyRotationInput{KeyId: k.KeyId}))

	// States.
	must(a.DisableKey(ctx, &kms.DisableKeyInput{KeyId: k.KeyId}))
	_, err = a.Encrypt(ctx, &kms.EncryptInput{KeyId: k.KeyId, Plaintext: []byte("x")})
	wantCode(t, err, "DisabledException")
	must(a.EnableKey(ctx, &kms.EnableKeyInput{KeyId: k.KeyId}))
	sd := must(a.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: k.KeyId, PendingWindowInDays: aws.Int32(7)}))
	if sd.KeyState != types.KeyStatePendingDeletion || sd.DeletionDate == nil {
		t.Fatalf("ScheduleKeyDeletion = %+v", sd)
	}
	_, err = a.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec})
	wantCode(t, err, "KMSInvalidStateException")
	_, err = a.EnableKey(ctx, &kms.EnableKeyInput{KeyId: k.KeyId})
	wantCode(t, err, "KMSInvalidStateException")
	must(a.CancelKeyDeletion(ctx, &kms.CancelKeyDeletionInput{KeyId: k.KeyId}))
	if d := must(a.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: k.KeyId})).KeyMetadata; d.KeyState != types.KeyStateDisabled {
		t.Fatalf("after CancelKeyDeletion: %s", d.KeyState)
	}
}

func TestAsymmetricAndHMAC(t *testing.T) {
	_, a, _ := start(t)
	ctx := context.Background()
	msg := []byte("the recovery point manifest")
	digest := sha256.Sum256(msg)
	cases := []struct {
		spec types.KeySpec
		alg  types.SigningAlgorithmSpec
	}{
		{types.KeySpecEccNistP256, types.SigningAlgorithmSpecEcdsaSha256},
		{types.KeySpecRsa2048, types.SigningAlgorithmSpecRsassaPssSha256},
		{types.KeySpecRsa2048, types.SigningAlgorithmSpecRsassaPkcs1V15Sha256},
	}
	for _, tc := range cases {
		t.Run(string(tc.spec)+"/"+string(tc.alg), func(t *testing.T) {
			parent := cur
			cur = t
			defer func() { cur = parent }()
			k := must(a.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: tc.spec, KeyUsage: types.KeyUsageTypeSignVerify})).KeyMetadata
			sig := must(a.Sign(ctx, &kms.SignInput{KeyId: k.KeyId, Message: msg, SigningAlgorithm: tc.alg})).Signature
			v := must(a.Verify(ctx, &kms.VerifyInput{KeyId: k.KeyId, Message: digest[:], MessageType: types.MessageTypeDigest, Signature: sig, SigningAlgorithm: tc.alg}))
			if !v.SignatureValid {
				t.Fatal("signature not valid")
			}
			_, err := a.Verify(ctx, &kms.VerifyInput{KeyId: k.KeyId, Message: []byte("other"), Signature: sig, SigningAlgorithm: tc.alg})
			wantCode(t, err, "KMSInvalidSignatureException")
			// Verify outside KMS with the public key.
			pk := must(a.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: k.KeyId}))
			pub := must(x509.ParsePKIXPublicKey(pk.PublicKey))
			var ok bool
			switch p := pub.(type) {
			case *ecdsa.PublicKey:
				ok = ecdsa.VerifyASN1(p, digest[:], sig)
			case *rsa.PublicKey:
				if tc.alg == types.SigningAlgorithmSpecRsassaPssSha256 {
					ok = rsa.VerifyPSS(p, crypto.SHA256, digest[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil
				} else {
					ok = rsa.VerifyPKCS1v15(p, crypto.SHA256, digest[:], sig) == nil
				}
			}
			if !ok {
				t.Fatal("crypto/ecdsa or crypto/rsa rejects the KMS signature")
			}
		})
	}
	// RSA encryption: encrypt outside KMS with the public key, decrypt in KMS.
	rk := must(a.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: types.KeySpecRsa2048})).KeyMetadata
	pk := must(a.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: rk.KeyId}))
	pub := must(x509.ParsePKIXPublicKey(pk.PublicKey)).(*rsa.PublicKey)
	ct := must(rsa.EncryptOAEP(sha256.New(), rand.Reader, pub, []byte("wrapped"), nil))
	pt := must(a.Decrypt(ctx, &kms.DecryptInput{KeyId: rk.KeyId, CiphertextBlob: ct, EncryptionAlgorithm: types.EncryptionAlgorithmSpecRsaesOaepSha256})).Plaintext
	if string(pt) != "wrapped" {
		t.Fatalf("RSA decrypt = %q", pt)
	}
	_, err := a.Encrypt(ctx, &kms.EncryptInput{KeyId: rk.KeyId, Plaintext: make([]byte, 191), EncryptionAlgorithm: types.EncryptionAlgorithmSpecRsaesOaepSha256})
	wantCode(t, err, "ValidationException")
	// Signing with a symmetric key.
	sym := must(a.CreateKey(ctx, &kms.CreateKeyInput{})).KeyMetadata
	_, err = a.Sign(ctx, &kms.SignInput{KeyId: sym.KeyId, Message: msg, SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
	wantCode(t, err, "InvalidKeyUsageException")
	_, err = a.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: sym.KeyId})
	wantCode(t, err, "UnsupportedOperationException")
	_, err = a.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: types.KeySpecEccNistP256, KeyUsage: types.KeyUsageTypeEncryptDecrypt})
	wantCode(t, err, "ValidationException")
	// HMAC.
	hk := must(a.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: types.KeySpecHmac256, KeyUsage: types.KeyUsageTypeGenerateVerifyMac})).KeyMetadata
	mac := must(a.GenerateMac(ctx, &kms.GenerateMacInput{KeyId: hk.KeyId, Message: msg, MacAlgorithm: types.MacAlgorithmSpecHmacSha256})).Mac
	if v := must(a.VerifyMac(ctx, &kms.VerifyMacInput{KeyId: hk.KeyId, Message: msg, Mac: mac, MacAlgorithm: types.MacAlgorithmSpecHmacSha256})); !v.MacValid {
		t.Fatal("MAC not valid")
	}
	mac[0] ^= 1
	_, err = a.VerifyMac(ctx, &kms.VerifyMacInput{KeyId: hk.KeyId, Message: msg, Mac: mac, MacAlgorithm: types.MacAlgorithmSpecHmacSha256})
	wantCode(t, err, "KMSInvalidMacException")
	_, err = a.GenerateMac(ctx, &kms.GenerateMacInput{KeyId: hk.KeyId, Message: msg, MacAlgorithm: types.MacAlgorithmSpecHmacSha512})
	wantCode(t, err, "InvalidKeyUsageException")
}

// The seed's steps: a CMK in A shared with B; B uses it by ARN only, and
// only what AWS allows across accounts.
func TestCrossAccountSeed(t *testing.T) {
	_, a, b := start(t)
	ctx := context.Background()
	policy := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[
		{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:root"},"Action":"kms:*","Resource":"*"},
		{"Sid":"Allow use of the key by the backup account","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:root"},
		 "Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey","kms:CreateGrant","kms:ListGrants","kms:RevokeGrant"],"Resource":"*"}]}`, acctA, acctB)
	src := must(a.CreateKey(ctx, &kms.CreateKeyInput{Policy: aws.String(policy)})).KeyMetadata
	must(a.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/source-cmk"), TargetKeyId: src.KeyId}))
	enc := must(a.Encrypt(ctx, &kms.EncryptInput{KeyId: src.KeyId, Plaintext: []byte("rds snapshot key")}))
	// B (administrator: its IAM policy allows) with the key ARN.
	if got := must(b.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})).Plaintext; string(got) != "rds snapshot key" {
		t.Fatalf("B decrypts %q", got)
	}
	must(b.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: src.Arn, KeySpec: types.DataKeySpecAes256}))
	must(b.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: src.Arn}))
	g := must(b.CreateGrant(ctx, &kms.CreateGrantInput{KeyId: src.Arn, GranteePrincipal: aws.String("arn:aws:iam::" + acctB + ":role/copier"), Operations: []types.GrantOperation{types.GrantOperationDecrypt}}))
	if grants := must(b.ListGrants(ctx, &kms.ListGrantsInput{KeyId: src.Arn})).Grants; len(grants) != 1 || aws.ToString(grants[0].GrantId) != aws.ToString(g.GrantId) {
		t.Fatalf("ListGrants = %+v", grants)
	}
	retirable := must(a.ListRetirableGrants(ctx, &kms.ListRetirableGrantsInput{RetiringPrincipal: aws.String("arn:aws:iam::" + acctB + ":role/copier")})).Grants
	if len(retirable) != 0 {
		t.Fatalf("ListRetirableGrants = %+v", retirable)
	}
	must(b.RevokeGrant(ctx, &kms.RevokeGrantInput{KeyId: src.Arn, GrantId: g.GrantId}))
	// Not by alias or key ID.
	_, err := b.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String("alias/source-cmk"), Plaintext: []byte("x")})
	wantCode(t, err, "NotFoundException")
	_, err = b.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String("arn:aws:kms:us-east-1:" + acctA + ":alias/source-cmk"), Plaintext: []byte("x")})
	wantCode(t, err, "NotFoundException")
	_, err = b.Encrypt(ctx, &kms.EncryptInput{KeyId: src.KeyId, Plaintext: []byte("x")})
	wantCode(t, err, "NotFoundException")
	// Not the operations AWS keeps to the owner.
	_, err = b.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: src.Arn, Policy: aws.String(policy)})
	wantCode(t, err, "AccessDeniedException")
	_, err = b.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: src.Arn})
	wantCode(t, err, "AccessDeniedException")
	_, err = b.DisableKey(ctx, &kms.DisableKeyInput{KeyId: src.Arn})
	wantCode(t, err, "AccessDeniedException")
	// B's own CMK, which A cannot touch although A is an administrator.
	bk := must(b.CreateKey(ctx, &kms.CreateKeyInput{})).KeyMetadata
	_, err = a.Encrypt(ctx, &kms.EncryptInput{KeyId: bk.Arn, Plaintext: []byte("x")})
	wantCode(t, err, "AccessDeniedException")
	_, err = a.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: bk.Arn})
	wantCode(t, err, "AccessDeniedException")
	// The key policy stopped naming B: B is denied.
	must(a.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: src.KeyId, Policy: aws.String(fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:root"},"Action":"kms:*","Resource":"*"}]}`, acctA))}))
	_, err = b.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	wantCode(t, err, "AccessDeniedException")
}

func TestAWSCLI(t *testing.T) {
	cli := testenv.AWSCLIv2(t)
	c, _, _ := start(t)
	run := func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command(cli, append([]string{"--endpoint-url", c.URL, "--region", "us-east-1", "--output", "json"}, args...)...)
		cmd.Env = c.CLIEnv("a")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	var created struct{ KeyMetadata struct{ KeyId, Arn string } }
	if err := json.Unmarshal(run("kms", "create-key", "--description", "cli"), &created); err != nil {
		t.Fatal(err)
	}
	run("kms", "create-alias", "--alias-name", "alias/cli", "--target-key-id", created.KeyMetadata.KeyId)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "pt"), []byte("from the cli"), 0o600)
	var enc struct{ CiphertextBlob string }
	if err := json.Unmarshal(run("kms", "encrypt", "--key-id", "alias/cli", "--plaintext", "fileb://"+filepath.Join(dir, "pt"), "--encryption-context", "app=cli"), &enc); err != nil {
		t.Fatal(err)
	}
	var dec struct{ Plaintext, KeyId string }
	ctPath := filepath.Join(dir, "ct")
	raw, _ := decodeB64(enc.CiphertextBlob)
	os.WriteFile(ctPath, raw, 0o600)
	if err := json.Unmarshal(run("kms", "decrypt", "--ciphertext-blob", "fileb://"+ctPath, "--encryption-context", "app=cli"), &dec); err != nil {
		t.Fatal(err)
	}
	pt, _ := decodeB64(dec.Plaintext)
	if string(pt) != "from the cli" || dec.KeyId != created.KeyMetadata.Arn {
		t.Fatalf("decrypt = %q from %s", pt, dec.KeyId)
	}
	var list struct{ Aliases []struct{ AliasName string } }
	json.Unmarshal(run("kms", "list-aliases"), &list)
	if len(list.Aliases) != 1 || list.Aliases[0].AliasName != "alias/cli" {
		t.Fatalf("list-aliases = %+v", list)
	}
	run("kms", "schedule-key-deletion", "--key-id", created.KeyMetadata.KeyId, "--pending-window-in-days", "7")
}
