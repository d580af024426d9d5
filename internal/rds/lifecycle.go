package rds

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/coffer-dev/coffer/internal/meta"
)

// The lifecycle of an instance's own server: started when coffer starts,
// stopped when it stops, restarted when it dies (Servers), and
// StopDBInstance, StartDBInstance, RebootDBInstance and ModifyDBInstance
// on the same machinery. Each operation moves the instance to a
// transitional status (stopping, starting, rebooting, modifying) in one
// conditional UPDATE, so two callers cannot both win, then does the work
// in the background and records the end state: available or stopped, or
// failed with a StatusMessage saying what to do.

// startParallel bounds the servers started at once when coffer starts.
const startParallel = 4

// Resume finishes what a previous run left and brings this node's
// servers back: instances it was deleting are deleted; instances it was
// creating are marked failed (the StatusMessage says to delete and
// create them again), those it was restoring emptied of what was
// restored; snapshots it was taking or copying are marked failed; servers of available (or starting, rebooting,
// modifying) instances are started or adopted when a previous coffer left
// them running; servers being stopped are stopped; instances still on
// the region cluster of an earlier release are moved to servers of their
// own (see upgrade.go). Call it once at start; the servers start in the
// background.
func (s *Service) Resume(ctx context.Context) error {
	rows, err := s.store.QueryContext(ctx, `SELECT `+instanceColumns+` FROM rds_instances ORDER BY created_at`)
	if err != nil {
		return fmt.Errorf("find DB instances: %w", err)
	}
	var all []*Instance
	for rows.Next() {
		inst, err := scanInstance(rows)
		if err != nil {
			rows.Close()
			return err
		}
		all = append(all, inst)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if err := s.resumeSnapshots(ctx); err != nil {
		return err
	}
	srv, srvErr := s.hosts.Servers()
	if srvErr == nil {
		if err := srv.RemoveIncoming(); err != nil {
			return err
		}
	}
	var start, stop, move []*Instance
	for _, inst := range all {
		switch {
		case inst.Status == StatusDeleting:
			s.background(func(ctx context.Context) { s.drop(ctx, inst) })
			continue
		case inst.Status == StatusCreating && inst.Origin == OriginRestored && (inst.server == "" || inst.NodeID == s.hosts.NodeID()):
			// A restore cut short: nothing half-restored stays.
			s.background(func(ctx context.Context) {
				if err := s.MarkFailed(ctx, inst.ARN, "coffer stopped while the instance was being restored; what was restored is removed; delete it and restore again"); err != nil {
					s.log.Error("release a restore cut short", "instance", inst.ARN, "error", err)
				}
			})
			continue
		case inst.Status == StatusCreating:
			s.setStatus(ctx, inst, StatusFailed, "coffer stopped while the instance was being created; delete it and create it again")
			if inst.server != "" && srvErr == nil && inst.NodeID == s.hosts.NodeID() {
				// A half-made server holds its port but does not run.
				srv.Reserve(inst.server, inst.target.Port)
				if err := srv.Stop(ctx, inst.server); err != nil {
					s.log.Warn("stop a half-made instance's server", "instance", inst.ARN, "error", err)
				}
			}
			continue
		case inst.server == "":
			if s.legacy(inst) && inst.Status == StatusAvailable {
				move = append(move, inst)
			}
			continue
		case inst.NodeID != s.hosts.NodeID():
			continue // another node's server
		}
		if srvErr != nil {
			s.setStatus(ctx, inst, StatusFailed, fmt.Sprintf("coffer cannot run the instance's server on this node: %v", srvErr))
			continue
		}
		srv.Reserve(inst.server, inst.target.Port)
		switch inst.Status {
		case StatusAvailable, StatusStarting, StatusRebooting, StatusModifying, StatusUpgrading:
			if !srv.Running(inst.server) {
				// Not available until its server accepts connections.
				s.setStatus(ctx, inst, StatusStarting, "")
			}
			start = append(start, inst)
		case StatusStopping:
			stop = append(stop, inst)
		}
	}
	s.background(func(ctx context.Context) {
		sem := make(chan struct{}, startParallel)
		var wg sync.WaitGroup
		for _, inst := range start {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				s.bringUp(ctx, inst, false)
			}()
		}
		for _, inst := range stop {
			s.bringDown(ctx, inst)
		}
		wg.Wait()
		for _, inst := range move {
			s.moveToServer(ctx, inst)
		}
	})
	return nil
}

// bringUp starts an instance's server (applying a pending class first
// when asked, restarting when it runs) and records it available, or
// failed with why.
func (s *Service) bringUp(ctx context.Context, inst *Instance, restart bool) {
	ctx = context.WithoutCancel(ctx)
	srv, err := s.hosts.Servers()
	if err == nil && inst.PendingInstanceClass != "" && (restart || inst.Status == StatusStarting) {
		if err = srv.SetClass(inst.server, inst.PendingInstanceClass); err == nil {
			inst.InstanceClass, inst.PendingInstanceClass = inst.PendingInstanceClass, ""
		}
	}
	if err == nil {
		if restart {
			err = srv.Restart(ctx, inst.server)
		} else {
			err = srv.Start(ctx, inst.server)
		}
	}
	if err != nil {
		s.log.Error("start an instance's server", "instance", inst.ARN, "error", err)
		inst.Status, inst.StatusMessage = StatusFailed, fmt.Sprintf("the instance's server does not start: %v; fix the cause, then start the instance (rds start-db-instance)", err)
	} else {
		inst.Status, inst.StatusMessage = StatusAvailable, ""
	}
	inst.updatedAt = s.now()
	if err := s.update(ctx, inst); err != nil {
		s.log.Error("record DB instance status", "instance", inst.ARN, "error", err)
	}
}

// bringDown stops an instance's server and records it stopped.
func (s *Service) bringDown(ctx context.Context, inst *Instance) {
	ctx = context.WithoutCancel(ctx)
	srv, err := s.hosts.Servers()
	if err == nil {
		err = srv.Stop(ctx, inst.server)
	}
	if err != nil {
		s.setStatus(ctx, inst, StatusFailed, fmt.Sprintf("stopping the instance's server failed: %v; retry rds stop-db-instance after fixing the cause", err))
		return
	}
	s.setStatus(ctx, inst, StatusStopped, "")
}

// serverFailed records that a server died and could not be restarted.
func (s *Service) serverFailed(name, message string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), cleanupTimeout)
	defer cancel()
	if _, err := s.store.ExecContext(ctx, `UPDATE rds_instances SET status = ?, status_message = ?, updated_at = ? WHERE server = ? AND node_id = ? AND status = ?`,
		StatusFailed, message, s.now().UnixNano(), name, s.hosts.NodeID(), StatusAvailable); err != nil {
		s.log.Error("record a failed server", "server", name, "error", err)
	}
}

// transition moves an instance from one of the statuses in from to
// status `to` atomically, after the operation's checks.
func (s *Service) transition(ctx context.Context, op, idOrARN string, to string, from ...string) (*Instance, error) {
	sc, id, err := s.authorizeInstance(ctx, op, idOrARN)
	if err != nil {
		return nil, err
	}
	var inst *Instance
	err = s.store.InTx(ctx, func(q meta.Querier) error {
		if inst, err = s.load(ctx, q, sc, id); err != nil {
			return err
		}
		if inst.server == "" {
			return invalidCombination("%s works on PostgreSQL instances that run on a server of their own; %s is %s", op, id, placementOf(inst))
		}
		if err := s.onThisNode(inst); err != nil {
			return err
		}
		ok := false
		for _, f := range from {
			ok = ok || inst.Status == f
		}
		if !ok {
			return invalidState("Instance %s is in %s state; %s needs it %s.", id, inst.Status, op, strings.Join(from, " or "))
		}
		was := inst.Status
		inst.Status, inst.StatusMessage, inst.updatedAt = to, "", s.now()
		res, err := q.ExecContext(ctx, `UPDATE rds_instances SET status = ?, status_message = '', updated_at = ? WHERE arn = ? AND status = ?`,
			to, inst.updatedAt.UnixNano(), inst.ARN, was)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return invalidState("Instance %s changed state meanwhile; describe it and retry.", id)
		}
		return nil
	})
	return inst, err
}

func placementOf(inst *Instance) string {
	switch {
	case inst.Origin == OriginRegistered:
		return "a registered database"
	case inst.Engine != EnginePostgres:
		return "a " + inst.Engine + " instance"
	}
	return "a database on the region's shared PostgreSQL host"
}

// StopInstance stops an available instance's server (StopDBInstance).
// DBSnapshotIdentifier (a snapshot before stopping) is refused: coffer
// does not take it on the way to stopped.
func (s *Service) StopInstance(ctx context.Context, id, snapshotID string) (*Instance, error) {
	if snapshotID != "" {
		return nil, invalidCombination("DBSnapshotIdentifier on StopDBInstance is not supported by coffer: take the snapshot with CreateDBSnapshot, wait until it is available, then stop the instance")
	}
	inst, err := s.transition(ctx, "StopDBInstance", id, StatusStopping, StatusAvailable)
	if err != nil {
		return nil, err
	}
	s.background(func(ctx context.Context) { s.bringDown(ctx, inst) })
	return inst, nil
}

// StartInstance starts a stopped instance's server (StartDBInstance), or
// one that failed after its server died.
func (s *Service) StartInstance(ctx context.Context, id string) (*Instance, error) {
	inst, err := s.transition(ctx, "StartDBInstance", id, StatusStarting, StatusStopped, StatusFailed)
	if err != nil {
		return nil, err
	}
	if inst.target.Port == 0 {
		s.setStatus(context.WithoutCancel(ctx), inst, StatusFailed, "the instance was never created; delete it and create it again")
		return nil, invalidState("Instance %s has no server to start: it was never created; delete it and create it again.", inst.Identifier)
	}
	s.background(func(ctx context.Context) { s.bringUp(ctx, inst, false) })
	return inst, nil
}

// RebootInstance restarts an available instance's server
// (RebootDBInstance), applying a pending DBInstanceClass.
func (s *Service) RebootInstance(ctx context.Context, id string, forceFailover bool) (*Instance, error) {
	if forceFailover {
		return nil, invalidCombination("ForceFailover applies only to Multi-AZ instances; coffer's instances are Single-AZ")
	}
	inst, err := s.transition(ctx, "RebootDBInstance", id, StatusRebooting, StatusAvailable)
	if err != nil {
		return nil, err
	}
	s.background(func(ctx context.Context) { s.bringUp(ctx, inst, true) })
	return inst, nil
}

// ModifyInput is ModifyDBInstance's subset.
type ModifyInput struct {
	Identifier            string
	InstanceClass         string
	AllocatedStorage      int
	MasterUserPassword    string
	DeletionProtection    *bool
	BackupRetentionPeriod *int
	// PreferredBackupWindow, hh24:mi-hh24:mi UTC; empty: unchanged.
	PreferredBackupWindow string
	// ApplyImmediately applies a new class now (the server restarts);
	// without it the class waits for the next reboot or start. Other
	// changes apply at once either way, as in RDS.
	ApplyImmediately bool
}

// ModifyInstance changes an available instance.
func (s *Service) ModifyInstance(ctx context.Context, in ModifyInput) (*Instance, error) {
	sc, id, err := s.authorizeInstance(ctx, "ModifyDBInstance", in.Identifier)
	if err != nil {
		return nil, err
	}
	inst, err := s.load(ctx, s.store, sc, id)
	if err != nil {
		return nil, err
	}
	if inst.Status != StatusAvailable {
		return nil, invalidState("Database instance is not in available state.")
	}
	if err := s.onThisNode(inst); err != nil {
		return nil, err
	}
	restart := false
	if in.InstanceClass != "" && in.InstanceClass != inst.InstanceClass {
		if !strings.HasPrefix(in.InstanceClass, "db.") {
			return nil, invalidParam("Invalid DB Instance class: %s", in.InstanceClass)
		}
		switch {
		case inst.server == "":
			inst.InstanceClass = in.InstanceClass
		case in.ApplyImmediately:
			if _, err := ClassSettings(in.InstanceClass); err != nil {
				return nil, invalidParam("%v", err)
			}
			inst.PendingInstanceClass, restart = in.InstanceClass, true
		default:
			if _, err := ClassSettings(in.InstanceClass); err != nil {
				return nil, invalidParam("%v", err)
			}
			inst.PendingInstanceClass = in.InstanceClass
		}
	}
	if in.AllocatedStorage != 0 {
		if in.AllocatedStorage < inst.AllocatedStorage {
			return nil, invalidParam("Invalid storage size: %d; allocated storage can only grow (now %d GiB)", in.AllocatedStorage, inst.AllocatedStorage)
		}
		if in.AllocatedStorage > 65536 {
			return nil, invalidParam("Invalid storage size: %d (at most 65536 GiB)", in.AllocatedStorage)
		}
		inst.AllocatedStorage = in.AllocatedStorage
	}
	if err := validBackupWindow(in.PreferredBackupWindow); err != nil {
		return nil, err
	}
	if in.BackupRetentionPeriod != nil {
		if err := s.keepsRetention(ctx, inst, *in.BackupRetentionPeriod); err != nil {
			return nil, err
		}
		was := inst.BackupRetentionPeriod
		if inst.BackupRetentionPeriod, err = retentionFor(inst.Engine, in.BackupRetentionPeriod); err != nil {
			return nil, err
		}
		if inst.BackupRetentionPeriod > 0 && inst.Origin == OriginRegistered && inst.Engine == EnginePostgres {
			if err := s.checkRegisteredReplication(ctx, inst, was == 0); err != nil {
				return nil, err
			}
		}
	}
	if in.DeletionProtection != nil {
		inst.DeletionProtection = *in.DeletionProtection
	}
	if in.MasterUserPassword != "" {
		if inst.Engine != EnginePostgres {
			return nil, invalidCombination("%s instances have no master user password", inst.Engine)
		}
		if inst.Origin == OriginRegistered {
			return nil, invalidCombination("%s is a registered database: change the password on its server, then register it again", inst.Identifier)
		}
		if err := validPassword(in.MasterUserPassword); err != nil {
			return nil, err
		}
		sealed, err := s.seal(ctx, inst, in.MasterUserPassword)
		if err != nil {
			return nil, err
		}
		if err := s.setPassword(ctx, inst, in.MasterUserPassword); err != nil {
			return nil, hostError(err)
		}
		inst.credentials = sealed
	}
	inst.updatedAt = s.now()
	if restart {
		inst.Status = StatusModifying
		res, err := s.store.ExecContext(ctx, `UPDATE rds_instances SET status = ? WHERE arn = ? AND status = ?`, StatusModifying, inst.ARN, StatusAvailable)
		if err != nil {
			return nil, err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return nil, invalidState("Database instance is not in available state.")
		}
	}
	if err := s.update(ctx, inst); err != nil {
		return nil, err
	}
	if err := s.setBackupWindow(ctx, inst.ARN, in.PreferredBackupWindow); err != nil {
		return nil, err
	}
	if restart {
		s.background(func(ctx context.Context) { s.bringUp(ctx, inst, true) })
		return inst, nil
	}
	s.checkKey(ctx, inst)
	return inst, nil
}

// EngineVersion is a DB engine version this coffer runs.
type EngineVersion struct {
	Engine, Version, Family, Description, VersionDescription string
}

// DescribeEngineVersionsInput filters DescribeDBEngineVersions.
type DescribeEngineVersionsInput struct {
	Engine, EngineVersion string
	DefaultOnly           bool
}

// DescribeEngineVersions lists what is installed: each PostgreSQL major
// version (newest first, the default) and the SQLite library.
func (s *Service) DescribeEngineVersions(ctx context.Context, in DescribeEngineVersionsInput) ([]EngineVersion, error) {
	if _, err := s.scope(ctx); err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, "DescribeDBEngineVersions", "*", nil); err != nil {
		return nil, err
	}
	var out []EngineVersion
	if in.Engine == "" || in.Engine == EnginePostgres {
		vs, err := installedVersions()
		if err != nil && !errors.Is(err, ErrNoHost) {
			return nil, err
		}
		for _, v := range vs {
			if in.EngineVersion != "" && in.EngineVersion != v.Major && in.EngineVersion != v.Full {
				continue
			}
			out = append(out, EngineVersion{Engine: EnginePostgres, Version: v.Full, Family: "postgres" + v.Major,
				Description: "PostgreSQL", VersionDescription: "PostgreSQL " + v.Full})
			if in.DefaultOnly {
				break
			}
		}
	}
	if in.Engine == "" || in.Engine == EngineSQLite {
		v, err := sqliteVersion(ctx)
		if err != nil {
			return nil, err
		}
		if in.EngineVersion == "" || in.EngineVersion == v {
			out = append(out, EngineVersion{Engine: EngineSQLite, Version: v, Family: "sqlite3", Description: "SQLite (coffer)", VersionDescription: "SQLite " + v})
		}
	}
	return out, nil
}
