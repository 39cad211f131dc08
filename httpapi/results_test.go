package httpapi_test

// Tests of the routes that read data out of workflows without storing it
// (previews), of result downloads (CSV, pages, the latest result) and of
// report data, on every engine.

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/httpapi"
	"github.com/bitnobi/bitnobi/internal/dbtest"
	"github.com/bitnobi/bitnobi/store"
)

// runCount counts the stored runs of every workflow.
func (e *testEnv) runCount() int64 {
	e.t.Helper()
	var n int64
	if err := e.queryRow(`SELECT COUNT(*) FROM workflow_runs`).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// get sends a GET with token and returns status, headers and body.
func (e *testEnv) get(path, token string) (int, http.Header, string) {
	e.t.Helper()
	req, err := http.NewRequest("GET", e.HTTP.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := e.HTTP.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(data)
}

func TestWorkflowPreview(t *testing.T) { dbtest.Run(t, testWorkflowPreview) }

func testWorkflowPreview(t *testing.T, engine string) {
	s := newSharingSetup(t, engine)
	e := s.e
	e.must(http.StatusNoContent, "PUT", "/api/workflows/"+s.wfID+"/policies/"+s.policyID, s.alice, nil)
	path := "/api/workflows/" + s.wfID + "/preview"

	t.Run("AfterEachElement", func(t *testing.T) {
		e := e.For(t)
		before, runs := e.auditActions(), e.runCount()
		for _, tc := range []struct {
			element string
			rows    int
			cols    string
			want    []any
			more    bool
		}{
			{"in", 2, "[region product amount]", []any{[]any{"north", "apple", "10"}, []any{"south", "apple", "5"}}, true},
			{"apples", 0, "[region product amount]", []any{[]any{"north", "apple", "10"}, []any{"south", "apple", "5"}, []any{"east", "apple", "7"}, []any{"north", "apple", "1"}}, false},
			{"by_region", 3, "[region count total]", []any{[]any{"north", 2.0, 11.0}, []any{"south", 1.0, 5.0}, []any{"east", 1.0, 7.0}}, false},
			{"out", 1, "[region count total]", []any{[]any{"north", 2.0, 11.0}}, true},
		} {
			p := e.must(http.StatusOK, "POST", path, s.alice, J{"element_id": tc.element, "rows": tc.rows})
			if p["error"] != nil || fmt.Sprint(p["columns"]) != tc.cols || !reflect.DeepEqual(p["rows"], tc.want) || p["more"] != tc.more || p["element_id"] != tc.element {
				t.Errorf("preview after %q: %v", tc.element, p)
			}
		}
		// Nothing is stored; each preview read the data source as a run
		// does, and was audited as such.
		if n := e.runCount(); n != runs {
			t.Fatalf("previews stored %d runs", n-runs)
		}
		e.wantAudit(before, map[string]int{bitnobi.ActionDataSourceAccess: 4})
	})

	t.Run("EditedGraph", func(t *testing.T) {
		e := e.For(t)
		// An unsaved edit, incomplete downstream (a join with one input,
		// no result yet): what "top" depends on is complete, so it shows.
		g := J{
			"elements": []J{
				{"id": "in", "type": "importer", "config": J{"datasource_id": s.dsID}},
				{"id": "top", "type": "select", "config": J{"columns": []string{"amount", "region"}, "where": []J{{"column": "amount", "op": ">", "value": "6"}}}},
				{"id": "j", "type": "join", "config": J{"on": "region"}},
			},
			"edges": []J{{"from": "in", "to": "top"}, {"from": "top", "to": "j"}},
		}
		p := e.must(http.StatusOK, "POST", path, s.alice, J{"element_id": "top", "graph": g})
		if want := []any{[]any{"10", "north"}, []any{"7", "east"}}; !reflect.DeepEqual(p["rows"], want) || fmt.Sprint(p["columns"]) != "[amount region]" {
			t.Fatalf("preview: %v", p)
		}
		// The saved graph is unchanged.
		wf := e.must(http.StatusOK, "GET", "/api/workflows/"+s.wfID, s.alice, nil)
		if n := len(wf["graph"].(map[string]any)["elements"].([]any)); n != 4 {
			t.Fatalf("saved graph has %d elements", n)
		}
		// The join itself is not complete: a 400 that says so.
		status, v := e.do("POST", path, s.alice, J{"element_id": "j", "graph": g})
		wantError(t, status, v, http.StatusBadRequest, bitnobi.EINVALID, "graph")
		if !strings.Contains(v["message"].(string), `"j"`) {
			t.Errorf("message %q does not name the join", v["message"])
		}
		// An element named "preview" does not clash with the result
		// the preview adds.
		g2 := J{"elements": []J{{"id": "preview", "type": "importer", "config": J{"datasource_id": s.dsID}}}}
		p = e.must(http.StatusOK, "POST", path, s.alice, J{"element_id": "preview", "graph": g2, "rows": 1})
		if p["error"] != nil || len(p["rows"].([]any)) != 1 {
			t.Fatalf("preview: %v", p)
		}
	})

	t.Run("Unsaved", func(t *testing.T) {
		e := e.For(t)
		g := J{"elements": []J{{"id": "in", "type": "importer", "config": J{"datasource_id": s.dsID}}}}
		p := e.must(http.StatusOK, "POST", "/api/workflows/preview", s.alice, J{"element_id": "in", "graph": g, "rows": 5})
		if len(p["rows"].([]any)) != 5 || p["more"] != false {
			t.Fatalf("alice's preview: %v", p)
		}
		// Bob may not read alice's file: a run of his would fail, and so
		// does his preview, saying why.
		before := e.auditActions()
		p = e.must(http.StatusOK, "POST", "/api/workflows/preview", s.bob, J{"element_id": "in", "graph": g})
		if msg, _ := p["error"].(string); !strings.Contains(msg, "Data source not found") || len(p["rows"].([]any)) != 0 {
			t.Fatalf("bob's preview of alice's file: %v", p)
		}
		e.wantAudit(before, nil)
		status, v := e.do("POST", "/api/workflows/preview", s.alice, J{"element_id": "in"})
		wantError(t, status, v, http.StatusBadRequest, bitnobi.EINVALID, "graph")
	})

	t.Run("Access", func(t *testing.T) {
		e := e.For(t)
		// Bob shares the result, not the recipe: 403. Carol: 404.
		status, v := e.do("POST", path, s.bob, J{"element_id": "in"})
		wantError(t, status, v, http.StatusForbidden, bitnobi.EFORBIDDEN, "")
		status, v = e.do("POST", path, s.carol, J{"element_id": "in"})
		wantError(t, status, v, http.StatusNotFound, bitnobi.ENOTFOUND, "")
		status, v = e.do("POST", path, "", J{"element_id": "in"})
		wantError(t, status, v, http.StatusUnauthorized, bitnobi.EUNAUTHORIZED, "")
		// The administrator previews anyone's.
		p := e.must(http.StatusOK, "POST", path, s.root, J{"element_id": "by_region"})
		if len(p["rows"].([]any)) != 3 {
			t.Fatalf("administrator's preview: %v", p)
		}
		// ... but reads, as a run of it would, what its owner may read:
		// carol's file is not alice's to read, so not through her
		// workflow either; in a graph of his own, he reads it.
		carolDS := e.uploadFile(s.carol, "hr", "hr.csv", "name\nx\n")["id"].(string)
		g := J{"elements": []J{{"id": "in", "type": "importer", "config": J{"datasource_id": carolDS}}}}
		p = e.must(http.StatusOK, "POST", path, s.root, J{"element_id": "in", "graph": g})
		if msg, _ := p["error"].(string); !strings.Contains(msg, "not found") {
			t.Fatalf("administrator's preview of carol's file in alice's workflow: %v", p)
		}
		p = e.must(http.StatusOK, "POST", "/api/workflows/preview", s.root, J{"element_id": "in", "graph": g})
		if p["error"] != nil || len(p["rows"].([]any)) != 1 {
			t.Fatalf("administrator's preview of carol's file in his own graph: %v", p)
		}
	})

	t.Run("BadRequests", func(t *testing.T) {
		e := e.For(t)
		for _, tc := range []struct {
			name, path string
			body       any
			status     int
			code       string
			field      string
		}{
			{"NoElement", path, J{}, 400, bitnobi.EINVALID, "element_id"},
			{"UnknownElement", path, J{"element_id": "ghost"}, 400, bitnobi.EINVALID, "element_id"},
			{"TooManyRows", path, J{"element_id": "in", "rows": 501}, 400, bitnobi.EINVALID, "rows"},
			{"NegativeRows", path, J{"element_id": "in", "rows": -1}, 400, bitnobi.EINVALID, "rows"},
			{"BadID", "/api/workflows/nope/preview", J{"element_id": "in"}, 400, bitnobi.EINVALID, "id"},
			{"NoSuchWorkflow", "/api/workflows/" + bitnobi.NewID() + "/preview", J{"element_id": "in"}, 404, bitnobi.ENOTFOUND, ""},
			{"UnknownField", path, J{"element_id": "in", "limit": 3}, 400, bitnobi.EINVALID, "limit"},
			{"NotJSON", path, "element_id=in", 400, bitnobi.EINVALID, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				e := e.For(t)
				status, v := e.do("POST", tc.path, s.alice, tc.body)
				wantError(t, status, v, tc.status, tc.code, tc.field)
			})
		}
	})

	t.Run("ElementFails", func(t *testing.T) {
		e := e.For(t)
		g := J{
			"elements": []J{{"id": "in", "type": "importer", "config": J{"datasource_id": s.dsID}}, {"id": "py", "type": "python", "config": J{"code": "print(1)"}}},
			"edges":    []J{{"from": "in", "to": "py"}},
		}
		p := e.must(http.StatusOK, "POST", path, s.alice, J{"element_id": "py", "graph": g})
		if msg, _ := p["error"].(string); !strings.HasPrefix(msg, `Element "py" (python):`) {
			t.Fatalf("preview of a python element: %v", p)
		}
		// A cast that fails on the data fails the preview with the
		// run's message.
		g = J{
			"elements": []J{{"id": "in", "type": "importer", "config": J{"datasource_id": s.dsID}}, {"id": "num", "type": "alter", "config": J{"cast": []J{{"column": "region", "type": "integer"}}}}},
			"edges":    []J{{"from": "in", "to": "num"}},
		}
		p = e.must(http.StatusOK, "POST", path, s.alice, J{"element_id": "num", "graph": g})
		if msg, _ := p["error"].(string); !strings.Contains(msg, `Element "num" (alter)`) {
			t.Fatalf("preview of a failing cast: %v", p)
		}
	})

	t.Run("TimeLimit", func(t *testing.T) {
		e := e.For(t)
		// A second server on the same database, whose previews time out
		// at once.
		srv := httpapi.NewServer()
		srv.Logger = e.Server.Logger
		srv.Users = e.Users
		srv.Workflows = &store.WorkflowService{DB: e.DB, PreviewTimeout: time.Nanosecond}
		hs := httptest.NewServer(srv.Handler())
		defer hs.Close()
		fast := *e
		fast.HTTP = hs
		p := fast.must(http.StatusOK, "POST", path, s.alice, J{"element_id": "by_region"})
		if msg, _ := p["error"].(string); !strings.Contains(msg, "took longer than 1ns") || len(p["rows"].([]any)) != 0 {
			t.Fatalf("preview past its time: %v", p)
		}
	})
}

func TestResultDownloads(t *testing.T) { dbtest.Run(t, testResultDownloads) }

func testResultDownloads(t *testing.T, engine string) {
	s := newSharingSetup(t, engine)
	e := s.e
	e.must(http.StatusNoContent, "PUT", "/api/workflows/"+s.wfID+"/policies/"+s.policyID, s.alice, nil)
	latest := "/api/workflows/" + s.wfID + "/result"

	// No run yet: nothing to read.
	status, v := e.do("GET", latest, s.alice, nil)
	wantError(t, status, v, http.StatusConflict, bitnobi.ECONFLICT, "")
	first := e.must(http.StatusCreated, "POST", "/api/workflows/"+s.wfID+"/runs", s.alice, nil)["id"].(string)
	wantCSV := "region,count,total\nnorth,2,11\nsouth,1,5\neast,1,7\n"

	t.Run("CSV", func(t *testing.T) {
		e := e.For(t)
		// Bob, whom the policy matches, gets the exportable columns
		// only (region and total), in CSV as in JSON.
		for tok, want := range map[string]string{s.alice: wantCSV, s.root: wantCSV, s.bob: "region,total\nnorth,11\nsouth,5\neast,7\n"} {
			before := e.auditActions()
			status, hdr, body := e.get("/api/workflows/"+s.wfID+"/runs/"+first+"/result?format=csv", tok)
			if status != http.StatusOK || body != want {
				t.Fatalf("CSV: status %d, body %q", status, body)
			}
			if ct, cd := hdr.Get("Content-Type"), hdr.Get("Content-Disposition"); ct != "text/csv; charset=utf-8" || cd != "attachment; filename=result-"+first+".csv" {
				t.Fatalf("Content-Type %q, Content-Disposition %q", ct, cd)
			}
			e.wantAudit(before, map[string]int{bitnobi.ActionDataSourceAccess: 1})
		}
		// Carol may not read it, in any format.
		for _, p := range []string{"/runs/" + first + "/result?format=csv", "/result?format=csv", "/result"} {
			status, _, _ := e.get("/api/workflows/"+s.wfID+p, s.carol)
			if status != http.StatusNotFound {
				t.Errorf("carol reads %s: %d", p, status)
			}
		}
	})

	t.Run("CSVQuoting", func(t *testing.T) {
		e := e.For(t)
		ds := e.uploadFile(s.alice, "odd", "odd.csv", "text,n,f\n\"a,b\",1,1.5\n\"say \"\"hi\"\"\",,2\n\"two\nlines\",3,\n")["id"].(string)
		g := J{
			"elements": []J{
				{"id": "in", "type": "importer", "config": J{"datasource_id": ds}},
				{"id": "cast", "type": "alter", "config": J{"cast": []J{{"column": "n", "type": "integer"}, {"column": "f", "type": "float"}}}},
				{"id": "out", "type": "result"},
			},
			"edges": []J{{"from": "in", "to": "cast"}, {"from": "cast", "to": "out"}},
		}
		wf := e.must(http.StatusCreated, "POST", "/api/workflows", s.alice, J{"name": "odd", "graph": g})["id"].(string)
		e.must(http.StatusCreated, "POST", "/api/workflows/"+wf+"/runs", s.alice, nil)
		_, _, body := e.get("/api/workflows/"+wf+"/result?format=csv", s.alice)
		if want := "text,n,f\n\"a,b\",1,1.5\n\"say \"\"hi\"\"\",,2\n\"two\nlines\",3,\n"; body != want {
			t.Fatalf("CSV %q, want %q", body, want)
		}
	})

	t.Run("Pages", func(t *testing.T) {
		e := e.For(t)
		for _, tc := range []struct {
			query string
			want  []any
		}{
			{"?offset=1&limit=1", []any{[]any{"south", 1.0, 5.0}}},
			{"?offset=2", []any{[]any{"east", 1.0, 7.0}}},
			{"?limit=2", []any{[]any{"north", 2.0, 11.0}, []any{"south", 1.0, 5.0}}},
			{"?limit=0", []any{}},
			{"?offset=9", []any{}},
			{"?format=json", []any{[]any{"north", 2.0, 11.0}, []any{"south", 1.0, 5.0}, []any{"east", 1.0, 7.0}}},
		} {
			v := e.must(http.StatusOK, "GET", latest+tc.query, s.alice, nil)
			if !reflect.DeepEqual(v["rows"], tc.want) || fmt.Sprint(v["columns"]) != "[region count total]" {
				t.Errorf("%s: rows %v, want %v", tc.query, v["rows"], tc.want)
			}
		}
		_, _, body := e.get(latest+"?format=csv&offset=2&limit=5", s.alice)
		if body != "region,count,total\neast,1,7\n" {
			t.Errorf("CSV page %q", body)
		}
		for _, tc := range [][2]string{{"?format=xml", "format"}, {"?limit=-1", "limit"}, {"?offset=x", "offset"}} {
			status, v := e.do("GET", latest+tc[0], s.alice, nil)
			wantError(t, status, v, http.StatusBadRequest, bitnobi.EINVALID, tc[1])
		}
	})

	t.Run("Latest", func(t *testing.T) {
		e := e.For(t)
		v := e.must(http.StatusOK, "GET", latest, s.bob, nil)
		if v["run"].(map[string]any)["id"] != first || len(v["rows"].([]any)) != 3 {
			t.Fatalf("latest: %v", v)
		}
		// A failed run is passed over; a newer succeeded one is the latest.
		e.clockTick()
		e.must(http.StatusOK, "PATCH", "/api/workflows/"+s.wfID, s.alice, J{"graph": J{
			"elements": []J{{"id": "in", "type": "importer", "config": J{"datasource_id": s.dsID}}, {"id": "py", "type": "python"}, {"id": "out", "type": "result"}},
			"edges":    []J{{"from": "in", "to": "py"}, {"from": "py", "to": "out"}},
		}})
		failed := e.must(http.StatusCreated, "POST", "/api/workflows/"+s.wfID+"/runs", s.alice, nil)
		if failed["status"] != "failed" {
			t.Fatalf("run: %v", failed)
		}
		if v := e.must(http.StatusOK, "GET", latest, s.alice, nil); v["run"].(map[string]any)["id"] != first {
			t.Fatalf("latest after a failed run: %v", v["run"])
		}
		e.clockTick()
		e.must(http.StatusOK, "PATCH", "/api/workflows/"+s.wfID, s.alice, J{"graph": salesGraph(s.dsID)})
		second := e.must(http.StatusCreated, "POST", "/api/workflows/"+s.wfID+"/runs", s.alice, nil)["id"].(string)
		if v := e.must(http.StatusOK, "GET", latest, s.alice, nil); v["run"].(map[string]any)["id"] != second {
			t.Fatalf("latest is %v, want %s", v["run"], second)
		}
		status, v := e.do("GET", "/api/workflows/nope/result", s.alice, nil)
		wantError(t, status, v, http.StatusBadRequest, bitnobi.EINVALID, "id")
	})
}

// clockTick moves the database clock on, so that the next run starts
// later than the last.
func (e *testEnv) clockTick() { e.Clock.Advance(time.Second) }

func TestReportData(t *testing.T) { dbtest.Run(t, testReportData) }

func testReportData(t *testing.T, engine string) {
	s := newSharingSetup(t, engine)
	e := s.e
	attach := "/api/workflows/" + s.wfID + "/policies/" + s.policyID
	e.must(http.StatusNoContent, "PUT", attach, s.alice, nil)
	charts := []J{
		{"type": "bar", "title": "Apples", "x": "region", "y": []string{"total", "count"}},
		{"type": "table"},
		{"type": "text", "title": "Note", "text": "Apples only."},
		{"type": "pie", "x": "region", "y": []string{"weight"}},
	}
	rep := e.must(http.StatusCreated, "POST", "/api/reports", s.alice, J{"workflow_id": s.wfID, "name": "apples", "charts": charts})["id"].(string)
	data := "/api/reports/" + rep + "/data"

	status, v := e.do("GET", data, s.alice, nil)
	wantError(t, status, v, http.StatusConflict, bitnobi.ECONFLICT, "")
	run := e.must(http.StatusCreated, "POST", "/api/workflows/"+s.wfID+"/runs", s.alice, nil)["id"].(string)

	// check checks the data as the owner sees it; shared says it is seen
	// by a user the policy matches, who gets the exportable columns only
	// (region and total): the bar chart's "count" is not there for him.
	check := func(t *testing.T, v J, shared bool) {
		t.Helper()
		if v["run"].(map[string]any)["id"] != run || v["report"].(map[string]any)["id"] != rep {
			t.Fatalf("data of run %v, report %v", v["run"], v["report"])
		}
		cs := v["charts"].([]any)
		if len(cs) != 4 {
			t.Fatalf("%d charts", len(cs))
		}
		bar, table, text, pie := cs[0].(map[string]any), cs[1].(map[string]any), cs[2].(map[string]any), cs[3].(map[string]any)
		wantSeries := []any{
			map[string]any{"name": "total", "values": []any{11.0, 5.0, 7.0}},
			map[string]any{"name": "count", "values": []any{2.0, 1.0, 1.0}},
		}
		if shared {
			if msg, _ := bar["error"].(string); !strings.Contains(msg, `no column "count"`) || bar["series"] != nil {
				t.Errorf("bar over a column that is not exportable: %v", bar)
			}
			if fmt.Sprint(table["columns"]) != "[region total]" || len(table["rows"].([]any)) != 3 {
				t.Errorf("table: %v", table)
			}
		} else {
			if fmt.Sprint(bar["labels"]) != "[north south east]" || !reflect.DeepEqual(bar["series"], wantSeries) || bar["title"] != "Apples" {
				t.Errorf("bar: %v", bar)
			}
			if fmt.Sprint(table["columns"]) != "[region count total]" || len(table["rows"].([]any)) != 3 {
				t.Errorf("table: %v", table)
			}
		}
		if text["text"] != "Apples only." || text["series"] != nil || text["rows"] != nil {
			t.Errorf("text: %v", text)
		}
		if msg, _ := pie["error"].(string); !strings.Contains(msg, `no column "weight"`) || pie["series"] != nil {
			t.Errorf("pie over a missing column: %v", pie)
		}
	}

	t.Run("Owner", func(t *testing.T) {
		e := e.For(t)
		before := e.auditActions()
		check(t, e.must(http.StatusOK, "GET", data, s.alice, nil), false)
		e.wantAudit(before, map[string]int{bitnobi.ActionDataSourceAccess: 1})
	})

	t.Run("SharedWithPolicy", func(t *testing.T) {
		e := e.For(t)
		// Bob matches the workflow's policy: he sees alice's report and
		// its data, but may not change it.
		check(t, e.must(http.StatusOK, "GET", data, s.bob, nil), true)
		e.must(http.StatusOK, "GET", "/api/reports/"+rep, s.bob, nil)
		list := e.must(http.StatusOK, "GET", "/api/reports", s.bob, nil)["reports"].([]any)
		if len(list) != 1 || list[0].(map[string]any)["id"] != rep {
			t.Fatalf("bob's reports: %v", list)
		}
		status, v := e.do("PATCH", "/api/reports/"+rep, s.bob, J{"name": "mine"})
		wantError(t, status, v, http.StatusForbidden, bitnobi.EFORBIDDEN, "")
		status, v = e.do("DELETE", "/api/reports/"+rep, s.bob, nil)
		wantError(t, status, v, http.StatusForbidden, bitnobi.EFORBIDDEN, "")
		// Carol does not match: 404 for the report and its data.
		for _, p := range []string{"/api/reports/" + rep, data} {
			status, v := e.do("GET", p, s.carol, nil)
			wantError(t, status, v, http.StatusNotFound, bitnobi.ENOTFOUND, "")
		}
		if list := e.must(http.StatusOK, "GET", "/api/reports", s.carol, nil)["reports"].([]any); len(list) != 0 {
			t.Fatalf("carol's reports: %v", list)
		}
	})

	t.Run("ConsumersReportsStayPrivate", func(t *testing.T) {
		e := e.For(t)
		// Bob's own report over alice's result is his alone: alice, who
		// owns the workflow but not the report, does not see it.
		bobs := e.must(http.StatusCreated, "POST", "/api/reports", s.bob, J{"workflow_id": s.wfID, "name": "bob's", "charts": []J{{"type": "table"}}})["id"].(string)
		e.must(http.StatusOK, "GET", "/api/reports/"+bobs+"/data", s.bob, nil)
		for _, tok := range []string{s.alice, s.carol} {
			status, v := e.do("GET", "/api/reports/"+bobs+"/data", tok, nil)
			wantError(t, status, v, http.StatusNotFound, bitnobi.ENOTFOUND, "")
		}
		e.must(http.StatusOK, "GET", "/api/reports/"+bobs+"/data", s.root, nil)
		e.must(http.StatusNoContent, "DELETE", "/api/reports/"+bobs, s.bob, nil)
	})

	t.Run("PolicyDetached", func(t *testing.T) {
		e := e.For(t)
		e.must(http.StatusNoContent, "DELETE", attach, s.alice, nil)
		defer e.must(http.StatusNoContent, "PUT", attach, s.alice, nil)
		for _, p := range []string{"/api/reports/" + rep, data} {
			status, v := e.do("GET", p, s.bob, nil)
			wantError(t, status, v, http.StatusNotFound, bitnobi.ENOTFOUND, "")
		}
		check(t, e.must(http.StatusOK, "GET", data, s.alice, nil), false)
	})

	t.Run("TextChartValidation", func(t *testing.T) {
		e := e.For(t)
		for _, c := range []J{
			{"type": "text", "x": "region", "text": "hi"},
			{"type": "bar", "x": "region", "y": []string{"total"}, "text": "hi"},
			{"type": "text", "text": strings.Repeat("a", 4001)},
		} {
			status, v := e.do("PATCH", "/api/reports/"+rep, s.alice, J{"charts": []J{c}})
			wantError(t, status, v, http.StatusBadRequest, bitnobi.EINVALID, "charts")
		}
	})
}
