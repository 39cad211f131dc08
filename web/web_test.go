package web_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestSecurityHeaders checks the CSP (no inline script), the clickjacking
// protection and the session cookie's attributes.
func TestSecurityHeaders(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	resp, body := c.get("/signin")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /signin: %d", resp.StatusCode)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"script-src 'self'", "frame-ancestors 'none'", "default-src 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP allows inline code: %q", csp)
	}
	if got := resp.Header.Get("X-Frame-Options"); got != "DENY" {
		t.Errorf("X-Frame-Options = %q", got)
	}
	if strings.Contains(body, "<script>") || strings.Contains(body, " onclick=") {
		t.Errorf("the page has inline script:\n%s", body)
	}
	c.signUp("ada", "correct horse battery")
	u, _ := url.Parse(e.HTTP.URL)
	var found bool
	for _, ck := range c.jar.Cookies(u) {
		if ck.Name == "bitnobi_session" {
			found = true
		}
	}
	if !found {
		t.Fatal("no session cookie after sign-up")
	}
	// The Set-Cookie header itself: HttpOnly and SameSite=Lax.
	resp, _ = c.post("/signin", url.Values{"csrf": {csrfOf(t, c, "/signin")}, "username": {"ada"}, "password": {"correct horse battery"}})
	var sc string
	for _, h := range resp.Header.Values("Set-Cookie") {
		if strings.HasPrefix(h, "bitnobi_session=") {
			sc = h
		}
	}
	if !strings.Contains(sc, "HttpOnly") || !strings.Contains(sc, "SameSite=Lax") {
		t.Errorf("session cookie %q is not HttpOnly and SameSite=Lax", sc)
	}
	if strings.Contains(sc, "Secure") {
		t.Errorf("session cookie %q is Secure over plain HTTP without a trusted proxy", sc)
	}
}

func csrfOf(t *testing.T, c *client, path string) string {
	// Signed in, /signin redirects; the profile page carries the token.
	if path == "/signin" {
		path = "/profile"
	}
	return c.csrf(path)
}

// TestSecureCookieBehindProxy checks that X-Forwarded-Proto counts only
// when trusted.
func TestSecureCookieBehindProxy(t *testing.T) {
	e := newEnv(t)
	for _, trust := range []bool{false, true} {
		e.Web.TrustForwardedProto = trust
		req, _ := http.NewRequest("GET", e.HTTP.URL+"/signin", nil)
		req.Header.Set("X-Forwarded-Proto", "https")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		sc := resp.Header.Get("Set-Cookie")
		if got := strings.Contains(sc, "; Secure"); got != trust {
			t.Errorf("trust=%v: Set-Cookie %q, Secure=%v", trust, sc, got)
		}
	}
}

// TestNoSessionRedirects checks that a page asked for without a session
// goes to sign-in, which brings the user back afterwards.
func TestNoSessionRedirects(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	c.signUp("ada", "correct horse battery")
	c2 := e.client(t)
	resp, _ := c2.get("/profile?x=1")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/signin?next="+url.QueryEscape("/profile?x=1") {
		t.Fatalf("no session: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	tok := c2.csrf("/signin")
	resp, _ = c2.post("/signin", url.Values{"csrf": {tok}, "username": {"ada"}, "password": {"correct horse battery"}, "next": {"/profile?x=1"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/profile?x=1" {
		t.Fatalf("sign in: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// A next pointing elsewhere is not followed.
	resp, _ = c2.get("/signin?next=//evil.example/")
	if loc := resp.Header.Get("Location"); loc != "/" {
		t.Fatalf("signed-in /signin?next=//evil.example/ goes to %q", loc)
	}
}

// TestCSRFRefused checks that forms posted without their token, or with
// another session's, are refused and change nothing.
func TestCSRFRefused(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	c.signUp("ada", "correct horse battery")
	for _, tok := range []string{"", "forged"} {
		resp, body := c.post("/profile", url.Values{"csrf": {tok}, "email": {"evil@example.org"}, "current_password": {"correct horse battery"}})
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "reload the page") {
			t.Fatalf("csrf %q: status %d:\n%s", tok, resp.StatusCode, body)
		}
	}
	// Sign-in without the pre-session token is refused too.
	c2 := e.client(t)
	resp, _ := c2.post("/signin", url.Values{"username": {"ada"}, "password": {"correct horse battery"}})
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("sign-in without token: %d", resp.StatusCode)
	}
	// A cross-site request is refused by its Sec-Fetch-Site header alone.
	req, _ := http.NewRequest("POST", e.HTTP.URL+"/signout", strings.NewReader("csrf="+c.csrf("/profile")))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := c.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site sign-out: %d", resp.StatusCode)
	}
	if resp, _ := c.get("/profile"); resp.StatusCode != http.StatusOK {
		t.Fatalf("still signed in? profile: %d", resp.StatusCode)
	}
}

// TestAPIUnchanged checks that /api keeps answering JSON, while / is now
// the pages.
func TestAPIUnchanged(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	resp, body := c.get("/api/version")
	if resp.StatusCode != 200 || !strings.Contains(body, `"app_version"`) {
		t.Fatalf("/api/version: %d %s", resp.StatusCode, body)
	}
	resp, body = c.get("/api/nope")
	if resp.StatusCode != 404 || !strings.Contains(body, `"not_found"`) {
		t.Fatalf("/api/nope: %d %s", resp.StatusCode, body)
	}
	resp, _ = c.get("/")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/signin" {
		t.Fatalf("GET / without session: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// TestUploadErrorsAsJSON checks that the upload script gets JSON errors:
// for a missing CSRF token and for a session that has ended.
func TestUploadErrorsAsJSON(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	c.signUp("ada", "correct horse battery")
	for _, tt := range []struct {
		name   string
		client *client
		status int
		code   string
	}{{"no token", c, http.StatusForbidden, `"code":"forbidden"`}, {"no session", e.client(t), http.StatusUnauthorized, `"code":"unauthorized"`}} {
		req, _ := http.NewRequest("POST", e.HTTP.URL+"/datasources/upload", strings.NewReader("--x--\r\n"))
		req.Header.Set("Content-Type", "multipart/form-data; boundary=x")
		req.Header.Set("Accept", "application/json")
		resp, err := tt.client.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status || !strings.Contains(string(b), tt.code) {
			t.Errorf("%s: %d %s", tt.name, resp.StatusCode, b)
		}
	}
}
