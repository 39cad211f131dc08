package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bitnobi/bitnobi/backup/format"
	"github.com/bitnobi/bitnobi/internal/datadir"
	"github.com/bitnobi/bitnobi/internal/dbtest"
	"github.com/bitnobi/bitnobi/internal/testutil"
	"github.com/bitnobi/bitnobi/postgres"
	"github.com/bitnobi/bitnobi/secret"
	"github.com/bitnobi/bitnobi/sqlite"
	"github.com/bitnobi/bitnobi/store"
	"github.com/google/go-cmp/cmp"
)

// The passwords and secrets the end-to-end test puts in, to check that
// they work after a restore.
var (
	e2eUsers = map[string]string{
		"admin": "admin password 1",
		"bob":   "bob password 22",
		"carol": "carol password 333",
		"dave":  "dave password 4444",
	}
	e2eSMTPPassword   = "smtp-secret-Zq9"
	e2eRemotePassword = "remote-secret-Xw7"
	e2eSQLPassword    = "sql-secret-Kp3"
)

// TestEndToEndBackupRestore is the whole story an operator relies on:
// every kind of entity put in through the API, a backup taken while the
// server serves, a restore into a fresh data directory, a server started
// there, and every entity compared through the API, secrets and
// passwords included. It runs from each engine to each (when
// BITNOBI_TEST_POSTGRES is set): a backup is engine-neutral, so one taken
// on SQLite restores into PostgreSQL and the other way round, and the
// state seen through the API is the same.
func TestEndToEndBackupRestore(t *testing.T) {
	engines := dbtest.Engines(t)
	for _, from := range engines {
		for _, to := range engines {
			name := engineName[from] + "To" + engineName[to]
			t.Run(name, func(t *testing.T) {
				if from != dbtest.SQLite || to != dbtest.SQLite {
					t.Parallel()
				}
				testEndToEnd(t, from, to)
			})
		}
	}
}

var engineName = map[string]string{dbtest.SQLite: "SQLite", dbtest.Postgres: "Postgres"}

// testEndToEnd backs up a server on engine from and restores into engine to.
func testEndToEnd(t *testing.T, from, to string) {
	root := t.TempDir()
	live := filepath.Join(root, "bitnobi-data")
	backups := filepath.Join(root, "backup")
	env := map[string]string{}
	if from == dbtest.Postgres {
		env[EnvDB] = dbtest.NewPostgresDatabase(t)
	}

	srv := startServer(t, live, env)
	// 100 MB as the issue asks; smaller under -race and -short, where
	// scripts/test.sh's separate run without the race detector covers the
	// full size, and across engines, where the rows are what is tested.
	bigSize := int64(100 << 20)
	if testing.Short() || raceEnabled || from != dbtest.SQLite || to != dbtest.SQLite {
		bigSize = 8 << 20
	}
	t.Logf("large upload: %d bytes", bigSize)
	populate(t, srv.URL, bigSize)
	before := snapshotState(t, srv.URL)

	// Back up while the server runs.
	code, out, errOut := runMain(t, env, "backup", "--data-dir", live, "--backup-dir", backups)
	if code != 0 {
		t.Fatalf("backup exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	name := testutil.LastLine(out)
	if got := filepath.Dir(name); got != backups {
		t.Fatalf("backup printed %q as its last line, want a path in %s", name, backups)
	}
	if !strings.HasPrefix(filepath.Base(name), "backup-") {
		t.Fatalf("backup name %q does not start with backup-", name)
	}
	srv.Stop(t)
	m, err := format.ReadManifest(name)
	if err != nil {
		t.Fatal(err)
	}
	if m.Engine != from {
		t.Errorf("manifest engine %q, want %q", m.Engine, from)
	}

	// Restore into a fresh data directory on "another machine": only the
	// backup and the master key travel.
	restored := filepath.Join(root, "elsewhere", "bitnobi-data")
	env2 := map[string]string{}
	if to == dbtest.Postgres {
		env2[EnvDB] = dbtest.NewPostgresDatabase(t)
	}
	code, out, errOut = runMain(t, env2, "restore", name, "--data-dir", restored, "--key-file", datadir.Dir(live).Key())
	if code != 0 {
		t.Fatalf("restore exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}

	srv2 := startServer(t, restored, env2)
	after := snapshotState(t, srv2.URL)

	// The restore itself is recorded, after the backup's entries.
	if len(after.Audit) <= len(before.Audit) {
		t.Fatalf("restored audit log has %d entries, want more than the %d before", len(after.Audit), len(before.Audit))
	}
	if got := after.Audit[len(before.Audit)]["action"]; got != "system.restore" {
		t.Errorf("first entry after the backup's is %v, want system.restore", got)
	}
	after.Audit = after.Audit[:len(before.Audit)]
	if got := after.Version["engine"]; got != to {
		t.Errorf("restored server's engine %v, want %s", got, to)
	}
	delete(before.Version, "engine") // the one thing that differs across engines
	delete(after.Version, "engine")
	if diff := cmp.Diff(before, after); diff != "" {
		t.Fatalf("state through the API differs after restore (-before +after):\n%s", diff)
	}
	var verify J
	signIn(t, srv2.URL, "admin", e2eUsers["admin"]).do("GET", "/api/audit/verify", nil, http.StatusOK, &verify)
	if verify["ok"] != true {
		t.Errorf("audit chain after restore: %v", verify)
	}
	srv2.Stop(t)

	// The secrets decrypt with the restored key: a round trip through the
	// store, as the code that sends mail or connects would do it.
	ctx := context.Background()
	rdir := datadir.Dir(restored)
	key, err := secret.ReadKeyFile(rdir.Key())
	if err != nil {
		t.Fatalf("restored master key: %v", err)
	}
	var db *store.DB
	if to == dbtest.Postgres {
		db, err = postgres.Open(ctx, env2[EnvDB])
	} else {
		db, err = sqlite.Open(ctx, rdir.DB())
	}
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.Key = key
	settings := &store.SettingsService{DB: db}
	if got, err := settings.EmailPassword(ctx); err != nil || got != e2eSMTPPassword {
		t.Errorf("restored SMTP password = %q, %v; want %q", got, err, e2eSMTPPassword)
	}
	rows, err := db.Read.QueryContext(ctx, `SELECT secret_id FROM remote_servers UNION ALL SELECT secret_id FROM datasources WHERE kind = 'sql'`)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if len(ids) != 2 {
		t.Fatalf("found %d remote/sql secrets, want 2", len(ids))
	}
	var revealed []string
	for _, id := range ids {
		v, err := db.RevealSecret(ctx, id)
		if err != nil {
			t.Fatalf("reveal restored secret %s: %v", id, err)
		}
		revealed = append(revealed, v)
	}
	if got := strings.Join(revealed, ","); !strings.Contains(got, e2eRemotePassword) || !strings.Contains(got, e2eSQLPassword) {
		t.Errorf("restored secrets %q, want the remote and SQL passwords", got)
	}
}

// populate puts every kind of entity into the server through the API.
func populate(t *testing.T, base string, bigSize int64) {
	t.Helper()
	anon := &client{t: t, base: base}
	for _, u := range []string{"admin", "bob", "carol", "dave"} {
		anon.do("POST", "/api/auth/signup", J{"username": u, "email": u + "@example.org", "password": e2eUsers[u]}, http.StatusCreated, nil)
	}
	admin := signIn(t, base, "admin", e2eUsers["admin"])
	bob := signIn(t, base, "bob", e2eUsers["bob"])
	carol := signIn(t, base, "carol", e2eUsers["carol"])

	var users struct{ Users []J }
	admin.do("GET", "/api/users", nil, http.StatusOK, &users)
	attrs := map[string]J{
		"bob":   {"organization": "Bitnobi", "department": "IT"},
		"carol": {"organization": "Bitnobi", "department": "Research"},
		"dave":  {"organization": "Other", "department": "IT"},
	}
	for _, u := range users.Users {
		if a, ok := attrs[u["username"].(string)]; ok {
			admin.do("PATCH", "/api/users/"+id(u), J{"attributes": a}, http.StatusOK, nil)
		}
	}

	var global, research J
	admin.do("POST", "/api/policies", J{"name": "Bitnobi staff", "attributes": J{"organization": "Bitnobi"}, "global": true}, http.StatusCreated, &global)
	bob.do("POST", "/api/policies", J{"name": "research", "description": "research only", "attributes": J{"organization": "Bitnobi", "department": "Research"}}, http.StatusCreated, &research)

	// Data sources: a large upload, a small CSV, a JSON file, an SQL one.
	big := bob.upload("big sales", "csv", "big.csv", newCSVStream(bigSize))
	small := bob.upload("sales", "csv", "sales.csv", strings.NewReader("region,amount\nnorth,10\nsouth,20\nnorth,5\n"))
	carol.upload("people", "json", "people.json", strings.NewReader(`[{"name":"ann","age":31},{"name":"ben","age":42}]`))
	bob.do("POST", "/api/datasources/sql", J{"name": "crm", "driver": "postgres", "host": "db.example.org", "port": 5432, "database": "crm", "user": "reader", "query": "SELECT 1", "password": e2eSQLPassword}, http.StatusCreated, nil)
	_ = big

	graph := J{
		"elements": []J{
			{"id": "in", "type": "importer", "config": J{"datasource_id": id(small)}},
			{"id": "g", "type": "group", "config": J{"by": []string{"region"}, "aggregates": []J{{"op": "sum", "column": "amount", "as": "total"}}}},
			{"id": "out", "type": "result"},
		},
		"edges": []J{{"from": "in", "to": "g"}, {"from": "g", "to": "out"}},
	}
	var wf J
	bob.do("POST", "/api/workflows", J{"name": "sales by region", "description": "totals", "graph": graph, "exportables": []string{"region", "total"}}, http.StatusCreated, &wf)
	bob.do("PUT", "/api/workflows/"+id(wf)+"/policies/"+id(global), nil, http.StatusNoContent, nil)
	bob.do("PUT", "/api/workflows/"+id(wf)+"/policies/"+id(research), nil, http.StatusNoContent, nil)
	var run J
	bob.do("POST", "/api/workflows/"+id(wf)+"/runs", nil, http.StatusCreated, &run)
	if run["status"] != "succeeded" {
		t.Fatalf("workflow run: %v", run)
	}
	bob.do("POST", "/api/reports", J{"workflow_id": id(wf), "name": "sales", "charts": []J{{"type": "bar", "title": "Sales", "x": "region", "y": []string{"total"}}, {"type": "table"}}}, http.StatusCreated, nil)

	admin.do("POST", "/api/remote-servers", J{"name": "partner", "url": "https://partner.example.org", "service_id": "svc-1", "password": e2eRemotePassword, "enabled": true}, http.StatusCreated, nil)
	admin.do("PUT", "/api/settings/email", J{"from": "bitnobi@example.org", "host": "smtp.example.org", "port": 587, "user": "mailer", "password": e2eSMTPPassword, "enabled": true}, http.StatusOK, nil)

	// Hundreds of audit entries.
	for i := 0; i < 300; i++ {
		bob.do("PATCH", "/api/policies/"+id(research), J{"description": fmt.Sprintf("revision %d", i)}, http.StatusOK, nil)
	}
}

// state is everything visible through the API, for comparison.
type state struct {
	Version  J
	Users    []J
	Policies map[string][]J // per user
	Sources  map[string][]J // per user
	Content  map[string]string
	Flows    map[string][]J
	Runs     map[string][]J
	Results  map[string]J
	Reports  map[string][]J
	Remotes  []J
	Email    J
	Audit    []J
}

// snapshotState reads everything through the API, as every user. The
// audit log is read last, since reads of data are audited too.
func snapshotState(t *testing.T, base string) state {
	t.Helper()
	st := state{Policies: map[string][]J{}, Sources: map[string][]J{}, Content: map[string]string{}, Flows: map[string][]J{},
		Runs: map[string][]J{}, Results: map[string]J{}, Reports: map[string][]J{}}
	(&client{t: t, base: base}).do("GET", "/api/version", nil, http.StatusOK, &st.Version)
	admin := signIn(t, base, "admin", e2eUsers["admin"])
	var users struct{ Users []J }
	admin.do("GET", "/api/users", nil, http.StatusOK, &users)
	st.Users = users.Users
	for _, name := range []string{"admin", "bob", "carol", "dave"} {
		c := signIn(t, base, name, e2eUsers[name])
		var pol struct{ Policies []J }
		c.do("GET", "/api/policies", nil, http.StatusOK, &pol)
		st.Policies[name] = pol.Policies
		var ds struct {
			DataSources []J `json:"datasources"`
		}
		c.do("GET", "/api/datasources", nil, http.StatusOK, &ds)
		st.Sources[name] = ds.DataSources
		var wfs struct{ Workflows []J }
		c.do("GET", "/api/workflows", nil, http.StatusOK, &wfs)
		st.Flows[name] = wfs.Workflows
		var reps struct{ Reports []J }
		c.do("GET", "/api/reports", nil, http.StatusOK, &reps)
		st.Reports[name] = reps.Reports
	}
	for _, ds := range st.Sources["admin"] {
		if ds["kind"] != "file" {
			continue
		}
		req, _ := http.NewRequest("GET", base+"/api/datasources/"+id(ds)+"/content", nil)
		req.Header.Set("Authorization", "Bearer "+admin.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		_, err = io.Copy(h, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("download %s: %v %d", id(ds), err, resp.StatusCode)
		}
		st.Content[id(ds)] = hex.EncodeToString(h.Sum(nil))
	}
	for _, wf := range st.Flows["admin"] {
		var runs struct{ Runs []J }
		admin.do("GET", "/api/workflows/"+id(wf)+"/runs", nil, http.StatusOK, &runs)
		st.Runs[id(wf)] = runs.Runs
		for _, r := range runs.Runs {
			var res J
			admin.do("GET", "/api/workflows/"+id(wf)+"/runs/"+id(r)+"/result", nil, http.StatusOK, &res)
			st.Results[id(r)] = res
		}
	}
	var rs struct {
		RemoteServers []J `json:"remote_servers"`
	}
	admin.do("GET", "/api/remote-servers", nil, http.StatusOK, &rs)
	st.Remotes = rs.RemoteServers
	admin.do("GET", "/api/settings/email", nil, http.StatusOK, &st.Email)
	after := 0
	for {
		var page struct{ Entries []J }
		admin.do("GET", fmt.Sprintf("/api/audit?after=%d&limit=1000", after), nil, http.StatusOK, &page)
		if len(page.Entries) == 0 {
			break
		}
		st.Audit = append(st.Audit, page.Entries...)
		after = int(page.Entries[len(page.Entries)-1]["seq"].(float64))
	}
	if len(st.Users) != 4 || len(st.Sources["admin"]) != 4 || len(st.Remotes) != 1 || len(st.Audit) < 300 {
		t.Fatalf("snapshot incomplete: %d users, %d data sources, %d remotes, %d audit entries", len(st.Users), len(st.Sources["admin"]), len(st.Remotes), len(st.Audit))
	}
	return st
}
