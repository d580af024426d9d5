package vaultstore

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/coffer-dev/coffer/internal/blob"
	"github.com/coffer-dev/coffer/internal/meta"
)

// GCOptions tune a collection; the zero value picks the defaults.
type GCOptions struct {
	// Grace is how old an unreferenced pack, or a leftover object of a
	// failed write, must be before it is condemned or deleted (default
	// 1 hour). It must exceed the longest time a writer takes between
	// uploading a pack and indexing it.
	Grace time.Duration
	// DeleteDelay is how long a condemned pack stays readable before it
	// is deleted (default 1 hour; negative: deleted at once).
	DeleteDelay time.Duration
	// RepackWaste is the fraction of unreferenced bytes above which a
	// pack still in use is rewritten (default 0.3; negative: never).
	RepackWaste float64
}

// GCStats report what a collection did.
type GCStats struct {
	Domains           int
	LeasesExpired     int // uncommitted recovery points dropped
	DeletesFinished   int // manifest deletions completed
	PacksCondemned    int
	PacksDeleted      int
	PacksRepacked     int
	OrphansDeleted    int // objects of failed writes and stale index objects
	BytesReclaimed    int64
	BytesRepackedKept int64
}

// ErrGCBusy: another collector holds the domain.
var ErrGCBusy = errors.New("vaultstore: another garbage collection is running on this domain")

var errRollback = errors.New("rollback")

// GC collects garbage in every domain of vault in region ("" for all).
// It is safe while writers run: see the package documentation. Repacking
// needs kms:Decrypt on the domain's key; without it GC only deletes.
func (e *Engine) GC(ctx context.Context, region, vault string, o GCOptions) (GCStats, error) {
	if o.Grace <= 0 {
		o.Grace = time.Hour
	}
	switch {
	case o.DeleteDelay == 0:
		o.DeleteDelay = time.Hour
	case o.DeleteDelay < 0:
		o.DeleteDelay = 0
	}
	if o.RepackWaste == 0 {
		o.RepackWaste = 0.3
	}
	var st GCStats
	doms, err := e.domains(ctx, region, vault)
	if err != nil {
		return st, err
	}
	var errs []error
	for _, ds := range doms {
		st.Domains++
		if err := e.gcDomain(ctx, ds, o, &st); err != nil {
			errs = append(errs, fmt.Errorf("vault %s domain %s: %w", ds.Vault, ds.id, err))
		}
	}
	return st, errors.Join(errs...)
}

// domains lists the known domains, filtered.
func (e *Engine) domains(ctx context.Context, region, vault string) ([]*domainState, error) {
	rows, err := e.db.QueryContext(ctx, `SELECT domain_id FROM vs_domains WHERE (? = '' OR region = ?) AND (? = '' OR vault = ?) ORDER BY region, vault, domain_id`,
		region, region, vault, vault)
	if err != nil {
		return nil, fmt.Errorf("list domains: %w", err)
	}
	var ids []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, s)
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	var out []*domainState
	for _, s := range ids {
		id, err := parseDomainID(s)
		if err != nil {
			return nil, err
		}
		ds, err := e.domainByID(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, ds)
	}
	return out, nil
}

func (e *Engine) queryStrings(ctx context.Context, q string, args ...any) ([]string, error) {
	rows, err := e.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

func (e *Engine) gcDomain(ctx context.Context, ds *domainState, o GCOptions, st *GCStats) error {
	holder := string(newManifestID())
	now := e.now()
	res, err := e.db.ExecContext(ctx, `INSERT INTO vs_gc (domain_id, holder, expires) VALUES (?, ?, ?)
		ON CONFLICT (domain_id) DO UPDATE SET holder = excluded.holder, expires = excluded.expires WHERE vs_gc.expires < ?`,
		ds.id.String(), holder, now+int64(time.Hour), now)
	if err != nil {
		return fmt.Errorf("take the GC lease: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrGCBusy
	}
	defer e.db.ExecContext(context.WithoutCancel(ctx), `DELETE FROM vs_gc WHERE domain_id = ? AND holder = ?`, ds.id.String(), holder)
	dom := ds.id.String()

	// 1. Deletions a crash interrupted.
	ids, err := e.queryStrings(ctx, `SELECT manifest_id FROM vs_manifests WHERE domain_id = ? AND state = 'deleting'`, dom)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := e.finishDelete(ctx, ds, ManifestID(id)); err != nil {
			return err
		}
		st.DeletesFinished++
	}

	// 2. Expired leases: the writer is gone or fenced.
	now = e.now()
	ids, err = e.queryStrings(ctx, `SELECT manifest_id FROM vs_manifests WHERE domain_id = ? AND state = 'writing' AND lease_expires < ?`, dom, now)
	if err != nil {
		return err
	}
	for _, id := range ids {
		dropped, err := e.dropWriting(ctx, ManifestID(id), now)
		if err != nil {
			return fmt.Errorf("drop expired lease: %w", err)
		}
		if dropped {
			st.LeasesExpired++
			if err := e.release(ctx, ds, ManifestID(id), st); err != nil {
				return err
			}
		}
	}

	// 3. Packs whose deletion a crash interrupted.
	packs, err := e.queryStrings(ctx, `SELECT pack FROM vs_packs WHERE domain_id = ? AND state = 'deleting'`, dom)
	if err != nil {
		return err
	}
	for _, p := range packs {
		if err := e.removePack(ctx, ds, p, st); err != nil {
			return err
		}
	}

	// 3b. Uploads whose writer (or collector) is gone.
	packs, err = e.queryStrings(ctx, `SELECT pack FROM vs_packs p WHERE domain_id = ? AND state = 'uploading' AND owner <> ?
		AND NOT EXISTS (SELECT 1 FROM vs_manifests m WHERE m.manifest_id = p.owner AND m.state = 'writing')
		AND NOT EXISTS (SELECT 1 FROM vs_gc g WHERE 'gc:' || g.holder = p.owner AND g.expires > ?)`, dom, "gc:"+holder, e.now())
	if err != nil {
		return err
	}
	for _, p := range packs {
		res, err := e.db.ExecContext(ctx, `UPDATE vs_packs SET state = 'deleting' WHERE domain_id = ? AND pack = ? AND state = 'uploading'`, dom, p)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			var tmp GCStats
			if err := e.removePack(ctx, ds, p, &tmp); err != nil {
				return err
			}
			st.OrphansDeleted++
		}
	}

	// 4. Condemned packs past the delete delay.
	packs, err = e.queryStrings(ctx, `SELECT pack FROM vs_packs WHERE domain_id = ? AND state = 'condemned' AND condemned_at < ?`, dom, e.now()-o.DeleteDelay.Nanoseconds())
	if err != nil {
		return err
	}
	for _, p := range packs {
		gone := false
		err := e.db.InTx(ctx, func(q meta.Querier) error {
			gone = false
			res, err := q.ExecContext(ctx, `UPDATE vs_packs SET state = 'deleting' WHERE domain_id = ? AND pack = ? AND state = 'condemned'`, dom, p)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return nil
			}
			needed, err := neededChunks(ctx, q, dom, p)
			if err != nil {
				return err
			}
			if needed > 0 {
				// Cannot happen while writers only reuse live packs;
				// keep the data rather than trust that.
				_, err = q.ExecContext(ctx, `UPDATE vs_packs SET state = 'live', condemned_at = 0 WHERE domain_id = ? AND pack = ?`, dom, p)
				return err
			}
			gone = true
			_, err = q.ExecContext(ctx, `DELETE FROM vs_chunks WHERE domain_id = ? AND pack = ?`, dom, p)
			return err
		})
		if err != nil {
			return fmt.Errorf("delete pack %s: %w", p, err)
		}
		if gone {
			if err := e.removePack(ctx, ds, p, st); err != nil {
				return err
			}
		}
	}

	// 5. Condemn dead packs, repack wasteful ones.
	type usage struct{ total, used int64 }
	use := map[string]*usage{}
	rows, err := e.db.QueryContext(ctx, `SELECT c.pack, c.length,
		CASE WHEN EXISTS (SELECT 1 FROM vs_refs r WHERE r.chunk_id = c.chunk_id) THEN 1 ELSE 0 END
		FROM vs_chunks c JOIN vs_packs p ON p.domain_id = c.domain_id AND p.pack = c.pack
		WHERE c.domain_id = ? AND p.state = 'live' AND p.created_at < ?`, dom, e.now()-o.Grace.Nanoseconds())
	if err != nil {
		return err
	}
	for rows.Next() {
		var p string
		var l int64
		var used int
		if err := rows.Scan(&p, &l, &used); err != nil {
			rows.Close()
			return err
		}
		u := use[p]
		if u == nil {
			u = &usage{}
			use[p] = u
		}
		u.total += l
		if used == 1 {
			u.used += l
		}
	}
	if err := rows.Close(); err != nil {
		return err
	}
	var keys *domainKeys
	var keyErr error
	for p, u := range use {
		if u.used == 0 {
			ok, err := e.condemn(ctx, dom, p)
			if err != nil {
				return err
			}
			if ok {
				st.PacksCondemned++
			}
			continue
		}
		if o.RepackWaste < 0 || float64(u.total-u.used) <= o.RepackWaste*float64(u.total) {
			continue
		}
		if keys == nil && keyErr == nil {
			keys, keyErr = e.unwrap(ctx, ds)
			if keyErr != nil {
				e.log.Warn("vaultstore: GC cannot repack without the domain key", "vault", ds.Vault, "err", keyErr)
			}
		}
		if keyErr != nil {
			continue
		}
		kept, err := e.repack(ctx, ds, keys, "gc:"+holder, p)
		if err != nil {
			return fmt.Errorf("repack %s: %w", p, err)
		}
		st.PacksRepacked++
		st.BytesRepackedKept += kept
	}

	// 6. Leftovers of failed writes: packs never indexed, manifests never
	// committed.
	cutoff := time.Unix(0, e.now()-o.Grace.Nanoseconds())
	known := map[string]bool{}
	all, err := e.queryStrings(ctx, `SELECT pack FROM vs_packs WHERE domain_id = ?`, dom)
	if err != nil {
		return err
	}
	for _, p := range all {
		known[p] = true
	}
	// Rows are created before the objects they name, so a row missing
	// from the snapshot may belong to an object written since: each
	// candidate is checked again after it was listed.
	rowExists := func(q, key string) (bool, error) {
		var n int
		err := e.db.QueryRowContext(ctx, q, dom, key).Scan(&n)
		return n > 0, err
	}
	err = ds.store.List(ctx, ds.prefix()+"data/", func(fi blob.Info) error {
		if known[path.Base(fi.Name)] || !fi.ModTime.Before(cutoff) {
			return nil
		}
		if ok, err := rowExists(`SELECT COUNT(*) FROM vs_packs WHERE domain_id = ? AND pack = ?`, path.Base(fi.Name)); err != nil || ok {
			return err
		}
		st.OrphansDeleted++
		st.BytesReclaimed += fi.Size
		return ds.store.Delete(ctx, fi.Name)
	})
	if err != nil {
		return fmt.Errorf("delete unindexed packs: %w", err)
	}
	ms, err := e.queryStrings(ctx, `SELECT manifest_id FROM vs_manifests WHERE domain_id = ?`, dom)
	if err != nil {
		return err
	}
	known = map[string]bool{}
	for _, m := range ms {
		known[m] = true
	}
	err = ds.store.List(ctx, ds.prefix()+"manifests/", func(fi blob.Info) error {
		if known[path.Base(fi.Name)] || !fi.ModTime.Before(cutoff) || strings.HasSuffix(fi.Name, "/") {
			return nil
		}
		if ok, err := rowExists(`SELECT COUNT(*) FROM vs_manifests WHERE domain_id = ? AND manifest_id = ?`, path.Base(fi.Name)); err != nil || ok {
			return err
		}
		st.OrphansDeleted++
		return ds.store.Delete(ctx, fi.Name)
	})
	if err != nil {
		return fmt.Errorf("delete uncommitted manifests: %w", err)
	}

	// 7. Index objects none of whose packs exist any more (best effort:
	// reading them needs the domain key). The pack rows are read after
	// the listing, so an index object written meanwhile finds its packs.
	candidates := map[string][]string{}
	err = ds.store.List(ctx, ds.prefix()+"index/", func(fi blob.Info) error {
		if !fi.ModTime.Before(cutoff) {
			return nil
		}
		if keys == nil && keyErr == nil {
			if keys, keyErr = e.unwrap(ctx, ds); keyErr != nil {
				e.log.Warn("vaultstore: GC cannot read index objects without the domain key", "vault", ds.Vault, "err", keyErr)
			}
		}
		if keyErr != nil {
			return nil
		}
		obj, err := readObject(ctx, ds.store, fi.Name)
		if err != nil {
			return err
		}
		plain, err := openObject(keys.meta, kindIndex, ds.id, nil, obj)
		if err != nil {
			return nil // verify reports damaged objects
		}
		ps, err := decodeIndex(plain)
		if err != nil {
			return nil
		}
		for _, p := range ps {
			candidates[fi.Name] = append(candidates[fi.Name], p.Name)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("collect index objects: %w", err)
	}
	packs, err = e.queryStrings(ctx, `SELECT pack FROM vs_packs WHERE domain_id = ?`, dom)
	if err != nil {
		return err
	}
	known = map[string]bool{}
	for _, p := range packs {
		known[p] = true
	}
	var stale []string
	for name, ps := range candidates {
		if !slices.ContainsFunc(ps, func(p string) bool { return known[p] }) {
			stale = append(stale, name)
		}
	}
	for _, name := range stale {
		if err := ds.store.Delete(ctx, name); err != nil {
			return err
		}
		st.OrphansDeleted++
	}
	e.log.Info("vaultstore: collected", "vault", ds.Vault, "region", ds.Region, "domain", dom,
		"packs_condemned", st.PacksCondemned, "packs_deleted", st.PacksDeleted, "packs_repacked", st.PacksRepacked, "bytes_reclaimed", st.BytesReclaimed)
	return nil
}

// neededChunks counts a pack's chunks that a manifest references and no
// other live pack holds.
func neededChunks(ctx context.Context, q meta.Querier, dom, pack string) (int, error) {
	var n int
	err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM vs_chunks c WHERE c.domain_id = ? AND c.pack = ?
		AND EXISTS (SELECT 1 FROM vs_refs r WHERE r.chunk_id = c.chunk_id)
		AND NOT EXISTS (SELECT 1 FROM vs_chunks c2 JOIN vs_packs p2 ON p2.domain_id = c2.domain_id AND p2.pack = c2.pack
			WHERE c2.domain_id = c.domain_id AND c2.chunk_id = c.chunk_id AND c2.pack <> c.pack AND p2.state = 'live')`, dom, pack).Scan(&n)
	return n, err
}

// condemn makes a pack invisible to dedup if nothing needs it. The
// UPDATE takes the pack's row lock first, so a writer locking it to reuse
// its chunks either finished before (its references are then counted) or
// finds it condemned.
func (e *Engine) condemn(ctx context.Context, dom, pack string) (bool, error) {
	err := e.db.InTx(ctx, func(q meta.Querier) error {
		res, err := q.ExecContext(ctx, `UPDATE vs_packs SET state = 'condemned', condemned_at = ? WHERE domain_id = ? AND pack = ? AND state = 'live'`, e.now(), dom, pack)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errRollback
		}
		needed, err := neededChunks(ctx, q, dom, pack)
		if err != nil {
			return err
		}
		if needed > 0 {
			return errRollback
		}
		return nil
	})
	if errors.Is(err, errRollback) {
		return false, nil
	}
	return err == nil, err
}

// removePack deletes a pack in state deleting: the object, then the row.
func (e *Engine) removePack(ctx context.Context, ds *domainState, pack string, st *GCStats) error {
	var size int64
	if err := e.db.QueryRowContext(ctx, `SELECT size FROM vs_packs WHERE domain_id = ? AND pack = ?`, ds.id.String(), pack).Scan(&size); err != nil {
		return err
	}
	if err := ds.store.Delete(ctx, ds.packName(pack)); err != nil {
		return fmt.Errorf("delete pack %s: %w", pack, err)
	}
	if _, err := e.db.ExecContext(ctx, `DELETE FROM vs_packs WHERE domain_id = ? AND pack = ? AND state = 'deleting'`, ds.id.String(), pack); err != nil {
		return err
	}
	st.PacksDeleted++
	st.BytesReclaimed += size
	return nil
}

// repack copies a pack's referenced chunks into a new pack (verifying
// each), indexes it, then condemns the old pack. It returns the bytes
// kept.
func (e *Engine) repack(ctx context.Context, ds *domainState, k *domainKeys, owner, pack string) (int64, error) {
	rows, err := e.db.QueryContext(ctx, `SELECT c.chunk_id FROM vs_chunks c WHERE c.domain_id = ? AND c.pack = ?
		AND EXISTS (SELECT 1 FROM vs_refs r WHERE r.chunk_id = c.chunk_id)`, ds.id.String(), pack)
	if err != nil {
		return 0, err
	}
	used := map[ChunkID]bool{}
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			rows.Close()
			return 0, err
		}
		var id ChunkID
		copy(id[:], b)
		used[id] = true
	}
	if err := rows.Close(); err != nil {
		return 0, err
	}
	data, err := readObject(ctx, ds.store, ds.packName(pack))
	if err != nil {
		return 0, err
	}
	es, aead, err := parsePack(k.enc, ds.id, data)
	if err != nil {
		return 0, err
	}
	pb := newPackBuilder(k.enc, ds.id, make([]byte, 0, len(data)))
	for _, en := range es {
		if !used[en.ID] {
			continue
		}
		payload, err := openChunk(aead, ds.id, en, data[en.Offset:en.Offset+en.Length])
		if err != nil {
			return 0, err
		}
		if err := e.checkPayload(k, en, payload); err != nil {
			return 0, err
		}
		pb.add(en.ID, en.Flags, int(en.RawLen), payload)
	}
	if len(pb.entries) == 0 {
		_, err := e.condemn(ctx, ds.id.String(), pack)
		return 0, err
	}
	out, name, err := pb.finish()
	if err != nil {
		return 0, err
	}
	if err := e.registerPack(ctx, ds, owner, name, int64(len(out))); err != nil {
		return 0, err
	}
	if err := createObject(ctx, ds.store, ds.packName(name), out); err != nil && !errors.Is(err, blob.ErrExists) {
		return 0, err
	}
	if err := e.addPack(ctx, ds, "", name, pb.entries); err != nil {
		return 0, err
	}
	if _, err := e.condemn(ctx, ds.id.String(), pack); err != nil {
		return 0, err
	}
	return int64(len(out)), nil
}

// checkPayload decodes a payload and checks it against the chunk ID.
func (e *Engine) checkPayload(k *domainKeys, en Entry, payload []byte) error {
	plain := payload
	if en.Flags == flagZstd {
		var err error
		plain, err = e.dec.DecodeAll(payload, make([]byte, 0, en.RawLen))
		if err != nil {
			return corrupt("chunk %s: decompress: %v", en.ID, err)
		}
	}
	if int64(len(plain)) != en.RawLen || chunkID(k.id, plain) != en.ID {
		return corrupt("chunk %s: content does not match its ID", en.ID)
	}
	return nil
}
