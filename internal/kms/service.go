package kms

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/coffer-dev/coffer/internal/authz"
	"github.com/coffer-dev/coffer/internal/awserr"
	"github.com/coffer-dev/coffer/internal/blob"
	"github.com/coffer-dev/coffer/internal/identity"
	"github.com/coffer-dev/coffer/internal/memo"
	"github.com/coffer-dev/coffer/internal/meta"
	"github.com/coffer-dev/coffer/internal/policy"
	"github.com/coffer-dev/coffer/internal/reqctx"
	"github.com/coffer-dev/coffer/internal/rootkey"
)

// Key states, key managers.
const (
	StateEnabled         = "Enabled"
	StateDisabled        = "Disabled"
	StatePendingDeletion = "PendingDeletion"

	ManagerCustomer = "CUSTOMER"
	ManagerAWS      = "AWS"
)

// Options configure a Service.
type Options struct {
	Store      meta.Store
	RootKey    rootkey.Provider
	Authorizer *authz.Authorizer
	// RegionStore returns the blob store of a region, where wrapped key
	// material is written for disaster recovery.
	RegionStore func(region string) (blob.Store, error)
	Log         *slog.Logger
	// Now is the clock (deletion windows, rotation); time.Now when nil.
	Now func() time.Time
}

// Service is the KMS domain.
type Service struct {
	store   meta.Store
	root    rootkey.Provider
	authz   *authz.Authorizer
	regions func(string) (blob.Store, error)
	log     *slog.Logger
	now     func() time.Time

	prepOnce sync.Once
	loadStmt *sql.Stmt

	mu        sync.Mutex
	policies  map[string]cachedPolicy // key ID -> parsed policy at a version
	materials map[string]*material    // key ID + "/" + version

	// gen counts this service's writes; keys caches key rows read
	// outside transactions (package memo).
	gen  atomic.Uint64
	keys *memo.Cache[*key]
}

type cachedPolicy struct {
	version int64
	pol     *policy.Policy
}

// New returns the KMS service.
func New(o Options) *Service {
	s := &Service{root: o.RootKey, authz: o.Authorizer, regions: o.RegionStore, log: o.Log, now: o.Now,
		policies: map[string]cachedPolicy{}, materials: map[string]*material{}}
	s.store = memo.Store{Store: o.Store, Gen: &s.gen}
	s.keys = memo.New[*key](&s.gen)
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s
}

// Call carries what an internal caller sets explicitly and the HTTP
// adapter takes from the request: the region of the key and, for calls
// made by another service on a principal's behalf, that service's
// endpoint name (kms:ViaService, e.g. backup.us-east-1.amazonaws.com).
type Call struct {
	Region     string `json:"-"`
	ViaService string `json:"-"`
}

func (c Call) region(ctx context.Context) string {
	if c.Region != "" {
		return c.Region
	}
	return reqctx.CallFrom(ctx).Region
}

// key is one row of kms_keys.
type key struct {
	ID, ARN, Account, Region string
	Description, Spec, Usage string
	Manager, ManagedService  string
	State                    string
	Created, DeletionDate    time.Time
	PendingWindow            int
	Policy                   string
	PolicyVersion            int64
	CurrentMaterial          uint32
	RotationEnabled          bool
	RotationPeriod           int
	NextRotation             time.Time
	OnDemandRotations        int
	requestAlias             string // the alias the caller named the key by
}

func (k *key) uuid() uuid.UUID { return uuid.MustParse(k.ID) }

// KeyARN is arn:aws:kms:REGION:ACCOUNT:key/ID.
func KeyARN(region, account, id string) string {
	return fmt.Sprintf("arn:%s:kms:%s:%s:key/%s", identity.Partition, region, account, id)
}

// AliasARN is arn:aws:kms:REGION:ACCOUNT:alias/NAME (name with "alias/").
func AliasARN(region, account, name string) string {
	return fmt.Sprintf("arn:%s:kms:%s:%s:%s", identity.Partition, region, account, name)
}

// operation describes how an operation is authorized.
type operation struct {
	Name         string // "Encrypt"
	CrossAccount bool   // AWS allows it on another account's key
	GrantOp      string // the grant operation that permits it, "" if none
}

func (o operation) action() string { return "kms:" + o.Name }

var (
	opEncrypt           = operation{"Encrypt", true, "Encrypt"}
	opDecrypt           = operation{"Decrypt", true, "Decrypt"}
	opReEncryptFrom     = operation{"ReEncryptFrom", true, "ReEncryptFrom"}
	opReEncryptTo       = operation{"ReEncryptTo", true, "ReEncryptTo"}
	opGenerateDataKey   = operation{"GenerateDataKey", true, "GenerateDataKey"}
	opGenerateDataKeyWP = operation{"GenerateDataKeyWithoutPlaintext", true, "GenerateDataKeyWithoutPlaintext"}
	opGenerateDKPair    = operation{"GenerateDataKeyPair", true, "GenerateDataKeyPair"}
	opGenerateDKPairWP  = operation{"GenerateDataKeyPairWithoutPlaintext", true, "GenerateDataKeyPairWithoutPlaintext"}
	opDescribeKey       = operation{"DescribeKey", true, "DescribeKey"}
	opCreateGrant       = operation{"CreateGrant", true, "CreateGrant"}
	opListGrants        = operation{"ListGrants", true, ""}
	opRevokeGrant       = operation{"RevokeGrant", true, ""}
	opRotationStatus    = operation{"GetKeyRotationStatus", true, ""}
	opSign              = operation{"Sign", true, "Sign"}
	opVerify            = operation{"Verify", true, "Verify"}
	opGetPublicKey      = operation{"GetPublicKey", true, "GetPublicKey"}
	opGenerateMac       = operation{"GenerateMac", true, "GenerateMac"}
	opVerifyMac         = operation{"VerifyMac", true, "VerifyMac"}
	opUpdateDescription = operation{Name: "UpdateKeyDescription"}
	opGetKeyPolicy      = operation{Name: "GetKeyPolicy"}
	opPutKeyPolicy      = operation{Name: "PutKeyPolicy"}
	opListKeyPolicies   = operation{Name: "ListKeyPolicies"}
	opEnableKey         = operation{Name: "EnableKey"}
	opDisableKey        = operation{Name: "DisableKey"}
	opScheduleDeletion  = operation{Name: "ScheduleKeyDeletion"}
	opCancelDeletion    = operation{Name: "CancelKeyDeletion"}
	opEnableRotation    = operation{Name: "EnableKeyRotation"}
	opDisableRotation   = operation{Name: "DisableKeyRotation"}
	opRotateOnDemand    = operation{Name: "RotateKeyOnDemand"}
	opListRotations     = operation{Name: "ListKeyRotations"}
	opCreateAlias       = operation{Name: "CreateAlias"}
	opUpdateAlias       = operation{Name: "UpdateAlias"}
	opDeleteAlias       = operation{Name: "DeleteAlias"}
	opTagResource       = operation{Name: "TagResource"}
	opUntagResource     = operation{Name: "UntagResource"}
	opListResourceTags  = operation{Name: "ListResourceTags"}
)

var (
	uuidRE  = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	aliasRE = regexp.MustCompile(`^alias/[a-zA-Z0-9/_-]+$`)
)

func caller(ctx context.Context) (*identity.Principal, error) {
	p := identity.Caller(ctx)
	if p == nil {
		return nil, awserr.New(awserr.Unauthenticated, "MissingAuthenticationToken", "Request is missing Authentication Token")
	}
	return p, nil
}

func notFoundKey(arn string) error {
	return awserr.New(awserr.NotFound, "NotFoundException", "Key '%s' does not exist", arn)
}

func invalidKeyID(id string) error {
	return awserr.New(awserr.NotFound, "NotFoundException", "Invalid keyId '%s'", id)
}

func requireKeyID(id string) error {
	if id == "" {
		return awserr.Validation("1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null")
	}
	if len(id) > 2048 {
		return awserr.Validation("1 validation error detected: Value at 'keyId' failed to satisfy constraint: Member must have length less than or equal to 2048")
	}
	return nil
}

// resolve finds the key a KeyId names — a key ID, key ARN, alias name or
// alias ARN — as seen by the caller in region. Key IDs and aliases
// resolve only in the caller's own account; another account's key is
// named by its key ARN.
//
// Operations AWS does not allow across accounts ("Cross-account use: No"
// in each operation's API reference; the developer guide's "Allowing
// users in other accounts to use a KMS key" says such attempts fail) are
// refused with AccessDeniedException, naming the operation and key the
// way AWS's authorization failures do.
func (s *Service) resolve(ctx context.Context, keyID, region string, op operation) (*key, error) {
	return s.resolveWith(ctx, keyID, region, op, nil)
}

// resolveWith is resolve with the row of the key already read (Decrypt
// reads it to find the key of a ciphertext), or nil.
func (s *Service) resolveWith(ctx context.Context, keyID, region string, op operation, pre *key) (*key, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := requireKeyID(keyID); err != nil {
		return nil, err
	}
	account, id, alias := p.AccountID, keyID, ""
	switch {
	case strings.HasPrefix(keyID, "arn:"):
		parts := strings.SplitN(keyID, ":", 6)
		if len(parts) != 6 || parts[1] != identity.Partition || parts[2] != "kms" || !validAccount(parts[4]) {
			return nil, invalidKeyID(keyID)
		}
		if parts[3] != region {
			return nil, notFoundKey(keyID)
		}
		account = parts[4]
		switch res := parts[5]; {
		case strings.HasPrefix(res, "key/"):
			id = strings.TrimPrefix(res, "key/")
		case strings.HasPrefix(res, "alias/"):
			alias = res
			if account != p.AccountID {
				// Aliases resolve only in the caller's account.
				return nil, awserr.New(awserr.NotFound, "NotFoundException", "Alias '%s' is not found.", keyID)
			}
		default:
			return nil, invalidKeyID(keyID)
		}
	case strings.HasPrefix(keyID, "alias/"):
		alias = keyID
	}
	if alias != "" {
		err := s.store.QueryRowContext(ctx, `SELECT key_id FROM kms_aliases WHERE account_id = ? AND region = ? AND name = ?`, account, region, alias).Scan(&id)
		if isNoRows(err) {
			return nil, awserr.New(awserr.NotFound, "NotFoundException", "Alias '%s' is not found.", AliasARN(region, account, alias))
		}
		if err != nil {
			return nil, fmt.Errorf("look up alias: %w", err)
		}
	} else if !uuidRE.MatchString(id) {
		return nil, invalidKeyID(keyID)
	}
	k := pre
	if k == nil || k.ID != id {
		if k, err = s.loadKey(ctx, s.store, id); err != nil {
			return nil, err
		}
	}
	arn := KeyARN(region, account, id)
	if k == nil || k.Account != account || k.Region != region || k.State == stateDeleted {
		return nil, notFoundKey(arn)
	}
	k.requestAlias = alias
	if k.Account != p.AccountID && !op.CrossAccount {
		return nil, awserr.AccessDenied("%s: %s is not authorized to perform: %s on resource: %s because %s cannot be performed on a KMS key in a different AWS account",
			p.ARN, p.ARN, op.action(), k.ARN, op.action())
	}
	return k, nil
}

func validAccount(s string) bool {
	if len(s) != 12 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// authorizeKey asks whether the caller may perform op on k: the key
// policy must allow, directly or by delegating to the account's IAM
// policies; across accounts the caller's IAM policy must allow as well.
// When the policies leave the request implicitly denied, a grant for the
// caller and operation whose constraints the encryption context
// satisfies allows it.
func (s *Service) authorizeKey(ctx context.Context, k *key, op operation, c Call, ec map[string]string, extra map[string][]string) error {
	pol, err := s.keyPolicy(k)
	if err != nil {
		return err
	}
	p := identity.Caller(ctx)
	cond := map[string][]string{
		policy.KeyKMSCallerAccount: {p.AccountID},
		"kms:KeySpec":              {k.Spec},
		"kms:KeyUsage":             {k.Usage},
		"kms:KeyOrigin":            {"AWS_KMS"},
	}
	if c.ViaService != "" {
		cond[policy.KeyKMSViaService] = []string{c.ViaService}
	}
	if k.requestAlias != "" {
		cond["kms:RequestAlias"] = []string{k.requestAlias}
	}
	if len(ec) > 0 {
		keys := make([]string, 0, len(ec))
		for ek, ev := range ec {
			cond[policy.KeyKMSEncryptionContextPfx+ek] = []string{ev}
			keys = append(keys, ek)
		}
		slices.Sort(keys)
		cond[policy.KeyKMSEncryptionContextKey] = keys
	}
	for ck, cv := range extra {
		cond[ck] = cv
	}
	req := authz.Request{Action: op.action(), Resource: k.ARN, ResourceAccount: k.Account, ResourcePolicy: pol, Context: cond, ResourcePolicyRequired: true}
	d, pr, err := s.authz.Decide(ctx, req)
	if err != nil {
		return err
	}
	if d.IsAllowed() {
		noteDecision(ctx, req.Action, k.ARN, d.String(), true)
		return nil
	}
	if d.Outcome == policy.ImplicitDeny && op.GrantOp != "" {
		g, err := s.grantAllows(ctx, k, p, op.GrantOp, ec)
		if err != nil {
			return err
		}
		if g != "" {
			noteDecision(ctx, req.Action, k.ARN, "Allowed by grant "+g, true)
			return nil
		}
	}
	noteDecision(ctx, req.Action, k.ARN, d.String(), false)
	return authz.Denied("", d.Message(pr))
}

// noteDecision records an authorization outcome on the request for the
// audit trail (authz.Authorize does it for the decisions it makes).
func noteDecision(ctx context.Context, action, resource, outcome string, allowed bool) {
	call := reqctx.CallFrom(ctx)
	call.Decisions = append(call.Decisions, action+" on "+resource+": "+outcome)
	if allowed {
		call.Authorized = true
	}
}

// authorizeIAM asks the caller's IAM policies alone (operations without
// a key: CreateKey, ListKeys, ListAliases, GenerateRandom, and the alias
// side of the alias operations).
func (s *Service) authorizeIAM(ctx context.Context, action, resource string, cond map[string][]string) error {
	return s.authz.Authorize(ctx, authz.Request{Action: action, Resource: resource, Context: cond})
}

// keyPolicy returns the parsed key policy, cached per policy version.
func (s *Service) keyPolicy(k *key) (*policy.Policy, error) {
	s.mu.Lock()
	c, ok := s.policies[k.ID]
	s.mu.Unlock()
	if ok && c.version == k.PolicyVersion {
		return c.pol, nil
	}
	pol, err := policy.Parse([]byte(k.Policy), policy.ParseOptions{Kind: policy.KindResource})
	if err != nil {
		return nil, fmt.Errorf("stored policy of %s: %w", k.ARN, err)
	}
	s.mu.Lock()
	s.policies[k.ID] = cachedPolicy{k.PolicyVersion, pol}
	s.mu.Unlock()
	return pol, nil
}

// requireEnabled is the key-state check of cryptographic operations.
func requireEnabled(k *key) error {
	switch k.State {
	case StateEnabled:
		return nil
	case StateDisabled:
		return awserr.New(awserr.Conflict, "DisabledException", "%s is disabled.", k.ARN)
	case StatePendingDeletion:
		return awserr.New(awserr.Conflict, "KMSInvalidStateException", "%s is pending deletion.", k.ARN)
	}
	return awserr.New(awserr.Conflict, "KMSInvalidStateException", "%s is in state %s.", k.ARN, k.State)
}

func requireNotPendingDeletion(k *key) error {
	if k.State == StatePendingDeletion {
		return awserr.New(awserr.Conflict, "KMSInvalidStateException", "%s is pending deletion.", k.ARN)
	}
	return nil
}

func requireUsage(k *key, usage, op string) error {
	if k.Usage != usage {
		return awserr.New(awserr.Invalid, "InvalidKeyUsageException", "%s key usage is %s which is not valid for %s.", k.ARN, k.Usage, op)
	}
	return nil
}

func dryRun() error {
	return awserr.New(awserr.Conflict, "DryRunOperationException", "The request would have succeeded, but the DryRun option is set.").WithStatus(412)
}

// resolveUse resolves a key for a cryptographic operation: found,
// authorized, enabled.
func (s *Service) resolveUse(ctx context.Context, keyID string, c Call, op operation, ec map[string]string, grantTokens []string) (*key, error) {
	return s.resolveUseWith(ctx, keyID, c, op, ec, grantTokens, nil)
}

func (s *Service) resolveUseWith(ctx context.Context, keyID string, c Call, op operation, ec map[string]string, grantTokens []string, pre *key) (*key, error) {
	if err := checkGrantTokens(grantTokens); err != nil {
		return nil, err
	}
	if err := checkContext(ec); err != nil {
		return nil, err
	}
	k, err := s.resolveWith(ctx, keyID, c.region(ctx), op, pre)
	if err != nil {
		return nil, err
	}
	if err := s.authorizeKey(ctx, k, op, c, ec, nil); err != nil {
		return nil, err
	}
	if err := requireEnabled(k); err != nil {
		return nil, err
	}
	return k, nil
}

func checkContext(ec map[string]string) error {
	size := 0
	for k, v := range ec {
		if k == "" {
			return awserr.Validation("encryption context keys must not be empty")
		}
		size += len(k) + len(v)
	}
	if size > 8192 {
		return awserr.Validation("the encryption context is larger than 8192 bytes")
	}
	return nil
}
