package main

import (
	"strings"
	"testing"
)

func TestHealth(t *testing.T) {
	srv := startServer(t, t.TempDir(), nil)
	t.Run("OK", func(t *testing.T) {
		code, out, errOut := runMain(t, nil, "health", "--url", srv.URL)
		if code != ExitOK || strings.TrimSpace(out) != "ok" {
			t.Fatalf("health exit %d, %q\n%s", code, out, errOut)
		}
	})
	t.Run("ErrNoServer", func(t *testing.T) {
		if code, _, _ := runMain(t, nil, "health", "--url", "http://127.0.0.1:1"); code != ExitFailed {
			t.Fatalf("health of no server: exit %d, want %d", code, ExitFailed)
		}
	})
	t.Run("ErrNotHealthy", func(t *testing.T) {
		if code, _, _ := runMain(t, nil, "health", "--url", srv.URL+"/nothing-here"); code != ExitFailed {
			t.Fatalf("health of a 404: exit %d, want %d", code, ExitFailed)
		}
	})
}
