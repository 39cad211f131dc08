package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestServeWebPages checks that "bitnobi serve" answers GET / with the
// pages (a redirect to sign-in, which renders) while /api keeps its JSON.
func TestServeWebPages(t *testing.T) {
	s := startServer(t, t.TempDir(), nil)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := client.Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	if resp, _ := get("/"); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/signin" {
		t.Fatalf("GET /: %d to %q, want the sign-in page", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, body := get("/signin")
	if resp.StatusCode != 200 || !strings.Contains(body, `<form method="post" action="/signin"`) || resp.Header.Get("Content-Security-Policy") == "" {
		t.Fatalf("GET /signin: %d\n%s", resp.StatusCode, body)
	}
	if resp, body := get("/api/version"); resp.StatusCode != 200 || !strings.Contains(body, `"app_version"`) {
		t.Fatalf("GET /api/version: %d %s", resp.StatusCode, body)
	}
	if resp, body := get("/api/no-such"); resp.StatusCode != 404 || !strings.Contains(body, `"code":"not_found"`) {
		t.Fatalf("GET /api/no-such: %d %s", resp.StatusCode, body)
	}
}
