package rds

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/coffer-dev/coffer/internal/authz"
	"github.com/coffer-dev/coffer/internal/meta"
	"github.com/coffer-dev/coffer/internal/policy"
)

// AttributeRestore is the DB snapshot attribute naming the accounts it is
// shared with.
const AttributeRestore = "restore"

var accountIDRe = regexp.MustCompile(`^\d{12}$`)

// SnapshotAttributes answers DescribeDBSnapshotAttributes: the accounts
// the snapshot is shared with.
func (s *Service) SnapshotAttributes(ctx context.Context, snapshotID string) (string, []string, error) {
	sc, id, err := s.snapshotScope(ctx, "DescribeDBSnapshotAttributes", snapshotID)
	if err != nil {
		return "", nil, err
	}
	snap, err := s.loadSnapshot(ctx, sc, id)
	if err != nil {
		return "", nil, err
	}
	accounts, err := s.sharedWith(ctx, s.store, snap.ARN)
	return snap.Identifier, accounts, err
}

func (s *Service) sharedWith(ctx context.Context, q meta.Querier, arn string) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT account_id FROM rds_snapshot_shares WHERE snapshot_arn = ? ORDER BY account_id`, arn)
	if err != nil {
		return nil, fmt.Errorf("list the accounts DB snapshot %s is shared with: %w", arn, err)
	}
	defer rows.Close()
	accounts := []string{}
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return nil, err
		}
		accounts = append(accounts, a)
	}
	return accounts, rows.Err()
}

// ModifySnapshotAttribute shares a manual snapshot with accounts, or stops
// sharing it. Snapshots under an AWS-managed key cannot be shared, as in
// RDS; coffer keeps an unencrypted snapshot's data under the account's
// aws/rds key, so those cannot be shared either (copy it with a customer
// managed key and share the copy).
func (s *Service) ModifySnapshotAttribute(ctx context.Context, snapshotID, attribute string, add, remove []string) (string, []string, error) {
	sc, id, err := s.snapshotScope(ctx, "ModifyDBSnapshotAttribute", snapshotID)
	if err != nil {
		return "", nil, err
	}
	if attribute == "" {
		return "", nil, missingParam("AttributeName")
	}
	if attribute != AttributeRestore {
		return "", nil, invalidParam("AttributeName %q is not a DB snapshot attribute coffer knows; use %q", attribute, AttributeRestore)
	}
	for _, a := range append(append([]string{}, add...), remove...) {
		if a == "all" {
			return "", nil, invalidParam("coffer does not make DB snapshots public (all); name the accounts to share with")
		}
		if !accountIDRe.MatchString(a) {
			return "", nil, invalidParam("%q is not an AWS account ID (12 digits)", a)
		}
	}
	snap, err := s.loadSnapshot(ctx, sc, id)
	if err != nil {
		return "", nil, err
	}
	if snap.Status != SnapshotAvailable {
		return "", nil, invalidSnapshotState("DB snapshot %s is %s; it can be shared once available", id, snap.Status)
	}
	if len(add) > 0 {
		if !snap.StorageEncrypted {
			return "", nil, invalidParam("coffer keeps unencrypted DB snapshots under the account's aws/rds key, which other accounts cannot use; copy %s with a customer managed key (CopyDBSnapshot KmsKeyId) and share the copy", id)
		}
		k, err := s.keys.DescribeKey(ctx, sc.Region, snap.KMSKeyARN)
		if err != nil {
			return "", nil, keyError(snap.KMSKeyARN, err)
		}
		if k.Manager == "AWS" {
			return "", nil, invalidParam("Snapshots encrypted with the AWS managed KMS key (aws/rds) can't be shared; copy %s with a customer managed key and share the copy", id)
		}
	}
	var accounts []string
	err = s.store.InTx(ctx, func(q meta.Querier) error {
		for _, a := range add {
			if _, err := q.ExecContext(ctx, `INSERT INTO rds_snapshot_shares (snapshot_arn, account_id) VALUES (?, ?) ON CONFLICT DO NOTHING`, snap.ARN, a); err != nil {
				return err
			}
		}
		for _, a := range remove {
			if _, err := q.ExecContext(ctx, `DELETE FROM rds_snapshot_shares WHERE snapshot_arn = ? AND account_id = ?`, snap.ARN, a); err != nil {
				return err
			}
		}
		var err error
		accounts, err = s.sharedWith(ctx, q, snap.ARN)
		return err
	})
	if err != nil {
		return "", nil, fmt.Errorf("share DB snapshot %s: %w", id, err)
	}
	return snap.Identifier, accounts, nil
}

// CopySnapshotInput is CopyDBSnapshot's.
type CopySnapshotInput struct {
	// Source is an identifier of the caller's, or the ARN of a snapshot
	// of the caller's account (in this region or another) or shared with
	// it.
	Source, Target string
	KMSKeyID       string
}

// CopySnapshot copies an available snapshot into the caller's region,
// re-encrypted under KMSKeyID when given. A snapshot shared by another
// account, or an encrypted one of another region, is copied with a
// customer managed key of the caller's in the caller's region (KMSKeyID,
// required for them as in RDS); the source key's policy must let the
// caller decrypt. The copy is creating until its data is copied (in the
// background), then available, or failed.
func (s *Service) CopySnapshot(ctx context.Context, in CopySnapshotInput) (*Snapshot, error) {
	if in.Source == "" {
		return nil, missingParam("SourceDBSnapshotIdentifier")
	}
	sc, id, err := s.snapshotScope(ctx, "CopyDBSnapshot", in.Target)
	if err != nil {
		return nil, err
	}
	src, err := s.sourceSnapshot(ctx, sc, "CopyDBSnapshot", in.Source, true)
	if err != nil {
		return nil, err
	}
	if src.Status != SnapshotAvailable {
		return nil, invalidSnapshotState("DB snapshot %s is %s; it can be copied once available", src.Identifier, src.Status)
	}
	if src.Account != sc.Account || src.Region != sc.Region {
		// The caller reads the source under its key through RDS in the
		// source's region: the key's policy must let the caller use it.
		if _, err := s.keys.DescribeKey(ctx, src.Region, src.KMSKeyARN); err != nil {
			return nil, keyError(src.KMSKeyARN, err)
		}
	}
	dst := *src
	dst.Identifier, dst.ARN, dst.Account, dst.Region, dst.Status, dst.ManifestID, dst.CreatedAt = id, SnapshotARN(sc.Region, sc.Account, id), sc.Account, sc.Region, SnapshotCreating, "", s.now()
	dst.Type = SnapshotManual
	switch {
	case in.KMSKeyID != "":
		if r := arnRegion(in.KMSKeyID); r != "" && r != sc.Region {
			return nil, keyNotAccessible("KMS key %s is in region %s; a copy in %s needs a key in %s", in.KMSKeyID, r, sc.Region, sc.Region)
		}
		k, err := s.keys.DescribeKey(ctx, sc.Region, in.KMSKeyID)
		if err != nil {
			return nil, keyError(in.KMSKeyID, err)
		}
		if k.State != "" && k.State != "Enabled" {
			return nil, keyNotAccessible("KMS key %s is %s; enable it or choose another key", k.ARN, k.State)
		}
		dst.KMSKeyARN, dst.StorageEncrypted = k.ARN, true
	case src.Account != sc.Account:
		return nil, invalidParam("KmsKeyId is required to copy DB snapshot %s, shared by account %s: name a key of yours to encrypt the copy with", src.ARN, src.Account)
	case src.Region != sc.Region && src.StorageEncrypted:
		return nil, invalidParam("KmsKeyId is required to copy the encrypted DB snapshot %s from region %s: KMS keys belong to one region; name a key of %s to encrypt the copy with", src.ARN, src.Region, sc.Region)
	case src.Region != sc.Region:
		// An unencrypted snapshot's data is under the account's aws/rds
		// key of its region; its copy is under the one of this region.
		if dst.KMSKeyARN, err = s.keys.ManagedKey(ctx, sc.Account, sc.Region, "rds"); err != nil {
			return nil, err
		}
	}
	if err := s.store.InTx(ctx, func(q meta.Querier) error { return s.insertSnapshot(ctx, q, &dst) }); err != nil {
		return nil, err
	}
	s.copyInBackground(ctx, src, &dst)
	return &dst, nil
}

// sourceSnapshot loads the snapshot an operation reads, op (CopyDBSnapshot,
// RestoreDBInstanceFromDBSnapshot), and authorizes op on it: the caller's
// own snapshot, or one another account shares with the caller (named by
// ARN). Only a copy (otherRegions) reads a snapshot of another region.
func (s *Service) sourceSnapshot(ctx context.Context, sc scope, op, source string, otherRegions bool) (*Snapshot, error) {
	parts := strings.SplitN(source, ":", 7)
	if !strings.HasPrefix(source, "arn:") || len(parts) != 7 || (parts[4] == sc.Account && parts[3] == sc.Region) {
		id, err := snapshotIdentifierOf(sc, source)
		if err != nil {
			return nil, err
		}
		if err := s.authorizeSource(ctx, sc, op, SnapshotARN(sc.Region, sc.Account, id)); err != nil {
			return nil, err
		}
		return s.loadSnapshot(ctx, sc, id)
	}
	if parts[2] != "rds" || parts[5] != "snapshot" {
		return nil, invalidParam("%s is not a DB snapshot ARN (arn:aws:rds:REGION:ACCOUNT:snapshot:NAME)", source)
	}
	if parts[3] != sc.Region && !otherRegions {
		return nil, invalidParam("DB snapshot %s is in region %s; restore it in its region, or copy it to %s first (CopyDBSnapshot)", source, parts[3], sc.Region)
	}
	id := strings.ToLower(parts[6])
	if err := ValidIdentifier(id); err != nil {
		return nil, invalidParam("%s: %v", source, err)
	}
	arn := SnapshotARN(parts[3], parts[4], id)
	if err := s.authorizeSource(ctx, sc, op, arn); err != nil {
		return nil, err
	}
	snap, err := s.loadSnapshot(ctx, scope{Account: parts[4], Region: parts[3]}, id)
	if err != nil {
		return nil, snapshotNotFound(source)
	}
	if snap.Account == sc.Account {
		return snap, nil
	}
	accounts, err := s.sharedWith(ctx, s.store, snap.ARN)
	if err != nil {
		return nil, err
	}
	for _, a := range accounts {
		if a == sc.Account {
			return snap, nil
		}
	}
	return nil, snapshotNotFound(source)
}

// authorizeSource authorizes op on a source snapshot. A snapshot of
// another account is read through its share (the restore attribute),
// which acts as its resource policy: it allows the account it names,
// whose own policies must allow the action too, as for any cross-account
// access. A snapshot not shared with the caller is answered as not
// found afterwards, whatever the policies say.
func (s *Service) authorizeSource(ctx context.Context, sc scope, op, arn string) error {
	req := authz.Request{Action: "rds:" + op, Resource: arn, DeniedCode: "AccessDenied"}
	if owner := strings.SplitN(arn, ":", 6)[4]; owner != sc.Account {
		p, err := policy.Parse([]byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::`+sc.Account+`:root"},"Action":"rds:`+op+`","Resource":"`+arn+`"}]}`), policy.ParseOptions{})
		if err != nil {
			return fmt.Errorf("the share of DB snapshot %s as a policy: %w", arn, err)
		}
		req.ResourcePolicy = p
	}
	return s.authz.Authorize(ctx, req)
}
