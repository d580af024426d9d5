package backup

import (
	"context"
	"time"
)

// What Backup Audit Manager's controls read of the backup domain: the
// recovery points, the vaults' locks and the restores, whatever the
// caller (the frameworks are evaluated as the service).

// AuditRecoveryPoint is a completed recovery point as the controls see
// it.
type AuditRecoveryPoint struct {
	ARN, ResourceARN, VaultARN, EncryptionKeyARN string
	Lifecycle                                    Lifecycle
	Created                                      time.Time
}

// AuditRecoveryPoints lists the completed recovery points of an
// account's vaults in a region.
func (s *Service) AuditRecoveryPoints(ctx context.Context, account, region string) ([]AuditRecoveryPoint, error) {
	rows, err := s.store.QueryContext(ctx, `SELECT `+rpColumns+` FROM backup_recovery_points
		WHERE account_id = ? AND region = ? AND status = 'COMPLETED' ORDER BY creation_date, arn`, account, region)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AuditRecoveryPoint
	for rows.Next() {
		rp, err := scanRP(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, AuditRecoveryPoint{ARN: rp.ARN, ResourceARN: rp.ResourceARN, VaultARN: rp.VaultARN(),
			EncryptionKeyARN: rp.EncryptionKeyARN, Lifecycle: rp.Lifecycle, Created: rp.Created})
	}
	return out, rows.Err()
}

// VaultLockOf returns a vault's lock; ok is false when the vault does
// not exist.
func (s *Service) VaultLockOf(ctx context.Context, vaultARN string) (lock VaultLock, ok bool, err error) {
	account, region, name, err := ParseVaultARN(vaultARN)
	if err != nil {
		return VaultLock{}, false, err
	}
	v, err := s.loadVault(ctx, s.store, Scope{Account: account, Region: region}, name)
	if isNotFound(err) {
		return VaultLock{}, false, nil
	}
	if err != nil {
		return VaultLock{}, false, err
	}
	return v.Lock, true, nil
}

// CompletedRestores lists an account's completed restore jobs in a
// region, oldest first.
func (s *Service) CompletedRestores(ctx context.Context, account, region string) ([]*Job, error) {
	return s.selectJobs(ctx, `SELECT `+jobColumns+` FROM backup_jobs WHERE account_id = ? AND region = ? AND kind = 'RESTORE' AND state = 'COMPLETED'
		ORDER BY completion_date, id`, account, region)
}
