// Package identity is coffer's identity domain: accounts and AWS
// Organizations, the IAM subset (users, access keys, roles, inline and
// managed policies, tags), STS sessions, and the resolution of a request's
// access key to the principal making it and of that principal to the
// policies that apply to it (Subject, used by authz).
//
// Every operation takes the caller from the context (identity.Caller) and
// asks the authorizer before acting, as AWS does: IAM operations act in
// the caller's own account, Organizations operations in the caller's
// organization (managed by its management account), and AssumeRole
// evaluates the role's trust policy as a resource-based policy.
package identity

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coffer-dev/coffer/internal/authz"
	"github.com/coffer-dev/coffer/internal/memo"
	"github.com/coffer-dev/coffer/internal/meta"
	"github.com/coffer-dev/coffer/internal/policy"
	"github.com/coffer-dev/coffer/internal/rootkey"
	"github.com/coffer-dev/coffer/internal/sigv4"
)

// Partition is the only partition coffer serves.
const Partition = "aws"

// Service is the identity domain.
type Service struct {
	store meta.Store
	keys  rootkey.Provider
	log   *slog.Logger
	now   func() time.Time
	authz *authz.Authorizer

	// parsed caches policy documents read back from the store, which were
	// validated when written; keyed by the document text.
	mu     sync.Mutex
	parsed map[string]*policy.Policy

	// gen counts writes; keys and subjects cache answers (package memo).
	gen      atomic.Uint64
	keyCache *memo.Cache[authenticated]
	subCache *memo.Cache[Subject]
}

var _ authz.Subjects = (*Service)(nil)

// New returns the identity service.
func New(store meta.Store, keys rootkey.Provider, log *slog.Logger) *Service {
	s := &Service{keys: keys, log: log, now: time.Now, parsed: map[string]*policy.Policy{}}
	s.store = memo.Store{Store: store, Gen: &s.gen}
	s.keyCache, s.subCache = memo.New[authenticated](&s.gen), memo.New[Subject](&s.gen)
	s.authz = authz.New(s)
	return s
}

// Authorizer is the authorizer every domain asks, backed by this service's
// principals and policies.
func (s *Service) Authorizer() *authz.Authorizer { return s.authz }

// SetClock replaces the clock, for tests of expiry.
func (s *Service) SetClock(now func() time.Time) { s.now = now }

// Authenticate returns the credentials and principal of an access key
// (long-term AKIA... or temporary ASIA...), or an error wrapping
// sigv4.ErrUnknownAccessKey when the key is unknown, inactive, deleted,
// or belongs to a session of a role that no longer exists.
func (s *Service) Authenticate(ctx context.Context, accessKeyID string) (sigv4.Credentials, *Principal, error) {
	now := time.Now()
	if a, ok := s.keyCache.Get(accessKeyID, now); ok {
		p := *a.p
		return a.creds, &p, nil
	}
	gen := s.gen.Load()
	creds, p, err := s.authenticate(ctx, accessKeyID)
	if err == nil {
		cp := *p
		s.keyCache.Put(accessKeyID, gen, now, authenticated{creds, &cp})
	}
	return creds, p, err
}

type authenticated struct {
	creds sigv4.Credentials
	p     *Principal
}

func (s *Service) authenticate(ctx context.Context, accessKeyID string) (sigv4.Credentials, *Principal, error) {
	if strings.HasPrefix(accessKeyID, "ASIA") {
		return s.authenticateSession(ctx, accessKeyID)
	}
	var account, user string
	var userID, path sql.NullString
	var sealed []byte
	// A key without a user name is the account root's; a user's key
	// stops working when the user is deleted.
	err := s.store.QueryRowContext(ctx, `
		SELECT k.account_id, k.user_name, u.user_id, u.path, k.sealed_secret
		FROM access_keys k LEFT JOIN iam_users u ON u.account_id = k.account_id AND u.name = k.user_name
		JOIN accounts a ON a.id = k.account_id
		WHERE k.access_key_id = ? AND k.status = 'Active' AND a.status = 'ACTIVE' AND (k.user_name = '' OR u.user_id IS NOT NULL)`, accessKeyID).Scan(&account, &user, &userID, &path, &sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return sigv4.Credentials{}, nil, fmt.Errorf("access key %s: %w", accessKeyID, sigv4.ErrUnknownAccessKey)
	}
	if err != nil {
		return sigv4.Credentials{}, nil, fmt.Errorf("look up access key: %w", err)
	}
	secret, err := s.keys.Open(ctx, sealed, accessKeyAAD(accessKeyID))
	if err != nil {
		return sigv4.Credentials{}, nil, fmt.Errorf("open secret of access key %s: %w", accessKeyID, err)
	}
	p := &Principal{
		Type:        TypeUser,
		AccountID:   account,
		ARN:         UserARN(account, path.String, user),
		UserID:      userID.String,
		Name:        user,
		AccessKeyID: accessKeyID,
	}
	if user == "" {
		p.Type, p.ARN, p.UserID = TypeAccount, "arn:aws:iam::"+account+":root", account
	}
	return sigv4.Credentials{AccessKeyID: accessKeyID, SecretAccessKey: string(secret)}, p, nil
}

// sessionSecret is what sts_sessions.sealed holds.
type sessionSecret struct {
	Secret string `json:"s"`
	Token  string `json:"t"`
}

func (s *Service) authenticateSession(ctx context.Context, id string) (sigv4.Credentials, *Principal, error) {
	var (
		account, kind, roleName, roleID, userName, sessionName, policyDoc string
		chained                                                           bool
		sealed                                                            []byte
		expires                                                           int64
		rolePath, userID, userPath                                        sql.NullString
	)
	err := s.store.QueryRowContext(ctx, `
		SELECT s.account_id, s.kind, s.role_name, s.role_id, s.user_name, s.session_name, s.chained, s.session_policy, s.sealed, s.expires_at,
			r.path, u.user_id, u.path
		FROM sts_sessions s JOIN accounts a ON a.id = s.account_id
		LEFT JOIN iam_roles r ON s.kind = 'role' AND r.account_id = s.account_id AND r.name = s.role_name AND r.role_id = s.role_id
		LEFT JOIN iam_users u ON s.kind = 'user' AND u.account_id = s.account_id AND u.name = s.user_name
		WHERE s.access_key_id = ? AND a.status = 'ACTIVE'`, id).Scan(
		&account, &kind, &roleName, &roleID, &userName, &sessionName, &chained, &policyDoc, &sealed, &expires, &rolePath, &userID, &userPath)
	if errors.Is(err, sql.ErrNoRows) {
		return sigv4.Credentials{}, nil, fmt.Errorf("session %s: %w", id, sigv4.ErrUnknownAccessKey)
	}
	if err != nil {
		return sigv4.Credentials{}, nil, fmt.Errorf("look up session: %w", err)
	}
	p := &Principal{AccountID: account, AccessKeyID: id, Temporary: true, Expires: time.Unix(0, expires)}
	switch kind {
	case "role":
		if !rolePath.Valid {
			return sigv4.Credentials{}, nil, fmt.Errorf("session %s: role %s was deleted: %w", id, roleName, sigv4.ErrUnknownAccessKey)
		}
		p.Type, p.Name = TypeAssumedRole, roleName
		p.ARN = AssumedRoleARN(account, roleName, sessionName)
		p.UserID = roleID + ":" + sessionName
		p.RoleARN, p.RoleID, p.SessionName = RoleARN(account, rolePath.String, roleName), roleID, sessionName
		p.SessionPolicy, p.Chained = policyDoc, chained
	default:
		if !userID.Valid {
			return sigv4.Credentials{}, nil, fmt.Errorf("session %s: user %s was deleted: %w", id, userName, sigv4.ErrUnknownAccessKey)
		}
		p.Type, p.Name, p.UserID = TypeUser, userName, userID.String
		p.ARN = UserARN(account, userPath.String, userName)
	}
	plain, err := s.keys.Open(ctx, sealed, sessionAAD(id))
	if err != nil {
		return sigv4.Credentials{}, nil, fmt.Errorf("open secret of session %s: %w", id, err)
	}
	var sec sessionSecret
	if err := json.Unmarshal(plain, &sec); err != nil {
		return sigv4.Credentials{}, nil, fmt.Errorf("session %s: %w", id, err)
	}
	return sigv4.Credentials{AccessKeyID: id, SecretAccessKey: sec.Secret, SessionToken: sec.Token, Expires: p.Expires}, p, nil
}

// UserARN is arn:aws:iam::ACCOUNT:user/PATH/NAME.
func UserARN(account, path, name string) string {
	return fmt.Sprintf("arn:%s:iam::%s:user%s%s", Partition, account, path, name)
}

// RoleARN is arn:aws:iam::ACCOUNT:role/PATH/NAME.
func RoleARN(account, path, name string) string {
	return fmt.Sprintf("arn:%s:iam::%s:role%s%s", Partition, account, path, name)
}

// AssumedRoleARN is arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION (no path).
func AssumedRoleARN(account, role, session string) string {
	return fmt.Sprintf("arn:%s:sts::%s:assumed-role/%s/%s", Partition, account, role, session)
}

// RootARN is arn:aws:iam::ACCOUNT:root.
func RootARN(account string) string {
	return fmt.Sprintf("arn:%s:iam::%s:root", Partition, account)
}

// accessKeyAAD binds a sealed secret to its access key ID.
func accessKeyAAD(id string) []byte { return []byte("iam/access-key/" + id) }

// sessionAAD binds a sealed session secret to its access key ID.
func sessionAAD(id string) []byte { return []byte("sts/session/" + id) }

const upperAlnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

// randomString returns n characters drawn uniformly from alphabet.
func randomString(alphabet string, n int) string {
	b := make([]byte, n)
	max := big.NewInt(int64(len(alphabet)))
	for i := range b {
		v, err := rand.Int(rand.Reader, max)
		if err != nil {
			panic(err) // crypto/rand does not fail on supported platforms
		}
		b[i] = alphabet[v.Int64()]
	}
	return string(b)
}

// NewAccessKeyID returns an AWS-shaped long-term access key ID (AKIA...).
func NewAccessKeyID() string { return "AKIA" + randomString(upperAlnum, 16) }

func newSessionKeyID() string { return "ASIA" + randomString(upperAlnum, 16) }

// NewSecretAccessKey returns a 40-character secret.
func NewSecretAccessKey() string {
	return randomString("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", 40)
}

func newSessionToken() string {
	return "IQoJb3JpZ2luX2VjE" + randomString("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", 180)
}

func newUserID() string   { return "AIDA" + randomString(upperAlnum, 17) }
func newRoleID() string   { return "AROA" + randomString(upperAlnum, 17) }
func newPolicyID() string { return "ANPA" + randomString(upperAlnum, 17) }

func newOrgID() string { return "o-" + randomString("abcdefghijklmnopqrstuvwxyz0123456789", 10) }

func newRootID() string { return "r-" + randomString("abcdefghijklmnopqrstuvwxyz0123456789", 4) }

func newAccountID() string { return randomString("0123456789", 12) }

// parsePolicy parses a stored document, caching the result. Documents
// were validated when written; a failure here means the store was edited
// by hand.
func (s *Service) parsePolicy(doc string, kind policy.Kind) (*policy.Policy, error) {
	key := kind.String() + "\x00" + doc
	s.mu.Lock()
	p, ok := s.parsed[key]
	s.mu.Unlock()
	if ok {
		return p, nil
	}
	p, err := policy.Parse([]byte(doc), policy.ParseOptions{Kind: kind})
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if len(s.parsed) >= 4096 {
		clear(s.parsed)
	}
	s.parsed[key] = p
	s.mu.Unlock()
	return p, nil
}
