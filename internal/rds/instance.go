package rds

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"github.com/coffer-dev/coffer/internal/policy"
	"regexp"
	"strings"
	"time"

	_ "modernc.org/sqlite" // sqlite_version() for SQLite hosts

	"github.com/coffer-dev/coffer/internal/awserr"
	"github.com/coffer-dev/coffer/internal/engine"
	"github.com/coffer-dev/coffer/internal/identity"
	"github.com/coffer-dev/coffer/internal/meta"
)

// Engines.
const (
	EnginePostgres = "postgres"
	EngineSQLite   = "sqlite"
)

// Instance statuses, as RDS spells them.
const (
	StatusCreating     = "creating"
	StatusAvailable    = "available"
	StatusModifying    = "modifying"
	StatusDeleting     = "deleting"
	StatusFailed       = "failed"
	StatusInaccessible = "inaccessible-encryption-credentials"
	StatusStopping     = "stopping"
	StatusStopped      = "stopped"
	StatusStarting     = "starting"
	StatusRebooting    = "rebooting"
	StatusUpgrading    = "upgrading"
)

// Origins of an instance.
const (
	OriginCreated    = "created"
	OriginRegistered = "registered"
	OriginRestored   = "restored"
)

// cleanupTimeout bounds work done after a failure or at shutdown.
const cleanupTimeout = 30 * time.Second

// Instance is a DB instance.
type Instance struct {
	Identifier       string
	ARN              string
	ResourceID       string // db-XXXXXXXXXXXXXXXXXXXXXXXXXX
	Account, Region  string
	Engine           string
	EngineVersion    string
	InstanceClass    string
	AllocatedStorage int
	MasterUsername   string
	DBName           string
	Status           string
	// StatusMessage says why an instance failed or is inaccessible.
	StatusMessage      string
	Origin             string
	StorageEncrypted   bool
	KMSKeyARN          string // the storage key (encrypted) or the credentials key (aws/rds)
	GrantID            string
	DeletionProtection bool
	CreatedAt          time.Time
	Endpoint           Endpoint
	Tags               map[string]string
	// NodeID is the coffer node holding the instance's server.
	NodeID                string
	BackupRetentionPeriod int
	// PendingInstanceClass is a class change waiting for the next
	// reboot or start (ModifyDBInstance without ApplyImmediately).
	PendingInstanceClass string

	// server names the instance's own PostgreSQL server (Servers); empty
	// for SQLite, registered databases and databases on a shared host.
	server      string
	target      engine.Target // without its password
	credentials []byte        // the sealed envelope
	updatedAt   time.Time
}

// Target is the instance's database, without its password.
func (i *Instance) Target() engine.Target { return i.target }

// OwnServer reports whether the instance is a PostgreSQL server of its
// own (AdminTarget serves it; physical backups are possible).
func (i *Instance) OwnServer() bool { return i.server != "" }

// CreateInput is CreateDBInstance's input.
type CreateInput struct {
	Identifier         string
	Engine             string
	EngineVersion      string
	InstanceClass      string
	AllocatedStorage   int // 0: the default
	MasterUsername     string
	MasterUserPassword string
	DBName             string
	StorageEncrypted   bool
	KMSKeyID           string
	DeletionProtection bool
	Tags               map[string]string
	// Port is the server's port (postgres on its own server); 0: a free
	// one.
	Port int
	// BackupRetentionPeriod is 0 to 35 days; nil: RDS's default, 1.
	BackupRetentionPeriod *int
	// PreferredBackupWindow, hh24:mi-hh24:mi UTC; empty: RDS's default.
	PreferredBackupWindow string
}

// retention is the validated BackupRetentionPeriod.
func retention(days *int) (int, error) {
	if days == nil {
		return 1, nil
	}
	if *days < 0 || *days > 35 {
		return 0, invalidParam("Invalid backup retention period: %d. The backup retention period must be between 0 and 35 days.", *days)
	}
	return *days, nil
}

var (
	identifierRe = regexp.MustCompile(`^[a-zA-Z](-?[a-zA-Z0-9])*$`)
	pgNameRe     = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_]*$`)
)

// ValidIdentifier applies RDS's rules for DB instance identifiers.
func ValidIdentifier(id string) error {
	if id == "" {
		return missingParam("DBInstanceIdentifier")
	}
	if len(id) > 63 || !identifierRe.MatchString(id) {
		return invalidParam("The parameter DBInstanceIdentifier is not a valid identifier. Identifiers must begin with a letter; must contain only ASCII letters, digits, and hyphens; must not end with a hyphen or contain two consecutive hyphens; and must be 1 to 63 characters long.")
	}
	return nil
}

var reservedNames = map[string]bool{"postgres": true, "rdsadmin": true, "template0": true, "template1": true, "public": true, adminRole: true, spareDB: true}

func validPGName(param, name string) error {
	if len(name) > 63 || !pgNameRe.MatchString(name) {
		return invalidParam("The parameter %s is not a valid name: it must begin with a letter and contain only ASCII letters, digits and underscores (1 to 63 characters).", param)
	}
	if lower := strings.ToLower(name); reservedNames[lower] || strings.HasPrefix(lower, "pg_") {
		return invalidParam("%s cannot be used as it is a reserved word used by the engine", name)
	}
	return nil
}

// validPassword applies RDS's rules for PostgreSQL master passwords. The
// password never appears in the message.
func validPassword(pw string) error {
	if pw == "" {
		return invalidParam("The parameter MasterUserPassword must be provided and must not be blank.")
	}
	if len(pw) < 8 {
		return invalidParam("The parameter MasterUserPassword is not a valid password because it is shorter than 8 characters.")
	}
	if len(pw) > 128 {
		return invalidParam("The parameter MasterUserPassword is not a valid password because it is longer than 128 characters.")
	}
	for _, r := range pw {
		if r < 0x21 || r > 0x7e || r == '/' || r == '"' || r == '@' {
			return invalidParam("The parameter MasterUserPassword is not a valid password. Only printable ASCII characters besides '/', '@', '\"', ' ' may be used.")
		}
	}
	return nil
}

func (in *CreateInput) validate() error {
	if err := ValidIdentifier(in.Identifier); err != nil {
		return err
	}
	if in.InstanceClass == "" {
		return missingParam("DBInstanceClass")
	}
	if !strings.HasPrefix(in.InstanceClass, "db.") {
		return invalidParam("Invalid DB Instance class: %s", in.InstanceClass)
	}
	switch in.Engine {
	case "":
		return missingParam("Engine")
	case EnginePostgres:
		if in.MasterUsername == "" {
			return invalidParam("The parameter MasterUsername must be provided and must not be blank.")
		}
		if err := validPGName("MasterUsername", in.MasterUsername); err != nil {
			return err
		}
		if err := validPassword(in.MasterUserPassword); err != nil {
			return err
		}
		if in.DBName != "" {
			if err := validPGName("DBName", in.DBName); err != nil {
				return err
			}
		}
		if in.AllocatedStorage == 0 {
			in.AllocatedStorage = 20
		}
		if in.AllocatedStorage < 20 || in.AllocatedStorage > 65536 {
			return invalidParam("Invalid storage size for engine name postgres: %d (20 to 65536 GiB)", in.AllocatedStorage)
		}
	case EngineSQLite:
		if in.AllocatedStorage == 0 {
			in.AllocatedStorage = 20
		}
		if in.AllocatedStorage < 1 || in.AllocatedStorage > 65536 {
			return invalidParam("Invalid storage size for engine name sqlite: %d (1 to 65536 GiB)", in.AllocatedStorage)
		}
	default:
		return invalidParam("Invalid DB engine: %s. coffer runs postgres and sqlite instances.", in.Engine)
	}
	if in.KMSKeyID != "" && !in.StorageEncrypted {
		return invalidCombination("KmsKeyId is given but StorageEncrypted is not set; add --storage-encrypted, or omit the key for an unencrypted instance")
	}
	return validateTags(in.Tags)
}

// defaultDBName is the database of a postgres instance created without
// DBName: its identifier, hyphens made underscores.
func defaultDBName(id string) string { return strings.ReplaceAll(id, "-", "_") }

// newResourceID is RDS's DbiResourceId: "db-" and 26 upper-case letters
// and digits.
func newResourceID() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, 26)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return "db-" + string(b)
}

// CreateInstance creates a DB instance in the caller's account and the
// request's region. It returns the instance in status creating; the
// database is made in the background and the instance becomes available,
// or failed with a message, leaving nothing behind on its host.
func (s *Service) CreateInstance(ctx context.Context, in CreateInput) (*Instance, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	if err := ValidIdentifier(in.Identifier); err != nil {
		return nil, err
	}
	in.Identifier = strings.ToLower(in.Identifier)
	arn := InstanceARN(sc.Region, sc.Account, in.Identifier)
	if err := s.authorize(ctx, "CreateDBInstance", arn, policy.RequestTagContext(in.Tags)); err != nil {
		return nil, err
	}
	if len(in.Tags) > 0 {
		if err := s.authorize(ctx, "AddTagsToResource", arn, policy.RequestTagContext(in.Tags)); err != nil {
			return nil, err
		}
	}
	if err := in.validate(); err != nil {
		return nil, err
	}
	if in.Engine == EnginePostgres && in.DBName == "" {
		in.DBName = defaultDBName(in.Identifier)
	}
	if _, err := s.load(ctx, s.store, sc, in.Identifier); err == nil {
		return nil, alreadyExists(in.Identifier)
	} else if !isNotFound(err) {
		return nil, err
	}
	if _, ok := s.engines[in.Engine]; !ok {
		return nil, invalidParam("Invalid DB engine: %s. This coffer has no %s engine adapter.", in.Engine, in.Engine)
	}
	days, err := retentionFor(in.Engine, in.BackupRetentionPeriod)
	if err != nil {
		return nil, err
	}
	if err := validBackupWindow(in.PreferredBackupWindow); err != nil {
		return nil, err
	}
	inst := &Instance{
		Identifier: in.Identifier, ARN: arn, ResourceID: newResourceID(), Account: sc.Account, Region: sc.Region,
		Engine: in.Engine, EngineVersion: in.EngineVersion, InstanceClass: in.InstanceClass, AllocatedStorage: in.AllocatedStorage,
		MasterUsername: in.MasterUsername, DBName: in.DBName, Status: StatusCreating, Origin: OriginCreated,
		BackupRetentionPeriod: days,
		StorageEncrypted:      in.StorageEncrypted, DeletionProtection: in.DeletionProtection, CreatedAt: s.now().UTC(), Tags: in.Tags,
	}
	if err := s.placeOnServer(inst, in.Port); err != nil {
		return nil, err
	}
	if err := s.attachKey(ctx, inst, in.KMSKeyID); err != nil {
		return nil, err
	}
	if in.Engine == EnginePostgres {
		if inst.credentials, err = s.seal(ctx, inst, in.MasterUserPassword); err != nil {
			s.releaseKey(inst)
			return nil, err
		}
	}
	if err := s.insert(ctx, inst); err != nil {
		s.releaseKey(inst)
		return nil, err
	}
	if err := s.setBackupWindow(ctx, inst.ARN, in.PreferredBackupWindow); err != nil {
		s.log.Warn("record the backup window; the instance has RDS's default", "instance", inst.ARN, "error", err)
	}
	spec := DatabaseSpec{Account: sc.Account, Region: sc.Region, Identifier: in.Identifier, DBName: in.DBName, User: in.MasterUsername, Password: in.MasterUserPassword}
	s.background(func(ctx context.Context) { s.provision(ctx, inst, spec, in.Port) })
	return inst, nil
}

// placeOnServer gives a new postgres instance a server of its own
// (unless its region uses a shared host): the installed version it asks
// for, a class coffer has settings for, a port RDS accepts.
func (s *Service) placeOnServer(inst *Instance, port int) error {
	if !s.ownServer(inst.Engine, inst.Region) {
		if port != 0 {
			return invalidCombination("Port cannot be chosen for instances on the region's shared PostgreSQL host (rds.postgresHosts)")
		}
		return nil
	}
	if port != 0 && (port < 1150 || port > 65535) {
		return invalidParam("Invalid port %d: the port must be from 1150 to 65535", port)
	}
	if _, err := ClassSettings(inst.InstanceClass); err != nil {
		return invalidParam("%v", err)
	}
	full, err := s.resolveVersion(inst.EngineVersion)
	if err != nil {
		return err
	}
	inst.EngineVersion, inst.server, inst.NodeID = full, serverName(inst.ResourceID), s.hosts.NodeID()
	return nil
}

// background runs fn on the service's context, tracked for Close.
func (s *Service) background(fn func(ctx context.Context)) {
	s.work.Add(1)
	go func() {
		defer s.work.Done()
		fn(s.ctx)
	}()
}

// provision makes the instance's database and marks it available, or
// failed with what to do.
func (s *Service) provision(ctx context.Context, inst *Instance, spec DatabaseSpec, port int) {
	log := s.log.With("instance", inst.ARN)
	t, ep, err := s.createDB(ctx, inst, spec, port, "")
	if err != nil {
		log.Warn("create DB instance failed", "error", err)
		s.setStatus(context.WithoutCancel(ctx), inst, StatusFailed, createFailure(err))
		return
	}
	inst.target, inst.Endpoint = t, ep
	if err := s.markProvisioned(context.WithoutCancel(ctx), inst); err != nil {
		log.Error("record created DB instance", "error", err)
		if err := s.dropDB(context.WithoutCancel(ctx), inst); err != nil {
			log.Error("drop the unrecorded database", "error", err)
		}
		s.setStatus(context.WithoutCancel(ctx), inst, StatusFailed, "coffer could not record the new database; delete this instance and create it again")
		return
	}
	log.Info("DB instance available", "engine", inst.Engine, "endpoint", ep.Address, "port", ep.Port)
}

// createFailure is the StatusMessage of a failed create: what was wrong
// and what to do.
func createFailure(err error) string {
	switch {
	case errors.Is(err, ErrNameTaken):
		return err.Error() + "; delete this instance and create it again"
	case errors.Is(err, ErrNoHost):
		return err.Error() + "; fix the host, then delete this instance and create it again"
	}
	return "creating the database failed: " + err.Error() + "; delete this instance and create it again"
}

// attachKey chooses the instance's key, checks the caller may use it the
// way RDS does, and creates the instance's grant for the RDS service.
func (s *Service) attachKey(ctx context.Context, inst *Instance, keyID string) error {
	var keyARN string
	switch {
	case keyID != "":
		if arnRegion := arnRegion(keyID); arnRegion != "" && arnRegion != inst.Region {
			return keyNotAccessible("KMS key %s is in region %s; an instance in %s needs a key in %s (KMS keys are regional)", keyID, arnRegion, inst.Region, inst.Region)
		}
		k, err := s.keys.DescribeKey(ctx, inst.Region, keyID)
		if err != nil {
			return keyError(keyID, err)
		}
		switch {
		case k.Usage != "" && k.Usage != "ENCRYPT_DECRYPT", k.Spec != "" && k.Spec != "SYMMETRIC_DEFAULT":
			return invalidParam("KMS key %s is a %s %s key; storage encryption needs a symmetric encryption key (SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT)", k.ARN, k.Spec, k.Usage)
		case k.State == "PendingDeletion":
			return keyNotAccessible("KMS key %s is pending deletion; cancel the deletion (kms cancel-key-deletion) or choose another key", k.ARN)
		case k.State != "" && k.State != "Enabled":
			return keyNotAccessible("KMS key %s is %s; enable it (kms enable-key) or choose another key", k.ARN, k.State)
		}
		keyARN = k.ARN
	default:
		// Encrypted without a key, or the key sealing an unencrypted
		// instance's credentials: the account's aws/rds key.
		var err error
		if keyARN, err = s.keys.ManagedKey(ctx, inst.Account, inst.Region, "rds"); err != nil {
			return err
		}
		if _, err := s.keys.DescribeKey(ctx, inst.Region, keyARN); err != nil {
			return keyError(keyARN, err)
		}
	}
	// Two grants, as RDS holds: the key's use, constrained to the
	// instance's encryption context, and DescribeKey (which takes no
	// context, so a constrained grant could never allow it) to watch the
	// key's state.
	use, err := s.keys.CreateGrant(ctx, inst.Region, Grant{
		KeyARN: keyARN, Grantee: ServicePrincipal(inst.Region), Name: inst.ResourceID,
		Operations: []string{"Decrypt", "GenerateDataKey"},
		Context:    credentialContext(inst.ARN),
	})
	if err != nil {
		return keyError(keyARN, err)
	}
	describe, err := s.keys.CreateGrant(ctx, inst.Region, Grant{
		KeyARN: keyARN, Grantee: ServicePrincipal(inst.Region), Name: inst.ResourceID + "-describe",
		Operations: []string{"DescribeKey"},
	})
	inst.KMSKeyARN, inst.GrantID = keyARN, use
	if err != nil {
		s.releaseKey(inst)
		return keyError(keyARN, err)
	}
	inst.GrantID = use + " " + describe
	if inst.Engine == EnginePostgres {
		automated, err := s.keys.CreateGrant(ctx, inst.Region, automatedGrant(inst, keyARN))
		if err != nil {
			s.releaseKey(inst)
			return keyError(keyARN, err)
		}
		inst.GrantID += " " + automated
	}
	snapshots, err := s.keys.CreateGrant(ctx, inst.Region, snapshotGrant(inst, keyARN))
	if err != nil {
		s.releaseKey(inst)
		return keyError(keyARN, err)
	}
	inst.GrantID += " " + snapshotGrantTag + snapshots
	return nil
}

// releaseKey retires the instance's grants.
func (s *Service) releaseKey(inst *Instance) {
	s.retireGrants(inst, strings.Fields(inst.GrantID))
}

// retireGrants retires some of the instance's grants.
func (s *Service) retireGrants(inst *Instance, grants []string) {
	if len(grants) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(s.serviceCtx(inst.Region), cleanupTimeout)
	defer cancel()
	for _, id := range grants {
		id = strings.TrimPrefix(id, snapshotGrantTag)
		if err := s.keys.RetireGrant(ctx, inst.Region, inst.KMSKeyARN, id); err != nil {
			s.log.Warn("retire KMS grant", "instance", inst.ARN, "grant", id, "error", err)
		}
	}
}

// serviceCtx is a context acting as the RDS service of the region: the
// caller its grants name.
func (s *Service) serviceCtx(region string) context.Context {
	return identity.WithCaller(context.WithoutCancel(s.ctx), identity.ServicePrincipal(ServicePrincipal(region)))
}

// keyError turns a KMS failure into RDS's fault, keeping KMS's words.
func keyError(keyID string, err error) error {
	var e *awserr.Error
	if errors.As(err, &e) {
		switch e.Kind {
		case awserr.Denied, awserr.NotFound, awserr.Invalid, awserr.Conflict:
			return keyNotAccessible("The specified KMS key %s does not exist, is not enabled or you do not have permissions to access it: %s", keyID, e.Message)
		}
	}
	return err
}

// arnRegion is the region of an ARN, "" for IDs and aliases.
func arnRegion(s string) string {
	parts := strings.SplitN(s, ":", 6)
	if len(parts) == 6 && parts[0] == "arn" {
		return parts[3]
	}
	return ""
}

// DescribeInput filters DescribeDBInstances.
type DescribeInput struct {
	Identifier string // an identifier or an ARN
	Filters    map[string][]string
	MaxRecords int
	Marker     string
}

// DescribeOutput is a page of instances.
type DescribeOutput struct {
	Instances []*Instance
	Marker    string
}

var filterNames = map[string]bool{"db-instance-id": true, "dbi-resource-id": true, "engine": true, "db-cluster-id": true, "domain": true}

// DescribeInstances lists the instances of the caller's account in the
// request's region.
func (s *Service) DescribeInstances(ctx context.Context, in DescribeInput) (*DescribeOutput, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	resource := InstanceARN(sc.Region, sc.Account, "*")
	id := ""
	if in.Identifier != "" {
		if id, err = s.identifierOf(sc, in.Identifier); err != nil {
			return nil, err
		}
		resource = InstanceARN(sc.Region, sc.Account, id)
	}
	if err := s.authorize(ctx, "DescribeDBInstances", resource, nil); err != nil {
		return nil, err
	}
	if in.MaxRecords == 0 {
		in.MaxRecords = 100
	}
	if in.MaxRecords < 20 || in.MaxRecords > 100 {
		return nil, invalidParam("Invalid value %d for MaxRecords. Must be between 20 and 100", in.MaxRecords)
	}
	for name, vals := range in.Filters {
		if !filterNames[name] {
			return nil, invalidParam("Unrecognized filter name: %s", name)
		}
		if len(vals) == 0 {
			return nil, invalidParam("Filter %s needs at least one value", name)
		}
	}
	after, err := decodeMarker(in.Marker)
	if err != nil {
		return nil, err
	}
	list, err := s.list(ctx, sc, id, after)
	if err != nil {
		return nil, err
	}
	if id != "" && len(list) == 0 {
		return nil, instanceNotFound(id)
	}
	out := &DescribeOutput{}
	for _, inst := range list {
		if !matches(inst, in.Filters, sc) {
			continue
		}
		if len(out.Instances) == in.MaxRecords {
			out.Marker = encodeMarker(out.Instances[len(out.Instances)-1].Identifier)
			break
		}
		s.checkKey(ctx, inst)
		out.Instances = append(out.Instances, inst)
	}
	return out, nil
}

func matches(inst *Instance, filters map[string][]string, sc scope) bool {
	for name, vals := range filters {
		ok := false
		for _, v := range vals {
			switch name {
			case "db-instance-id":
				ok = ok || strings.EqualFold(v, inst.Identifier) || v == inst.ARN
			case "dbi-resource-id":
				ok = ok || v == inst.ResourceID
			case "engine":
				ok = ok || v == inst.Engine
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// checkKey reports an instance whose key the RDS service can no longer
// use (disabled, pending deletion, deleted) as
// inaccessible-encryption-credentials, as RDS does; it recovers when the
// key does.
func (s *Service) checkKey(ctx context.Context, inst *Instance) {
	if inst.Status != StatusAvailable || inst.KMSKeyARN == "" {
		return
	}
	k, err := s.keys.DescribeKey(s.serviceCtx(inst.Region), inst.Region, inst.KMSKeyARN)
	switch {
	case err != nil:
		inst.Status = StatusInaccessible
		inst.StatusMessage = fmt.Sprintf("the instance's KMS key %s cannot be used: %s", inst.KMSKeyARN, awserr.As(err).Message)
	case k.State == "PendingDeletion":
		inst.Status = StatusInaccessible
		inst.StatusMessage = fmt.Sprintf("the instance's KMS key %s is pending deletion; cancel the deletion to recover the instance", inst.KMSKeyARN)
	case k.State != "" && k.State != "Enabled":
		inst.Status = StatusInaccessible
		inst.StatusMessage = fmt.Sprintf("the instance's KMS key %s is %s; enable it to recover the instance", inst.KMSKeyARN, k.State)
	}
}

// authorizeInstance resolves an identifier or ARN in the caller's scope
// and authorizes the operation on the instance.
func (s *Service) authorizeInstance(ctx context.Context, op, idOrARN string) (scope, string, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return scope{}, "", err
	}
	id, err := s.identifierOf(sc, idOrARN)
	if err != nil {
		return scope{}, "", err
	}
	if err := s.authorize(ctx, op, InstanceARN(sc.Region, sc.Account, id), nil); err != nil {
		return scope{}, "", err
	}
	return sc, id, nil
}

// identifierOf accepts an identifier or an ARN of the caller's account
// and region.
func (s *Service) identifierOf(sc scope, idOrARN string) (string, error) {
	if strings.HasPrefix(idOrARN, "arn:") {
		parts := strings.SplitN(idOrARN, ":", 7)
		if len(parts) != 7 || parts[2] != "rds" || parts[5] != "db" {
			return "", invalidParam("%s is not a DB instance ARN (arn:aws:rds:REGION:ACCOUNT:db:ID)", idOrARN)
		}
		if parts[3] != sc.Region || parts[4] != sc.Account {
			return "", instanceNotFound(parts[6])
		}
		idOrARN = parts[6]
	}
	if err := ValidIdentifier(idOrARN); err != nil {
		return "", err
	}
	return strings.ToLower(idOrARN), nil
}

// hostError reports a database host that cannot be used, asking the
// client to retry later.
func hostError(err error) error {
	return awserr.New(awserr.Unavailable, "InternalFailure", "the database host cannot be used now: %v; retry later", err).WithStatus(503)
}

// DeleteInput is DeleteDBInstance's input.
type DeleteInput struct {
	Identifier        string
	SkipFinalSnapshot bool
	FinalSnapshotID   string
	// KeepAutomatedBackups is DeleteAutomatedBackups false: the
	// instance's automated backups are retained (retained.go).
	KeepAutomatedBackups bool
}

// DeleteInstance marks an instance deleting and drops its database (not a
// registered one: coffer only forgets it) in the background.
func (s *Service) DeleteInstance(ctx context.Context, in DeleteInput) (*Instance, error) {
	sc, id, err := s.authorizeInstance(ctx, "DeleteDBInstance", in.Identifier)
	if err != nil {
		return nil, err
	}
	if !in.SkipFinalSnapshot && in.FinalSnapshotID == "" {
		return nil, invalidCombination("FinalDBSnapshotIdentifier is required unless SkipFinalSnapshot is specified.")
	}
	if in.SkipFinalSnapshot && in.FinalSnapshotID != "" {
		return nil, invalidCombination("FinalDBSnapshotIdentifier cannot be specified when SkipFinalSnapshot is enabled.")
	}
	var final *Snapshot
	if !in.SkipFinalSnapshot {
		if final, err = s.finalSnapshot(ctx, sc, in.FinalSnapshotID, id); err != nil {
			return nil, err
		}
	}
	var inst *Instance
	err = s.store.InTx(ctx, func(q meta.Querier) error {
		var err error
		if inst, err = s.load(ctx, q, sc, id); err != nil {
			return err
		}
		if inst.DeletionProtection {
			return invalidCombination("Cannot delete protected DB Instance, please disable deletion protection and try again.")
		}
		if err := s.onThisNode(inst); err != nil {
			return err
		}
		switch inst.Status {
		case StatusCreating, StatusDeleting, StatusModifying:
			return invalidState("Instance %s is already being %s.", id, strings.TrimSuffix(inst.Status, "ing")+"ed")
		case StatusStopping, StatusStarting, StatusRebooting, StatusUpgrading:
			return invalidState("Instance %s is %s; delete it once it is available or stopped.", id, inst.Status)
		}
		if final != nil && inst.Status != StatusAvailable {
			return invalidState("Instance %s is %s; a final snapshot needs it available (or delete it with SkipFinalSnapshot).", id, inst.Status)
		}
		inst.Status, inst.updatedAt = StatusDeleting, s.now()
		if _, err = q.ExecContext(ctx, `UPDATE rds_instances SET status = ?, updated_at = ? WHERE arn = ?`, inst.Status, inst.updatedAt.UnixNano(), inst.ARN); err != nil {
			return err
		}
		if err := s.recordRetention(ctx, q, inst, in.KeepAutomatedBackups); err != nil {
			return err
		}
		if final != nil {
			return s.insertSnapshot(ctx, q, final.of(inst))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if final == nil {
		s.background(func(ctx context.Context) { s.drop(ctx, inst) })
		return inst, nil
	}
	s.takeSnapshot(ctx, final, inst, true, func(ctx context.Context, err error) {
		if err != nil {
			s.setStatus(ctx, inst, StatusFailed, fmt.Sprintf("the final snapshot %s failed: %v; start the instance and delete it again", final.Identifier, err))
			return
		}
		s.drop(ctx, inst)
	})
	return inst, nil
}

// drop removes an instance's database (created and restored instances),
// its grant and its row.
func (s *Service) drop(ctx context.Context, inst *Instance) {
	ctx = context.WithoutCancel(ctx)
	log := s.log.With("instance", inst.ARN)
	if inst.Origin != OriginRegistered {
		if err := s.dropDB(ctx, inst); err != nil {
			log.Warn("drop DB instance's database failed", "error", err)
			s.setStatus(ctx, inst, StatusFailed, fmt.Sprintf("deleting the database failed: %v; fix the host and delete the instance again", err))
			return
		}
	}
	grants, err := s.settleAutomatedBackups(ctx, inst)
	if err != nil {
		log.Warn("settle DB instance's automated backups failed", "error", err)
		s.setStatus(ctx, inst, StatusFailed, fmt.Sprintf("deleting the automated backups failed: %v; delete the instance again", err))
		return
	}
	s.retireGrants(inst, grants)
	err = s.store.InTx(ctx, func(q meta.Querier) error {
		if _, err := q.ExecContext(ctx, `DELETE FROM rds_tags WHERE resource_arn = ?`, inst.ARN); err != nil {
			return err
		}
		if err := s.forgetBackupWindow(ctx, q, inst.ARN); err != nil {
			return err
		}
		if _, err := q.ExecContext(ctx, `DELETE FROM rds_backup_recovery_points WHERE arn = ?`, inst.ARN); err != nil {
			return err
		}
		_, err := q.ExecContext(ctx, `DELETE FROM rds_instances WHERE arn = ?`, inst.ARN)
		return err
	})
	if err != nil {
		log.Error("forget deleted DB instance", "error", err)
		return
	}
	log.Info("DB instance deleted")
}

// sqliteVersion is the SQLite library's version.
func sqliteVersion(ctx context.Context) (string, error) {
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		return "", err
	}
	defer db.Close()
	var v string
	err = db.QueryRowContext(ctx, `SELECT sqlite_version()`).Scan(&v)
	return v, err
}
