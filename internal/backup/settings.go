package backup

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/coffer-dev/coffer/internal/authz"
	"github.com/coffer-dev/coffer/internal/awserr"
	"github.com/coffer-dev/coffer/internal/meta"
)

// CrossAccountBackup is the global setting that lets an organization's
// accounts copy recovery points into each other's vaults.
const CrossAccountBackup = "isCrossAccountBackupEnabled"

// globalSettings are the settings UpdateGlobalSettings accepts, with
// their defaults.
var globalSettings = map[string]string{
	CrossAccountBackup:                "false",
	"isMpaEnabled":                    "false",
	"isDelegatedAdministratorEnabled": "false",
}

// GlobalSettings returns the organization's settings as the caller's
// account sees them, and when they last changed.
func (s *Service) GlobalSettings(ctx context.Context) (map[string]string, time.Time, error) {
	sc, _, err := s.scope(ctx)
	if err != nil {
		return nil, time.Time{}, err
	}
	if err := s.authz.Authorize(ctx, authz.Request{Action: "backup:DescribeGlobalSettings", Resource: "*"}); err != nil {
		return nil, time.Time{}, err
	}
	mgmt, err := s.orgs.ManagementAccount(ctx, sc.Account)
	if err != nil {
		return nil, time.Time{}, err
	}
	if mgmt == "" {
		return nil, time.Time{}, invalidRequest("account %s is not in an organization; global settings belong to an organization", sc.Account)
	}
	return s.loadGlobalSettings(ctx, mgmt)
}

func (s *Service) loadGlobalSettings(ctx context.Context, mgmt string) (map[string]string, time.Time, error) {
	out := map[string]string{}
	for k, v := range globalSettings {
		out[k] = v
	}
	rows, err := s.store.QueryContext(ctx, `SELECT name, value, updated_at FROM backup_global_settings WHERE management_account_id = ?`, mgmt)
	if err != nil {
		return nil, time.Time{}, err
	}
	defer rows.Close()
	var last int64
	for rows.Next() {
		var k, v string
		var at int64
		if err := rows.Scan(&k, &v, &at); err != nil {
			return nil, time.Time{}, err
		}
		out[k] = v
		if at > last {
			last = at
		}
	}
	var t time.Time
	if last > 0 {
		t = time.Unix(0, last).UTC()
	}
	return out, t, rows.Err()
}

// CrossAccountEnabled reports whether account's organization enabled
// cross-account backup.
func (s *Service) CrossAccountEnabled(ctx context.Context, account string) (bool, error) {
	mgmt, err := s.orgs.ManagementAccount(ctx, account)
	if err != nil || mgmt == "" {
		return false, err
	}
	var v string
	err = s.store.QueryRowContext(ctx, `SELECT value FROM backup_global_settings WHERE management_account_id = ? AND name = ?`, mgmt, CrossAccountBackup).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return v == "true", err
}

// UpdateGlobalSettings changes the organization's settings; only its
// management account may.
func (s *Service) UpdateGlobalSettings(ctx context.Context, settings map[string]string) error {
	sc, _, err := s.scope(ctx)
	if err != nil {
		return err
	}
	if len(settings) == 0 {
		return missingParam("GlobalSettings")
	}
	for k, v := range settings {
		if _, ok := globalSettings[k]; !ok {
			return InvalidParam("%s is not a global setting; the settings are isCrossAccountBackupEnabled, isMpaEnabled and isDelegatedAdministratorEnabled", k)
		}
		if v != "true" && v != "false" {
			return InvalidParam("global setting %s must be \"true\" or \"false\", not %q", k, v)
		}
	}
	if err := s.authz.Authorize(ctx, authz.Request{Action: "backup:UpdateGlobalSettings", Resource: "*"}); err != nil {
		return err
	}
	mgmt, err := s.orgs.ManagementAccount(ctx, sc.Account)
	if err != nil {
		return err
	}
	if mgmt != sc.Account {
		return awserr.New(awserr.Invalid, "InvalidRequestException", "only the management account of the organization may change global settings; account %s is not it", sc.Account)
	}
	now := s.now().UnixNano()
	return s.store.InTx(ctx, func(q meta.Querier) error {
		for k, v := range settings {
			if _, err := q.ExecContext(ctx, `DELETE FROM backup_global_settings WHERE management_account_id = ? AND name = ?`, mgmt, k); err != nil {
				return err
			}
			if _, err := q.ExecContext(ctx, `INSERT INTO backup_global_settings (management_account_id, name, value, updated_at) VALUES (?, ?, ?, ?)`, mgmt, k, v, now); err != nil {
				return err
			}
		}
		return nil
	})
}

// ResourceTypes are the resource types coffer backs up, opted in by
// default as AWS opts in RDS.
var ResourceTypes = []string{"RDS"}

// RegionSettings returns the resource-type opt-in of the caller's account
// in the request's region.
func (s *Service) RegionSettings(ctx context.Context) (map[string]bool, error) {
	sc, _, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.authz.Authorize(ctx, authz.Request{Action: "backup:DescribeRegionSettings", Resource: "*"}); err != nil {
		return nil, err
	}
	return s.regionSettings(ctx, sc)
}

func (s *Service) regionSettings(ctx context.Context, sc Scope) (map[string]bool, error) {
	out := map[string]bool{}
	for _, t := range ResourceTypes {
		out[t] = true
	}
	rows, err := s.store.QueryContext(ctx, `SELECT resource_type, opted_in FROM backup_region_settings WHERE account_id = ? AND region = ?`, sc.Account, sc.Region)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var t string
		var on int
		if err := rows.Scan(&t, &on); err != nil {
			return nil, err
		}
		out[t] = on != 0
	}
	return out, rows.Err()
}

// UpdateRegionSettings opts resource types in or out.
func (s *Service) UpdateRegionSettings(ctx context.Context, optIn map[string]bool) error {
	sc, _, err := s.scope(ctx)
	if err != nil {
		return err
	}
	for t := range optIn {
		if !knownResourceType(t) {
			return InvalidParam("resource type %q is not supported; coffer backs up %v", t, ResourceTypes)
		}
	}
	if err := s.authz.Authorize(ctx, authz.Request{Action: "backup:UpdateRegionSettings", Resource: "*"}); err != nil {
		return err
	}
	return s.store.InTx(ctx, func(q meta.Querier) error {
		for t, on := range optIn {
			if _, err := q.ExecContext(ctx, `DELETE FROM backup_region_settings WHERE account_id = ? AND region = ? AND resource_type = ?`, sc.Account, sc.Region, t); err != nil {
				return err
			}
			v := 0
			if on {
				v = 1
			}
			if _, err := q.ExecContext(ctx, `INSERT INTO backup_region_settings (account_id, region, resource_type, opted_in) VALUES (?, ?, ?, ?)`, sc.Account, sc.Region, t, v); err != nil {
				return err
			}
		}
		return nil
	})
}

func knownResourceType(t string) bool {
	for _, k := range ResourceTypes {
		if k == t {
			return true
		}
	}
	return false
}
