package kms

import (
	"context"
	"fmt"
	"time"

	"github.com/coffer-dev/coffer/internal/meta"
)

// stateDeleted marks a destroyed key. Its row stays as a tombstone so
// that Decrypt of its old ciphertexts answers NotFoundException naming
// the key; every operation treats it as not existing.
const stateDeleted = "Deleted"

// Sweep does one pass of the background work, all of it driven by state
// in the store so a restart resumes where it left off: it destroys the
// keys whose deletion window has ended and rotates the keys whose
// automatic rotation is due.
func (s *Service) Sweep(ctx context.Context) error {
	now := nanos(s.now())
	ids, err := s.queryIDs(ctx, `SELECT id FROM kms_keys WHERE state = ? AND deletion_date <= ?`, StatePendingDeletion, now)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := s.destroy(ctx, id); err != nil {
			return err
		}
	}
	ids, err = s.queryIDs(ctx, `SELECT id FROM kms_keys WHERE rotation_enabled = 1 AND state = ? AND next_rotation <= ?`, StateEnabled, now)
	if err != nil {
		return err
	}
	for _, id := range ids {
		k, err := s.loadKey(ctx, s.store, id)
		if err != nil || k == nil {
			return err
		}
		if err := s.rotate(ctx, k, "AUTOMATIC"); err != nil {
			return fmt.Errorf("rotate %s: %w", k.ARN, err)
		}
		s.log.Info("key rotated", "key", k.ARN, "version", k.CurrentMaterial+1)
	}
	return nil
}

func (s *Service) queryIDs(ctx context.Context, q string, args ...any) ([]string, error) {
	rows, err := s.store.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sweep: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// destroy deletes a key's material (database and blob store), aliases,
// grants and tags, and leaves the tombstone. It re-checks the state in
// the transaction, so a CancelKeyDeletion that won the race keeps the key.
func (s *Service) destroy(ctx context.Context, id string) error {
	var k *key
	var versions []uint32
	err := s.store.InTx(ctx, func(q meta.Querier) error {
		var err error
		if k, err = s.loadKey(ctx, q, id); err != nil || k == nil {
			return err
		}
		if k.State != StatePendingDeletion || k.DeletionDate.After(s.now()) {
			k = nil
			return nil
		}
		versions = versions[:0]
		for v := uint32(1); v <= k.CurrentMaterial; v++ {
			versions = append(versions, v)
		}
		for _, stmt := range []string{
			`DELETE FROM kms_key_material WHERE key_id = ?`,
			`DELETE FROM kms_aliases WHERE key_id = ?`,
			`DELETE FROM kms_grants WHERE key_id = ?`,
			`DELETE FROM kms_tags WHERE key_id = ?`,
		} {
			if _, err := q.ExecContext(ctx, stmt, id); err != nil {
				return err
			}
		}
		_, err = q.ExecContext(ctx, `UPDATE kms_keys SET state = ?, rotation_enabled = 0 WHERE id = ?`, stateDeleted, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("destroy key %s: %w", id, err)
	}
	if k == nil {
		return nil
	}
	s.forgetKey(id)
	if s.regions != nil {
		st, err := s.regions(k.Region)
		if err != nil {
			return fmt.Errorf("blob store of region %s: %w", k.Region, err)
		}
		for _, v := range versions {
			if err := st.Delete(ctx, drMaterialName(k, v)); err != nil {
				return fmt.Errorf("delete wrapped material of %s: %w", k.ARN, err)
			}
		}
		if err := st.Delete(ctx, drMetadataName(k)); err != nil {
			return fmt.Errorf("delete metadata of %s: %w", k.ARN, err)
		}
	}
	s.log.Info("key deleted", "key", k.ARN)
	return nil
}

// RunSweeper calls Sweep every interval until ctx ends.
func (s *Service) RunSweeper(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("kms sweep failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
