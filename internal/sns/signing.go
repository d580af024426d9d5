package sns

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/coffer-dev/coffer/internal/meta"
)

// signer holds the key that signs messages and its certificate.
type signer struct {
	key     *rsa.PrivateKey
	certPEM []byte
}

// signingKeyID names the one signing key row; signingAAD binds its
// sealed form to that use.
const signingKeyID = "current"

var signingAAD = []byte("coffer sns signing key v1")

// loadSigner returns the signing key, creating it (RSA 2048 and a
// self-signed certificate valid ten years) on first use. Nodes sharing a
// database share the key: the first to insert wins.
func (s *Service) loadSigner(ctx context.Context) (*signer, error) {
	s.mu.Lock()
	sg := s.signer
	s.mu.Unlock()
	if sg != nil {
		return sg, nil
	}
	sg, err := s.readSigner(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		if err := s.createSigner(ctx); err != nil && !errors.Is(err, meta.ErrConflict) {
			return nil, err
		}
		sg, err = s.readSigner(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("sns signing key: %w", err)
	}
	s.mu.Lock()
	s.signer = sg
	s.mu.Unlock()
	return sg, nil
}

func (s *Service) readSigner(ctx context.Context) (*signer, error) {
	var cert, sealed string
	if err := s.store.QueryRowContext(ctx, `SELECT certificate, sealed_key FROM sns_signing_keys WHERE id = ?`, signingKeyID).Scan(&cert, &sealed); err != nil {
		return nil, err
	}
	raw, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil {
		return nil, err
	}
	der, err := s.sealer.Open(ctx, raw, signingAAD)
	if err != nil {
		return nil, fmt.Errorf("unseal: %w", err)
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, err
	}
	key, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("the stored signing key is not an RSA key")
	}
	return &signer{key: key, certPEM: []byte(cert)}, nil
}

func (s *Service) createSigner(ctx context.Context) error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return err
	}
	now := s.now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "sns.coffer.local", Organization: []string{"coffer"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(10, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	sealed, err := s.sealer.Seal(ctx, pkcs8, signingAAD)
	if err != nil {
		return fmt.Errorf("seal: %w", err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	_, err = s.store.ExecContext(ctx, `INSERT INTO sns_signing_keys (id, certificate, sealed_key, created_at) VALUES (?, ?, ?, ?)`,
		signingKeyID, string(certPEM), base64.StdEncoding.EncodeToString(sealed), now.UnixNano())
	return err
}

// Certificate returns the PEM certificate that verifies the signatures,
// served at SigningCertURL.
func (s *Service) Certificate(ctx context.Context) ([]byte, error) {
	sg, err := s.loadSigner(ctx)
	if err != nil {
		return nil, err
	}
	return sg.certPEM, nil
}

// stringToSign is SNS's canonical form of a message: name and value
// lines of the signed fields in byte order, Subject only when present.
func stringToSign(m *Message) string {
	var b strings.Builder
	add := func(k, v string) { b.WriteString(k + "\n" + v + "\n") }
	add("Message", m.Message)
	add("MessageId", m.MessageId)
	if m.Type == TypeNotification {
		if m.Subject != "" {
			add("Subject", m.Subject)
		}
		add("Timestamp", m.Timestamp)
		add("TopicArn", m.TopicArn)
		add("Type", m.Type)
		return b.String()
	}
	add("SubscribeURL", m.SubscribeURL)
	add("Timestamp", m.Timestamp)
	add("Token", m.Token)
	add("TopicArn", m.TopicArn)
	add("Type", m.Type)
	return b.String()
}

// sign sets the message's Signature: RSA PKCS#1 v1.5 over the SHA-256
// (SignatureVersion 2) or SHA-1 (SignatureVersion 1) of stringToSign.
func (sg *signer) sign(m *Message) error {
	var digest []byte
	var hash crypto.Hash
	switch m.SignatureVersion {
	case "2":
		d := sha256.Sum256([]byte(stringToSign(m)))
		digest, hash = d[:], crypto.SHA256
	case "1":
		d := sha1.Sum([]byte(stringToSign(m)))
		digest, hash = d[:], crypto.SHA1
	default:
		return fmt.Errorf("unknown SignatureVersion %q", m.SignatureVersion)
	}
	sig, err := rsa.SignPKCS1v15(rand.Reader, sg.key, hash, digest)
	if err != nil {
		return err
	}
	m.Signature = base64.StdEncoding.EncodeToString(sig)
	return nil
}
