// Package web serves Bitnobi's pages: server-rendered HTML for people in a
// browser, on the same port as the JSON API (which stays under /api/).
//
// It follows the house model (STYLE.md section 9, after Miniflux): the
// templates and static files are embedded in the binary, each page has one
// handler file (page_*.go) that reads the request, calls the same service
// the JSON API calls and renders a template through a small view struct;
// forms post and redirect; the little JavaScript there is lives in
// static/app.js. Access rules live in the services, so a page never shows
// what the API would refuse the same user.
//
// Security, in one place (this file and session.go):
//   - Sessions: the bearer token of [bitnobi.UserService.SignIn], kept in
//     the HttpOnly, SameSite=Lax cookie "bitnobi_session" and checked with
//     Authenticate on every request, so a session expires or is signed out
//     exactly as an API token is. The cookie is Secure when the request
//     came over TLS, or when [Server.TrustForwardedProto] is set and the
//     request carries "X-Forwarded-Proto: https" (set it only behind a
//     proxy that overwrites that header).
//   - CSRF: every request that is not GET or HEAD must carry a token, in
//     the form field "csrf" or the X-CSRF-Token header; for a signed-in
//     user it is derived from the session token (which a script on another
//     site cannot read), before sign-in it is a random cookie echoed by the
//     form (double submit). Cross-origin unsafe requests are also refused
//     by [http.CrossOriginProtection] (Sec-Fetch-Site and Origin).
//   - A Content-Security-Policy allowing scripts and styles from this
//     origin only (no inline script), frame-ancestors 'none' and
//     X-Frame-Options DENY against clickjacking.
package web

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/bitnobi/bitnobi"
)

// Server serves the web pages. Set the services, then call [Server.Handler].
type Server struct {
	Users       bitnobi.UserService
	Policies    bitnobi.PolicyService
	DataSources bitnobi.DataSourceService
	Workflows   bitnobi.WorkflowService
	Reports     bitnobi.ReportService
	Remotes     bitnobi.RemoteServerService
	Settings    bitnobi.SettingsService
	Audit       bitnobi.AuditService
	// BackupSettings, BackupOverrides, BackupSettingsChanged and Warnings
	// are what the API server's backup routes use (httpapi.Server's
	// fields of the same names); Backups works on the backup folder.
	BackupSettings        bitnobi.BackupSettingsService
	BackupOverrides       func(bitnobi.BackupSettings) (bitnobi.BackupSettings, []string)
	BackupSettingsChanged func()
	Warnings              func() []bitnobi.Warning
	Backups               BackupService
	// Version reports the versions the About page shows.
	Version func(ctx context.Context) (bitnobi.VersionInfo, error)
	// Upload streams a data-source upload for the actor in the request's
	// context and answers as POST /api/datasources does: cmd/bitnobi sets
	// it to the API server's UploadDataSource, so both share one code path.
	Upload http.HandlerFunc
	// TrustForwardedProto makes the session cookie Secure when the request
	// carries "X-Forwarded-Proto: https". Set it only behind a reverse
	// proxy that sets that header itself.
	TrustForwardedProto bool
	// Logger receives internal errors.
	Logger *slog.Logger

	mux   *http.ServeMux
	pages *templates
	// Pages lists every registered route, for tests.
	Pages []Page
}

// Page is one registered route of the web interface.
type Page struct {
	Method  string
	Pattern string
	Access  Access
}

// Access says who may request a route.
type Access int

// Access levels of routes. Access rules proper live in the services; the
// levels only decide whether to ask for a session first, and keep
// administration pages out of reach even where a service (Version) has no
// rule of its own.
const (
	Public Access = iota // no session needed
	User                 // a signed-in user: without a session, go to sign-in
	Admin                // the administrator
)

// NewServer returns a Server with a default logger.
func NewServer() *Server {
	return &Server{Logger: slog.Default()}
}

// handlerFunc is a page handler: it returns an error instead of writing one.
type handlerFunc func(w http.ResponseWriter, r *http.Request, v *view) error

// Handler builds the router. Call it once, after the services are set.
func (s *Server) Handler() http.Handler {
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	s.pages = mustParseTemplates()
	s.mux = http.NewServeMux()
	s.Pages = nil
	s.mux.Handle("GET /static/", http.HandlerFunc(s.serveStatic))
	s.registerAccountPages()
	s.registerDataSourcePages()
	s.registerPolicyPages()
	s.registerWorkflowPages()
	s.registerReportPages()
	s.registerAdminPages()
	if s.Backups != nil && s.BackupSettings != nil {
		s.registerBackupPages()
	}
	s.handle("GET /{$}", User, func(w http.ResponseWriter, r *http.Request, v *view) error {
		http.Redirect(w, r, "/datasources", http.StatusSeeOther)
		return nil
	})
	s.mux.HandleFunc("/", s.wrap(Public, func(w http.ResponseWriter, r *http.Request, v *view) error {
		return bitnobi.Errorf(bitnobi.ENOTFOUND, "There is no page at %s.", r.URL.Path)
	}))
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.renderError(w, r, &view{Form: newForm()}, errCSRF)
	}))
	return s.headers(cop.Handler(s.mux))
}

// handle registers h for pattern ("METHOD /path") at access level a.
func (s *Server) handle(pattern string, a Access, h handlerFunc) {
	method, path, _ := strings.Cut(pattern, " ")
	s.Pages = append(s.Pages, Page{Method: method, Pattern: path, Access: a})
	s.mux.HandleFunc(pattern, s.wrap(a, h))
}

// errCSRF is what a state-changing request without a valid token gets.
var errCSRF = bitnobi.Errorf(bitnobi.EFORBIDDEN, "This form has expired or was not sent by this site: reload the page and try again.")

// wrap authenticates the request (cookie session), checks CSRF on unsafe
// methods, puts the actor in the context and renders a returned error.
func (s *Server) wrap(a Access, h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		r = r.WithContext(bitnobi.NewContextWithActor(r.Context(), &bitnobi.Actor{RemoteAddr: remoteHost(r)}))
		v := &view{Form: newForm()}
		tok := sessionToken(r)
		if tok != "" {
			u, err := s.Users.Authenticate(r.Context(), tok)
			switch {
			case err == nil:
				v.User = newUserView(u)
				v.token = tok
				v.CSRF = csrfFor(tok)
				r = r.WithContext(bitnobi.NewContextWithActor(r.Context(), &bitnobi.Actor{
					UserID: u.ID, Username: u.Username, IsAdmin: u.IsAdmin, Attributes: u.Attributes, RemoteAddr: remoteHost(r),
				}))
			case bitnobi.ErrorCode(err) == bitnobi.EUNAUTHORIZED:
				s.clearSession(w, r)
			default:
				s.renderError(w, r, v, err)
				return
			}
		}
		if v.User == nil {
			if a != Public {
				s.toSignIn(w, r)
				return
			}
			v.CSRF = s.anonCSRF(w, r)
		}
		if a == Admin && !v.User.IsAdmin {
			s.renderError(w, r, v, bitnobi.Errorf(bitnobi.EFORBIDDEN, "Only the administrator may open the administration pages."))
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead && !checkCSRF(r, v.CSRF) {
			s.renderError(w, r, v, errCSRF)
			return
		}
		if err := h(w, r, v); err != nil {
			s.renderError(w, r, v, err)
		}
		s.Logger.Debug("page", "method", r.Method, "path", r.URL.Path, "duration", time.Since(start))
	}
}

// toSignIn redirects to the sign-in page, which brings the user back to
// the page asked for (a GET) afterwards.
func (s *Server) toSignIn(w http.ResponseWriter, r *http.Request) {
	if wantsJSON(r) {
		writeJSONError(w, http.StatusUnauthorized, bitnobi.Errorf(bitnobi.EUNAUTHORIZED, "Your session has ended: sign in again, then retry."))
		return
	}
	target := "/signin"
	if r.Method == http.MethodGet && r.URL.Path != "/" {
		target += "?next=" + url.QueryEscape(r.URL.RequestURI())
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// safeNext returns next if it is a path on this site, else "/".
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	if u, err := url.Parse(next); err != nil || u.Host != "" || u.Scheme != "" {
		return "/"
	}
	return next
}

// contentSecurityPolicy allows this origin's scripts, styles and images
// only, no inline script or style, no framing, forms posting here only.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// headers sets the security headers of every page and static file.
func (s *Server) headers(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", contentSecurityPolicy)
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		if !strings.HasPrefix(r.URL.Path, "/static/") {
			hd.Set("Cache-Control", "no-store")
		}
		h.ServeHTTP(w, r)
	})
}

// statuses maps error codes to HTTP statuses, as the API does; a code this
// table does not know (one added later) is a 400, but never hidden.
var statuses = map[string]int{
	bitnobi.EINVALID:      http.StatusBadRequest,
	bitnobi.EUNAUTHORIZED: http.StatusUnauthorized,
	bitnobi.EFORBIDDEN:    http.StatusForbidden,
	bitnobi.ENOTFOUND:     http.StatusNotFound,
	bitnobi.ECONFLICT:     http.StatusConflict,
	bitnobi.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	bitnobi.EUNSUPPORTED:  http.StatusUnsupportedMediaType,
	bitnobi.EINTERNAL:     http.StatusInternalServerError,
}

func statusOf(err error) int {
	if st, ok := statuses[bitnobi.ErrorCode(err)]; ok {
		return st
	}
	if code := bitnobi.ErrorCode(err); code == "too_many_requests" || code == "throttled" || code == "rate_limited" {
		return http.StatusTooManyRequests
	}
	return http.StatusBadRequest
}

// renderError renders err as an error page with its status. Errors that
// are not a *bitnobi.Error are logged and shown as "Internal error.".
func (s *Server) renderError(w http.ResponseWriter, r *http.Request, v *view, err error) {
	if bitnobi.ErrorCode(err) == bitnobi.EINTERNAL {
		s.Logger.Error("internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if bitnobi.ErrorCode(err) == bitnobi.EUNAUTHORIZED && v.User == nil {
		s.toSignIn(w, r)
		return
	}
	if wantsJSON(r) {
		writeJSONError(w, statusOf(err), err)
		return
	}
	v.Title = "Error"
	s.render(w, r, statusOf(err), "error", v, errorView{Status: statusOf(err), Message: bitnobi.ErrorMessage(err)})
}

// wantsJSON reports whether r comes from the pages' script asking for a
// JSON answer (the upload), which gets errors as the API writes them.
func wantsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json")
}

// writeJSONError writes err as the API's error body.
func writeJSONError(w http.ResponseWriter, status int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"code": bitnobi.ErrorCode(err), "message": bitnobi.ErrorMessage(err), "field": fieldOf(err)})
}

// errorView is the data of the error page.
type errorView struct {
	Status  int
	Message string
}

// isFieldError reports whether err is an EINVALID error about one of
// fields, returning the field.
func fieldOf(err error) string {
	var be *bitnobi.Error
	if errors.As(err, &be) {
		return be.Field
	}
	return ""
}
