package console

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/coffer-dev/coffer/internal/rds"
)

// Instances is what the console needs of the RDS domain.
type Instances interface {
	CreateInstance(ctx context.Context, in rds.CreateInput) (*rds.Instance, error)
	DescribeInstances(ctx context.Context, in rds.DescribeInput) (*rds.DescribeOutput, error)
	Snapshots
}

func (h *Handler) routeRDS(m *http.ServeMux) {
	m.HandleFunc("GET /console/databases", h.authed(h.databases))
	m.HandleFunc("POST /console/databases", h.authed(h.createDatabase))
	m.HandleFunc("GET /console/databases/{id}/snapshots", h.authed(h.snapshots))
	m.HandleFunc("POST /console/databases/{id}/snapshots", h.authed(h.createSnapshot))
	m.HandleFunc("POST /console/databases/{id}/snapshots/delete", h.authed(h.deleteSnapshot))
	m.HandleFunc("POST /console/databases/{id}/snapshots/restore", h.authed(h.restoreSnapshot))
}

type databasesData struct {
	Instances []*rds.Instance
	Keys      []keyRow
}

func (h *Handler) databases(q *request) { h.showDatabases(q, nil) }

func (h *Handler) showDatabases(q *request, actionErr error) {
	var d databasesData
	err := h.call(q, "rds", "DescribeDBInstances", struct{}{}, func(ctx context.Context) error {
		out, err := h.opts.RDS.DescribeInstances(ctx, rds.DescribeInput{})
		if err == nil {
			d.Instances = out.Instances
		}
		return err
	})
	if actionErr == nil {
		actionErr = err
	}
	d.Keys, _ = h.keyRows(q)
	h.render(q, http.StatusOK, "databases", "RDS databases", d, actionErr)
}

// createDatabase creates an instance; choosing a key encrypts its storage
// with it.
func (h *Handler) createDatabase(q *request) {
	f := q.r.PostFormValue
	in := rds.CreateInput{Identifier: strings.TrimSpace(f("identifier")), Engine: f("engine"), MasterUsername: strings.TrimSpace(f("username")),
		MasterUserPassword: f("password"), DBName: strings.TrimSpace(f("dbname")), KMSKeyID: f("key"), InstanceClass: f("class")}
	in.StorageEncrypted = in.KMSKeyID != ""
	params := map[string]any{"DBInstanceIdentifier": in.Identifier, "Engine": in.Engine, "MasterUsername": in.MasterUsername,
		"MasterUserPassword": in.MasterUserPassword, "DBName": in.DBName, "DBInstanceClass": in.InstanceClass, "StorageEncrypted": in.StorageEncrypted, "KmsKeyId": in.KMSKeyID}
	err := h.call(q, "rds", "CreateDBInstance", params, func(ctx context.Context) error {
		_, err := h.opts.RDS.CreateInstance(ctx, in)
		return err
	})
	if err != nil {
		h.showDatabases(q, err)
		return
	}
	redirect(q, "/console/databases", "Database "+in.Identifier+" is being created.")
}

// Snapshots is what the console needs of the RDS domain's DB snapshots.
type Snapshots interface {
	CreateSnapshot(ctx context.Context, snapshotID, instanceID string) (*rds.Snapshot, error)
	DescribeSnapshots(ctx context.Context, snapshotID, instanceID, snapshotType string, includeShared bool) ([]*rds.Snapshot, error)
	DeleteSnapshot(ctx context.Context, snapshotID string) (*rds.Snapshot, error)
	RestoreFromSnapshot(ctx context.Context, in rds.RestoreFromSnapshotInput) (*rds.Instance, error)
}

type snapshotsData struct {
	Instance  string
	Snapshots []*rds.Snapshot
}

// snapshots lists the DB snapshots of one instance, manual and AWS
// Backup's, with forms to take, delete and restore them.
func (h *Handler) snapshots(q *request) { h.showSnapshots(q, nil) }

func (h *Handler) showSnapshots(q *request, actionErr error) {
	d := snapshotsData{Instance: q.r.PathValue("id")}
	err := h.call(q, "rds", "DescribeDBSnapshots", map[string]any{"DBInstanceIdentifier": d.Instance}, func(ctx context.Context) error {
		snaps, err := h.opts.RDS.DescribeSnapshots(ctx, "", d.Instance, "", false)
		d.Snapshots = snaps
		return err
	})
	if actionErr == nil {
		actionErr = err
	}
	h.render(q, http.StatusOK, "snapshots", "DB snapshots of "+d.Instance, d, actionErr)
}

func (h *Handler) createSnapshot(q *request) {
	instance, id := q.r.PathValue("id"), strings.TrimSpace(q.r.PostFormValue("snapshot"))
	h.snapshotAction(q, "CreateDBSnapshot", map[string]any{"DBSnapshotIdentifier": id, "DBInstanceIdentifier": instance}, "Snapshot "+id+" is being created.",
		func(ctx context.Context) error {
			_, err := h.opts.RDS.CreateSnapshot(ctx, id, instance)
			return err
		})
}

func (h *Handler) deleteSnapshot(q *request) {
	id := q.r.PostFormValue("snapshot")
	h.snapshotAction(q, "DeleteDBSnapshot", map[string]any{"DBSnapshotIdentifier": id}, "Snapshot "+id+" deleted.", func(ctx context.Context) error {
		_, err := h.opts.RDS.DeleteSnapshot(ctx, id)
		return err
	})
}

func (h *Handler) restoreSnapshot(q *request) {
	f := q.r.PostFormValue
	in := rds.RestoreFromSnapshotInput{SnapshotIdentifier: f("snapshot"), Identifier: strings.TrimSpace(f("identifier")), InstanceClass: strings.TrimSpace(f("class"))}
	params := map[string]any{"DBSnapshotIdentifier": in.SnapshotIdentifier, "DBInstanceIdentifier": in.Identifier, "DBInstanceClass": in.InstanceClass}
	h.snapshotAction(q, "RestoreDBInstanceFromDBSnapshot", params, "Database "+in.Identifier+" is being restored.", func(ctx context.Context) error {
		_, err := h.opts.RDS.RestoreFromSnapshot(ctx, in)
		return err
	})
}

// snapshotAction runs one snapshot operation as the signed-in principal
// and comes back to the instance's snapshots.
func (h *Handler) snapshotAction(q *request, op string, params map[string]any, done string, fn func(context.Context) error) {
	if err := h.call(q, "rds", op, params, fn); err != nil {
		h.showSnapshots(q, err)
		return
	}
	redirect(q, "/console/databases/"+url.PathEscape(q.r.PathValue("id"))+"/snapshots", done)
}
