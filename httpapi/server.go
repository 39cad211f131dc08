// Package httpapi serves Bitnobi's JSON API over HTTP. It knows the domain
// only through the service interfaces of package bitnobi; cmd/bitnobi wires
// in the implementations.
//
// Every route is registered through [Server.handle], which records it in
// [Server.Routes]; a test keeps that list and docs/api.md in step.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/bitnobi/bitnobi"
)

// Route is one registered endpoint.
type Route struct {
	Method  string // GET, POST, ...
	Pattern string // net/http pattern path, e.g. /api/users/{id}
	Auth    bool   // whether a bearer token is required
}

// Server is the HTTP API. Set the services, then call [Server.Handler].
type Server struct {
	Users       bitnobi.UserService
	Policies    bitnobi.PolicyService
	DataSources bitnobi.DataSourceService
	Workflows   bitnobi.WorkflowService
	Reports     bitnobi.ReportService
	Remotes     bitnobi.RemoteServerService
	Settings    bitnobi.SettingsService
	Audit       bitnobi.AuditService
	// Federation serves paired peers and probes them (nil: the federation
	// routes answer EUNSUPPORTED and remote servers show no status).
	Federation bitnobi.FederationService
	// Version reports versions for GET /api/version.
	Version func(ctx context.Context) (bitnobi.VersionInfo, error)

	// BackupSettings stores the schedule of the server's own backups.
	BackupSettings bitnobi.BackupSettingsService
	// BackupOverrides, if set, applies serve's flags and environment to
	// the stored settings and names the fields it changed.
	BackupOverrides func(bitnobi.BackupSettings) (bitnobi.BackupSettings, []string)
	// BackupSettingsChanged, if set, is called after the settings are saved
	// (the scheduler reads them again).
	BackupSettingsChanged func()
	// NextRuns, if set, says when each scheduled task runs next.
	NextRuns func() map[string]time.Time
	// Warnings, if set, returns what the administrators should act on.
	Warnings func() []bitnobi.Warning
	// TestEmail sends the administrator's test e-mail to the address to.
	TestEmail func(ctx context.Context, to string) error
	// PasswordResets resets forgotten passwords.
	PasswordResets bitnobi.PasswordResetService
	// ReadyChecks are the checks of GET /api/ready, by name.
	ReadyChecks map[string]ReadyCheck
	// Registry holds the metrics GET /metrics serves; the server adds its
	// HTTP request metrics to it. NewServer makes one with the Go and
	// process collectors.
	Registry *prometheus.Registry
	// MetricsAllow lists the addresses that may read GET /metrics without
	// a session (default: loopback).
	MetricsAllow []netip.Prefix

	// MaxBodyBytes caps JSON request bodies (default 1 MiB).
	MaxBodyBytes int64
	// MaxUploadBytes caps data-source uploads (default 1 GiB).
	MaxUploadBytes int64

	Logger *slog.Logger

	mux     *http.ServeMux
	metrics *httpMetrics
	Routes  []Route
}

// NewServer returns a Server with default limits. Set the services before
// calling Handler.
func NewServer() *Server {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return &Server{
		MaxBodyBytes:   1 << 20,
		MaxUploadBytes: 1 << 30,
		Logger:         slog.Default(),
		Registry:       reg,
		MetricsAllow:   []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")},
	}
}

// Handler builds the router. Call it once, after the services are set.
func (s *Server) Handler() http.Handler {
	s.mux = http.NewServeMux()
	s.Routes = nil
	if s.metrics == nil {
		s.metrics = newHTTPMetrics(s.Registry)
	}
	s.handle("GET /api/version", false, s.handleVersion)
	s.registerAccountRoutes()
	s.registerContentRoutes()
	s.registerResultRoutes()
	s.registerOpsRoutes()
	s.registerElementRoutes()
	s.registerSQLSourceRoutes()
	s.registerFederationRoutes()
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.Error(w, r, bitnobi.Errorf(bitnobi.ENOTFOUND, "No such endpoint: %s %s.", r.Method, r.URL.Path))
	})
	return s.recoverer(s.mux)
}

// HandlerFunc is an API handler: it returns an error instead of writing one.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// handle registers h for pattern ("METHOD /path"). With auth set, the request
// must carry a valid bearer token and the actor is put in the context.
func (s *Server) handle(pattern string, auth bool, h HandlerFunc) {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		panic("httpapi: pattern without method: " + pattern)
	}
	s.Routes = append(s.Routes, Route{Method: method, Pattern: path, Auth: auth})
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		w = rec
		start := time.Now()
		defer func() { s.metrics.observe(path, method, rec.status, time.Since(start)) }()
		r = r.WithContext(bitnobi.NewContextWithActor(r.Context(), &bitnobi.Actor{RemoteAddr: remoteHost(r)}))
		if auth {
			u, err := s.authenticate(r)
			if err != nil {
				s.Error(w, r, err)
				return
			}
			r = r.WithContext(bitnobi.NewContextWithActor(r.Context(), &bitnobi.Actor{
				UserID:     u.ID,
				Username:   u.Username,
				IsAdmin:    u.IsAdmin,
				Attributes: u.Attributes,
				RemoteAddr: remoteHost(r),
				// RemoteUser stays empty: a local session never speaks for
				// a remote user. An X-Bitnobi-Remote-User header is ignored,
				// since any signed-in user could set it and the audit log's
				// hash chain would then protect a lie. Only an authenticated
				// remote server may name one (routes_federation.go).
			}))
		}
		if err := h(w, r); err != nil {
			s.Error(w, r, err)
		}
	})
}

// BearerToken returns the token of an "Authorization: Bearer" header.
func BearerToken(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

func (s *Server) authenticate(r *http.Request) (*bitnobi.User, error) {
	tok := BearerToken(r)
	if tok == "" {
		return nil, bitnobi.Errorf(bitnobi.EUNAUTHORIZED, "Sign in first: send Authorization: Bearer <token>.")
	}
	return s.Users.Authenticate(r.Context(), tok)
}

func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// statuses maps error codes to HTTP statuses: the one table of it.
var statuses = map[string]int{
	bitnobi.EINVALID:      http.StatusBadRequest,
	bitnobi.EUNAUTHORIZED: http.StatusUnauthorized,
	bitnobi.EFORBIDDEN:    http.StatusForbidden,
	bitnobi.ENOTFOUND:     http.StatusNotFound,
	bitnobi.ECONFLICT:     http.StatusConflict,
	bitnobi.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	bitnobi.EUNSUPPORTED:  http.StatusUnsupportedMediaType,
	bitnobi.EINTERNAL:     http.StatusInternalServerError,
	bitnobi.ETOOMANY:      http.StatusTooManyRequests,
}

// ErrorResponse is the JSON body of every error.
type ErrorResponse struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// Error writes err as JSON with the status of its code. Errors that are not
// a *bitnobi.Error are logged and shown as "Internal error.".
func (s *Server) Error(w http.ResponseWriter, r *http.Request, err error) {
	code, msg := bitnobi.ErrorCode(err), bitnobi.ErrorMessage(err)
	var be *bitnobi.Error
	field := ""
	if errors.As(err, &be) {
		field = be.Field
	}
	if code == bitnobi.EINTERNAL {
		s.Logger.Error("internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if be != nil && be.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.FormatInt(int64((be.RetryAfter+time.Second-1)/time.Second), 10))
	}
	s.JSON(w, statuses[code], ErrorResponse{Code: code, Message: msg, Field: field})
}

// JSON writes v as JSON with status.
func (s *Server) JSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		s.Logger.Debug("write response", "err", err)
	}
}

// Decode reads a JSON request body into v: the content type must be JSON,
// the body at most MaxBodyBytes, unknown fields are refused and so is
// trailing data. Every failure is an EINVALID, ETOOLARGE or EUNSUPPORTED
// error that says what was wrong.
func (s *Server) Decode(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		return bitnobi.Errorf(bitnobi.EUNSUPPORTED, "Content-Type must be application/json, not %q.", ct)
	}
	body := http.MaxBytesReader(w, r.Body, s.MaxBodyBytes)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err, s.MaxBodyBytes)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return bitnobi.Errorf(bitnobi.EINVALID, "Request body must hold a single JSON value.")
	}
	return nil
}

func decodeError(err error, limit int64) error {
	var maxErr *http.MaxBytesError
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &maxErr):
		return bitnobi.Errorf(bitnobi.ETOOLARGE, "Request body is over the limit of %d bytes.", limit)
	case errors.Is(err, io.EOF):
		return bitnobi.Errorf(bitnobi.EINVALID, "Request body is empty; send a JSON object.")
	case errors.As(err, &syn), errors.Is(err, io.ErrUnexpectedEOF):
		return bitnobi.Errorf(bitnobi.EINVALID, "Malformed JSON: %v.", err)
	case errors.As(err, &typ):
		return bitnobi.Invalidf(typ.Field, "Field %q must be of JSON type %s.", typ.Field, typ.Type.Kind())
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return bitnobi.Invalidf(f, "Unknown field %q.", f)
	}
	return bitnobi.Errorf(bitnobi.EINVALID, "Invalid JSON body: %v.", err)
}

// PathID returns the path value name after checking it looks like an ID,
// so that a malformed ID is a 400 (not a 404 or 500).
func PathID(r *http.Request, name string) (string, error) {
	id := r.PathValue(name)
	if !bitnobi.ValidID(id) {
		return "", bitnobi.Invalidf(name, "%q is not a valid ID.", id)
	}
	return id, nil
}

func (s *Server) recoverer(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.Error(w, r, fmt.Errorf("panic: %v", v))
			}
		}()
		start := time.Now()
		h.ServeHTTP(w, r)
		s.Logger.Debug("request", "method", r.Method, "path", r.URL.Path, "duration", time.Since(start))
	})
}

func (s *Server) handleVersion(w http.ResponseWriter, r *http.Request) error {
	v, err := s.Version(r.Context())
	if err != nil {
		return err
	}
	s.JSON(w, http.StatusOK, v)
	return nil
}
