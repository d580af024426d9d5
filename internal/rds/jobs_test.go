package rds_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"path/filepath"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/coffer-dev/coffer/internal/engine"
	enginepg "github.com/coffer-dev/coffer/internal/engine/postgres"
	enginesqlite "github.com/coffer-dev/coffer/internal/engine/sqlite"
	"github.com/coffer-dev/coffer/internal/identity"
	"github.com/coffer-dev/coffer/internal/kms"
	"github.com/coffer-dev/coffer/internal/meta"
	"github.com/coffer-dev/coffer/internal/meta/sqlite"
	"github.com/coffer-dev/coffer/internal/rds"
	"github.com/coffer-dev/coffer/internal/reqctx"
	"github.com/coffer-dev/coffer/internal/rootkey"
	"github.com/coffer-dev/coffer/internal/testenv"
)

// keys is rds.Keys over the KMS domain, as internal/app wires it.
type keys struct{ k *kms.Service }

func call(region string) kms.Call {
	return kms.Call{Region: region, ViaService: kms.ViaService("rds", region)}
}

func (k keys) ManagedKey(ctx context.Context, account, region, service string) (string, error) {
	return k.k.ManagedKey(ctx, account, region, service)
}

func (k keys) DescribeKey(ctx context.Context, region, keyID string) (rds.KeyInfo, error) {
	md, err := k.k.DescribeKey(ctx, &kms.KeyInput{Call: call(region), KeyId: keyID})
	if err != nil {
		return rds.KeyInfo{}, err
	}
	return rds.KeyInfo{ARN: md.Arn, Account: md.AWSAccountId, Region: region, Manager: md.KeyManager, Usage: md.KeyUsage, Spec: md.KeySpec, State: md.KeyState}, nil
}

func (k keys) CreateGrant(ctx context.Context, region string, g rds.Grant) (string, error) {
	out, err := k.k.CreateGrant(ctx, &kms.CreateGrantInput{Call: call(region), KeyId: g.KeyARN, GranteePrincipal: g.Grantee, RetiringPrincipal: g.Grantee,
		Operations: g.Operations, Name: g.Name, Constraints: &kms.GrantConstraints{EncryptionContextSubset: g.Context}})
	if err != nil {
		return "", err
	}
	return out.GrantId, nil
}

func (k keys) RetireGrant(ctx context.Context, region, keyARN, id string) error {
	return k.k.RetireGrant(ctx, &kms.RetireGrantInput{Call: call(region), KeyId: keyARN, GrantId: id})
}

func (k keys) GenerateDataKey(ctx context.Context, region, keyARN string, ec map[string]string) ([]byte, []byte, error) {
	out, err := k.k.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{Call: call(region), KeyId: keyARN, EncryptionContext: ec, KeySpec: "AES_256"})
	if err != nil {
		return nil, nil, err
	}
	return out.Plaintext, out.CiphertextBlob, nil
}

func (k keys) Decrypt(ctx context.Context, region, keyARN string, blob []byte, ec map[string]string) ([]byte, error) {
	out, err := k.k.Decrypt(ctx, &kms.DecryptInput{Call: call(region), KeyId: keyARN, CiphertextBlob: blob, EncryptionContext: ec})
	if err != nil {
		return nil, err
	}
	return out.Plaintext, nil
}

type env struct {
	rds   *rds.Service
	kms   *kms.Service
	admin context.Context // the default account's admin, in us-east-1
	srv   *testenv.PostgresServer
}

// domain is what an RDS service stands on, in a data directory: the
// metadata store, root key, identities, KMS and the engines.
type domain struct {
	dir     string
	root    rootkey.Provider
	store   *meta.SQLStore
	ids     *identity.Service
	kms     *kms.Service
	engines map[string]engine.Engine
	admin   context.Context // the default account's admin, in us-east-1
}

func newDomain(t *testing.T) *domain {
	t.Helper()
	if _, err := testenv.PostgresBinDir(); err != nil {
		testenv.Missing(t, "%v", err)
	}
	ctx := context.Background()
	dir := t.TempDir()
	store, err := sqlite.Open(ctx, filepath.Join(dir, "coffer.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	root, err := rootkey.LoadOrCreateFile(filepath.Join(dir, "root.key"))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	ids := identity.New(store, root, log)
	if _, err := ids.ApplyBootstrap(ctx, identity.DefaultBootstrap()); err != nil {
		t.Fatal(err)
	}
	pg, err := enginepg.New(enginepg.Options{})
	if err != nil {
		t.Fatal(err)
	}
	acct := identity.DefaultManagementAccountID
	p := &identity.Principal{Type: identity.TypeUser, AccountID: acct, ARN: identity.UserARN(acct, "/", "admin"), Name: "admin"}
	return &domain{dir: dir, root: root, store: store, ids: ids,
		kms:     kms.New(kms.Options{Store: store, RootKey: root, Authorizer: ids.Authorizer(), Log: log}),
		engines: map[string]engine.Engine{rds.EnginePostgres: pg, rds.EngineSQLite: enginesqlite.New(enginesqlite.Options{})},
		admin:   reqctx.WithCall(identity.WithCaller(ctx, p), &reqctx.Call{Region: "us-east-1"})}
}

// open starts hosts (dsn: shared PostgreSQL hosts by region) and the
// service on the domain; the caller closes them.
func (d *domain) open(dsn map[string]string) (*rds.Service, *rds.Hosts) {
	hosts := rds.NewHosts(rds.HostsOptions{DataDir: d.dir, PostgresDSN: dsn, RootKey: d.root})
	return rds.New(rds.Options{Store: d.store, Authz: d.ids.Authorizer(), Keys: keys{d.kms}, Hosts: hosts, Engines: d.engines}), hosts
}

func setup(t *testing.T) *env {
	t.Helper()
	d := newDomain(t)
	srv := testenv.StartPostgres(t)
	svc, hosts := d.open(map[string]string{"us-east-1": srv.DSN("postgres")})
	t.Cleanup(func() { svc.Close(); hosts.Close() })
	return &env{rds: svc, kms: d.kms, admin: d.admin, srv: srv}
}

// TestSnapshotAndRestoreThroughJobsAPI runs what a backup job and a
// restore job do: Resource gives the snapshot source, CreateRestoredInstance
// the restore target, and the restored instance verifies against the
// snapshot's metadata.
func TestSnapshotAndRestoreThroughJobsAPI(t *testing.T) {
	e := setup(t)
	ctx := e.admin
	key, err := e.kms.CreateKey(ctx, &kms.CreateKeyInput{Description: "source"})
	if err != nil {
		t.Fatal(err)
	}
	src, err := e.rds.CreateInstance(ctx, rds.CreateInput{Identifier: "src", Engine: "postgres", InstanceClass: "db.t3.micro",
		MasterUsername: "src_owner", MasterUserPassword: "src-secret-1", StorageEncrypted: true, KMSKeyID: key.Arn})
	if err != nil {
		t.Fatal(err)
	}
	e.rds.Wait()
	inst, eng, target, err := e.rds.Resource(ctx, src.ARN)
	if err != nil {
		t.Fatal(err)
	}
	if inst.Status != rds.StatusAvailable || target.Password != "src-secret-1" || target.User != "src_owner" {
		t.Fatalf("Resource: status %s, target %s (password opened: %v)", inst.Status, target, target.Password == "src-secret-1")
	}
	db, err := sql.Open("pgx", rds.TargetURL(target))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE accounts (id int PRIMARY KEY, balance numeric); INSERT INTO accounts SELECT g, g * 10 FROM generate_series(1, 500) g`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	var dump bytes.Buffer
	md, err := eng.Snapshot(ctx, target, &dump)
	if err != nil {
		t.Fatal(err)
	}

	restored, rt, err := e.rds.CreateRestoredInstance(ctx, rds.RestoreSpec{Region: "us-east-1", Identifier: "src-restored", Engine: "postgres", StorageEncrypted: true, KMSKeyID: key.Arn})
	if err != nil {
		t.Fatal(err)
	}
	if rt.Role != "src_restored_owner" || rt.Database != "src_restored" {
		t.Errorf("restore target %s role %s", rt, rt.Role)
	}
	if err := eng.Restore(ctx, rt, bytes.NewReader(dump.Bytes()), md); err != nil {
		t.Fatal(err)
	}
	if err := e.rds.MarkAvailable(ctx, restored.ARN); err != nil {
		t.Fatal(err)
	}
	_, _, vt, err := e.rds.Resource(ctx, restored.ARN)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := eng.Verify(ctx, vt, md); err != nil || res.Rows != 500 {
		t.Fatalf("verify the restored instance as its owner: %v (%+v)", err, res)
	}

	// A restore that fails leaves neither database nor role.
	failed, _, err := e.rds.CreateRestoredInstance(ctx, rds.RestoreSpec{Region: "us-east-1", Identifier: "broken", Engine: "postgres"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.rds.MarkFailed(ctx, failed.ARN, "the snapshot is damaged; restore another recovery point"); err != nil {
		t.Fatal(err)
	}
	admin, err := sql.Open("pgx", e.srv.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var n int
	if err := admin.QueryRow(`SELECT (SELECT count(*) FROM pg_database WHERE datname = 'broken') + (SELECT count(*) FROM pg_roles WHERE rolname = 'broken_owner')`).Scan(&n); err != nil || n != 0 {
		t.Errorf("a failed restore left %d objects (%v)", n, err)
	}

	// A disabled key stops backups with RDS's fault.
	if err := e.kms.DisableKey(ctx, &kms.KeyInput{KeyId: key.Arn}); err != nil {
		t.Fatal(err)
	}
	_, _, _, err = e.rds.Resource(ctx, src.ARN)
	if !rds.IsKeyInaccessible(err) {
		t.Errorf("Resource with the key disabled: %v, want KMSKeyNotAccessibleFault", err)
	}
}

// TestResourceAuthorization: a principal without RDS permissions gets
// AccessDenied from the jobs API.
func TestResourceAuthorization(t *testing.T) {
	e := setup(t)
	inst, err := e.rds.CreateInstance(e.admin, rds.CreateInput{Identifier: "lite", Engine: "sqlite", InstanceClass: "db.t3.micro"})
	if err != nil {
		t.Fatal(err)
	}
	e.rds.Wait()
	acct := identity.DefaultManagementAccountID
	nobody := &identity.Principal{Type: identity.TypeUser, AccountID: acct, ARN: identity.UserARN(acct, "/", "nobody"), Name: "nobody"}
	ctx := reqctx.WithCall(identity.WithCaller(context.Background(), nobody), &reqctx.Call{Region: "us-east-1"})
	_, _, _, err = e.rds.Resource(ctx, inst.ARN)
	var denied interface{ Error() string }
	if err == nil || !errors.As(err, &denied) || !bytes.Contains([]byte(err.Error()), []byte("AccessDenied")) {
		t.Errorf("Resource as a user without policies: %v, want AccessDenied", err)
	}

}
