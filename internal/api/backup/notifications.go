package backup

import (
	"context"

	"github.com/coffer-dev/coffer/internal/protocol"
)

func (a *adapter) registerNotifications(s *protocol.RESTService) {
	s.Handle("PUT /backup-vaults/{backupVaultName}/notification-configuration", "PutBackupVaultNotifications", a.putNotifications)
	s.Handle("GET /backup-vaults/{backupVaultName}/notification-configuration", "GetBackupVaultNotifications", a.getNotifications)
	s.Handle("DELETE /backup-vaults/{backupVaultName}/notification-configuration", "DeleteBackupVaultNotifications", a.deleteNotifications)
}

func (a *adapter) putNotifications(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	var in struct {
		SNSTopicArn       string
		BackupVaultEvents []string
	}
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	return 0, struct{}{}, a.svc.PutVaultNotifications(ctx, r.PathValue("backupVaultName"), in.SNSTopicArn, in.BackupVaultEvents)
}

func (a *adapter) getNotifications(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	n, err := a.svc.GetVaultNotifications(ctx, r.PathValue("backupVaultName"))
	if err != nil {
		return 0, nil, err
	}
	return 0, struct {
		BackupVaultName, BackupVaultArn, SNSTopicArn string
		BackupVaultEvents                            []string
	}{n.VaultName, n.VaultARN, n.TopicARN, n.Events}, nil
}

func (a *adapter) deleteNotifications(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	return 0, struct{}{}, a.svc.DeleteVaultNotifications(ctx, r.PathValue("backupVaultName"))
}
