package backup

import (
	"context"
	"errors"
	"time"
)

// What backup plans need from the backup domain besides planned.go: the
// checks CreateBackupPlan and CreateBackupSelection make, and the
// scheduler's catch-up of copy actions and of windows nobody ran.

// VaultExists reports whether a vault exists, whatever the caller may
// see of it: a plan rule's target and copy destinations are checked when
// the plan is written, as AWS Backup does.
func (s *Service) VaultExists(ctx context.Context, account, region, name string) (bool, error) {
	_, err := s.loadVault(ctx, s.store, Scope{Account: account, Region: region}, name)
	if isNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

// ParseVaultARN splits arn:aws:backup:REGION:ACCOUNT:backup-vault:NAME,
// failing with InvalidParameterValueException.
func ParseVaultARN(arn string) (account, region, name string, err error) {
	a, name, err := parseVaultARN(arn)
	if err != nil {
		return "", "", "", err
	}
	return a.Account, a.Region, name, nil
}

// CheckJobRole applies StartBackupJob's rules to a role the caller in ctx
// hands to the backup service (a backup selection's IamRoleArn): a role
// of the caller's account that the caller may pass (iam:PassRole) and
// that trusts backup.amazonaws.com.
func (s *Service) CheckJobRole(ctx context.Context, roleARN string) error {
	sc, _, err := s.scope(ctx)
	if err != nil {
		return err
	}
	return s.checkJobRole(ctx, sc, roleARN)
}

// CompletedPlannedBackups lists the backup jobs of plans that completed
// at or after since, oldest first: the scheduler starts the copy actions
// the completion hook may have missed (a node stopped in between).
func (s *Service) CompletedPlannedBackups(ctx context.Context, since time.Time) ([]*Job, error) {
	return s.selectJobs(ctx, `SELECT `+jobColumns+` FROM backup_jobs
		WHERE kind = 'BACKUP' AND state = 'COMPLETED' AND plan_id <> '' AND completion_date >= ? ORDER BY completion_date`, since.UnixNano())
}

// RecordExpiredWindow records, for a window whose start window closed
// before any node scheduled it (every node was down), an EXPIRED backup
// job, so the miss shows in ListBackupJobs instead of vanishing. It is
// idempotent per WindowKey like StartPlannedBackup, and returns the job
// already there when the window did run.
func (s *Service) RecordExpiredWindow(ctx context.Context, pb PlannedBackup, windowStart time.Time) (*Job, error) {
	if pb.WindowKey == "" {
		return nil, errors.New("a planned backup needs a window key")
	}
	if j, err := byIdempotencyToken(ctx, s.store, pb.Account, KindBackup, pb.WindowKey); j != nil || err != nil {
		return j, err
	}
	res, err := parseARN(pb.ResourceARN)
	if err != nil {
		return nil, err
	}
	rtype, err := resourceType(res)
	if err != nil {
		return nil, err
	}
	startWindow := pb.StartWindowMinutes
	if startWindow == 0 {
		startWindow = 480
	}
	j := &Job{
		ID: newJobID(), Kind: KindBackup, Account: pb.Account, Region: pb.Region, State: StateExpired, PercentDone: "0.0",
		StatusMessage: "no coffer node was running during this window's start window",
		ResourceARN:   pb.ResourceARN, ResourceType: rtype, VaultName: pb.VaultName, VaultARN: VaultARN(pb.Region, pb.Account, pb.VaultName),
		IAMRoleARN: pb.IAMRoleARN, IdempotencyToken: pb.WindowKey, Lifecycle: pb.Lifecycle,
		Created: windowStart.UTC(), StartBy: windowStart.Add(time.Duration(startWindow) * time.Minute).UTC(), Completed: s.now().UTC(), CreatedBy: pb.CreatedBy,
	}
	if err := insertJob(ctx, s.store, j); err != nil {
		if err := s.sameAs(ctx, j); err == nil {
			return j, nil
		}
		return nil, err
	}
	s.notifyJob(ctx, j)
	return j, nil
}

// LatestRecoveryPoint is the newest COMPLETED recovery point of a
// resource in one vault (a copy keeps its source's creation date, so its
// age is the age of the data).
type LatestRecoveryPoint struct {
	ResourceARN, ResourceName, Account, Region, VaultName string
	Created                                               time.Time
}

// VaultARN is the vault's ARN.
func (l LatestRecoveryPoint) VaultARN() string { return VaultARN(l.Region, l.Account, l.VaultName) }

// LatestRecoveryPoints lists, for every resource and vault of every
// account, the newest completed recovery point: the RPO view of an
// operator (coffer status), not of an API caller.
func (s *Service) LatestRecoveryPoints(ctx context.Context) ([]LatestRecoveryPoint, error) {
	// A continuous recovery point is as fresh as its last job.
	rows, err := s.store.QueryContext(ctx, `SELECT resource_arn, MAX(resource_name), account_id, region, vault_name,
		MAX(CASE WHEN arn LIKE ? THEN completion_date ELSE creation_date END)
		FROM backup_recovery_points WHERE status = 'COMPLETED' GROUP BY resource_arn, account_id, region, vault_name ORDER BY resource_arn, account_id, region, vault_name`,
		"%"+continuousMarker+"%")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []LatestRecoveryPoint
	for rows.Next() {
		var l LatestRecoveryPoint
		var created int64
		if err := rows.Scan(&l.ResourceARN, &l.ResourceName, &l.Account, &l.Region, &l.VaultName, &created); err != nil {
			return nil, err
		}
		l.Created = unixTime(created)
		out = append(out, l)
	}
	return out, rows.Err()
}
