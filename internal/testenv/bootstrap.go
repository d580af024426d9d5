package testenv

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/coffer-dev/coffer/internal/config"
)

// SeedBootstrap declares the seed's accounts: an organization whose
// management account is 123456789012 with the source account 111222333444
// and the backup account 666777888999 as members, and a second,
// separate organization managed by 999988887777. Each account has an
// administrator with a fixed key, in profiles default (management),
// source, backup and outsider.
const SeedBootstrap = `
organizations:
  - managementAccount: "123456789012"
    members: ["111222333444", "666777888999"]
  - managementAccount: "999988887777"
accounts:
  - {id: "123456789012", name: management, email: management@example.com}
  - {id: "111222333444", name: source, email: source@example.com}
  - {id: "666777888999", name: backup, email: backup@example.com}
  - {id: "999988887777", name: outsider, email: outsider@example.com}
users:
  - {account: "123456789012", name: admin, profile: default, accessKeyId: AKIAMANAGEMENT000001, secretAccessKey: management-secret-0001}
  - {account: "111222333444", name: admin, profile: source, accessKeyId: AKIASOURCE0000000001, secretAccessKey: source-secret-key-0001}
  - {account: "666777888999", name: admin, profile: backup, accessKeyId: AKIABACKUP0000000001, secretAccessKey: backup-secret-key-0001}
  - {account: "999988887777", name: admin, profile: outsider, accessKeyId: AKIAOUTSIDER00000001, secretAccessKey: outsider-secret-0001}
`

// Seed account IDs.
const (
	ManagementAccount = "123456789012"
	SourceAccount     = "111222333444"
	BackupAccount     = "666777888999"
	OutsiderAccount   = "999988887777"
)

// StartSeed starts a coffer bootstrapped with SeedBootstrap; mutate, when
// given, adjusts the settings further.
func StartSeed(t testing.TB, mutate func(*config.Config)) *Coffer {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bootstrap.yaml")
	if err := os.WriteFile(path, []byte(SeedBootstrap), 0o600); err != nil {
		t.Fatal(err)
	}
	return StartCoffer(t, func(c *config.Config) {
		c.Bootstrap = path
		if mutate != nil {
			mutate(c)
		}
	})
}

// ForEachStore runs fn as subtests against a seeded coffer on SQLite and
// on PostgreSQL (a throwaway cluster; skipped, or failed under
// COFFER_TEST_REQUIRE_ALL=1, when PostgreSQL is missing).
func ForEachStore(t *testing.T, fn func(t *testing.T, c *Coffer)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, StartSeed(t, nil)) })
	t.Run("postgres", func(t *testing.T) {
		dsn := StartPostgres(t).CreateDatabase(t, "coffer")
		fn(t, StartSeed(t, func(c *config.Config) { c.Database = dsn }))
	})
}
