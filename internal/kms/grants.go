package kms

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/coffer-dev/coffer/internal/awserr"
	"github.com/coffer-dev/coffer/internal/identity"
	"github.com/coffer-dev/coffer/internal/meta"
)

// GrantConstraints limit a grant to requests whose encryption context
// contains (Subset) or equals (Equals) the given pairs.
type GrantConstraints struct {
	EncryptionContextSubset map[string]string `json:",omitempty"`
	EncryptionContextEquals map[string]string `json:",omitempty"`
}

func (c *GrantConstraints) satisfied(ec map[string]string) bool {
	if c == nil {
		return true
	}
	if c.EncryptionContextEquals != nil {
		if len(ec) != len(c.EncryptionContextEquals) {
			return false
		}
		for k, v := range c.EncryptionContextEquals {
			if got, ok := ec[k]; !ok || got != v {
				return false
			}
		}
	}
	for k, v := range c.EncryptionContextSubset {
		if got, ok := ec[k]; !ok || got != v {
			return false
		}
	}
	return true
}

var grantOperations = []string{"Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "ReEncryptFrom", "ReEncryptTo",
	"Sign", "Verify", "GetPublicKey", "CreateGrant", "RetireGrant", "DescribeKey", "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext",
	"GenerateMac", "VerifyMac"}

// operationsFor are the grant operations a key of this usage supports.
func operationsFor(usage string) []string {
	common := []string{"CreateGrant", "RetireGrant", "DescribeKey"}
	switch usage {
	case UsageSign:
		return append(common, "Sign", "Verify", "GetPublicKey")
	case UsageMAC:
		return append(common, "GenerateMac", "VerifyMac")
	}
	return append(common, "Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "ReEncryptFrom", "ReEncryptTo",
		"GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext", "GetPublicKey")
}

// grant is one row of kms_grants.
type grant struct {
	ID, KeyID, Name, Grantee, Retiring, IssuingAccount string
	Operations                                         []string
	Constraints                                        *GrantConstraints
	Token                                              string
	Created                                            time.Time
}

// grantToken is what CreateGrant hands back: the grant ID behind a MAC-
// free opaque encoding. A token only names a grant; whether the grant
// still exists is checked on use.
func grantToken(id string) string {
	return base64.RawURLEncoding.EncodeToString(append([]byte("coffer-grant-v1:"), id...))
}

func tokenGrantID(tok string) (string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || !strings.HasPrefix(string(b), "coffer-grant-v1:") {
		return "", false
	}
	id := strings.TrimPrefix(string(b), "coffer-grant-v1:")
	return id, len(id) == 64
}

// checkGrantTokens validates the GrantTokens parameter. Grants take
// effect here as soon as CreateGrant returns, so a token is never needed
// to use one; malformed tokens are refused as AWS refuses them.
func checkGrantTokens(toks []string) error {
	if len(toks) > 10 {
		return awserr.Validation("1 validation error detected: Value at 'grantTokens' failed to satisfy constraint: Member must have length less than or equal to 10")
	}
	for _, t := range toks {
		if _, ok := tokenGrantID(t); !ok {
			return awserr.New(awserr.Invalid, "InvalidGrantTokenException", "The grant token is not valid.")
		}
	}
	return nil
}

// principalNames are the ARNs a grant's principal can name the caller by:
// its own ARN and, for a role session, its role.
func principalNames(p *identity.Principal) []string {
	names := []string{p.ARN}
	if p.Type == identity.TypeAssumedRole {
		// arn:aws:sts::A:assumed-role/ROLE/SESSION -> arn:aws:iam::A:role/ROLE
		if _, rest, ok := strings.Cut(p.ARN, ":assumed-role/"); ok {
			role, _, _ := strings.Cut(rest, "/")
			names = append(names, fmt.Sprintf("arn:%s:iam::%s:role/%s", identity.Partition, p.AccountID, role))
		}
	}
	if p.Type == identity.TypeService {
		names = append(names, p.Name)
	}
	return names
}

// grantAllows reports whether a grant on k lets p perform op with the
// encryption context ec.
// It returns the ID of the grant that allows, or "".
func (s *Service) grantAllows(ctx context.Context, k *key, p *identity.Principal, op string, ec map[string]string) (string, error) {
	grants, err := s.loadGrants(ctx, `key_id = ?`, k.ID)
	if err != nil {
		return "", err
	}
	names := principalNames(p)
	for _, g := range grants {
		if slices.Contains(names, g.Grantee) && slices.Contains(g.Operations, op) && g.Constraints.satisfied(ec) {
			return g.ID, nil
		}
	}
	return "", nil
}

func (s *Service) loadGrants(ctx context.Context, where string, args ...any) ([]*grant, error) {
	rows, err := s.store.QueryContext(ctx, `SELECT id, key_id, name, grantee, retiring, issuing_account, operations, constraints, token, created_at
		FROM kms_grants WHERE `+where+` ORDER BY created_at, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("read grants: %w", err)
	}
	defer rows.Close()
	var out []*grant
	for rows.Next() {
		g := &grant{}
		var ops, cons string
		var created int64
		if err := rows.Scan(&g.ID, &g.KeyID, &g.Name, &g.Grantee, &g.Retiring, &g.IssuingAccount, &ops, &cons, &g.Token, &created); err != nil {
			return nil, err
		}
		g.Operations = strings.Split(ops, ",")
		if cons != "" {
			g.Constraints = new(GrantConstraints)
			if err := json.Unmarshal([]byte(cons), g.Constraints); err != nil {
				return nil, fmt.Errorf("grant %s constraints: %w", g.ID, err)
			}
		}
		g.Created = fromNanos(created)
		out = append(out, g)
	}
	return out, rows.Err()
}

// CreateGrantInput is CreateGrant's request.
type CreateGrantInput struct {
	Call
	KeyId             string
	GranteePrincipal  string
	RetiringPrincipal string
	Operations        []string
	Constraints       *GrantConstraints
	GrantTokens       []string
	Name              string
	DryRun            bool
}

// CreateGrantOutput is its answer.
type CreateGrantOutput struct {
	GrantId    string
	GrantToken string
}

func validGrantPrincipal(s string) bool {
	if strings.HasSuffix(s, ".amazonaws.com") && !strings.Contains(s, ":") {
		return true
	}
	parts := strings.SplitN(s, ":", 6)
	return len(parts) == 6 && parts[0] == "arn" && (parts[2] == "iam" || parts[2] == "sts") && validAccount(parts[4]) && parts[5] != ""
}

// CreateGrant adds a grant on a key. Cross-account callers name the key
// by its ARN; the grant's permissions are checked on use.
func (s *Service) CreateGrant(ctx context.Context, in *CreateGrantInput) (*CreateGrantOutput, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if !validGrantPrincipal(in.GranteePrincipal) {
		return nil, awserr.New(awserr.Invalid, "InvalidArnException", "GranteePrincipal %q is not a valid principal ARN or service principal", in.GranteePrincipal)
	}
	if in.RetiringPrincipal != "" && !validGrantPrincipal(in.RetiringPrincipal) {
		return nil, awserr.New(awserr.Invalid, "InvalidArnException", "RetiringPrincipal %q is not a valid principal ARN or service principal", in.RetiringPrincipal)
	}
	if len(in.Operations) == 0 {
		return nil, awserr.Validation("1 validation error detected: Value null at 'operations' failed to satisfy constraint: Member must not be null")
	}
	for _, op := range in.Operations {
		if !slices.Contains(grantOperations, op) {
			return nil, awserr.Validation("1 validation error detected: Value '%s' at 'operations' failed to satisfy constraint: Member must satisfy enum value set: [%s]", op, strings.Join(grantOperations, ", "))
		}
	}
	if len(in.Name) > 256 {
		return nil, awserr.Validation("Name must be at most 256 characters")
	}
	if c := in.Constraints; c != nil && c.EncryptionContextEquals != nil && c.EncryptionContextSubset != nil {
		return nil, awserr.Validation("a grant constraint has EncryptionContextEquals or EncryptionContextSubset, not both")
	}
	if err := checkGrantTokens(in.GrantTokens); err != nil {
		return nil, err
	}
	k, err := s.resolve(ctx, in.KeyId, in.region(ctx), opCreateGrant)
	if err != nil {
		return nil, err
	}
	ops := slices.Clone(in.Operations)
	slices.Sort(ops)
	ops = slices.Compact(ops)
	supported := operationsFor(k.Usage)
	for _, op := range ops {
		if !slices.Contains(supported, op) || (op == "GetPublicKey" && k.Spec == SpecSymmetric) ||
			(strings.HasPrefix(op, "GenerateDataKeyPair") && k.Spec != SpecSymmetric) {
			return nil, awserr.Validation("Grant operation %s is not valid for a %s key with key usage %s", op, k.Spec, k.Usage)
		}
	}
	extra := map[string][]string{
		"kms:GrantOperations":       ops,
		"kms:GranteePrincipal":      {in.GranteePrincipal},
		"kms:GrantIsForAWSResource": {fmt.Sprint(in.ViaService != "")},
	}
	if in.RetiringPrincipal != "" {
		extra["kms:RetiringPrincipal"] = []string{in.RetiringPrincipal}
	}
	if c := in.Constraints; c != nil {
		var keys []string
		for ck := range c.EncryptionContextEquals {
			keys = append(keys, ck)
		}
		for ck := range c.EncryptionContextSubset {
			keys = append(keys, ck)
		}
		slices.Sort(keys)
		if len(keys) > 0 {
			extra["kms:EncryptionContextKeys"] = keys
		}
	}
	if err := s.authorizeKey(ctx, k, opCreateGrant, in.Call, nil, extra); err != nil {
		return nil, err
	}
	if err := requireNotPendingDeletion(k); err != nil {
		return nil, err
	}
	if k.State == StateDisabled {
		return nil, requireEnabled(k)
	}
	if in.DryRun {
		return nil, dryRun()
	}
	var cons string
	if in.Constraints != nil {
		b, _ := json.Marshal(in.Constraints)
		cons = string(b)
	}
	// A grant ID is the hash of what makes it unique, so repeating a
	// named CreateGrant with the same parameters returns the same grant,
	// as AWS does.
	seed := randomBytes(32)
	if in.Name != "" {
		sum := sha256.Sum256([]byte(strings.Join([]string{k.ID, in.Name, in.GranteePrincipal, in.RetiringPrincipal, strings.Join(ops, ","), cons}, "\x00")))
		seed = sum[:]
	}
	id := hex.EncodeToString(seed)
	tok := grantToken(id)
	err = s.store.InTx(ctx, func(q meta.Querier) error {
		var existing string
		err := q.QueryRowContext(ctx, `SELECT id FROM kms_grants WHERE id = ?`, id).Scan(&existing)
		if err == nil {
			return nil
		}
		if !isNoRows(err) {
			return err
		}
		var n int
		if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM kms_grants WHERE key_id = ? AND grantee = ?`, k.ID, in.GranteePrincipal).Scan(&n); err != nil {
			return err
		}
		if n >= 500 {
			return awserr.New(awserr.Limit, "LimitExceededException", "a key can have at most 500 grants for one grantee principal")
		}
		_, err = q.ExecContext(ctx, `INSERT INTO kms_grants (id, key_id, name, grantee, retiring, issuing_account, operations, constraints, token, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, id, k.ID, in.Name, in.GranteePrincipal, in.RetiringPrincipal,
			fmt.Sprintf("arn:%s:iam::%s:root", identity.Partition, p.AccountID), strings.Join(ops, ","), cons, tok, nanos(s.now()))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create grant: %w", err)
	}
	return &CreateGrantOutput{GrantId: id, GrantToken: tok}, nil
}

// GrantListEntry is one grant of ListGrants and ListRetirableGrants.
type GrantListEntry struct {
	KeyId             string
	GrantId           string
	Name              string
	CreationDate      time.Time
	GranteePrincipal  string
	RetiringPrincipal string
	IssuingAccount    string
	Operations        []string
	Constraints       *GrantConstraints
}

// ListGrantsInput is ListGrants' request.
type ListGrantsInput struct {
	Call
	KeyId            string
	Limit            int
	Marker           string
	GrantId          string
	GranteePrincipal string
}

// ListGrantsOutput is ListGrants' and ListRetirableGrants' answer.
type ListGrantsOutput struct {
	Grants     []GrantListEntry
	NextMarker string
	Truncated  bool
}

func (s *Service) grantEntries(ctx context.Context, grants []*grant, limit int, marker string) (*ListGrantsOutput, error) {
	out := &ListGrantsOutput{Grants: []GrantListEntry{}}
	start := 0
	if marker != "" {
		start = -1
		for i, g := range grants {
			if g.ID == marker {
				start = i + 1
			}
		}
		if start < 0 {
			return nil, awserr.New(awserr.Invalid, "InvalidMarkerException", "the marker is not one that this operation returned")
		}
	}
	arns := map[string]string{}
	for _, g := range grants[start:] {
		if len(out.Grants) == limit {
			out.Truncated, out.NextMarker = true, out.Grants[limit-1].GrantId
			break
		}
		arn, ok := arns[g.KeyID]
		if !ok {
			if err := s.store.QueryRowContext(ctx, `SELECT arn FROM kms_keys WHERE id = ?`, g.KeyID).Scan(&arn); err != nil {
				return nil, fmt.Errorf("grant key: %w", err)
			}
			arns[g.KeyID] = arn
		}
		out.Grants = append(out.Grants, GrantListEntry{KeyId: arn, GrantId: g.ID, Name: g.Name, CreationDate: g.Created,
			GranteePrincipal: g.Grantee, RetiringPrincipal: g.Retiring, IssuingAccount: g.IssuingAccount, Operations: g.Operations, Constraints: g.Constraints})
	}
	return out, nil
}

// ListGrants lists a key's grants.
func (s *Service) ListGrants(ctx context.Context, in *ListGrantsInput) (*ListGrantsOutput, error) {
	limit, err := pageLimit(in.Limit, 100)
	if err != nil {
		return nil, err
	}
	k, err := s.resolve(ctx, in.KeyId, in.region(ctx), opListGrants)
	if err != nil {
		return nil, err
	}
	if err := s.authorizeKey(ctx, k, opListGrants, in.Call, nil, nil); err != nil {
		return nil, err
	}
	where, args := `key_id = ?`, []any{k.ID}
	if in.GrantId != "" {
		where, args = where+` AND id = ?`, append(args, in.GrantId)
	}
	if in.GranteePrincipal != "" {
		where, args = where+` AND grantee = ?`, append(args, in.GranteePrincipal)
	}
	grants, err := s.loadGrants(ctx, where, args...)
	if err != nil {
		return nil, err
	}
	return s.grantEntries(ctx, grants, limit, in.Marker)
}

// ListRetirableGrantsInput is ListRetirableGrants' request.
type ListRetirableGrantsInput struct {
	Call
	RetiringPrincipal string
	Limit             int
	Marker            string
}

// ListRetirableGrants lists the grants, in every key, that name a
// principal as retiring principal. It needs kms:ListRetirableGrants in
// the caller's IAM policy.
func (s *Service) ListRetirableGrants(ctx context.Context, in *ListRetirableGrantsInput) (*ListGrantsOutput, error) {
	limit, err := pageLimit(in.Limit, 100)
	if err != nil {
		return nil, err
	}
	if !validGrantPrincipal(in.RetiringPrincipal) {
		return nil, awserr.New(awserr.Invalid, "InvalidArnException", "RetiringPrincipal %q is not a valid principal ARN", in.RetiringPrincipal)
	}
	if err := s.authorizeIAM(ctx, "kms:ListRetirableGrants", "*", nil); err != nil {
		return nil, err
	}
	grants, err := s.loadGrants(ctx, `retiring = ?`, in.RetiringPrincipal)
	if err != nil {
		return nil, err
	}
	return s.grantEntries(ctx, grants, limit, in.Marker)
}

// RetireGrantInput is RetireGrant's request: a grant token, or a key and
// grant ID.
type RetireGrantInput struct {
	Call
	GrantToken string
	KeyId      string
	GrantId    string
	DryRun     bool
}

// RetireGrant deletes a grant. Only the grant's retiring principal, or
// its grantee when the grant includes RetireGrant, may retire it; key
// policies and IAM policies cannot give this permission.
func (s *Service) RetireGrant(ctx context.Context, in *RetireGrantInput) error {
	p, err := caller(ctx)
	if err != nil {
		return err
	}
	id := in.GrantId
	if in.GrantToken != "" {
		tid, ok := tokenGrantID(in.GrantToken)
		if !ok {
			return awserr.New(awserr.Invalid, "InvalidGrantTokenException", "The grant token is not valid.")
		}
		id = tid
	} else if in.KeyId == "" || in.GrantId == "" {
		return awserr.Validation("RetireGrant needs a GrantToken, or a KeyId and a GrantId")
	}
	grants, err := s.loadGrants(ctx, `id = ?`, id)
	if err != nil {
		return err
	}
	if len(grants) == 0 {
		return awserr.New(awserr.NotFound, "NotFoundException", "Grant ID %s not found", id)
	}
	g := grants[0]
	if in.KeyId != "" {
		k, err := s.resolve(ctx, in.KeyId, in.region(ctx), operation{Name: "RetireGrant", CrossAccount: true})
		if err != nil {
			return err
		}
		if k.ID != g.KeyID {
			return awserr.New(awserr.NotFound, "NotFoundException", "Grant ID %s not found on key %s", id, k.ARN)
		}
	}
	names := principalNames(p)
	allowed := slices.Contains(names, g.Retiring) || (slices.Contains(names, g.Grantee) && slices.Contains(g.Operations, "RetireGrant"))
	noteDecision(ctx, "kms:RetireGrant", "grant "+id, fmt.Sprintf("retiring principal or grantee: %v", allowed), allowed)
	if !allowed {
		return awserr.AccessDenied("%s is not authorized to perform: kms:RetireGrant on grant %s: only its retiring principal, or its grantee when the grant allows RetireGrant, may retire it", p.ARN, id)
	}
	if in.DryRun {
		return dryRun()
	}
	return s.exec(ctx, `DELETE FROM kms_grants WHERE id = ?`, id)
}

// RevokeGrantInput is RevokeGrant's request.
type RevokeGrantInput struct {
	Call
	KeyId   string
	GrantId string
	DryRun  bool
}

// RevokeGrant deletes a grant; it needs kms:RevokeGrant on the key.
func (s *Service) RevokeGrant(ctx context.Context, in *RevokeGrantInput) error {
	if in.GrantId == "" {
		return awserr.Validation("1 validation error detected: Value null at 'grantId' failed to satisfy constraint: Member must not be null")
	}
	k, err := s.resolve(ctx, in.KeyId, in.region(ctx), opRevokeGrant)
	if err != nil {
		return err
	}
	if err := s.authorizeKey(ctx, k, opRevokeGrant, in.Call, nil, nil); err != nil {
		return err
	}
	if in.DryRun {
		return dryRun()
	}
	res, err := s.store.ExecContext(ctx, `DELETE FROM kms_grants WHERE id = ? AND key_id = ?`, in.GrantId, k.ID)
	if err != nil {
		return fmt.Errorf("revoke grant: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return awserr.New(awserr.NotFound, "NotFoundException", "Grant ID %s not found on key %s", in.GrantId, k.ARN)
	}
	return nil
}
