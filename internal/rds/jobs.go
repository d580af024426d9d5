package rds

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"github.com/coffer-dev/coffer/internal/policy"
	"os"
	"strings"

	"github.com/coffer-dev/coffer/internal/awserr"
	"github.com/coffer-dev/coffer/internal/engine"
	"github.com/coffer-dev/coffer/internal/identity"
)

// The internal API the backup jobs call. The caller in ctx is the job's
// principal (the service role session the job acts as); each call is
// authorized as the equivalent RDS operation, and the instance's
// credentials are opened by the RDS service through the instance's
// grant, so a disabled key or a revoked grant stops backups as in AWS.

// parseInstanceARN splits arn:aws:rds:REGION:ACCOUNT:db:ID.
func parseInstanceARN(arn string) (region, account, id string, err error) {
	parts := strings.SplitN(arn, ":", 7)
	if len(parts) != 7 || parts[0] != "arn" || parts[2] != "rds" || parts[5] != "db" || parts[3] == "" || parts[4] == "" {
		return "", "", "", invalidParam("%s is not a DB instance ARN (arn:aws:rds:REGION:ACCOUNT:db:ID)", arn)
	}
	return parts[3], parts[4], parts[6], nil
}

// Resource returns an available instance, its engine adapter and the
// target to snapshot it through (with its password), for a backup job.
// It authorizes rds:DescribeDBInstances on the instance for the caller in
// ctx. Errors: DBInstanceNotFound, InvalidDBInstanceState (not
// available), KMSKeyNotAccessibleFault (its key cannot be used; the
// message says why and what to do).
func (s *Service) Resource(ctx context.Context, arn string) (*Instance, engine.Engine, engine.Target, error) {
	if _, _, _, err := parseInstanceARN(arn); err != nil {
		return nil, nil, engine.Target{}, err
	}
	if err := s.authorize(ctx, "DescribeDBInstances", arn, nil); err != nil {
		return nil, nil, engine.Target{}, err
	}
	inst, err := s.loadARN(ctx, arn)
	if err != nil {
		return nil, nil, engine.Target{}, err
	}
	s.checkKey(ctx, inst)
	status := inst.Status
	if status == StatusDeleting && finalSnapshotOf(ctx) == inst.ARN {
		status = StatusAvailable // its final snapshot, taken before the drop
	}
	switch status {
	case StatusAvailable:
	case StatusInaccessible:
		return nil, nil, engine.Target{}, keyNotAccessible("%s", inst.StatusMessage)
	default:
		return nil, nil, engine.Target{}, invalidState("DB instance %s is %s, not available", inst.Identifier, inst.Status)
	}
	if err := s.onThisNode(inst); err != nil {
		return nil, nil, engine.Target{}, err
	}
	eng, ok := s.engines[inst.Engine]
	if !ok {
		return nil, nil, engine.Target{}, fmt.Errorf("no engine adapter for %s", inst.Engine)
	}
	t := inst.target
	if t.Password, err = s.open(ctx, inst); err != nil {
		return nil, nil, engine.Target{}, keyNotAccessible("the credentials of DB instance %s cannot be decrypted: %v", inst.Identifier, err)
	}
	return inst, eng, t, nil
}

// RestoreSpec is a new instance a restore job creates.
type RestoreSpec struct {
	// Region is where the instance is created; the account is the
	// caller's.
	Region     string
	Identifier string
	Engine     string
	// DBName and MasterUsername are the source's (from the restore
	// metadata) unless the request names others; when absent they
	// default to the identifier (hyphens made underscores) and to it
	// with "_owner". The instance is a server of its own, so they need
	// not be free anywhere (on a shared host they must be).
	DBName         string
	MasterUsername string
	// MasterUserPassword is the source's unless the request names
	// another; when absent a random one (set one with ModifyDBInstance).
	MasterUserPassword string
	InstanceClass      string
	AllocatedStorage   int
	StorageEncrypted   bool
	KMSKeyID           string // empty with StorageEncrypted: aws/rds
	EngineVersion      string
	Tags               map[string]string
	// DataDir, when set, is a PostgreSQL data directory a physical
	// restore filled (in a directory from IncomingDir): the instance's
	// server is made from it (Servers.CreateFromDataDir) instead of the
	// template, and the returned target is coffer's administrator on it.
	// It is consumed: moved into place, or removed on error.
	DataDir string
	// Adopt: DataDir is a registered database's server's, without
	// coffer's administrator (ServerSpec.Adopt).
	Adopt bool
	// Recorded, when set, is the ARN of the instance RecordRestored
	// recorded (creating, no server yet) for this restore:
	// CreateRestoredInstance makes its server instead of recording a new
	// instance.
	Recorded string
}

// CreateRestoredInstance creates an empty instance to restore into, as
// rds:CreateDBInstance for the caller in ctx. It returns the instance
// (status creating) and the target the engine's Restore writes into: for
// PostgreSQL the host's administrator acting as the instance's owner
// (engine.Target.Role), so restored objects belong to the owner. The job
// then calls MarkAvailable, or MarkFailed, which drops the database and
// its role.
func (s *Service) CreateRestoredInstance(ctx context.Context, spec RestoreSpec) (*Instance, engine.Target, error) {
	if spec.DataDir != "" {
		// Consumed by the server made from it; removed on any earlier
		// error.
		defer func() {
			if spec.DataDir != "" {
				os.RemoveAll(spec.DataDir)
			}
		}()
	}
	var inst *Instance
	var password string
	var err error
	if spec.Recorded != "" {
		inst, password, err = s.recordedRestore(ctx, spec)
	} else {
		inst, password, err = s.RecordRestored(ctx, spec)
	}
	if err != nil {
		return nil, engine.Target{}, err
	}
	db := DatabaseSpec{Account: inst.Account, Region: inst.Region, Identifier: inst.Identifier, DBName: inst.DBName, User: inst.MasterUsername, Password: password, Adopt: spec.Adopt}
	dataDir := spec.DataDir
	spec.DataDir = "" // createDB consumes it
	t, ep, err := s.createDB(ctx, inst, db, 0, dataDir)
	if err != nil {
		s.setStatus(context.WithoutCancel(ctx), inst, StatusFailed, createFailure(err))
		return inst, engine.Target{}, fmt.Errorf("create the database to restore into: %w", err)
	}
	inst.target, inst.Endpoint = t, ep
	if err := s.recordTarget(ctx, inst); err != nil {
		if derr := s.dropDB(context.WithoutCancel(ctx), inst); derr != nil {
			s.log.Error("drop the unrecorded restore target", "instance", inst.ARN, "error", derr)
		}
		s.setStatus(context.WithoutCancel(ctx), inst, StatusFailed, "coffer could not record the new database")
		return inst, engine.Target{}, err
	}
	rt, err := s.restoreTarget(ctx, inst)
	if err != nil {
		return inst, engine.Target{}, err
	}
	return inst, rt, nil
}

// RecordRestored records the instance a restore creates, status
// creating, as rds:CreateDBInstance for the caller in ctx (which also
// creates the instance's KMS grants), with the spec's password (a random
// one when it has none). It answers the instance and that password.
func (s *Service) RecordRestored(ctx context.Context, spec RestoreSpec) (*Instance, string, error) {
	p := identity.Caller(ctx)
	if p == nil {
		return nil, "", awserr.New(awserr.Unauthenticated, "MissingAuthenticationToken", "Request is missing Authentication Token")
	}
	if spec.Region == "" {
		return nil, "", missingParam("Region")
	}
	if err := ValidIdentifier(spec.Identifier); err != nil {
		return nil, "", err
	}
	spec.Identifier = strings.ToLower(spec.Identifier)
	in := CreateInput{Identifier: spec.Identifier, Engine: spec.Engine, EngineVersion: spec.EngineVersion, InstanceClass: spec.InstanceClass,
		AllocatedStorage: spec.AllocatedStorage, MasterUsername: spec.MasterUsername, MasterUserPassword: spec.MasterUserPassword,
		DBName: spec.DBName, StorageEncrypted: spec.StorageEncrypted, KMSKeyID: spec.KMSKeyID, Tags: spec.Tags}
	if in.InstanceClass == "" {
		in.InstanceClass = "db.t3.micro"
	}
	if in.Engine == EnginePostgres {
		if in.DBName == "" {
			in.DBName = defaultDBName(in.Identifier)
		}
		if in.MasterUsername == "" {
			in.MasterUsername = defaultDBName(in.Identifier) + "_owner"
		}
		if in.MasterUserPassword == "" {
			in.MasterUserPassword = rand.Text()
		}
	}
	sc := scope{Account: p.AccountID, Region: spec.Region}
	arn := InstanceARN(sc.Region, sc.Account, in.Identifier)
	if err := s.authorize(ctx, "CreateDBInstance", arn, policy.RequestTagContext(in.Tags)); err != nil {
		return nil, "", err
	}
	if err := in.validate(); err != nil {
		return nil, "", err
	}
	if _, ok := s.engines[in.Engine]; !ok {
		return nil, "", invalidParam("Invalid DB engine: %s", in.Engine)
	}
	if _, err := s.load(ctx, s.store, sc, in.Identifier); err == nil {
		return nil, "", alreadyExists(in.Identifier)
	} else if !isNotFound(err) {
		return nil, "", err
	}
	inst := &Instance{
		Identifier: in.Identifier, ARN: arn, ResourceID: newResourceID(), Account: sc.Account, Region: sc.Region,
		Engine: in.Engine, EngineVersion: in.EngineVersion, InstanceClass: in.InstanceClass, AllocatedStorage: in.AllocatedStorage,
		MasterUsername: in.MasterUsername, DBName: in.DBName, Status: StatusCreating, Origin: OriginRestored,
		StorageEncrypted: in.StorageEncrypted, CreatedAt: s.now().UTC(), Tags: in.Tags, BackupRetentionPeriod: 1,
	}
	if s.ownServer(inst.Engine, inst.Region) {
		// Any release of the source's major version restores its dump.
		inst.EngineVersion = majorOf(inst.EngineVersion)
	}
	if err := s.placeOnServer(inst, 0); err != nil {
		return nil, "", err
	}
	if err := s.attachKey(ctx, inst, in.KMSKeyID); err != nil {
		return nil, "", err
	}
	var err error
	if in.Engine == EnginePostgres {
		if inst.credentials, err = s.seal(ctx, inst, in.MasterUserPassword); err != nil {
			s.releaseKey(inst)
			return nil, "", err
		}
	}
	if err := s.insert(ctx, inst); err != nil {
		s.releaseKey(inst)
		return nil, "", err
	}
	return inst, in.MasterUserPassword, nil
}

// recordedRestore loads the instance RecordRestored recorded for the
// spec, still creating, and gives it the spec's password when it names
// one (the source's, known once the restore reads its data).
func (s *Service) recordedRestore(ctx context.Context, spec RestoreSpec) (*Instance, string, error) {
	inst, err := s.loadARN(ctx, spec.Recorded)
	if err != nil {
		return nil, "", err
	}
	if inst.Status != StatusCreating || inst.Origin != OriginRestored {
		return nil, "", invalidState("DB instance %s is %s; it is no longer waiting for its restore", inst.Identifier, inst.Status)
	}
	if inst.Engine != EnginePostgres {
		return inst, "", nil
	}
	if spec.MasterUserPassword == "" {
		password, err := s.open(ctx, inst)
		return inst, password, err
	}
	if inst.credentials, err = s.seal(ctx, inst, spec.MasterUserPassword); err != nil {
		return nil, "", err
	}
	if _, err := s.store.ExecContext(ctx, `UPDATE rds_instances SET credentials = ?, updated_at = ? WHERE arn = ?`, inst.credentials, s.now().UnixNano(), inst.ARN); err != nil {
		return nil, "", fmt.Errorf("record the restored credentials of %s: %w", inst.ARN, err)
	}
	return inst, spec.MasterUserPassword, nil
}

// MarkAvailable makes a restored instance available.
func (s *Service) MarkAvailable(ctx context.Context, arn string) error {
	inst, err := s.loadARN(ctx, arn)
	if err != nil {
		return err
	}
	if inst.Status != StatusCreating {
		return invalidState("DB instance %s is %s, not creating", inst.Identifier, inst.Status)
	}
	return s.markProvisioned(ctx, inst)
}

// MarkFailed records why a restore failed and drops the restored
// database and its role, so nothing half-restored is left behind. The
// instance stays, status failed, until deleted.
func (s *Service) MarkFailed(ctx context.Context, arn, message string) error {
	inst, err := s.loadARN(ctx, arn)
	if err != nil {
		return err
	}
	var dropErr error
	if inst.Origin != OriginRegistered {
		if err := s.dropDB(context.WithoutCancel(ctx), inst); err != nil {
			dropErr = fmt.Errorf("drop the failed restore's database: %w", err)
		} else {
			inst.target, inst.server = engine.Target{}, ""
			if err := s.recordTarget(ctx, inst); err != nil {
				dropErr = err
			}
		}
	}
	s.setStatus(context.WithoutCancel(ctx), inst, StatusFailed, message)
	return dropErr
}

// recordTarget writes an instance's target and engine version.
func (s *Service) recordTarget(ctx context.Context, inst *Instance) error {
	target, err := jsonTarget(inst.target)
	if err != nil {
		return err
	}
	_, err = s.store.ExecContext(ctx, `UPDATE rds_instances SET target = ?, engine_version = ?, server = ?, node_id = ?, updated_at = ? WHERE arn = ?`,
		target, inst.EngineVersion, inst.server, inst.NodeID, s.now().UnixNano(), inst.ARN)
	return err
}

// IsKeyInaccessible reports whether err says an instance's KMS key
// cannot be used (a backup job's FAILED status message then tells the
// user to fix the key).
func IsKeyInaccessible(err error) bool {
	var e *awserr.Error
	return errors.As(err, &e) && e.Code == "KMSKeyNotAccessibleFault"
}
