package localkeys

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"
)

func TestWrapUnwrap(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "kek")
	k, err := LoadOrCreate(path)
	if err != nil {
		t.Fatal(err)
	}
	ec := map[string]string{"coffer:vault": "v", "coffer:domain": "d"}
	plain, wrapped, err := k.GenerateDataKey(ctx, "arn:a", ec)
	if err != nil || len(plain) != 32 || bytes.Contains(wrapped, plain) {
		t.Fatalf("generate: %x %x %v", plain, wrapped, err)
	}
	again, _ := LoadOrCreate(path)
	got, err := again.Decrypt(ctx, "arn:a", wrapped, ec)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("decrypt with the reloaded root: %v", err)
	}
	if _, err := k.Decrypt(ctx, "arn:b", wrapped, ec); err == nil {
		t.Fatal("opened under another key ARN")
	}
	if _, err := k.Decrypt(ctx, "arn:a", wrapped, map[string]string{"coffer:vault": "w", "coffer:domain": "d"}); err == nil {
		t.Fatal("opened with another encryption context")
	}
	if _, err := New().Decrypt(ctx, "arn:a", wrapped, ec); err == nil {
		t.Fatal("opened under another root")
	}
	k.Authorize = func(ctx context.Context, op, arn string) error { return errors.New("denied by policy") }
	if _, err := k.Decrypt(ctx, "arn:a", wrapped, ec); !errors.Is(err, ErrRefused) {
		t.Fatalf("refused decrypt: %v", err)
	}
	k.Authorize = nil
	k.Disable("arn:a")
	if _, _, err := k.GenerateDataKey(ctx, "arn:a", ec); !errors.Is(err, ErrRefused) {
		t.Fatalf("disabled key: %v", err)
	}
}
