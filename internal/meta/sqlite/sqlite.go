// Package sqlite opens coffer's embedded metadata store: one SQLite file
// in WAL mode through the pure-Go modernc.org/sqlite driver.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/coffer-dev/coffer/internal/meta"
)

// MaxIdleConns is how many connections the pool keeps open between
// requests.
const MaxIdleConns = 64

// Open opens (creating if needed) the database file at path and migrates it.
func Open(ctx context.Context, path string) (*meta.SQLStore, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	if err := restrictModes(abs); err != nil {
		return nil, err
	}
	q := url.Values{}
	// busy_timeout first: switching to WAL takes a lock, and a second
	// process opening the file at the same moment must wait, not fail.
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	// Writers take the lock when they begin, so two transactions never
	// deadlock upgrading read locks; the busy timeout queues them.
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+abs+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", abs, err)
	}
	// Opening a connection applies the pragmas and reads the whole
	// schema; keep enough idle connections that concurrent requests do
	// not pay that each time (database/sql keeps 2 by default).
	db.SetMaxIdleConns(MaxIdleConns)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", abs, err)
	}
	s, err := meta.Open(ctx, db, Hooks, nil)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate sqlite %s: %w", abs, err)
	}
	return s, nil
}

// restrictModes creates the database file 0600 if it is not there, and
// makes it, its -wal and its -shm 0600 if they are: SQLite creates the
// -wal and -shm with the database file's mode, and its own default is
// 0644.
func restrictModes(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open sqlite %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("open sqlite %s: %w", path, err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Chmod(p, 0o600); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("restrict the mode of %s: %w", p, err)
		}
	}
	return nil
}

// Hooks are SQLite's dialect details.
var Hooks = meta.Hooks{
	Dialect: meta.SQLite,
	Rebind:  func(q string) string { return q },
	IsConflict: func(err error) bool {
		return hasCode(err, sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
	},
	IsRetryable: func(err error) bool { return hasCode(err, sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) },
	TypeNames:   map[string]string{"COMPACT": "WITHOUT ROWID"},
}

func hasCode(err error, codes ...int) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	for _, c := range codes {
		if se.Code() == c || se.Code()&0xff == c {
			return true
		}
	}
	return false
}
