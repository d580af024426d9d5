package backup

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/coffer-dev/coffer/internal/identity"
	"github.com/coffer-dev/coffer/internal/meta"
)

// StartCopyJobInput is StartCopyJob's input.
type StartCopyJobInput struct {
	RecoveryPointARN, SourceVaultName, DestinationVaultARN, IAMRoleARN, IdempotencyToken string
	Lifecycle                                                                            Lifecycle
}

// StartCopyJob validates and queues a copy of a recovery point into
// another vault, of this or another account, in this or another region.
// The cross-account rules are checked by the job, which fails with a
// message naming what is missing, as AWS Backup does.
func (s *Service) StartCopyJob(ctx context.Context, in StartCopyJobInput) (*Job, error) {
	sc, _, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	switch {
	case in.RecoveryPointARN == "":
		return nil, missingParam("RecoveryPointArn")
	case in.SourceVaultName == "":
		return nil, missingParam("SourceBackupVaultName")
	case in.DestinationVaultARN == "":
		return nil, missingParam("DestinationBackupVaultArn")
	case in.IAMRoleARN == "":
		return nil, missingParam("IamRoleArn")
	}
	if j, err := byIdempotencyToken(ctx, s.store, sc.Account, KindCopy, in.IdempotencyToken); j != nil || err != nil {
		return j, err
	}
	dst, dstName, err := parseVaultARN(in.DestinationVaultARN)
	if err != nil {
		return nil, err
	}
	srcVault, rp, err := s.recoveryPoint(ctx, in.SourceVaultName, in.RecoveryPointARN, "backup:StartCopyJob")
	if err != nil {
		return nil, err
	}
	if rp.Status != RPCompleted {
		return nil, invalidRequest("recovery point %s is %s; only a COMPLETED recovery point can be copied", rp.ARN, rp.Status)
	}
	if srcVault.ARN == in.DestinationVaultARN {
		return nil, InvalidParam("the destination vault is the source vault %s; copy into another vault", srcVault.ARN)
	}
	if dst.Account == sc.Account {
		if _, err := s.loadVault(ctx, s.store, Scope{Account: dst.Account, Region: dst.Region}, dstName); err != nil {
			return nil, err
		}
	}
	if err := s.checkJobRole(ctx, sc, in.IAMRoleARN); err != nil {
		return nil, err
	}
	if err := in.Lifecycle.Validate(); err != nil {
		return nil, err
	}
	now := s.now().UTC()
	j := &Job{
		ID: newJobID(), Kind: KindCopy, Account: sc.Account, Region: sc.Region, State: StateCreated, PercentDone: "0.0",
		ResourceARN: rp.ResourceARN, ResourceType: rp.ResourceType, ResourceName: rp.ResourceName,
		VaultName: srcVault.Name, VaultARN: srcVault.ARN, RecoveryPointARN: rp.ARN,
		DestinationVaultARN: in.DestinationVaultARN, IAMRoleARN: in.IAMRoleARN, IdempotencyToken: in.IdempotencyToken,
		Lifecycle: in.Lifecycle, Created: now,
	}
	j.DestinationRecoveryPointARN = fmt.Sprintf("arn:aws:rds:%s:%s:snapshot:awsbackup:copyjob-%s", dst.Region, dst.Account, strings.ToLower(j.ID))
	_, err = s.enqueue(ctx, j)
	return j, err
}

// DescribeCopyJob returns a copy job of the caller's account.
func (s *Service) DescribeCopyJob(ctx context.Context, id string) (*Job, error) {
	return s.describeJob(ctx, KindCopy, id, "backup:DescribeCopyJob")
}

// copyFailure is a precondition a cross-account copy lacks; the job ends
// FAILED with its message.
func copyFailure(format string, args ...any) error {
	return invalidRequest(format, args...)
}

// runCopy copies a recovery point, the caller in ctx being the job's
// role session in the source account.
func (s *Service) runCopy(ctx context.Context, j *Job) error {
	rp, err := loadRP(ctx, s.store, j.RecoveryPointARN)
	if err != nil {
		return err
	}
	if rp.Status != RPCompleted {
		return copyFailure("source recovery point %s is %s, not COMPLETED", rp.ARN, rp.Status)
	}
	srcVault, err := s.loadVault(ctx, s.store, Scope{Account: rp.Account, Region: rp.Region}, rp.VaultName)
	if err != nil {
		return err
	}
	dst, dstName, err := parseVaultARN(j.DestinationVaultARN)
	if err != nil {
		return err
	}
	dstVault, err := s.loadVault(ctx, s.store, Scope{Account: dst.Account, Region: dst.Region}, dstName)
	if err != nil {
		return copyFailure("destination backup vault %s does not exist", j.DestinationVaultARN)
	}
	if err := checkLockRange(dstVault, j.Lifecycle, rp.Created); err != nil {
		return err
	}
	// dataCtx is who unwraps the source key and wraps the destination
	// key: the job's role for a copy within the account, the destination
	// account's backup service role across accounts.
	dataCtx := ctx
	if dst.Account != rp.Account {
		if dataCtx, err = s.crossAccountChecks(ctx, rp, srcVault, dstVault); err != nil {
			return err
		}
	} else if err := s.authorizeOnVault(ctx, dstVault, "backup:CopyIntoBackupVault", dstVault.ARN); err != nil {
		return copyFailure("%s", failMessage(err))
	}
	copyRP := &RecoveryPoint{
		ARN: j.DestinationRecoveryPointARN, Account: dstVault.Account, Region: dstVault.Region, VaultName: dstVault.Name,
		ResourceARN: rp.ResourceARN, ResourceType: rp.ResourceType, ResourceName: rp.ResourceName, Status: RPCreating,
		EncryptionKeyARN: dstVault.EncryptionKeyARN, IAMRoleARN: j.IAMRoleARN, SourceVaultARN: srcVault.ARN,
		CreatedByJobID: j.ID, Created: rp.Created, RestoreMetadata: rp.RestoreMetadata, Lifecycle: j.Lifecycle, StorageClass: "WARM", KeyService: KeyServiceBackup,
	}
	j.EncryptionKeyARN = dstVault.EncryptionKeyARN
	var engineMeta string
	manifest := rp.ManifestID
	if IsContinuous(rp.ARN) {
		// A copy of a continuous backup is a snapshot at its latest
		// restorable time, taken in the source vault under the
		// resource's key, then copied (and re-encrypted) as any other.
		w, md, err := s.snapshotForCopy(ctx, rp)
		if err != nil {
			return err
		}
		defer func() {
			if err := s.data.Delete(context.WithoutCancel(ctx), rp.domain(), w.ManifestID); err != nil {
				s.log.Warn("delete the snapshot a continuous recovery point's copy was made of", "manifest", w.ManifestID, "error", err)
			}
		}()
		manifest, engineMeta, copyRP.Created = w.ManifestID, md, s.now()
	} else if err := s.store.QueryRowContext(ctx, `SELECT engine_metadata FROM backup_recovery_points WHERE arn = ?`, rp.ARN).Scan(&engineMeta); err != nil {
		return err
	}
	if err := s.store.InTx(ctx, func(q meta.Querier) error {
		if err := s.update(ctx, q, j); err != nil {
			return err
		}
		if err := insertRP(ctx, q, copyRP); err != nil {
			return err
		}
		_, err := q.ExecContext(ctx, `UPDATE backup_recovery_points SET engine_metadata = ? WHERE arn = ?`, engineMeta, copyRP.ARN)
		return err
	}); err != nil {
		if errors.Is(err, meta.ErrConflict) {
			return copyFailure("recovery point %s already exists", copyRP.ARN)
		}
		return err
	}
	w, err := s.data.Copy(dataCtx, rp.domain(), copyRP.domain(), manifest)
	if err != nil {
		return fmt.Errorf("copy into backup vault %s: %w", dstVault.ARN, err)
	}
	now := s.now()
	err = s.store.InTx(ctx, func(q meta.Querier) error {
		if err := completeRP(ctx, q, copyRP.ARN, w, now); err != nil {
			return err
		}
		j.State, j.PercentDone, j.Size, j.BytesTransferred, j.Completed = StateCompleted, "100.0", w.Size, w.BytesWritten, now
		return s.update(ctx, q, j)
	})
	return s.dropIfUncommitted(dataCtx, copyRP.domain(), w, err)
}

// crossAccountChecks applies AWS Backup's rules for a copy into another
// account and returns the context the data moves in: the destination
// account's backup service role session.
func (s *Service) crossAccountChecks(ctx context.Context, rp *RecoveryPoint, srcVault, dstVault *Vault) (context.Context, error) {
	same, err := s.orgs.SameOrganization(ctx, rp.Account, dstVault.Account)
	if err != nil {
		return nil, err
	}
	if !same {
		return nil, copyFailure("accounts %s and %s are not in the same organization; cross-account copies stay within an organization", rp.Account, dstVault.Account)
	}
	enabled, err := s.CrossAccountEnabled(ctx, rp.Account)
	if err != nil {
		return nil, err
	}
	if !enabled {
		return nil, copyFailure("cross-account backup is not enabled for the organization of account %s; its management account must run UpdateGlobalSettings with isCrossAccountBackupEnabled=true", rp.Account)
	}
	for _, v := range []*Vault{srcVault, dstVault} {
		if v.Name == DefaultVaultName {
			return nil, copyFailure("backup vault %s is a Default vault, encrypted with an AWS managed key; cross-account copies need vaults encrypted with customer managed keys", v.ARN)
		}
	}
	k, err := s.keys.DescribeKey(ctx, rp.Region, rp.EncryptionKeyARN)
	if err != nil {
		return nil, copyFailure("the key %s of recovery point %s cannot be described: %s", rp.EncryptionKeyARN, rp.ARN, failMessage(err))
	}
	if k.Manager == "AWS" {
		return nil, copyFailure("recovery point %s is encrypted with the AWS managed key %s; resources encrypted with AWS managed keys cannot be copied across accounts. Encrypt the resource with a customer managed key", rp.ARN, k.ARN)
	}
	if err := s.authorizeOnVault(ctx, dstVault, "backup:CopyIntoBackupVault", dstVault.ARN); err != nil {
		return nil, copyFailure("the access policy of destination vault %s does not allow backup:CopyIntoBackupVault: %s", dstVault.ARN, failMessage(err))
	}
	role, err := s.roles.EnsureBackupServiceRole(ctx, dstVault.Account)
	if err != nil {
		return nil, fmt.Errorf("backup service role of account %s: %w", dstVault.Account, err)
	}
	session, err := s.roles.AssumeRoleAsService(ctx, role, ServicePrincipal)
	if err != nil {
		return nil, copyFailure("%s could not assume %s in the destination account: %s", ServicePrincipal, role, failMessage(err))
	}
	dataCtx := identity.WithCaller(ctx, session)
	// A key the destination's service role cannot describe fails the
	// copy where it is used, with KMS's reason.
	if dk, err := s.keys.DescribeKey(dataCtx, dstVault.Region, dstVault.EncryptionKeyARN); err == nil && dk.Manager == "AWS" {
		return nil, copyFailure("destination backup vault %s is encrypted with the AWS managed key %s; cross-account copies need vaults encrypted with customer managed keys. Copy into a vault created with a customer managed key (CreateBackupVault --encryption-key-arn)", dstVault.ARN, dk.ARN)
	}
	return dataCtx, nil
}
