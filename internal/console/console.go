package console

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/coffer-dev/coffer/internal/audit"
	"github.com/coffer-dev/coffer/internal/authz"
	"github.com/coffer-dev/coffer/internal/awserr"
	"github.com/coffer-dev/coffer/internal/backup"
	"github.com/coffer-dev/coffer/internal/identity"
	"github.com/coffer-dev/coffer/internal/kms"
	"github.com/coffer-dev/coffer/internal/meta"
	"github.com/coffer-dev/coffer/internal/protocol"
	"github.com/coffer-dev/coffer/internal/reqctx"
	"github.com/coffer-dev/coffer/internal/sigv4"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Identity is what the console needs of the identity domain.
type Identity interface {
	ConsoleSignIn(ctx context.Context, account, userName, password string) (identity.SignIn, error)
	ConsoleSignInMFA(ctx context.Context, account, userName, code string) (identity.SignIn, error)
	ConsolePrincipal(ctx context.Context, account, userName string) (*identity.Principal, error)
	ChangePassword(ctx context.Context, oldPassword, newPassword string) error
	DescribeOrganization(ctx context.Context) (identity.Organization, error)
	ListAccounts(ctx context.Context) ([]identity.Account, error)
	AssumeRole(ctx context.Context, in identity.AssumeRoleInput) (identity.AssumedRole, error)
	Authenticate(ctx context.Context, accessKeyID string) (sigv4.Credentials, *identity.Principal, error)
}

// Auditor records events in the audit trail.
type Auditor interface {
	Record(e audit.Event)
	// Flush waits until what was recorded can be looked up.
	Flush(ctx context.Context) error
}

// Options configure the console.
type Options struct {
	Identity Identity
	Backup   *backup.Service
	KMS      *kms.Service
	RDS      Instances
	Audit    Auditor
	// Trail is where the audit events are read from, Authz what decides
	// whether the user may read them (cloudtrail:LookupEvents).
	Trail meta.Querier
	Authz *authz.Authorizer
	Plans Plans
	// Regions are the regions the region selector offers; the first is
	// the default.
	Regions []string
	// IdleTimeout ends a session unused this long (default 1 hour);
	// MaxLifetime ends any session this old (default 12 hours, as AWS's
	// console sessions).
	IdleTimeout, MaxLifetime time.Duration
	Log                      *slog.Logger
	// Now is the sessions' clock; nil is time.Now.
	Now func() time.Time
}

// Handler serves /console/.
type Handler struct {
	opts     Options
	sessions *sessions
	pages    map[string]*template.Template
	mux      *http.ServeMux
}

// New returns the console handler.
func New(opts Options) (*Handler, error) {
	if opts.IdleTimeout == 0 {
		opts.IdleTimeout = time.Hour
	}
	if opts.MaxLifetime == 0 {
		opts.MaxLifetime = 12 * time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if len(opts.Regions) == 0 {
		return nil, errors.New("console: no regions")
	}
	h := &Handler{opts: opts, sessions: &sessions{byID: map[string]*session{}, pending: map[string]*pendingSignIn{}, idle: opts.IdleTimeout, max: opts.MaxLifetime, now: opts.Now}, pages: map[string]*template.Template{}}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		name := n[len("templates/") : len(n)-len(".html")]
		if name == "layout" || name == "partials" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/partials.html", n)
		if err != nil {
			return nil, fmt.Errorf("console template %s: %w", name, err)
		}
		h.pages[name] = t
	}
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	m := http.NewServeMux()
	m.Handle("GET /console/static/", http.StripPrefix("/console/static/", http.FileServerFS(static)))
	m.HandleFunc("GET /console/signin", h.signinPage)
	m.HandleFunc("POST /console/signin", h.signin)
	m.HandleFunc("POST /console/signin/mfa", h.signinMFA)
	m.HandleFunc("POST /console/signout", h.authed(h.signout))
	m.HandleFunc("GET /console/password", h.authed(h.passwordPage))
	m.HandleFunc("POST /console/password", h.authed(h.changePassword))
	m.HandleFunc("POST /console/region", h.authed(h.setRegion))
	m.HandleFunc("GET /console/switch-role", h.authed(h.switchRolePage))
	m.HandleFunc("POST /console/switch-role", h.authed(h.switchRole))
	m.HandleFunc("POST /console/switch-back", h.authed(h.switchBack))
	m.HandleFunc("GET /console/{$}", h.authed(h.dashboard))
	h.routeBackup(m)
	h.routeKeys(m)
	h.routeRDS(m)
	h.routeOrgs(m)
	h.routePlans(m)
	m.HandleFunc("GET /console/events", h.authed(h.events))
	h.mux = m
	return h, nil
}

var funcs = template.FuncMap{
	"time": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"has": func(list []string, s string) bool { return slices.Contains(list, s) },
	"json": func(v any) (string, error) {
		b, err := json.MarshalIndent(v, "", "  ")
		return string(b), err
	},
}

// SetClock replaces the sessions' clock, for tests of expiry.
func (h *Handler) SetClock(now func() time.Time) {
	h.sessions.mu.Lock()
	defer h.sessions.mu.Unlock()
	h.sessions.now = now
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; form-action 'self'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "same-origin")
	w.Header().Set("Cache-Control", "no-store")
	h.mux.ServeHTTP(w, r)
}

// request is one signed-in request: its session and principal.
type request struct {
	w  http.ResponseWriter
	r  *http.Request
	se *session
	// p is who acts: the user, or the role session it switched to.
	p    *identity.Principal
	user *identity.Principal
}

// authed wraps a handler that needs a signed-in user: no session sends
// the browser to the sign-in page, a POST must carry the CSRF token, and
// a user whose password must change sees only the password page.
func (h *Handler) authed(fn func(*request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		se := h.sessions.get(r)
		if se == nil {
			if r.Method == http.MethodGet && r.Header.Get("Accept") != "application/json" {
				http.Redirect(w, r, "/console/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			http.Error(w, "your console session has ended; sign in again", http.StatusUnauthorized)
			return
		}
		if r.Method == http.MethodPost {
			if err := checkOrigin(r); err != nil {
				http.Error(w, err.Error(), http.StatusForbidden)
				return
			}
			if !sameToken(r.PostFormValue("csrf"), se.csrf) {
				http.Error(w, "the form's CSRF token is missing or stale; reload the page and try again", http.StatusForbidden)
				return
			}
		}
		p, err := h.opts.Identity.ConsolePrincipal(r.Context(), se.account, se.user)
		if errors.Is(err, identity.ErrSignInFailed) {
			h.sessions.end(se)
			http.Redirect(w, r, "/console/signin", http.StatusSeeOther)
			return
		}
		if err != nil {
			h.internalError(w, err)
			return
		}
		if se.mustChangePassword && r.URL.Path != "/console/password" && r.URL.Path != "/console/signout" {
			http.Redirect(w, r, "/console/password", http.StatusSeeOther)
			return
		}
		q := &request{w: w, r: r, se: se, p: p, user: p}
		if se.roleKey != "" {
			// Acting as a role: its session must still be valid.
			_, rp, err := h.opts.Identity.Authenticate(r.Context(), se.roleKey)
			if err != nil || !h.opts.Now().Before(rp.Expires) {
				se.roleKey = ""
				h.sessions.update(se)
				http.Redirect(w, r, "/console/?done="+url.QueryEscape("The role session ended; you act as your IAM user again."), http.StatusSeeOther)
				return
			}
			q.p = rp
		}
		fn(q)
	}
}

// checkOrigin refuses a POST that a page of another origin sent.
func checkOrigin(r *http.Request) error {
	o := r.Header.Get("Origin")
	if o == "" {
		return nil
	}
	u, err := url.Parse(o)
	if err != nil || u.Host != r.Host {
		return fmt.Errorf("cross-origin request from %s refused", o)
	}
	return nil
}

func (h *Handler) internalError(w http.ResponseWriter, err error) {
	h.opts.Log.Error("console", "error", err)
	http.Error(w, "internal error; the server log has the details", http.StatusInternalServerError)
}

// page is what every template gets.
type page struct {
	Title   string
	Account string
	User    string
	ARN     string
	Region  string
	Regions []string
	CSRF    string
	Path    string
	Role    string // the role switched to, "" when acting as the user
	Error   string
	Done    string
	Data    any
}

func (h *Handler) render(q *request, status int, name, title string, data any, actionErr error) {
	pg := page{Title: title, Data: data, Regions: h.opts.Regions, Done: q.r.URL.Query().Get("done"), Path: q.r.URL.Path}
	if q.se != nil {
		pg.Account, pg.User, pg.Region, pg.CSRF = q.se.account, q.se.user, q.se.region, q.se.csrf
	}
	if q.p != nil {
		pg.ARN, pg.Account = q.p.ARN, q.p.AccountID
		if q.p.Type == identity.TypeAssumedRole {
			pg.Role = q.p.Name
		}
	}
	if actionErr != nil {
		// The page itself loaded: it shows the refused action in AWS's words.
		pg.Error = errorText(actionErr)
	}
	var buf bytes.Buffer
	if err := h.pages[name].Execute(&buf, pg); err != nil {
		h.internalError(q.w, fmt.Errorf("render page %s: %w", name, err))
		return
	}
	q.w.Header().Set("Content-Type", "text/html; charset=utf-8")
	q.w.WriteHeader(status)
	q.w.Write(buf.Bytes())
}

// errorText is what a page shows of a failed action: AWS's code and
// message, as the console shows them.
func errorText(err error) string {
	var m msgError
	if errors.As(err, &m) {
		return string(m)
	}
	var ae *awserr.Error
	if errors.As(err, &ae) {
		return ae.Code + ": " + ae.Message
	}
	return "InternalFailure: the server log has the details"
}

func errorStatus(err error) int {
	var m msgError
	if errors.As(err, &m) {
		return http.StatusBadRequest
	}
	var ae *awserr.Error
	if errors.As(err, &ae) {
		return ae.HTTPStatus()
	}
	return http.StatusInternalServerError
}

// call runs one domain operation as the signed-in principal, in the
// session's region, and records it in the audit trail as the API does.
// params are the operation's parameters as the API would take them.
func (h *Handler) call(q *request, service, operation string, params any, fn func(ctx context.Context) error) error {
	call := &reqctx.Call{RequestID: newRequestID(), Service: service, Region: q.se.region, Operation: operation,
		SourceIP: sourceIP(q.r), SecureTransport: q.r.TLS != nil, UserAgent: q.r.UserAgent(), RequireAuthorization: true}
	ctx := identity.WithCaller(reqctx.WithCall(q.r.Context(), call), q.p)
	err := fn(ctx)
	if err == nil && !call.Authorized {
		err = fmt.Errorf("%s:%s finished without an authorization decision", service, operation)
	}
	call.Status = http.StatusOK
	if err != nil {
		call.Status = errorStatus(err)
		var ae *awserr.Error
		if errors.As(err, &ae) {
			call.ErrorCode, call.ErrorMessage = ae.Code, ae.Message
		} else {
			call.ErrorCode, call.ErrorMessage = "InternalFailure", "internal error"
			h.opts.Log.Error("console call", "service", service, "operation", operation, "error", err)
		}
	}
	body, merr := json.Marshal(params)
	if merr != nil {
		body = nil
	}
	h.opts.Audit.Record(audit.FromCall(protocol.AWSJSON, q.r, body, call, q.p))
	return err
}

func newRequestID() string {
	t := randomToken()
	return t[:8] + "-" + t[8:12] + "-" + t[12:16] + "-" + t[16:20] + "-" + t[20:32]
}

func sourceIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// redirect answers a successful POST by sending the browser to a page
// that says what was done.
func redirect(q *request, path, done string) {
	http.Redirect(q.w, q.r, path+"?done="+url.QueryEscape(done), http.StatusSeeOther)
}
