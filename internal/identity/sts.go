package identity

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/coffer-dev/coffer/internal/authz"
	"github.com/coffer-dev/coffer/internal/meta"
	"github.com/coffer-dev/coffer/internal/policy"
)

// Credentials are temporary credentials.
type Credentials struct {
	AccessKeyID, SecretAccessKey, SessionToken string
	Expiration                                 time.Time
}

// AssumeRoleInput is what AssumeRole takes.
type AssumeRoleInput struct {
	RoleARN, RoleSessionName string
	DurationSeconds          int // 0 means 3600
	ExternalID               string
	// Policy is an optional session policy: the session gets the
	// intersection of the role's permissions and this policy.
	Policy string
}

// AssumedRole is AssumeRole's answer.
type AssumedRole struct {
	Credentials      Credentials
	AssumedRoleID    string // AROA...:SESSION
	ARN              string // arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION
	PackedPolicySize int    // percent of the session policy limit used; 0 without one
}

// STS limits.
const (
	MinSessionDuration      = 900
	ChainedSessionMax       = 3600
	DefaultSessionTokenSecs = 43200
	MaxSessionTokenSecs     = 129600
	maxSessionPolicySize    = 2048
)

var (
	roleARNRe     = regexp.MustCompile(`^arn:aws:iam::(\d{12}):role(/[\x21-\x7E]*)?/([\w+=,.@-]{1,64})$`)
	sessionNameRe = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
	externalIDRe  = regexp.MustCompile(`^[\w+=,.@:/-]+$`)
)

// AssumeRole returns temporary credentials for a role. The role's trust
// policy must allow the caller (naming it, its role, or its account, in
// which case the caller's identity-based policy must allow sts:AssumeRole
// too); across accounts both must allow. A role session may assume
// another role (role chaining, at most one hour), and its own role only
// when the trust policy names the role explicitly.
func (s *Service) AssumeRole(ctx context.Context, in AssumeRoleInput) (AssumedRole, error) {
	p, err := caller(ctx)
	if err != nil {
		return AssumedRole{}, err
	}
	if p.Type == TypeAccount {
		return AssumedRole{}, authz.Denied("AccessDenied", "Roles may not be assumed by root accounts.")
	}
	m := roleARNRe.FindStringSubmatch(in.RoleARN)
	if m == nil {
		return AssumedRole{}, validationError("%s is invalid: RoleArn must be the ARN of a role, arn:aws:iam::ACCOUNT:role/NAME", in.RoleARN)
	}
	if !sessionNameRe.MatchString(in.RoleSessionName) {
		return AssumedRole{}, validationError("1 validation error detected: Value '%s' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]* and have length between 2 and 64", in.RoleSessionName)
	}
	if in.ExternalID != "" && (len(in.ExternalID) < 2 || len(in.ExternalID) > 1224 || !externalIDRe.MatchString(in.ExternalID)) {
		return AssumedRole{}, validationError("1 validation error detected: Value at 'externalId' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@:\\/-]* and have length between 2 and 1224")
	}
	duration := in.DurationSeconds
	if duration == 0 {
		duration = DefaultMaxSessionDuration
	}
	if duration < MinSessionDuration || duration > MaxMaxSessionDuration {
		return AssumedRole{}, validationError("1 validation error detected: Value '%d' at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and 43200", duration)
	}
	packed := 0
	if in.Policy != "" {
		if _, err := policy.Parse([]byte(in.Policy), policy.ParseOptions{Kind: policy.KindIdentity}); err != nil {
			return AssumedRole{}, malformedPolicy("%s", err.Error())
		}
		size := policySize(in.Policy)
		if size > maxSessionPolicySize {
			return AssumedRole{}, awserrPacked(size)
		}
		packed = max(1, size*100/maxSessionPolicySize)
	}
	account, roleName := m[1], m[3]

	// The trust policy is the role's resource-based policy, always
	// required; a role that does not exist is answered like a trust
	// policy that does not allow the caller.
	req := authz.Request{
		Action: "sts:AssumeRole", Resource: in.RoleARN, ResourceAccount: account,
		ResourcePolicyRequired: true, DeniedCode: "AccessDenied",
		Context: map[string][]string{policy.KeySTSRoleSessionName: {in.RoleSessionName}},
	}
	if in.ExternalID != "" {
		req.Context[policy.KeySTSExternalID] = []string{in.ExternalID}
	}
	role, ferr := s.findRole(ctx, s.store, account, roleName)
	if ferr == nil && role.ARN == in.RoleARN {
		trust, err := s.parsePolicy(role.TrustPolicy, policy.KindTrust)
		if err != nil {
			return AssumedRole{}, fmt.Errorf("trust policy of %s: %w", role.ARN, err)
		}
		req.ResourcePolicy = trust
		// Assuming one's own role needs the trust policy to name the role
		// itself: the account delegation does not count.
		if p.Type == TypeAssumedRole && p.RoleID == role.RoleID && !namesRole(trust, role.ARN) {
			req.ResourcePolicy = trustsNobody
		}
	} else {
		req.ResourcePolicy = trustsNobody
	}
	if err := s.authz.Authorize(ctx, req); err != nil {
		return AssumedRole{}, err
	}
	if duration > role.MaxSessionDuration {
		return AssumedRole{}, validationError("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
	}
	chained := p.Type == TypeAssumedRole
	if chained && duration > ChainedSessionMax {
		return AssumedRole{}, validationError("The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.")
	}
	creds, err := s.createSession(ctx, session{
		account: account, kind: "role", roleName: role.Name, roleID: role.RoleID, sessionName: in.RoleSessionName,
		sourceARN: p.ARN, chained: chained, policy: in.Policy, duration: time.Duration(duration) * time.Second,
	})
	if err != nil {
		return AssumedRole{}, err
	}
	return AssumedRole{
		Credentials:      creds,
		AssumedRoleID:    role.RoleID + ":" + in.RoleSessionName,
		ARN:              AssumedRoleARN(account, role.Name, in.RoleSessionName),
		PackedPolicySize: packed,
	}, nil
}

// trustsNobody stands for the trust policy of a role that does not exist
// or may not be assumed: it allows nothing.
var trustsNobody = policy.MustParse(`{"Statement":[{"Effect":"Deny","Principal":"*","Action":"sts:NoSuchAction"}]}`)

func namesRole(trust *policy.Policy, roleARN string) bool {
	for _, st := range trust.Statements {
		if st.Effect == policy.Allow && st.Principal != nil && slices.Contains(st.Principal.AWS, roleARN) {
			return true
		}
	}
	return false
}

// GetSessionToken returns temporary credentials with the calling user's
// permissions. Only IAM users with long-term keys may call it.
func (s *Service) GetSessionToken(ctx context.Context, durationSeconds int) (Credentials, error) {
	p, err := caller(ctx)
	if err != nil {
		return Credentials{}, err
	}
	if p.Type != TypeUser || p.Temporary {
		return Credentials{}, authz.Denied("AccessDenied", "Cannot call GetSessionToken with session credentials")
	}
	if durationSeconds == 0 {
		durationSeconds = DefaultSessionTokenSecs
	}
	if durationSeconds < MinSessionDuration || durationSeconds > MaxSessionTokenSecs {
		return Credentials{}, validationError("1 validation error detected: Value '%d' at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and 129600", durationSeconds)
	}
	authz.NoPermissionRequired(ctx, "sts:GetSessionToken needs no permission")
	return s.createSession(ctx, session{
		account: p.AccountID, kind: "user", userName: p.Name, sourceARN: p.ARN,
		duration: time.Duration(durationSeconds) * time.Second,
	})
}

type session struct {
	account, kind, roleName, roleID, userName, sessionName, sourceARN, policy string
	chained                                                                   bool
	duration                                                                  time.Duration
}

func (s *Service) createSession(ctx context.Context, se session) (Credentials, error) {
	now := s.now()
	c := Credentials{AccessKeyID: newSessionKeyID(), SecretAccessKey: NewSecretAccessKey(), SessionToken: newSessionToken(), Expiration: now.Add(se.duration).UTC().Truncate(time.Second)}
	plain, _ := json.Marshal(sessionSecret{Secret: c.SecretAccessKey, Token: c.SessionToken})
	sealed, err := s.keys.Seal(ctx, plain, sessionAAD(c.AccessKeyID))
	if err != nil {
		return Credentials{}, fmt.Errorf("seal session: %w", err)
	}
	err = s.store.InTx(ctx, func(q meta.Querier) error {
		// Sessions expired for a day are of no more use to anyone.
		if _, err := q.ExecContext(ctx, `DELETE FROM sts_sessions WHERE expires_at < ?`, nanos(now.Add(-24*time.Hour))); err != nil {
			return err
		}
		_, err := q.ExecContext(ctx, `INSERT INTO sts_sessions (access_key_id, account_id, kind, role_name, role_id, user_name, session_name, source_arn, chained, session_policy, sealed, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			c.AccessKeyID, se.account, se.kind, se.roleName, se.roleID, se.userName, se.sessionName, se.sourceARN, boolInt(se.chained), se.policy, sealed, nanos(now), nanos(c.Expiration))
		return err
	})
	if err != nil {
		return Credentials{}, err
	}
	return c, nil
}

// AssumeRoleForService is how a service acts through a role it was given
// (a backup job's IamRoleArn): the role's trust policy must allow the
// service principal (backup.amazonaws.com). It returns the role session
// to put in the job's context with WithCaller; it has the role's
// permissions and no credentials.
func (s *Service) AssumeRoleForService(ctx context.Context, roleARN, service, sessionName string) (*Principal, error) {
	m := roleARNRe.FindStringSubmatch(roleARN)
	if m == nil {
		return nil, validationError("%s is not the ARN of a role", roleARN)
	}
	if !sessionNameRe.MatchString(sessionName) {
		return nil, validationError("session name %q must be 2-64 characters of [\\w+=,.@-]", sessionName)
	}
	role, err := s.findRole(ctx, s.store, m[1], m[3])
	if err != nil || role.ARN != roleARN {
		return nil, authz.Denied("AccessDenied", fmt.Sprintf("%s cannot assume %s: the role does not exist", service, roleARN))
	}
	trust, err := s.parsePolicy(role.TrustPolicy, policy.KindTrust)
	if err != nil {
		return nil, fmt.Errorf("trust policy of %s: %w", role.ARN, err)
	}
	sctx := WithCaller(ctx, ServicePrincipal(service))
	if err := s.authz.Authorize(sctx, authz.Request{Action: "sts:AssumeRole", Resource: role.ARN, ResourceAccount: role.AccountID,
		ResourcePolicy: trust, ResourcePolicyRequired: true, DeniedCode: "AccessDenied"}); err != nil {
		return nil, err
	}
	return &Principal{
		Type: TypeAssumedRole, AccountID: role.AccountID, Name: role.Name,
		ARN: AssumedRoleARN(role.AccountID, role.Name, sessionName), UserID: role.RoleID + ":" + sessionName,
		RoleARN: role.ARN, RoleID: role.RoleID, SessionName: sessionName, AssumedBy: service,
	}, nil
}

// EnsureBackupDefaultServiceRole returns the account's
// AWSBackupDefaultServiceRole, creating it as AWS Backup does when it is
// missing: path /service-role/, trusting backup.amazonaws.com, with the
// AWS-managed backup and restore policies attached. The Backup domain
// calls it when an operation needs the role; it is not an IAM operation
// of the caller.
func (s *Service) EnsureBackupDefaultServiceRole(ctx context.Context, account string) (Role, error) {
	if r, err := s.findRole(ctx, s.store, account, BackupDefaultServiceRoleName); err == nil {
		return r, nil
	}
	r := Role{AccountID: account, Path: "/service-role/", Name: BackupDefaultServiceRoleName, RoleID: newRoleID(),
		ARN: RoleARN(account, "/service-role/", BackupDefaultServiceRoleName), TrustPolicy: BackupServiceRoleTrust,
		Description:        "Provides AWS Backup permission to create backups and perform restores on your behalf across AWS services",
		MaxSessionDuration: DefaultMaxSessionDuration, Created: s.now().UTC()}
	err := s.store.InTx(ctx, func(q meta.Querier) error {
		if err := insertRole(ctx, q, r); err != nil {
			return err
		}
		for _, arn := range []string{BackupServiceRolePolicyARN, BackupRestoresRolePolicyARN} {
			if _, err := q.ExecContext(ctx, `INSERT INTO iam_attachments (account_id, entity_type, entity_name, policy_arn) VALUES (?, 'role', ?, ?)`, account, r.Name, arn); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil && strings.Contains(err.Error(), "already exists") {
		return s.findRole(ctx, s.store, account, BackupDefaultServiceRoleName) // created concurrently
	}
	return r, err
}
