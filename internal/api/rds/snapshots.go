package rds

import (
	"context"
	"net/url"
	"strconv"

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
		EngineVersion: s.EngineVersion, SnapshotType: s.Type, Encrypted: s.StorageEncrypted, DBSnapshotArn: s.ARN,
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
	includeShared, _, err := boolParam(form, "IncludeShared")
	if err != nil {
		return nil, err
	}
	snaps, err := a.svc.DescribeSnapshots(ctx, form.Get("DBSnapshotIdentifier"), form.Get("DBInstanceIdentifier"), form.Get("SnapshotType"), includeShared)
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

type snapshotAttribute struct {
	AttributeName   string
	AttributeValues []string `xml:"AttributeValues>AttributeValue"`
}

type snapshotAttributesResult struct {
	DBSnapshotAttributesResult struct {
		DBSnapshotIdentifier string
		DBSnapshotAttributes []snapshotAttribute `xml:"DBSnapshotAttributes>DBSnapshotAttribute"`
	}
}

func attributesResult(id string, accounts []string) snapshotAttributesResult {
	var out snapshotAttributesResult
	out.DBSnapshotAttributesResult.DBSnapshotIdentifier = id
	out.DBSnapshotAttributesResult.DBSnapshotAttributes = []snapshotAttribute{{AttributeName: rds.AttributeRestore, AttributeValues: accounts}}
	return out
}

// listParam reads NAME.AttributeValue.N (botocore's serialization; SDKs
// that ignore the list's member name send NAME.member.N).
func listParam(form url.Values, name string) []string {
	var out []string
	for _, member := range []string{"AttributeValue", "member"} {
		for n := 1; ; n++ {
			v, ok := form[name+"."+member+"."+strconv.Itoa(n)]
			if !ok {
				break
			}
			out = append(out, v[0])
		}
	}
	return out
}

func (a *api) describeDBSnapshotAttributes(ctx context.Context, form url.Values) (any, error) {
	id, accounts, err := a.svc.SnapshotAttributes(ctx, form.Get("DBSnapshotIdentifier"))
	if err != nil {
		return nil, err
	}
	return attributesResult(id, accounts), nil
}

func (a *api) modifyDBSnapshotAttribute(ctx context.Context, form url.Values) (any, error) {
	id, accounts, err := a.svc.ModifySnapshotAttribute(ctx, form.Get("DBSnapshotIdentifier"), form.Get("AttributeName"),
		listParam(form, "ValuesToAdd"), listParam(form, "ValuesToRemove"))
	if err != nil {
		return nil, err
	}
	return attributesResult(id, accounts), nil
}

// copyDBSnapshot ignores PreSignedUrl and DestinationRegion, which the
// SDKs and the CLI send for SourceRegion: botocore's model says the
// presigned URL applies to GovCloud regions only and is ignored
// elsewhere (see internal/rds doc.go).
func (a *api) copyDBSnapshot(ctx context.Context, form url.Values) (any, error) {
	snap, err := a.svc.CopySnapshot(ctx, rds.CopySnapshotInput{Source: form.Get("SourceDBSnapshotIdentifier"),
		Target: form.Get("TargetDBSnapshotIdentifier"), KMSKeyID: form.Get("KmsKeyId")})
	if err != nil {
		return nil, err
	}
	return snapshotResult{snapshotShape(snap)}, nil
}
