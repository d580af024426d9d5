package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"

	"github.com/coffer-dev/coffer/internal/auditmanager"
	"github.com/coffer-dev/coffer/internal/backup"
	"github.com/coffer-dev/coffer/internal/config"
	"github.com/coffer-dev/coffer/internal/engine"
	"github.com/coffer-dev/coffer/internal/engine/pgphysical"
	"github.com/coffer-dev/coffer/internal/identity"
	"github.com/coffer-dev/coffer/internal/jobs"
	"github.com/coffer-dev/coffer/internal/kms"
	"github.com/coffer-dev/coffer/internal/plans"
	"github.com/coffer-dev/coffer/internal/rds"
	"github.com/coffer-dev/coffer/internal/restoretesting"
	"github.com/coffer-dev/coffer/internal/rootkey"
	"github.com/coffer-dev/coffer/internal/storage"
	"github.com/coffer-dev/coffer/internal/vaultstore"
)

// The adapters here let the backup domain and the vault storage engine
// use the other domains through the small interfaces they define.

// backupVia is the kms:ViaService of calls AWS Backup makes for a caller.
func backupVia(region string) string { return kms.ViaService("backup", region) }

// kmsKeys serves backup.Keys and vaultstore.KeyWrapper from the KMS
// domain, as the AWS Backup service calling KMS for the caller in ctx.
type kmsKeys struct{ kms *kms.Service }

var (
	_ backup.Keys           = kmsKeys{}
	_ vaultstore.KeyWrapper = kmsKeys{}
)

func (k kmsKeys) ManagedKey(ctx context.Context, account, region, service string) (string, error) {
	return k.kms.ManagedKey(ctx, account, region, service)
}

func (k kmsKeys) DescribeKey(ctx context.Context, region, keyID string) (backup.KeyInfo, error) {
	md, err := k.kms.DescribeKey(ctx, &kms.KeyInput{Call: kms.Call{Region: region, ViaService: backupVia(region)}, KeyId: keyID})
	if err != nil {
		return backup.KeyInfo{}, err
	}
	return backup.KeyInfo{ARN: md.Arn, Account: md.AWSAccountId, Manager: md.KeyManager, Usage: md.KeyUsage, Spec: md.KeySpec, Enabled: md.Enabled}, nil
}

// keyRegion is the region in a key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID).
func keyRegion(keyARN string) string {
	parts := strings.SplitN(keyARN, ":", 6)
	if len(parts) < 4 {
		return ""
	}
	return parts[3]
}

// keyServicesKey carries, in the context of a vault storage call, the
// service each key's KMS calls go through (backup.Domain.KeyService).
type keyServicesKey struct{}

func withKeyServices(ctx context.Context, ds ...backup.Domain) context.Context {
	m := make(map[string]string, len(ds))
	for _, d := range ds {
		m[d.KeyARN] = d.KeyService
	}
	return context.WithValue(ctx, keyServicesKey{}, m)
}

// keyCall is the KMS call the vault storage engine makes with keyARN:
// through the service its domain names (kms:ViaService), RDS when none
// does.
func keyCall(ctx context.Context, keyARN string) kms.Call {
	region := keyRegion(keyARN)
	svc, _ := ctx.Value(keyServicesKey{}).(map[string]string)
	via := svc[keyARN]
	if via == "" {
		via = backup.KeyServiceRDS
	}
	return kms.Call{Region: region, ViaService: kms.ViaService(via, region)}
}

func (k kmsKeys) GenerateDataKey(ctx context.Context, keyARN string, encCtx map[string]string) ([]byte, []byte, error) {
	out, err := k.kms.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{Call: keyCall(ctx, keyARN), KeyId: keyARN, EncryptionContext: encCtx, KeySpec: "AES_256"})
	if err != nil {
		return nil, nil, err
	}
	return out.Plaintext, out.CiphertextBlob, nil
}

func (k kmsKeys) Decrypt(ctx context.Context, keyARN string, wrapped []byte, encCtx map[string]string) ([]byte, error) {
	out, err := k.kms.Decrypt(ctx, &kms.DecryptInput{Call: keyCall(ctx, keyARN), KeyId: keyARN, CiphertextBlob: wrapped, EncryptionContext: encCtx})
	if err != nil {
		return nil, err
	}
	return out.Plaintext, nil
}

// orgs answers backup's organization questions from identity.
type orgs struct{ ids *identity.Service }

func (o orgs) SameOrganization(ctx context.Context, a, b string) (bool, error) {
	oa, err := o.ids.AccountOrg(ctx, a)
	if err != nil {
		return false, err
	}
	ob, err := o.ids.AccountOrg(ctx, b)
	if err != nil {
		return false, err
	}
	return oa.OrgID != "" && oa.OrgID == ob.OrgID, nil
}

func (o orgs) ManagementAccount(ctx context.Context, account string) (string, error) {
	info, err := o.ids.AccountOrg(ctx, account)
	return info.ManagementAccountID, err
}

// roles gives backup jobs their role sessions.
type roles struct{ ids *identity.Service }

func (r roles) AssumeRoleAsService(ctx context.Context, roleARN, service string) (*identity.Principal, error) {
	return r.ids.AssumeRoleForService(ctx, roleARN, service, "AWSBackup")
}

func (r roles) EnsureBackupServiceRole(ctx context.Context, account string) (string, error) {
	role, err := r.ids.EnsureBackupDefaultServiceRole(ctx, account)
	return role.ARN, err
}

// vaultData stores recovery points in the vault storage engine. Vault
// names are unique per account, the engine's per region, so the engine's
// vault is ACCOUNT.NAME.
type vaultData struct{ e *vaultstore.Engine }

var _ backup.Storage = vaultData{}

func storageDomain(d backup.Domain) vaultstore.Domain {
	return vaultstore.Domain{Region: d.Region, Vault: d.Account + "." + d.Vault, KeyARN: d.KeyARN}
}

// owned tags the writers started with ctx with the job attempt it runs.
func owned(ctx context.Context) context.Context {
	if job, attempt := backup.Attempt(ctx); job != "" {
		return vaultstore.WithOwner(ctx, job, attempt)
	}
	return ctx
}

func (v vaultData) Write(ctx context.Context, d backup.Domain, meta map[string]string, fill func(backup.Sink) error) (backup.Written, error) {
	ctx = owned(withKeyServices(ctx, d))
	w, err := v.e.NewWriter(ctx, storageDomain(d), meta)
	if err != nil {
		return backup.Written{}, err
	}
	if err := fill(w); err != nil {
		w.Abort()
		return backup.Written{}, err
	}
	id, st, err := w.Commit(ctx)
	if err != nil {
		return backup.Written{}, err
	}
	return backup.Written{ManifestID: string(id), Size: st.BytesIn, BytesWritten: st.BytesWritten}, nil
}

func (v vaultData) Read(ctx context.Context, d backup.Domain, id string) (io.ReadCloser, map[string]string, error) {
	r, err := v.e.OpenReader(withKeyServices(ctx, d), vaultstore.ManifestID(id))
	if err != nil {
		return nil, nil, err
	}
	if got := r.Info().Domain; got != storageDomain(d) {
		r.Close()
		return nil, nil, fmt.Errorf("recovery point data %s belongs to %s, not %s", id, got, storageDomain(d))
	}
	return corruptMarking{r}, r.Meta(), nil
}

func (v vaultData) Copy(ctx context.Context, src, dst backup.Domain, id string) (backup.Written, error) {
	newID, st, err := v.e.Copy(owned(withKeyServices(ctx, src, dst)), vaultstore.ManifestID(id), storageDomain(dst), nil)
	if err != nil {
		return backup.Written{}, err
	}
	return backup.Written{ManifestID: string(newID), Size: st.BytesIn, BytesWritten: st.BytesWritten}, nil
}

func (v vaultData) ReleaseAttempts(ctx context.Context, job string, attempt int64) error {
	_, err := v.e.ReleaseOwner(ctx, job, attempt)
	return err
}

func (v vaultData) Delete(ctx context.Context, d backup.Domain, id string) error {
	return v.e.DeleteManifest(withKeyServices(ctx, d), vaultstore.ManifestID(id))
}

// dbResources serves backup.Resources from the RDS domain: instances
// that are PostgreSQL servers of their own are backed up physically,
// the others (registered databases, SQLite, a shared host) logically.
type dbResources struct {
	rds      *rds.Service
	physical *pgphysical.Engine
}

// physicalSnapshots serves backup.Snapshotter from engine/pgphysical.
type physicalSnapshots struct{ e *pgphysical.Engine }

var _ backup.Snapshotter = physicalSnapshots{}

func (p physicalSnapshots) Snapshot(ctx context.Context, t engine.Target, sink backup.Sink) (*engine.Metadata, error) {
	return p.e.Snapshot(ctx, t, sink)
}

var _ backup.Resources = dbResources{}

// Restore metadata keys, as GetRecoveryPointRestoreMetadata shows them for
// RDS.
const (
	mdIdentifier = "DBInstanceIdentifier"
	mdEngine     = "Engine"
	mdVersion    = "EngineVersion"
	mdClass      = "DBInstanceClass"
	mdStorage    = "AllocatedStorage"
	mdDBName     = "DBName"
	mdUser       = "MasterUsername"
	mdEncrypted  = "StorageEncrypted"
	mdKey        = "KmsKeyId"
	mdPassword   = "MasterUserPassword"
)

func (d dbResources) Source(ctx context.Context, arn string) (*backup.Source, error) {
	inst, eng, t, err := d.rds.Resource(ctx, arn)
	if err != nil {
		return nil, err
	}
	src := &backup.Source{ARN: inst.ARN, Type: "RDS", Name: inst.Identifier, Engine: eng, Target: t,
		RestoreMetadata: map[string]string{
			mdIdentifier: inst.Identifier, mdEngine: inst.Engine, mdVersion: inst.EngineVersion, mdClass: inst.InstanceClass,
			mdStorage: strconv.Itoa(inst.AllocatedStorage), mdDBName: inst.DBName, mdUser: inst.MasterUsername,
			mdEncrypted: strconv.FormatBool(inst.StorageEncrypted), "StorageType": "gp2", "MultiAZ": "false",
		},
	}
	if inst.StorageEncrypted {
		src.KeyARN = inst.KMSKeyARN
		src.RestoreMetadata[mdKey] = inst.KMSKeyARN
	}
	if t.Password != "" {
		src.Secrets = map[string]string{mdPassword: t.Password}
	}
	if inst.OwnServer() {
		if _, src.Target, err = d.rds.AdminTarget(ctx, arn); err != nil {
			return nil, err
		}
		src.Physical = physicalSnapshots{d.physical}
	}
	return src, nil
}

func (d dbResources) CheckRestore(recorded, requested map[string]string) error {
	if e, ok := requested[mdEngine]; ok && e != recorded[mdEngine] {
		return backup.InvalidParam("the recovery point is a backup of a %s instance; it restores as %s only, not as %s (leave Engine out of the metadata)", recorded[mdEngine], recorded[mdEngine], e)
	}
	if v, ok := requested[mdStorage]; ok {
		if n, err := strconv.Atoi(v); err != nil || n < 1 {
			return backup.InvalidParam("AllocatedStorage %q is not a number of GiB", v)
		}
	}
	if v, ok := requested[mdEncrypted]; ok {
		if _, err := strconv.ParseBool(v); err != nil {
			return backup.InvalidParam("StorageEncrypted %q is neither true nor false", v)
		}
	}
	return nil
}

func (d dbResources) CreateRestored(ctx context.Context, spec backup.RestoreSpec) (*backup.Restored, error) {
	return d.createRestored(ctx, restoreSpec(spec))
}

// restoreSpec is the instance a restore creates: a server of its own
// that keeps the source's DBName, MasterUsername and password unless the
// restore metadata names others (spec.Metadata holds the request's
// values over the source's).
func restoreSpec(spec backup.RestoreSpec) rds.RestoreSpec {
	md := spec.Metadata
	storage, _ := strconv.Atoi(md[mdStorage])
	password := md[mdPassword]
	if password == "" {
		password = spec.Secrets[mdPassword]
	}
	encrypted, _ := strconv.ParseBool(md[mdEncrypted])
	return rds.RestoreSpec{
		Region: spec.Region, Identifier: md[mdIdentifier], Engine: md[mdEngine], EngineVersion: md[mdVersion],
		DBName: md[mdDBName], MasterUsername: md[mdUser], MasterUserPassword: password,
		InstanceClass: md[mdClass], AllocatedStorage: storage, StorageEncrypted: encrypted || md[mdKey] != "", KMSKeyID: md[mdKey],
	}
}

// createRestored creates the instance; when the creation fails after
// the instance was recorded, the instance is failed and returned with
// the error.
func (d dbResources) createRestored(ctx context.Context, spec rds.RestoreSpec) (*backup.Restored, error) {
	inst, t, err := d.rds.CreateRestoredInstance(ctx, spec)
	if err != nil {
		if inst != nil {
			d.rds.MarkFailed(context.WithoutCancel(ctx), inst.ARN, err.Error())
			return &backup.Restored{ARN: inst.ARN}, err
		}
		return nil, err
	}
	finish := func(ctx context.Context, ok bool) error {
		if ok {
			return d.rds.MarkAvailable(ctx, inst.ARN)
		}
		return d.rds.MarkFailed(ctx, inst.ARN, "the restore into this instance failed; see the restore job's status message")
	}
	eng, ok := d.rds.Engine(inst.Engine)
	if !ok {
		d.rds.MarkFailed(context.WithoutCancel(ctx), inst.ARN, "no engine adapter")
		return &backup.Restored{ARN: inst.ARN}, fmt.Errorf("no engine adapter for %s", inst.Engine)
	}
	return &backup.Restored{ARN: inst.ARN, Engine: eng, Target: t, Finish: finish}, nil
}

// physicalValidation bounds the wait for a restored server to finish
// recovery.
const physicalValidation = 10 * time.Minute

// RestorePhysical unpacks a physical recovery point into a new data
// directory (checked against its manifest), makes the new instance's
// server of it, which recovers to the backup's consistent point, and
// validates the server on the source's database.
func (d dbResources) RestorePhysical(ctx context.Context, spec backup.RestoreSpec, r io.Reader, md *engine.Metadata) (*backup.Restored, *backup.Validated, error) {
	return d.restorePhysical(ctx, restoreSpec(spec), spec.Recorded[mdDBName], r, md)
}

// restorePhysical is RestorePhysical of an rds.RestoreSpec; sourceDB is
// the source's database, whose tables validate the restore.
func (d dbResources) restorePhysical(ctx context.Context, rs rds.RestoreSpec, sourceDB string, r io.Reader, md *engine.Metadata) (*backup.Restored, *backup.Validated, error) {
	dir, err := d.rds.IncomingDir()
	if err != nil {
		return nil, nil, fmt.Errorf("a directory to restore into: %w", err)
	}
	// CreateRestoredInstance consumes dir/data; the rest goes here.
	defer os.RemoveAll(dir)
	data := filepath.Join(dir, "data")
	began := time.Now()
	res, err := d.physical.Restore(ctx, r, data, md)
	if err != nil {
		return nil, nil, err
	}
	unpacked := time.Now()
	rs.DataDir = data
	restored, err := d.createRestored(ctx, rs)
	if err != nil {
		return restored, nil, err
	}
	recovered := time.Now()
	// The source's tables live in the source's database, whatever
	// DBName the restore gives the instance; coffer's administrator
	// reads them all.
	vt := restored.Target
	vt.Role = ""
	if sourceDB != "" {
		vt.Database = sourceDB
	}
	vctx, cancel := context.WithTimeout(ctx, physicalValidation)
	v, err := pgphysical.Validate(vctx, vt, md)
	cancel()
	if err != nil && !errors.Is(err, engine.ErrMismatch) {
		restored.Finish(context.WithoutCancel(ctx), false)
		return restored, nil, fmt.Errorf("validate %s: %w", restored.ARN, err)
	}
	return restored, &backup.Validated{Tables: v.Tables, Result: v.Result, Files: res.Files,
		Unpacked: unpacked.Sub(began), Recovered: recovered.Sub(unpacked), Validated: time.Since(recovered)}, nil
}

func (d dbResources) Holder(ctx context.Context, arn string) (string, bool, error) {
	return d.rds.Holder(ctx, arn)
}

func (d dbResources) AbandonRestored(ctx context.Context, arn, reason string) error {
	return d.rds.MarkFailed(ctx, arn, reason)
}

// manifestGuard tells the vault storage engine which manifests still
// belong to live recovery points.
type manifestGuard struct{ svc *backup.Service }

func (g *manifestGuard) Protected(ctx context.Context, _ vaultstore.Domain, id vaultstore.ManifestID) (bool, error) {
	return g.svc.ManifestInUse(ctx, string(id))
}

// openBackup assembles the backup domain: the region stores, the vault
// storage engine, the job queue and the service.
func (a *App) openBackup(ctx context.Context, ids *identity.Service, keys rootkey.Provider, reg prometheus.Registerer) error {
	regions, err := storage.New(a.cfg.Storage, a.cfg.DataDir, a.cfg.Regions, storage.Options{Logger: a.log.With("component", "storage"), Registerer: reg})
	if err != nil {
		return err
	}
	if err := regions.OpenConfigured(); err != nil {
		return err
	}
	workers := river.NewWorkers()
	periodic := append(append(append(plans.PeriodicJobs(0, 0), restoretesting.PeriodicJobs(0)...), auditmanager.PeriodicJobs()...), gcJob(a.cfg.Jobs.GCInterval))
	if a.queue, err = jobs.Open(ctx, a.store, jobs.Options{Workers: workers, Log: a.log.With("component", "jobs"), PeriodicJobs: periodic, Lease: a.cfg.Jobs.StaleAfter,
		NodeID: nodeID(a.cfg), Address: a.cfg.Listen}); err != nil {
		return err
	}
	if err := reg.Register(jobs.NewCollector(a.store)); err != nil {
		return fmt.Errorf("register the cluster metrics: %w", err)
	}
	physical, err := pgphysical.New(pgphysical.Options{})
	if err != nil {
		return err
	}
	guard := &manifestGuard{}
	vs, err := vaultstore.Open(a.store, kmsKeys{a.kms}, regions, vaultstore.Options{Logger: a.log.With("component", "vaultstore"), Protector: guard})
	if err != nil {
		return err
	}
	if a.continuous, err = newContinuous(a.store, vs, a.rds, a.log.With("component", "rds-automated-backups")); err != nil {
		return err
	}
	if err := reg.Register(a.continuous); err != nil {
		return err
	}
	river.AddWorker(workers, &gcWorker{app: a, vs: vs})
	a.backup = backup.New(backup.Options{
		Store: a.store, Authz: ids.Authorizer(), Keys: kmsKeys{a.kms}, Orgs: orgs{ids}, Roles: roles{ids},
		Storage: vaultData{vs}, Resources: dbResources{rds: a.rds, physical: physical}, Queue: a.queue, Log: a.log.With("component", "backup"),
		Now: a.now,
	})
	guard.svc = a.backup
	a.backup.UseContinuous(continuousBackups{c: a.continuous, physical: physical})
	a.rds.UseSnapshotData(rdsSnapshots{dbs: dbResources{rds: a.rds, physical: physical}, data: vaultData{vs}})
	a.rds.UseBackupSnapshots(rdsBackupSnapshots{a.backup})
	a.backup.AddWorkers(workers)
	a.openSNS(ids, keys, workers, reg)
	a.plans = plans.New(plans.Options{Store: a.store, Authz: ids.Authorizer(), Backup: a.backup, Resources: plans.RDSResources(a.rds), Log: a.log.With("component", "plans"), Now: a.now})
	a.backup.OnBackupCompleted(a.plans.BackupCompleted)
	a.backup.OwnTags("backup-plan", a.plans.PlanExists)
	a.plans.AddWorkers(workers)
	a.restoreTests = restoretesting.New(restoretesting.Options{Store: a.store, Authz: ids.Authorizer(), Backup: a.backup, Resources: plans.RDSResources(a.rds),
		Instances: temporaryInstances{ids, a.rds}, Log: a.log.With("component", "restore-testing"), Now: a.now})
	a.restoreTests.AddWorkers(workers)
	a.auditManager = auditmanager.New(auditmanager.Options{Store: a.store, Authz: ids.Authorizer(), Backup: a.backup, Plans: a.plans, Resources: plans.RDSResources(a.rds),
		Buckets: reportBuckets{a.cfg.Storage}, Queue: a.queue, Log: a.log.With("component", "audit-manager"), Now: a.now})
	a.auditManager.AddWorkers(workers)
	return reg.Register(restoretesting.NewCollector(a.backup))
}

// nodeID is jobs.nodeId, or this host's name and listen address.
func nodeID(cfg config.Config) string {
	if cfg.Jobs.NodeID != "" {
		return cfg.Jobs.NodeID
	}
	host, err := os.Hostname()
	if err != nil {
		host = "coffer"
	}
	id := host + "@" + cfg.Listen
	if strings.HasSuffix(cfg.Listen, ":0") {
		// Any free port: several such nodes in one host need names apart.
		var b [4]byte
		rand.Read(b[:])
		id += "#" + hex.EncodeToString(b[:])
	}
	if len(id) > 100 {
		id = id[len(id)-100:]
	}
	return id
}
