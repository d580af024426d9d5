package app

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/coffer-dev/coffer/internal/backup"
	"github.com/coffer-dev/coffer/internal/engine"
	"github.com/coffer-dev/coffer/internal/engine/pgphysical"
	"github.com/coffer-dev/coffer/internal/rds"
)

// rdsSnapshots serves rds.SnapshotData with the backup jobs' machinery:
// the same sources (physical for servers of their own, logical for the
// others), restores and vault storage. The snapshots' keys are used
// through the grants RDS holds on them when it does
// (rds.Service.SnapshotKeyContext), as the caller otherwise.
type rdsSnapshots struct {
	dbs  dbResources
	data vaultData
}

var _ rds.SnapshotData = rdsSnapshots{}

func snapshotDomain(account, region, keyARN string) backup.Domain {
	return backup.Domain{Region: region, Account: account, Vault: rds.SnapshotVaultName, KeyARN: keyARN, KeyService: backup.KeyServiceRDS}
}

func (r rdsSnapshots) Take(ctx context.Context, inst *rds.Instance) (rds.SnapshotWritten, error) {
	src, err := r.dbs.Source(ctx, inst.ARN)
	if err != nil {
		return rds.SnapshotWritten{}, err
	}
	keyCtx, err := r.dbs.rds.SnapshotKeyContext(ctx, inst.Account, inst.Region, inst.KMSKeyARN)
	if err != nil {
		return rds.SnapshotWritten{}, err
	}
	var md *engine.Metadata
	w, err := r.data.Write(keyCtx, snapshotDomain(inst.Account, inst.Region, inst.KMSKeyARN), src.Secrets, func(sink backup.Sink) error {
		var err error
		if src.Physical != nil {
			md, err = src.Physical.Snapshot(ctx, src.Target, sink)
		} else {
			md, err = src.Engine.Snapshot(ctx, src.Target, sink)
		}
		return err
	})
	if err != nil {
		return rds.SnapshotWritten{}, fmt.Errorf("snapshot %s: %w", inst.ARN, err)
	}
	mdJSON, err := json.Marshal(md)
	if err != nil {
		return rds.SnapshotWritten{}, err
	}
	return rds.SnapshotWritten{ManifestID: w.ManifestID, EngineMetadata: string(mdJSON), Size: w.Size}, nil
}

func (r rdsSnapshots) Restore(ctx context.Context, snap *rds.Snapshot, spec rds.RestoreSpec) error {
	var md engine.Metadata
	if err := json.Unmarshal([]byte(snap.EngineMetadata), &md); err != nil {
		return fmt.Errorf("DB snapshot %s engine metadata: %w", snap.ARN, err)
	}
	keyCtx, err := r.dbs.rds.SnapshotKeyContext(ctx, snap.Account, snap.Region, snap.KMSKeyARN)
	if err != nil {
		return err
	}
	stream, secrets, err := r.data.Read(keyCtx, snapshotDomain(snap.Account, snap.Region, snap.KMSKeyARN), snap.ManifestID)
	if err != nil {
		return fmt.Errorf("read DB snapshot %s: %w", snap.ARN, err)
	}
	defer stream.Close()
	spec.MasterUserPassword = secrets[mdPassword]
	if md.DumpFormat == pgphysical.DumpFormat {
		restored, _, err := r.dbs.restorePhysical(ctx, spec, snap.DBName, stream, &md)
		if err != nil {
			return err
		}
		return restored.Finish(ctx, true)
	}
	restored, err := r.dbs.createRestored(ctx, spec)
	if err != nil {
		return err
	}
	if err := restored.Engine.Restore(ctx, restored.Target, stream, &md); err != nil {
		return fmt.Errorf("restore DB snapshot %s into %s: %w", snap.ARN, restored.ARN, err)
	}
	return restored.Finish(ctx, true)
}

func (r rdsSnapshots) Copy(ctx context.Context, src, dst *rds.Snapshot) (rds.SnapshotWritten, error) {
	from, to := snapshotDomain(src.Account, src.Region, src.KMSKeyARN), snapshotDomain(dst.Account, dst.Region, dst.KMSKeyARN)
	if from == to {
		// The same dedup domain: the copy shares the source's data
		// (rds deletes it with the last snapshot referring to it).
		return rds.SnapshotWritten{ManifestID: src.ManifestID, EngineMetadata: src.EngineMetadata, Size: src.Size}, nil
	}
	keyCtx := ctx
	if src.Account == dst.Account && src.Region == dst.Region {
		// One grantee, RDS of the region, for both keys; across regions
		// the caller reads and writes.
		var err error
		if keyCtx, err = r.dbs.rds.SnapshotKeyContext(ctx, dst.Account, dst.Region, src.KMSKeyARN, dst.KMSKeyARN); err != nil {
			return rds.SnapshotWritten{}, err
		}
	}
	w, err := r.data.Copy(keyCtx, from, to, src.ManifestID)
	if err != nil {
		return rds.SnapshotWritten{}, fmt.Errorf("copy DB snapshot %s to %s: %w", src.ARN, dst.ARN, err)
	}
	return rds.SnapshotWritten{ManifestID: w.ManifestID, EngineMetadata: src.EngineMetadata, Size: w.Size}, nil
}

func (r rdsSnapshots) Delete(ctx context.Context, snap *rds.Snapshot) error {
	keyCtx, err := r.dbs.rds.SnapshotKeyContext(ctx, snap.Account, snap.Region, snap.KMSKeyARN)
	if err != nil {
		return err
	}
	return r.data.Delete(keyCtx, snapshotDomain(snap.Account, snap.Region, snap.KMSKeyARN), snap.ManifestID)
}

// rdsBackupSnapshots serves rds.BackupSnapshots: AWS Backup's completed
// recovery points of RDS instances, as awsbackup snapshots named
// awsbackup:job-ID.
type rdsBackupSnapshots struct{ svc *backup.Service }

var _ rds.BackupSnapshots = rdsBackupSnapshots{}

func (b rdsBackupSnapshots) RDSSnapshots(ctx context.Context, account, region, instanceARN string) ([]*rds.Snapshot, error) {
	rps, err := b.svc.RDSRecoveryPoints(ctx, account, region, instanceARN)
	if err != nil {
		return nil, err
	}
	out := make([]*rds.Snapshot, 0, len(rps))
	for _, rp := range rps {
		md := rp.RestoreMetadata
		// The recovery point's ARN is already the snapshot's,
		// arn:aws:rds:REGION:ACCOUNT:snapshot:awsbackup:job-ID.
		id := rp.ARN[strings.Index(rp.ARN, ":snapshot:")+len(":snapshot:"):]
		storage, _ := strconv.Atoi(md[mdStorage])
		encrypted, _ := strconv.ParseBool(md[mdEncrypted])
		out = append(out, &rds.Snapshot{Identifier: id, Type: rds.SnapshotAWSBackup, ARN: rp.ARN, Account: account, Region: region,
			InstanceIdentifier: md[mdIdentifier], InstanceARN: rp.ResourceARN, Engine: md[mdEngine], EngineVersion: md[mdVersion],
			InstanceClass: md[mdClass], AllocatedStorage: storage, DBName: md[mdDBName], MasterUsername: md[mdUser],
			StorageEncrypted: encrypted, KMSKeyARN: rp.EncryptionKeyARN, Status: rds.SnapshotAvailable, Size: rp.Size, CreatedAt: rp.Created})
	}
	return out, nil
}
