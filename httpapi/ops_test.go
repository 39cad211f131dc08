package httpapi_test

import (
	"net/http"
	"net/netip"
	"regexp"
	"strings"
	"testing"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/internal/dbtest"
	"github.com/bitnobi/bitnobi/internal/smtptest"
)

// TestHealth: alive and ready without a session; a failing check is a 503
// that names it.
func TestHealth(t *testing.T) { dbtest.Run(t, testHealth) }

func testHealth(t *testing.T, engine string) {
	e := newTestServer(t, engine)
	if v := e.must(http.StatusOK, "GET", "/api/health", "", nil); v["status"] != "ok" {
		t.Fatalf("health %v", v)
	}
	v := e.must(http.StatusOK, "GET", "/api/ready", "", nil)
	if v["status"] != "ready" || v["checks"].(map[string]any)["database"] != "ok" {
		t.Fatalf("ready %v", v)
	}
	if err := e.DB.Read.Close(); err != nil {
		t.Fatal(err)
	}
	v = e.must(http.StatusServiceUnavailable, "GET", "/api/ready", "", nil)
	if v["status"] != "not ready" || v["checks"].(map[string]any)["database"] != "failed" {
		t.Fatalf("ready with the database closed: %v", v)
	}
}

// TestMetrics: the Prometheus text format, with the request metrics by
// route pattern; from an address not allowed, only the administrator.
func TestMetrics(t *testing.T) { dbtest.Run(t, testMetrics) }

func testMetrics(t *testing.T, engine string) {
	e := newTestServer(t, engine)
	adminID, admin := e.user("admin")
	_, alice := e.user("alice")
	e.must(http.StatusOK, "GET", "/api/users/"+adminID, admin, nil)
	status, body := e.raw("GET", "/metrics", nil, nil)
	if status != http.StatusOK {
		t.Fatalf("/metrics from loopback: %d %s", status, body)
	}
	for _, want := range []string{
		`bitnobi_http_requests_total{code="200",method="GET",route="/api/users/{id}"} 1`,
		`bitnobi_http_request_duration_seconds_bucket{method="POST",route="/api/auth/signin",le="+Inf"} 2`,
		"# TYPE go_goroutines gauge",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	e.Server.MetricsAllow = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
	if status, _ := e.raw("GET", "/metrics", nil, nil); status != http.StatusForbidden {
		t.Errorf("/metrics from an address not allowed, no token: %d, want 403", status)
	}
	if status, _ := e.raw("GET", "/metrics", http.Header{"Authorization": {"Bearer " + alice}}, nil); status != http.StatusForbidden {
		t.Errorf("/metrics from an address not allowed, a user's token: %d, want 403", status)
	}
	if status, _ := e.raw("GET", "/metrics", http.Header{"Authorization": {"Bearer " + admin}}, nil); status != http.StatusOK {
		t.Errorf("/metrics from an address not allowed, the administrator's token: %d, want 200", status)
	}
}

// TestBackupSettingsAPI: defaults, a save that hides the secret key, the
// overrides reported, validation, administrator only, and the warnings.
func TestBackupSettingsAPI(t *testing.T) { dbtest.Run(t, testBackupSettingsAPI) }

func testBackupSettingsAPI(t *testing.T, engine string) {
	e := newTestServer(t, engine)
	_, admin := e.user("admin")
	_, alice := e.user("alice")
	v := e.must(http.StatusOK, "GET", "/api/settings/backup", admin, nil)
	if v["enabled"] != true || v["schedule"] != "daily at 02:15" {
		t.Fatalf("defaults %v", v)
	}
	e.must(http.StatusForbidden, "GET", "/api/settings/backup", alice, nil)
	e.must(http.StatusForbidden, "PUT", "/api/settings/backup", alice, J{"schedule": "daily at 01:00"})
	e.must(http.StatusForbidden, "GET", "/api/warnings", alice, nil)

	changed := 0
	e.Server.BackupSettingsChanged = func() { changed++ }
	e.Server.BackupOverrides = func(s bitnobi.BackupSettings) (bitnobi.BackupSettings, []string) {
		s.AlertAfterHours = 48
		return s, []string{"alert_after_hours"}
	}
	const key = "offsite-secret-Zq81"
	v = e.must(http.StatusOK, "PUT", "/api/settings/backup", admin, J{
		"enabled": true, "schedule": "15 3 * * *", "retention": J{"keep_daily": 7},
		"alert_after_hours": 30, "offsite": J{"endpoint": "http://127.0.0.1:9000", "bucket": "bk"}, "offsite_secret_key": key,
	})
	off := v["offsite"].(map[string]any)
	if v["schedule"] != "15 3 * * *" || off["secret_key_set"] != true || changed != 1 {
		t.Fatalf("saved %v (scheduler woken %d times)", v, changed)
	}
	if eff := v["effective"].(map[string]any); eff["alert_after_hours"] != float64(48) || v["alert_after_hours"] != float64(30) {
		t.Fatalf("effective %v, stored %v", eff, v["alert_after_hours"])
	}
	if ov := v["overridden"].([]any); len(ov) != 1 || ov[0] != "alert_after_hours" {
		t.Fatalf("overridden %v", ov)
	}
	v = e.must(http.StatusBadRequest, "PUT", "/api/settings/backup", admin, J{"enabled": true, "schedule": "when convenient"})
	if v["field"] != "schedule" {
		t.Fatalf("bad schedule: %v", v)
	}
	for _, b := range e.responses() {
		if strings.Contains(string(b), key) {
			t.Fatalf("a response holds the off-site secret key: %s", b)
		}
	}

	e.Server.Warnings = func() []bitnobi.Warning {
		return []bitnobi.Warning{{Kind: "backup_failed", Message: "The scheduled backup failed", Mailed: true}}
	}
	v = e.must(http.StatusOK, "GET", "/api/warnings", admin, nil)
	if ws := v["warnings"].([]any); len(ws) != 1 || ws[0].(map[string]any)["kind"] != "backup_failed" {
		t.Fatalf("warnings %v", v)
	}
}

// TestTestEmailAndPasswordReset sends real mail through a real SMTP
// server (mailpit): the administrator's test e-mail, its failure with a
// refused login, and a forgotten password reset with the token the
// e-mail carried; the answer to an unknown address is the same.
func TestTestEmailAndPasswordReset(t *testing.T) { dbtest.Run(t, testTestEmailAndPasswordReset) }

func testTestEmailAndPasswordReset(t *testing.T, engine string) {
	env := smtptest.Get(t)
	e := newTestServer(t, engine)
	e.Mail.RootCAs = env.RootCAs
	_, admin := e.user("admin")
	aliceID, alice := e.user("alice" + engine)
	e.must(http.StatusConflict, "POST", "/api/settings/email/test", admin, J{}) // not enabled yet
	settings := J{"from": "bitnobi@example.org", "host": env.STARTTLS.Host, "port": env.STARTTLS.Port,
		"user": env.User, "password": "wrong-password", "security": "starttls", "enabled": true}
	e.must(http.StatusOK, "PUT", "/api/settings/email", admin, settings)
	v := e.must(http.StatusConflict, "POST", "/api/settings/email/test", admin, J{})
	if msg, _ := v["message"].(string); !strings.Contains(msg, "refused the login") {
		t.Fatalf("test e-mail with a wrong password: %v", v)
	}
	settings["password"] = env.Password
	e.must(http.StatusOK, "PUT", "/api/settings/email", admin, settings)
	to := "ops-" + engine + "@example.org"
	v = e.must(http.StatusOK, "POST", "/api/settings/email/test", admin, J{"to": to})
	if v["sent"] != true {
		t.Fatalf("test e-mail: %v", v)
	}
	env.STARTTLS.Find(t, to, "Bitnobi test e-mail")
	e.must(http.StatusForbidden, "POST", "/api/settings/email/test", alice, nil)

	// Forgot password: the same answer for an account and for none.
	known := e.must(http.StatusAccepted, "POST", "/api/auth/forgot-password", "", J{"email": "alice" + engine + "@example.org"})
	unknown := e.must(http.StatusAccepted, "POST", "/api/auth/forgot-password", "", J{"email": "nobody-" + engine + "@example.org"})
	if known["message"] != unknown["message"] {
		t.Fatalf("answers differ: %v / %v", known, unknown)
	}
	m := env.STARTTLS.Find(t, "alice"+engine+"@example.org", "Bitnobi: reset your password")
	tok := regexp.MustCompile(`token=([A-Za-z0-9_-]+)`).FindStringSubmatch(m.Text)
	if tok == nil {
		t.Fatalf("no token in %q", m.Text)
	}
	if n := env.STARTTLS.Count(t, "nobody-"+engine+"@example.org"); n != 0 {
		t.Fatalf("%d messages to an address with no account", n)
	}
	e.must(http.StatusBadRequest, "POST", "/api/auth/reset-password", "", J{"token": tok[1], "password": "short"})
	e.must(http.StatusNoContent, "POST", "/api/auth/reset-password", "", J{"token": tok[1], "password": "a brand new password"})
	e.must(http.StatusUnauthorized, "POST", "/api/auth/reset-password", "", J{"token": tok[1], "password": "another new password"}) // single use
	e.must(http.StatusUnauthorized, "GET", "/api/me", alice, nil)                                                                   // signed out everywhere
	e.must(http.StatusOK, "POST", "/api/auth/signin", "", J{"username": "alice" + engine, "password": "a brand new password"})
	var n int
	if err := e.queryRow(`SELECT COUNT(*) FROM audit_log WHERE action = ? AND target_id = ?`, bitnobi.ActionPasswordReset, aliceID).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d password-reset audit entries (%v), want 1", n, err)
	}
	if err := e.queryRow(`SELECT COUNT(*) FROM password_resets`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d reset tokens left (%v), want 0", n, err)
	}
}
