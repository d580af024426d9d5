package kms

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/coffer-dev/coffer/internal/awserr"
	"github.com/coffer-dev/coffer/internal/meta"
)

// AliasInput is CreateAlias' and UpdateAlias' request.
type AliasInput struct {
	Call
	AliasName   string
	TargetKeyId string
}

// checkAliasName validates a customer alias name; alias/aws/ is
// reserved for AWS-managed keys.
func checkAliasName(name string) error {
	if name == "" {
		return awserr.Validation("1 validation error detected: Value null at 'aliasName' failed to satisfy constraint: Member must not be null")
	}
	if len(name) > 256 || !aliasRE.MatchString(name) {
		return awserr.New(awserr.Invalid, "InvalidAliasNameException", "Alias name %q is not valid: it must begin with alias/ followed by letters, digits, /, _ or -, at most 256 characters.", name)
	}
	if strings.HasPrefix(name, "alias/aws/") || name == "alias/aws" {
		return awserr.New(awserr.Invalid, "InvalidAliasNameException", "Alias name %q begins with the reserved prefix alias/aws/; those aliases belong to AWS managed keys.", name)
	}
	return nil
}

// aliasTarget resolves a TargetKeyId: a key ID or key ARN of the
// caller's account, never an alias.
func (s *Service) aliasTarget(ctx context.Context, in *AliasInput, op operation) (*key, error) {
	if strings.HasPrefix(in.TargetKeyId, "alias/") || strings.Contains(in.TargetKeyId, ":alias/") {
		return nil, awserr.Validation("TargetKeyId must be a key ID or key ARN, not an alias")
	}
	k, err := s.manage(ctx, in.TargetKeyId, in.Call, op)
	if err != nil {
		return nil, err
	}
	if k.Manager == ManagerAWS {
		return nil, awserr.AccessDenied("aliases cannot point to the AWS managed key %s", k.ARN)
	}
	if err := requireNotPendingDeletion(k); err != nil {
		return nil, err
	}
	return k, nil
}

// CreateAlias creates an alias for a customer-managed key. The caller
// needs kms:CreateAlias on the alias (IAM policy) and on the key (key
// policy).
func (s *Service) CreateAlias(ctx context.Context, in *AliasInput) error {
	if err := checkAliasName(in.AliasName); err != nil {
		return err
	}
	k, err := s.aliasTarget(ctx, in, opCreateAlias)
	if err != nil {
		return err
	}
	aliasARN := AliasARN(k.Region, k.Account, in.AliasName)
	if err := s.authorizeIAM(ctx, "kms:CreateAlias", aliasARN, nil); err != nil {
		return err
	}
	now := nanos(s.now())
	_, err = s.store.ExecContext(ctx, `INSERT INTO kms_aliases (account_id, region, name, key_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
		k.Account, k.Region, in.AliasName, k.ID, now, now)
	if errors.Is(err, meta.ErrConflict) {
		return awserr.New(awserr.Conflict, "AlreadyExistsException", "An alias with the name %s already exists", aliasARN)
	}
	if err != nil {
		return fmt.Errorf("create alias: %w", err)
	}
	return nil
}

// UpdateAlias points an alias at another key of the same spec and usage.
func (s *Service) UpdateAlias(ctx context.Context, in *AliasInput) error {
	if err := checkAliasName(in.AliasName); err != nil {
		return err
	}
	p, err := caller(ctx)
	if err != nil {
		return err
	}
	region := in.region(ctx)
	old, err := s.resolve(ctx, in.AliasName, region, opUpdateAlias)
	if err != nil {
		return err
	}
	if err := s.authorizeKey(ctx, old, opUpdateAlias, in.Call, nil, nil); err != nil {
		return err
	}
	k, err := s.aliasTarget(ctx, in, opUpdateAlias)
	if err != nil {
		return err
	}
	if err := s.authorizeIAM(ctx, "kms:UpdateAlias", AliasARN(region, p.AccountID, in.AliasName), nil); err != nil {
		return err
	}
	if old.Spec != k.Spec || old.Usage != k.Usage {
		return awserr.Validation("the alias %s points to a %s %s key; the new target must have the same key spec and usage", in.AliasName, old.Spec, old.Usage)
	}
	return s.exec(ctx, `UPDATE kms_aliases SET key_id = ?, updated_at = ? WHERE account_id = ? AND region = ? AND name = ?`, k.ID, nanos(s.now()), p.AccountID, region, in.AliasName)
}

// DeleteAliasInput is DeleteAlias' request.
type DeleteAliasInput struct {
	Call
	AliasName string
}

// DeleteAlias removes an alias; the key is unaffected.
func (s *Service) DeleteAlias(ctx context.Context, in *DeleteAliasInput) error {
	if err := checkAliasName(in.AliasName); err != nil {
		return err
	}
	p, err := caller(ctx)
	if err != nil {
		return err
	}
	region := in.region(ctx)
	k, err := s.resolve(ctx, in.AliasName, region, opDeleteAlias)
	if err != nil {
		return err
	}
	if err := s.authorizeKey(ctx, k, opDeleteAlias, in.Call, nil, nil); err != nil {
		return err
	}
	if err := s.authorizeIAM(ctx, "kms:DeleteAlias", AliasARN(region, p.AccountID, in.AliasName), nil); err != nil {
		return err
	}
	return s.exec(ctx, `DELETE FROM kms_aliases WHERE account_id = ? AND region = ? AND name = ?`, p.AccountID, region, in.AliasName)
}

// ListAliasesInput is ListAliases' request.
type ListAliasesInput struct {
	Call
	KeyId  string
	Limit  int
	Marker string
}

// AliasListEntry is one alias.
type AliasListEntry struct {
	AliasName       string
	AliasArn        string
	TargetKeyId     string
	CreationDate    time.Time
	LastUpdatedDate time.Time
}

// ListAliasesOutput is ListAliases' answer.
type ListAliasesOutput struct {
	Aliases    []AliasListEntry
	NextMarker string
	Truncated  bool
}

// ListAliases lists the aliases of the caller's account in the region,
// or of one key.
func (s *Service) ListAliases(ctx context.Context, in *ListAliasesInput) (*ListAliasesOutput, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	limit, err := pageLimit(in.Limit, 100)
	if err != nil {
		return nil, err
	}
	if in.Marker != "" && !aliasRE.MatchString(in.Marker) {
		return nil, awserr.New(awserr.Invalid, "InvalidMarkerException", "the marker is not one that ListAliases returned")
	}
	region := in.region(ctx)
	if err := s.authorizeIAM(ctx, "kms:ListAliases", "*", nil); err != nil {
		return nil, err
	}
	q := `SELECT name, key_id, created_at, updated_at FROM kms_aliases WHERE account_id = ? AND region = ? AND name > ?`
	args := []any{p.AccountID, region, in.Marker}
	if in.KeyId != "" {
		k, err := s.resolve(ctx, in.KeyId, region, operation{Name: "ListAliases"})
		if err != nil {
			return nil, err
		}
		q += ` AND key_id = ?`
		args = append(args, k.ID)
	}
	rows, err := s.store.QueryContext(ctx, q+` ORDER BY name LIMIT ?`, append(args, limit+1)...)
	if err != nil {
		return nil, fmt.Errorf("list aliases: %w", err)
	}
	defer rows.Close()
	out := &ListAliasesOutput{Aliases: []AliasListEntry{}}
	for rows.Next() {
		var e AliasListEntry
		var c, u int64
		if err := rows.Scan(&e.AliasName, &e.TargetKeyId, &c, &u); err != nil {
			return nil, err
		}
		e.AliasArn = AliasARN(region, p.AccountID, e.AliasName)
		e.CreationDate, e.LastUpdatedDate = fromNanos(c), fromNanos(u)
		out.Aliases = append(out.Aliases, e)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out.Aliases) > limit {
		out.Aliases = out.Aliases[:limit]
		out.Truncated, out.NextMarker = true, out.Aliases[limit-1].AliasName
	}
	return out, nil
}
