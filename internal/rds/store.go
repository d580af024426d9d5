package rds

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/coffer-dev/coffer/internal/awserr"
	"github.com/coffer-dev/coffer/internal/engine"
	"github.com/coffer-dev/coffer/internal/meta"
)

const instanceColumns = `account_id, region, identifier, arn, resource_id, engine, engine_version, instance_class,
	allocated_storage, master_username, db_name, status, status_message, origin, storage_encrypted, kms_key_arn,
	grant_id, target, credentials, deletion_protection, created_at, updated_at, server, node_id, backup_retention_period,
	pending_instance_class`

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (s *Service) insert(ctx context.Context, inst *Instance) error {
	target, err := json.Marshal(inst.target)
	if err != nil {
		return err
	}
	inst.updatedAt = inst.CreatedAt
	err = s.store.InTx(ctx, func(q meta.Querier) error {
		_, err := q.ExecContext(ctx, `INSERT INTO rds_instances (`+instanceColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			inst.Account, inst.Region, inst.Identifier, inst.ARN, inst.ResourceID, inst.Engine, inst.EngineVersion, inst.InstanceClass,
			inst.AllocatedStorage, inst.MasterUsername, inst.DBName, inst.Status, inst.StatusMessage, inst.Origin, boolInt(inst.StorageEncrypted), inst.KMSKeyARN,
			inst.GrantID, string(target), inst.credentials, boolInt(inst.DeletionProtection), inst.CreatedAt.UnixNano(), inst.updatedAt.UnixNano(),
			inst.server, inst.NodeID, inst.BackupRetentionPeriod, inst.PendingInstanceClass)
		if err != nil {
			return err
		}
		return putTags(ctx, q, inst.ARN, inst.Tags)
	})
	if errors.Is(err, meta.ErrConflict) {
		return alreadyExists(inst.Identifier)
	}
	return err
}

// update writes the fields ModifyDBInstance changes.
func (s *Service) update(ctx context.Context, inst *Instance) error {
	_, err := s.store.ExecContext(ctx, `UPDATE rds_instances SET instance_class = ?, allocated_storage = ?, deletion_protection = ?, credentials = ?,
		backup_retention_period = ?, pending_instance_class = ?, status = ?, status_message = ?, updated_at = ? WHERE arn = ?`,
		inst.InstanceClass, inst.AllocatedStorage, boolInt(inst.DeletionProtection), inst.credentials,
		inst.BackupRetentionPeriod, inst.PendingInstanceClass, inst.Status, inst.StatusMessage, inst.updatedAt.UnixNano(), inst.ARN)
	return err
}

// markProvisioned records the database made for an instance and makes it
// available, unless it was deleted meanwhile.
func (s *Service) markProvisioned(ctx context.Context, inst *Instance) error {
	target, err := json.Marshal(inst.target)
	if err != nil {
		return err
	}
	inst.Status, inst.StatusMessage, inst.updatedAt = StatusAvailable, "", s.now()
	res, err := s.store.ExecContext(ctx, `UPDATE rds_instances SET status = ?, status_message = '', engine_version = ?, target = ?, server = ?, node_id = ?, updated_at = ?
		WHERE arn = ? AND status = ?`,
		StatusAvailable, inst.EngineVersion, string(target), inst.server, inst.NodeID, inst.updatedAt.UnixNano(), inst.ARN, StatusCreating)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("instance %s is no longer creating", inst.ARN)
	}
	return nil
}

func (s *Service) setStatus(ctx context.Context, inst *Instance, status, message string) {
	inst.Status, inst.StatusMessage, inst.updatedAt = status, message, s.now()
	if _, err := s.store.ExecContext(ctx, `UPDATE rds_instances SET status = ?, status_message = ?, updated_at = ? WHERE arn = ?`,
		status, message, inst.updatedAt.UnixNano(), inst.ARN); err != nil {
		s.log.Error("record DB instance status", "instance", inst.ARN, "status", status, "error", err)
	}
}

type scanner interface{ Scan(...any) error }

func scanInstance(row scanner) (*Instance, error) {
	var (
		inst                  Instance
		encrypted, protection int
		target                string
		created, updated      int64
	)
	err := row.Scan(&inst.Account, &inst.Region, &inst.Identifier, &inst.ARN, &inst.ResourceID, &inst.Engine, &inst.EngineVersion, &inst.InstanceClass,
		&inst.AllocatedStorage, &inst.MasterUsername, &inst.DBName, &inst.Status, &inst.StatusMessage, &inst.Origin, &encrypted, &inst.KMSKeyARN,
		&inst.GrantID, &target, &inst.credentials, &protection, &created, &updated, &inst.server, &inst.NodeID, &inst.BackupRetentionPeriod,
		&inst.PendingInstanceClass)
	if err != nil {
		return nil, err
	}
	inst.StorageEncrypted, inst.DeletionProtection = encrypted != 0, protection != 0
	inst.CreatedAt, inst.updatedAt = time.Unix(0, created).UTC(), time.Unix(0, updated).UTC()
	if err := json.Unmarshal([]byte(target), &inst.target); err != nil {
		return nil, fmt.Errorf("instance %s: target: %w", inst.ARN, err)
	}
	if inst.target.Path != "" {
		inst.Endpoint = Endpoint{Address: inst.target.Path}
	} else if inst.target.Host != "" {
		inst.Endpoint = Endpoint{Address: inst.target.Host, Port: inst.target.Port}
	}
	return &inst, nil
}

func (s *Service) load(ctx context.Context, q meta.Querier, sc scope, id string) (*Instance, error) {
	inst, err := scanInstance(q.QueryRowContext(ctx, `SELECT `+instanceColumns+` FROM rds_instances WHERE account_id = ? AND region = ? AND identifier = ?`, sc.Account, sc.Region, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, instanceNotFound(id)
	}
	if err != nil {
		return nil, err
	}
	inst.Tags, err = loadTags(ctx, q, inst.ARN)
	return inst, err
}

// loadARN loads an instance by ARN, whatever the caller's account.
func (s *Service) loadARN(ctx context.Context, arn string) (*Instance, error) {
	inst, err := scanInstance(s.store.QueryRowContext(ctx, `SELECT `+instanceColumns+` FROM rds_instances WHERE arn = ?`, arn))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, instanceNotFound(arn)
	}
	if err != nil {
		return nil, err
	}
	inst.Tags, err = loadTags(ctx, s.store, inst.ARN)
	return inst, err
}

// list returns the instances of the scope after the identifier
// after, in identifier order; id restricts it to one.
func (s *Service) list(ctx context.Context, sc scope, id, after string) ([]*Instance, error) {
	query := `SELECT ` + instanceColumns + ` FROM rds_instances WHERE account_id = ? AND region = ? AND identifier > ?`
	args := []any{sc.Account, sc.Region, after}
	if id != "" {
		query += ` AND identifier = ?`
		args = append(args, id)
	}
	query += ` ORDER BY identifier`
	rows, err := s.store.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	var out []*Instance
	for rows.Next() {
		inst, err := scanInstance(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, inst)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, inst := range out {
		if inst.Tags, err = loadTags(ctx, s.store, inst.ARN); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func isNotFound(err error) bool {
	var e *awserr.Error
	return errors.As(err, &e) && e.Kind == awserr.NotFound
}

// Markers are the last identifier of the previous page, base64url.
func encodeMarker(id string) string { return base64.RawURLEncoding.EncodeToString([]byte(id)) }

func decodeMarker(m string) (string, error) {
	if m == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(m)
	if err != nil || ValidIdentifier(string(b)) != nil {
		return "", invalidParam("The marker %q is not valid; pass the Marker of the previous response", m)
	}
	return string(b), nil
}

func jsonTarget(t engine.Target) (string, error) {
	b, err := json.Marshal(t)
	return string(b), err
}
