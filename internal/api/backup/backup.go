// Package backup is the API adapter for AWS Backup (restJson1): it binds
// the URI, query and JSON members of each operation to the backup
// domain's calls and shapes the results as the AWS SDKs parse them.
package backup

import (
	"context"
	"strconv"

	"github.com/coffer-dev/coffer/internal/awsmodel"
	"github.com/coffer-dev/coffer/internal/backup"
	"github.com/coffer-dev/coffer/internal/protocol"
)

// New returns the Backup endpoint.
func New(svc *backup.Service) *protocol.RESTService {
	a := &adapter{svc: svc}
	s := protocol.NewRESTService("backup")
	s.Model = awsmodel.Load("backup")
	s.Handle("PUT /backup-vaults/{backupVaultName}", "CreateBackupVault", a.createVault)
	s.Handle("GET /backup-vaults/{backupVaultName}", "DescribeBackupVault", a.describeVault)
	s.Handle("GET /backup-vaults/{$}", "ListBackupVaults", a.listVaults)
	s.Handle("DELETE /backup-vaults/{backupVaultName}", "DeleteBackupVault", a.deleteVault)
	s.Handle("PUT /backup-vaults/{backupVaultName}/access-policy", "PutBackupVaultAccessPolicy", a.putVaultPolicy)
	s.Handle("GET /backup-vaults/{backupVaultName}/access-policy", "GetBackupVaultAccessPolicy", a.getVaultPolicy)
	s.Handle("DELETE /backup-vaults/{backupVaultName}/access-policy", "DeleteBackupVaultAccessPolicy", a.deleteVaultPolicy)
	s.Handle("GET /global-settings", "DescribeGlobalSettings", a.describeGlobalSettings)
	s.Handle("PUT /global-settings", "UpdateGlobalSettings", a.updateGlobalSettings)
	s.Handle("GET /account-settings", "DescribeRegionSettings", a.describeRegionSettings)
	s.Handle("PUT /account-settings", "UpdateRegionSettings", a.updateRegionSettings)
	s.Handle("POST /tags/{resourceArn}", "TagResource", a.tagResource)
	s.Handle("POST /untag/{resourceArn}", "UntagResource", a.untagResource)
	s.Handle("GET /tags/{resourceArn}/{$}", "ListTags", a.listTags)
	s.Handle("PUT /backup-vaults/{backupVaultName}/vault-lock", "PutBackupVaultLockConfiguration", a.putVaultLock)
	s.Handle("DELETE /backup-vaults/{backupVaultName}/vault-lock", "DeleteBackupVaultLockConfiguration", a.deleteVaultLock)
	a.registerLegalHolds(s)
	a.registerJobs(s)
	a.registerRestoreTests(s)
	a.registerRecoveryPoints(s)
	a.registerEveryday(s)
	a.registerNotifications(s)
	return s
}

type adapter struct{ svc *backup.Service }

// page reads the nextToken and maxResults query members.
func page(r *protocol.RESTRequest) (backup.Page, error) {
	return pageOf(r.Query.Get("nextToken"), r.Query.Get("maxResults"))
}

// pageOf reads a token and a maximum, as query members spell them.
func pageOf(token, max string) (backup.Page, error) {
	p := backup.Page{Token: token}
	if v := max; v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return p, backup.InvalidParam("maxResults %q is not a number", v)
		}
		if n == 0 {
			n = -1 // an explicit 0 is out of range, not the default
		}
		p.Max = n
	}
	return p, nil
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

type vaultShape struct {
	BackupVaultName        string
	BackupVaultArn         string
	VaultType              string
	VaultState             string
	EncryptionKeyArn       string
	EncryptionKeyType      string
	CreationDate           protocol.Epoch
	CreatorRequestId       *string `json:",omitempty"`
	NumberOfRecoveryPoints int64
	Locked                 bool
	MinRetentionDays       *int64          `json:",omitempty"`
	MaxRetentionDays       *int64          `json:",omitempty"`
	LockDate               *protocol.Epoch `json:",omitempty"`
}

func vaultOut(v *backup.Vault) vaultShape {
	return vaultShape{
		BackupVaultName:        v.Name,
		BackupVaultArn:         v.ARN,
		VaultType:              "BACKUP_VAULT",
		VaultState:             "AVAILABLE",
		EncryptionKeyArn:       v.EncryptionKeyARN,
		EncryptionKeyType:      "CUSTOMER_MANAGED_KMS_KEY",
		CreationDate:           protocol.Epoch(v.CreatedAt),
		CreatorRequestId:       optString(v.CreatorRequestID),
		NumberOfRecoveryPoints: v.RecoveryPoints,
		Locked:                 v.Lock.Enabled,
		MinRetentionDays:       optInt(v.Lock.MinRetentionDays),
		MaxRetentionDays:       optInt(v.Lock.MaxRetentionDays),
		LockDate:               protocol.EpochPtr(v.Lock.LockDate),
	}
}

func optInt(n int64) *int64 {
	if n == 0 {
		return nil
	}
	return &n
}

func (a *adapter) createVault(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	var in struct {
		BackupVaultTags  map[string]string
		EncryptionKeyArn string
		CreatorRequestId string
	}
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	v, err := a.svc.CreateVault(ctx, backup.CreateVaultInput{Name: r.PathValue("backupVaultName"), EncryptionKeyARN: in.EncryptionKeyArn, CreatorRequestID: in.CreatorRequestId, Tags: in.BackupVaultTags})
	if err != nil {
		return 0, nil, err
	}
	return 0, struct {
		BackupVaultName string
		BackupVaultArn  string
		CreationDate    protocol.Epoch
	}{v.Name, v.ARN, protocol.Epoch(v.CreatedAt)}, nil
}

func (a *adapter) describeVault(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	v, err := a.svc.DescribeVault(ctx, r.PathValue("backupVaultName"))
	if err != nil {
		return 0, nil, err
	}
	return 0, vaultOut(v), nil
}

func (a *adapter) listVaults(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	p, err := page(r)
	if err != nil {
		return 0, nil, err
	}
	vs, next, err := a.svc.ListVaults(ctx, p)
	if err != nil {
		return 0, nil, err
	}
	out := struct {
		BackupVaultList []vaultShape
		NextToken       *string `json:",omitempty"`
	}{BackupVaultList: []vaultShape{}, NextToken: optString(next)}
	for _, v := range vs {
		out.BackupVaultList = append(out.BackupVaultList, vaultOut(v))
	}
	return 0, out, nil
}

func (a *adapter) deleteVault(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	return 0, struct{}{}, a.svc.DeleteVault(ctx, r.PathValue("backupVaultName"))
}

func (a *adapter) putVaultPolicy(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	var in struct{ Policy string }
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	return 0, struct{}{}, a.svc.PutVaultAccessPolicy(ctx, r.PathValue("backupVaultName"), in.Policy)
}

func (a *adapter) getVaultPolicy(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	v, err := a.svc.GetVaultAccessPolicy(ctx, r.PathValue("backupVaultName"))
	if err != nil {
		return 0, nil, err
	}
	return 0, struct{ BackupVaultName, BackupVaultArn, Policy string }{v.Name, v.ARN, v.AccessPolicy}, nil
}

func (a *adapter) deleteVaultPolicy(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	return 0, struct{}{}, a.svc.DeleteVaultAccessPolicy(ctx, r.PathValue("backupVaultName"))
}

func (a *adapter) describeGlobalSettings(ctx context.Context, _ *protocol.RESTRequest) (int, any, error) {
	settings, updated, err := a.svc.GlobalSettings(ctx)
	if err != nil {
		return 0, nil, err
	}
	return 0, struct {
		GlobalSettings map[string]string
		LastUpdateTime *protocol.Epoch `json:",omitempty"`
	}{settings, protocol.EpochPtr(updated)}, nil
}

func (a *adapter) updateGlobalSettings(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	var in struct{ GlobalSettings map[string]string }
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	return 0, struct{}{}, a.svc.UpdateGlobalSettings(ctx, in.GlobalSettings)
}

func (a *adapter) describeRegionSettings(ctx context.Context, _ *protocol.RESTRequest) (int, any, error) {
	s, err := a.svc.RegionSettings(ctx)
	if err != nil {
		return 0, nil, err
	}
	return 0, struct{ ResourceTypeOptInPreference map[string]bool }{s}, nil
}

func (a *adapter) updateRegionSettings(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	var in struct {
		ResourceTypeOptInPreference      map[string]bool
		ResourceTypeManagementPreference map[string]bool
	}
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	if len(in.ResourceTypeManagementPreference) > 0 {
		return 0, nil, backup.InvalidParam("ResourceTypeManagementPreference is not supported: coffer manages RDS backups itself")
	}
	return 0, struct{}{}, a.svc.UpdateRegionSettings(ctx, in.ResourceTypeOptInPreference)
}

func (a *adapter) tagResource(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	var in struct{ Tags map[string]string }
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	return 0, struct{}{}, a.svc.TagResource(ctx, r.PathValue("resourceArn"), in.Tags)
}

func (a *adapter) untagResource(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	var in struct{ TagKeyList []string }
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	return 0, struct{}{}, a.svc.UntagResource(ctx, r.PathValue("resourceArn"), in.TagKeyList)
}

func (a *adapter) listTags(ctx context.Context, r *protocol.RESTRequest) (int, any, error) {
	p, err := page(r)
	if err != nil {
		return 0, nil, err
	}
	tags, next, err := a.svc.ListTags(ctx, r.PathValue("resourceArn"), p)
	if err != nil {
		return 0, nil, err
	}
	return 0, struct {
		Tags      map[string]string
		NextToken string `json:",omitempty"`
	}{tags, next}, nil
}
