package rds

import (
	"context"
	"net/url"
	"time"

	"github.com/coffer-dev/coffer/internal/awserr"
	"github.com/coffer-dev/coffer/internal/rds"
)

// Automated backups and point-in-time restore (botocore rds
// 2014-10-31: RestoreDBInstanceToPointInTime,
// DescribeDBInstanceAutomatedBackups).

// timeFormat is how RDS writes timestamps.
const timeFormat = "2006-01-02T15:04:05.000Z"

func (a *api) restoreDBInstanceToPointInTime(ctx context.Context, form url.Values) (any, error) {
	in := rds.PointInTimeInput{
		Source: form.Get("SourceDBInstanceIdentifier"), Target: form.Get("TargetDBInstanceIdentifier"),
		InstanceClass: form.Get("DBInstanceClass"), Tags: tagsParam(form),
	}
	if v := form.Get("RestoreTime"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return nil, awserr.New(awserr.Invalid, "InvalidParameterValue", "RestoreTime %q is not an ISO 8601 time (2009-09-07T23:45:00Z)", v)
		}
		in.RestoreTime = &t
	}
	var err error
	if in.UseLatest, _, err = boolParam(form, "UseLatestRestorableTime"); err != nil {
		return nil, err
	}
	if in.Source == "" && (form.Get("SourceDbiResourceId") != "" || form.Get("SourceDBInstanceAutomatedBackupsArn") != "") {
		return nil, awserr.New(awserr.Invalid, "InvalidParameterCombination", "coffer restores by SourceDBInstanceIdentifier: point-in-time restore from the retained automated backups of a deleted instance (SourceDbiResourceId, SourceDBInstanceAutomatedBackupsArn) is not available yet")
	}
	inst, err := a.svc.RestoreToPointInTime(ctx, in)
	if err != nil {
		return nil, err
	}
	return instanceResult{instanceShape(inst)}, nil
}

type restoreWindow struct {
	EarliestTime string `xml:",omitempty"`
	LatestTime   string `xml:",omitempty"`
}

type automatedBackup struct {
	DBInstanceArn                 string
	DbiResourceId                 string
	Region                        string
	DBInstanceIdentifier          string
	RestoreWindow                 restoreWindow
	AllocatedStorage              int
	Status                        string
	Port                          int `xml:",omitempty"`
	AvailabilityZone              string
	InstanceCreateTime            string
	MasterUsername                string `xml:",omitempty"`
	Engine                        string
	EngineVersion                 string
	Encrypted                     bool
	StorageType                   string
	KmsKeyId                      string `xml:",omitempty"`
	BackupRetentionPeriod         int
	DBInstanceAutomatedBackupsArn string
	BackupTarget                  string
}

type automatedBackupsResult struct {
	Marker                     string `xml:",omitempty"`
	DBInstanceAutomatedBackups struct {
		Items []automatedBackup `xml:"DBInstanceAutomatedBackup"`
	}
}

func (a *api) describeDBInstanceAutomatedBackups(ctx context.Context, form url.Values) (any, error) {
	if form.Get("DBInstanceAutomatedBackupsArn") != "" || len(filtersParam(form)) > 0 {
		return nil, awserr.New(awserr.Invalid, "InvalidParameterCombination", "coffer selects automated backups by DBInstanceIdentifier or DbiResourceId only")
	}
	abs, err := a.svc.DescribeAutomatedBackups(ctx, form.Get("DBInstanceIdentifier"), form.Get("DbiResourceId"))
	if err != nil {
		return nil, err
	}
	var res automatedBackupsResult
	res.DBInstanceAutomatedBackups.Items = []automatedBackup{}
	for _, ab := range abs {
		res.DBInstanceAutomatedBackups.Items = append(res.DBInstanceAutomatedBackups.Items, automatedBackupShape(ab))
	}
	return res, nil
}

func automatedBackupShape(ab rds.AutomatedBackup) automatedBackup {
	i := ab.Instance
	out := automatedBackup{
		DBInstanceArn: i.ARN, DbiResourceId: i.ResourceID, Region: i.Region, DBInstanceIdentifier: i.Identifier,
		AllocatedStorage: i.AllocatedStorage, Status: ab.Status, Port: i.Endpoint.Port, AvailabilityZone: i.Region + "a",
		InstanceCreateTime: i.CreatedAt.UTC().Format(timeFormat), MasterUsername: i.MasterUsername, Engine: i.Engine,
		EngineVersion: i.EngineVersion, Encrypted: i.StorageEncrypted, StorageType: "gp2", BackupRetentionPeriod: i.BackupRetentionPeriod,
		DBInstanceAutomatedBackupsArn: rds.AutomatedBackupsARN(i), BackupTarget: "region",
	}
	if i.StorageEncrypted {
		out.KmsKeyId = i.KMSKeyARN
	}
	if ab.Window != nil {
		out.RestoreWindow = restoreWindow{EarliestTime: ab.Window.Earliest.UTC().Format(timeFormat), LatestTime: ab.Window.Latest.UTC().Format(timeFormat)}
	}
	return out
}

type deleteAutomatedBackupResult struct {
	DBInstanceAutomatedBackup automatedBackup
}

func (a *api) deleteDBInstanceAutomatedBackup(ctx context.Context, form url.Values) (any, error) {
	rb, err := a.svc.DeleteAutomatedBackup(ctx, form.Get("DbiResourceId"), form.Get("DBInstanceAutomatedBackupsArn"))
	if err != nil {
		return nil, err
	}
	return deleteAutomatedBackupResult{automatedBackupShape(rds.AutomatedBackup{Instance: rb.Instance, Status: "deleting"})}, nil
}

// shape is an instance's wire shape with its automated backups' fields:
// LatestRestorableTime and PreferredBackupWindow.
func (a *api) shape(ctx context.Context, i *rds.Instance) dbInstance {
	out := instanceShape(i)
	if t, ok := a.svc.LatestRestorableTime(ctx, i); ok {
		out.LatestRestorableTime = t.UTC().Format(timeFormat)
	}
	out.PreferredBackupWindow = a.svc.BackupWindow(ctx, i.ARN)
	out.AwsBackupRecoveryPointArn = a.svc.BackupRecoveryPoint(ctx, i.ARN)
	return out
}
