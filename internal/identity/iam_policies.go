package identity

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/coffer-dev/coffer/internal/meta"
	"github.com/coffer-dev/coffer/internal/policy"
)

// Inline policies of users and roles.

func inlineTable(kind string) (table, col string) {
	if kind == entityRole {
		return "iam_role_policies", "role_name"
	}
	return "iam_user_policies", "user_name"
}

// inlineLimit is IAM's quota on the total size of an entity's inline
// policies, whitespace not counted.
func inlineLimit(kind string) int {
	if kind == entityRole {
		return policy.MaxRoleInlineSize
	}
	return policy.MaxUserInlineSize
}

func policySize(doc string) int {
	n := 0
	for _, r := range doc {
		switch r {
		case ' ', '\t', '\n', '\r':
		default:
			n++
		}
	}
	return n
}

// PutEntityPolicy adds or replaces an inline policy of a user or role.
func (s *Service) PutEntityPolicy(ctx context.Context, kind, entityName, policyName, doc string) error {
	if err := checkPolicyName(policyName); err != nil {
		return err
	}
	p, name, err := s.entity(ctx, kind, "iam:Put"+entityNoun(kind)+"Policy", entityName)
	if err != nil {
		return err
	}
	limit := inlineLimit(kind)
	limitMsg := fmt.Sprintf("Maximum policy size of %d bytes exceeded for %s %s", limit, kind, name)
	if _, err := s.parseIAMPolicy(ctx, doc, policy.KindIdentity, limit, limitMsg); err != nil {
		return err
	}
	table, col := inlineTable(kind)
	return s.store.InTx(ctx, func(q meta.Querier) error {
		rows, err := q.QueryContext(ctx, `SELECT policy_name, document FROM `+table+` WHERE account_id = ? AND `+col+` = ?`, p.AccountID, name)
		if err != nil {
			return err
		}
		total := policySize(doc)
		for rows.Next() {
			var n, d string
			if err := rows.Scan(&n, &d); err != nil {
				rows.Close()
				return err
			}
			if n != policyName {
				total += policySize(d)
			}
		}
		rows.Close()
		if total > limit {
			return limitExceeded("%s", limitMsg)
		}
		if _, err := q.ExecContext(ctx, `DELETE FROM `+table+` WHERE account_id = ? AND `+col+` = ? AND policy_name = ?`, p.AccountID, name, policyName); err != nil {
			return err
		}
		_, err = q.ExecContext(ctx, `INSERT INTO `+table+` (account_id, `+col+`, policy_name, document) VALUES (?, ?, ?, ?)`, p.AccountID, name, policyName, doc)
		return err
	})
}

// GetEntityPolicy returns an inline policy document and the entity's
// stored name.
func (s *Service) GetEntityPolicy(ctx context.Context, kind, entityName, policyName string) (name, doc string, err error) {
	if err := checkPolicyName(policyName); err != nil {
		return "", "", err
	}
	p, name, err := s.entity(ctx, kind, "iam:Get"+entityNoun(kind)+"Policy", entityName)
	if err != nil {
		return "", "", err
	}
	table, col := inlineTable(kind)
	err = s.store.QueryRowContext(ctx, `SELECT document FROM `+table+` WHERE account_id = ? AND `+col+` = ? AND policy_name = ?`, p.AccountID, name, policyName).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", noSuchEntity("The %s policy with name %s cannot be found.", kind, policyName)
	}
	return name, doc, err
}

// ListEntityPolicies lists the names of a user's or role's inline policies.
func (s *Service) ListEntityPolicies(ctx context.Context, kind, entityName string) ([]string, error) {
	p, name, err := s.entity(ctx, kind, "iam:List"+entityNoun(kind)+"Policies", entityName)
	if err != nil {
		return nil, err
	}
	table, col := inlineTable(kind)
	rows, err := s.store.QueryContext(ctx, `SELECT policy_name FROM `+table+` WHERE account_id = ? AND `+col+` = ? ORDER BY policy_name`, p.AccountID, name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// DeleteEntityPolicy deletes an inline policy.
func (s *Service) DeleteEntityPolicy(ctx context.Context, kind, entityName, policyName string) error {
	if err := checkPolicyName(policyName); err != nil {
		return err
	}
	p, name, err := s.entity(ctx, kind, "iam:Delete"+entityNoun(kind)+"Policy", entityName)
	if err != nil {
		return err
	}
	table, col := inlineTable(kind)
	res, err := s.store.ExecContext(ctx, `DELETE FROM `+table+` WHERE account_id = ? AND `+col+` = ? AND policy_name = ?`, p.AccountID, name, policyName)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return noSuchEntity("The %s policy with name %s cannot be found.", kind, policyName)
	}
	return nil
}

// Managed policies.

// ManagedPolicy is a customer-managed or AWS-managed policy.
type ManagedPolicy struct {
	ARN, Name, PolicyID, Path, Description string
	DefaultVersion                         string
	AttachmentCount                        int
	AWSManaged                             bool
	Created, Updated                       time.Time
	Tags                                   []Tag
}

// PolicyVersion is one version of a managed policy.
type PolicyVersion struct {
	VersionID string
	Document  string
	IsDefault bool
	Created   time.Time
}

// AttachedPolicy names a managed policy attached to a user or role.
type AttachedPolicy struct{ Name, ARN string }

// MaxManagedPoliciesPerEntity is IAM's default quota of managed policies
// attached to one user or role.
const MaxManagedPoliciesPerEntity = 10

// PolicyARN is arn:aws:iam::ACCOUNT:policy/PATH/NAME.
func PolicyARN(account, path, name string) string {
	return fmt.Sprintf("arn:%s:iam::%s:policy%s%s", Partition, account, path, name)
}

var versionIDRe = regexp.MustCompile(`^v[1-9][0-9]*(\.[A-Za-z0-9-]*)?$`)

var policyARNRe = regexp.MustCompile(`^arn:aws:iam::(aws|\d{12}):policy(/.*)?/([\w+=,.@-]{1,128})$`)

// splitPolicyARN returns the account ("aws" for AWS-managed) of a policy ARN.
func splitPolicyARN(arn string) (account string, err error) {
	m := policyARNRe.FindStringSubmatch(arn)
	if m == nil {
		return "", invalidInput("ARN %s is not valid.", arn)
	}
	return m[1], nil
}

// CreatePolicy creates a customer-managed policy (version v1) in the
// caller's account.
func (s *Service) CreatePolicy(ctx context.Context, name, path, doc, description string, tags []Tag) (ManagedPolicy, error) {
	p, err := iamCaller(ctx)
	if err != nil {
		return ManagedPolicy{}, err
	}
	if err := checkPolicyName(name); err != nil {
		return ManagedPolicy{}, err
	}
	if path, err = cleanPath("path", path); err != nil {
		return ManagedPolicy{}, err
	}
	if len(description) > 1000 {
		return ManagedPolicy{}, validationError("1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 1000")
	}
	if err := checkTags(tags); err != nil {
		return ManagedPolicy{}, err
	}
	now := s.now().UTC()
	mp := ManagedPolicy{ARN: PolicyARN(p.AccountID, path, name), Name: name, PolicyID: newPolicyID(), Path: path, Description: description,
		DefaultVersion: "v1", Created: now, Updated: now, Tags: tags}
	if err := s.authorizeIAM(ctx, "iam:CreatePolicy", mp.ARN); err != nil {
		return ManagedPolicy{}, err
	}
	if _, err := s.parseIAMPolicy(ctx, doc, policy.KindIdentity, policy.MaxManagedSize, fmt.Sprintf("Cannot exceed quota for PolicySize: %d", policy.MaxManagedSize)); err != nil {
		return ManagedPolicy{}, err
	}
	err = s.store.InTx(ctx, func(q meta.Querier) error {
		_, err := q.ExecContext(ctx, `INSERT INTO iam_policies (arn, account_id, name, policy_id, path, description, default_version, next_version, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'v1', 2, ?, ?)`,
			mp.ARN, p.AccountID, name, mp.PolicyID, path, description, nanos(now), nanos(now))
		if errors.Is(err, meta.ErrConflict) {
			return entityExists("A policy called %s already exists. Duplicate names are not allowed.", name)
		}
		if err != nil {
			return err
		}
		if _, err := q.ExecContext(ctx, `INSERT INTO iam_policy_versions (policy_arn, version_id, document, created_at) VALUES (?, 'v1', ?, ?)`, mp.ARN, doc, nanos(now)); err != nil {
			return err
		}
		return putTags(ctx, q, p.AccountID, entityPolicy, mp.ARN, tags)
	})
	return mp, err
}

// policyForAction resolves a managed policy by ARN and authorizes action
// on it. Another account's policy is that account's resource: without a
// resource-based policy the caller is denied.
func (s *Service) policyForAction(ctx context.Context, action, arn string) (*Principal, ManagedPolicy, error) {
	p, err := iamCaller(ctx)
	if err != nil {
		return nil, ManagedPolicy{}, err
	}
	owner, err := splitPolicyARN(arn)
	if err != nil {
		return nil, ManagedPolicy{}, err
	}
	resourceAccount := owner
	if owner == "aws" {
		resourceAccount = p.AccountID // AWS-managed policies are readable by every account
	}
	if err := s.authz.Authorize(ctx, authzReq(action, arn, resourceAccount)); err != nil {
		return nil, ManagedPolicy{}, err
	}
	mp, err := s.findPolicy(ctx, s.store, p.AccountID, arn)
	return p, mp, err
}

func (s *Service) findPolicy(ctx context.Context, q meta.Querier, account, arn string) (ManagedPolicy, error) {
	if m, ok := awsManaged[arn]; ok {
		mp := m.info
		err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM iam_attachments WHERE account_id = ? AND policy_arn = ?`, account, arn).Scan(&mp.AttachmentCount)
		return mp, err
	}
	var mp ManagedPolicy
	var created, updated int64
	err := q.QueryRowContext(ctx, `SELECT arn, name, policy_id, path, description, default_version, created_at, updated_at,
		(SELECT COUNT(*) FROM iam_attachments a WHERE a.policy_arn = iam_policies.arn) FROM iam_policies WHERE arn = ? AND account_id = ?`, arn, account).
		Scan(&mp.ARN, &mp.Name, &mp.PolicyID, &mp.Path, &mp.Description, &mp.DefaultVersion, &created, &updated, &mp.AttachmentCount)
	if errors.Is(err, sql.ErrNoRows) {
		return ManagedPolicy{}, noSuchEntity("Policy %s does not exist or is not attachable.", arn)
	}
	if err != nil {
		return ManagedPolicy{}, fmt.Errorf("read policy %s: %w", arn, err)
	}
	mp.Created, mp.Updated = fromNanos(created), fromNanos(updated)
	return mp, nil
}

// GetPolicy returns a managed policy.
func (s *Service) GetPolicy(ctx context.Context, arn string) (ManagedPolicy, error) {
	p, mp, err := s.policyForAction(ctx, "iam:GetPolicy", arn)
	if err != nil {
		return ManagedPolicy{}, err
	}
	if !mp.AWSManaged {
		mp.Tags, err = s.tags(ctx, s.store, p.AccountID, entityPolicy, mp.ARN)
	}
	return mp, err
}

// GetPolicyVersion returns one version of a managed policy.
func (s *Service) GetPolicyVersion(ctx context.Context, arn, versionID string) (PolicyVersion, error) {
	if !versionIDRe.MatchString(versionID) {
		return PolicyVersion{}, validationError("1 validation error detected: Value '%s' at 'versionId' failed to satisfy constraint: Member must satisfy regular expression pattern: v[1-9][0-9]*(\\.[A-Za-z0-9-]*)?", versionID)
	}
	_, mp, err := s.policyForAction(ctx, "iam:GetPolicyVersion", arn)
	if err != nil {
		return PolicyVersion{}, err
	}
	if mp.AWSManaged {
		if versionID != mp.DefaultVersion {
			return PolicyVersion{}, noSuchEntity("Policy %s version %s does not exist or is not attachable.", arn, versionID)
		}
		return PolicyVersion{VersionID: versionID, Document: awsManaged[arn].doc, IsDefault: true, Created: mp.Created}, nil
	}
	v := PolicyVersion{VersionID: versionID, IsDefault: versionID == mp.DefaultVersion}
	var created int64
	err = s.store.QueryRowContext(ctx, `SELECT document, created_at FROM iam_policy_versions WHERE policy_arn = ? AND version_id = ?`, arn, versionID).Scan(&v.Document, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return PolicyVersion{}, noSuchEntity("Policy %s version %s does not exist or is not attachable.", arn, versionID)
	}
	v.Created = fromNanos(created)
	return v, err
}

// ListPolicies lists managed policies: scope "All" (default), "AWS" or
// "Local"; onlyAttached keeps those attached to an entity of the account.
func (s *Service) ListPolicies(ctx context.Context, scope string, onlyAttached bool, pathPrefix string) ([]ManagedPolicy, error) {
	p, err := iamCaller(ctx)
	if err != nil {
		return nil, err
	}
	switch scope {
	case "":
		scope = "All"
	case "All", "AWS", "Local":
	default:
		return nil, validationError("1 validation error detected: Value '%s' at 'scope' failed to satisfy constraint: Member must satisfy enum value set: [All, AWS, Local]", scope)
	}
	if pathPrefix == "" {
		pathPrefix = "/"
	}
	if err := s.authorizeIAM(ctx, "iam:ListPolicies", PolicyARN(p.AccountID, "/", "")); err != nil {
		return nil, err
	}
	var out []ManagedPolicy
	if scope != "Local" {
		for arn := range awsManaged {
			mp, err := s.findPolicy(ctx, s.store, p.AccountID, arn)
			if err != nil {
				return nil, err
			}
			out = append(out, mp)
		}
	}
	if scope != "AWS" {
		rows, err := s.store.QueryContext(ctx, `SELECT arn FROM iam_policies WHERE account_id = ?`, p.AccountID)
		if err != nil {
			return nil, err
		}
		var arns []string
		for rows.Next() {
			var a string
			if err := rows.Scan(&a); err != nil {
				rows.Close()
				return nil, err
			}
			arns = append(arns, a)
		}
		rows.Close()
		for _, a := range arns {
			mp, err := s.findPolicy(ctx, s.store, p.AccountID, a)
			if err != nil {
				return nil, err
			}
			out = append(out, mp)
		}
	}
	kept := out[:0]
	for _, mp := range out {
		if strings.HasPrefix(mp.Path, pathPrefix) && (!onlyAttached || mp.AttachmentCount > 0) {
			kept = append(kept, mp)
		}
	}
	sort.Slice(kept, func(i, j int) bool { return kept[i].ARN < kept[j].ARN })
	return kept, nil
}

// DeletePolicy deletes a customer-managed policy that is not attached.
func (s *Service) DeletePolicy(ctx context.Context, arn string) error {
	p, mp, err := s.policyForAction(ctx, "iam:DeletePolicy", arn)
	if err != nil {
		return err
	}
	if mp.AWSManaged {
		return awserrUnmodifiable(arn)
	}
	return s.store.InTx(ctx, func(q meta.Querier) error {
		var n int
		if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM iam_attachments WHERE policy_arn = ?`, arn).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return deleteConflict("Cannot delete a policy attached to entities.")
		}
		for _, stmt := range []string{
			`DELETE FROM iam_policy_versions WHERE policy_arn = ?`,
			`DELETE FROM iam_policies WHERE arn = ?`,
		} {
			if _, err := q.ExecContext(ctx, stmt, arn); err != nil {
				return err
			}
		}
		_, err := q.ExecContext(ctx, `DELETE FROM iam_tags WHERE account_id = ? AND entity_type = 'policy' AND entity_name = ?`, p.AccountID, arn)
		return err
	})
}

// AttachPolicy attaches a managed policy to a user or role.
func (s *Service) AttachPolicy(ctx context.Context, kind, entityName, arn string) error {
	p, name, err := s.entity(ctx, kind, "iam:Attach"+entityNoun(kind)+"Policy", entityName)
	if err != nil {
		return err
	}
	if _, err := splitPolicyARN(arn); err != nil {
		return err
	}
	if _, err := s.findPolicy(ctx, s.store, p.AccountID, arn); err != nil {
		return err
	}
	return s.store.InTx(ctx, func(q meta.Querier) error {
		var n int
		if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM iam_attachments WHERE account_id = ? AND entity_type = ? AND entity_name = ? AND policy_arn <> ?`, p.AccountID, kind, name, arn).Scan(&n); err != nil {
			return err
		}
		if n >= MaxManagedPoliciesPerEntity {
			return limitExceeded("Cannot exceed quota for PoliciesPer%s: %d", entityNoun(kind), MaxManagedPoliciesPerEntity)
		}
		if _, err := q.ExecContext(ctx, `DELETE FROM iam_attachments WHERE account_id = ? AND entity_type = ? AND entity_name = ? AND policy_arn = ?`, p.AccountID, kind, name, arn); err != nil {
			return err
		}
		_, err := q.ExecContext(ctx, `INSERT INTO iam_attachments (account_id, entity_type, entity_name, policy_arn) VALUES (?, ?, ?, ?)`, p.AccountID, kind, name, arn)
		return err
	})
}

// DetachPolicy detaches a managed policy from a user or role.
func (s *Service) DetachPolicy(ctx context.Context, kind, entityName, arn string) error {
	p, name, err := s.entity(ctx, kind, "iam:Detach"+entityNoun(kind)+"Policy", entityName)
	if err != nil {
		return err
	}
	if _, err := splitPolicyARN(arn); err != nil {
		return err
	}
	res, err := s.store.ExecContext(ctx, `DELETE FROM iam_attachments WHERE account_id = ? AND entity_type = ? AND entity_name = ? AND policy_arn = ?`, p.AccountID, kind, name, arn)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return noSuchEntity("Policy %s was not found.", arn)
	}
	return nil
}

// ListAttachedPolicies lists the managed policies attached to a user or role.
func (s *Service) ListAttachedPolicies(ctx context.Context, kind, entityName string) ([]AttachedPolicy, error) {
	p, name, err := s.entity(ctx, kind, "iam:ListAttached"+entityNoun(kind)+"Policies", entityName)
	if err != nil {
		return nil, err
	}
	rows, err := s.store.QueryContext(ctx, `SELECT policy_arn FROM iam_attachments WHERE account_id = ? AND entity_type = ? AND entity_name = ? ORDER BY policy_arn`, p.AccountID, kind, name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AttachedPolicy
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return nil, err
		}
		out = append(out, AttachedPolicy{Name: a[strings.LastIndexByte(a, '/')+1:], ARN: a})
	}
	return out, rows.Err()
}
