package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coffer-dev/coffer/internal/blob"
	blobfs "github.com/coffer-dev/coffer/internal/blob/fs"
	"github.com/coffer-dev/coffer/internal/config"
	"github.com/coffer-dev/coffer/internal/identity"
	"github.com/coffer-dev/coffer/internal/kms"
	"github.com/coffer-dev/coffer/internal/meta/sqlite"
	"github.com/coffer-dev/coffer/internal/rootkey"
	"github.com/coffer-dev/coffer/internal/storage"
	"github.com/coffer-dev/coffer/internal/vaultstore"
	"github.com/coffer-dev/coffer/internal/vaultstore/dumpgen"
	"github.com/coffer-dev/coffer/internal/vaultstore/localkeys"
)

func runVault(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := vaultCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

// The vault commands on a data directory holding one recovery point
// written with local keys: verify, damage, verify names it, rebuild, gc.
func TestVaultCommands(t *testing.T) {
	dir := t.TempDir()
	kek := filepath.Join(dir, "kek")
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "coffer.db"))
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := localkeys.LoadOrCreate(kek)
	regions, _ := storage.New(storage.Config{}, dir, config.DefaultRegions, storage.Options{})
	e, _ := vaultstore.Open(db, keys, regions, vaultstore.Options{PackSize: 1 << 20})
	w, err := e.NewWriter(ctx, vaultstore.Domain{Region: "us-east-1", Vault: "111122223333.prod", KeyARN: "arn:aws:kms:us-east-1:111122223333:key/k"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(mustRead(t, dumpgen.Reader(dumpgen.Base, 4<<20)))
	id, _, err := w.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	common := []string{"--data-dir", dir, "--local-keys", kek}

	out, err := runVault(t, append([]string{"verify", "--data", "100"}, common...)...)
	if err != nil || !strings.Contains(out, "recovery points 1") || !strings.Contains(out, "ok") {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	packs, _ := filepath.Glob(filepath.Join(dir, "regions", "us-east-1", "vaults", "111122223333.prod", "*", "data", "*", "*"))
	if len(packs) == 0 {
		t.Fatal("no packs under DATA_DIR/regions/us-east-1/vaults")
	}
	b, _ := os.ReadFile(packs[0])
	b[100] ^= 1
	os.WriteFile(packs[0], b, 0o600)
	out, err = runVault(t, append([]string{"verify", "--data", "100"}, common...)...)
	if err == nil || !strings.Contains(out, "DAMAGED pack "+filepath.Base(packs[0])) || !strings.Contains(out, string(id)) {
		t.Fatalf("verify of a damaged pack: %v\n%s", err, out)
	}
	b[100] ^= 1
	os.WriteFile(packs[0], b, 0o600)

	// Lose the database; rebuild it from storage.
	os.Remove(filepath.Join(dir, "coffer.db"))
	os.Remove(filepath.Join(dir, "coffer.db-wal"))
	os.Remove(filepath.Join(dir, "coffer.db-shm"))
	out, err = runVault(t, append([]string{"rebuild-index", "--region", "us-east-1"}, common...)...)
	if err != nil || !strings.Contains(out, "recovery points added 1") {
		t.Fatalf("rebuild-index: %v\n%s", err, out)
	}
	out, err = runVault(t, append([]string{"verify", "--data", "100"}, common...)...)
	if err != nil {
		t.Fatalf("verify after rebuild: %v\n%s", err, out)
	}
	out, err = runVault(t, append([]string{"gc"}, common...)...)
	if err != nil || !strings.Contains(out, "domains 1") {
		t.Fatalf("gc: %v\n%s", err, out)
	}
}

func mustRead(t *testing.T, r interface{ Read([]byte) (int, error) }) []byte {
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(r); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Without --local-keys the commands unwrap domain keys through this
// installation's KMS, as the root user of the key's account.
func TestVaultCommandsWithKMS(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "coffer.db"))
	if err != nil {
		t.Fatal(err)
	}
	root, err := rootkey.LoadOrCreateFile(filepath.Join(dir, "root.key"))
	if err != nil {
		t.Fatal(err)
	}
	ids := identity.New(db, root, nil)
	if _, err := ids.ApplyBootstrap(ctx, identity.Bootstrap{
		Accounts: []identity.BootstrapAccount{{ID: "111122223333", Name: "prod"}},
		Users:    []identity.BootstrapUser{{Account: "111122223333", Name: "admin", AccessKeyID: "AKIAVAULTTESTADMIN00", SecretAccessKey: "vault-test-secret"}},
	}); err != nil {
		t.Fatal(err)
	}
	_, admin, err := ids.Authenticate(ctx, "AKIAVAULTTESTADMIN00")
	if err != nil {
		t.Fatal(err)
	}
	k := kms.New(kms.Options{Store: db, RootKey: root, Authorizer: ids.Authorizer(),
		RegionStore: func(r string) (blob.Store, error) { return blobfs.New(filepath.Join(dir, "regions", r, "kms")) }})
	md, err := k.CreateKey(identity.WithCaller(ctx, admin), &kms.CreateKeyInput{Call: kms.Call{Region: "us-east-1"}})
	if err != nil {
		t.Fatal(err)
	}
	regions, _ := storage.New(storage.Config{}, dir, config.DefaultRegions, storage.Options{})
	e, _ := vaultstore.Open(db, operatorKeys{k}, regions, vaultstore.Options{})
	w, err := e.NewWriter(ctx, vaultstore.Domain{Region: "us-east-1", Vault: "111122223333.prod", KeyARN: md.Arn}, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(mustRead(t, dumpgen.Reader(dumpgen.Base, 2<<20)))
	if _, _, err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	out, err := runVault(t, "verify", "--data", "100", "--data-dir", dir)
	if err != nil || !strings.Contains(out, "packs read 1") {
		t.Fatalf("verify through KMS: %v\n%s", err, out)
	}
	if err := k.DisableKey(identity.WithCaller(ctx, admin), &kms.KeyInput{Call: kms.Call{Region: "us-east-1"}, KeyId: md.Arn}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	out, err = runVault(t, "verify", "--data", "100", "--data-dir", dir)
	if err == nil || !strings.Contains(out, "DAMAGED domain key "+md.Arn) {
		t.Fatalf("verify with a disabled key: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
