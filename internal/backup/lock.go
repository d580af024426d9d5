package backup

import (
	"context"
	"time"

	"github.com/coffer-dev/coffer/internal/awserr"
)

// VaultLock is a vault's retention range. Without a LockDate it is in
// governance mode: principals allowed backup:DeleteBackupVaultLockConfiguration
// may remove it, and only they may delete or shorten recovery points
// inside the range. With a LockDate it is in compliance mode once that
// date passes: nobody, the account root included, may change it or
// delete a recovery point before its retention ends.
type VaultLock struct {
	Enabled                            bool
	MinRetentionDays, MaxRetentionDays int64 // 0: no bound
	LockDate                           time.Time
}

// Immutable reports whether the lock is in compliance mode at now.
func (l VaultLock) Immutable(now time.Time) bool {
	return l.Enabled && !l.LockDate.IsZero() && !now.Before(l.LockDate)
}

const (
	maxRetentionDays     = 36500
	minChangeableForDays = 3
)

// PutVaultLockInput is PutBackupVaultLockConfiguration's input.
type PutVaultLockInput struct {
	VaultName                                             string
	MinRetentionDays, MaxRetentionDays, ChangeableForDays *int64
}

// PutVaultLock sets a vault's lock.
func (s *Service) PutVaultLock(ctx context.Context, in PutVaultLockInput) error {
	v, err := s.vault(ctx, in.VaultName, "backup:PutBackupVaultLockConfiguration")
	if err != nil {
		return err
	}
	now := s.now()
	if v.Lock.Immutable(now) {
		return lockImmutable(v)
	}
	l := VaultLock{Enabled: true}
	if in.MinRetentionDays != nil {
		if *in.MinRetentionDays < 1 || *in.MinRetentionDays > maxRetentionDays {
			return InvalidParam("MinRetentionDays must be between 1 and %d, not %d", maxRetentionDays, *in.MinRetentionDays)
		}
		l.MinRetentionDays = *in.MinRetentionDays
	}
	if in.MaxRetentionDays != nil {
		if *in.MaxRetentionDays < 1 || *in.MaxRetentionDays > maxRetentionDays {
			return InvalidParam("MaxRetentionDays must be between 1 and %d, not %d", maxRetentionDays, *in.MaxRetentionDays)
		}
		l.MaxRetentionDays = *in.MaxRetentionDays
	}
	if l.MinRetentionDays > 0 && l.MaxRetentionDays > 0 && l.MinRetentionDays > l.MaxRetentionDays {
		return InvalidParam("MinRetentionDays (%d) must not exceed MaxRetentionDays (%d)", l.MinRetentionDays, l.MaxRetentionDays)
	}
	if in.ChangeableForDays != nil {
		if *in.ChangeableForDays < minChangeableForDays || *in.ChangeableForDays > maxRetentionDays {
			return InvalidParam("ChangeableForDays must be at least %d (the grace time before compliance mode locks the vault for good), not %d", minChangeableForDays, *in.ChangeableForDays)
		}
		l.LockDate = AddDays(now, *in.ChangeableForDays).UTC()
	}
	_, err = s.store.ExecContext(ctx, `UPDATE backup_vaults SET lock_enabled = 1, lock_min_days = ?, lock_max_days = ?, lock_date = ? WHERE arn = ?`,
		l.MinRetentionDays, l.MaxRetentionDays, unixNano(l.LockDate), v.ARN)
	return err
}

// DeleteVaultLock removes a lock that is not yet immutable.
func (s *Service) DeleteVaultLock(ctx context.Context, name string) error {
	v, err := s.vault(ctx, name, "backup:DeleteBackupVaultLockConfiguration")
	if err != nil {
		return err
	}
	if !v.Lock.Enabled {
		return notFound("backup vault %s has no vault lock", v.Name)
	}
	if v.Lock.Immutable(s.now()) {
		return lockImmutable(v)
	}
	_, err = s.store.ExecContext(ctx, `UPDATE backup_vaults SET lock_enabled = 0, lock_min_days = 0, lock_max_days = 0, lock_date = 0 WHERE arn = ?`, v.ARN)
	return err
}

func lockImmutable(v *Vault) error {
	return invalidRequest("backup vault %s is locked in compliance mode since %s; its lock and the retention of its recovery points can no longer be changed by anyone",
		v.Name, v.Lock.LockDate.Format(time.RFC3339))
}

// mayShorten decides whether the caller may delete or shorten the
// retention of rp in v before the lock allows it: never in compliance
// mode, and in governance mode only a principal who may remove the lock.
func (s *Service) mayShorten(ctx context.Context, v *Vault, rp *RecoveryPoint, what string) error {
	if !v.Lock.Enabled {
		return nil
	}
	if v.Lock.Immutable(s.now()) {
		return invalidRequest("recovery point %s is protected by the compliance-mode vault lock of %s; %s is refused for every principal until its retention ends", rp.ARN, v.Name, what)
	}
	if err := s.authorizeOnVault(ctx, v, "backup:DeleteBackupVaultLockConfiguration", v.ARN); err != nil {
		return awserr.New(awserr.Invalid, "InvalidRequestException", "recovery point %s is protected by the governance-mode vault lock of %s; %s needs a principal allowed backup:DeleteBackupVaultLockConfiguration: %s",
			rp.ARN, v.Name, what, failMessage(err))
	}
	return nil
}

// retentionEnded reports whether rp has reached the end its lifecycle
// gives it, so deleting it no longer shortens anything.
func (rp *RecoveryPoint) retentionEnded(now time.Time) bool {
	_, del := rp.Lifecycle.At(rp.LifecycleStart())
	return !del.IsZero() && !now.Before(del)
}

// checkLockRange refuses a recovery point created at created whose
// retention under l falls outside the vault lock's range, comparing the
// dates the lifecycle and the lock give it.
func checkLockRange(v *Vault, l Lifecycle, created time.Time) error {
	if !v.Lock.Enabled {
		return nil
	}
	_, del := l.At(created)
	if min := AddDays(created, v.Lock.MinRetentionDays); !min.IsZero() && !del.IsZero() && del.Before(min) {
		return invalidRequest("the retention of %d days is shorter than the %d days the vault lock of %s requires", l.DeleteAfterDays, v.Lock.MinRetentionDays, v.Name)
	}
	if max := AddDays(created, v.Lock.MaxRetentionDays); !max.IsZero() && (del.IsZero() || del.After(max)) {
		return invalidRequest("the vault lock of %s keeps recovery points at most %d days; give the job a lifecycle with DeleteAfterDays of at most %d", v.Name, v.Lock.MaxRetentionDays, v.Lock.MaxRetentionDays)
	}
	return nil
}
