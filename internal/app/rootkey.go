package app

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/coffer-dev/coffer/internal/config"
	"github.com/coffer-dev/coffer/internal/meta"
	"github.com/coffer-dev/coffer/internal/rootkey"
)

// RootKey is the root-key provider the configuration names, proven to be
// the key the metadata store's secrets are sealed with.
type RootKey struct {
	rootkey.Provider
	// Name says where the key is, for messages and health.
	Name  string
	check []byte
}

// Verify opens the store's check value again (an external key service
// may have become unreachable or disabled the key since the start).
func (k *RootKey) Verify(ctx context.Context) error {
	return rootkey.Verify(ctx, k.Provider, k.check)
}

// OpenRootKey returns the root-key provider cfg names, checked against
// the value recorded in store (recording it on a new store). It refuses a
// key that does not open the recorded value, and never creates a key file
// for a store that already holds sealed secrets.
func OpenRootKey(ctx context.Context, cfg config.Config, store meta.Store) (*RootKey, error) {
	check, populated, err := loadKeyCheck(ctx, store)
	if err != nil {
		return nil, err
	}
	k := &RootKey{Name: rootKeyName(cfg)}
	if k.Provider, err = openProvider(ctx, cfg, populated, storeName(cfg)); err != nil {
		return nil, err
	}
	if check == nil {
		if check, err = recordKeyCheck(ctx, store, k.Provider); err != nil {
			return nil, err
		}
	}
	k.check = check
	if err := k.Verify(ctx); err != nil {
		return nil, fmt.Errorf("the root key (%s) is not the key the secrets in the metadata store (%s) are sealed with (%w). "+
			"Start coffer with the key it was using: restore that root key from a backup, or, on a node joining a shared database, give it the same root key as the other nodes. "+
			"coffer does not start with another key, which could neither read the stored secrets nor seal new ones the other nodes can read",
			k.Name, storeName(cfg), err)
	}
	return k, nil
}

// openProvider opens the configured provider; a key file is created only
// when the store is new.
func openProvider(ctx context.Context, cfg config.Config, populated bool, store string) (rootkey.Provider, error) {
	switch cfg.RootKey.Provider {
	case "env":
		return rootkey.FromEnv(cfg.RootKey.EnvVar)
	case "kms":
		opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(cfg.RootKey.KMSRegion)}
		if cfg.RootKey.KMSEndpoint != "" {
			opts = append(opts, awsconfig.WithBaseEndpoint(cfg.RootKey.KMSEndpoint))
		}
		awsCfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("root key service: %w", err)
		}
		return rootkey.NewKMS(awskms.NewFromConfig(awsCfg), cfg.RootKey.KMSKeyID), nil
	}
	if !populated {
		return rootkey.LoadOrCreateFile(cfg.RootKey.File)
	}
	k, err := rootkey.LoadFile(cfg.RootKey.File)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("the root key file %s does not exist, but the metadata store (%s) holds secrets sealed under a root key; "+
			"a new key could not open them, so coffer does not create one. "+
			"Restore %s from a backup of the data directory (on a node joining a shared database, copy it from another node), "+
			"or set rootKey.file to where the key is", cfg.RootKey.File, store, filepath.Base(cfg.RootKey.File))
	}
	return k, err
}

// loadKeyCheck reads the recorded check value; populated is whether the
// store holds sealed secrets (it has the row, with or without a value).
func loadKeyCheck(ctx context.Context, store meta.Store) (check []byte, populated bool, err error) {
	err = store.QueryRowContext(ctx, `SELECT sealed FROM root_key_check WHERE id = 1`).Scan(&check)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read the root key check value: %w", err)
	}
	return check, true, nil
}

// recordKeyCheck records p's check value unless another node recorded one
// first, and returns the value now in the store.
func recordKeyCheck(ctx context.Context, store meta.Store, p rootkey.Provider) ([]byte, error) {
	v, err := rootkey.CheckValue(ctx, p)
	if err != nil {
		return nil, err
	}
	now := time.Now().UnixNano()
	err = store.InTx(ctx, func(q meta.Querier) error {
		if _, err := q.ExecContext(ctx, `INSERT INTO root_key_check (id, sealed, recorded_at) VALUES (1, ?, ?) ON CONFLICT (id) DO NOTHING`, v, now); err != nil {
			return err
		}
		_, err := q.ExecContext(ctx, `UPDATE root_key_check SET sealed = ?, recorded_at = ? WHERE id = 1 AND sealed IS NULL`, v, now)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("record the root key check value: %w", err)
	}
	check, _, err := loadKeyCheck(ctx, store)
	return check, err
}

func rootKeyName(cfg config.Config) string {
	switch cfg.RootKey.Provider {
	case "env":
		return "environment variable " + cfg.RootKey.EnvVar
	case "kms":
		return "KMS key " + cfg.RootKey.KMSKeyID
	}
	return "file " + cfg.RootKey.File
}

func storeName(cfg config.Config) string {
	if cfg.Database == "" {
		return "SQLite " + filepath.Join(cfg.DataDir, "coffer.db")
	}
	return "the PostgreSQL database of the database setting"
}
