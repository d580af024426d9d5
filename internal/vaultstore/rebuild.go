package vaultstore

import (
	"context"
	"encoding/hex"
	"fmt"
	"path"
	"strings"

	"github.com/coffer-dev/coffer/internal/blob"
	"github.com/coffer-dev/coffer/internal/meta"
)

// RebuildStats report what RebuildIndex restored.
type RebuildStats struct {
	Domains, Packs, Chunks, Manifests int
	// PacksFromTrailers were indexed from their own trailers, not from
	// an index object.
	PacksFromTrailers int
	// Problems are objects that could not be read; they were skipped.
	Problems []string
}

// RebuildIndex restores the metadata of a vault (all vaults of the
// region if vault is "") from storage and KMS alone: domain records,
// index objects, pack trailers for packs no index object covers, and
// manifests. It only adds what is missing, so it can run on a live
// index. Needs kms:Decrypt on every domain's key.
func (e *Engine) RebuildIndex(ctx context.Context, region, vault string) (RebuildStats, error) {
	var st RebuildStats
	store, err := e.stores.Store(region)
	if err != nil {
		return st, err
	}
	var vaults []string
	if vault != "" {
		vaults = []string{vault}
	} else {
		// Domain records are VAULT/domains/ID.
		seen := map[string]bool{}
		err := store.List(ctx, "", func(fi blob.Info) error {
			parts := strings.Split(fi.Name, "/")
			if len(parts) == 3 && parts[1] == "domains" && !seen[parts[0]] {
				seen[parts[0]] = true
				vaults = append(vaults, parts[0])
			}
			return nil
		})
		if err != nil {
			return st, fmt.Errorf("list region %s: %w", region, err)
		}
	}
	for _, v := range vaults {
		var recs []string
		if err := store.List(ctx, v+"/domains/", func(fi blob.Info) error {
			recs = append(recs, path.Base(fi.Name))
			return nil
		}); err != nil {
			return st, err
		}
		for _, r := range recs {
			id, err := parseDomainID(r)
			if err != nil {
				st.Problems = append(st.Problems, fmt.Sprintf("%s/domains/%s: not a domain record", v, r))
				continue
			}
			rec, err := e.loadDomainRecord(ctx, store, v, id)
			if err != nil {
				return st, err
			}
			if rec.Region != region || domainIDFor(rec.Region, rec.Vault, rec.KeyARN) != id {
				st.Problems = append(st.Problems, fmt.Sprintf("%s/domains/%s: record names another domain", v, r))
				continue
			}
			ds := &domainState{Domain: Domain{Region: region, Vault: rec.Vault, KeyARN: rec.KeyARN}, id: id, wrapped: rec.WrappedKey, params: rec.Chunker, store: store}
			if err := e.rebuildDomain(ctx, ds, &st); err != nil {
				return st, fmt.Errorf("vault %s domain %s: %w", v, id, err)
			}
			st.Domains++
		}
	}
	return st, nil
}

func (e *Engine) rebuildDomain(ctx context.Context, ds *domainState, st *RebuildStats) error {
	k, err := e.unwrap(ctx, ds)
	if err != nil {
		return err
	}
	if err := e.insertDomain(ctx, ds); err != nil {
		return err
	}
	// Index objects first.
	fromIndex := map[string]indexPack{}
	err = ds.store.List(ctx, ds.prefix()+"index/", func(fi blob.Info) error {
		obj, err := readObject(ctx, ds.store, fi.Name)
		if err == nil {
			var plain []byte
			if plain, err = openObject(k.meta, kindIndex, ds.id, nil, obj); err == nil {
				var ps []indexPack
				if ps, err = decodeIndex(plain); err == nil {
					for _, p := range ps {
						fromIndex[p.Name] = p
					}
				}
			}
		}
		if err != nil {
			st.Problems = append(st.Problems, fmt.Sprintf("index object %s: %v", fi.Name, err))
		}
		return nil
	})
	if err != nil {
		return err
	}
	var infos []blob.Info
	if err := ds.store.List(ctx, ds.prefix()+"data/", func(fi blob.Info) error {
		infos = append(infos, fi)
		return nil
	}); err != nil {
		return err
	}
	for _, fi := range infos {
		name := path.Base(fi.Name)
		if b, err := hex.DecodeString(name); err != nil || len(b) != 32 {
			continue
		}
		p, ok := fromIndex[name]
		if !ok || p.Size != fi.Size {
			es, err := e.readTrailer(ctx, ds, k, name, fi.Size)
			if err != nil {
				st.Problems = append(st.Problems, fmt.Sprintf("pack %s: %v", name, err))
				continue
			}
			p = indexPack{Name: name, Size: fi.Size, Entries: es}
			st.PacksFromTrailers++
		}
		err := e.db.InTx(ctx, func(q meta.Querier) error {
			return insertPack(ctx, q, ds, name, p.Size, p.Entries, e.now())
		})
		if err != nil {
			return err
		}
		st.Packs++
		st.Chunks += len(p.Entries)
	}
	// Manifests.
	var ms []string
	if err := ds.store.List(ctx, ds.prefix()+"manifests/", func(fi blob.Info) error {
		ms = append(ms, path.Base(fi.Name))
		return nil
	}); err != nil {
		return err
	}
	for _, id := range ms {
		m, _, err := e.loadManifest(ctx, ds, k, ManifestID(id))
		if err != nil {
			st.Problems = append(st.Problems, fmt.Sprintf("manifest %s: %v", id, err))
			continue
		}
		added := false
		err = e.db.InTx(ctx, func(q meta.Querier) error {
			res, err := q.ExecContext(ctx, `INSERT INTO vs_manifests (manifest_id, domain_id, state, lease_expires, size, chunks, sha256, created_at, committed_at)
				VALUES (?, ?, 'committed', 0, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, id, ds.id.String(), m.Size, int64(len(m.Chunks)), m.SHA256[:], m.Created, m.Created)
			if err != nil {
				return err
			}
			n, _ := res.RowsAffected()
			if added = n == 1; !added {
				return nil
			}
			ids := make([]ChunkID, 0, len(m.Chunks))
			seen := map[ChunkID]bool{}
			for _, c := range m.Chunks {
				if !seen[c.ID] {
					seen[c.ID] = true
					ids = append(ids, c.ID)
				}
			}
			return insertRefs(ctx, q, ds, ManifestID(id), ids)
		})
		if err != nil {
			return err
		}
		if added {
			st.Manifests++
		}
	}
	return nil
}

// readTrailer reads a pack's header, footer and trailer with ranged gets.
func (e *Engine) readTrailer(ctx context.Context, ds *domainState, k *domainKeys, pack string, size int64) ([]Entry, error) {
	if size < packHeaderSize+footerSize {
		return nil, corrupt("pack of %d bytes is too short", size)
	}
	h, err := getRange(ctx, ds, pack, 0, packHeaderSize)
	if err != nil {
		return nil, err
	}
	salt, err := packHeader(h)
	if err != nil {
		return nil, err
	}
	f, err := getRange(ctx, ds, pack, size-footerSize, footerSize)
	if err != nil {
		return nil, err
	}
	n, err := packFooter(f, size)
	if err != nil {
		return nil, err
	}
	sealed, err := getRange(ctx, ds, pack, size-footerSize-n, n)
	if err != nil {
		return nil, err
	}
	es, _, err := openTrailer(k.enc, ds.id, salt, sealed, size)
	if err != nil {
		return nil, err
	}
	if len(es) > 0 && es[len(es)-1].Offset+es[len(es)-1].Length > size-footerSize-n {
		return nil, corrupt("pack entries overlap the trailer")
	}
	return es, nil
}
