package rootkey_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/coffer-dev/coffer/internal/rootkey"
	"github.com/coffer-dev/coffer/internal/testenv"
)

// TestKMSProvider keeps the root of trust in another coffer process's
// KMS, reached with the AWS SDK as any KMS would be.
func TestKMSProvider(t *testing.T) {
	trust := testenv.StartCoffer(t, nil)
	client := kms.NewFromConfig(trust.AWSConfig(t, trust.Profile(t, "default")))
	ctx := context.Background()
	k, err := client.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	p := rootkey.NewKMS(client, *k.KeyMetadata.Arn)
	secret := []byte("key material of some KMS key")
	aad := []byte("kms/key-material/arn:aws:kms:us-east-1:000000000000:key/x/1")
	sealed, err := p.Seal(ctx, secret, aad)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, secret) {
		t.Fatal("sealed bytes contain the secret")
	}
	got, err := p.Open(ctx, sealed, aad)
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := p.Open(ctx, sealed, []byte("another record")); !errors.Is(err, rootkey.ErrOpen) {
		t.Fatalf("Open with other aad: %v, want ErrOpen", err)
	}
	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-1] ^= 1
	if _, err := p.Open(ctx, tampered, aad); !errors.Is(err, rootkey.ErrOpen) {
		t.Fatalf("Open of tampered: %v, want ErrOpen", err)
	}
	// Disabling the key in the external service cuts off every secret.
	if _, err := client.DisableKey(ctx, &kms.DisableKeyInput{KeyId: k.KeyMetadata.KeyId}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Open(ctx, sealed, aad); err == nil {
		t.Fatal("Open succeeded with the root key disabled")
	}
}
