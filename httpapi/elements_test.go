package httpapi_test

// Tests of the elements that reach beyond uploaded files, through the API
// on both engines: Audit Log, Workflow, SQL and Python, the Python
// settings, and the pilots' smoke test (upload, Importer -> Result,
// Audit Log -> Result, Audit Log -> Python -> Result).

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/internal/dbtest"
)

// graph makes a workflow graph whose elements feed each other in order;
// each element is {id, type, config}.
func graph(els ...J) J {
	var edges []J
	for i := 1; i < len(els); i++ {
		edges = append(edges, J{"from": els[i-1]["id"], "to": els[i]["id"]})
	}
	return J{"elements": els, "edges": edges}
}

func elem(id, typ string, config J) J {
	e := J{"id": id, "type": typ}
	if config != nil {
		e["config"] = config
	}
	return e
}

// runWorkflow creates a workflow of g as token's user, runs it and
// returns the workflow ID and the run.
func (e *testEnv) runWorkflow(token, name string, g J) (string, J) {
	e.t.Helper()
	id := e.must(http.StatusCreated, "POST", "/api/workflows", token, J{"name": name, "graph": g})["id"].(string)
	return id, e.must(http.StatusCreated, "POST", "/api/workflows/"+id+"/runs", token, nil)
}

// wantRun fails unless run has status "succeeded", or "failed" with an
// error containing msg.
func wantRun(t *testing.T, run J, msg string) {
	t.Helper()
	if msg == "" {
		if run["status"] != "succeeded" {
			t.Fatalf("run: %v", run)
		}
		return
	}
	if run["status"] != "failed" || !strings.Contains(fmt.Sprint(run["error"]), msg) {
		t.Fatalf("run: %v, want it failed with %q", run, msg)
	}
}

func TestPythonSettings(t *testing.T) { dbtest.Run(t, testPythonSettings) }

func testPythonSettings(t *testing.T, engine string) {
	e := newTestServer(t, engine)
	_, admin := e.user("admin")
	_, alice := e.user("alice")
	v := e.must(http.StatusOK, "GET", "/api/settings/python", admin, nil)
	if v["enabled"] != false || v["cpu_seconds"] != 30.0 || v["memory_mb"] != 512.0 || v["output_mb"] != 256.0 || v["wall_seconds"] != 120.0 {
		t.Fatalf("defaults: %v", v)
	}
	for _, m := range []string{"GET", "PUT"} {
		status, v := e.do(m, "/api/settings/python", alice, J{"enabled": true})
		wantError(t, status, v, http.StatusForbidden, bitnobi.EFORBIDDEN, "")
	}
	status, v := e.do("PUT", "/api/settings/python", admin, J{"enabled": true, "memory_mb": 999999})
	wantError(t, status, v, http.StatusBadRequest, bitnobi.EINVALID, "memory_mb")
	before := e.auditActions()
	v = e.must(http.StatusOK, "PUT", "/api/settings/python", admin, J{"enabled": true, "cpu_seconds": 5})
	if v["enabled"] != true || v["cpu_seconds"] != 5.0 || v["memory_mb"] != 512.0 || v["updated_at"] == nil {
		t.Fatalf("saved: %v", v)
	}
	e.wantAudit(before, map[string]int{bitnobi.ActionSettingsUpdate: 1})
	if a := e.lastAudit(bitnobi.ActionSettingsUpdate); a.TargetID != "python" {
		t.Fatalf("audit: %+v", a)
	}
	if v := e.must(http.StatusOK, "GET", "/api/settings/python", admin, nil); v["enabled"] != true || v["cpu_seconds"] != 5.0 {
		t.Fatalf("read back: %v", v)
	}
	// A second save updates the row.
	if v := e.must(http.StatusOK, "PUT", "/api/settings/python", admin, J{"enabled": false}); v["enabled"] != false || v["cpu_seconds"] != 30.0 {
		t.Fatalf("second save: %v", v)
	}
}

// TestSmoke is the original pilots' smoke test through the API: upload a
// CSV, Importer -> Result, Audit Log -> Result, Audit Log -> Python ->
// Result, then check the audit log.
func TestSmoke(t *testing.T) { dbtest.Run(t, testSmoke) }

func testSmoke(t *testing.T, engine string) {
	e := newTestServer(t, engine)
	_, admin := e.user("admin")
	aliceID, alice := e.user("alice")

	ds := e.uploadFile(admin, "sales", "sales.csv", salesCSV)["id"].(string)
	_, run := e.runWorkflow(admin, "import", graph(elem("in", "importer", J{"datasource_id": ds}), elem("out", "result", nil)))
	wantRun(t, run, "")
	if run["result_rows"] != 5.0 {
		t.Fatalf("importer run: %v", run)
	}

	// Audit Log -> Result, with and without filters.
	auditID, run := e.runWorkflow(admin, "audit", graph(elem("log", "auditlog", nil), elem("out", "result", nil)))
	wantRun(t, run, "")
	if got := fmt.Sprint(run["result_columns"]); got != "[seq at actor_id actor_name action target_type target_id detail remote_addr remote_user]" {
		t.Fatalf("columns: %s", got)
	}
	if n := run["result_rows"].(float64); n < 8 {
		t.Fatalf("only %v audit rows", n)
	}
	if a := e.lastAudit(bitnobi.ActionDataSourceAccess); a.TargetType != "audit_log" || a.ActorName != "admin" {
		t.Fatalf("the read is not audited: %+v", a)
	}
	_, run = e.runWorkflow(admin, "signups", graph(elem("log", "auditlog", J{"action": "user.signup", "actor": "alice"}), elem("out", "result", nil)))
	wantRun(t, run, "")
	v := e.must(http.StatusOK, "GET", "/api/workflows/"+run["workflow_id"].(string)+"/runs/"+run["id"].(string)+"/result", admin, nil)
	rows := v["rows"].([]any)
	if len(rows) != 1 || rows[0].([]any)[2] != aliceID || rows[0].([]any)[4] != "user.signup" {
		t.Fatalf("alice's sign-up: %v", rows)
	}
	_, run = e.runWorkflow(admin, "future", graph(elem("log", "auditlog", J{"since": "2999-01-01T00:00:00Z"}), elem("out", "result", nil)))
	wantRun(t, run, "")
	if run["result_rows"] != 0.0 {
		t.Fatalf("entries from the future: %v", run)
	}

	// Audit Log -> Python -> Result: off until the administrator enables it.
	code := "def transform(rows):\n" +
		"    counts = {}\n" +
		"    for r in rows:\n" +
		"        counts[r['action']] = counts.get(r['action'], 0) + 1\n" +
		"    for action in sorted(counts):\n" +
		"        yield {'action': action, 'n': counts[action]}\n"
	pyGraph := graph(elem("log", "auditlog", J{"action": "user.signup"}), elem("py", "python", J{"code": code}), elem("out", "result", nil))
	pyID, run := e.runWorkflow(admin, "python", pyGraph)
	wantRun(t, run, "Python elements are off")
	e.must(http.StatusOK, "PUT", "/api/settings/python", admin, J{"enabled": true, "cpu_seconds": 5, "wall_seconds": 30})
	run = e.must(http.StatusCreated, "POST", "/api/workflows/"+pyID+"/runs", admin, nil)
	wantRun(t, run, "")
	v = e.must(http.StatusOK, "GET", "/api/workflows/"+pyID+"/runs/"+run["id"].(string)+"/result", admin, nil)
	if want := []any{[]any{"user.signup", 2.0}}; !reflect.DeepEqual(v["rows"], want) {
		t.Fatalf("python result: %v, want %v", v["rows"], want)
	}

	// Draw a report over the Python result, then check the audit log
	// (through an Audit Log element) for what the smoke test did.
	e.must(http.StatusCreated, "POST", "/api/reports", admin, J{"workflow_id": pyID, "name": "actions",
		"charts": []J{{"type": "bar", "title": "Actions", "x": "action", "y": []string{"n"}}}})
	checkID, run := e.runWorkflow(admin, "check", graph(elem("log", "auditlog", J{"actor": "admin"}),
		elem("g", "group", J{"by": []string{"action"}, "aggregates": []J{{"op": "count"}}}), elem("out", "result", nil)))
	wantRun(t, run, "")
	v = e.must(http.StatusOK, "GET", "/api/workflows/"+checkID+"/runs/"+run["id"].(string)+"/result", admin, nil)
	counts := map[string]float64{}
	for _, r := range v["rows"].([]any) {
		counts[r.([]any)[0].(string)] = r.([]any)[1].(float64)
	}
	for action, n := range map[string]float64{bitnobi.ActionDataSourceCreate: 1, bitnobi.ActionReportCreate: 1, bitnobi.ActionSettingsUpdate: 1, bitnobi.ActionWorkflowCreate: 6,
		// This run's own start is in the log, its end not yet.
		bitnobi.ActionWorkflowStart: 7, bitnobi.ActionWorkflowEnd: 6} {
		if counts[action] != n {
			t.Errorf("the audit log has %v %s entries by admin, want %v (all: %v)", counts[action], action, n, counts)
		}
	}

	t.Run("PythonCannotReadTheBlobStore", func(t *testing.T) {
		e := e.For(t)
		code := "import os\ndef transform(rows):\n    return [{'x': str(os.listdir(" + strconv.Quote(e.DB.Blobs.Dir) + "))}]\n"
		_, run := e.runWorkflow(admin, "snoop", graph(elem("in", "importer", J{"datasource_id": ds}), elem("py", "python", J{"code": code}), elem("out", "result", nil)))
		wantRun(t, run, "PermissionError")
	})

	t.Run("AuditLogNotForOthers", func(t *testing.T) {
		e := e.For(t)
		// Alice may not read the log, nor may the administrator through
		// a workflow of hers.
		wfID, run := e.runWorkflow(alice, "mine", graph(elem("log", "auditlog", nil), elem("out", "result", nil)))
		wantRun(t, run, "Only the administrator's workflows may read the audit log")
		run = e.must(http.StatusCreated, "POST", "/api/workflows/"+wfID+"/runs", admin, nil)
		wantRun(t, run, "Only the administrator's workflows may read the audit log")
		// Nor through a workflow of the administrator's that she runs
		// by a Workflow element: she may not start it.
		_, run = e.runWorkflow(alice, "via", graph(elem("w", "workflow", J{"workflow_id": auditID}), elem("out", "result", nil)))
		wantRun(t, run, "Workflow not found")
	})

	t.Run("SettingsAudited", func(t *testing.T) {
		e := e.For(t)
		_, run := e.runWorkflow(admin, "settings", graph(elem("log", "auditlog", J{"target_type": "settings"}), elem("out", "result", nil)))
		wantRun(t, run, "")
		if run["result_rows"] != 1.0 {
			t.Fatalf("settings entries: %v", run)
		}
	})
}

func TestWorkflowElement(t *testing.T) { dbtest.Run(t, testWorkflowElement) }

func testWorkflowElement(t *testing.T, engine string) {
	e := newTestServer(t, engine)
	e.user("admin")
	_, alice := e.user("alice")
	_, bob := e.user("bob")
	ds := e.uploadFile(alice, "sales", "sales.csv", salesCSV)["id"].(string)
	inner, run := e.runWorkflow(alice, "inner", graph(elem("in", "importer", J{"datasource_id": ds}),
		elem("s", "select", J{"where": []J{{"column": "product", "op": "=", "value": "apple"}}}), elem("out", "result", nil)))
	wantRun(t, run, "")

	outer, run := e.runWorkflow(alice, "outer", graph(elem("w", "workflow", J{"workflow_id": inner}),
		elem("g", "group", J{"by": []string{"region"}, "aggregates": []J{{"op": "count"}}}), elem("out", "result", nil)))
	wantRun(t, run, "")
	v := e.must(http.StatusOK, "GET", "/api/workflows/"+outer+"/runs/"+run["id"].(string)+"/result", alice, nil)
	if want := []any{[]any{"north", 2.0}, []any{"south", 1.0}, []any{"east", 1.0}}; !reflect.DeepEqual(v["rows"], want) {
		t.Fatalf("rows %v, want %v", v["rows"], want)
	}
	// The inner workflow ran again, as a run of its own.
	if runs := e.must(http.StatusOK, "GET", "/api/workflows/"+inner+"/runs", alice, nil)["runs"].([]any); len(runs) != 2 {
		t.Fatalf("inner runs: %d", len(runs))
	}

	t.Run("Cycle", func(t *testing.T) {
		e := e.For(t)
		e.must(http.StatusOK, "PATCH", "/api/workflows/"+inner, alice, J{"graph": graph(elem("w", "workflow", J{"workflow_id": outer}), elem("out", "result", nil))})
		n := e.auditCount()
		run := e.must(http.StatusCreated, "POST", "/api/workflows/"+outer+"/runs", alice, nil)
		wantRun(t, run, `Workflow elements form a cycle: "outer" runs "inner" runs "outer"`)
		if e.auditCount() > n+8 {
			t.Fatalf("the cycle ran on: %d audit entries", e.auditCount()-n)
		}
		self, _ := e.runWorkflow(alice, "self", graph(elem("in", "importer", J{"datasource_id": ds}), elem("out", "result", nil)))
		e.must(http.StatusOK, "PATCH", "/api/workflows/"+self, alice, J{"graph": graph(elem("w", "workflow", J{"workflow_id": self}), elem("out", "result", nil))})
		run = e.must(http.StatusCreated, "POST", "/api/workflows/"+self+"/runs", alice, nil)
		wantRun(t, run, `cycle: "self" runs "self"`)
	})

	t.Run("OthersWorkflow", func(t *testing.T) {
		e := e.For(t)
		_, run := e.runWorkflow(bob, "bob's", graph(elem("w", "workflow", J{"workflow_id": outer}), elem("out", "result", nil)))
		wantRun(t, run, "Workflow not found")
	})
}

// TestSQLElement runs a SQL element against the test PostgreSQL server
// (scripts/with-postgres.sh), with the password sealed in the data source.
func TestSQLElement(t *testing.T) { dbtest.Run(t, testSQLElement) }

func testSQLElement(t *testing.T, engine string) {
	dsn := os.Getenv(dbtest.EnvPostgres)
	if dsn == "" {
		if os.Getenv(dbtest.EnvPostgresRequired) == "1" {
			t.Fatalf("%s is not set", dbtest.EnvPostgres)
		}
		t.Skipf("%s is not set: run under bash scripts/with-postgres.sh", dbtest.EnvPostgres)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	e := newTestServer(t, engine)
	e.user("admin")
	_, alice := e.user("alice")
	_, bob := e.user("bob")
	port, _ := strconv.Atoi(u.Port())
	pass, _ := u.User.Password()
	src := J{"name": "pg", "driver": "postgres", "host": u.Hostname(), "port": port, "database": strings.TrimPrefix(u.Path, "/"),
		"user": u.User.Username(), "password": pass, "query": "SELECT 'north' AS region, 42 AS n UNION ALL SELECT 'south', 7 ORDER BY 1"}
	ds := e.must(http.StatusCreated, "POST", "/api/datasources/sql", alice, src)["id"].(string)
	before := e.auditActions()
	wf, run := e.runWorkflow(alice, "sql", graph(elem("q", "sql", J{"datasource_id": ds}), elem("out", "result", nil)))
	wantRun(t, run, "")
	v := e.must(http.StatusOK, "GET", "/api/workflows/"+wf+"/runs/"+run["id"].(string)+"/result", alice, nil)
	if want := []any{[]any{"north", 42.0}, []any{"south", 7.0}}; !reflect.DeepEqual(v["rows"], want) {
		t.Fatalf("rows %v, want %v", v["rows"], want)
	}
	e.wantAudit(before, map[string]int{bitnobi.ActionWorkflowCreate: 1, bitnobi.ActionWorkflowStart: 1, bitnobi.ActionWorkflowEnd: 1, bitnobi.ActionDataSourceAccess: 2})

	// A wrong password fails the run, saying so.
	e.must(http.StatusOK, "PATCH", "/api/datasources/"+ds, alice, J{"password": "wrong"})
	run = e.must(http.StatusCreated, "POST", "/api/workflows/"+wf+"/runs", alice, nil)
	wantRun(t, run, "refused the user name or password")
	// Bob may not query alice's data source.
	_, run = e.runWorkflow(bob, "bob's", graph(elem("q", "sql", J{"datasource_id": ds}), elem("out", "result", nil)))
	wantRun(t, run, "Data source not found")
}
