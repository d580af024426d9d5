package kms

import (
	"context"
	"fmt"
	"time"

	"github.com/coffer-dev/coffer/internal/awserr"
	"github.com/coffer-dev/coffer/internal/meta"
)

const (
	defaultRotationDays = 365
	// maxOnDemandRotations is KMS's limit of on-demand rotations per key.
	maxOnDemandRotations = 10
)

// requireRotatable: only symmetric customer-managed keys rotate on request.
func requireRotatable(k *key) error {
	if k.Spec != SpecSymmetric {
		return awserr.New(awserr.Invalid, "UnsupportedOperationException", "%s is a %s key; only symmetric encryption keys support rotation.", k.ARN, k.Spec)
	}
	if k.Manager == ManagerAWS {
		return awserr.New(awserr.Invalid, "UnsupportedOperationException", "%s is an AWS managed key; AWS rotates it.", k.ARN)
	}
	return nil
}

// RotationInput is EnableKeyRotation's request.
type RotationInput struct {
	Call
	KeyId                string
	RotationPeriodInDays int
}

// EnableKeyRotation turns on automatic rotation every 90 to 2560 days.
func (s *Service) EnableKeyRotation(ctx context.Context, in *RotationInput) error {
	days := in.RotationPeriodInDays
	if days == 0 {
		days = defaultRotationDays
	}
	if days < 90 || days > 2560 {
		return awserr.Validation("1 validation error detected: Value '%d' at 'rotationPeriodInDays' failed to satisfy constraint: Member must have value between 90 and 2560", days)
	}
	k, err := s.manage(ctx, in.KeyId, in.Call, opEnableRotation)
	if err != nil {
		return err
	}
	if err := requireEnabled(k); err != nil {
		return err
	}
	if err := requireRotatable(k); err != nil {
		return err
	}
	next := s.now().UTC().Add(time.Duration(days) * 24 * time.Hour)
	return s.exec(ctx, `UPDATE kms_keys SET rotation_enabled = 1, rotation_period_days = ?, next_rotation = ? WHERE id = ?`, days, nanos(next), k.ID)
}

// DisableKeyRotation turns automatic rotation off.
func (s *Service) DisableKeyRotation(ctx context.Context, in *KeyInput) error {
	k, err := s.manage(ctx, in.KeyId, in.Call, opDisableRotation)
	if err != nil {
		return err
	}
	if err := requireEnabled(k); err != nil {
		return err
	}
	if err := requireRotatable(k); err != nil {
		return err
	}
	return s.exec(ctx, `UPDATE kms_keys SET rotation_enabled = 0, next_rotation = 0 WHERE id = ?`, k.ID)
}

// RotationStatus is GetKeyRotationStatus' answer.
type RotationStatus struct {
	KeyId                string
	KeyRotationEnabled   bool
	RotationPeriodInDays int
	NextRotationDate     time.Time
}

// GetKeyRotationStatus reports whether automatic rotation is on.
func (s *Service) GetKeyRotationStatus(ctx context.Context, in *KeyInput) (*RotationStatus, error) {
	k, err := s.resolve(ctx, in.KeyId, in.region(ctx), opRotationStatus)
	if err != nil {
		return nil, err
	}
	if err := s.authorizeKey(ctx, k, opRotationStatus, in.Call, nil, nil); err != nil {
		return nil, err
	}
	if err := requireNotPendingDeletion(k); err != nil {
		return nil, err
	}
	if k.Spec != SpecSymmetric {
		return nil, awserr.New(awserr.Invalid, "UnsupportedOperationException", "%s is a %s key; only symmetric encryption keys support rotation.", k.ARN, k.Spec)
	}
	out := &RotationStatus{KeyId: k.ARN, KeyRotationEnabled: k.RotationEnabled}
	if k.RotationEnabled {
		out.RotationPeriodInDays, out.NextRotationDate = k.RotationPeriod, k.NextRotation
	}
	return out, nil
}

// RotateKeyOnDemand adds a material version now; old versions stay so
// old ciphertexts decrypt.
func (s *Service) RotateKeyOnDemand(ctx context.Context, in *KeyInput) (string, error) {
	k, err := s.manage(ctx, in.KeyId, in.Call, opRotateOnDemand)
	if err != nil {
		return "", err
	}
	if err := requireEnabled(k); err != nil {
		return "", err
	}
	if err := requireRotatable(k); err != nil {
		return "", err
	}
	if k.OnDemandRotations >= maxOnDemandRotations {
		return "", awserr.New(awserr.Limit, "LimitExceededException", "%s has been rotated on demand %d times, the most allowed.", k.ARN, maxOnDemandRotations)
	}
	if err := s.rotate(ctx, k, "ON_DEMAND"); err != nil {
		return "", err
	}
	return k.ARN, nil
}

// rotate makes a new material version current. Two concurrent rotations
// of one key cannot both win: the update names the version it replaces.
func (s *Service) rotate(ctx context.Context, k *key, rotationType string) error {
	version := k.CurrentMaterial + 1
	ins, err := s.newMaterial(ctx, k, version, rotationType)
	if err != nil {
		return err
	}
	return s.store.InTx(ctx, func(q meta.Querier) error {
		if err := ins(q); err != nil {
			return awserr.New(awserr.Conflict, "ConflictException", "%s is being rotated by another request.", k.ARN)
		}
		set := `on_demand_rotations = on_demand_rotations + 1`
		args := []any{version}
		if rotationType == "AUTOMATIC" {
			set = `next_rotation = ?`
			args = append(args, nanos(s.now().UTC().Add(time.Duration(k.RotationPeriod)*24*time.Hour)))
		}
		res, err := q.ExecContext(ctx, `UPDATE kms_keys SET current_material = ?, `+set+` WHERE id = ? AND current_material = ?`, append(args, k.ID, k.CurrentMaterial)...)
		if err != nil {
			return fmt.Errorf("rotate key: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return awserr.New(awserr.Conflict, "ConflictException", "%s is being rotated by another request.", k.ARN)
		}
		return nil
	})
}

// ListKeyRotationsInput is ListKeyRotations' request.
type ListKeyRotationsInput struct {
	Call
	KeyId  string
	Limit  int
	Marker string
}

// RotationsListEntry is one completed rotation.
type RotationsListEntry struct {
	KeyId        string
	RotationDate time.Time
	RotationType string
}

// ListKeyRotationsOutput is its answer.
type ListKeyRotationsOutput struct {
	Rotations  []RotationsListEntry
	NextMarker string
	Truncated  bool
}

// ListKeyRotations lists the rotations of a key, oldest first.
func (s *Service) ListKeyRotations(ctx context.Context, in *ListKeyRotationsInput) (*ListKeyRotationsOutput, error) {
	limit, err := pageLimit(in.Limit, 1000)
	if err != nil {
		return nil, err
	}
	after := 1
	if in.Marker != "" {
		if _, err := fmt.Sscanf(in.Marker, "%d", &after); err != nil || after < 1 {
			return nil, awserr.New(awserr.Invalid, "InvalidMarkerException", "the marker is not one that ListKeyRotations returned")
		}
	}
	k, err := s.manage(ctx, in.KeyId, in.Call, opListRotations)
	if err != nil {
		return nil, err
	}
	if k.Spec != SpecSymmetric {
		return nil, awserr.New(awserr.Invalid, "UnsupportedOperationException", "%s is a %s key; only symmetric encryption keys support rotation.", k.ARN, k.Spec)
	}
	rows, err := s.store.QueryContext(ctx, `SELECT version, created_at, rotation_type FROM kms_key_material WHERE key_id = ? AND version > ? ORDER BY version LIMIT ?`, k.ID, after, limit+1)
	if err != nil {
		return nil, fmt.Errorf("list rotations: %w", err)
	}
	defer rows.Close()
	out := &ListKeyRotationsOutput{Rotations: []RotationsListEntry{}}
	last := 0
	for rows.Next() {
		var v int
		var at int64
		var typ string
		if err := rows.Scan(&v, &at, &typ); err != nil {
			return nil, err
		}
		if len(out.Rotations) == limit {
			out.Truncated, out.NextMarker = true, fmt.Sprint(last)
			break
		}
		out.Rotations = append(out.Rotations, RotationsListEntry{KeyId: k.ARN, RotationDate: fromNanos(at), RotationType: typ})
		last = v
	}
	return out, rows.Err()
}
