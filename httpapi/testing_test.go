package httpapi_test

// Shared helpers for the API tests: a real server on a real database,
// driven over real HTTP. Both account_test.go and content_test.go use them.
// Every test runs once per engine (dbtest.Run): on a SQLite file, and on a
// PostgreSQL database of its own when the environment provides one.

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/blob"
	"github.com/bitnobi/bitnobi/federation"
	"github.com/bitnobi/bitnobi/httpapi"
	"github.com/bitnobi/bitnobi/internal/dbtest"
	"github.com/bitnobi/bitnobi/mail"
	"github.com/bitnobi/bitnobi/secret"
	"github.com/bitnobi/bitnobi/store"
)

// J is a decoded JSON object.
type J = map[string]any

// testEnv is one server on its own database (files in t.TempDir()).
type testEnv struct {
	t      testing.TB
	Engine string // "sqlite" or "postgres"
	Dir    string
	DBPath string // the SQLite file; "" on PostgreSQL
	DB     *store.DB
	Server *httpapi.Server
	HTTP   *httptest.Server
	Clock  *testClock

	Users    *store.UserService
	Policies *store.PolicyService
	Remotes  *store.RemoteServerService
	Settings *store.SettingsService
	Audit    *store.AuditService
	Mail     *mail.Sender // over the stored e-mail settings

	log *responseLog // shared by the copies For makes
}

// responseLog keeps every response body, so tests can check that no
// secret leaks.
type responseLog struct {
	mu     sync.Mutex
	bodies [][]byte
}

// For returns e reporting to t: call it at the top of a subtest, so that a
// helper's Fatalf stops the subtest, not its parent.
//
//	t.Run("OK", func(t *testing.T) { e := e.For(t); ... })
func (e *testEnv) For(t testing.TB) *testEnv {
	c := *e
	c.t = t
	return &c
}

// responses returns every response body received so far.
func (e *testEnv) responses() [][]byte {
	e.log.mu.Lock()
	defer e.log.mu.Unlock()
	return append([][]byte(nil), e.log.bodies...)
}

// fastPasswords keeps argon2id cheap in tests; production uses
// store.DefaultPasswordParams.
var fastPasswords = store.PasswordParams{Time: 1, Memory: 64, Threads: 1, SaltLen: 16, KeyLen: 32}

// newTestServer opens a fresh database on engine, wires every service into
// an httpapi.Server and serves it with httptest.
func newTestServer(t testing.TB, engine string) *testEnv {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	e := &testEnv{t: t, Engine: engine, Dir: dir, Clock: &testClock{now: time.Now().UTC()}, log: &responseLog{}}
	db := dbtest.Open(t, engine)
	if engine == dbtest.SQLite {
		if err := db.Read.QueryRowContext(ctx, `SELECT file FROM pragma_database_list WHERE name = 'main'`).Scan(&e.DBPath); err != nil {
			t.Fatal(err)
		}
	}
	var err error
	if db.Key, err = secret.GenerateKey(); err != nil {
		t.Fatal(err)
	}
	db.Blobs = blob.NewStore(filepath.Join(dir, "blobs"))
	db.Now = e.Clock.Now
	logger := slog.New(slog.NewTextHandler(testLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	db.Logger = logger
	e.DB = db

	e.Users = &store.UserService{DB: db, Password: fastPasswords}
	e.Policies = &store.PolicyService{DB: db}
	e.Remotes = &store.RemoteServerService{DB: db}
	e.Settings = &store.SettingsService{DB: db}
	e.Audit = &store.AuditService{DB: db}

	s := httpapi.NewServer()
	s.Logger = logger
	s.Users = e.Users
	s.Policies = e.Policies
	s.Remotes = e.Remotes
	s.Settings = e.Settings
	s.Audit = e.Audit
	s.DataSources = &store.DataSourceService{DB: db}
	// Federation with a client that reaches only loopback: the tests'
	// remote servers at example.org addresses are shown offline, never
	// contacted.
	peers := &federation.Client{HTTP: &http.Client{Transport: &http.Transport{DialContext: loopbackOnly}}, StatusTimeout: 2 * time.Second}
	workflows := &store.WorkflowService{DB: db, Remote: peers}
	s.Workflows = workflows
	s.Federation = &federation.Service{Peers: e.Remotes, Results: workflows, Client: peers}
	s.Reports = &store.ReportService{DB: db}
	s.Version = func(ctx context.Context) (bitnobi.VersionInfo, error) {
		v, err := db.SchemaVersion(ctx)
		return bitnobi.VersionInfo{AppVersion: bitnobi.Version, SchemaVersion: v, LatestSchema: store.LatestSchemaVersion(), Engine: db.Dialect.Name()}, err
	}
	s.BackupSettings = &store.BackupSettingsService{DB: db}
	e.Mail = &mail.Sender{Config: func(ctx context.Context) (mail.Config, error) {
		es, pw, err := e.Settings.EmailConfig(ctx)
		if err != nil {
			return mail.Config{}, err
		}
		return mail.Config{EmailSettings: *es, Password: pw}, nil
	}}
	s.TestEmail = func(ctx context.Context, to string) error {
		return e.Mail.Send(ctx, mail.Message{To: []string{to}, Subject: "Bitnobi test e-mail", Body: "It works."})
	}
	s.PasswordResets = &store.PasswordResetService{DB: db, Password: fastPasswords,
		Mail: func(ctx context.Context, to, username, token string, expires time.Time) error {
			return e.Mail.Send(ctx, mail.Message{To: []string{to}, Subject: "Bitnobi: reset your password", Body: "token=" + token + "\n"})
		}}
	s.ReadyChecks = map[string]httpapi.ReadyCheck{"database": func(ctx context.Context) error { return db.Read.PingContext(ctx) }}
	e.Server = s
	e.HTTP = httptest.NewServer(s.Handler())
	t.Cleanup(e.HTTP.Close) // runs before db.Close: cleanups are LIFO
	return e
}

// loopbackOnly dials addresses on 127.0.0.0/8 and ::1 only, without
// resolving names.
func loopbackOnly(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if ip, err := netip.ParseAddr(host); err != nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("test dialer: %s is not a loopback address", addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

// do sends a request and returns the status and the decoded JSON object
// (nil for an empty body). body may be nil, a string or []byte (sent as
// is), or any value (sent as JSON). token, if set, is sent as a bearer
// token.
func (e *testEnv) do(method, path, token string, body any) (int, J) {
	e.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			e.t.Fatalf("encode body: %v", err)
		}
		r = bytes.NewReader(data)
	}
	hdr := http.Header{}
	if body != nil {
		hdr.Set("Content-Type", "application/json")
	}
	if token != "" {
		hdr.Set("Authorization", "Bearer "+token)
	}
	status, data := e.raw(method, path, hdr, r)
	if len(bytes.TrimSpace(data)) == 0 {
		return status, nil
	}
	var v J
	if err := json.Unmarshal(data, &v); err != nil {
		e.t.Fatalf("%s %s: status %d, body is not a JSON object: %v: %s", method, path, status, err, data)
	}
	return status, v
}

// raw sends a request with exactly the given headers and body, and returns
// the status and body bytes.
func (e *testEnv) raw(method, path string, hdr http.Header, body io.Reader) (int, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.HTTP.URL+path, body)
	if err != nil {
		e.t.Fatalf("new request: %v", err)
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	resp, err := e.HTTP.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	e.log.mu.Lock()
	e.log.bodies = append(e.log.bodies, data)
	e.log.mu.Unlock()
	return resp.StatusCode, data
}

// must is do, failing the test unless the status is want.
func (e *testEnv) must(want int, method, path, token string, body any) J {
	e.t.Helper()
	status, v := e.do(method, path, token, body)
	if status != want {
		e.t.Fatalf("%s %s: status %d, want %d: %v", method, path, status, want, v)
	}
	return v
}

// password is the test password of username.
func password(username string) string { return "pw-" + username + "-long-enough" }

// signUp creates the account username and returns it.
func (e *testEnv) signUp(username string) J {
	e.t.Helper()
	return e.must(http.StatusCreated, "POST", "/api/auth/signup", "", J{
		"username": username, "email": username + "@example.org", "password": password(username),
	})
}

// signIn signs username in and returns the token.
func (e *testEnv) signIn(username string) string {
	e.t.Helper()
	v := e.must(http.StatusOK, "POST", "/api/auth/signin", "", J{"username": username, "password": password(username)})
	tok, _ := v["token"].(string)
	if tok == "" {
		e.t.Fatalf("sign-in of %s returned no token: %v", username, v)
	}
	return tok
}

// user signs username up and in, and returns their ID and token.
func (e *testEnv) user(username string) (id, token string) {
	e.t.Helper()
	u := e.signUp(username)
	return u["id"].(string), e.signIn(username)
}

// auditCount returns the number of audit entries, read from the database.
func (e *testEnv) auditCount() int64 {
	e.t.Helper()
	var n int64
	if err := e.queryRow(`SELECT COUNT(*) FROM audit_log`).Scan(&n); err != nil {
		e.t.Fatalf("count audit entries: %v", err)
	}
	return n
}

// queryRow runs query, written with "?" placeholders, on the read pool.
func (e *testEnv) queryRow(query string, args ...any) *sql.Row {
	return e.DB.Read.QueryRow(e.DB.Dialect.Rebind(query), args...)
}

// query runs query, written with "?" placeholders, on the read pool.
func (e *testEnv) query(query string, args ...any) (*sql.Rows, error) {
	return e.DB.Read.Query(e.DB.Dialect.Rebind(query), args...)
}

// exec runs statement, written with "?" placeholders, on the write pool,
// outside the services: tests use it to break things on purpose.
func (e *testEnv) exec(statement string, args ...any) (sql.Result, error) {
	return e.DB.Write.Exec(e.DB.Dialect.Rebind(statement), args...)
}

// storedData returns what the database holds, as bytes to search, keyed by
// where it was found: on SQLite the database files themselves (with the
// WAL and journal, so deleted and old values count too); on PostgreSQL,
// whose files the test cannot read, every value of every table.
func (e *testEnv) storedData() map[string][]byte {
	e.t.Helper()
	out := map[string][]byte{}
	if e.Engine == dbtest.SQLite {
		for _, suffix := range []string{"", "-wal", "-journal"} {
			data, err := os.ReadFile(e.DBPath + suffix)
			if os.IsNotExist(err) {
				continue
			} else if err != nil {
				e.t.Fatal(err)
			}
			out["database file "+e.DBPath+suffix] = data
		}
		return out
	}
	ctx := context.Background()
	tables, err := e.DB.Dialect.Tables(ctx, e.DB.Read)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, table := range tables {
		rows, err := e.DB.Read.QueryContext(ctx, `SELECT * FROM "`+table+`"`)
		if err != nil {
			e.t.Fatal(err)
		}
		cols, err := rows.Columns()
		if err != nil {
			e.t.Fatal(err)
		}
		var buf bytes.Buffer
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				e.t.Fatal(err)
			}
			for _, v := range vals {
				if b, ok := v.([]byte); ok {
					v = string(b)
				}
				fmt.Fprintf(&buf, "%v\t", v)
			}
			buf.WriteByte('\n')
		}
		if err := rows.Err(); err != nil {
			e.t.Fatal(err)
		}
		rows.Close()
		out["table "+table] = buf.Bytes()
	}
	return out
}

// testClock is the database clock: real time until a test moves it.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// testLogWriter sends server logs to the test log.
type testLogWriter struct{ t testing.TB }

func (w testLogWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", bytes.TrimRight(p, "\n"))
	return len(p), nil
}
