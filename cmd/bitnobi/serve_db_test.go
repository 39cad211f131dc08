package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bitnobi/bitnobi/internal/dbtest"
	"github.com/bitnobi/bitnobi/internal/testutil"
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

// TestMoveToPostgres follows the README's path from the embedded SQLite
// database to PostgreSQL: a backup on SQLite, a restore --db into an
// empty PostgreSQL database with the same data directory, serve --db; and
// the commands that read state (version, audit verify, backups diff ...
// live) with --db. A second restore, in place, keeps the previous schema.
func TestMoveToPostgres(t *testing.T) {
	dsn := dbtest.NewPostgresDatabase(t)
	root := t.TempDir()
	data := filepath.Join(root, "data")
	s := startServer(t, data, nil)
	anon := &client{t: t, base: s.URL}
	anon.do("POST", "/api/auth/signup", J{"username": "ada", "email": "ada@example.org", "password": "correct horse battery"}, http.StatusCreated, nil)
	s.Stop(t)

	code, out, errOut := runMain(t, nil, "backup", "--data-dir", data, "--quiet")
	if code != 0 {
		t.Fatalf("backup: exit %d\n%s%s", code, out, errOut)
	}
	name := testutil.LastLine(out)
	env := map[string]string{EnvDB: dsn}
	if code, out, errOut = runMain(t, env, "restore", name, "--data-dir", data); code != 0 {
		t.Fatalf("restore --db: exit %d\n%s%s", code, out, errOut)
	}
	if strings.Contains(out, "previous state") {
		t.Errorf("restore into an empty database kept a previous state: %s", out)
	}

	s = startServer(t, data, env)
	signIn(t, s.URL, "ada", "correct horse battery")
	// A restore while the server runs is refused, naming its session.
	code, _, errOut = runMain(t, env, "restore", name, "--data-dir", t.TempDir(), "--key-file", filepath.Join(data, "master.key"))
	if code != ExitLocked || !strings.Contains(errOut, `application "bitnobi serve"`) {
		t.Fatalf("restore beside a server: exit %d, %s; want %d naming it", code, errOut, ExitLocked)
	}
	s.Stop(t)

	if code, out, errOut = runMain(t, env, "version", "--data-dir", data, "--json"); code != 0 || !strings.Contains(out, `"engine": "postgres"`) {
		t.Fatalf("version --db: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut = runMain(t, env, "audit", "verify", "--data-dir", data); code != 0 || !strings.Contains(out, "audit chain OK") {
		t.Fatalf("audit verify --db: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut = runMain(t, env, "backups", "diff", filepath.Base(name), "live", "--data-dir", data); code != 0 || !strings.Contains(out, "from ") {
		t.Fatalf("backups diff live --db: exit %d\n%s%s", code, out, errOut)
	}
	// A backup on PostgreSQL, restored in place: the previous schema is kept.
	if code, out, errOut = runMain(t, env, "backup", "--data-dir", data, "--quiet"); code != 0 {
		t.Fatalf("backup --db: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut = runMain(t, env, "restore", testutil.LastLine(out), "--data-dir", data); code != 0 || !strings.Contains(out, "schema bitnobi_before_restore_") {
		t.Fatalf("restore --db in place: exit %d\n%s%s", code, out, errOut)
	}
}

// TestRestoreCommand_PostgresInterrupted checks the message of a restore
// --db that SIGINT stopped: the database is named and left as it was, and
// the blobs it may have added to the data directory are accounted for.
func TestRestoreCommand_PostgresInterrupted(t *testing.T) {
	dsn := dbtest.NewPostgresDatabase(t)
	root, dataDir := seededDataDir(t)
	path := mustBackup(t, dataDir)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	target := filepath.Join(root, "pg-data")
	code, out, errOut := runMainContext(t, ctx, map[string]string{EnvDB: dsn}, "restore", path, "--data-dir", target, "--key-file", filepath.Join(dataDir, "master.key"))
	if code != ExitInterrupted {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, ExitInterrupted, out, errOut)
	}
	for _, want := range []string{
		"Error: restore interrupted: the database, PostgreSQL ", ", was left as it was (any blobs already copied into " + filepath.Join(target, "blobs") + " are unused: the server's blob collection removes them)\n",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr does not say %q:\n%s", want, errOut)
		}
	}
}
