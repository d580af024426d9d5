package backup

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/coffer-dev/coffer/internal/authz"
	"github.com/coffer-dev/coffer/internal/awserr"
	"github.com/coffer-dev/coffer/internal/meta"
	"github.com/coffer-dev/coffer/internal/policy"
)

// Recovery point statuses.
const (
	RPCreating  = "CREATING"
	RPCompleted = "COMPLETED"
	RPDeleting  = "DELETING"
)

// RecoveryPoint is a backup of a resource held in a vault.
type RecoveryPoint struct {
	ARN, Account, Region, VaultName         string
	ResourceARN, ResourceType, ResourceName string
	Status, StatusMessage                   string
	EncryptionKeyARN, IAMRoleARN            string
	SourceVaultARN, ParentARN               string
	CreatedByJobID                          string
	Created, Completed                      time.Time
	Size                                    int64
	ManifestID                              string
	RestoreMetadata                         map[string]string
	Lifecycle                               Lifecycle
	StorageClass                            string
	KeyService                              string // see Domain.KeyService
}

// VaultARN is the ARN of the vault holding the recovery point.
func (rp *RecoveryPoint) VaultARN() string { return VaultARN(rp.Region, rp.Account, rp.VaultName) }

// domain is where the recovery point's data lives: its vault's domain
// for its key, or the cold one once lifecycle moved it.
func (rp *RecoveryPoint) domain() Domain {
	d := Domain{Region: rp.Region, Account: rp.Account, Vault: rp.VaultName, KeyARN: rp.EncryptionKeyARN, KeyService: rp.KeyService}
	if d.KeyService == "" {
		d.KeyService = KeyServiceRDS // written before key services were recorded
	}
	if rp.StorageClass == StorageCold {
		d.Vault += coldSuffix
	}
	return d
}

// Storage classes.
const (
	StorageWarm = "WARM"
	StorageCold = "COLD"
)

// coldSuffix names a vault's cold storage domain; vault names cannot
// contain a dot, so it never collides with a vault.
const coldSuffix = ".cold"

const rpColumns = `arn, account_id, region, vault_name, resource_arn, resource_type, resource_name, status, status_message,
	encryption_key_arn, iam_role_arn, source_vault_arn, parent_recovery_point_arn, created_by_job_id, creation_date, completion_date,
	size_bytes, manifest_id, restore_metadata, cold_after_days, delete_after_days, storage_class, key_service`

func scanRP(row interface{ Scan(...any) error }) (*RecoveryPoint, error) {
	var rp RecoveryPoint
	var created, completed int64
	var restore string
	err := row.Scan(&rp.ARN, &rp.Account, &rp.Region, &rp.VaultName, &rp.ResourceARN, &rp.ResourceType, &rp.ResourceName, &rp.Status, &rp.StatusMessage,
		&rp.EncryptionKeyARN, &rp.IAMRoleARN, &rp.SourceVaultARN, &rp.ParentARN, &rp.CreatedByJobID, &created, &completed,
		&rp.Size, &rp.ManifestID, &restore, &rp.Lifecycle.ColdAfterDays, &rp.Lifecycle.DeleteAfterDays, &rp.StorageClass, &rp.KeyService)
	if err != nil {
		return nil, err
	}
	rp.Created, rp.Completed = unixTime(created), unixTime(completed)
	if restore != "" {
		if err := json.Unmarshal([]byte(restore), &rp.RestoreMetadata); err != nil {
			return nil, fmt.Errorf("restore metadata of %s: %w", rp.ARN, err)
		}
	}
	return &rp, nil
}

func insertRP(ctx context.Context, q meta.Querier, rp *RecoveryPoint) error {
	restore, err := json.Marshal(rp.RestoreMetadata)
	if err != nil {
		return err
	}
	_, err = q.ExecContext(ctx, `INSERT INTO backup_recovery_points (`+rpColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		rp.ARN, rp.Account, rp.Region, rp.VaultName, rp.ResourceARN, rp.ResourceType, rp.ResourceName, rp.Status, rp.StatusMessage,
		rp.EncryptionKeyARN, rp.IAMRoleARN, rp.SourceVaultARN, rp.ParentARN, rp.CreatedByJobID, unixNano(rp.Created), unixNano(rp.Completed),
		rp.Size, rp.ManifestID, string(restore), rp.Lifecycle.ColdAfterDays, rp.Lifecycle.DeleteAfterDays, rp.StorageClass, rp.KeyService)
	return err
}

// completeRP commits a recovery point once its data is durable.
func completeRP(ctx context.Context, q meta.Querier, arn string, w Written, at time.Time) error {
	res, err := q.ExecContext(ctx, `UPDATE backup_recovery_points SET status = 'COMPLETED', manifest_id = ?, size_bytes = ?, completion_date = ? WHERE arn = ? AND status = 'CREATING'`,
		w.ManifestID, w.Size, at.UnixNano(), arn)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("recovery point %s is no longer being created", arn)
	}
	return nil
}

func loadRP(ctx context.Context, q meta.Querier, arn string) (*RecoveryPoint, error) {
	rp, err := scanRP(q.QueryRowContext(ctx, `SELECT `+rpColumns+` FROM backup_recovery_points WHERE arn = ?`, arn))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("recovery point %s does not exist", arn)
	}
	return rp, err
}

// recoveryPoint loads a recovery point of the caller's vault and
// authorizes action on it with the vault's access policy.
func (s *Service) recoveryPoint(ctx context.Context, vaultName, arn, action string) (*Vault, *RecoveryPoint, error) {
	if arn == "" {
		return nil, nil, missingParam("RecoveryPointArn")
	}
	if _, err := parseARN(arn); err != nil {
		return nil, nil, err
	}
	v, err := s.vault(ctx, vaultName, action)
	if err != nil {
		return nil, nil, err
	}
	rp, err := loadRP(ctx, s.store, arn)
	if err != nil {
		return nil, nil, err
	}
	if rp.Account != v.Account || rp.Region != v.Region || rp.VaultName != v.Name {
		return nil, nil, notFound("recovery point %s is not in backup vault %s", arn, v.Name)
	}
	if err := s.authorizeOnVault(ctx, v, action, arn); err != nil {
		return nil, nil, err
	}
	return v, rp, nil
}

// authorizeOnVault authorizes action on resource, a vault or a recovery
// point in it, with the vault's access policy.
func (s *Service) authorizeOnVault(ctx context.Context, v *Vault, action, resource string) error {
	req := authz.Request{Action: action, Resource: resource, ResourceAccount: v.Account}
	if v.AccessPolicy != "" {
		p, err := policy.Parse([]byte(v.AccessPolicy), policy.ParseOptions{Kind: policy.KindResource})
		if err != nil {
			return fmt.Errorf("stored access policy of %s: %w", v.ARN, err)
		}
		req.ResourcePolicy = p
	}
	return s.authz.Authorize(ctx, req)
}

// DescribeRecoveryPoint returns a recovery point of the caller's vault.
func (s *Service) DescribeRecoveryPoint(ctx context.Context, vaultName, arn string) (*Vault, *RecoveryPoint, error) {
	return s.recoveryPoint(ctx, vaultName, arn, "backup:DescribeRecoveryPoint")
}

// ListRecoveryPointsByVault lists a vault's recovery points, newest first.
func (s *Service) ListRecoveryPointsByVault(ctx context.Context, vaultName, resourceARN string, page Page) ([]*RecoveryPoint, string, error) {
	v, err := s.vault(ctx, vaultName, "backup:ListRecoveryPointsByBackupVault")
	if err != nil {
		return nil, "", err
	}
	query := `SELECT ` + rpColumns + ` FROM backup_recovery_points WHERE account_id = ? AND region = ? AND vault_name = ?`
	args := []any{v.Account, v.Region, v.Name}
	if resourceARN != "" {
		query += ` AND resource_arn = ?`
		args = append(args, resourceARN)
	}
	return s.listRPs(ctx, query, args, page)
}

// ListRecoveryPointsByResource lists a resource's recovery points in the
// caller's account and region.
func (s *Service) ListRecoveryPointsByResource(ctx context.Context, resourceARN string, page Page) ([]*RecoveryPoint, string, error) {
	sc, _, err := s.scope(ctx)
	if err != nil {
		return nil, "", err
	}
	if resourceARN == "" {
		return nil, "", missingParam("ResourceArn")
	}
	if err := s.authz.Authorize(ctx, authz.Request{Action: "backup:ListRecoveryPointsByResource", Resource: resourceARN}); err != nil {
		return nil, "", err
	}
	return s.listRPs(ctx, `SELECT `+rpColumns+` FROM backup_recovery_points WHERE account_id = ? AND region = ? AND resource_arn = ?`, []any{sc.Account, sc.Region, resourceARN}, page)
}

func (s *Service) listRPs(ctx context.Context, query string, args []any, page Page) ([]*RecoveryPoint, string, error) {
	after, limit, err := page.decode()
	if err != nil {
		return nil, "", err
	}
	if after != "" {
		query += ` AND arn < ?`
		args = append(args, after)
	}
	query += ` ORDER BY arn DESC LIMIT ?`
	args = append(args, limit+1)
	rows, err := s.store.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, "", err
	}
	defer rows.Close()
	var out []*RecoveryPoint
	for rows.Next() {
		rp, err := scanRP(rows)
		if err != nil {
			return nil, "", err
		}
		out = append(out, rp)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = encodeToken(out[limit-1].ARN)
	}
	return out, next, nil
}

// UpdateRecoveryPointLifecycle changes when a recovery point moves to
// cold storage and when it is deleted.
func (s *Service) UpdateRecoveryPointLifecycle(ctx context.Context, vaultName, arn string, l Lifecycle) (*Vault, *RecoveryPoint, error) {
	if err := l.Validate(); err != nil {
		return nil, nil, err
	}
	v, rp, err := s.recoveryPoint(ctx, vaultName, arn, "backup:UpdateRecoveryPointLifecycle")
	if err != nil {
		return nil, nil, err
	}
	if IsContinuous(rp.ARN) {
		return nil, nil, InvalidParam("recovery point %s is a continuous backup: its retention is its backup plan rule's; change the rule's Lifecycle (UpdateBackupPlan), not the recovery point", rp.ARN)
	}
	now := s.now()
	if cold, _ := rp.Lifecycle.At(rp.Created); !cold.IsZero() && now.After(cold) && l.ColdAfterDays != rp.Lifecycle.ColdAfterDays {
		return nil, nil, InvalidParam("recovery point %s has already moved to cold storage; its MoveToColdStorageAfterDays can no longer change", arn)
	}
	if l.deletesBefore(rp.Lifecycle, rp.Created) {
		if err := s.notHeld(ctx, rp, "UpdateRecoveryPointLifecycle"); err != nil {
			return nil, nil, err
		}
		if err := s.mayShorten(ctx, v, rp, "shortening its retention"); err != nil {
			return nil, nil, err
		}
	}
	if v.Lock.Immutable(now) {
		if err := checkLockRange(v, l, rp.Created); err != nil {
			return nil, nil, err
		}
	}
	if _, err := s.store.ExecContext(ctx, `UPDATE backup_recovery_points SET cold_after_days = ?, delete_after_days = ? WHERE arn = ?`, l.ColdAfterDays, l.DeleteAfterDays, arn); err != nil {
		return nil, nil, err
	}
	rp.Lifecycle = l
	s.notifyRecoveryPoint(ctx, v, rp)
	return v, rp, nil
}

// DeleteRecoveryPoint deletes a completed recovery point and releases its
// data to the storage engine's garbage collection.
func (s *Service) DeleteRecoveryPoint(ctx context.Context, vaultName, arn string) error {
	v, rp, err := s.recoveryPoint(ctx, vaultName, arn, "backup:DeleteRecoveryPoint")
	if err != nil {
		return err
	}
	if rp.Status == RPCreating {
		return awserr.New(awserr.Conflict, "InvalidResourceStateException", "recovery point %s is still being created; wait for its job to finish", arn)
	}
	if err := s.notHeld(ctx, rp, "DeleteRecoveryPoint"); err != nil {
		return err
	}
	if !rp.retentionEnded(s.now()) {
		if err := s.mayShorten(ctx, v, rp, "DeleteRecoveryPoint"); err != nil {
			return err
		}
	}
	if IsContinuous(rp.ARN) {
		// Deleting a continuous recovery point stops its capture and
		// deletes what only it kept, as deleting an RDS one does.
		if err := s.stopContinuous(ctx, rp); err != nil {
			return fmt.Errorf("stop the continuous backup of %s: %w", rp.ResourceARN, err)
		}
	}
	return s.deleteRP(ctx, rp)
}

// deleteRP marks the recovery point DELETING, deletes its manifest, then
// its row; a crash in between leaves a DELETING row the next attempt
// finishes.
func (s *Service) deleteRP(ctx context.Context, rp *RecoveryPoint) error {
	if _, err := s.store.ExecContext(ctx, `UPDATE backup_recovery_points SET status = 'DELETING' WHERE arn = ?`, rp.ARN); err != nil {
		return err
	}
	if rp.ManifestID != "" {
		if err := s.data.Delete(ctx, rp.domain(), rp.ManifestID); err != nil {
			return fmt.Errorf("delete data of %s: %w", rp.ARN, err)
		}
	}
	return s.store.InTx(ctx, func(q meta.Querier) error {
		if _, err := q.ExecContext(ctx, `DELETE FROM backup_recovery_points WHERE arn = ?`, rp.ARN); err != nil {
			return err
		}
		_, err := q.ExecContext(ctx, `DELETE FROM backup_tags WHERE resource_arn = ?`, rp.ARN)
		return err
	})
}

// RestoreMetadata returns what a restore of the recovery point will use,
// without secrets.
func (s *Service) RestoreMetadata(ctx context.Context, vaultName, arn string) (*Vault, *RecoveryPoint, error) {
	return s.recoveryPoint(ctx, vaultName, arn, "backup:GetRecoveryPointRestoreMetadata")
}

// ProtectedResource is a resource with at least one recovery point.
type ProtectedResource struct {
	ARN, Type, Name                    string
	LastBackup                         time.Time
	LastVaultARN, LastRecoveryPointARN string
}

// ProtectedResources lists the caller's resources that have completed
// recovery points in the request's region.
func (s *Service) ProtectedResources(ctx context.Context, resourceARN string) ([]ProtectedResource, error) {
	sc, _, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	action, resource := "backup:ListProtectedResources", "*"
	if resourceARN != "" {
		action, resource = "backup:DescribeProtectedResource", resourceARN
	}
	if err := s.authz.Authorize(ctx, authz.Request{Action: action, Resource: resource}); err != nil {
		return nil, err
	}
	cond, args := "", []any{sc.Account, sc.Region}
	if resourceARN != "" {
		cond, args = ` AND resource_arn = ?`, append(args, resourceARN)
	}
	out, err := s.protectedResources(ctx, cond, args)
	if err != nil {
		return nil, err
	}
	if resourceARN != "" && len(out) == 0 {
		return nil, notFound("resource %s has no recovery points in account %s, region %s", resourceARN, sc.Account, sc.Region)
	}
	return out, nil
}

// protectedResources lists, oldest first, the resources with completed
// recovery points in an account and region (the first two args) that
// also pass cond, each with its latest recovery point.
func (s *Service) protectedResources(ctx context.Context, cond string, args []any) ([]ProtectedResource, error) {
	query := `SELECT ` + rpColumns + ` FROM backup_recovery_points WHERE account_id = ? AND region = ? AND status = 'COMPLETED'` + cond
	rows, err := s.store.QueryContext(ctx, query+` ORDER BY creation_date`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	latest := map[string]*ProtectedResource{}
	var order []string
	for rows.Next() {
		rp, err := scanRP(rows)
		if err != nil {
			return nil, err
		}
		p, ok := latest[rp.ResourceARN]
		if !ok {
			p = &ProtectedResource{ARN: rp.ResourceARN, Type: rp.ResourceType}
			latest[rp.ResourceARN] = p
			order = append(order, rp.ResourceARN)
		}
		p.Name, p.LastBackup, p.LastVaultARN, p.LastRecoveryPointARN = rp.ResourceName, rp.Created, rp.VaultARN(), rp.ARN
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]ProtectedResource, 0, len(order))
	for _, a := range order {
		out = append(out, *latest[a])
	}
	return out, nil
}

// ManifestInUse tells the storage engine whether a manifest still
// belongs to a recovery point that is not being deleted, so nothing
// removes the data of a live (locked, held or simply kept) recovery
// point.
func (s *Service) ManifestInUse(ctx context.Context, manifestID string) (bool, error) {
	var n int
	err := s.store.QueryRowContext(ctx, `SELECT COUNT(*) FROM backup_recovery_points WHERE manifest_id = ? AND status <> 'DELETING'`, manifestID).Scan(&n)
	return n > 0, err
}
