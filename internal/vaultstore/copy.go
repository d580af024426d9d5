package vaultstore

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
)

// Copy copies recovery point id into domain dst (another vault, key,
// account or region) as a new recovery point, and returns its ID. It
// unwraps the source key and the destination key as the caller in ctx
// (both need kms:Decrypt; a new destination domain needs
// kms:GenerateDataKey). Each chunk is read and verified, its destination
// chunk ID computed, and only chunks the destination lacks are re-sealed
// (reusing their compressed bytes) and uploaded. meta nil keeps the
// source's metadata. Stats report bytes read, bytes written and chunks
// reused.
func (e *Engine) Copy(ctx context.Context, id ManifestID, dst Domain, meta map[string]string) (ManifestID, Stats, error) {
	_, sds, err := e.manifestRow(ctx, id)
	if err != nil {
		return "", Stats{}, err
	}
	sk, err := e.unwrap(ctx, sds)
	if err != nil {
		return "", Stats{}, err
	}
	m, mlen, err := e.loadManifest(ctx, sds, sk, id)
	if err != nil {
		return "", Stats{}, err
	}
	dds, err := e.domain(ctx, dst, true)
	if err != nil {
		return "", Stats{}, err
	}
	if dds.id == sds.id {
		return "", Stats{}, errors.New("vaultstore: source and destination are the same dedup domain")
	}
	dk, err := e.unwrap(ctx, dds)
	if err != nil {
		return "", Stats{}, err
	}
	if meta == nil {
		meta = m.Meta
	}
	w, err := e.startWriter(ctx, dds, dk, meta)
	if err != nil {
		return "", Stats{}, err
	}
	f := e.newFetcher(w.ctx, sds, sk, id, m, true)
	defer f.cancel()
	w.start(func(w *Writer, out chan<- *item) error {
		h := sha256.New()
		var seq int64
		for {
			s, err := f.next()
			if err != nil {
				return err
			}
			if s == nil {
				break
			}
			for _, c := range s.chunks {
				h.Write(c.plain)
				w.size += int64(len(c.plain))
				if err := w.emit(out, &item{seq: seq, data: c.plain, payload: c.payload, flags: c.flags, pre: true}); err != nil {
					return err
				}
				seq++
			}
		}
		h.Sum(w.sum[:0])
		if w.sum != m.SHA256 || w.size != m.Size {
			return fmt.Errorf("recovery point %s: %w: the copied stream does not match its manifest", id, ErrCorrupt)
		}
		return nil
	})
	nid, st, err := w.Commit(ctx)
	st.BytesRead = f.read.Load() + mlen
	return nid, st, err
}
