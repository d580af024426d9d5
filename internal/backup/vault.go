package backup

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/coffer-dev/coffer/internal/authz"
	"github.com/coffer-dev/coffer/internal/awserr"
	"github.com/coffer-dev/coffer/internal/meta"
	"github.com/coffer-dev/coffer/internal/policy"
	"github.com/coffer-dev/coffer/internal/reqctx"
)

// DefaultVaultName is the vault every account has in every region,
// encrypted with the account's AWS-managed aws/backup key.
const DefaultVaultName = "Default"

// maxVaultPolicySize bounds a vault access policy (AWS accepts policies
// of this order; IAM's resource-policy limits are similar).
const maxVaultPolicySize = 20480

// Vault is a backup vault.
type Vault struct {
	Name             string
	ARN              string
	Account          string
	Region           string
	EncryptionKeyARN string
	CreatorRequestID string
	AccessPolicy     string
	CreatedAt        time.Time
	RecoveryPoints   int64
	Lock             VaultLock
}

// CreateVaultInput is CreateBackupVault's input.
type CreateVaultInput struct {
	Name             string
	EncryptionKeyARN string // empty: the account's aws/backup key
	CreatorRequestID string
	Tags             map[string]string
}

// CreateVault creates a vault in the caller's account and the request's
// region.
func (s *Service) CreateVault(ctx context.Context, in CreateVaultInput) (*Vault, error) {
	sc, _, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	if in.Name == "" {
		return nil, missingParam("BackupVaultName")
	}
	if !vaultNameRe.MatchString(in.Name) {
		return nil, InvalidParam("backup vault name %q must be 2 to 50 letters, digits, hyphens or underscores", in.Name)
	}
	arn := VaultARN(sc.Region, sc.Account, in.Name)
	if err := s.authz.Authorize(ctx, authz.Request{Action: "backup:CreateBackupVault", Resource: arn, Context: policy.RequestTagContext(in.Tags)}); err != nil {
		return nil, err
	}
	if existing, err := s.loadVault(ctx, s.store, sc, in.Name); err == nil {
		if in.CreatorRequestID != "" && existing.CreatorRequestID == in.CreatorRequestID {
			return existing, nil
		}
		return nil, alreadyExists("backup vault %s already exists", in.Name)
	} else if !isNotFound(err) {
		return nil, err
	}
	keyARN, err := s.vaultKey(ctx, sc, in.Name, in.EncryptionKeyARN)
	if err != nil {
		return nil, err
	}
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	v := &Vault{Name: in.Name, ARN: arn, Account: sc.Account, Region: sc.Region, EncryptionKeyARN: keyARN, CreatorRequestID: in.CreatorRequestID, CreatedAt: s.now().UTC()}
	err = s.store.InTx(ctx, func(q meta.Querier) error {
		if err := insertVault(ctx, q, v); err != nil {
			return err
		}
		return putTags(ctx, q, arn, in.Tags)
	})
	if errors.Is(err, meta.ErrConflict) {
		return nil, alreadyExists("backup vault %s already exists", in.Name)
	}
	return v, err
}

// vaultKey resolves the key a new vault encrypts with: the given one,
// which must be a usable symmetric encryption key the caller may see, or
// the account's aws/backup key.
func (s *Service) vaultKey(ctx context.Context, sc Scope, vault, keyID string) (string, error) {
	if keyID == "" {
		return s.keys.ManagedKey(ctx, sc.Account, sc.Region, "backup")
	}
	k, err := s.keys.DescribeKey(ctx, sc.Region, keyID)
	var kerr *awserr.Error
	if errors.As(err, &kerr) && (kerr.Kind == awserr.NotFound || kerr.Kind == awserr.Invalid || kerr.Kind == awserr.Conflict) {
		// KMS's NotFoundException and the like are not in Backup's model.
		return "", InvalidParam("EncryptionKeyArn %s cannot encrypt backup vault %s: %s", keyID, vault, kerr.Message)
	}
	if err != nil {
		return "", err
	}
	switch {
	case k.Usage != "ENCRYPT_DECRYPT" || k.Spec != "SYMMETRIC_DEFAULT":
		return "", InvalidParam("key %s is a %s %s key; a vault needs a symmetric encryption key (SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT)", k.ARN, k.Spec, k.Usage)
	case !k.Enabled:
		return "", InvalidParam("key %s is not enabled; enable it or choose another key for vault %s", k.ARN, vault)
	}
	return k.ARN, nil
}

func insertVault(ctx context.Context, q meta.Querier, v *Vault) error {
	var pol any
	if v.AccessPolicy != "" {
		pol = v.AccessPolicy
	}
	_, err := q.ExecContext(ctx, `INSERT INTO backup_vaults (account_id, region, name, arn, encryption_key_arn, creator_request_id, access_policy, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		v.Account, v.Region, v.Name, v.ARN, v.EncryptionKeyARN, v.CreatorRequestID, pol, v.CreatedAt.UnixNano())
	return err
}

// vault loads a vault of the caller's account for an operation, creating
// the Default vault on first use, and authorizes action on it with the
// vault's access policy.
func (s *Service) vault(ctx context.Context, name, action string) (*Vault, error) {
	sc, _, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	if name == "" {
		return nil, missingParam("BackupVaultName")
	}
	v, err := s.loadVault(ctx, s.store, sc, name)
	if isNotFound(err) && name == DefaultVaultName {
		v, err = s.createDefaultVault(ctx, sc)
	}
	if err != nil {
		if isNotFound(err) {
			// Authorize against the would-be ARN first, so a caller
			// without rights learns nothing about what exists.
			if aerr := s.authz.Authorize(ctx, authz.Request{Action: action, Resource: VaultARN(sc.Region, sc.Account, name)}); aerr != nil {
				return nil, aerr
			}
		}
		return nil, err
	}
	if err := s.authorizeOnVault(ctx, v, action, v.ARN); err != nil {
		return nil, err
	}
	return v, nil
}

func (s *Service) createDefaultVault(ctx context.Context, sc Scope) (*Vault, error) {
	key, err := s.keys.ManagedKey(ctx, sc.Account, sc.Region, "backup")
	if err != nil {
		return nil, fmt.Errorf("aws/backup key for the Default vault: %w", err)
	}
	v := &Vault{Name: DefaultVaultName, ARN: VaultARN(sc.Region, sc.Account, DefaultVaultName), Account: sc.Account, Region: sc.Region, EncryptionKeyARN: key, CreatedAt: s.now().UTC()}
	if err := insertVault(ctx, s.store, v); err != nil && !errors.Is(err, meta.ErrConflict) {
		return nil, err
	}
	return s.loadVault(ctx, s.store, sc, DefaultVaultName)
}

const vaultColumns = `v.name, v.arn, v.account_id, v.region, v.encryption_key_arn, v.creator_request_id, COALESCE(v.access_policy, ''), v.created_at,
	v.lock_enabled, v.lock_min_days, v.lock_max_days, v.lock_date,
	(SELECT COUNT(*) FROM backup_recovery_points r WHERE r.account_id = v.account_id AND r.region = v.region AND r.vault_name = v.name AND r.status <> 'DELETING')`

func scanVault(row interface{ Scan(...any) error }) (*Vault, error) {
	var v Vault
	var created, lockDate int64
	var locked int
	if err := row.Scan(&v.Name, &v.ARN, &v.Account, &v.Region, &v.EncryptionKeyARN, &v.CreatorRequestID, &v.AccessPolicy, &created,
		&locked, &v.Lock.MinRetentionDays, &v.Lock.MaxRetentionDays, &lockDate, &v.RecoveryPoints); err != nil {
		return nil, err
	}
	v.CreatedAt = time.Unix(0, created).UTC()
	v.Lock.Enabled, v.Lock.LockDate = locked != 0, unixTime(lockDate)
	return &v, nil
}

func (s *Service) loadVault(ctx context.Context, q meta.Querier, sc Scope, name string) (*Vault, error) {
	v, err := scanVault(q.QueryRowContext(ctx, `SELECT `+vaultColumns+` FROM backup_vaults v WHERE v.account_id = ? AND v.region = ? AND v.name = ?`, sc.Account, sc.Region, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("backup vault %s does not exist in account %s, region %s", name, sc.Account, sc.Region)
	}
	return v, err
}

// DescribeVault returns a vault of the caller's account.
func (s *Service) DescribeVault(ctx context.Context, name string) (*Vault, error) {
	return s.vault(ctx, name, "backup:DescribeBackupVault")
}

// ListVaults lists the caller's vaults in the request's region, by name.
func (s *Service) ListVaults(ctx context.Context, page Page) ([]*Vault, string, error) {
	sc, _, err := s.scope(ctx)
	if err != nil {
		return nil, "", err
	}
	if err := s.authz.Authorize(ctx, authz.Request{Action: "backup:ListBackupVaults", Resource: "*"}); err != nil {
		return nil, "", err
	}
	if _, err := s.loadVault(ctx, s.store, sc, DefaultVaultName); isNotFound(err) {
		if _, err := s.createDefaultVault(ctx, sc); err != nil {
			return nil, "", err
		}
	}
	after, limit, err := page.decode()
	if err != nil {
		return nil, "", err
	}
	rows, err := s.store.QueryContext(ctx, `SELECT `+vaultColumns+` FROM backup_vaults v WHERE v.account_id = ? AND v.region = ? AND v.name > ? ORDER BY v.name LIMIT ?`,
		sc.Account, sc.Region, after, limit+1)
	if err != nil {
		return nil, "", err
	}
	defer rows.Close()
	var out []*Vault
	for rows.Next() {
		v, err := scanVault(rows)
		if err != nil {
			return nil, "", err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = encodeToken(out[limit-1].Name)
	}
	return out, next, nil
}

// DeleteVault deletes an empty vault.
func (s *Service) DeleteVault(ctx context.Context, name string) error {
	v, err := s.vault(ctx, name, "backup:DeleteBackupVault")
	if err != nil {
		return err
	}
	return s.store.InTx(ctx, func(q meta.Querier) error {
		var n int
		if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM backup_recovery_points WHERE account_id = ? AND region = ? AND vault_name = ?`, v.Account, v.Region, v.Name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return invalidRequest("backup vault %s holds %d recovery points; delete them before deleting the vault", v.Name, n)
		}
		if _, err := q.ExecContext(ctx, `DELETE FROM backup_vaults WHERE account_id = ? AND region = ? AND name = ?`, v.Account, v.Region, v.Name); err != nil {
			return err
		}
		_, err := q.ExecContext(ctx, `DELETE FROM backup_tags WHERE resource_arn = ?`, v.ARN)
		return err
	})
}

// PutVaultAccessPolicy sets the vault's resource policy.
func (s *Service) PutVaultAccessPolicy(ctx context.Context, name, doc string) error {
	v, err := s.vault(ctx, name, "backup:PutBackupVaultAccessPolicy")
	if err != nil {
		return err
	}
	if doc == "" {
		return missingParam("Policy")
	}
	if _, err := policy.Parse([]byte(doc), policy.ParseOptions{Kind: policy.KindResource, MaxSize: maxVaultPolicySize}); err != nil {
		return InvalidParam("the access policy of backup vault %s is not valid: %v", v.Name, err)
	}
	_, err = s.store.ExecContext(ctx, `UPDATE backup_vaults SET access_policy = ? WHERE arn = ?`, doc, v.ARN)
	return err
}

// GetVaultAccessPolicy returns the vault and its policy.
func (s *Service) GetVaultAccessPolicy(ctx context.Context, name string) (*Vault, error) {
	v, err := s.vault(ctx, name, "backup:GetBackupVaultAccessPolicy")
	if err != nil {
		return nil, err
	}
	if v.AccessPolicy == "" {
		return nil, notFound("backup vault %s has no access policy", v.Name)
	}
	return v, nil
}

// DeleteVaultAccessPolicy removes the vault's resource policy.
func (s *Service) DeleteVaultAccessPolicy(ctx context.Context, name string) error {
	v, err := s.vault(ctx, name, "backup:DeleteBackupVaultAccessPolicy")
	if err != nil {
		return err
	}
	_, err = s.store.ExecContext(ctx, `UPDATE backup_vaults SET access_policy = NULL WHERE arn = ?`, v.ARN)
	return err
}

// Page is a request for one page of a listing.
type Page struct {
	Token string
	Max   int // 0: the default of 1000
}

func (p Page) decode() (after string, limit int, err error) {
	limit = p.Max
	if limit == 0 {
		limit = 1000
	}
	if limit < 1 || limit > 1000 {
		return "", 0, InvalidParam("MaxResults must be between 1 and 1000, not %d", p.Max)
	}
	if p.Token != "" {
		b, err := base64.RawURLEncoding.DecodeString(p.Token)
		if err != nil {
			return "", 0, InvalidParam("NextToken is not a token this service issued")
		}
		after = string(b)
	}
	return after, limit, nil
}

func encodeToken(last string) string { return base64.RawURLEncoding.EncodeToString([]byte(last)) }

// region is the region the request was signed for.
func region(ctx context.Context) string { return reqctx.CallFrom(ctx).Region }
