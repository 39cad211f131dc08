package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// TestWorkflowPages drives the workflow and report pages with plain form
// posts (no browser): Apply, save, run, result and downloads, sharing,
// and a report, with what each user may see.
func TestWorkflowPages(t *testing.T) {
	e := newEnv(t)
	ada := e.client(t)
	ada.signUp("ada", "correct horse battery")
	alice := e.client(t)
	alice.signUp("alice", "correct horse battery")
	carol := e.client(t)
	carol.signUp("carol", "correct horse battery")
	dsID := strings.TrimPrefix(alice.upload("sales", "region,amount\nnorth,10\nsouth,20\nnorth,5\n"), "/datasources/")

	tok := alice.csrf("/workflows/new")
	draft := url.Values{
		"csrf": {tok}, "name": {"By region"}, "description": {""}, "exportables": {""},
		"elements": {"3"},
		"el-0-id":  {"in"}, "el-0-type": {"importer"}, "el-0-datasource": {dsID},
		"el-1-id": {"out"}, "el-1-type": {"result"},
		"el-2-id": {"g"}, "el-2-type": {"group"}, "el-2-config": {`{"by": ["region"], "aggregates": [{"op": "sum", "column": "amount", "as": "total"}]}`},
		"edges": {`[{"from": "in", "to": "g"}, {"from": "g", "to": "out"}]`},
	}
	with := func(k, v string) url.Values {
		c := url.Values{}
		for kk, vv := range draft {
			c[kk] = vv
		}
		c.Set(k, v)
		return c
	}

	// Apply after the group: its rows, and nothing stored.
	resp, body := alice.post("/workflows/new", with("action", "preview:g"))
	if resp.StatusCode != 200 || !strings.Contains(body, "After g (group)") || !regexp.MustCompile(`<td>north</td><td>15</td>`).MatchString(body) {
		t.Fatalf("Apply: %d\n%s", resp.StatusCode, body)
	}
	if _, body := alice.get("/workflows"); !strings.Contains(body, "No workflows yet") {
		t.Fatal("Apply stored a workflow")
	}
	// Settings that are not JSON: the error is beside the element.
	resp, body = alice.post("/workflows/new", with("el-2-config", "{by"))
	if !strings.Contains(body, `id="el-2-config-error"`) {
		t.Fatalf("bad JSON: %d\n%s", resp.StatusCode, body)
	}
	// Add an element: the draft grows, the graph is drawn again.
	add := with("action", "add")
	add.Set("new_type", "select")
	if _, body := alice.post("/workflows/new", add); !strings.Contains(body, `name="el-3-type" value="select"`) || strings.Count(body, "<rect") < 4 {
		t.Fatalf("add: %s", body)
	}
	// Save, run, read.
	resp, _ = alice.post("/workflows/new", with("action", "save"))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("save: %d", resp.StatusCode)
	}
	wf := resp.Header.Get("Location")
	resp, body = alice.post(wf+"/run", url.Values{"csrf": {tok}})
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "/result?run=") {
		t.Fatalf("run: %d %s", resp.StatusCode, body)
	}
	result := resp.Header.Get("Location")
	if _, body := alice.get(result); !strings.Contains(body, "<td>south</td><td>20</td>") || !strings.Contains(body, "Rows 1 to 2 of 2") {
		t.Fatalf("result page:\n%s", body)
	}
	if resp, body := alice.get(wf + "/result.csv"); resp.StatusCode != 200 || body != "region,total\nnorth,15\nsouth,20\n" {
		t.Fatalf("CSV: %d %q", resp.StatusCode, body)
	}
	if resp, body := alice.get(wf + "/result.json"); resp.StatusCode != 200 || body != `{"columns":["region","total"],"rows":[["north",15],["south",20]]}`+"\n" {
		t.Fatalf("JSON: %d %q", resp.StatusCode, body)
	}
	// A run posted without its CSRF token is refused.
	if resp, _ := alice.post(wf+"/run", url.Values{}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("run without CSRF: %d", resp.StatusCode)
	}

	// A report over it.
	resp, _ = alice.post("/reports/new", url.Values{"csrf": {tok}, "name": {"Regions"}, "workflow_id": {strings.TrimPrefix(wf, "/workflows/")}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("new report: %d", resp.StatusCode)
	}
	rep := strings.TrimSuffix(resp.Header.Get("Location"), "/edit")
	resp, body = alice.post(rep+"/edit", url.Values{"csrf": {tok}, "name": {"Regions"}, "charts": {"2"},
		"chart-0-type": {"table"}, "chart-1-type": {"pie"}, "chart-1-x": {"region"}, "chart-1-y": {"total, amount"}})
	if resp.StatusCode != 400 || !strings.Contains(body, `id="f-charts-error"`) {
		t.Fatalf("pie with two y: %d\n%s", resp.StatusCode, body)
	}
	resp, _ = alice.post(rep+"/edit", url.Values{"csrf": {tok}, "name": {"Regions"}, "charts": {"2"},
		"chart-0-type": {"table"}, "chart-1-type": {"pie"}, "chart-1-x": {"region"}, "chart-1-y": {"total"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("save report: %d", resp.StatusCode)
	}
	if _, body := alice.get(rep); strings.Count(body, "<path d=") != 2 || !strings.Contains(body, "north: 15 (43%)") {
		t.Fatalf("report page:\n%s", body)
	}

	// Carol is matched by no policy; the administrator sees all.
	for _, p := range []string{wf, result, wf + "/result.csv", rep} {
		if resp, _ := carol.get(p); resp.StatusCode != http.StatusNotFound {
			t.Errorf("carol GET %s: %d", p, resp.StatusCode)
		}
		if resp, _ := ada.get(p); resp.StatusCode != http.StatusOK {
			t.Errorf("ada GET %s: %d", p, resp.StatusCode)
		}
	}
}
