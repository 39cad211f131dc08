package web_test

// A real server on a real SQLite database for the web tests: the JSON API
// and the pages joined as `bitnobi serve` joins them, served over real HTTP.

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/blob"
	"github.com/bitnobi/bitnobi/httpapi"
	"github.com/bitnobi/bitnobi/internal/dbtest"
	"github.com/bitnobi/bitnobi/secret"
	"github.com/bitnobi/bitnobi/store"
	"github.com/bitnobi/bitnobi/web"
)

// fastPasswords keeps argon2id cheap in tests.
var fastPasswords = store.PasswordParams{Time: 1, Memory: 64, Threads: 1, SaltLen: 16, KeyLen: 32}

type env struct {
	DB   *store.DB
	API  *httpapi.Server
	Web  *web.Server
	HTTP *httptest.Server
}

type testLogWriter struct{ t testing.TB }

func (w testLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func newEnv(t testing.TB) *env {
	t.Helper()
	db := dbtest.Open(t, dbtest.SQLite)
	var err error
	if db.Key, err = secret.GenerateKey(); err != nil {
		t.Fatal(err)
	}
	db.Blobs = blob.NewStore(filepath.Join(t.TempDir(), "blobs"))
	logger := slog.New(slog.NewTextHandler(testLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	db.Logger = logger
	api := httpapi.NewServer()
	api.Logger = logger
	api.Users = &store.UserService{DB: db, Password: fastPasswords}
	api.Policies = &store.PolicyService{DB: db}
	api.DataSources = &store.DataSourceService{DB: db}
	api.Workflows = &store.WorkflowService{DB: db}
	api.Reports = &store.ReportService{DB: db}
	api.Remotes = &store.RemoteServerService{DB: db}
	api.Settings = &store.SettingsService{DB: db}
	api.Audit = &store.AuditService{DB: db}
	api.Version = func(ctx context.Context) (bitnobi.VersionInfo, error) {
		v, err := db.SchemaVersion(ctx)
		return bitnobi.VersionInfo{AppVersion: bitnobi.Version, SchemaVersion: v, LatestSchema: store.LatestSchemaVersion(), Engine: db.Dialect.Name()}, err
	}
	ws := web.NewServer()
	ws.Logger = logger
	ws.Users, ws.Policies, ws.DataSources = api.Users, api.Policies, api.DataSources
	ws.Workflows, ws.Reports = api.Workflows, api.Reports
	ws.Remotes, ws.Settings, ws.Audit, ws.Version = api.Remotes, api.Settings, api.Audit, api.Version
	ws.Upload = api.UploadDataSource
	mux := http.NewServeMux()
	mux.Handle("/api/", api.Handler())
	mux.Handle("/", ws.Handler())
	e := &env{DB: db, API: api, Web: ws, HTTP: httptest.NewServer(mux)}
	t.Cleanup(e.HTTP.Close)
	return e
}

// client is a browser-like HTTP client with a cookie jar that does not
// follow redirects, so tests see them.
type client struct {
	t   testing.TB
	e   *env
	c   *http.Client
	jar *cookiejar.Jar
}

func (e *env) client(t testing.TB) *client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &client{t: t, e: e, jar: jar, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// get fetches path and returns the response (body read into the string).
func (c *client) get(path string) (*http.Response, string) {
	c.t.Helper()
	resp, err := c.c.Get(c.e.HTTP.URL + path)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// post posts a URL-encoded form, as a browser does (same-origin).
func (c *client) post(path string, form url.Values) (*http.Response, string) {
	c.t.Helper()
	req, err := http.NewRequest("POST", c.e.HTTP.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.c.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf returns the CSRF token of the page at path.
func (c *client) csrf(path string) string {
	c.t.Helper()
	_, body := c.get(path)
	m := csrfRe.FindStringSubmatch(body)
	if m == nil {
		c.t.Fatalf("no CSRF token on %s:\n%s", path, body)
	}
	return m[1]
}

// signUp creates an account through the sign-up page; the client is then
// signed in.
func (c *client) signUp(username, password string) {
	c.t.Helper()
	resp, body := c.post("/signup", url.Values{"csrf": {c.csrf("/signup")}, "username": {username}, "email": {username + "@example.org"}, "password": {password}, "password2": {password}})
	if resp.StatusCode != http.StatusSeeOther {
		c.t.Fatalf("sign up %s: status %d:\n%s", username, resp.StatusCode, body)
	}
}
