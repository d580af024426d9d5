package rds

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// Upgrade from the shared-cluster layout. Releases before servers of
// their own made every postgres instance a database (and role) of the
// region cluster in DATA-DIR/postgres/REGION. On the first start of this
// release each such available instance is moved into a server of its
// own, with its DBName, MasterUsername and password:
//
//  1. status upgrading; the master user loses CONNECT on the old
//     database and its sessions end, so no write is lost;
//  2. a logical dump (engine.Snapshot, as the cluster's administrator)
//     into a 0600 file under DATA-DIR/pg, removed afterwards;
//  3. a new server (Servers.Create) and the dump restored into it as the
//     master user, then verified against the dump's table checksums;
//  4. the instance's row points at the new server (server, node_id,
//     target, engine_version) and is available again;
//  5. only then the old database and role are dropped.
//
// A failure before step 4 removes the new server, gives CONNECT back and
// leaves the instance available on the old cluster, with the error in
// coffer's log; the move is tried again at the next start.

// legacy reports whether an instance is a database of the region cluster
// of an earlier release.
func (s *Service) legacy(inst *Instance) bool {
	return inst.Engine == EnginePostgres && inst.server == "" && inst.Origin != OriginRegistered &&
		!s.hosts.Shared(inst.Region) && inst.target.Database != ""
}

// moveToServer runs the move and logs what happened.
func (s *Service) moveToServer(ctx context.Context, inst *Instance) {
	ctx = context.WithoutCancel(ctx)
	log := s.log.With("instance", inst.ARN)
	if err := s.move(ctx, inst); err != nil {
		log.Error("move the instance from the region cluster to a server of its own failed; it stays on the region cluster and the move is retried at the next start", "error", err)
		return
	}
	log.Info("instance moved from the region cluster to a server of its own", "port", inst.target.Port)
}

func (s *Service) move(ctx context.Context, inst *Instance) (err error) {
	srv, err := s.hosts.Servers()
	if err != nil {
		return err
	}
	eng, ok := s.engines[EnginePostgres]
	if !ok {
		return errors.New("no postgres engine adapter")
	}
	host, err := s.hosts.Host(ctx, inst.Region, EnginePostgres)
	if err != nil {
		return err
	}
	old, ok := host.(*pgHost)
	if !ok {
		return errors.New("the region's PostgreSQL host is not a server")
	}
	password, err := s.open(ctx, inst)
	if err != nil {
		return err
	}
	res, err := s.store.ExecContext(ctx, `UPDATE rds_instances SET status = ?, updated_at = ? WHERE arn = ? AND status = ?`, StatusUpgrading, s.now().UnixNano(), inst.ARN, StatusAvailable)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return errors.New("the instance is no longer available")
	}
	oldTarget := inst.target
	moved := false
	defer func() {
		if !moved {
			s.setStatus(ctx, inst, StatusAvailable, "")
		}
	}()
	db, role := quoteIdent(oldTarget.Database), quoteIdent(oldTarget.User)
	if _, err := old.db.ExecContext(ctx, `REVOKE CONNECT ON DATABASE `+db+` FROM `+role); err != nil {
		return fmt.Errorf("close the old database to its owner: %w", err)
	}
	defer func() {
		if !moved {
			if _, gerr := old.db.ExecContext(ctx, `GRANT CONNECT ON DATABASE `+db+` TO `+role); gerr != nil {
				s.log.Error("give the owner CONNECT back on the old database", "instance", inst.ARN, "error", gerr)
			}
		}
	}()
	if _, err := old.db.ExecContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, oldTarget.Database); err != nil {
		return fmt.Errorf("end the old database's sessions: %w", err)
	}

	if err := os.MkdirAll(srv.opts.Dir, 0o700); err != nil {
		return err
	}
	dump, err := os.CreateTemp(srv.opts.Dir, ".move-*.dump")
	if err != nil {
		return err
	}
	defer os.Remove(dump.Name())
	defer dump.Close()
	src := old.admin
	src.Database = oldTarget.Database
	md, err := eng.Snapshot(ctx, src, dump)
	if err != nil {
		return fmt.Errorf("dump the old database: %w", err)
	}
	if _, err := dump.Seek(0, io.SeekStart); err != nil {
		return err
	}

	full, err := s.resolveVersion("")
	if err != nil {
		return err
	}
	class := inst.InstanceClass
	if _, err := ClassSettings(class); err != nil {
		class = "db.t3.micro"
	}
	name := serverName(inst.ResourceID)
	t, err := srv.Create(ctx, ServerSpec{Name: name, Major: majorOf(full), Class: class, Owner: oldTarget.User, Password: password, DBName: oldTarget.Database})
	if err != nil {
		return fmt.Errorf("create the instance's server: %w", err)
	}
	defer func() {
		if !moved {
			if rerr := srv.Remove(context.WithoutCancel(ctx), name); rerr != nil {
				s.log.Error("remove the half-moved instance's server", "instance", inst.ARN, "error", rerr)
			}
		}
	}()
	rt, err := srv.AdminTarget(name, oldTarget.Database)
	if err != nil {
		return err
	}
	rt.Role = oldTarget.User
	if err := eng.Restore(ctx, rt, dump, md); err != nil {
		return fmt.Errorf("restore into the instance's server: %w", err)
	}
	if _, err := eng.Verify(ctx, rt, md); err != nil {
		return fmt.Errorf("verify the moved database: %w", err)
	}
	t.Password = ""
	target, err := json.Marshal(t)
	if err != nil {
		return err
	}
	if _, err := s.store.ExecContext(ctx, `UPDATE rds_instances SET server = ?, node_id = ?, target = ?, engine_version = ?, instance_class = ?, status = ?, status_message = '', updated_at = ? WHERE arn = ?`,
		name, s.hosts.NodeID(), string(target), full, class, StatusAvailable, s.now().UnixNano(), inst.ARN); err != nil {
		return fmt.Errorf("record the instance's server: %w", err)
	}
	moved = true
	inst.server, inst.NodeID, inst.target, inst.EngineVersion, inst.InstanceClass, inst.Status = name, s.hosts.NodeID(), t, full, class, StatusAvailable
	inst.Endpoint = Endpoint{Address: t.Host, Port: t.Port}
	if err := old.Drop(ctx, oldTarget); err != nil {
		s.log.Warn("drop the moved instance's old database from the region cluster", "instance", inst.ARN, "error", err)
	}
	return nil
}
