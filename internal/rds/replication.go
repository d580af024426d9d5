package rds

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Continuous backup of registered PostgreSQL databases: their WAL
// streams over a replication slot of their own (CaptureSlot) as the role
// they were registered with, its password decrypted as the RDS service,
// so that role needs the REPLICATION attribute (or to be a superuser)
// and pg_hba.conf a replication entry for it. ModifyDBInstance with a
// BackupRetentionPeriod above 0 (and an AWS Backup continuous rule)
// checks both and says what to grant. The WAL and base backups
// (BASE_BACKUP over the same connection) are of the whole server, so a
// point-in-time restore brings up a new instance server holding all of
// its databases; the local PostgreSQL binaries must be of the server's
// major version, which is checked when capture is turned on and again at
// restore.
//
// Which node captures: a registered database has no server on any
// node, and only one capture may hold its slot, so the node that turned
// its automated backups on (from 0) records itself as the instance's
// node_id and captures it (ContinuousInstances filters on node_id);
// turning them off and on again on another node moves the capture there.

// plainIdentifier is a role name SQL takes unquoted.
var plainIdentifier = regexp.MustCompile(`^[a-z_][a-z0-9_$]*$`)

// checkRegisteredReplication refuses automated backups of a registered
// PostgreSQL database unless its role may replicate, saying what its
// server must grant first, or unless this node can restore it
// (restorableHere); it warns when the server's replication slots may
// hold unbounded WAL. With claim (automated backups are being turned
// on) this node becomes the one capturing it.
func (s *Service) checkRegisteredReplication(ctx context.Context, inst *Instance, claim bool) error {
	password, err := s.open(ctx, inst)
	if err != nil {
		return keyNotAccessible("the credentials of DB instance %s cannot be decrypted: %v", inst.Identifier, err)
	}
	t := inst.target
	t.Password = password
	user := t.User
	if !plainIdentifier.MatchString(user) {
		user = pgx.Identifier{user}.Sanitize()
	}
	grant := fmt.Sprintf("on its server run ALTER ROLE %s REPLICATION; and add a replication entry for the role to pg_hba.conf "+
		"(host replication %s <coffer's address>/32 scram-sha-256), reload the server's configuration (SELECT pg_reload_conf()), then try again", user, t.User)
	conn, err := pgx.Connect(ctx, TargetURL(t))
	if err != nil {
		return invalidParam("coffer cannot connect to the registered database %s: %s; check that it is running and its credentials are right", t, redactErr(err, password))
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var may bool
	if err := conn.QueryRow(ctx, `SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user`).Scan(&may); err != nil {
		return fmt.Errorf("read the replication attribute of %s: %s", t, redactErr(err, password))
	}
	if !may {
		return invalidCombination("Automated backups (continuous WAL capture) of the registered database %s need its role %s to have the REPLICATION attribute, which it lacks: %s.", inst.Identifier, t.User, grant)
	}
	cfg, err := pgconn.ParseConfig(TargetURL(t))
	if err != nil {
		return fmt.Errorf("replication connection to %s: %s", t, redactErr(err, password))
	}
	cfg.RuntimeParams["replication"] = "true"
	cfg.RuntimeParams["application_name"] = "coffer"
	rc, err := pgconn.ConnectConfig(ctx, cfg)
	if err == nil {
		_, err = pglogrepl.IdentifySystem(ctx, rc)
		rc.Close(context.WithoutCancel(ctx))
	}
	if err != nil {
		return invalidCombination("Automated backups (continuous WAL capture) of the registered database %s need a replication connection as role %s, which its server refused (%s): %s.", inst.Identifier, t.User, redactErr(err, password), grant)
	}
	if err := s.restorableHere(inst); err != nil {
		return err
	}
	var keep string
	if err := conn.QueryRow(ctx, `SELECT current_setting('max_slot_wal_keep_size')`).Scan(&keep); err != nil {
		return fmt.Errorf("read max_slot_wal_keep_size of %s: %s", t, redactErr(err, password))
	}
	if keep == "-1" {
		s.log.Warn("the registered database's server has max_slot_wal_keep_size -1 (unbounded): while coffer cannot store its WAL (coffer down, vault unreachable), the replication slot keeps WAL until the server's disk fills; set it (ALTER SYSTEM SET max_slot_wal_keep_size = '10GB'; SELECT pg_reload_conf())",
			"instance", inst.ARN, "slot", CaptureSlot(inst))
	}
	if !claim {
		return nil
	}
	if _, err := s.store.ExecContext(ctx, `UPDATE rds_instances SET node_id = ? WHERE arn = ?`, s.hosts.NodeID(), inst.ARN); err != nil {
		return fmt.Errorf("record the node capturing %s: %w", inst.Identifier, err)
	}
	inst.NodeID = s.hosts.NodeID()
	return nil
}

// restorableHere refuses automated backups and point-in-time restores
// of a registered database whose server's PostgreSQL major version this
// node has no binaries of: its physical backups start only under that
// version.
func (s *Service) restorableHere(inst *Instance) error {
	if inst.Origin != OriginRegistered {
		return nil
	}
	srv, err := s.hosts.Servers()
	if err != nil {
		return invalidCombination("Point-in-time restores of the registered database %s need PostgreSQL servers on this coffer node, which it cannot run: %v", inst.Identifier, err)
	}
	if _, err := srv.version(majorOf(inst.EngineVersion)); err != nil {
		vs, _ := srv.Versions()
		var have []string
		for _, v := range vs {
			have = append(have, v.Full)
		}
		return invalidCombination("The registered database %s runs PostgreSQL %s, and this coffer node has the binaries of PostgreSQL %s only: its physical backups could not be restored here. Install PostgreSQL %s on the node, or use snapshots (AWS Backup).",
			inst.Identifier, inst.EngineVersion, strings.Join(have, ", "), majorOf(inst.EngineVersion))
	}
	return nil
}

// restoredVersion is the engine version of a point-in-time restore of
// src: src's own, or for a registered database its major version (the
// node's binaries of that major).
func restoredVersion(src *Instance) string {
	if src.Origin == OriginRegistered {
		return majorOf(src.EngineVersion)
	}
	return src.EngineVersion
}

// restoredClass is the DBInstanceClass a point-in-time restore of src
// gets when none is given: src's, or for a registered database (whose
// class, db.registered, sizes no server) the default, db.t3.micro.
func restoredClass(src *Instance) string {
	if src.Origin == OriginRegistered {
		return "db.t3.micro"
	}
	return src.InstanceClass
}
