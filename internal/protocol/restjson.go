package protocol

import (
	"context"
	"net/http"
	"net/url"
	"path"
	"strings"
	"unicode/utf8"

	"github.com/coffer-dev/coffer/internal/awserr"
	"github.com/coffer-dev/coffer/internal/awsmodel"
	"github.com/coffer-dev/coffer/internal/reqctx"
)

// RESTRequest is what a restJson1 operation receives.
type RESTRequest struct {
	HTTP  *http.Request
	Body  []byte
	Query url.Values
}

// PathValue returns a path parameter, already unescaped once (a recovery
// point ARN arrives as arn:aws:backup:...).
func (r *RESTRequest) PathValue(name string) string { return r.HTTP.PathValue(name) }

// Decode decodes the JSON body into v.
func (r *RESTRequest) Decode(v any) error { return DecodeJSON(r.Body, v) }

// RESTOp is one restJson1 operation. status 0 means 200.
type RESTOp func(ctx context.Context, r *RESTRequest) (status int, out any, err error)

// RESTService serves a restJson1 API through net/http's pattern routing.
type RESTService struct {
	Name string // signing name, "backup"
	// Model, when set, is the service's AWS model; errors are rendered
	// with the members their shapes define.
	Model      *awsmodel.Model
	mux        *http.ServeMux
	routes     []RESTRoute
	registered map[string]bool
}

// RESTRoute is one registered operation.
type RESTRoute struct {
	Pattern   string // "PUT /backup-vaults/{backupVaultName}"
	Operation string
}

// Routes lists the registered operations in registration order, for
// tests that walk every operation.
func (s *RESTService) Routes() []RESTRoute { return s.routes }

var _ Service = (*RESTService)(nil)

// NewRESTService returns a service with no routes.
func NewRESTService(name string) *RESTService {
	return &RESTService{Name: name, mux: http.NewServeMux(), registered: map[string]bool{}}
}

func (s *RESTService) SigningName() string { return s.Name }
func (s *RESTService) Protocol() Kind      { return RESTJSON }

// Handle registers op under a method-and-path pattern such as
// "PUT /backup-vaults/{backupVaultName}". A model URI with a trailing
// slash ("GET /backup-vaults/{$}") also routes without it: the AWS CLI
// sends the slash, the Go SDK drops it.
func (s *RESTService) Handle(pattern, operation string, op RESTOp) {
	h := restHandler{s: s, operation: operation, op: op}
	for _, p := range []string{pattern, strings.TrimSuffix(pattern, "/{$}")} {
		if !s.registered[p] {
			s.registered[p] = true
			s.mux.Handle(p, h)
		}
	}
	s.routes = append(s.routes, RESTRoute{pattern, operation})
}

type restHandler struct {
	s         *RESTService
	operation string
	op        RESTOp
}

type bodyKey struct{}

func (h restHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	reqctx.CallFrom(ctx).Operation = h.operation
	body, _ := ctx.Value(bodyKey{}).([]byte)
	status, out, err := h.op(ctx, &RESTRequest{HTTP: r, Body: body, Query: r.URL.Query()})
	if err == nil {
		err = checkAuthorized(ctx)
	}
	if err != nil {
		h.s.WriteError(w, r, err)
		return
	}
	if status == 0 {
		status = http.StatusOK
	}
	writeJSON(w, r, "application/json", status, out)
}

func (s *RESTService) Serve(w http.ResponseWriter, r *http.Request, body []byte) {
	r = r.WithContext(context.WithValue(r.Context(), bodyKey{}, body))
	// A path that matches no route, matches with another method, or is not
	// in canonical form (the mux would answer a redirect) is an unknown
	// operation in AWS's format rather than the mux's plain text.
	if _, pattern := s.mux.Handler(r); pattern == "" || !canonicalPath(r.URL.Path) {
		s.WriteError(w, r, awserr.New(awserr.NotFound, "UnknownOperationException", "no %s operation matches %s %s", s.Name, r.Method, r.URL.EscapedPath()).WithStatus(http.StatusNotFound))
		return
	}
	// Path labels and query parameters are strings too: refuse invalid
	// UTF-8 in them as in the body.
	if !utf8.ValidString(r.URL.Path) {
		s.WriteError(w, r, awserr.Validation("%s", awsmodel.Message([]awsmodel.Violation{{Path: "uri", Constraint: "Request path must be valid UTF-8"}})))
		return
	}
	if vs := invalidUTF8Params(r.URL.Query()); vs != nil {
		s.WriteError(w, r, awserr.Validation("%s", awsmodel.Message(vs)))
		return
	}
	s.mux.ServeHTTP(w, r)
}

// WriteError renders the error's shape (errorBody) with the code in
// x-amzn-ErrorType, as restJson1 clients read it.
func (s *RESTService) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	writeJSONError(w, r, "application/json", s.Model, err)
}

// canonicalPath reports whether p has no empty, "." or ".." segments,
// the form the SDKs send and the mux routes without redirecting.
func canonicalPath(p string) bool {
	return path.Clean(p) == strings.TrimSuffix(p, "/") || p == "/"
}
