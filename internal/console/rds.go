package console

import (
	"context"
	"net/http"
	"strings"

	"github.com/coffer-dev/coffer/internal/rds"
)

// Instances is what the console needs of the RDS domain.
type Instances interface {
	CreateInstance(ctx context.Context, in rds.CreateInput) (*rds.Instance, error)
	DescribeInstances(ctx context.Context, in rds.DescribeInput) (*rds.DescribeOutput, error)
}

func (h *Handler) routeRDS(m *http.ServeMux) {
	m.HandleFunc("GET /console/databases", h.authed(h.databases))
	m.HandleFunc("POST /console/databases", h.authed(h.createDatabase))
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
