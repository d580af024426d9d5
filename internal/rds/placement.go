package rds

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/coffer-dev/coffer/internal/engine"
)

// Where an instance's database lives: its own server (s.hosts.Servers,
// inst.server set) — the default for postgres — or a host shared by the
// region's instances (SQLite files; the configured PostgreSQL server of
// rds.postgresHosts; the region cluster of earlier releases).

// ownServer reports whether a new instance of the engine in the region
// gets a server of its own.
func (s *Service) ownServer(engineName, region string) bool {
	return engineName == EnginePostgres && !s.hosts.Shared(region)
}

// serverName is the directory name of an instance's server: its
// DbiResourceId, lower-cased.
func serverName(resourceID string) string { return strings.ToLower(resourceID) }

// resolveVersion checks a requested EngineVersion ("15", "15.4" or
// empty: the newest) against the installed PostgreSQL versions and
// returns the full version to run and report.
func (s *Service) resolveVersion(requested string) (string, error) {
	srv, err := s.hosts.Servers()
	if err != nil {
		return "", invalidParam("coffer cannot run PostgreSQL instances on this node: %v", err)
	}
	vs, err := srv.Versions()
	if err != nil {
		return "", invalidParam("%v", err)
	}
	if requested == "" {
		return vs[0].Full, nil
	}
	want, _, _ := strings.Cut(requested, ".")
	var avail []string
	for _, v := range vs {
		if v.Major == want && (requested == v.Major || requested == v.Full) {
			return v.Full, nil
		}
		avail = append(avail, v.Full)
	}
	return "", invalidCombination("Cannot find version %s for postgres. The installed versions are: %s", requested, strings.Join(avail, ", "))
}

// majorOf is the major version of a reported engine version.
func majorOf(version string) string {
	m, _, _ := strings.Cut(version, ".")
	return m
}

// createDB makes an instance's database: a server of its own, or a
// database on the shared host.
// A dataDir filled by a physical restore becomes the server's data
// directory.
func (s *Service) createDB(ctx context.Context, inst *Instance, spec DatabaseSpec, port int, dataDir string) (engine.Target, Endpoint, error) {
	if dataDir != "" && inst.server == "" {
		os.RemoveAll(dataDir)
		return engine.Target{}, Endpoint{}, fmt.Errorf("%w: a physical restore needs a server of its own; the region's instances are on a shared host", ErrNoHost)
	}
	if inst.server != "" {
		srv, err := s.hosts.Servers()
		if err != nil {
			return engine.Target{}, Endpoint{}, fmt.Errorf("%w: %v", ErrNoHost, err)
		}
		ss := ServerSpec{Name: inst.server, Major: majorOf(inst.EngineVersion), Port: port, Class: inst.InstanceClass,
			Owner: spec.User, Password: spec.Password, DBName: spec.DBName, Adopt: spec.Adopt}
		var t engine.Target
		if dataDir != "" {
			t, err = srv.CreateFromDataDir(ctx, ss, dataDir)
		} else {
			t, err = srv.Create(ctx, ss)
		}
		if err != nil {
			return engine.Target{}, Endpoint{}, err
		}
		return t, Endpoint{Address: t.Host, Port: t.Port}, nil
	}
	host, err := s.hosts.Host(ctx, inst.Region, inst.Engine)
	if err != nil {
		return engine.Target{}, Endpoint{}, err
	}
	if inst.EngineVersion == "" {
		if inst.EngineVersion, err = host.Version(ctx); err != nil {
			return engine.Target{}, Endpoint{}, err
		}
	}
	return host.Create(ctx, spec)
}

// dropDB removes what createDB made: the server and its data directory,
// or the database and role on the shared host.
func (s *Service) dropDB(ctx context.Context, inst *Instance) error {
	if inst.server != "" {
		srv, err := s.hosts.Servers()
		if err != nil {
			return err
		}
		return srv.Remove(ctx, inst.server)
	}
	if inst.target.Path == "" && inst.target.Database == "" {
		return nil
	}
	host, err := s.hosts.Host(ctx, inst.Region, inst.Engine)
	if err != nil {
		return err
	}
	return host.Drop(ctx, inst.target)
}

// setPassword gives the master user a new password on the server.
func (s *Service) setPassword(ctx context.Context, inst *Instance, password string) error {
	if inst.server != "" {
		srv, err := s.hosts.Servers()
		if err != nil {
			return err
		}
		return srv.SetPassword(ctx, inst.server, inst.MasterUsername, password)
	}
	host, err := s.hosts.Host(ctx, inst.Region, inst.Engine)
	if err != nil {
		return err
	}
	return host.SetPassword(ctx, inst.target, password)
}

// restoreTarget is what a logical restore into the instance connects as:
// the server's administrator acting as the master user.
func (s *Service) restoreTarget(ctx context.Context, inst *Instance) (engine.Target, error) {
	if inst.server != "" {
		srv, err := s.hosts.Servers()
		if err != nil {
			return engine.Target{}, err
		}
		t, err := srv.AdminTarget(inst.server, inst.DBName)
		t.Role = inst.MasterUsername
		return t, err
	}
	host, err := s.hosts.Host(ctx, inst.Region, inst.Engine)
	if err != nil {
		return engine.Target{}, err
	}
	return host.RestoreTarget(inst.target), nil
}

// IncomingDir is an empty directory for a physical restore to fill,
// then hand to CreateRestoredInstance as RestoreSpec.DataDir.
func (s *Service) IncomingDir() (string, error) {
	srv, err := s.hosts.Servers()
	if err != nil {
		return "", err
	}
	return srv.IncomingDir()
}

// AdminTarget returns an available instance that runs on a server of its
// own and coffer's administrator on that server's Unix socket (no
// password; replication connections allowed, for BASE_BACKUP), for a
// backup job: authorized as rds:DescribeDBInstances for the caller in
// ctx, like Resource. Instances on a shared host, SQLite and registered
// instances get InvalidParameterCombination: back them up logically
// (Resource).
func (s *Service) AdminTarget(ctx context.Context, arn string) (*Instance, engine.Target, error) {
	inst, _, _, err := s.Resource(ctx, arn)
	if err != nil {
		return nil, engine.Target{}, err
	}
	if inst.server == "" {
		return nil, engine.Target{}, invalidCombination("DB instance %s is %s, not a server of its own", inst.Identifier, placementOf(inst))
	}
	srv, err := s.hosts.Servers()
	if err != nil {
		return nil, engine.Target{}, err
	}
	t, err := srv.AdminTarget(inst.server, inst.DBName)
	return inst, t, err
}

// Holder names the coffer node holding the server of instance arn, and
// whether that is this node (true as well for an instance without a
// server of its own, which every node reaches).
func (s *Service) Holder(ctx context.Context, arn string) (node string, here bool, err error) {
	inst, err := s.loadARN(ctx, arn)
	if err != nil {
		return "", false, err
	}
	return inst.NodeID, s.local(inst), nil
}

func (s *Service) local(inst *Instance) bool {
	return inst.server == "" || inst.NodeID == s.hosts.NodeID()
}

// onThisNode reports an error when an instance's server is held by
// another coffer node.
func (s *Service) onThisNode(inst *Instance) error {
	if s.local(inst) {
		return nil
	}
	return invalidState("DB instance %s runs on coffer node %s, and this is node %s; run the job on %s", inst.Identifier, inst.NodeID, s.hosts.NodeID(), inst.NodeID)
}
