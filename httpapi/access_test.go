package httpapi_test

import (
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/internal/dbtest"
)

// datasourceGraph reads the last result of workflow wfID and keeps it.
func datasourceGraph(wfID string) J {
	return J{
		"elements": []J{
			{"id": "shared", "type": "datasource", "config": J{"workflow_id": wfID}},
			{"id": "out", "type": "result"},
		},
		"edges": []J{{"from": "shared", "to": "out"}},
	}
}

// TestDerivedResultFollowsSource checks that a result derived from another
// user's result is readable only while the reader may read that source:
// by the deriving user himself, and by those he shares it with.
func TestDerivedResultFollowsSource(t *testing.T) { dbtest.Run(t, testDerivedResultFollowsSource) }

func testDerivedResultFollowsSource(t *testing.T, engine string) {
	s := newSharingSetup(t, engine)
	e := s.e
	_, dave := e.user("dave")
	daveID := e.must(http.StatusOK, "GET", "/api/me", dave, nil)["id"].(string)
	e.must(http.StatusOK, "PATCH", "/api/users/"+daveID, s.root, J{"attributes": J{"department": "IT", "organization": "Bitnobi"}})
	// Alice shares her result with IT (bob, dave).
	e.must(http.StatusNoContent, "PUT", "/api/workflows/"+s.wfID+"/policies/"+s.policyID, s.alice, nil)
	e.must(http.StatusCreated, "POST", "/api/workflows/"+s.wfID+"/runs", s.alice, nil)

	// Bob derives his own result from it and shares it with the whole
	// organisation (carol in HR, dave in IT) under his own policy.
	bobWF := e.must(http.StatusCreated, "POST", "/api/workflows", s.bob, J{"name": "derived", "graph": datasourceGraph(s.wfID)})["id"].(string)
	run := e.must(http.StatusCreated, "POST", "/api/workflows/"+bobWF+"/runs", s.bob, nil)
	if run["status"] != "succeeded" {
		t.Fatalf("bob's run: %v", run)
	}
	runID := run["id"].(string)
	org := e.must(http.StatusCreated, "POST", "/api/policies", s.bob, J{"name": "org", "attributes": J{"organization": "Bitnobi"}})["id"].(string)
	e.must(http.StatusNoContent, "PUT", "/api/workflows/"+bobWF+"/policies/"+org, s.bob, nil)

	v := e.must(http.StatusOK, "GET", "/api/workflows/"+bobWF+"/runs/"+runID+"/result", s.bob, nil)
	if fmt.Sprint(v["columns"]) != "[region total]" || len(v["rows"].([]any)) != 3 {
		t.Fatalf("bob reads his derived result: %v", v)
	}
	// Dave may read alice's result too: he reads bob's.
	e.must(http.StatusOK, "GET", "/api/workflows/"+bobWF+"/runs/"+runID+"/result", dave, nil)
	// Carol may not read alice's result, so bob's policy cannot give her
	// what was derived from it.
	status, v := e.result(s.carol, bobWF, runID)
	wantError(t, status, v, http.StatusForbidden, bitnobi.EFORBIDDEN, "")
	// Nor can a Datasource element of carol's over bob's result.
	carolWF := e.must(http.StatusCreated, "POST", "/api/workflows", s.carol, J{"name": "onward", "graph": datasourceGraph(bobWF)})["id"].(string)
	if run := e.must(http.StatusCreated, "POST", "/api/workflows/"+carolWF+"/runs", s.carol, nil); run["status"] != "failed" || !strings.Contains(run["error"].(string), "no longer read") {
		t.Fatalf("carol's run over bob's derived result: %v", run)
	}

	// Alice stops sharing: neither bob nor dave reads the derived result
	// any more, while the administrator and alice herself still may
	// (alice's own data came back to her).
	e.must(http.StatusNoContent, "DELETE", "/api/workflows/"+s.wfID+"/policies/"+s.policyID, s.alice, nil)
	for _, tok := range []string{s.bob, dave} {
		status, v := e.result(tok, bobWF, runID)
		wantError(t, status, v, http.StatusForbidden, bitnobi.EFORBIDDEN, "")
	}
	e.must(http.StatusOK, "GET", "/api/workflows/"+bobWF+"/runs/"+runID+"/result", s.root, nil)
	if run := e.must(http.StatusCreated, "POST", "/api/workflows/"+bobWF+"/runs", s.bob, nil); run["status"] != "failed" {
		t.Fatalf("bob reruns without access: %v", run)
	}
	// Shared again: readable again, without a new run.
	e.must(http.StatusNoContent, "PUT", "/api/workflows/"+s.wfID+"/policies/"+s.policyID, s.alice, nil)
	e.must(http.StatusOK, "GET", "/api/workflows/"+bobWF+"/runs/"+runID+"/result", s.bob, nil)
	// Alice deletes her workflow: what was derived from it goes with it.
	e.must(http.StatusNoContent, "DELETE", "/api/workflows/"+s.wfID, s.alice, nil)
	status, v = e.result(s.bob, bobWF, runID)
	wantError(t, status, v, http.StatusForbidden, bitnobi.EFORBIDDEN, "")
}

// TestRunReadsAsOwner checks that a run reads with the rights of the
// workflow's owner, whoever starts it: the administrator running alice's
// workflow over carol's file does not hand alice carol's data.
func TestRunReadsAsOwner(t *testing.T) { dbtest.Run(t, testRunReadsAsOwner) }

func testRunReadsAsOwner(t *testing.T, engine string) {
	s := newSharingSetup(t, engine)
	e := s.e
	carolDS := e.uploadFile(s.carol, "carol's", "carol.csv", salesCSV)["id"].(string)

	// Alice's workflow names carol's file; the administrator runs it.
	aliceWF := e.must(http.StatusCreated, "POST", "/api/workflows", s.alice, J{"name": "borrowed", "graph": salesGraph(carolDS)})["id"].(string)
	n := e.auditCount()
	run := e.must(http.StatusCreated, "POST", "/api/workflows/"+aliceWF+"/runs", s.root, nil)
	if run["status"] != "failed" || !strings.Contains(run["error"].(string), "Data source not found") {
		t.Fatalf("the administrator's run of alice's workflow over carol's file: %v", run)
	}
	if e.auditCount() != n+2 { // workflow.start and .end; carol's file was not read
		t.Fatalf("audit entries: %d, want %d", e.auditCount(), n+2)
	}
	status, v := e.result(s.alice, aliceWF, run["id"].(string))
	wantError(t, status, v, http.StatusConflict, bitnobi.ECONFLICT, "")

	// The administrator runs alice's own workflow: it reads alice's file,
	// audited as read by the administrator for alice.
	run = e.must(http.StatusCreated, "POST", "/api/workflows/"+s.wfID+"/runs", s.root, nil)
	if run["status"] != "succeeded" {
		t.Fatalf("the administrator's run of alice's workflow: %v", run)
	}
	if a := e.lastAudit(bitnobi.ActionDataSourceAccess); a.ActorName != "root" || a.TargetID != s.dsID || !strings.Contains(a.Detail, `"read_as"`) {
		t.Errorf("access entry %+v", a)
	}

	// The administrator's own workflow may read carol's file; shared with
	// IT, its result still reaches only those who may read that file.
	rootWF := e.must(http.StatusCreated, "POST", "/api/workflows", s.root, J{"name": "admin's", "graph": salesGraph(carolDS)})["id"].(string)
	run = e.must(http.StatusCreated, "POST", "/api/workflows/"+rootWF+"/runs", s.root, nil)
	if run["status"] != "succeeded" {
		t.Fatalf("the administrator's own run: %v", run)
	}
	runID := run["id"].(string)
	global := e.must(http.StatusCreated, "POST", "/api/policies", s.root, J{"name": "everyone", "attributes": J{"organization": "Bitnobi"}, "global": true})["id"].(string)
	e.must(http.StatusNoContent, "PUT", "/api/workflows/"+rootWF+"/policies/"+global, s.root, nil)
	status, v = e.result(s.bob, rootWF, runID)
	wantError(t, status, v, http.StatusForbidden, bitnobi.EFORBIDDEN, "")
	// Carol owns the file: she reads what was made of it.
	v = e.must(http.StatusOK, "GET", "/api/workflows/"+rootWF+"/runs/"+runID+"/result", s.carol, nil)
	if want := []any{[]any{"north", 2.0, 11.0}, []any{"south", 1.0, 5.0}, []any{"east", 1.0, 7.0}}; !reflect.DeepEqual(v["rows"], want) {
		t.Fatalf("carol reads %v", v["rows"])
	}

	// The administrator reads every column of alice's result directly,
	// but a workflow of the administrator's gets only the exportable ones,
	// so that none leaves through it.
	e.must(http.StatusCreated, "POST", "/api/workflows/"+s.wfID+"/runs", s.alice, nil)
	viaAdmin := e.must(http.StatusCreated, "POST", "/api/workflows", s.root, J{"name": "via admin", "graph": datasourceGraph(s.wfID)})["id"].(string)
	run = e.must(http.StatusCreated, "POST", "/api/workflows/"+viaAdmin+"/runs", s.root, nil)
	if run["status"] != "succeeded" || fmt.Sprint(run["result_columns"]) != "[region total]" {
		t.Fatalf("the administrator's Datasource element over alice's result: %v", run)
	}
}

// TestExportablesNoneMatch checks that a user of a result whose
// exportables name none of its columns gets a 403 that says why.
func TestExportablesNoneMatch(t *testing.T) { dbtest.Run(t, testExportablesNoneMatch) }

func testExportablesNoneMatch(t *testing.T, engine string) {
	s := newSharingSetup(t, engine)
	e := s.e
	e.must(http.StatusNoContent, "PUT", "/api/workflows/"+s.wfID+"/policies/"+s.policyID, s.alice, nil)
	e.must(http.StatusOK, "PATCH", "/api/workflows/"+s.wfID, s.alice, J{"exportables": []string{"nothing"}})
	runID := e.must(http.StatusCreated, "POST", "/api/workflows/"+s.wfID+"/runs", s.alice, nil)["id"].(string)
	status, v := e.result(s.bob, s.wfID, runID)
	wantError(t, status, v, http.StatusForbidden, bitnobi.EFORBIDDEN, "")
	if !strings.Contains(v["message"].(string), "exportable") {
		t.Fatalf("message %q", v["message"])
	}
	runs := e.must(http.StatusOK, "GET", "/api/workflows/"+s.wfID+"/runs", s.bob, nil)["runs"].([]any)
	if cols := runs[0].(J)["result_columns"].([]any); len(cols) != 0 {
		t.Fatalf("bob sees the columns %v of runs", cols)
	}
	// The owner still reads everything.
	if v := e.must(http.StatusOK, "GET", "/api/workflows/"+s.wfID+"/runs/"+runID+"/result", s.alice, nil); fmt.Sprint(v["columns"]) != "[region count total]" {
		t.Fatalf("owner reads %v", v["columns"])
	}
}
