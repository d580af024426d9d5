package backup

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/coffer-dev/coffer/internal/meta"
)

// BackupVaultEvents are the events a vault's notifications may name (the
// model's BackupVaultEvent enum). Coffer emits the backup, copy and
// restore job events, RECOVERY_POINT_MODIFIED, and BACKUP_PLAN_CREATED
// and BACKUP_PLAN_MODIFIED to the vaults a plan's rules back up into
// (their targets, not their copy destinations); the S3, EKS, indexing and continuous-backup events concern resources coffer does
// not have. A vault may name them all, as in AWS.
var BackupVaultEvents = []string{
	"BACKUP_JOB_STARTED", "BACKUP_JOB_COMPLETED", "BACKUP_JOB_SUCCESSFUL", "BACKUP_JOB_FAILED", "BACKUP_JOB_EXPIRED",
	"RESTORE_JOB_STARTED", "RESTORE_JOB_COMPLETED", "RESTORE_JOB_SUCCESSFUL", "RESTORE_JOB_FAILED",
	"COPY_JOB_STARTED", "COPY_JOB_SUCCESSFUL", "COPY_JOB_FAILED",
	"RECOVERY_POINT_MODIFIED", "BACKUP_PLAN_CREATED", "BACKUP_PLAN_MODIFIED",
	"S3_BACKUP_OBJECT_FAILED", "S3_RESTORE_OBJECT_FAILED", "CONTINUOUS_BACKUP_INTERRUPTED",
	"RECOVERY_POINT_INDEX_COMPLETED", "RECOVERY_POINT_INDEX_DELETED", "RECOVERY_POINT_INDEXING_FAILED",
	"EKS_RESTORE_OBJECT_FAILED", "EKS_RESTORE_OBJECT_SKIPPED", "EKS_BACKUP_OBJECT_FAILED",
}

// Notification is one message to a vault's SNS topic.
type Notification struct {
	TopicARN string
	// SourceAccount and SourceARN are the vault's: the topic policy sees
	// them as aws:SourceAccount and aws:SourceArn.
	SourceAccount, SourceARN string
	Subject, Message         string
	// Attributes are the message attributes (EventType, State,
	// AccountId, Id, StartTime).
	Attributes map[string]string
}

// Notifier publishes notifications to SNS as backup.amazonaws.com.
type Notifier interface {
	Notify(ctx context.Context, n Notification) error
}

// SetNotifier sets where vault notifications go; without one, none are
// sent.
func (s *Service) SetNotifier(n Notifier) { s.notifier = n }

// VaultNotifications is a vault's notification configuration.
type VaultNotifications struct {
	VaultName, VaultARN, TopicARN string
	Events                        []string
}

// PutVaultNotifications sets the topic and events of a vault's
// notifications. The topic must be in the vault's account and region:
// AWS Backup does not notify across accounts.
func (s *Service) PutVaultNotifications(ctx context.Context, vaultName, topicARN string, events []string) error {
	v, err := s.vault(ctx, vaultName, "backup:PutBackupVaultNotifications")
	if err != nil {
		return err
	}
	if topicARN == "" {
		return missingParam("SNSTopicArn")
	}
	if events == nil {
		return missingParam("BackupVaultEvents")
	}
	a, err := parseARN(topicARN)
	if err != nil {
		return err
	}
	if a.Service != "sns" || a.Account != v.Account || a.Region != v.Region || strings.Contains(a.Resource, ":") {
		return InvalidParam("SNSTopicArn %s must be an SNS topic of account %s in %s (arn:aws:sns:%s:%s:NAME); AWS Backup does not notify across accounts or regions", topicARN, v.Account, v.Region, v.Region, v.Account)
	}
	for _, e := range events {
		if !slices.Contains(BackupVaultEvents, e) {
			return InvalidParam("BackupVaultEvents: %q is not a backup vault event (%s)", e, strings.Join(BackupVaultEvents, ", "))
		}
	}
	b, _ := json.Marshal(events)
	return s.store.InTx(ctx, func(q meta.Querier) error {
		if _, err := q.ExecContext(ctx, `DELETE FROM backup_vault_notifications WHERE vault_arn = ?`, v.ARN); err != nil {
			return err
		}
		_, err := q.ExecContext(ctx, `INSERT INTO backup_vault_notifications (vault_arn, topic_arn, events) VALUES (?, ?, ?)`, v.ARN, topicARN, string(b))
		return err
	})
}

// GetVaultNotifications returns a vault's notification configuration.
func (s *Service) GetVaultNotifications(ctx context.Context, vaultName string) (*VaultNotifications, error) {
	v, err := s.vault(ctx, vaultName, "backup:GetBackupVaultNotifications")
	if err != nil {
		return nil, err
	}
	n, err := s.vaultNotifications(ctx, v.ARN)
	if err != nil {
		return nil, err
	}
	if n == nil {
		return nil, notFound("backup vault %s has no notification configuration", v.Name)
	}
	n.VaultName = v.Name
	return n, nil
}

// DeleteVaultNotifications turns a vault's notifications off.
func (s *Service) DeleteVaultNotifications(ctx context.Context, vaultName string) error {
	v, err := s.vault(ctx, vaultName, "backup:DeleteBackupVaultNotifications")
	if err != nil {
		return err
	}
	_, err = s.store.ExecContext(ctx, `DELETE FROM backup_vault_notifications WHERE vault_arn = ?`, v.ARN)
	return err
}

func (s *Service) vaultNotifications(ctx context.Context, vaultARN string) (*VaultNotifications, error) {
	n := VaultNotifications{VaultARN: vaultARN}
	var events string
	err := s.store.QueryRowContext(ctx, `SELECT topic_arn, events FROM backup_vault_notifications WHERE vault_arn = ?`, vaultARN).Scan(&n.TopicARN, &events)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(events), &n.Events); err != nil {
		return nil, fmt.Errorf("notification events of %s: %w", vaultARN, err)
	}
	return &n, nil
}

// jobEvents are the events that announce a job's state: any one of them
// in a vault's configuration sends the notification. A COMPLETED event
// stands for every outcome (successful, failed, expired, aborted).
func jobEvents(j *Job) (eventType string, events []string) {
	eventType = map[string]string{KindBackup: "BACKUP_JOB", KindCopy: "COPY_JOB", KindRestore: "RESTORE_JOB"}[j.Kind]
	switch j.State {
	case StateRunning:
		return eventType, []string{eventType + "_STARTED"}
	case StateCompleted:
		return eventType, []string{eventType + "_COMPLETED", eventType + "_SUCCESSFUL"}
	case StateFailed:
		return eventType, []string{eventType + "_COMPLETED", eventType + "_FAILED"}
	case StateExpired:
		return eventType, []string{eventType + "_COMPLETED", eventType + "_EXPIRED"}
	case StateAborted:
		return eventType, []string{eventType + "_COMPLETED"}
	}
	return eventType, nil
}

// jobMessage is the text of a job notification, in AWS Backup's words
// where AWS documents them.
func jobMessage(j *Job) string {
	id := map[string]string{KindBackup: "BackupJob ID", KindCopy: "CopyJob ID", KindRestore: "RestoreJob ID"}[j.Kind]
	what := map[string]string{KindBackup: "An AWS Backup job", KindCopy: "An AWS Backup copy job", KindRestore: "An AWS Backup restore job"}[j.Kind]
	rp := j.RecoveryPointARN
	if j.Kind == KindCopy {
		rp = j.DestinationRecoveryPointARN
	}
	switch j.State {
	case StateRunning:
		return fmt.Sprintf("%s was started. Resource ARN : %s. %s : %s", what, j.ResourceARN, id, j.ID)
	case StateCompleted:
		return fmt.Sprintf("%s was completed successfully. Recovery point ARN: %s. Resource ARN : %s. %s : %s", what, rp, j.ResourceARN, id, j.ID)
	}
	return fmt.Sprintf("%s ended %s. Resource ARN : %s. %s : %s. Status message : %s", what, j.State, j.ResourceARN, id, j.ID, j.StatusMessage)
}

// notifyJob tells the job's vault's topic of the job's new state, when
// the vault's configuration asks for it.
func (s *Service) notifyJob(ctx context.Context, j *Job) {
	eventType, events := jobEvents(j)
	s.notify(ctx, j.VaultARN, j.Account, events, jobMessage(j), map[string]string{
		"EventType": eventType, "State": j.State, "AccountId": j.Account, "Id": j.ID, "StartTime": j.Created.UTC().Format(time.RFC3339Nano),
	})
}

// notifyRecoveryPoint tells the vault's topic that a recovery point's
// lifecycle changed.
func (s *Service) notifyRecoveryPoint(ctx context.Context, v *Vault, rp *RecoveryPoint) {
	s.notify(ctx, v.ARN, v.Account, []string{"RECOVERY_POINT_MODIFIED"},
		fmt.Sprintf("An AWS Backup recovery point was modified. Recovery point ARN: %s. Resource ARN : %s", rp.ARN, rp.ResourceARN),
		map[string]string{"EventType": "RECOVERY_POINT", "State": "MODIFIED", "AccountId": v.Account, "Id": rp.ARN})
}

// NotifyPlan tells the topics of the vaults a plan's rules target, in
// the plan's account and region, that the plan was created (event
// BACKUP_PLAN_CREATED) or given a new version (BACKUP_PLAN_MODIFIED).
func (s *Service) NotifyPlan(ctx context.Context, account, region, event, planARN, versionID string, vaults []string) {
	state, _ := strings.CutPrefix(event, "BACKUP_PLAN_")
	what := map[string]string{"CREATED": "created", "MODIFIED": "modified"}[state]
	for i, name := range vaults {
		if slices.Contains(vaults[:i], name) {
			continue
		}
		s.notify(ctx, VaultARN(region, account, name), account, []string{event},
			fmt.Sprintf("An AWS Backup plan was %s. Backup plan ARN: %s. Version ID : %s", what, planARN, versionID),
			map[string]string{"EventType": "BACKUP_PLAN", "State": state, "AccountId": account, "Id": planARN})
	}
}

// notify publishes when the vault's configuration names one of events.
// A failure (a topic policy that does not admit backup.amazonaws.com, a
// deleted topic) is logged and counted by the notifier; it never fails
// the operation that caused it.
func (s *Service) notify(ctx context.Context, vaultARN, account string, events []string, message string, attrs map[string]string) {
	if s.notifier == nil || len(events) == 0 {
		return
	}
	ctx = context.WithoutCancel(ctx)
	cfg, err := s.vaultNotifications(ctx, vaultARN)
	if err != nil {
		s.log.Warn("read vault notifications", "vault", vaultARN, "error", err)
		return
	}
	if cfg == nil || !slices.ContainsFunc(events, func(e string) bool { return slices.Contains(cfg.Events, e) }) {
		return
	}
	err = s.notifier.Notify(ctx, Notification{TopicARN: cfg.TopicARN, SourceAccount: account, SourceARN: vaultARN,
		Subject: "Notification from AWS Backup", Message: message, Attributes: attrs})
	if err != nil {
		s.log.Warn("vault notification not published", "vault", vaultARN, "topic", cfg.TopicARN, "event", events[len(events)-1], "error", err)
	}
}
