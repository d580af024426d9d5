package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/coffer-dev/coffer/internal/app"
	"github.com/coffer-dev/coffer/internal/blob"
	blobfs "github.com/coffer-dev/coffer/internal/blob/fs"
	"github.com/coffer-dev/coffer/internal/config"
	"github.com/coffer-dev/coffer/internal/identity"
	"github.com/coffer-dev/coffer/internal/kms"
	"github.com/coffer-dev/coffer/internal/storage"
	"github.com/coffer-dev/coffer/internal/vaultstore"
	"github.com/coffer-dev/coffer/internal/vaultstore/localkeys"
)

// vaultFlags are the settings every vault subcommand shares.
type vaultFlags struct {
	storeFlags
	localKeys     string
	region, vault string
}

func (f *vaultFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	f.storeFlags.register(fl)
	fl.StringVar(&f.localKeys, "local-keys", "", "unwrap domain keys with a local key file (vaults written by coffer bench or tests) instead of coffer's KMS")
	fl.StringVar(&f.region, "region", "", "only this region")
	fl.StringVar(&f.vault, "vault", "", "only this vault (the storage engine's vault name, ACCOUNT.NAME for backup vaults)")
}

// open builds the storage engine from the configuration. Domain keys are
// unwrapped by this installation's KMS acting as the root user of the
// key's account (the operator runs every account), or by --local-keys.
func (f *vaultFlags) open(ctx context.Context) (*vaultstore.Engine, config.Config, func(), error) {
	cfg, err := f.config()
	if err != nil {
		return nil, cfg, nil, err
	}
	if _, err := os.Stat(cfg.DataDir); err != nil {
		return nil, cfg, nil, fmt.Errorf("data directory: %w", err)
	}
	db, err := app.OpenStore(ctx, cfg)
	if err != nil {
		return nil, cfg, nil, err
	}
	log := app.NewLogger(cfg.Log, os.Stderr)
	var keys vaultstore.KeyWrapper
	if f.localKeys != "" {
		lk, err := localkeys.LoadOrCreate(f.localKeys)
		if err != nil {
			db.Close()
			return nil, cfg, nil, err
		}
		keys = lk
	} else {
		root, err := app.OpenRootKey(ctx, cfg, db)
		if err != nil {
			db.Close()
			return nil, cfg, nil, err
		}
		ids := identity.New(db, root, log.With("component", "identity"))
		keys = operatorKeys{kms.New(kms.Options{Store: db, RootKey: root, Authorizer: ids.Authorizer(), Log: log.With("component", "kms"),
			RegionStore: func(region string) (blob.Store, error) {
				return blobfs.New(filepath.Join(cfg.DataDir, "regions", region, "kms"))
			}})}
	}
	regions, err := storage.New(cfg.Storage, cfg.DataDir, cfg.Regions, storage.Options{})
	if err != nil {
		db.Close()
		return nil, cfg, nil, err
	}
	e, err := vaultstore.Open(db, keys, regions, vaultstore.Options{Logger: log.With("component", "vaultstore")})
	if err != nil {
		db.Close()
		return nil, cfg, nil, err
	}
	return e, cfg, func() { db.Close() }, nil
}

// operatorKeys unwraps domain keys through KMS as the root user of the
// key's account, via AWS Backup, as the server's jobs would for a caller
// the key policy admits.
type operatorKeys struct{ kms *kms.Service }

func keyParts(arn string) (region, account string) {
	p := strings.SplitN(arn, ":", 6)
	if len(p) < 5 {
		return "", ""
	}
	return p[3], p[4]
}

func (k operatorKeys) as(ctx context.Context, arn string) (context.Context, kms.Call) {
	region, account := keyParts(arn)
	ctx = identity.WithCaller(ctx, &identity.Principal{Type: identity.TypeAccount, AccountID: account, ARN: "arn:aws:iam::" + account + ":root"})
	return ctx, kms.Call{Region: region, ViaService: "backup." + region + ".amazonaws.com"}
}

func (k operatorKeys) GenerateDataKey(ctx context.Context, arn string, encCtx map[string]string) ([]byte, []byte, error) {
	ctx, call := k.as(ctx, arn)
	out, err := k.kms.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{Call: call, KeyId: arn, EncryptionContext: encCtx, KeySpec: "AES_256"})
	if err != nil {
		return nil, nil, err
	}
	return out.Plaintext, out.CiphertextBlob, nil
}

func (k operatorKeys) Decrypt(ctx context.Context, arn string, wrapped []byte, encCtx map[string]string) ([]byte, error) {
	ctx, call := k.as(ctx, arn)
	out, err := k.kms.Decrypt(ctx, &kms.DecryptInput{Call: call, KeyId: arn, CiphertextBlob: wrapped, EncryptionContext: encCtx})
	if err != nil {
		return nil, err
	}
	return out.Plaintext, nil
}

func vaultCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:          "vault",
		Short:        "Maintain the vault storage engine: verify, rebuild-index, gc",
		SilenceUsage: true,
	}
	cmd.AddCommand(vaultVerifyCommand(), vaultRebuildCommand(), vaultGCCommand())
	return cmd
}

func vaultVerifyCommand() *cobra.Command {
	var f vaultFlags
	var pct float64
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check every recovery point's chunks and packs; with --data, decrypt and hash packs",
		Long: `Verify checks the structure of the vaults: every committed recovery point's
manifest and chunks are in the index, and every indexed pack is in storage
with its size. --data PERCENT also reads, decrypts and hashes that share of
the packs (those verified longest ago first; needs kms:Decrypt on the
vaults' keys) and records when each was verified. It names each damaged
object and the recovery points it affects, and exits 1 if anything is damaged.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, _, closeFn, err := f.open(cmd.Context())
			if err != nil {
				return err
			}
			defer closeFn()
			rep, err := e.Verify(cmd.Context(), vaultstore.VerifyOptions{Region: f.region, Vault: f.vault, DataPercent: pct})
			if rep != nil {
				printVerify(cmd.OutOrStdout(), rep)
			}
			if err != nil {
				return err
			}
			if !rep.OK() {
				return fmt.Errorf("%d problems found", len(rep.Problems))
			}
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().Float64Var(&pct, "data", 0, "percentage of packs to read, decrypt and hash (0-100)")
	return cmd
}

func printVerify(w io.Writer, rep *vaultstore.VerifyReport) {
	fmt.Fprintf(w, "domains %d, recovery points %d, packs %d, packs read %d (%d bytes)\n", rep.Domains, rep.Manifests, rep.Packs, rep.PacksChecked, rep.BytesChecked)
	for _, p := range rep.Problems {
		fmt.Fprintf(w, "DAMAGED %s\n", p)
	}
	if rep.OK() {
		fmt.Fprintln(w, "ok")
	}
}

func vaultRebuildCommand() *cobra.Command {
	var f vaultFlags
	cmd := &cobra.Command{
		Use:   "rebuild-index",
		Short: "Restore a region's vault index from storage and KMS alone",
		Long: `Rebuild-index reads a region's domain records, index objects, pack trailers
(for packs no index object covers) and manifests, and adds to the metadata
database whatever is missing. Use it after losing or restoring the metadata
database; do not run coffer vault gc until it has finished.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, cfg, closeFn, err := f.open(cmd.Context())
			if err != nil {
				return err
			}
			defer closeFn()
			regions := cfg.Regions
			if f.region != "" {
				regions = []string{f.region}
			}
			out := cmd.OutOrStdout()
			for _, r := range regions {
				st, err := e.RebuildIndex(cmd.Context(), r, f.vault)
				if err != nil {
					return fmt.Errorf("region %s: %w", r, err)
				}
				fmt.Fprintf(out, "%s: domains %d, packs %d (%d from trailers), chunks %d, recovery points added %d\n",
					r, st.Domains, st.Packs, st.PacksFromTrailers, st.Chunks, st.Manifests)
				for _, p := range st.Problems {
					fmt.Fprintf(out, "%s: SKIPPED %s\n", r, p)
				}
			}
			return nil
		},
	}
	f.register(cmd)
	return cmd
}

func vaultGCCommand() *cobra.Command {
	var f vaultFlags
	var o vaultstore.GCOptions
	cmd := &cobra.Command{
		Use:   "gc",
		Short: "Reclaim the space of deleted and failed recovery points",
		Long: `GC drops the leases of writers that died, condemns packs no recovery point
uses once they are older than --grace, deletes condemned packs after
--delete-delay, and rewrites packs whose unused share exceeds
--repack-waste. It is safe while backups run, and never deletes what a
vault lock or legal hold protects.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, _, closeFn, err := f.open(cmd.Context())
			if err != nil {
				return err
			}
			defer closeFn()
			if o.DeleteDelay == 0 {
				o.DeleteDelay = -1 // GCOptions' zero is the default; 0s here means at once
			}
			start := time.Now()
			st, err := e.GC(cmd.Context(), f.region, f.vault, o)
			fmt.Fprintf(cmd.OutOrStdout(), "domains %d: leases expired %d, deletions finished %d, packs condemned %d, deleted %d, repacked %d, leftovers deleted %d; %d bytes reclaimed in %s\n",
				st.Domains, st.LeasesExpired, st.DeletesFinished, st.PacksCondemned, st.PacksDeleted, st.PacksRepacked, st.OrphansDeleted, st.BytesReclaimed, time.Since(start).Round(time.Millisecond))
			return err
		},
	}
	f.register(cmd)
	cmd.Flags().DurationVar(&o.Grace, "grace", time.Hour, "age before unused packs and leftovers may be collected")
	cmd.Flags().DurationVar(&o.DeleteDelay, "delete-delay", time.Hour, "time condemned packs stay readable before deletion (0s: delete at once)")
	cmd.Flags().Float64Var(&o.RepackWaste, "repack-waste", 0.3, "unused share above which a pack is rewritten (negative: never)")
	return cmd
}
