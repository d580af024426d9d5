package backup

import (
	"context"

	"github.com/coffer-dev/coffer/internal/backup"
	"github.com/coffer-dev/coffer/internal/plans"
	"github.com/coffer-dev/coffer/internal/protocol"
)

func (a *adapter) registerRecoveryPoints(s *protocol.RESTService) {
	s.Handle("GET /backup-vaults/{backupVaultName}/recovery-points/{recoveryPointArn}", "DescribeRecoveryPoint", a.describeRP)
	s.Handle("GET /backup-vaults/{backupVaultName}/recovery-points/{$}", "ListRecoveryPointsByBackupVault", a.listRPsByVault)
	s.Handle("GET /resources/{resourceArn}/recovery-points/{$}", "ListRecoveryPointsByResource", a.listRPsByResource)
	s.Handle("POST /backup-vaults/{backupVaultName}/recovery-points/{recoveryPointArn}", "UpdateRecoveryPointLifecycle", a.updateRPLifecycle)
	s.Handle("DELETE /backup-vaults/{backupVaultName}/recovery-points/{recoveryPointArn}", "DeleteRecoveryPoint", a.deleteRP)
	s.Handle("GET /backup-vaults/{backupVaultName}/recovery-points/{recoveryPointArn}/restore-metadata", "GetRecoveryPointRestoreMetadata", a.restoreMetadata)
	s.Handle("GET /resources/{$}", "ListProtectedResources", a.listProtected)
	s.Handle("GET /resources/{resourceArn}", "DescribeProtectedResource", a.describeProtected)
}

type calculatedLifecycle struct {
	MoveToColdStorageAt *protocol.Epoch `json:",omitempty"`
	DeleteAt            *protocol.Epoch `json:",omitempty"`
}

func calculated(rp *backup.RecoveryPoint) *calculatedLifecycle {
	if rp.Lifecycle == (backup.Lifecycle{}) {
		return nil
	}
	cold, del := rp.Lifecycle.At(rp.LifecycleStart())
	return &calculatedLifecycle{protocol.EpochPtr(cold), protocol.EpochPtr(del)}
}

type rpShape struct {
	RecoveryPointArn       string
	BackupVaultName        string
	BackupVaultArn         string
	SourceBackupVaultArn   *string `json:",omitempty"`
	ResourceArn            string
	ResourceType           string
	ResourceName           *string `json:",omitempty"`
	IamRoleArn             *string `json:",omitempty"`
	Status                 string
	StatusMessage          *string `json:",omitempty"`
	CreationDate           protocol.Epoch
	CompletionDate         *protocol.Epoch `json:",omitempty"`
	BackupSizeInBytes      int64
	CalculatedLifecycle    *calculatedLifecycle `json:",omitempty"`
	Lifecycle              *plans.Lifecycle     `json:",omitempty"`
	EncryptionKeyArn       string
	IsEncrypted            bool
	ParentRecoveryPointArn *string `json:",omitempty"`
	VaultType              string
}

func rpOut(rp *backup.RecoveryPoint) rpShape {
	return rpShape{
		RecoveryPointArn: rp.ARN, BackupVaultName: rp.VaultName, BackupVaultArn: rp.VaultARN(), SourceBackupVaultArn: optString(rp.SourceVaultARN),
		ResourceArn: rp.ResourceARN, ResourceType: rp.ResourceType, ResourceName: optString(rp.ResourceName), IamRoleArn: optString(rp.IAMRoleARN),
		Status: rp.Status, StatusMessage: optString(rp.StatusMessage), CreationDate: protocol.Epoch(rp.Created), CompletionDate: protocol.EpochPtr(rp.Completed),
		BackupSizeInBytes: rp.Size, CalculatedLifecycle: calculated(rp), Lifecycle: lifecycleOut(rp.Lifecycle),
		EncryptionKeyArn: rp.EncryptionKeyARN, IsEncrypted: true, VaultType: "BACKUP_VAULT",
	}
}

func (a *adapter) describeRP(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	_, rp, err := a.svc.DescribeRecoveryPoint(ctx, r.PathValue("backupVaultName"), r.PathValue("recoveryPointArn"))
	if err != nil {
		return 0, nil, err
	}
	return 0, struct {
		rpShape
		StorageClass string // DescribeRecoveryPoint's alone, not RecoveryPointByBackupVault's
	}{rpOut(rp), rp.StorageClass}, nil
}

func (a *adapter) listRPsByVault(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	p, err := page(r)
	if err != nil {
		return 0, nil, err
	}
	rps, next, err := a.svc.ListRecoveryPointsByVault(ctx, r.PathValue("backupVaultName"), r.Query.Get("resourceArn"), p)
	if err != nil {
		return 0, nil, err
	}
	out := struct {
		RecoveryPoints []rpShape
		NextToken      *string `json:",omitempty"`
	}{RecoveryPoints: []rpShape{}, NextToken: optString(next)}
	for _, rp := range rps {
		out.RecoveryPoints = append(out.RecoveryPoints, rpOut(rp))
	}
	return 0, out, nil
}

func (a *adapter) listRPsByResource(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	p, err := page(r)
	if err != nil {
		return 0, nil, err
	}
	rps, next, err := a.svc.ListRecoveryPointsByResource(ctx, r.PathValue("resourceArn"), p)
	if err != nil {
		return 0, nil, err
	}
	type byResource struct {
		RecoveryPointArn string
		CreationDate     protocol.Epoch
		Status           string
		StatusMessage    *string `json:",omitempty"`
		EncryptionKeyArn string
		BackupSizeBytes  int64
		BackupVaultName  string
		ResourceName     *string `json:",omitempty"`
		VaultType        string
	}
	out := struct {
		RecoveryPoints []byResource
		NextToken      *string `json:",omitempty"`
	}{RecoveryPoints: []byResource{}, NextToken: optString(next)}
	for _, rp := range rps {
		out.RecoveryPoints = append(out.RecoveryPoints, byResource{rp.ARN, protocol.Epoch(rp.Created), rp.Status, optString(rp.StatusMessage),
			rp.EncryptionKeyARN, rp.Size, rp.VaultName, optString(rp.ResourceName), "BACKUP_VAULT"})
	}
	return 0, out, nil
}

func (a *adapter) updateRPLifecycle(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	var in struct{ Lifecycle *plans.Lifecycle }
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	lc, err := lifecycleIn(in.Lifecycle)
	if err != nil {
		return 0, nil, err
	}
	v, rp, err := a.svc.UpdateRecoveryPointLifecycle(ctx, r.PathValue("backupVaultName"), r.PathValue("recoveryPointArn"), lc)
	if err != nil {
		return 0, nil, err
	}
	return 0, struct {
		BackupVaultArn      string
		RecoveryPointArn    string
		Lifecycle           *plans.Lifecycle     `json:",omitempty"`
		CalculatedLifecycle *calculatedLifecycle `json:",omitempty"`
	}{v.ARN, rp.ARN, lifecycleOut(rp.Lifecycle), calculated(rp)}, nil
}

func (a *adapter) deleteRP(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	return 0, struct{}{}, a.svc.DeleteRecoveryPoint(ctx, r.PathValue("backupVaultName"), r.PathValue("recoveryPointArn"))
}

func (a *adapter) restoreMetadata(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	v, rp, err := a.svc.RestoreMetadata(ctx, r.PathValue("backupVaultName"), r.PathValue("recoveryPointArn"))
	if err != nil {
		return 0, nil, err
	}
	md := rp.RestoreMetadata
	if md == nil {
		md = map[string]string{}
	}
	return 0, struct {
		BackupVaultArn   string
		RecoveryPointArn string
		RestoreMetadata  map[string]string
		ResourceType     string
	}{v.ARN, rp.ARN, md, rp.ResourceType}, nil
}

type protectedShape struct {
	ResourceArn          string
	ResourceType         string
	ResourceName         *string `json:",omitempty"`
	LastBackupTime       protocol.Epoch
	LastBackupVaultArn   string
	LastRecoveryPointArn string
}

func protectedOut(p backup.ProtectedResource) protectedShape {
	return protectedShape{p.ARN, p.Type, optString(p.Name), protocol.Epoch(p.LastBackup), p.LastVaultARN, p.LastRecoveryPointARN}
}

func (a *adapter) listProtected(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	all, err := a.svc.ProtectedResources(ctx, "")
	if err != nil {
		return 0, nil, err
	}
	return protectedPage(r, all)
}

func (a *adapter) describeProtected(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	all, err := a.svc.ProtectedResources(ctx, r.PathValue("resourceArn"))
	if err != nil {
		return 0, nil, err
	}
	return 0, protectedOut(all[0]), nil
}
