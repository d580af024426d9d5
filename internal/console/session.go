package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"sync"
	"time"
)

const (
	sessionCookie = "coffer_console"
	signinCookie  = "coffer_console_signin"
	mfaCookie     = "coffer_console_mfa"
	cookiePath    = "/console/"
)

// session is one signed-in user.
type session struct {
	key                string // SHA-256 of the cookie value
	account, user      string
	csrf               string
	region             string
	created, lastUsed  time.Time
	mustChangePassword bool
	// roleKey is the access key of the role session the user switched
	// to (sts:AssumeRole), "" when acting as the user.
	roleKey string
}

// pendingSignIn is a sign-in whose password was right, waiting for the
// user's MFA code.
type pendingSignIn struct {
	account, user, csrf, next string
	expires                   time.Time
}

// mfaWait is how long a sign-in waits for its MFA code.
const mfaWait = 5 * time.Minute

// sessions holds the live sessions of this process.
type sessions struct {
	mu      sync.Mutex
	byID    map[string]*session
	pending map[string]*pendingSignIn
	idle    time.Duration
	max     time.Duration
	now     func() time.Time
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashToken(v string) string {
	h := sha256.Sum256([]byte(v))
	return string(h[:])
}

// create starts a session and returns its cookie value.
func (s *sessions) create(account, user, region string, mustChange bool) (string, *session) {
	id := randomToken()
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	se := &session{key: hashToken(id), account: account, user: user, csrf: randomToken(), region: region, created: now, lastUsed: now, mustChangePassword: mustChange}
	for k, old := range s.byID {
		if s.expired(old, now) {
			delete(s.byID, k)
		}
	}
	s.byID[se.key] = se
	return id, se
}

func (s *sessions) expired(se *session, now time.Time) bool {
	return now.Sub(se.lastUsed) > s.idle || now.Sub(se.created) > s.max
}

// get returns the live session of a request and marks it used; nil when
// there is none or it expired.
func (s *sessions) get(r *http.Request) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil
	}
	key := hashToken(c.Value)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	se, ok := s.byID[key]
	if !ok {
		return nil
	}
	if s.expired(se, now) {
		delete(s.byID, key)
		return nil
	}
	se.lastUsed = now
	cp := *se
	return &cp
}

// update stores changes to a session's region or password state.
func (s *sessions) update(se *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, ok := s.byID[se.key]; ok {
		cur.region, cur.mustChangePassword, cur.roleKey = se.region, se.mustChangePassword, se.roleKey
	}
}

func (s *sessions) end(se *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byID, se.key)
}

func setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: cookiePath, MaxAge: maxAge,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
}

// sameToken compares two tokens in constant time; empty never matches.
func sameToken(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// startMFA records a sign-in waiting for its MFA code and returns the
// value of its cookie.
func (s *sessions) startMFA(account, user, next string) (string, *pendingSignIn) {
	id := randomToken()
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for k, p := range s.pending {
		if now.After(p.expires) {
			delete(s.pending, k)
		}
	}
	p := &pendingSignIn{account: account, user: user, csrf: randomToken(), next: next, expires: now.Add(mfaWait)}
	s.pending[hashToken(id)] = p
	return id, p
}

// pendingMFA returns the sign-in of a request waiting for its MFA code.
func (s *sessions) pendingMFA(r *http.Request) *pendingSignIn {
	c, err := r.Cookie(mfaCookie)
	if err != nil || c.Value == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.pending[hashToken(c.Value)]
	if !ok || s.now().After(p.expires) {
		return nil
	}
	return p
}

// endMFA forgets a request's pending sign-in.
func (s *sessions) endMFA(r *http.Request) {
	if c, err := r.Cookie(mfaCookie); err == nil {
		s.mu.Lock()
		delete(s.pending, hashToken(c.Value))
		s.mu.Unlock()
	}
}
