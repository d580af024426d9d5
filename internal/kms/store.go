package kms

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/coffer-dev/coffer/internal/awserr"
	"github.com/coffer-dev/coffer/internal/meta"
)

func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

const keyColumns = `id, arn, account_id, region, description, key_spec, key_usage, key_manager, managed_service, state,
	created_at, deletion_date, pending_window_days, policy, policy_version, current_material,
	rotation_enabled, rotation_period_days, next_rotation, on_demand_rotations`

func scanKey(row interface{ Scan(...any) error }) (*key, error) {
	var k key
	var created, deletion, next int64
	var rot int
	err := row.Scan(&k.ID, &k.ARN, &k.Account, &k.Region, &k.Description, &k.Spec, &k.Usage, &k.Manager, &k.ManagedService, &k.State,
		&created, &deletion, &k.PendingWindow, &k.Policy, &k.PolicyVersion, &k.CurrentMaterial,
		&rot, &k.RotationPeriod, &next, &k.OnDemandRotations)
	if err != nil {
		return nil, err
	}
	k.Created, k.DeletionDate, k.NextRotation = fromNanos(created), fromNanos(deletion), fromNanos(next)
	k.RotationEnabled = rot != 0
	return &k, nil
}

// loadKey returns the key with ID id, or nil.
// Outside transactions it uses a prepared statement: every operation
// reads one key row, and parsing the query was a visible share of a
// request's cost.
func (s *Service) loadKey(ctx context.Context, q meta.Querier, id string) (*key, error) {
	const query = `SELECT ` + keyColumns + ` FROM kms_keys WHERE id = ?`
	if q != meta.Querier(s.store) {
		return loadedKey(q.QueryRowContext(ctx, query, id), id)
	}
	// Outside a transaction the row may come from the cache; callers
	// get their own copy, which they may change.
	now := time.Now()
	k, ok := s.keys.Get(id, now)
	if !ok {
		gen := s.gen.Load()
		var row *sql.Row
		if stmt := s.keyStmt(ctx, query); stmt != nil {
			row = stmt.QueryRowContext(ctx, id)
		} else {
			row = q.QueryRowContext(ctx, query, id)
		}
		var err error
		if k, err = loadedKey(row, id); err != nil {
			return nil, err
		}
		s.keys.Put(id, gen, now, k)
	}
	if k == nil {
		return nil, nil
	}
	cp := *k
	return &cp, nil
}

func loadedKey(row *sql.Row, id string) (*key, error) {
	k, err := scanKey(row)
	if isNoRows(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load key %s: %w", id, err)
	}
	return k, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func insertKey(ctx context.Context, q meta.Querier, k *key) error {
	_, err := q.ExecContext(ctx, `INSERT INTO kms_keys (`+keyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		k.ID, k.ARN, k.Account, k.Region, k.Description, k.Spec, k.Usage, k.Manager, k.ManagedService, k.State,
		nanos(k.Created), nanos(k.DeletionDate), k.PendingWindow, k.Policy, k.PolicyVersion, k.CurrentMaterial,
		boolInt(k.RotationEnabled), k.RotationPeriod, nanos(k.NextRotation), k.OnDemandRotations)
	if err != nil {
		return fmt.Errorf("insert key: %w", err)
	}
	return nil
}

// materialAAD binds sealed material to its key and version.
func materialAAD(arn string, version uint32) []byte {
	return []byte("kms/key-material/" + arn + "/" + strconv.FormatUint(uint64(version), 10))
}

func drMaterialName(k *key, version uint32) string {
	return fmt.Sprintf("kms/%s/%s/material/%d", k.Account, k.ID, version)
}

func drMetadataName(k *key) string { return fmt.Sprintf("kms/%s/%s/metadata.json", k.Account, k.ID) }

// newMaterial generates, seals and stores (in the region's blob store
// and through q) a new material version of k.
func (s *Service) newMaterial(ctx context.Context, k *key, version uint32, rotationType string) (func(q meta.Querier) error, error) {
	raw, err := generateMaterial(k.Spec)
	if err != nil {
		return nil, err
	}
	sealed, err := s.root.Seal(ctx, raw, materialAAD(k.ARN, version))
	clear(raw)
	if err != nil {
		return nil, fmt.Errorf("seal key material: %w", err)
	}
	if err := s.writeDR(ctx, k.Region, drMaterialName(k, version), sealed); err != nil {
		return nil, err
	}
	created := s.now()
	return func(q meta.Querier) error {
		_, err := q.ExecContext(ctx, `INSERT INTO kms_key_material (key_id, version, sealed, created_at, rotation_type) VALUES (?, ?, ?, ?, ?)`,
			k.ID, version, sealed, nanos(created), rotationType)
		if err != nil {
			return fmt.Errorf("insert key material: %w", err)
		}
		return nil
	}, nil
}

// writeDR writes a disaster-recovery object to the region's blob store.
func (s *Service) writeDR(ctx context.Context, region, name string, data []byte) error {
	if s.regions == nil {
		return nil
	}
	st, err := s.regions(region)
	if err != nil {
		return fmt.Errorf("blob store of region %s: %w", region, err)
	}
	if err := st.Put(ctx, name, bytes.NewReader(data), int64(len(data))); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// drMetadata is what the blob store keeps about a key besides material.
type drMetadata struct {
	KeyID, Arn, Account, Region, Description string
	KeySpec, KeyUsage, KeyManager            string
	ManagedService                           string `json:",omitempty"`
	Created                                  time.Time
	Policy                                   string
}

func (s *Service) writeDRMetadata(ctx context.Context, k *key) error {
	b, err := json.Marshal(drMetadata{KeyID: k.ID, Arn: k.ARN, Account: k.Account, Region: k.Region, Description: k.Description,
		KeySpec: k.Spec, KeyUsage: k.Usage, KeyManager: k.Manager, ManagedService: k.ManagedService, Created: k.Created, Policy: k.Policy})
	if err != nil {
		return err
	}
	return s.writeDR(ctx, k.Region, drMetadataName(k), b)
}

// material returns the opened material version of k, cached in memory.
// Material of a version never changes; a deleted key is refused before
// its cache is consulted, since callers load the key row first.
func (s *Service) material(ctx context.Context, k *key, version uint32) (*material, error) {
	ck := k.ID + "/" + strconv.FormatUint(uint64(version), 10)
	s.mu.Lock()
	m := s.materials[ck]
	s.mu.Unlock()
	if m != nil {
		return m, nil
	}
	var sealed []byte
	err := s.store.QueryRowContext(ctx, `SELECT sealed FROM kms_key_material WHERE key_id = ? AND version = ?`, k.ID, version).Scan(&sealed)
	if isNoRows(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read key material: %w", err)
	}
	raw, err := s.root.Open(ctx, sealed, materialAAD(k.ARN, version))
	if err != nil {
		return nil, fmt.Errorf("open key material of %s: %w", k.ARN, err)
	}
	m, err = loadMaterial(k.Spec, version, raw)
	clear(raw)
	if err != nil {
		return nil, fmt.Errorf("key material of %s: %w", k.ARN, err)
	}
	s.mu.Lock()
	s.materials[ck] = m
	s.mu.Unlock()
	return m, nil
}

// currentMaterial is the version new ciphertexts use.
func (s *Service) currentMaterial(ctx context.Context, k *key) (*material, error) {
	m, err := s.material(ctx, k, k.CurrentMaterial)
	if err != nil {
		return nil, err
	}
	if m == nil {
		return nil, awserr.New(awserr.Internal, "KMSInternalException", "key material of %s is missing", k.ARN)
	}
	return m, nil
}

func (s *Service) forgetKey(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.policies, id)
	for ck := range s.materials {
		if len(ck) > len(id) && ck[:len(id)] == id && ck[len(id)] == '/' {
			delete(s.materials, ck)
		}
	}
}

// loadTags returns the key's tags.
func (s *Service) loadTags(ctx context.Context, id string) ([]Tag, error) {
	rows, err := s.store.QueryContext(ctx, `SELECT tag_key, tag_value FROM kms_tags WHERE key_id = ? ORDER BY tag_key`, id)
	if err != nil {
		return nil, fmt.Errorf("read tags: %w", err)
	}
	defer rows.Close()
	var tags []Tag
	for rows.Next() {
		var t Tag
		if err := rows.Scan(&t.TagKey, &t.TagValue); err != nil {
			return nil, err
		}
		tags = append(tags, t)
	}
	return tags, rows.Err()
}

// keyStmt prepares query on the store's pool once; nil when the store
// cannot prepare (the caller then runs the query unprepared).
func (s *Service) keyStmt(ctx context.Context, query string) *sql.Stmt {
	s.prepOnce.Do(func() {
		if s.store.Dialect() == meta.Postgres {
			query = meta.RebindDollar(query)
		}
		stmt, err := s.store.DB().PrepareContext(context.WithoutCancel(ctx), query)
		if err != nil {
			s.log.Warn("prepare key lookup", "err", err)
			return
		}
		s.loadStmt = stmt
	})
	return s.loadStmt
}
