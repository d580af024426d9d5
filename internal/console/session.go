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
}

// sessions holds the live sessions of this process.
type sessions struct {
	mu   sync.Mutex
	byID map[string]*session
	idle time.Duration
	max  time.Duration
	now  func() time.Time
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
		cur.region, cur.mustChangePassword = se.region, se.mustChangePassword
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
