package rds

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/coffer-dev/coffer/internal/engine"
)

// AWS Backup's continuous backup of an instance (a plan rule with
// EnableContinuousBackup) is the instance's automated backups, managed
// by AWS Backup: the rule's backup job sets the instance's
// BackupRetentionPeriod to the rule's retention, as AWS Backup does for
// RDS, so one machinery (the WAL capture of automated.go) serves both.
// The caller in ctx is the backup job's role session (or the API
// caller); each call is authorized as the equivalent RDS operation.

// ContinuousSource returns an instance whose continuous backup a
// backup recovery point names, authorized as rds:DescribeDBInstances.
func (s *Service) ContinuousSource(ctx context.Context, arn string) (*Instance, error) {
	if _, _, _, err := parseInstanceARN(arn); err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, "DescribeDBInstances", arn, nil); err != nil {
		return nil, err
	}
	inst, err := s.loadARN(ctx, arn)
	if err != nil {
		return nil, err
	}
	if !capturable(inst) || s.continuous == nil {
		return nil, invalidCombination("Continuous backup of DB instance %s is not available: it is %s, and coffer captures the WAL of PostgreSQL instances on a server of their own and of registered PostgreSQL databases only. Use a snapshot backup rule (EnableContinuousBackup false); snapshots remain available.",
			inst.Identifier, placementOf(inst))
	}
	return inst, s.onThisNode(inst)
}

// EnableContinuous turns an instance's continuous backup on for AWS
// Backup, keeping days (1 to 35) of restorable time: its
// BackupRetentionPeriod becomes days (rds:ModifyDBInstance).
func (s *Service) EnableContinuous(ctx context.Context, arn string, days int) (*Instance, error) {
	inst, err := s.ContinuousSource(ctx, arn)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, "ModifyDBInstance", arn, nil); err != nil {
		return nil, err
	}
	if inst.Status != StatusAvailable {
		return nil, invalidState("DB instance %s is %s, not available", inst.Identifier, inst.Status)
	}
	if days < 1 || days > 35 {
		return nil, invalidParam("continuous backup keeps 1 to 35 days, not %d", days)
	}
	if len(strings.Fields(inst.GrantID)) < 3 {
		return nil, invalidCombination("DB instance %s was created without the KMS grant continuous backup needs (before coffer had automated backups); restore it into a new instance to get one", inst.Identifier)
	}
	if inst.Origin == OriginRegistered {
		if err := s.checkRegisteredReplication(ctx, inst, inst.BackupRetentionPeriod == 0); err != nil {
			return nil, err
		}
	}
	if inst.BackupRetentionPeriod != days {
		inst.BackupRetentionPeriod = days
		inst.updatedAt = s.now()
		if err := s.update(ctx, inst); err != nil {
			return nil, fmt.Errorf("set the backup retention of %s: %w", inst.Identifier, err)
		}
	}
	return inst, nil
}

// DisableContinuous turns an instance's continuous backup off
// (BackupRetentionPeriod 0, rds:ModifyDBInstance): the capture stops and
// the replication slot is dropped. It returns the instance, nil when it
// is gone.
func (s *Service) DisableContinuous(ctx context.Context, arn string) (*Instance, error) {
	if err := s.authorize(ctx, "ModifyDBInstance", arn, nil); err != nil {
		return nil, err
	}
	inst, err := s.loadARN(ctx, arn)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if inst.BackupRetentionPeriod != 0 {
		inst.BackupRetentionPeriod = 0
		inst.updatedAt = s.now()
		if err := s.update(ctx, inst); err != nil {
			return nil, fmt.Errorf("turn off the automated backups of %s: %w", inst.Identifier, err)
		}
	}
	return inst, nil
}

// RestoreContinuous creates the instance spec describes (as
// rds:CreateDBInstance) from src's data at the time at (or its latest
// restorable time); the caller validates it and makes it available. A
// spec without a master password gets the source's. A time outside the
// window gets an *OutsideWindowError.
func (s *Service) RestoreContinuous(ctx context.Context, src *Instance, spec RestoreSpec, at time.Time, latest bool) (*Instance, engine.Target, *engine.Metadata, time.Time, error) {
	if err := s.authorize(ctx, "RestoreDBInstanceToPointInTime", src.ARN, nil); err != nil {
		return nil, engine.Target{}, nil, time.Time{}, err
	}
	if spec.MasterUserPassword == "" {
		password, err := s.open(ctx, src)
		if err != nil {
			return nil, engine.Target{}, nil, time.Time{}, keyNotAccessible("the credentials of DB instance %s cannot be decrypted: %v", src.Identifier, err)
		}
		spec.MasterUserPassword = password
	}
	if err := s.restorableHere(src); err != nil {
		return nil, engine.Target{}, nil, time.Time{}, err
	}
	if src.Origin == OriginRegistered {
		// A new server of the registered server's major version, with a
		// class that sizes one.
		spec.Adopt, spec.EngineVersion = true, restoredVersion(src)
		if spec.InstanceClass == "" || spec.InstanceClass == src.InstanceClass {
			spec.InstanceClass = restoredClass(src)
		}
	}
	return s.pointInTime(ctx, src, at, latest, spec)
}

// SnapshotLatest runs snap on a temporary server holding src's data at
// its latest restorable time (recovered and promoted, never an
// instance), then removes the server; it returns the time restored to.
func (s *Service) SnapshotLatest(ctx context.Context, src *Instance, snap func(t engine.Target) error) (time.Time, error) {
	dir, data, _, restored, err := s.pointInTimeDir(ctx, src, time.Time{}, true)
	if err != nil {
		return time.Time{}, err
	}
	defer os.RemoveAll(dir)
	password, err := s.open(ctx, src)
	if err != nil {
		return time.Time{}, keyNotAccessible("the credentials of DB instance %s cannot be decrypted: %v", src.Identifier, err)
	}
	srv, err := s.hosts.Servers()
	if err != nil {
		return time.Time{}, err
	}
	name := "snapshot-" + strings.ToLower(rand.Text()[:12])
	if _, err := srv.CreateFromDataDir(ctx, ServerSpec{Name: name, Major: majorOf(src.EngineVersion), Class: restoredClass(src),
		Owner: src.MasterUsername, Password: password, DBName: src.DBName, Adopt: src.Origin == OriginRegistered}, data); err != nil {
		return time.Time{}, fmt.Errorf("start a server on the data of %s at %s: %w", src.Identifier, restored.UTC().Format(time.RFC3339Nano), err)
	}
	defer func() {
		if err := srv.Remove(context.WithoutCancel(ctx), name); err != nil {
			s.log.Warn("remove the temporary server of a snapshot at the latest restorable time", "server", name, "error", err)
		}
	}()
	t, err := srv.AdminTarget(name, src.DBName)
	if err != nil {
		return time.Time{}, err
	}
	return restored, snap(t)
}

// AssociateBackupRecoveryPoint records the AWS Backup continuous
// recovery point that manages an instance's automated backups
// (AwsBackupRecoveryPointArn), as the caller in ctx
// (rds:ModifyDBInstance). While it does, ModifyDBInstance keeps the
// instance's BackupRetentionPeriod.
func (s *Service) AssociateBackupRecoveryPoint(ctx context.Context, arn, rpARN string) error {
	if err := s.authorize(ctx, "ModifyDBInstance", arn, nil); err != nil {
		return err
	}
	_, err := s.store.ExecContext(ctx, `INSERT INTO rds_backup_recovery_points (arn, recovery_point_arn) VALUES (?, ?)
		ON CONFLICT (arn) DO UPDATE SET recovery_point_arn = excluded.recovery_point_arn`, arn, rpARN)
	if err != nil {
		return fmt.Errorf("record the AWS Backup recovery point of %s: %w", arn, err)
	}
	return nil
}

// ReleaseBackupRecoveryPoint forgets that a continuous recovery point
// manages an instance's automated backups (it was disassociated or
// deleted), unless another one took over since; RDS manages them again.
func (s *Service) ReleaseBackupRecoveryPoint(ctx context.Context, arn, rpARN string) error {
	if err := s.authorize(ctx, "ModifyDBInstance", arn, nil); err != nil {
		return err
	}
	_, err := s.store.ExecContext(ctx, `DELETE FROM rds_backup_recovery_points WHERE arn = ? AND recovery_point_arn = ?`, arn, rpARN)
	if err != nil {
		return fmt.Errorf("forget the AWS Backup recovery point of %s: %w", arn, err)
	}
	return nil
}

// BackupRecoveryPoint is DescribeDBInstances' AwsBackupRecoveryPointArn:
// "" when AWS Backup does not manage the instance's automated backups
// (or it cannot be read, logged).
func (s *Service) BackupRecoveryPoint(ctx context.Context, arn string) string {
	var rp string
	err := s.store.QueryRowContext(ctx, `SELECT recovery_point_arn FROM rds_backup_recovery_points WHERE arn = ?`, arn).Scan(&rp)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		s.log.Warn("read the AWS Backup recovery point", "instance", arn, "error", err)
	}
	return rp
}

// keepsRetention refuses a ModifyDBInstance BackupRetentionPeriod other
// than the current one while AWS Backup manages the automated backups,
// with RDS's message.
func (s *Service) keepsRetention(ctx context.Context, inst *Instance, days int) error {
	if rp := s.BackupRecoveryPoint(ctx, inst.ARN); rp != "" && days != inst.BackupRetentionPeriod {
		return invalidParam("Your RDS instance %s is associated with an AWS Backup resource with id %s. You can leave BackupRetentionPeriod blank, or you can specify it only with the current value %d. For more details, see the AWS Backup documentation.",
			inst.Identifier, rp, inst.BackupRetentionPeriod)
	}
	return nil
}
