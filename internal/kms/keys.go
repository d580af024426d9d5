package kms

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/coffer-dev/coffer/internal/awserr"
	"github.com/coffer-dev/coffer/internal/meta"
	"github.com/coffer-dev/coffer/internal/policy"
)

// Tag is a key tag.
type Tag struct {
	TagKey   string
	TagValue string
}

// KeyMetadata is DescribeKey's answer.
type KeyMetadata struct {
	AWSAccountId                string
	KeyId                       string
	Arn                         string
	CreationDate                time.Time
	Enabled                     bool
	Description                 string
	KeyUsage                    string
	KeyState                    string
	DeletionDate                time.Time
	Origin                      string
	KeyManager                  string
	KeySpec                     string
	EncryptionAlgorithms        []string
	SigningAlgorithms           []string
	MacAlgorithms               []string
	MultiRegion                 bool
	PendingDeletionWindowInDays int
	CurrentKeyMaterialId        string
}

func (k *key) metadata() *KeyMetadata {
	info := specs[k.Spec]
	m := &KeyMetadata{
		AWSAccountId: k.Account, KeyId: k.ID, Arn: k.ARN, CreationDate: k.Created,
		Enabled: k.State == StateEnabled, Description: k.Description, KeyUsage: k.Usage, KeyState: k.State,
		Origin: "AWS_KMS", KeyManager: k.Manager, KeySpec: k.Spec,
		CurrentKeyMaterialId: materialID(k.ID, k.CurrentMaterial),
	}
	switch k.Usage {
	case UsageEncrypt:
		m.EncryptionAlgorithms = info.encrypt
	case UsageSign:
		m.SigningAlgorithms = info.signing
	case UsageMAC:
		m.MacAlgorithms = info.mac
	}
	if k.State == StatePendingDeletion {
		m.DeletionDate = k.DeletionDate
		m.PendingDeletionWindowInDays = k.PendingWindow
	}
	return m
}

// materialID names a material version the way KeyMaterialId does: 64 hex
// characters, derived from key and version.
func materialID(keyID string, version uint32) string {
	u := uuid.NewSHA1(uuid.MustParse(keyID), []byte(strconv.FormatUint(uint64(version), 10)))
	return strings.Repeat("0", 32) + strings.ReplaceAll(u.String(), "-", "")
}

// CreateKeyInput is CreateKey's request.
type CreateKeyInput struct {
	Call
	Policy                         string
	Description                    string
	KeyUsage                       string
	KeySpec                        string
	CustomerMasterKeySpec          string
	Origin                         string
	CustomKeyStoreId               string
	BypassPolicyLockoutSafetyCheck bool
	MultiRegion                    bool
	Tags                           []Tag
}

func checkTags(tags []Tag) error {
	if len(tags) > 50 {
		return awserr.New(awserr.Limit, "TagException", "a key can have at most 50 tags")
	}
	seen := map[string]bool{}
	for _, t := range tags {
		switch {
		case t.TagKey == "" || len(t.TagKey) > 128:
			return awserr.New(awserr.Invalid, "TagException", "tag keys must be 1 to 128 characters")
		case len(t.TagValue) > 256:
			return awserr.New(awserr.Invalid, "TagException", "tag values must be at most 256 characters")
		case strings.HasPrefix(strings.ToLower(t.TagKey), "aws:"):
			return awserr.New(awserr.Invalid, "TagException", "tag key %q uses the reserved prefix aws:", t.TagKey)
		case seen[t.TagKey]:
			return awserr.New(awserr.Invalid, "TagException", "duplicate tag key %q", t.TagKey)
		}
		seen[t.TagKey] = true
	}
	return nil
}

// CreateKey creates a customer-managed key in the caller's account.
func (s *Service) CreateKey(ctx context.Context, in *CreateKeyInput) (*KeyMetadata, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	spec := in.KeySpec
	if spec == "" {
		spec = in.CustomerMasterKeySpec
	}
	if spec == "" {
		spec = SpecSymmetric
	}
	if why, ok := unsupportedSpecs[spec]; ok {
		return nil, awserr.New(awserr.Invalid, "UnsupportedOperationException", "KeySpec %s is not supported by coffer: %s; use another key spec", spec, why)
	}
	info, ok := specs[spec]
	if !ok {
		return nil, awserr.Validation("1 validation error detected: Value '%s' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [%s]", spec, strings.Join(specNames(), ", "))
	}
	usage := in.KeyUsage
	if usage == "" {
		usage = UsageEncrypt
		if !contains(info.usages, UsageEncrypt) && contains(info.usages, UsageSign) {
			usage = UsageSign // ECC keys
		}
	}
	switch usage {
	case UsageEncrypt, UsageSign, UsageMAC:
	default:
		return nil, awserr.Validation("1 validation error detected: Value '%s' at 'keyUsage' failed to satisfy constraint: Member must satisfy enum value set: [SIGN_VERIFY, ENCRYPT_DECRYPT, GENERATE_VERIFY_MAC]", usage)
	}
	if !contains(info.usages, usage) {
		return nil, awserr.Validation("KeyUsage %s is not compatible with KeySpec %s", usage, spec)
	}
	if in.Origin != "" && in.Origin != "AWS_KMS" {
		return nil, awserr.New(awserr.Invalid, "UnsupportedOperationException", "Origin %s is not supported; coffer creates AWS_KMS keys only", in.Origin)
	}
	if in.MultiRegion || in.CustomKeyStoreId != "" {
		return nil, awserr.New(awserr.Invalid, "UnsupportedOperationException", "multi-Region keys and custom key stores are not supported")
	}
	if len(in.Description) > 8192 {
		return nil, awserr.Validation("Description must be at most 8192 characters")
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	region := in.region(ctx)
	cond := map[string][]string{"kms:KeySpec": {spec}, "kms:KeyUsage": {usage}, "kms:KeyOrigin": {"AWS_KMS"}, policy.KeyKMSCallerAccount: {p.AccountID}}
	var tagKeys []string
	for _, t := range in.Tags {
		cond[policy.KeyRequestTagPrefix+t.TagKey] = []string{t.TagValue}
		tagKeys = append(tagKeys, t.TagKey)
	}
	if len(tagKeys) > 0 {
		cond[policy.KeyTagKeys] = tagKeys
	}
	if err := s.authorizeIAM(ctx, "kms:CreateKey", "*", cond); err != nil {
		return nil, err
	}
	id := uuid.NewString()
	k := &key{ID: id, ARN: KeyARN(region, p.AccountID, id), Account: p.AccountID, Region: region, Description: in.Description,
		Spec: spec, Usage: usage, Manager: ManagerCustomer, State: StateEnabled, Created: s.now().UTC(), PolicyVersion: 1, CurrentMaterial: 1}
	if in.Policy == "" {
		k.Policy = DefaultKeyPolicy(p.AccountID)
	} else {
		pol, err := parseKeyPolicy(in.Policy)
		if err != nil {
			return nil, err
		}
		if !in.BypassPolicyLockoutSafetyCheck {
			if err := s.lockoutCheck(ctx, k.ARN, k.Account, pol); err != nil {
				return nil, err
			}
		}
		k.Policy = in.Policy
	}
	if err := s.insertNewKey(ctx, k, in.Tags, nil); err != nil {
		return nil, err
	}
	s.log.Info("key created", "key", k.ARN, "spec", spec, "usage", usage)
	return k.metadata(), nil
}

// insertNewKey writes a new key with its first material version, its
// tags and optionally an alias, after writing the wrapped material to
// the region's blob store.
func (s *Service) insertNewKey(ctx context.Context, k *key, tags []Tag, also func(q meta.Querier) error) error {
	insMaterial, err := s.newMaterial(ctx, k, 1, "")
	if err != nil {
		return err
	}
	if err := s.writeDRMetadata(ctx, k); err != nil {
		return err
	}
	return s.store.InTx(ctx, func(q meta.Querier) error {
		if err := insertKey(ctx, q, k); err != nil {
			return err
		}
		if err := insMaterial(q); err != nil {
			return err
		}
		for _, t := range tags {
			if _, err := q.ExecContext(ctx, `INSERT INTO kms_tags (key_id, tag_key, tag_value) VALUES (?, ?, ?)`, k.ID, t.TagKey, t.TagValue); err != nil {
				return fmt.Errorf("insert tag: %w", err)
			}
		}
		if also != nil {
			return also(q)
		}
		return nil
	})
}

func specNames() []string {
	return []string{SpecRSA2048, SpecRSA3072, SpecRSA4096, SpecP256, SpecP384, SpecP521, SpecP256K1, SpecSymmetric, SpecHMAC224, SpecHMAC256, SpecHMAC384, SpecHMAC512, "SM2", SpecMLDSA44, SpecMLDSA65, SpecMLDSA87, SpecEd25519}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// KeyInput names a key, for operations that take nothing else.
type KeyInput struct {
	Call
	KeyId       string
	GrantTokens []string
}

// DescribeKey returns a key's metadata; it works in every key state and
// across accounts.
func (s *Service) DescribeKey(ctx context.Context, in *KeyInput) (*KeyMetadata, error) {
	if err := checkGrantTokens(in.GrantTokens); err != nil {
		return nil, err
	}
	k, err := s.resolve(ctx, in.KeyId, in.region(ctx), opDescribeKey)
	if err != nil {
		return nil, err
	}
	if err := s.authorizeKey(ctx, k, opDescribeKey, in.Call, nil, nil); err != nil {
		return nil, err
	}
	return k.metadata(), nil
}

// ListKeysInput pages through the caller's keys in a region.
type ListKeysInput struct {
	Call
	Limit  int
	Marker string
}

// KeyListEntry is one key of ListKeys.
type KeyListEntry struct {
	KeyId  string
	KeyArn string
}

// ListKeysOutput is ListKeys' answer.
type ListKeysOutput struct {
	Keys       []KeyListEntry
	NextMarker string `json:",omitempty"`
	Truncated  bool
}

func pageLimit(limit, max int) (int, error) {
	if limit == 0 {
		return 100, nil
	}
	if limit < 1 || limit > max {
		return 0, awserr.Validation("1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value between 1 and %d", limit, max)
	}
	return limit, nil
}

// ListKeys lists the keys of the caller's account in the region.
func (s *Service) ListKeys(ctx context.Context, in *ListKeysInput) (*ListKeysOutput, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	limit, err := pageLimit(in.Limit, 1000)
	if err != nil {
		return nil, err
	}
	if in.Marker != "" && !uuidRE.MatchString(in.Marker) {
		return nil, awserr.New(awserr.Invalid, "InvalidMarkerException", "the marker is not one that ListKeys returned")
	}
	if err := s.authorizeIAM(ctx, "kms:ListKeys", "*", nil); err != nil {
		return nil, err
	}
	region := in.region(ctx)
	rows, err := s.store.QueryContext(ctx, `SELECT id, arn FROM kms_keys WHERE account_id = ? AND region = ? AND state <> 'Deleted' AND id > ? ORDER BY id LIMIT ?`, p.AccountID, region, in.Marker, limit+1)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	defer rows.Close()
	out := &ListKeysOutput{Keys: []KeyListEntry{}}
	for rows.Next() {
		var e KeyListEntry
		if err := rows.Scan(&e.KeyId, &e.KeyArn); err != nil {
			return nil, err
		}
		out.Keys = append(out.Keys, e)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out.Keys) > limit {
		out.Keys = out.Keys[:limit]
		out.Truncated, out.NextMarker = true, out.Keys[limit-1].KeyId
	}
	return out, nil
}

// UpdateKeyDescriptionInput is UpdateKeyDescription's request.
type UpdateKeyDescriptionInput struct {
	Call
	KeyId       string
	Description string
}

// UpdateKeyDescription replaces a key's description.
func (s *Service) UpdateKeyDescription(ctx context.Context, in *UpdateKeyDescriptionInput) error {
	if len(in.Description) > 8192 {
		return awserr.Validation("Description must be at most 8192 characters")
	}
	k, err := s.manage(ctx, in.KeyId, in.Call, opUpdateDescription)
	if err != nil {
		return err
	}
	if err := requireNotPendingDeletion(k); err != nil {
		return err
	}
	return s.exec(ctx, `UPDATE kms_keys SET description = ? WHERE id = ?`, in.Description, k.ID)
}

// manage resolves and authorizes a management operation (not
// cross-account).
func (s *Service) manage(ctx context.Context, keyID string, c Call, op operation) (*key, error) {
	k, err := s.resolve(ctx, keyID, c.region(ctx), op)
	if err != nil {
		return nil, err
	}
	if err := s.authorizeKey(ctx, k, op, c, nil, nil); err != nil {
		return nil, err
	}
	return k, nil
}

func (s *Service) exec(ctx context.Context, query string, args ...any) error {
	if _, err := s.store.ExecContext(ctx, query, args...); err != nil {
		return fmt.Errorf("update key: %w", err)
	}
	return nil
}

// EnableKey sets a Disabled key to Enabled.
func (s *Service) EnableKey(ctx context.Context, in *KeyInput) error {
	k, err := s.manage(ctx, in.KeyId, in.Call, opEnableKey)
	if err != nil {
		return err
	}
	if err := requireNotPendingDeletion(k); err != nil {
		return err
	}
	return s.exec(ctx, `UPDATE kms_keys SET state = ? WHERE id = ? AND state = ?`, StateEnabled, k.ID, StateDisabled)
}

// DisableKey sets an Enabled key to Disabled.
func (s *Service) DisableKey(ctx context.Context, in *KeyInput) error {
	k, err := s.manage(ctx, in.KeyId, in.Call, opDisableKey)
	if err != nil {
		return err
	}
	if err := requireNotPendingDeletion(k); err != nil {
		return err
	}
	return s.exec(ctx, `UPDATE kms_keys SET state = ? WHERE id = ? AND state = ?`, StateDisabled, k.ID, StateEnabled)
}

// ScheduleKeyDeletionInput is ScheduleKeyDeletion's request.
type ScheduleKeyDeletionInput struct {
	Call
	KeyId               string
	PendingWindowInDays int
}

// ScheduleKeyDeletionOutput is its answer.
type ScheduleKeyDeletionOutput struct {
	KeyId               string
	DeletionDate        time.Time
	KeyState            string
	PendingWindowInDays int
}

// ScheduleKeyDeletion puts a key in PendingDeletion for 7 to 30 days
// (default 30); the sweeper destroys it when the window ends.
func (s *Service) ScheduleKeyDeletion(ctx context.Context, in *ScheduleKeyDeletionInput) (*ScheduleKeyDeletionOutput, error) {
	days := in.PendingWindowInDays
	if days == 0 {
		days = 30
	}
	if days < 7 || days > 30 {
		return nil, awserr.Validation("1 validation error detected: Value '%d' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value between 7 and 30", days)
	}
	k, err := s.manage(ctx, in.KeyId, in.Call, opScheduleDeletion)
	if err != nil {
		return nil, err
	}
	if err := requireNotPendingDeletion(k); err != nil {
		return nil, err
	}
	when := s.now().UTC().Add(time.Duration(days) * 24 * time.Hour)
	if err := s.exec(ctx, `UPDATE kms_keys SET state = ?, deletion_date = ?, pending_window_days = ? WHERE id = ?`, StatePendingDeletion, nanos(when), days, k.ID); err != nil {
		return nil, err
	}
	s.log.Info("key deletion scheduled", "key", k.ARN, "deletion_date", when)
	return &ScheduleKeyDeletionOutput{KeyId: k.ARN, DeletionDate: when, KeyState: StatePendingDeletion, PendingWindowInDays: days}, nil
}

// CancelKeyDeletion returns a PendingDeletion key to Disabled.
func (s *Service) CancelKeyDeletion(ctx context.Context, in *KeyInput) (string, error) {
	k, err := s.manage(ctx, in.KeyId, in.Call, opCancelDeletion)
	if err != nil {
		return "", err
	}
	if k.State != StatePendingDeletion {
		return "", awserr.New(awserr.Conflict, "KMSInvalidStateException", "%s is not pending deletion.", k.ARN)
	}
	if err := s.exec(ctx, `UPDATE kms_keys SET state = ?, deletion_date = 0, pending_window_days = 0 WHERE id = ? AND state = ?`, StateDisabled, k.ID, StatePendingDeletion); err != nil {
		return "", err
	}
	return k.ARN, nil
}

// KeyPolicyInput names a key policy.
type KeyPolicyInput struct {
	Call
	KeyId      string
	PolicyName string
}

func checkPolicyName(name string) error {
	if name != "" && name != "default" {
		return awserr.New(awserr.NotFound, "NotFoundException", "No such policy exists. The only valid policy name is \"default\".")
	}
	return nil
}

// GetKeyPolicy returns the key policy document.
func (s *Service) GetKeyPolicy(ctx context.Context, in *KeyPolicyInput) (string, error) {
	if err := checkPolicyName(in.PolicyName); err != nil {
		return "", err
	}
	k, err := s.manage(ctx, in.KeyId, in.Call, opGetKeyPolicy)
	if err != nil {
		return "", err
	}
	return k.Policy, nil
}

// ListKeyPolicies returns ["default"].
func (s *Service) ListKeyPolicies(ctx context.Context, in *KeyInput) ([]string, error) {
	if _, err := s.manage(ctx, in.KeyId, in.Call, opListKeyPolicies); err != nil {
		return nil, err
	}
	return []string{"default"}, nil
}

// PutKeyPolicyInput is PutKeyPolicy's request.
type PutKeyPolicyInput struct {
	Call
	KeyId                          string
	PolicyName                     string
	Policy                         string
	BypassPolicyLockoutSafetyCheck bool
}

// PutKeyPolicy replaces the key policy, after the lockout safety check.
func (s *Service) PutKeyPolicy(ctx context.Context, in *PutKeyPolicyInput) error {
	if err := checkPolicyName(in.PolicyName); err != nil {
		return err
	}
	if in.Policy == "" {
		return awserr.Validation("1 validation error detected: Value null at 'policy' failed to satisfy constraint: Member must not be null")
	}
	k, err := s.manage(ctx, in.KeyId, in.Call, opPutKeyPolicy)
	if err != nil {
		return err
	}
	if k.Manager == ManagerAWS {
		return awserr.AccessDenied("the key policy of the AWS managed key %s cannot be changed", k.ARN)
	}
	if err := requireNotPendingDeletion(k); err != nil {
		return err
	}
	pol, err := parseKeyPolicy(in.Policy)
	if err != nil {
		return err
	}
	if !in.BypassPolicyLockoutSafetyCheck {
		if err := s.lockoutCheck(ctx, k.ARN, k.Account, pol); err != nil {
			return err
		}
	}
	k.Policy = in.Policy
	if err := s.writeDRMetadata(ctx, k); err != nil {
		return err
	}
	return s.exec(ctx, `UPDATE kms_keys SET policy = ?, policy_version = policy_version + 1 WHERE id = ?`, in.Policy, k.ID)
}

// TagResourceInput is TagResource's request.
type TagResourceInput struct {
	Call
	KeyId string
	Tags  []Tag
}

// TagResource adds or replaces tags.
func (s *Service) TagResource(ctx context.Context, in *TagResourceInput) error {
	if err := checkTags(in.Tags); err != nil {
		return err
	}
	k, err := s.manage(ctx, in.KeyId, in.Call, opTagResource)
	if err != nil {
		return err
	}
	if err := requireNotPendingDeletion(k); err != nil {
		return err
	}
	return s.store.InTx(ctx, func(q meta.Querier) error {
		for _, t := range in.Tags {
			if _, err := q.ExecContext(ctx, `DELETE FROM kms_tags WHERE key_id = ? AND tag_key = ?`, k.ID, t.TagKey); err != nil {
				return err
			}
			if _, err := q.ExecContext(ctx, `INSERT INTO kms_tags (key_id, tag_key, tag_value) VALUES (?, ?, ?)`, k.ID, t.TagKey, t.TagValue); err != nil {
				return err
			}
		}
		var n int
		if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM kms_tags WHERE key_id = ?`, k.ID).Scan(&n); err != nil {
			return err
		}
		if n > 50 {
			return awserr.New(awserr.Limit, "TagException", "a key can have at most 50 tags")
		}
		return nil
	})
}

// UntagResourceInput is UntagResource's request.
type UntagResourceInput struct {
	Call
	KeyId   string
	TagKeys []string
}

// UntagResource removes tags.
func (s *Service) UntagResource(ctx context.Context, in *UntagResourceInput) error {
	k, err := s.manage(ctx, in.KeyId, in.Call, opUntagResource)
	if err != nil {
		return err
	}
	if err := requireNotPendingDeletion(k); err != nil {
		return err
	}
	return s.store.InTx(ctx, func(q meta.Querier) error {
		for _, tk := range in.TagKeys {
			if _, err := q.ExecContext(ctx, `DELETE FROM kms_tags WHERE key_id = ? AND tag_key = ?`, k.ID, tk); err != nil {
				return err
			}
		}
		return nil
	})
}

// ListResourceTags returns the key's tags (all of them: a key has at
// most 50).
func (s *Service) ListResourceTags(ctx context.Context, in *KeyInput) ([]Tag, error) {
	k, err := s.manage(ctx, in.KeyId, in.Call, opListResourceTags)
	if err != nil {
		return nil, err
	}
	tags, err := s.loadTags(ctx, k.ID)
	if tags == nil && err == nil {
		tags = []Tag{}
	}
	return tags, err
}
