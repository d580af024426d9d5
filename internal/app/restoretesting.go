package app

import (
	"context"
	"errors"
	"io"
	"strings"

	"github.com/coffer-dev/coffer/internal/awserr"
	"github.com/coffer-dev/coffer/internal/backup"
	enginepg "github.com/coffer-dev/coffer/internal/engine/postgres"
	enginesqlite "github.com/coffer-dev/coffer/internal/engine/sqlite"
	"github.com/coffer-dev/coffer/internal/identity"
	"github.com/coffer-dev/coffer/internal/rds"
	"github.com/coffer-dev/coffer/internal/reqctx"
	"github.com/coffer-dev/coffer/internal/restoretesting"
	"github.com/coffer-dev/coffer/internal/vaultstore"
)

// Both engines run restore tests' validation queries.
var (
	_ backup.QueryChecker = (*enginepg.Engine)(nil)
	_ backup.QueryChecker = (*enginesqlite.Engine)(nil)
)

// temporaryInstances deletes restore tests' instances through the RDS
// API, as the selection's role session of the AWS Backup service.
type temporaryInstances struct {
	ids *identity.Service
	rds *rds.Service
}

var _ restoretesting.Instances = temporaryInstances{}

func (t temporaryInstances) DeleteTemporary(ctx context.Context, roleARN, instanceARN string) (bool, error) {
	parts := strings.SplitN(instanceARN, ":", 7)
	if len(parts) != 7 {
		return false, errors.New(instanceARN + " is not a DB instance ARN")
	}
	session, err := t.ids.AssumeRoleForService(ctx, roleARN, identity.BackupServicePrincipal, "AWSBackup")
	if err != nil {
		return false, err
	}
	ctx = identity.WithCaller(ctx, session)
	ctx = reqctx.WithCall(ctx, &reqctx.Call{Service: "backup", Region: parts[3], Operation: "restore-test:DeleteDBInstance"})
	_, err = t.rds.DeleteInstance(ctx, rds.DeleteInput{Identifier: instanceARN, SkipFinalSnapshot: true})
	var e *awserr.Error
	switch {
	case err == nil:
		return false, nil
	case errors.As(err, &e) && e.Code == "DBInstanceNotFound":
		return true, nil
	case errors.As(err, &e) && e.Code == "InvalidDBInstanceState" && strings.Contains(e.Message, "being deleted"):
		return false, nil
	}
	return false, err
}

// corruptMarking makes the vault storage engine's integrity failures
// backup.ErrDataCorrupt as the backup domain knows them.
type corruptMarking struct{ io.ReadCloser }

func (c corruptMarking) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	if err != nil && errors.Is(err, vaultstore.ErrCorrupt) {
		err = errors.Join(backup.ErrDataCorrupt, err)
	}
	return n, err
}
