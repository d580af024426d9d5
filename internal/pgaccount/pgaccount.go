// Package pgaccount names the account PostgreSQL servers run as: the
// postgres user when coffer runs as root (PostgreSQL refuses to run as
// root), coffer's own account otherwise.
package pgaccount

import (
	"fmt"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// Credential is the postgres user's credential when we run as root, nil
// (run as ourselves) otherwise.
func Credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root and there is no postgres user to run PostgreSQL as: %w", err)
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return nil, fmt.Errorf("postgres user: uid %q: %w", u.Uid, err)
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return nil, fmt.Errorf("postgres user: gid %q: %w", u.Gid, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}
