package main

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestServeSessionLifetime checks that serve takes the session lifetime
// from its environment variable, and refuses one that is not a duration.
func TestServeSessionLifetime(t *testing.T) {
	s := startServer(t, t.TempDir(), map[string]string{EnvSessionLifetime: "1h", EnvSessionIdle: "10m"})
	c := &client{t: t, base: s.URL}
	c.do("POST", "/api/auth/signup", J{"username": "admin", "email": "admin@example.org", "password": "correct horse battery"}, http.StatusCreated, nil)
	var out struct {
		ExpiresAt time.Time `json:"expires_at"`
	}
	c.do("POST", "/api/auth/signin", J{"username": "admin", "password": "correct horse battery"}, http.StatusOK, &out)
	if d := time.Until(out.ExpiresAt); d > time.Hour || d < 50*time.Minute {
		t.Fatalf("session expires in %v, want 1h", d)
	}

	code, _, stderr := runMain(t, map[string]string{EnvSessionIdle: "a day"}, "serve", "--data-dir", t.TempDir())
	if code != 2 || !strings.Contains(stderr, EnvSessionIdle) {
		t.Fatalf("serve with %s=\"a day\": exit %d, stderr %q; want 2 naming the variable", EnvSessionIdle, code, stderr)
	}
}
