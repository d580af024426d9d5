package backup

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/coffer-dev/coffer/internal/authz"
)

// SupportedResourceTypes are the resource types coffer backs up, as
// GetSupportedResourceTypes names them.
var SupportedResourceTypes = []string{"RDS"}

// GetSupportedResourceTypes returns the resource types coffer backs up.
func (s *Service) GetSupportedResourceTypes(ctx context.Context) ([]string, error) {
	if _, _, err := s.scope(ctx); err != nil {
		return nil, err
	}
	if err := s.authorizeAny(ctx, "backup:GetSupportedResourceTypes"); err != nil {
		return nil, err
	}
	return SupportedResourceTypes, nil
}

// ProtectedResourcesByVault lists the resources with completed recovery
// points in one of the caller's vaults, each with its latest one there.
// vaultAccount, when given, must be the caller's: coffer has no vaults
// shared from other accounts (logically air-gapped vaults).
func (s *Service) ProtectedResourcesByVault(ctx context.Context, vaultName, vaultAccount string) ([]ProtectedResource, error) {
	sc, _, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	if vaultAccount != "" && vaultAccount != sc.Account {
		if !accountRe.MatchString(vaultAccount) {
			return nil, InvalidParam("BackupVaultAccountId %q must be 12 digits", vaultAccount)
		}
		return nil, InvalidParam("backup vault %s of account %s is not shared with account %s; coffer shares no vaults across accounts (logically air-gapped vaults are not supported)", vaultName, vaultAccount, sc.Account)
	}
	v, err := s.vault(ctx, vaultName, "backup:ListProtectedResourcesByBackupVault")
	if err != nil {
		return nil, err
	}
	return s.protectedResources(ctx, ` AND vault_name = ?`, []any{v.Account, v.Region, v.Name})
}

// RestoreJobsByResource lists the restore jobs of recovery points of a
// resource, newest first. f's ResourceARN is the resource; State and the
// recovery point creation dates narrow the list.
func (s *Service) RestoreJobsByResource(ctx context.Context, f JobFilter, page Page) ([]*Job, string, error) {
	sc, _, err := s.scope(ctx)
	if err != nil {
		return nil, "", err
	}
	if f.ResourceARN == "" {
		return nil, "", missingParam("ResourceArn")
	}
	if _, err := parseARN(f.ResourceARN); err != nil {
		return nil, "", err
	}
	switch f.State {
	case "", StatePending, StateRunning, StateCompleted, StateAborted, StateFailed:
	default:
		return nil, "", InvalidParam("status %q must be one of PENDING, RUNNING, COMPLETED, ABORTED, FAILED", f.State)
	}
	if err := s.authz.Authorize(ctx, authz.Request{Action: "backup:ListRestoreJobsByProtectedResource", Resource: f.ResourceARN}); err != nil {
		return nil, "", err
	}
	return s.queryJobs(ctx, sc, KindRestore, f, page)
}

// RecoveryPointsCreated returns the creation dates of the jobs' recovery
// points, in order: a restore job's RecoveryPointCreationDate (zero once
// the recovery point is gone).
func (s *Service) RecoveryPointsCreated(ctx context.Context, jobs []*Job) ([]time.Time, error) {
	out := make([]time.Time, len(jobs))
	for i, j := range jobs {
		var created int64
		err := s.store.QueryRowContext(ctx, `SELECT creation_date FROM backup_recovery_points WHERE arn = ?`, j.RecoveryPointARN).Scan(&created)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("creation date of %s: %w", j.RecoveryPointARN, err)
		}
		out[i] = unixTime(created)
	}
	return out, nil
}

// DisassociateRecoveryPoint hands a continuous backup recovery point
// back to its source service: the recovery point leaves AWS Backup and
// RDS keeps the instance's continuous backup with the same retention.
// Snapshots are refused, as AWS refuses them.
func (s *Service) DisassociateRecoveryPoint(ctx context.Context, vaultName, arn string) error {
	v, rp, err := s.recoveryPoint(ctx, vaultName, arn, "backup:DisassociateRecoveryPoint")
	if err != nil {
		return err
	}
	if IsContinuous(rp.ARN) {
		return s.disassociateContinuous(ctx, v, rp)
	}
	return invalidRequest("recovery point %s is a snapshot recovery point; DisassociateRecoveryPoint supports only continuous backup recovery points", rp.ARN)
}

// DisassociateRecoveryPointFromParent removes a child recovery point
// from its composite parent.
func (s *Service) DisassociateRecoveryPointFromParent(ctx context.Context, vaultName, arn string) error {
	_, rp, err := s.recoveryPoint(ctx, vaultName, arn, "backup:DisassociateRecoveryPointFromParent")
	if err != nil {
		return err
	}
	if rp.ParentARN == "" {
		return invalidRequest("recovery point %s has no parent recovery point to disassociate from", rp.ARN)
	}
	_, err = s.store.ExecContext(ctx, `UPDATE backup_recovery_points SET parent_recovery_point_arn = '' WHERE arn = ?`, rp.ARN)
	return err
}
