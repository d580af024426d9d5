package kms_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coffer-dev/coffer/internal/kms"
)

func TestEncryptDecryptContext(t *testing.T) {
	e := newEnv(t)
	ctx := e.adminA()
	k := e.createKey(ctx, nil)
	ec := map[string]string{"purpose": "test", "db": "orders"}
	out, err := e.svc.Encrypt(ctx, &kms.EncryptInput{KeyId: k.KeyId, Plaintext: []byte("hello"), EncryptionContext: ec})
	if err != nil {
		t.Fatal(err)
	}
	dec, err := e.svc.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: out.CiphertextBlob, EncryptionContext: map[string]string{"db": "orders", "purpose": "test"}})
	if err != nil {
		t.Fatal(err)
	}
	if string(dec.Plaintext) != "hello" || dec.KeyId != k.Arn {
		t.Fatalf("Decrypt = %q from %s", dec.Plaintext, dec.KeyId)
	}
	_, err = e.svc.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: out.CiphertextBlob, EncryptionContext: map[string]string{"db": "orderz", "purpose": "test"}})
	wantCode(t, err, "InvalidCiphertextException")
	other := e.createKey(ctx, nil)
	_, err = e.svc.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: out.CiphertextBlob, EncryptionContext: ec, KeyId: other.KeyId})
	wantCode(t, err, "IncorrectKeyException")
	_, err = e.svc.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: out.CiphertextBlob[:40], EncryptionContext: ec})
	wantCode(t, err, "InvalidCiphertextException")
	_, err = e.svc.Encrypt(ctx, &kms.EncryptInput{KeyId: k.KeyId, Plaintext: make([]byte, 4097)})
	wantCode(t, err, "ValidationException")
}

func TestRotationKeepsOldCiphertexts(t *testing.T) {
	e := newEnv(t)
	ctx := e.adminA()
	k := e.createKey(ctx, nil)
	first, err := e.svc.Encrypt(ctx, &kms.EncryptInput{KeyId: k.KeyId, Plaintext: []byte("before")})
	if err != nil {
		t.Fatal(err)
	}
	// Two on-demand rotations and one automatic one.
	for range 2 {
		if _, err := e.svc.RotateKeyOnDemand(ctx, &kms.KeyInput{KeyId: k.KeyId}); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.svc.EnableKeyRotation(ctx, &kms.RotationInput{KeyId: k.KeyId, RotationPeriodInDays: 90}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(91 * 24 * time.Hour)
	if err := e.svc.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	rots, err := e.svc.ListKeyRotations(ctx, &kms.ListKeyRotationsInput{KeyId: k.KeyId})
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, r := range rots.Rotations {
		types = append(types, r.RotationType)
	}
	if got := strings.Join(types, ","); got != "ON_DEMAND,ON_DEMAND,AUTOMATIC" {
		t.Fatalf("rotations = %s", got)
	}
	after, err := e.svc.Encrypt(ctx, &kms.EncryptInput{KeyId: k.KeyId, Plaintext: []byte("after")})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(first.CiphertextBlob[17:21], after.CiphertextBlob[17:21]) {
		t.Fatal("new ciphertexts still use the first material version")
	}
	// A fresh service (a restart, another node) decrypts both.
	svc := e.open(e.clock.Now)
	for _, ct := range [][]byte{first.CiphertextBlob, after.CiphertextBlob} {
		if _, err := svc.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: ct}); err != nil {
			t.Fatal(err)
		}
	}
	st, err := e.svc.GetKeyRotationStatus(ctx, &kms.KeyInput{KeyId: k.KeyId})
	if err != nil || !st.KeyRotationEnabled || st.RotationPeriodInDays != 90 {
		t.Fatalf("rotation status = %+v, %v", st, err)
	}
}

func TestOnDemandRotationLimit(t *testing.T) {
	e := newEnv(t)
	ctx := e.adminA()
	k := e.createKey(ctx, nil)
	for range 10 {
		if _, err := e.svc.RotateKeyOnDemand(ctx, &kms.KeyInput{KeyId: k.KeyId}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := e.svc.RotateKeyOnDemand(ctx, &kms.KeyInput{KeyId: k.KeyId})
	wantCode(t, err, "LimitExceededException")
	hmacKey := e.createKey(ctx, &kms.CreateKeyInput{KeySpec: "HMAC_256", KeyUsage: "GENERATE_VERIFY_MAC"})
	_, err = e.svc.RotateKeyOnDemand(ctx, &kms.KeyInput{KeyId: hmacKey.KeyId})
	wantCode(t, err, "UnsupportedOperationException")
}

func TestDeletionWindowAndSweeper(t *testing.T) {
	e := newEnv(t)
	ctx := e.adminA()
	k := e.createKey(ctx, nil)
	if err := e.svc.CreateAlias(ctx, &kms.AliasInput{AliasName: "alias/doomed", TargetKeyId: k.KeyId}); err != nil {
		t.Fatal(err)
	}
	ct, err := e.svc.Encrypt(ctx, &kms.EncryptInput{KeyId: "alias/doomed", Plaintext: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	for _, days := range []int{6, 31} {
		_, err := e.svc.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: k.KeyId, PendingWindowInDays: days})
		wantCode(t, err, "ValidationException")
	}
	out, err := e.svc.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: k.KeyId, PendingWindowInDays: 7})
	if err != nil {
		t.Fatal(err)
	}
	if want := e.clock.Now().Add(7 * 24 * time.Hour); !out.DeletionDate.Equal(want) {
		t.Fatalf("DeletionDate = %v, want %v", out.DeletionDate, want)
	}
	_, err = e.svc.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: ct.CiphertextBlob})
	wantCode(t, err, "KMSInvalidStateException")
	// Cancel returns it to Disabled; re-schedule.
	if _, err := e.svc.CancelKeyDeletion(ctx, &kms.KeyInput{KeyId: k.KeyId}); err != nil {
		t.Fatal(err)
	}
	m, _ := e.svc.DescribeKey(ctx, &kms.KeyInput{KeyId: k.KeyId})
	if m.KeyState != kms.StateDisabled {
		t.Fatalf("after cancel: %s", m.KeyState)
	}
	_, err = e.svc.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: ct.CiphertextBlob})
	wantCode(t, err, "DisabledException")
	if _, err := e.svc.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: k.KeyId, PendingWindowInDays: 7}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(7*24*time.Hour - time.Second)
	if err := e.svc.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.DescribeKey(ctx, &kms.KeyInput{KeyId: k.KeyId}); err != nil {
		t.Fatalf("key gone before its window ended: %v", err)
	}
	e.clock.Advance(time.Second)
	// The sweep state is in the store: a restarted service finishes it.
	// (The old one would see the change within its cache's second, as
	// another node does; the checks go through the restarted one.)
	restarted := e.open(e.clock.Now)
	if err := restarted.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, err = restarted.DescribeKey(ctx, &kms.KeyInput{KeyId: k.KeyId})
	wantCode(t, err, "NotFoundException")
	_, err = restarted.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: ct.CiphertextBlob})
	wantCode(t, err, "NotFoundException")
	_, err = restarted.Encrypt(ctx, &kms.EncryptInput{KeyId: "alias/doomed", Plaintext: []byte("x")})
	wantCode(t, err, "NotFoundException")
	keys, _ := restarted.ListKeys(ctx, &kms.ListKeysInput{})
	if len(keys.Keys) != 0 {
		t.Fatalf("ListKeys shows the deleted key: %+v", keys.Keys)
	}
}

func TestCrossAccountNeedsBothPolicies(t *testing.T) {
	e := newEnv(t)
	a := e.adminA()
	shared := e.createKey(a, &kms.CreateKeyInput{Policy: fmt.Sprintf(`{"Version":"2012-10-17","Statement":[
		{"Sid":"owner","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:root"},"Action":"kms:*","Resource":"*"},
		{"Sid":"backup account","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:root"},
		 "Action":["kms:Decrypt","kms:Encrypt","kms:GenerateDataKey*","kms:DescribeKey","kms:CreateGrant","kms:ReEncrypt*"],"Resource":"*"}]}`, acctA, acctB)})
	private := e.createKey(a, nil)
	if err := e.svc.CreateAlias(a, &kms.AliasInput{AliasName: "alias/source-cmk", TargetKeyId: shared.KeyId}); err != nil {
		t.Fatal(err)
	}
	ct, err := e.svc.Encrypt(a, &kms.EncryptInput{KeyId: shared.KeyId, Plaintext: []byte("data key")})
	if err != nil {
		t.Fatal(err)
	}

	// B's user without an IAM policy for the key: denied, though the key
	// policy names B's account.
	noIAM := e.user(e.adminB(), "app", "")
	_, err = e.svc.Decrypt(noIAM, &kms.DecryptInput{CiphertextBlob: ct.CiphertextBlob})
	wantCode(t, err, "AccessDeniedException")
	_, err = e.svc.GenerateDataKey(noIAM, &kms.GenerateDataKeyInput{KeyId: shared.Arn, KeySpec: "AES_256"})
	wantCode(t, err, "AccessDeniedException")

	// With an IAM policy allowing the key: allowed.
	withIAM := e.user(e.adminB(), "copier", fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
		"Action":["kms:Decrypt","kms:GenerateDataKey","kms:CreateGrant","kms:DescribeKey"],"Resource":"%s"}]}`, shared.Arn))
	dec, err := e.svc.Decrypt(withIAM, &kms.DecryptInput{CiphertextBlob: ct.CiphertextBlob})
	if err != nil || string(dec.Plaintext) != "data key" {
		t.Fatalf("Decrypt as B = %q, %v", dec, err)
	}
	if _, err := e.svc.GenerateDataKey(withIAM, &kms.GenerateDataKeyInput{KeyId: shared.Arn, KeySpec: "AES_256"}); err != nil {
		t.Fatal(err)
	}
	g, err := e.svc.CreateGrant(withIAM, &kms.CreateGrantInput{KeyId: shared.Arn, GranteePrincipal: "arn:aws:iam::" + acctB + ":role/worker", Operations: []string{"Decrypt"}})
	if err != nil || g.GrantId == "" {
		t.Fatalf("CreateGrant as B = %+v, %v", g, err)
	}
	// B's IAM allows the private key too, but its key policy does not name B.
	_, err = e.svc.Encrypt(e.adminB(), &kms.EncryptInput{KeyId: private.Arn, Plaintext: []byte("x")})
	wantCode(t, err, "AccessDeniedException")
	// Never by key ID or alias: those resolve in B's own account.
	_, err = e.svc.Decrypt(withIAM, &kms.DecryptInput{CiphertextBlob: ct.CiphertextBlob, KeyId: "alias/source-cmk"})
	wantCode(t, err, "NotFoundException")
	_, err = e.svc.Encrypt(e.adminB(), &kms.EncryptInput{KeyId: kms.AliasARN(region, acctA, "alias/source-cmk"), Plaintext: []byte("x")})
	wantCode(t, err, "NotFoundException")
	_, err = e.svc.Encrypt(e.adminB(), &kms.EncryptInput{KeyId: shared.KeyId, Plaintext: []byte("x")})
	wantCode(t, err, "NotFoundException")
	// Operations AWS does not allow across accounts.
	err = e.svc.PutKeyPolicy(e.adminB(), &kms.PutKeyPolicyInput{KeyId: shared.Arn, Policy: kms.DefaultKeyPolicy(acctB)})
	wantCode(t, err, "AccessDeniedException")
	_, err = e.svc.ScheduleKeyDeletion(e.adminB(), &kms.ScheduleKeyDeletionInput{KeyId: shared.Arn})
	wantCode(t, err, "AccessDeniedException")
	if m, _ := e.svc.DescribeKey(a, &kms.KeyInput{KeyId: shared.KeyId}); m.KeyState != kms.StateEnabled {
		t.Fatalf("state changed by a refused call: %s", m.KeyState)
	}
	// Another region: not found.
	other := context.WithoutCancel(withIAM)
	_, err = e.svc.Decrypt(other, &kms.DecryptInput{Call: kms.Call{Region: "eu-west-1"}, CiphertextBlob: ct.CiphertextBlob})
	wantCode(t, err, "InvalidCiphertextException")
}

func TestGrantsAddPermissions(t *testing.T) {
	e := newEnv(t)
	a := e.adminA()
	k := e.createKey(a, nil)
	worker := e.user(a, "worker", "") // no IAM policy at all
	ec := map[string]string{"job": "42"}
	ct, err := e.svc.Encrypt(a, &kms.EncryptInput{KeyId: k.KeyId, Plaintext: []byte("p"), EncryptionContext: ec})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Decrypt(worker, &kms.DecryptInput{CiphertextBlob: ct.CiphertextBlob, EncryptionContext: ec})
	wantCode(t, err, "AccessDeniedException")
	workerARN := "arn:aws:iam::" + acctA + ":user/worker"
	g, err := e.svc.CreateGrant(a, &kms.CreateGrantInput{KeyId: k.KeyId, GranteePrincipal: workerARN, RetiringPrincipal: workerARN,
		Operations: []string{"Decrypt"}, Constraints: &kms.GrantConstraints{EncryptionContextSubset: map[string]string{"job": "42"}}, Name: "job-42"})
	if err != nil {
		t.Fatal(err)
	}
	again, err := e.svc.CreateGrant(a, &kms.CreateGrantInput{KeyId: k.KeyId, GranteePrincipal: workerARN, RetiringPrincipal: workerARN,
		Operations: []string{"Decrypt"}, Constraints: &kms.GrantConstraints{EncryptionContextSubset: map[string]string{"job": "42"}}, Name: "job-42"})
	if err != nil || again.GrantId != g.GrantId {
		t.Fatalf("repeated named CreateGrant = %v, %v; want the same grant", again, err)
	}
	if _, err := e.svc.Decrypt(worker, &kms.DecryptInput{CiphertextBlob: ct.CiphertextBlob, EncryptionContext: ec, GrantTokens: []string{g.GrantToken}}); err != nil {
		t.Fatal(err)
	}
	// The constraint: another job's ciphertext is refused.
	ct2, _ := e.svc.Encrypt(a, &kms.EncryptInput{KeyId: k.KeyId, Plaintext: []byte("p"), EncryptionContext: map[string]string{"job": "43"}})
	_, err = e.svc.Decrypt(worker, &kms.DecryptInput{CiphertextBlob: ct2.CiphertextBlob, EncryptionContext: map[string]string{"job": "43"}})
	wantCode(t, err, "AccessDeniedException")
	// Only Decrypt was granted.
	_, err = e.svc.Encrypt(worker, &kms.EncryptInput{KeyId: k.Arn, Plaintext: []byte("p"), EncryptionContext: ec})
	wantCode(t, err, "AccessDeniedException")
	_, err = e.svc.Decrypt(worker, &kms.DecryptInput{CiphertextBlob: ct.CiphertextBlob, EncryptionContext: ec, GrantTokens: []string{"not-a-token"}})
	wantCode(t, err, "InvalidGrantTokenException")
	list, err := e.svc.ListGrants(a, &kms.ListGrantsInput{KeyId: k.KeyId})
	if err != nil || len(list.Grants) != 1 || list.Grants[0].GranteePrincipal != workerARN {
		t.Fatalf("ListGrants = %+v, %v", list, err)
	}
	// The retiring principal retires it; then Decrypt is denied again.
	other := e.user(a, "other", "")
	wantCode(t, e.svc.RetireGrant(other, &kms.RetireGrantInput{GrantToken: g.GrantToken}), "AccessDeniedException")
	if err := e.svc.RetireGrant(worker, &kms.RetireGrantInput{GrantToken: g.GrantToken}); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Decrypt(worker, &kms.DecryptInput{CiphertextBlob: ct.CiphertextBlob, EncryptionContext: ec})
	wantCode(t, err, "AccessDeniedException")
	// RevokeGrant by the key's administrator.
	g2, err := e.svc.CreateGrant(a, &kms.CreateGrantInput{KeyId: k.KeyId, GranteePrincipal: workerARN, Operations: []string{"Encrypt"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.RevokeGrant(a, &kms.RevokeGrantInput{KeyId: k.KeyId, GrantId: g2.GrantId}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, e.svc.RevokeGrant(a, &kms.RevokeGrantInput{KeyId: k.KeyId, GrantId: g2.GrantId}), "NotFoundException")
	_, err = e.svc.CreateGrant(a, &kms.CreateGrantInput{KeyId: k.KeyId, GranteePrincipal: workerARN, Operations: []string{"Sign"}})
	wantCode(t, err, "ValidationException")
}

func TestPolicyLockoutAndConditions(t *testing.T) {
	e := newEnv(t)
	a := e.adminA()
	lockout := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:user/nobody"},"Action":"kms:*","Resource":"*"}]}`, acctA)
	_, err := e.svc.CreateKey(a, &kms.CreateKeyInput{Policy: lockout})
	wantCode(t, err, "MalformedPolicyDocumentException")
	k := e.createKey(a, nil)
	wantCode(t, e.svc.PutKeyPolicy(a, &kms.PutKeyPolicyInput{KeyId: k.KeyId, Policy: lockout}), "MalformedPolicyDocumentException")
	wantCode(t, e.svc.PutKeyPolicy(a, &kms.PutKeyPolicyInput{KeyId: k.KeyId, Policy: `{"Statement":[]`}), "MalformedPolicyDocumentException")
	doc, _ := e.svc.GetKeyPolicy(a, &kms.KeyPolicyInput{KeyId: k.KeyId})
	if doc != kms.DefaultKeyPolicy(acctA) {
		t.Fatalf("policy changed by a refused call: %s", doc)
	}
	// A policy whose statement needs a matching encryption context.
	conditional := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[
		{"Sid":"admin","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%[1]s:user/admin"},"Action":"kms:*","Resource":"*"},
		{"Sid":"ec","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%[1]s:user/app"},"Action":"kms:Encrypt","Resource":"*",
		 "Condition":{"StringEquals":{"kms:EncryptionContext:tenant":"blue","kms:CallerAccount":"%[1]s"},"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["tenant"]}}},
		{"Sid":"alias","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%[1]s:user/app"},"Action":"kms:DescribeKey","Resource":"*",
		 "Condition":{"StringEquals":{"kms:RequestAlias":"alias/blue"}}}]}`, acctA)
	if err := e.svc.PutKeyPolicy(a, &kms.PutKeyPolicyInput{KeyId: k.KeyId, Policy: conditional}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.CreateAlias(a, &kms.AliasInput{AliasName: "alias/blue", TargetKeyId: k.KeyId}); err != nil {
		t.Fatal(err)
	}
	app := e.user(a, "app", "")
	if _, err := e.svc.Encrypt(app, &kms.EncryptInput{KeyId: k.KeyId, Plaintext: []byte("x"), EncryptionContext: map[string]string{"tenant": "blue"}}); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Encrypt(app, &kms.EncryptInput{KeyId: k.KeyId, Plaintext: []byte("x"), EncryptionContext: map[string]string{"tenant": "red"}})
	wantCode(t, err, "AccessDeniedException")
	_, err = e.svc.Encrypt(app, &kms.EncryptInput{KeyId: k.KeyId, Plaintext: []byte("x"), EncryptionContext: map[string]string{"tenant": "blue", "x": "y"}})
	wantCode(t, err, "AccessDeniedException")
	if _, err := e.svc.DescribeKey(app, &kms.KeyInput{KeyId: "alias/blue"}); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.DescribeKey(app, &kms.KeyInput{KeyId: k.KeyId})
	wantCode(t, err, "AccessDeniedException")
}

func TestManagedKey(t *testing.T) {
	e := newEnv(t)
	a := e.adminA()
	arn, err := e.svc.ManagedKey(context.Background(), acctA, region, "backup")
	if err != nil {
		t.Fatal(err)
	}
	again, err := e.svc.ManagedKey(context.Background(), acctA, region, "backup")
	if err != nil || again != arn {
		t.Fatalf("second ManagedKey = %s, %v; want %s", again, err, arn)
	}
	m, err := e.svc.DescribeKey(a, &kms.KeyInput{KeyId: "alias/aws/backup"})
	if err != nil || m.KeyManager != kms.ManagerAWS || m.Arn != arn {
		t.Fatalf("DescribeKey(alias/aws/backup) = %+v, %v", m, err)
	}
	via := kms.Call{ViaService: kms.ViaService("backup", region)}
	dk, err := e.svc.GenerateDataKey(a, &kms.GenerateDataKeyInput{Call: via, KeyId: arn, KeySpec: "AES_256"})
	if err != nil {
		t.Fatal(err)
	}
	// Not directly, not through another service.
	_, err = e.svc.GenerateDataKey(a, &kms.GenerateDataKeyInput{KeyId: arn, KeySpec: "AES_256"})
	wantCode(t, err, "AccessDeniedException")
	_, err = e.svc.Decrypt(a, &kms.DecryptInput{Call: kms.Call{ViaService: kms.ViaService("rds", region)}, CiphertextBlob: dk.CiphertextBlob})
	wantCode(t, err, "AccessDeniedException")
	// Not changeable by its own account.
	wantCode(t, e.svc.DisableKey(a, &kms.KeyInput{KeyId: arn}), "AccessDeniedException")
	_, err = e.svc.ScheduleKeyDeletion(a, &kms.ScheduleKeyDeletionInput{KeyId: arn})
	wantCode(t, err, "AccessDeniedException")
	wantCode(t, e.svc.PutKeyPolicy(a, &kms.PutKeyPolicyInput{KeyId: arn, Policy: kms.DefaultKeyPolicy(acctA)}), "AccessDeniedException")
	_, err = e.svc.RotateKeyOnDemand(a, &kms.KeyInput{KeyId: arn})
	wantCode(t, err, "AccessDeniedException")
	wantCode(t, e.svc.CreateAlias(a, &kms.AliasInput{AliasName: "alias/aws/mine", TargetKeyId: arn}), "InvalidAliasNameException")
	// Never by another account, even through the service.
	b := e.adminB()
	for _, call := range []kms.Call{{}, via} {
		_, err = e.svc.Decrypt(b, &kms.DecryptInput{Call: call, CiphertextBlob: dk.CiphertextBlob})
		wantCode(t, err, "AccessDeniedException")
		_, err = e.svc.DescribeKey(b, &kms.KeyInput{Call: call, KeyId: arn})
		wantCode(t, err, "AccessDeniedException")
		_, err = e.svc.CreateGrant(b, &kms.CreateGrantInput{Call: call, KeyId: arn, GranteePrincipal: "arn:aws:iam::" + acctB + ":root", Operations: []string{"Decrypt"}})
		wantCode(t, err, "AccessDeniedException")
	}
	// Through the service, the owner decrypts.
	if _, err := e.svc.Decrypt(a, &kms.DecryptInput{Call: via, CiphertextBlob: dk.CiphertextBlob}); err != nil {
		t.Fatal(err)
	}
}

func TestKeyMaterialInRegionBlobStore(t *testing.T) {
	e := newEnv(t)
	a := e.adminA()
	k := e.createKey(a, nil)
	if _, err := e.svc.RotateKeyOnDemand(a, &kms.KeyInput{KeyId: k.KeyId}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"material/1", "material/2", "metadata.json"} {
		path := fmt.Sprintf("%s/regions/%s/kms/kms/%s/%s/%s", e.dir, region, acctA, k.KeyId, name)
		b, err := readFile(path)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if strings.HasPrefix(name, "material") && len(b) != 1+8+12+32+16 {
			t.Errorf("%s is %d bytes, want a sealed 32-byte key", name, len(b))
		}
	}
}
