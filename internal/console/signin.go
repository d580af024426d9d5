package console

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/coffer-dev/coffer/internal/audit"
	"github.com/coffer-dev/coffer/internal/identity"
)

// hiddenUser is what CloudTrail records as the user name of a failed
// sign-in: what was typed might be a password.
const hiddenUser = "HIDDEN_DUE_TO_SECURITY_REASONS"

type signinData struct {
	Token, Next, Account, User string
}

func (h *Handler) signinPage(w http.ResponseWriter, r *http.Request) {
	h.showSignin(w, r, http.StatusOK, r.URL.Query().Get("account"), "", "")
}

func (h *Handler) showSignin(w http.ResponseWriter, r *http.Request, status int, account, user, msg string) {
	token := randomToken()
	setCookie(w, r, signinCookie, token, 600)
	q := &request{w: w, r: r}
	h.render(q, status, "signin", "Sign in", signinData{Token: token, Next: safeNext(r.FormValue("next")), Account: account, User: user}, message(msg))
}

// safeNext keeps a post-sign-in destination inside the console.
func safeNext(next string) string {
	if strings.HasPrefix(next, "/console/") && !strings.HasPrefix(next, "//") && !strings.Contains(next, "\\") {
		return next
	}
	return "/console/"
}

func (h *Handler) signin(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie(signinCookie)
	if err != nil || !sameToken(r.PostFormValue("csrf"), c.Value) || checkOrigin(r) != nil {
		http.Error(w, "the sign-in form's CSRF token is missing or stale; reload the page and try again", http.StatusForbidden)
		return
	}
	account, user := strings.TrimSpace(r.PostFormValue("account")), strings.TrimSpace(r.PostFormValue("username"))
	res, err := h.opts.Identity.ConsoleSignIn(r.Context(), account, user, r.PostFormValue("password"))
	ev := h.loginEvent(r, account, safeNext(r.PostFormValue("next")), false)
	if err != nil {
		if h.failedLogin(w, ev, err) {
			h.showSignin(w, r, http.StatusUnauthorized, account, user, signinMessage(err))
		}
		return
	}
	if res.MFARequired {
		// The sign-in is recorded once the MFA code is checked.
		id, pending := h.sessions.startMFA(res.Principal.AccountID, res.Principal.Name, safeNext(r.PostFormValue("next")))
		setCookie(w, r, signinCookie, "", -1)
		setCookie(w, r, mfaCookie, id, int(mfaWait/time.Second))
		h.render(&request{w: w, r: r}, http.StatusOK, "mfa", "Multi-factor authentication", pending.csrf, nil)
		return
	}
	h.startSession(w, r, ev, res, safeNext(r.PostFormValue("next")))
}

// startSession records the successful ConsoleLogin and starts the
// user's session.
func (h *Handler) startSession(w http.ResponseWriter, r *http.Request, ev audit.Event, res identity.SignIn, next string) {
	p := res.Principal
	ev.HTTPStatus, ev.PrincipalARN, ev.PrincipalID, ev.UserName = http.StatusOK, p.ARN, p.UserID, p.Name
	h.opts.Audit.Record(ev)
	id, _ := h.sessions.create(p.AccountID, p.Name, h.opts.Regions[0], res.MustChangePassword)
	setCookie(w, r, signinCookie, "", -1)
	setCookie(w, r, mfaCookie, "", -1)
	setCookie(w, r, sessionCookie, id, int(h.opts.MaxLifetime/time.Second))
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// signinMFA is the second step of a sign-in with MFA: the code.
func (h *Handler) signinMFA(w http.ResponseWriter, r *http.Request) {
	pending := h.sessions.pendingMFA(r)
	if pending == nil {
		http.Redirect(w, r, "/console/signin", http.StatusSeeOther)
		return
	}
	if !sameToken(r.PostFormValue("csrf"), pending.csrf) || checkOrigin(r) != nil {
		http.Error(w, "the form's CSRF token is missing or stale; sign in again", http.StatusForbidden)
		return
	}
	ev := h.loginEvent(r, pending.account, pending.next, true)
	res, err := h.opts.Identity.ConsoleSignInMFA(r.Context(), pending.account, pending.user, strings.TrimSpace(r.PostFormValue("code")))
	if err != nil {
		if !h.failedLogin(w, ev, err) {
			return
		}
		if errors.Is(err, identity.ErrLockedOut) {
			h.sessions.endMFA(r)
			h.showSignin(w, r, http.StatusUnauthorized, pending.account, pending.user, signinMessage(err))
			return
		}
		h.render(&request{w: w, r: r}, http.StatusUnauthorized, "mfa", "Multi-factor authentication", pending.csrf, message(signinMessage(err)))
		return
	}
	h.sessions.endMFA(r)
	h.startSession(w, r, ev, res, pending.next)
}

// failedLogin records a failed ConsoleLogin; it answers an error that is
// not a sign-in failure itself and then returns false.
func (h *Handler) failedLogin(w http.ResponseWriter, ev audit.Event, err error) bool {
	ev.HTTPStatus, ev.ErrorMessage, ev.UserName = http.StatusUnauthorized, "Failed authentication", hiddenUser
	h.opts.Audit.Record(ev)
	if !isSignInError(err) {
		h.internalError(w, err)
		return false
	}
	return true
}

// loginEvent is the ConsoleLogin event of a sign-in to account that goes
// on to the console page next; mfa tells whether it is the MFA code step.
// Its additionalEventData is CloudTrail's: MFAUsed, LoginTo (the console
// URL) and MobileVersion.
func (h *Handler) loginEvent(r *http.Request, account, next string, mfa bool) audit.Event {
	scheme, mfaUsed := "http", "No"
	if r.TLS != nil {
		scheme = "https"
	}
	if mfa {
		mfaUsed = "Yes"
	}
	data, _ := json.Marshal(struct{ LoginTo, MobileVersion, MFAUsed string }{scheme + "://" + r.Host + next, "No", mfaUsed})
	return audit.Event{Service: "signin", Operation: "ConsoleLogin", Region: h.opts.Regions[0], SourceIP: sourceIP(r), UserAgent: r.UserAgent(),
		RequestID: newRequestID(), AccountID: account, PrincipalType: string(identity.TypeUser), Parameters: []byte("null"), AdditionalData: data}
}

func isSignInError(err error) bool {
	return errors.Is(err, identity.ErrSignInFailed) || errors.Is(err, identity.ErrLockedOut) || errors.Is(err, identity.ErrPasswordExpired) || errors.Is(err, identity.ErrMFAFailed)
}

// signinMessage is what the sign-in page says of a failure.
func signinMessage(err error) string {
	switch {
	case errors.Is(err, identity.ErrLockedOut):
		return "Too many failed sign-in attempts. Sign-in for this user is locked for a while; an administrator can set a new password to unlock it."
	case errors.Is(err, identity.ErrMFAFailed):
		return "The MFA code is not valid. Enter the current code of your MFA device."
	case errors.Is(err, identity.ErrPasswordExpired):
		return "Your password has expired. Ask your administrator to reset it."
	}
	return "Your authentication information is incorrect. Please try again."
}

func (h *Handler) signout(q *request) {
	h.sessions.end(q.se)
	setCookie(q.w, q.r, sessionCookie, "", -1)
	http.Redirect(q.w, q.r, "/console/signin?account="+q.se.account, http.StatusSeeOther)
}

func (h *Handler) passwordPage(q *request) {
	h.render(q, http.StatusOK, "password", "Change password", q.se.mustChangePassword, nil)
}

func (h *Handler) changePassword(q *request) {
	old, pw := q.r.PostFormValue("old"), q.r.PostFormValue("new")
	if pw != q.r.PostFormValue("confirm") {
		h.render(q, http.StatusBadRequest, "password", "Change password", q.se.mustChangePassword, message("The new passwords do not match."))
		return
	}
	params := map[string]string{"OldPassword": old, "NewPassword": pw}
	err := h.call(q, "iam", "ChangePassword", params, func(ctx context.Context) error { return h.opts.Identity.ChangePassword(ctx, old, pw) })
	if err != nil {
		h.render(q, http.StatusOK, "password", "Change password", q.se.mustChangePassword, err)
		return
	}
	q.se.mustChangePassword = false
	h.sessions.update(q.se)
	redirect(q, "/console/", "Your password was changed.")
}

func (h *Handler) setRegion(q *request) {
	region := q.r.PostFormValue("region")
	for _, r := range h.opts.Regions {
		if r == region {
			q.se.region = region
			h.sessions.update(q.se)
		}
	}
	http.Redirect(q.w, q.r, safeNext(q.r.PostFormValue("next")), http.StatusSeeOther)
}

// msgError is a message of the console's own to show as a page's error.
type msgError string

func (m msgError) Error() string { return string(m) }

// message is msg as a page's error; nil when msg is empty.
func message(msg string) error {
	if msg == "" {
		return nil
	}
	return msgError(msg)
}
