package app

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/coffer-dev/coffer/internal/authz"
	"github.com/coffer-dev/coffer/internal/config"
	"github.com/coffer-dev/coffer/internal/engine"
	enginepg "github.com/coffer-dev/coffer/internal/engine/postgres"
	enginesqlite "github.com/coffer-dev/coffer/internal/engine/sqlite"
	"github.com/coffer-dev/coffer/internal/kms"
	"github.com/coffer-dev/coffer/internal/meta"
	"github.com/coffer-dev/coffer/internal/rds"
	"github.com/coffer-dev/coffer/internal/rootkey"
)

// openRDS builds the RDS domain: its engines, its hosts (a PostgreSQL
// server per instance, or the configured shared servers; SQLite files)
// and its KMS, and brings this node's instance servers back.
func openRDS(cfg config.Config, store meta.Store, az *authz.Authorizer, k *kms.Service, root rootkey.Provider, log *slog.Logger) (*rds.Service, *rds.Hosts, error) {
	pg, err := enginepg.New(enginepg.Options{})
	if err != nil {
		return nil, nil, err
	}
	hosts := rds.NewHosts(rds.HostsOptions{DataDir: cfg.DataDir, PostgresDSN: cfg.RDS.PostgresHosts, RootKey: root,
		ListenAddress: cfg.RDS.ListenAddress, NodeID: cfg.Jobs.NodeID, Log: log.With("component", "rds-hosts")})
	svc := rds.New(rds.Options{
		Store: store, Authz: az, Keys: rdsKeys{k}, Hosts: hosts, Log: log.With("component", "rds"),
		Engines: map[string]engine.Engine{
			rds.EnginePostgres: pg,
			rds.EngineSQLite:   enginesqlite.New(enginesqlite.Options{}),
		},
	})
	if err := svc.Resume(context.Background()); err != nil {
		return nil, nil, err
	}
	return svc, hosts, nil
}

// rdsKeys serves rds.Keys from the KMS domain, as the RDS service calling
// KMS (kms:ViaService rds.REGION.amazonaws.com) for the caller in ctx.
type rdsKeys struct{ kms *kms.Service }

var _ rds.Keys = rdsKeys{}

func rdsCall(region string) kms.Call {
	return kms.Call{Region: region, ViaService: kms.ViaService("rds", region)}
}

func (k rdsKeys) ManagedKey(ctx context.Context, account, region, service string) (string, error) {
	return k.kms.ManagedKey(ctx, account, region, service)
}

func (k rdsKeys) DescribeKey(ctx context.Context, region, keyID string) (rds.KeyInfo, error) {
	md, err := k.kms.DescribeKey(ctx, &kms.KeyInput{Call: rdsCall(region), KeyId: keyID})
	if err != nil {
		return rds.KeyInfo{}, err
	}
	return rds.KeyInfo{ARN: md.Arn, Account: md.AWSAccountId, Region: region, Manager: md.KeyManager, Usage: md.KeyUsage, Spec: md.KeySpec, State: md.KeyState}, nil
}

func (k rdsKeys) CreateGrant(ctx context.Context, region string, g rds.Grant) (string, error) {
	out, err := k.kms.CreateGrant(ctx, &kms.CreateGrantInput{
		Call: rdsCall(region), KeyId: g.KeyARN, GranteePrincipal: g.Grantee, RetiringPrincipal: g.Grantee,
		Operations: g.Operations, Name: g.Name,
		Constraints: &kms.GrantConstraints{EncryptionContextSubset: g.Context},
	})
	if err != nil {
		return "", err
	}
	return out.GrantId, nil
}

func (k rdsKeys) RetireGrant(ctx context.Context, region, keyARN, grantID string) error {
	return k.kms.RetireGrant(ctx, &kms.RetireGrantInput{Call: rdsCall(region), KeyId: keyARN, GrantId: grantID})
}

func (k rdsKeys) GenerateDataKey(ctx context.Context, region, keyARN string, ec map[string]string) ([]byte, []byte, error) {
	out, err := k.kms.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{Call: rdsCall(region), KeyId: keyARN, EncryptionContext: ec, KeySpec: "AES_256"})
	if err != nil {
		return nil, nil, err
	}
	return out.Plaintext, out.CiphertextBlob, nil
}

func (k rdsKeys) Decrypt(ctx context.Context, region, keyARN string, blob []byte, ec map[string]string) ([]byte, error) {
	out, err := k.kms.Decrypt(ctx, &kms.DecryptInput{Call: rdsCall(region), KeyId: keyARN, CiphertextBlob: blob, EncryptionContext: ec})
	if err != nil {
		return nil, fmt.Errorf("decrypt: %w", err)
	}
	return out.Plaintext, nil
}

// closeRDS waits for instances being created or deleted, then stops the
// instances' servers and the embedded PostgreSQL clusters.
func (a *App) closeRDS() {
	a.rds.Close()
	if err := a.dbHosts.Close(); err != nil {
		a.log.Error("stop database hosts", "error", err)
	}
}
