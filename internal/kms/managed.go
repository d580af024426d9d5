package kms

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"github.com/google/uuid"

	"github.com/coffer-dev/coffer/internal/awserr"
	"github.com/coffer-dev/coffer/internal/meta"
)

var serviceNameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)

// ViaService is the kms:ViaService value of a service in a region, e.g.
// backup.us-east-1.amazonaws.com.
func ViaService(service, region string) string {
	return service + "." + region + ".amazonaws.com"
}

// ManagedKey returns the ARN of the AWS-managed key aws/SERVICE of an
// account in a region, creating it on the service's first use. Its
// policy allows use only through the service (kms:ViaService) by
// principals of the same account, and nobody can change, disable,
// delete or rotate it on demand.
func (s *Service) ManagedKey(ctx context.Context, account, region, service string) (string, error) {
	if !validAccount(account) || !serviceNameRE.MatchString(service) || region == "" {
		return "", fmt.Errorf("managed key: bad account %q, region %q or service %q", account, region, service)
	}
	alias := "alias/aws/" + service
	for range 3 {
		var id string
		err := s.store.QueryRowContext(ctx, `SELECT key_id FROM kms_aliases WHERE account_id = ? AND region = ? AND name = ?`, account, region, alias).Scan(&id)
		if err == nil {
			return KeyARN(region, account, id), nil
		}
		if !isNoRows(err) {
			return "", fmt.Errorf("look up %s: %w", alias, err)
		}
		id = uuid.NewString()
		now := s.now().UTC()
		k := &key{ID: id, ARN: KeyARN(region, account, id), Account: account, Region: region,
			Description: fmt.Sprintf("Default key that protects my %s data when no other key is defined", service),
			Spec:        SpecSymmetric, Usage: UsageEncrypt, Manager: ManagerAWS, ManagedService: service, State: StateEnabled,
			Created: now, Policy: managedKeyPolicy(account, region, service), PolicyVersion: 1, CurrentMaterial: 1,
			RotationEnabled: true, RotationPeriod: 365, NextRotation: now.AddDate(1, 0, 0)}
		err = s.insertNewKey(ctx, k, nil, func(q meta.Querier) error {
			_, err := q.ExecContext(ctx, `INSERT INTO kms_aliases (account_id, region, name, key_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
				account, region, alias, id, nanos(now), nanos(now))
			return err
		})
		if errors.Is(err, meta.ErrConflict) {
			continue // another request created it first
		}
		if err != nil {
			return "", fmt.Errorf("create %s: %w", alias, err)
		}
		s.log.Info("AWS managed key created", "key", k.ARN, "alias", alias)
		return k.ARN, nil
	}
	return "", awserr.New(awserr.Unavailable, "KMSInternalException", "could not create %s", alias)
}
