package httpapi_test

import (
	"context"
	"net/http"
	"reflect"
	"strconv"
	"testing"

	"github.com/bitnobi/bitnobi/internal/dbtest"
)

// TestAuditSealed checks that the Audit Log element, GET /api/audit and
// GET /api/audit/verify read a log sealed into segments as they read it
// before: the same entries, filtered and paged the same way.
func TestAuditSealed(t *testing.T) { dbtest.Run(t, testAuditSealed) }

func testAuditSealed(t *testing.T, engine string) {
	e := newTestServer(t, engine)
	_, admin := e.user("admin")
	e.user("alice")
	e.user("bob")
	for i := range 6 {
		e.must(http.StatusCreated, "POST", "/api/policies", admin, J{"name": "p" + strconv.Itoa(i), "attributes": J{"department": "IT"}})
	}
	// Everything up to here, read through the element and the API.
	filtered := graph(elem("log", "auditlog", J{"actor": "admin", "action": "policy.create"}), elem("out", "result", nil))
	all := graph(elem("log", "auditlog", nil), elem("out", "result", nil))
	result := func(id string) []any {
		t.Helper()
		run := e.must(http.StatusCreated, "POST", "/api/workflows/"+id+"/runs", admin, nil)
		wantRun(t, run, "")
		return e.must(http.StatusOK, "GET", "/api/workflows/"+id+"/runs/"+run["id"].(string)+"/result", admin, nil)["rows"].([]any)
	}
	filteredID, _ := e.runWorkflow(admin, "filtered", filtered)
	allID, _ := e.runWorkflow(admin, "all", all)
	wantFiltered, wantAll := result(filteredID), result(allID)
	page := func(q string) []any {
		t.Helper()
		return e.must(http.StatusOK, "GET", "/api/audit?"+q, admin, nil)["entries"].([]any)
	}
	wantPages := [][]any{page("limit=3"), page("limit=3&after=3"), page("limit=5&after=7&action=policy.create")}

	// Seal into segments of 4 entries.
	e.DB.AuditSegmentSize = 4
	res, err := e.DB.SealAudit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Segments < 3 {
		t.Fatalf("SealAudit()=%+v, want several segments", res)
	}
	if got := result(filteredID); !reflect.DeepEqual(got, wantFiltered) || len(got) != 6 {
		t.Fatalf("filtered element after sealing: %v, want %v", got, wantFiltered)
	}
	if got := result(allID); !reflect.DeepEqual(got[:len(wantAll)], wantAll) {
		t.Fatalf("element after sealing: %v, want %v first", got, wantAll)
	}
	for i, q := range []string{"limit=3", "limit=3&after=3", "limit=5&after=7&action=policy.create"} {
		if got := page(q); !reflect.DeepEqual(got, wantPages[i]) {
			t.Fatalf("GET /api/audit?%s after sealing: %v, want %v", q, got, wantPages[i])
		}
	}
	v := e.must(http.StatusOK, "GET", "/api/audit/verify", admin, nil)
	if v["ok"] != true {
		t.Fatalf("verify after sealing: %v", v)
	}
}
