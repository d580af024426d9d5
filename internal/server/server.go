// Package server is coffer's HTTP front door: one handler for every
// service that assigns request IDs, caps bodies, authenticates with SigV4,
// routes on the service named in the credential scope, and logs and
// counts every request. It knows protocols, not domains.
package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/coffer-dev/coffer/internal/awserr"
	"github.com/coffer-dev/coffer/internal/identity"
	"github.com/coffer-dev/coffer/internal/protocol"
	"github.com/coffer-dev/coffer/internal/reqctx"
	"github.com/coffer-dev/coffer/internal/sigv4"
)

// Authenticator resolves an access key to its credentials and principal.
type Authenticator interface {
	Authenticate(ctx context.Context, accessKeyID string) (sigv4.Credentials, *identity.Principal, error)
}

// Auditor records every call the server routes (the audit trail); kind is
// the protocol of the service, body the request body already read.
type Auditor interface {
	RecordCall(kind protocol.Kind, r *http.Request, body []byte, call *reqctx.Call, p *identity.Principal)
}

// Options configure the handler.
type Options struct {
	Auth Authenticator
	// Audit, when set, records every call, failed and denied ones too.
	Audit Auditor
	// RequireAuthorization makes every operation that succeeds without an
	// authorization decision fail instead (see reqctx.Call).
	RequireAuthorization bool
	Services             []protocol.Service
	Regions              []string
	MaxBodyBytes         int64
	// MaxUnauthenticatedBytes bounds the body bytes, beyond 32 KiB each,
	// that requests not yet authenticated hold together.
	MaxUnauthenticatedBytes int64
	Log                     *slog.Logger
	Registry                *prometheus.Registry
	// Ready reports whether the server may take requests; health answers
	// 503 until it does.
	Ready func() bool
	// Public are handlers, by exact path, that answer without a
	// signature (what AWS serves unsigned, such as SNS's signing
	// certificate and the links in its messages).
	Public map[string]http.Handler
	// Now is the clock used for signature checks; nil means time.Now.
	Now func() time.Time
	// RootKey is the root key health reports on.
	RootKey RootKeyStatus
	// Console, when set, serves the web console under /console/.
	Console http.Handler
}

// RootKeyStatus describes the root key to health: its provider, and a
// check that it still opens the metadata store's key check value.
type RootKeyStatus struct {
	Provider string
	Verify   func(context.Context) error
}

// Handler serves every AWS endpoint coffer has.
type Handler struct {
	opts     Options
	services map[string]protocol.Service
	regions  map[string]bool
	metrics  *metrics
	metricsH http.Handler
	// unauthenticated is the budget of MaxUnauthenticatedBytes.
	unauthenticated *budget
}

// New returns the handler.
func New(opts Options) *Handler {
	h := &Handler{opts: opts, services: map[string]protocol.Service{}, regions: map[string]bool{}, unauthenticated: &budget{free: opts.MaxUnauthenticatedBytes}}
	for _, s := range opts.Services {
		h.services[s.SigningName()] = s
	}
	for _, r := range opts.Regions {
		h.regions[r] = true
	}
	if opts.Registry == nil {
		h.opts.Registry = prometheus.NewRegistry()
	}
	h.metrics = newMetrics(h.opts.Registry)
	h.metricsH = promhttp.HandlerFor(h.opts.Registry, promhttp.HandlerOpts{})
	if h.opts.Now == nil {
		h.opts.Now = time.Now
	}
	if h.opts.Ready == nil {
		h.opts.Ready = func() bool { return true }
	}
	return h
}

// Services lists the services the handler routes to, for tests that walk
// every operation.
func (h *Handler) Services() []protocol.Service {
	out := make([]protocol.Service, 0, len(h.services))
	for _, s := range h.services {
		out = append(out, s)
	}
	return out
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/_coffer/health":
		h.health(w, r)
		return
	case "/_coffer/metrics":
		h.metricsH.ServeHTTP(w, r)
		return
	case "/console":
		if h.opts.Console != nil {
			http.Redirect(w, r, "/console/", http.StatusFound)
			return
		}
	}
	if h.opts.Console != nil && strings.HasPrefix(r.URL.Path, "/console/") {
		h.opts.Console.ServeHTTP(w, r)
		return
	}
	start := time.Now()
	call := &reqctx.Call{RequestID: newRequestID(), SourceIP: sourceIP(r), SecureTransport: r.TLS != nil}
	w.Header().Set("x-amzn-RequestId", call.RequestID)
	ctx := reqctx.WithCall(r.Context(), call)
	r = r.WithContext(ctx)
	if public, ok := h.opts.Public[r.URL.Path]; ok && r.Method == http.MethodGet {
		public.ServeHTTP(w, r)
		return
	}
	call.RequireAuthorization = h.opts.RequireAuthorization
	rec := &statusRecorder{ResponseWriter: w}
	principal, svc, body := h.serve(rec, r, call)
	h.observe(r, call, principal, rec.status, time.Since(start))
	if h.opts.Audit != nil {
		kind := guessProtocol(r)
		if svc != nil {
			kind = svc.Protocol()
		}
		if call.Status == 0 {
			call.Status = rec.status
		}
		h.opts.Audit.RecordCall(kind, r, body, call, principal)
	}
}

// serve authenticates and dispatches; it returns the caller and the
// service when known, and the body read.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request, call *reqctx.Call) (*identity.Principal, protocol.Service, []byte) {
	ctx := r.Context()
	body, held, err := readBody(http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes), h.unauthenticated)
	// Given back once the signature is checked, or the request answered.
	defer func() { h.unauthenticated.give(held) }()
	if err != nil {
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			err = awserr.New(awserr.TooLarge, "RequestEntityTooLarge", "the request body is larger than the %d bytes this server accepts", h.opts.MaxBodyBytes)
		case errors.Is(err, errBudget):
			err = awserr.New(awserr.Unavailable, "ServiceUnavailable", "the server holds as many request bytes from unauthenticated callers as it accepts; retry later")
		default:
			err = awserr.New(awserr.Invalid, "IncompleteBody", "the request body could not be read: %v", err)
		}
		h.writeError(w, r, nil, err)
		return nil, nil, nil
	}
	scope, err := sigv4.ParseScope(r)
	if err != nil {
		h.writeError(w, r, nil, authError(err, guessProtocol(r)))
		return nil, nil, body
	}
	call.AccessKeyID = scope.AccessKeyID
	svc, ok := h.services[scope.Service]
	if !ok {
		h.writeError(w, r, nil, awserr.New(awserr.Invalid, "UnrecognizedService", "this endpoint serves no service named %q (credential scope %s)", scope.Service, scope))
		return nil, nil, body
	}
	if !h.regions[scope.Region] {
		h.writeError(w, r, svc, authError(&sigv4.Error{Code: sigv4.SignatureDoesNotMatch,
			Message: fmt.Sprintf("Credential should be scoped to a valid region. %q is not a region this server serves", scope.Region)}, svc.Protocol()))
		return nil, svc, body
	}
	// Set only now: metric labels must come from the known set, not
	// from whatever a client puts in its scope.
	call.Service, call.Region = scope.Service, scope.Region
	var principal *identity.Principal
	v := sigv4.Verifier{Lookup: lookupFunc(func(ctx context.Context, id string) (sigv4.Credentials, error) {
		creds, p, err := h.opts.Auth.Authenticate(ctx, id)
		principal = p
		return creds, err
	}), Now: h.opts.Now,
		// What AWS's JSON and query services require of a signature.
		Strict: svc.Protocol() == protocol.AWSJSON || svc.Protocol() == protocol.Query}
	if _, err := v.Verify(ctx, r, body); err != nil {
		h.writeError(w, r, svc, authError(err, svc.Protocol()))
		return nil, svc, body
	}
	h.unauthenticated.give(held)
	held = 0
	r = r.WithContext(identity.WithCaller(ctx, principal))
	svc.Serve(w, r, body)
	return principal, svc, body
}

type lookupFunc func(ctx context.Context, id string) (sigv4.Credentials, error)

func (f lookupFunc) LookupAccessKey(ctx context.Context, id string) (sigv4.Credentials, error) {
	return f(ctx, id)
}

// writeError answers in svc's protocol, or in the protocol the request
// looks like when the service is not known.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, svc protocol.Service, err error) {
	if svc == nil {
		svc = fallbackService(guessProtocol(r))
	}
	svc.WriteError(w, r, err)
}

// guessProtocol tells from the request's shape which protocol its client
// speaks, to answer in it before the service is known.
func guessProtocol(r *http.Request) protocol.Kind {
	switch {
	case r.Header.Get("X-Amz-Target") != "":
		return protocol.AWSJSON
	case strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded"), r.URL.Query().Get("Action") != "":
		return protocol.Query
	default:
		return protocol.RESTJSON
	}
}

func fallbackService(k protocol.Kind) protocol.Service {
	switch k {
	case protocol.AWSJSON:
		return &protocol.JSONService{ContentType: "application/x-amz-json-1.1"}
	case protocol.Query:
		return &protocol.QueryService{}
	default:
		return protocol.NewRESTService("")
	}
}

// jsonAuthCodes are the names JSON-protocol services give the
// authentication failures that awsQuery services report by their generic
// codes.
var jsonAuthCodes = map[string]string{
	sigv4.MissingAuthenticationToken: "MissingAuthenticationTokenException",
	sigv4.IncompleteSignature:        "IncompleteSignatureException",
	sigv4.InvalidClientTokenId:       "UnrecognizedClientException",
	sigv4.SignatureDoesNotMatch:      "InvalidSignatureException",
	sigv4.RequestExpired:             "InvalidSignatureException",
	sigv4.ExpiredToken:               "ExpiredTokenException",
}

// authError turns a SigV4 failure into the protocol's error; anything
// else (the credential store failing) is an internal error.
func authError(err error, k protocol.Kind) error {
	var se *sigv4.Error
	if !errors.As(err, &se) {
		return err
	}
	code := se.Code
	if k != protocol.Query {
		if c, ok := jsonAuthCodes[code]; ok {
			code = c
		}
	}
	return &awserr.Error{Kind: awserr.Unauthenticated, Code: code, Message: se.Message, Status: se.HTTPStatus()}
}

// healthBody is what /_coffer/health answers.
type healthBody struct {
	Status   string      `json:"status"`
	RootKey  *rootKeyDoc `json:"rootKey,omitempty"`
	Services []string    `json:"services,omitempty"`
}

type rootKeyDoc struct {
	Provider string `json:"provider"`
	Status   string `json:"status"` // "ok" or "unusable"
}

func (h *Handler) health(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	body := healthBody{Status: "ok"}
	status := http.StatusOK
	if !h.opts.Ready() {
		body.Status, status = "starting", http.StatusServiceUnavailable
	} else {
		if v := h.opts.RootKey.Verify; v != nil {
			body.RootKey = &rootKeyDoc{Provider: h.opts.RootKey.Provider, Status: "ok"}
			if err := v(r.Context()); err != nil {
				h.opts.Log.Error("health: the root key does not open the key check value", "err", err)
				body.Status, body.RootKey.Status, status = "root key unusable", "unusable", http.StatusServiceUnavailable
			}
		}
		for n := range h.services {
			body.Services = append(body.Services, n)
		}
		sorted(body.Services)
	}
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(body); err != nil {
		h.opts.Log.Debug("health: write the answer", "err", err)
	}
}

func (h *Handler) observe(r *http.Request, call *reqctx.Call, p *identity.Principal, status int, d time.Duration) {
	h.metrics.observe(call, status, d)
	attrs := []slog.Attr{
		slog.String("request_id", call.RequestID),
		slog.String("service", call.Service),
		slog.String("operation", call.Operation),
		slog.Int("status", status),
		slog.Duration("latency", d),
		slog.String("remote", call.SourceIP),
	}
	if p != nil {
		attrs = append(attrs, slog.String("account", p.AccountID), slog.String("principal", p.ARN))
	}
	if call.ErrorCode != "" {
		attrs = append(attrs, slog.String("error_code", call.ErrorCode))
	}
	h.opts.Log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
}

func newRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	s := hex.EncodeToString(b[:])
	return s[0:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:32]
}

func sourceIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}
