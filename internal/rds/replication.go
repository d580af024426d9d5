package rds

import (
	"context"
	"fmt"
	"regexp"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Continuous backup of registered PostgreSQL databases: their WAL would
// stream over a replication slot as the role they were registered with,
// so that role needs the REPLICATION attribute (or to be a superuser)
// and pg_hba.conf a replication entry for it. ModifyDBInstance with a
// BackupRetentionPeriod above 0 checks both and says what to grant;
// the capture itself runs only for instances on servers of their own
// for now, so a registered database that passes is refused too, saying
// so.

// plainIdentifier is a role name SQL takes unquoted.
var plainIdentifier = regexp.MustCompile(`^[a-z_][a-z0-9_$]*$`)

// checkRegisteredReplication refuses automated backups of a registered
// PostgreSQL database, saying what its server must grant first.
func (s *Service) checkRegisteredReplication(ctx context.Context, inst *Instance) error {
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
	return invalidCombination("Automated backups (continuous WAL capture) of registered databases are not available in this coffer yet: the role %s of %s may replicate, but coffer captures the WAL of DB instances on servers of their own only. Set BackupRetentionPeriod to 0; snapshots (AWS Backup) remain available.", t.User, inst.Identifier)
}
