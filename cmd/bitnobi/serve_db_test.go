package main

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/bitnobi/bitnobi/internal/dbtest"
)

func TestDBURL(t *testing.T) {
	m := &Main{Getenv: func(k string) string {
		if k == EnvDB {
			return "postgres://u:from-env@db/bitnobi"
		}
		return ""
	}}
	for _, tc := range []struct {
		name, flag, want string
		usage            bool
	}{
		{"Env", "", "postgres://u:from-env@db/bitnobi", false},
		{"Flag", "postgres://u@db/other", "postgres://u@db/other", false},
		{"FlagPassword", "postgres://u:secret@db/other", "", true},
		{"FlagKeywordPassword", "host=db user=u password=secret", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := m.dbURL(tc.flag)
			var ue *UsageError
			if errors.As(err, &ue) != tc.usage || got != tc.want {
				t.Fatalf("dbURL(%q)=%q, %v; want %q, usage error %v", tc.flag, got, err, tc.want, tc.usage)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Fatalf("the error repeats the password: %v", err)
			}
		})
	}
}

// TestServe_Postgres runs the server on PostgreSQL, then a second server
// on the same database from another data directory: it is refused with
// exit code 3, naming the first server's session.
func TestServe_Postgres(t *testing.T) {
	env := map[string]string{EnvDB: dbtest.NewPostgresDatabase(t)}
	s := startServer(t, t.TempDir(), env)
	resp, err := http.Get(s.URL + "/api/version")
	if err != nil {
		t.Fatal(err)
	}
	var v struct{ Engine string }
	err = json.NewDecoder(resp.Body).Decode(&v)
	resp.Body.Close()
	if err != nil || v.Engine != "postgres" {
		t.Fatalf("version: engine %q, %v; want postgres", v.Engine, err)
	}

	code, _, stderr := runMain(t, env, "serve", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0")
	if code != ExitLocked || !strings.Contains(stderr, "in use by another Bitnobi server") || !strings.Contains(stderr, `application "bitnobi serve"`) {
		t.Fatalf("second server: exit %d, stderr %q; want %d naming the first", code, stderr, ExitLocked)
	}

	s.Stop(t)
	s = startServer(t, t.TempDir(), env)
	s.Stop(t)
}
