// Package rds is the API adapter for the RDS subset coffer serves
// (awsQuery, version 2014-10-31): DB instances and their tags, plus
// coffer's RegisterDBInstance extension. It decodes form parameters,
// calls the rds domain and shapes the XML results as botocore's rds model
// describes them.
package rds

import (
	"context"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/coffer-dev/coffer/internal/awserr"
	"github.com/coffer-dev/coffer/internal/protocol"
	"github.com/coffer-dev/coffer/internal/rds"
)

// New returns the RDS endpoint.
func New(svc *rds.Service) *protocol.QueryService {
	a := &api{svc: svc}
	return &protocol.QueryService{
		Name:         "rds",
		Version:      "2014-10-31",
		XMLNamespace: "http://rds.amazonaws.com/doc/2014-10-31/",
		Ops: map[string]protocol.QueryOp{
			"CreateDBInstance":         a.createDBInstance,
			"DescribeDBInstances":      a.describeDBInstances,
			"ModifyDBInstance":         a.modifyDBInstance,
			"DeleteDBInstance":         a.deleteDBInstance,
			"AddTagsToResource":        a.addTags,
			"ListTagsForResource":      a.listTags,
			"RemoveTagsFromResource":   a.removeTags,
			"RegisterDBInstance":       a.registerDBInstance,
			"StopDBInstance":           a.stopDBInstance,
			"StartDBInstance":          a.startDBInstance,
			"RebootDBInstance":         a.rebootDBInstance,
			"DescribeDBEngineVersions": a.describeDBEngineVersions,
			// pitr.go
			"RestoreDBInstanceToPointInTime":     a.restoreDBInstanceToPointInTime,
			"DescribeDBInstanceAutomatedBackups": a.describeDBInstanceAutomatedBackups,
			"DeleteDBInstanceAutomatedBackup":    a.deleteDBInstanceAutomatedBackup,
			// snapshots.go
			"CreateDBSnapshot":                a.createDBSnapshot,
			"DescribeDBSnapshots":             a.describeDBSnapshots,
			"DeleteDBSnapshot":                a.deleteDBSnapshot,
			"RestoreDBInstanceFromDBSnapshot": a.restoreDBInstanceFromDBSnapshot,
			"CopyDBSnapshot":                  a.copyDBSnapshot,
			"ModifyDBSnapshotAttribute":       a.modifyDBSnapshotAttribute,
			"DescribeDBSnapshotAttributes":    a.describeDBSnapshotAttributes,
		},
	}
}

type api struct{ svc *rds.Service }

// Wire shapes (botocore rds 2014-10-31).

type endpoint struct {
	Address string
	Port    int `xml:",omitempty"`
}

type tag struct {
	Key   string
	Value string
}

type tagList struct {
	Tags []tag `xml:"Tag"`
}

type statusInfo struct {
	StatusType string
	Normal     bool
	Status     string
	Message    string
}

type dbInstance struct {
	DBInstanceIdentifier    string
	DBInstanceClass         string
	Engine                  string
	DBInstanceStatus        string
	MasterUsername          string `xml:",omitempty"`
	DBName                  string `xml:",omitempty"`
	Endpoint                *endpoint
	AllocatedStorage        int
	InstanceCreateTime      string
	BackupRetentionPeriod   int
	LatestRestorableTime    string `xml:",omitempty"`
	AvailabilityZone        string
	MultiAZ                 bool
	EngineVersion           string
	AutoMinorVersionUpgrade bool
	PubliclyAccessible      bool
	StatusInfos             *struct {
		Infos []statusInfo `xml:"DBInstanceStatusInfo"`
	} `xml:",omitempty"`
	StorageType        string
	DbInstancePort     int
	StorageEncrypted   bool
	KmsKeyId           string `xml:",omitempty"`
	DbiResourceId      string
	CopyTagsToSnapshot bool
	DeletionProtection bool
	DBInstanceArn      string
	TagList            tagList
	// PreferredBackupWindow is the daily base backup's, hh24:mi-hh24:mi.
	PreferredBackupWindow string `xml:",omitempty"`
	// AwsBackupRecoveryPointArn is the AWS Backup continuous recovery
	// point managing the automated backups.
	AwsBackupRecoveryPointArn string `xml:",omitempty"`
	// PendingModifiedValues holds a DBInstanceClass waiting for the next
	// reboot (ModifyDBInstance without ApplyImmediately).
	PendingModifiedValues struct {
		DBInstanceClass string `xml:",omitempty"`
	}
}

func instanceShape(i *rds.Instance) dbInstance {
	out := dbInstance{
		DBInstanceIdentifier: i.Identifier, DBInstanceClass: i.InstanceClass, Engine: i.Engine, DBInstanceStatus: i.Status,
		MasterUsername: i.MasterUsername, DBName: i.DBName, AllocatedStorage: i.AllocatedStorage,
		InstanceCreateTime: i.CreatedAt.UTC().Format("2006-01-02T15:04:05.000Z"), AvailabilityZone: i.Region + "a",
		EngineVersion: i.EngineVersion, AutoMinorVersionUpgrade: true, StorageType: "gp2", DbInstancePort: i.Endpoint.Port,
		BackupRetentionPeriod: i.BackupRetentionPeriod,
		StorageEncrypted:      i.StorageEncrypted, DbiResourceId: i.ResourceID, DeletionProtection: i.DeletionProtection,
		DBInstanceArn: i.ARN,
	}
	out.PendingModifiedValues.DBInstanceClass = i.PendingInstanceClass
	if i.StorageEncrypted {
		out.KmsKeyId = i.KMSKeyARN
	}
	if i.Endpoint.Address != "" && i.Status != rds.StatusCreating {
		out.Endpoint = &endpoint{Address: i.Endpoint.Address, Port: i.Endpoint.Port}
	}
	if i.StatusMessage != "" {
		out.StatusInfos = &struct {
			Infos []statusInfo `xml:"DBInstanceStatusInfo"`
		}{[]statusInfo{{StatusType: "status", Normal: false, Status: i.Status, Message: i.StatusMessage}}}
	}
	keys := make([]string, 0, len(i.Tags))
	for k := range i.Tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out.TagList.Tags = append(out.TagList.Tags, tag{k, i.Tags[k]})
	}
	return out
}

type instanceResult struct {
	DBInstance dbInstance
}

// Form decoding.

func boolParam(form url.Values, name string) (bool, bool, error) {
	v := form.Get(name)
	if v == "" {
		return false, false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, false, awserr.New(awserr.Invalid, "InvalidParameterValue", "Invalid value for parameter %s: %q is not true or false", name, v)
	}
	return b, true, nil
}

// optIntParam is an optional integer parameter that may be 0 (nil when
// absent); the domain checks its range.
func optIntParam(form url.Values, name string) (*int, error) {
	v := form.Get(name)
	if v == "" {
		return nil, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return nil, awserr.New(awserr.Invalid, "InvalidParameterValue", "Invalid value for parameter %s: %q is not an integer", name, v)
	}
	return &n, nil
}

func intParam(form url.Values, name string) (int, error) {
	v := form.Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, awserr.New(awserr.Invalid, "InvalidParameterValue", "Invalid value for parameter %s: %q is not a non-negative integer", name, v)
	}
	return n, nil
}

// tagsParam reads Tags.Tag.N.Key/Value (botocore's serialization; SDKs
// that ignore the list's member name send Tags.member.N).
func tagsParam(form url.Values) map[string]string {
	var tags map[string]string
	for _, member := range []string{"Tag", "member"} {
		for n := 1; ; n++ {
			prefix := "Tags." + member + "." + strconv.Itoa(n) + "."
			k, ok := form[prefix+"Key"]
			if !ok {
				break
			}
			if tags == nil {
				tags = map[string]string{}
			}
			tags[k[0]] = form.Get(prefix + "Value")
		}
	}
	return tags
}

func filtersParam(form url.Values) map[string][]string {
	var out map[string][]string
	for _, member := range []string{"Filter", "member"} {
		for n := 1; ; n++ {
			prefix := "Filters." + member + "." + strconv.Itoa(n) + "."
			name, ok := form[prefix+"Name"]
			if !ok {
				break
			}
			if out == nil {
				out = map[string][]string{}
			}
			vals := protocol.QueryMembers(form, prefix+"Values", "Value")
			vals = append(vals, protocol.QueryMembers(form, prefix+"Values", "member")...)
			out[name[0]] = append(out[name[0]], vals...)
		}
	}
	return out
}

// Operations.

func (a *api) createDBInstance(ctx context.Context, form url.Values) (any, error) {
	in := rds.CreateInput{
		Identifier: form.Get("DBInstanceIdentifier"), Engine: form.Get("Engine"), EngineVersion: form.Get("EngineVersion"),
		InstanceClass: form.Get("DBInstanceClass"), MasterUsername: form.Get("MasterUsername"),
		MasterUserPassword: form.Get("MasterUserPassword"), DBName: form.Get("DBName"), KMSKeyID: form.Get("KmsKeyId"),
		Tags: tagsParam(form), PreferredBackupWindow: form.Get("PreferredBackupWindow"),
	}
	var err error
	if in.AllocatedStorage, err = intParam(form, "AllocatedStorage"); err != nil {
		return nil, err
	}
	if in.Port, err = intParam(form, "Port"); err != nil {
		return nil, err
	}
	if in.BackupRetentionPeriod, err = optIntParam(form, "BackupRetentionPeriod"); err != nil {
		return nil, err
	}
	if in.StorageEncrypted, _, err = boolParam(form, "StorageEncrypted"); err != nil {
		return nil, err
	}
	if in.DeletionProtection, _, err = boolParam(form, "DeletionProtection"); err != nil {
		return nil, err
	}
	if v, set, err := boolParam(form, "ManageMasterUserPassword"); err != nil {
		return nil, err
	} else if set && v {
		return nil, awserr.New(awserr.Invalid, "InvalidParameterCombination", "coffer does not manage master passwords in Secrets Manager; give MasterUserPassword")
	}
	inst, err := a.svc.CreateInstance(ctx, in)
	if err != nil {
		return nil, err
	}
	return instanceResult{a.shape(ctx, inst)}, nil
}

type describeResult struct {
	Marker      string `xml:",omitempty"`
	DBInstances struct {
		Items []dbInstance `xml:"DBInstance"`
	}
}

func (a *api) describeDBInstances(ctx context.Context, form url.Values) (any, error) {
	in := rds.DescribeInput{Identifier: form.Get("DBInstanceIdentifier"), Filters: filtersParam(form), Marker: form.Get("Marker")}
	var err error
	if form.Has("MaxRecords") {
		if in.MaxRecords, err = intParam(form, "MaxRecords"); err != nil {
			return nil, err
		}
		if in.MaxRecords == 0 {
			in.MaxRecords = -1 // out of range: the domain says so
		}
	}
	out, err := a.svc.DescribeInstances(ctx, in)
	if err != nil {
		return nil, err
	}
	var res describeResult
	res.Marker = out.Marker
	res.DBInstances.Items = []dbInstance{}
	for _, i := range out.Instances {
		res.DBInstances.Items = append(res.DBInstances.Items, a.shape(ctx, i))
	}
	return res, nil
}

func (a *api) modifyDBInstance(ctx context.Context, form url.Values) (any, error) {
	in := rds.ModifyInput{Identifier: form.Get("DBInstanceIdentifier"), InstanceClass: form.Get("DBInstanceClass"), MasterUserPassword: form.Get("MasterUserPassword"),
		PreferredBackupWindow: form.Get("PreferredBackupWindow")}
	if in.Identifier == "" {
		return nil, awserr.New(awserr.Invalid, "MissingParameter", "The request must contain the parameter DBInstanceIdentifier")
	}
	var err error
	if in.AllocatedStorage, err = intParam(form, "AllocatedStorage"); err != nil {
		return nil, err
	}
	if v, set, err := boolParam(form, "DeletionProtection"); err != nil {
		return nil, err
	} else if set {
		in.DeletionProtection = &v
	}
	if in.BackupRetentionPeriod, err = optIntParam(form, "BackupRetentionPeriod"); err != nil {
		return nil, err
	}
	if in.ApplyImmediately, _, err = boolParam(form, "ApplyImmediately"); err != nil {
		return nil, err
	}
	for _, unsupported := range []string{"NewDBInstanceIdentifier", "EngineVersion", "DBPortNumber", "StorageType", "MultiAZ"} {
		if form.Get(unsupported) != "" {
			return nil, awserr.New(awserr.Invalid, "InvalidParameterCombination", "coffer cannot change %s of an instance; it changes DBInstanceClass, AllocatedStorage, MasterUserPassword, BackupRetentionPeriod, PreferredBackupWindow and DeletionProtection", unsupported)
		}
	}
	inst, err := a.svc.ModifyInstance(ctx, in)
	if err != nil {
		return nil, err
	}
	return instanceResult{a.shape(ctx, inst)}, nil
}

func (a *api) deleteDBInstance(ctx context.Context, form url.Values) (any, error) {
	in := rds.DeleteInput{Identifier: form.Get("DBInstanceIdentifier"), FinalSnapshotID: form.Get("FinalDBSnapshotIdentifier")}
	if in.Identifier == "" {
		return nil, awserr.New(awserr.Invalid, "MissingParameter", "The request must contain the parameter DBInstanceIdentifier")
	}
	var err error
	if in.SkipFinalSnapshot, _, err = boolParam(form, "SkipFinalSnapshot"); err != nil {
		return nil, err
	}
	deleteAutomated, given, err := boolParam(form, "DeleteAutomatedBackups")
	if err != nil {
		return nil, err
	}
	in.KeepAutomatedBackups = given && !deleteAutomated // the default deletes them
	inst, err := a.svc.DeleteInstance(ctx, in)
	if err != nil {
		return nil, err
	}
	return instanceResult{instanceShape(inst)}, nil
}

func requireID(form url.Values) (string, error) {
	id := form.Get("DBInstanceIdentifier")
	if id == "" {
		return "", awserr.New(awserr.Invalid, "MissingParameter", "The request must contain the parameter DBInstanceIdentifier")
	}
	return id, nil
}

func (a *api) stopDBInstance(ctx context.Context, form url.Values) (any, error) {
	id, err := requireID(form)
	if err != nil {
		return nil, err
	}
	inst, err := a.svc.StopInstance(ctx, id, form.Get("DBSnapshotIdentifier"))
	if err != nil {
		return nil, err
	}
	return instanceResult{instanceShape(inst)}, nil
}

func (a *api) startDBInstance(ctx context.Context, form url.Values) (any, error) {
	id, err := requireID(form)
	if err != nil {
		return nil, err
	}
	inst, err := a.svc.StartInstance(ctx, id)
	if err != nil {
		return nil, err
	}
	return instanceResult{instanceShape(inst)}, nil
}

func (a *api) rebootDBInstance(ctx context.Context, form url.Values) (any, error) {
	id, err := requireID(form)
	if err != nil {
		return nil, err
	}
	force, _, err := boolParam(form, "ForceFailover")
	if err != nil {
		return nil, err
	}
	inst, err := a.svc.RebootInstance(ctx, id, force)
	if err != nil {
		return nil, err
	}
	return instanceResult{instanceShape(inst)}, nil
}

type engineVersion struct {
	Engine                     string
	EngineVersion              string
	DBParameterGroupFamily     string
	DBEngineDescription        string
	DBEngineVersionDescription string
	MajorEngineVersion         string
	Status                     string
	SupportsReadReplica        bool
}

type engineVersionsResult struct {
	Marker           string `xml:",omitempty"`
	DBEngineVersions struct {
		Items []engineVersion `xml:"DBEngineVersion"`
	}
}

// describeDBEngineVersions lists what is installed. Filters and
// parameter-group families are not kept by coffer: asking for them is an
// error, not a silently unfiltered list.
func (a *api) describeDBEngineVersions(ctx context.Context, form url.Values) (any, error) {
	for _, p := range []string{"DBParameterGroupFamily", "Filters.Filter.1.Name"} {
		if form.Get(p) != "" {
			return nil, awserr.New(awserr.Invalid, "InvalidParameterCombination", "coffer does not filter engine versions by %s; filter by Engine and EngineVersion", strings.TrimSuffix(p, ".Filter.1.Name"))
		}
	}
	in := rds.DescribeEngineVersionsInput{Engine: form.Get("Engine"), EngineVersion: form.Get("EngineVersion")}
	var err error
	if in.DefaultOnly, _, err = boolParam(form, "DefaultOnly"); err != nil {
		return nil, err
	}
	if form.Has("MaxRecords") {
		n, err := intParam(form, "MaxRecords")
		if err != nil {
			return nil, err
		}
		if n < 20 || n > 100 {
			return nil, awserr.New(awserr.Invalid, "InvalidParameterValue", "Invalid value %d for MaxRecords. Must be between 20 and 100", n)
		}
	}
	vs, err := a.svc.DescribeEngineVersions(ctx, in)
	if err != nil {
		return nil, err
	}
	var res engineVersionsResult
	res.DBEngineVersions.Items = []engineVersion{}
	for _, v := range vs {
		major, _, _ := strings.Cut(v.Version, ".")
		res.DBEngineVersions.Items = append(res.DBEngineVersions.Items, engineVersion{Engine: v.Engine, EngineVersion: v.Version,
			DBParameterGroupFamily: v.Family, DBEngineDescription: v.Description, DBEngineVersionDescription: v.VersionDescription,
			MajorEngineVersion: major, Status: "available"})
	}
	return res, nil
}

func (a *api) addTags(ctx context.Context, form url.Values) (any, error) {
	return nil, a.svc.AddTags(ctx, form.Get("ResourceName"), tagsParam(form))
}

type tagListResult struct {
	TagList tagList
}

func (a *api) listTags(ctx context.Context, form url.Values) (any, error) {
	if len(filtersParam(form)) > 0 {
		return nil, awserr.New(awserr.Invalid, "InvalidParameterValue", "ListTagsForResource takes no filters")
	}
	tags, err := a.svc.ListTags(ctx, form.Get("ResourceName"))
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var res tagListResult
	for _, k := range keys {
		res.TagList.Tags = append(res.TagList.Tags, tag{k, tags[k]})
	}
	return res, nil
}

func (a *api) removeTags(ctx context.Context, form url.Values) (any, error) {
	keys := protocol.QueryMembers(form, "TagKeys", "member")
	return nil, a.svc.RemoveTags(ctx, form.Get("ResourceName"), keys)
}

// registerDBInstance is coffer's extension: record an existing database
// (ConnectionString: a postgres:// URL or a SQLite file's path).
func (a *api) registerDBInstance(ctx context.Context, form url.Values) (any, error) {
	inst, err := a.svc.RegisterInstance(ctx, rds.RegisterInput{
		Identifier: form.Get("DBInstanceIdentifier"), Engine: strings.ToLower(form.Get("Engine")),
		ConnectionString: form.Get("ConnectionString"), KMSKeyID: form.Get("KmsKeyId"),
		InstanceClass: form.Get("DBInstanceClass"), Tags: tagsParam(form),
	})
	if err != nil {
		return nil, err
	}
	return instanceResult{instanceShape(inst)}, nil
}
