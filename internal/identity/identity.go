package identity

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"time"

	"github.com/coffer-dev/coffer/internal/meta"
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
}

// New returns the identity service.
func New(store meta.Store, keys rootkey.Provider, log *slog.Logger) *Service {
	return &Service{store: store, keys: keys, log: log, now: time.Now}
}

// Authenticate returns the credentials and principal of an access key, or
// an error wrapping sigv4.ErrUnknownAccessKey.
func (s *Service) Authenticate(ctx context.Context, accessKeyID string) (sigv4.Credentials, *Principal, error) {
	var account, user, userID string
	var sealed []byte
	err := s.store.QueryRowContext(ctx, `
		SELECT k.account_id, k.user_name, u.user_id, k.sealed_secret
		FROM access_keys k JOIN iam_users u ON u.account_id = k.account_id AND u.name = k.user_name
		JOIN accounts a ON a.id = k.account_id
		WHERE k.access_key_id = ? AND k.status = 'Active' AND a.status = 'ACTIVE'`, accessKeyID).Scan(&account, &user, &userID, &sealed)
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
		ARN:         UserARN(account, "/", user),
		UserID:      userID,
		Name:        user,
		AccessKeyID: accessKeyID,
	}
	return sigv4.Credentials{AccessKeyID: accessKeyID, SecretAccessKey: string(secret)}, p, nil
}

// UserARN is arn:aws:iam::ACCOUNT:user/PATH/NAME.
func UserARN(account, path, name string) string {
	return fmt.Sprintf("arn:%s:iam::%s:user%s%s", Partition, account, path, name)
}

// accessKeyAAD binds a sealed secret to its access key ID.
func accessKeyAAD(id string) []byte { return []byte("iam/access-key/" + id) }

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

// NewSecretAccessKey returns a 40-character secret.
func NewSecretAccessKey() string {
	return randomString("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", 40)
}

func newUserID() string { return "AIDA" + randomString(upperAlnum, 17) }

func newOrgID() string { return "o-" + randomString("abcdefghijklmnopqrstuvwxyz0123456789", 10) }
