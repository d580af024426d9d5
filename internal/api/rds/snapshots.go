package rds

import (
	"context"
	"net/url"

	"github.com/coffer-dev/coffer/internal/rds"
)

// dbSnapshot is botocore's DBSnapshot shape.
type dbSnapshot struct {
	DBSnapshotIdentifier   string
	DBInstanceIdentifier   string
	SnapshotCreateTime     string `xml:",omitempty"`
	Engine                 string
	AllocatedStorage       int
	Status                 string
	AvailabilityZone       string
	InstanceCreateTime     string `xml:",omitempty"`
	MasterUsername         string
	EngineVersion          string
	SnapshotType           string
	PercentProgress        int
	Encrypted              bool
	KmsKeyId               string `xml:",omitempty"`
	DBSnapshotArn          string
	StorageType            string
	DbiResourceId          string `xml:",omitempty"`
	SnapshotTarget         string
	OriginalSnapshotCreate string `xml:"OriginalSnapshotCreateTime,omitempty"`
}

func snapshotShape(s *rds.Snapshot) dbSnapshot {
	out := dbSnapshot{DBSnapshotIdentifier: s.Identifier, DBInstanceIdentifier: s.InstanceIdentifier, Engine: s.Engine,
		AllocatedStorage: s.AllocatedStorage, Status: s.Status, AvailabilityZone: s.Region + "a", MasterUsername: s.MasterUsername,
		EngineVersion: s.EngineVersion, SnapshotType: rds.SnapshotManual, Encrypted: s.StorageEncrypted, DBSnapshotArn: s.ARN,
		StorageType: "gp2", SnapshotTarget: "region"}
	if s.StorageEncrypted {
		out.KmsKeyId = s.KMSKeyARN
	}
	if s.Status == rds.SnapshotAvailable {
		out.PercentProgress = 100
		out.SnapshotCreateTime = s.CreatedAt.Format("2006-01-02T15:04:05.000Z")
		out.OriginalSnapshotCreate = out.SnapshotCreateTime
	}
	return out
}

type snapshotResult struct {
	DBSnapshot dbSnapshot
}

type describeSnapshotsResult struct {
	DBSnapshots []dbSnapshot `xml:"DBSnapshots>DBSnapshot"`
}

func (a *api) createDBSnapshot(ctx context.Context, form url.Values) (any, error) {
	snap, err := a.svc.CreateSnapshot(ctx, form.Get("DBSnapshotIdentifier"), form.Get("DBInstanceIdentifier"))
	if err != nil {
		return nil, err
	}
	return snapshotResult{snapshotShape(snap)}, nil
}

func (a *api) describeDBSnapshots(ctx context.Context, form url.Values) (any, error) {
	snaps, err := a.svc.DescribeSnapshots(ctx, form.Get("DBSnapshotIdentifier"), form.Get("DBInstanceIdentifier"))
	if err != nil {
		return nil, err
	}
	out := describeSnapshotsResult{DBSnapshots: []dbSnapshot{}}
	for _, s := range snaps {
		out.DBSnapshots = append(out.DBSnapshots, snapshotShape(s))
	}
	return out, nil
}

func (a *api) deleteDBSnapshot(ctx context.Context, form url.Values) (any, error) {
	snap, err := a.svc.DeleteSnapshot(ctx, form.Get("DBSnapshotIdentifier"))
	if err != nil {
		return nil, err
	}
	return snapshotResult{snapshotShape(snap)}, nil
}

func (a *api) restoreDBInstanceFromDBSnapshot(ctx context.Context, form url.Values) (any, error) {
	inst, err := a.svc.RestoreFromSnapshot(ctx, rds.RestoreFromSnapshotInput{SnapshotIdentifier: form.Get("DBSnapshotIdentifier"),
		Identifier: form.Get("DBInstanceIdentifier"), InstanceClass: form.Get("DBInstanceClass"), DBName: form.Get("DBName")})
	if err != nil {
		return nil, err
	}
	return instanceResult{instanceShape(inst)}, nil
}
