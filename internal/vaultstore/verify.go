package vaultstore

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/coffer-dev/coffer/internal/blob"
)

// VerifyOptions choose what Verify checks.
type VerifyOptions struct {
	// Region and Vault filter the domains ("" for all).
	Region, Vault string
	// DataPercent of each domain's packs (those verified longest ago
	// first) are read, decrypted and hashed; manifests are decrypted
	// too when it is above zero. 0 checks structure only. Needs
	// kms:Decrypt on the domains' keys.
	DataPercent float64
}

// Problem is one thing found damaged.
type Problem struct {
	Domain Domain
	// Object names what is damaged: "manifest ID", "pack NAME" or
	// "chunk ID".
	Object string
	Err    string
	// Manifests are the recovery points affected.
	Manifests []ManifestID
}

func (p Problem) String() string {
	s := fmt.Sprintf("%s in vault %s (%s): %s", p.Object, p.Domain.Vault, p.Domain.Region, p.Err)
	if len(p.Manifests) > 0 {
		s += fmt.Sprintf("; affects recovery points %v", p.Manifests)
	}
	return s
}

// VerifyReport is what Verify found.
type VerifyReport struct {
	Domains, Manifests, Packs, PacksChecked int
	BytesChecked                            int64
	Problems                                []Problem
}

// OK reports whether nothing is damaged.
func (r *VerifyReport) OK() bool { return len(r.Problems) == 0 }

// Verify checks the structure (every committed manifest's object and
// chunks are present in the index, every indexed pack is in storage with
// its size) and, with DataPercent, the data itself, recording when each
// pack was last verified. Problems name what is damaged and which
// recovery points it affects; the error is for failures to check.
func (e *Engine) Verify(ctx context.Context, o VerifyOptions) (*VerifyReport, error) {
	rep := &VerifyReport{}
	doms, err := e.domains(ctx, o.Region, o.Vault)
	if err != nil {
		return nil, err
	}
	for _, ds := range doms {
		rep.Domains++
		if err := e.verifyDomain(ctx, ds, o, rep); err != nil {
			return rep, fmt.Errorf("verify vault %s: %w", ds.Vault, err)
		}
	}
	return rep, nil
}

func (e *Engine) verifyDomain(ctx context.Context, ds *domainState, o VerifyOptions, rep *VerifyReport) error {
	dom := ds.id.String()
	add := func(obj, msg string, ms []ManifestID) {
		rep.Problems = append(rep.Problems, Problem{Domain: ds.Domain, Object: obj, Err: msg, Manifests: ms})
	}
	ids, err := e.queryStrings(ctx, `SELECT manifest_id FROM vs_manifests WHERE domain_id = ? AND state = 'committed' ORDER BY manifest_id`, dom)
	if err != nil {
		return err
	}
	rep.Manifests += len(ids)
	for _, id := range ids {
		if _, err := ds.store.Stat(ctx, ds.manifestName(ManifestID(id))); err != nil {
			add("manifest "+id, describe(err), []ManifestID{ManifestID(id)})
		}
	}
	// Referenced chunks with no readable copy in the index.
	rows, err := e.db.QueryContext(ctx, `SELECT r.manifest_id, r.chunk_id FROM vs_refs r JOIN vs_manifests m ON m.manifest_id = r.manifest_id
		WHERE m.domain_id = ? AND m.state = 'committed' AND NOT EXISTS (SELECT 1 FROM vs_chunks c JOIN vs_packs p ON p.domain_id = c.domain_id AND p.pack = c.pack
			WHERE c.domain_id = m.domain_id AND c.chunk_id = r.chunk_id AND p.state IN ('live', 'condemned'))
		ORDER BY r.chunk_id, r.manifest_id`, dom)
	if err != nil {
		return err
	}
	missing := map[ChunkID][]ManifestID{}
	var order []ChunkID
	for rows.Next() {
		var m string
		var b []byte
		if err := rows.Scan(&m, &b); err != nil {
			rows.Close()
			return err
		}
		var c ChunkID
		copy(c[:], b)
		if _, ok := missing[c]; !ok {
			order = append(order, c)
		}
		missing[c] = append(missing[c], ManifestID(m))
	}
	if err := rows.Close(); err != nil {
		return err
	}
	for _, c := range order {
		add("chunk "+c.String(), "missing from the index", missing[c])
	}

	// Every indexed pack is in storage, whole.
	type packRow struct {
		name     string
		size     int64
		verified int64
	}
	var packs []packRow
	rows, err = e.db.QueryContext(ctx, `SELECT pack, size, verified_at FROM vs_packs WHERE domain_id = ? AND state IN ('live', 'condemned') ORDER BY pack`, dom)
	if err != nil {
		return err
	}
	for rows.Next() {
		var p packRow
		if err := rows.Scan(&p.name, &p.size, &p.verified); err != nil {
			rows.Close()
			return err
		}
		packs = append(packs, p)
	}
	if err := rows.Close(); err != nil {
		return err
	}
	rep.Packs += len(packs)
	bad := map[string]bool{}
	for _, p := range packs {
		fi, err := ds.store.Stat(ctx, ds.packName(p.name))
		switch {
		case err != nil:
			bad[p.name] = true
			ms, qerr := e.affected(ctx, dom, p.name)
			if qerr != nil {
				return qerr
			}
			add("pack "+p.name, describe(err), ms)
		case fi.Size != p.size:
			bad[p.name] = true
			ms, qerr := e.affected(ctx, dom, p.name)
			if qerr != nil {
				return qerr
			}
			add("pack "+p.name, fmt.Sprintf("size %d, index says %d (truncated or replaced)", fi.Size, p.size), ms)
		}
	}
	if o.DataPercent <= 0 {
		return nil
	}

	k, err := e.unwrap(ctx, ds)
	if err != nil {
		add("domain key "+ds.KeyARN, err.Error(), nil)
		return nil
	}
	for _, id := range ids {
		m, _, err := e.loadManifest(ctx, ds, k, ManifestID(id))
		if err != nil {
			if !errors.Is(err, blob.ErrNotExist) {
				add("manifest "+id, describe(err), []ManifestID{ManifestID(id)})
			}
			continue
		}
		var n int64
		if err := e.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM vs_refs WHERE manifest_id = ?`, id).Scan(&n); err != nil {
			return err
		}
		uniq := map[ChunkID]bool{}
		for _, c := range m.Chunks {
			uniq[c.ID] = true
		}
		if int64(len(uniq)) != n {
			add("manifest "+id, fmt.Sprintf("lists %d distinct chunks, the index references %d", len(uniq), n), []ManifestID{ManifestID(id)})
		}
	}
	sort.SliceStable(packs, func(i, j int) bool { return packs[i].verified < packs[j].verified })
	want := int(float64(len(packs))*o.DataPercent/100 + 0.999999)
	for _, p := range packs[:min(want, len(packs))] {
		if bad[p.name] {
			continue
		}
		msg, err := e.checkPack(ctx, ds, k, p.name)
		if err != nil {
			return err
		}
		rep.PacksChecked++
		rep.BytesChecked += p.size
		if msg != "" {
			ms, qerr := e.affected(ctx, dom, p.name)
			if qerr != nil {
				return qerr
			}
			add("pack "+p.name, msg, ms)
			continue
		}
		if _, err := e.db.ExecContext(ctx, `UPDATE vs_packs SET verified_at = ? WHERE domain_id = ? AND pack = ?`, e.now(), dom, p.name); err != nil {
			return err
		}
	}
	return nil
}

// checkPack reads, decrypts and hashes a whole pack and compares its
// trailer with the index; it returns what is wrong, or "".
func (e *Engine) checkPack(ctx context.Context, ds *domainState, k *domainKeys, pack string) (string, error) {
	data, err := readObject(ctx, ds.store, ds.packName(pack))
	if err != nil {
		return describe(err), nil
	}
	if s := sha256Hex(data); s != pack {
		return "content does not match its name (SHA-256 " + s + ")", nil
	}
	es, aead, err := parsePack(k.enc, ds.id, data)
	if err != nil {
		return describe(err), nil
	}
	idx, err := e.locateIn(ctx, ds, pack)
	if err != nil {
		return "", err
	}
	if len(idx) != len(es) {
		return fmt.Sprintf("trailer lists %d chunks, the index %d", len(es), len(idx)), nil
	}
	for _, en := range es {
		if got, ok := idx[en.ID]; !ok || got != en {
			return fmt.Sprintf("chunk %s: trailer and index disagree", en.ID), nil
		}
		payload, err := openChunk(aead, ds.id, en, data[en.Offset:en.Offset+en.Length])
		if err == nil {
			err = e.checkPayload(k, en, payload)
		}
		if err != nil {
			return describe(err), nil
		}
	}
	return "", nil
}

// locateIn returns the index entries of one pack.
func (e *Engine) locateIn(ctx context.Context, ds *domainState, pack string) (map[ChunkID]Entry, error) {
	rows, err := e.db.QueryContext(ctx, `SELECT chunk_id, pack_offset, length, raw_length, flags FROM vs_chunks WHERE domain_id = ? AND pack = ?`, ds.id.String(), pack)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[ChunkID]Entry{}
	for rows.Next() {
		var b []byte
		var en Entry
		var fl int
		if err := rows.Scan(&b, &en.Offset, &en.Length, &en.RawLen, &fl); err != nil {
			return nil, err
		}
		copy(en.ID[:], b)
		en.Flags = byte(fl)
		out[en.ID] = en
	}
	return out, rows.Err()
}

// affected lists the committed manifests using a chunk of pack that no
// other live pack holds.
func (e *Engine) affected(ctx context.Context, dom, pack string) ([]ManifestID, error) {
	ids, err := e.queryStrings(ctx, `SELECT DISTINCT r.manifest_id FROM vs_refs r
		JOIN vs_manifests m ON m.manifest_id = r.manifest_id
		JOIN vs_chunks c ON c.domain_id = m.domain_id AND c.chunk_id = r.chunk_id
		WHERE c.domain_id = ? AND c.pack = ? AND m.state = 'committed'
		AND NOT EXISTS (SELECT 1 FROM vs_chunks c2 JOIN vs_packs p2 ON p2.domain_id = c2.domain_id AND p2.pack = c2.pack
			WHERE c2.domain_id = c.domain_id AND c2.chunk_id = c.chunk_id AND c2.pack <> c.pack AND p2.state = 'live')
		ORDER BY r.manifest_id`, dom, pack)
	out := make([]ManifestID, len(ids))
	for i, s := range ids {
		out[i] = ManifestID(s)
	}
	return out, err
}

func describe(err error) string {
	if blob.IsNotExist(err) {
		return "missing from storage"
	}
	return err.Error()
}
