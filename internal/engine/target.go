package engine

import (
	"fmt"
	"strconv"
)

// Target names one database. PostgreSQL uses the network fields; SQLite
// uses Path. The password never appears in String, in JSON, in errors or
// on a command line (engines hand it to their tools through a 0600 file).
type Target struct {
	// PostgreSQL
	Host     string `json:"host,omitempty"`
	Port     int    `json:"port,omitempty"`
	Database string `json:"database,omitempty"`
	User     string `json:"user,omitempty"`
	Password string `json:"-"`
	// SSLMode is libpq's sslmode; empty means "prefer".
	SSLMode string `json:"sslMode,omitempty"`
	// Role, when set, is the role a PostgreSQL restore runs as (SET ROLE
	// after connecting as User), so the restored objects belong to it:
	// connect as the host's administrator and name the instance's master
	// user here. User must be a member of Role. Empty: objects belong to
	// User.
	Role string `json:"role,omitempty"`

	// SQLite
	Path string `json:"path,omitempty"`
}

// String describes the target without its password.
func (t Target) String() string {
	if t.Path != "" {
		return "sqlite:" + t.Path
	}
	host := t.Host
	if t.Port != 0 {
		host += ":" + strconv.Itoa(t.Port)
	}
	return fmt.Sprintf("postgres://%s@%s/%s", t.User, host, t.Database)
}

// GoString is String, so %#v does not print the password either.
func (t Target) GoString() string { return "engine.Target(" + t.String() + ")" }
