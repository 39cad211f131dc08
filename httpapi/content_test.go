package httpapi_test

// Tests of the content half of the API (data sources, workflows, runs,
// reports) against a real SQLite file, a real blob store and the real
// handler over HTTP. Helpers shared with the account tests are in
// testing_test.go; the ones here are named for content.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/internal/dbtest"
)

// uploadPart is one part of a multipart upload: a text field, or the file
// when filename is set.
type uploadPart struct {
	name, filename, value string
}

// uploadForm sends a multipart/form-data POST /api/datasources with the
// given parts in order, and returns the status and decoded JSON answer.
func (e *testEnv) uploadForm(token string, parts ...uploadPart) (int, J) {
	e.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, p := range parts {
		var w io.Writer
		var err error
		if p.filename != "" {
			w, err = mw.CreateFormFile(p.name, p.filename)
		} else {
			w, err = mw.CreateFormField(p.name)
		}
		if err != nil {
			e.t.Fatal(err)
		}
		io.WriteString(w, p.value)
	}
	mw.Close()
	hdr := http.Header{"Content-Type": {mw.FormDataContentType()}}
	if token != "" {
		hdr.Set("Authorization", "Bearer "+token)
	}
	status, body := e.raw("POST", "/api/datasources", hdr, &buf)
	var v J
	if err := json.Unmarshal(body, &v); err != nil {
		e.t.Fatalf("upload: status %d, body is not JSON: %v: %s", status, err, body)
	}
	return status, v
}

// uploadFile uploads content as a file data source and returns it.
func (e *testEnv) uploadFile(token, name, filename, content string) J {
	e.t.Helper()
	status, v := e.uploadForm(token, uploadPart{name: "name", value: name}, uploadPart{name: "file", filename: filename, value: content})
	if status != http.StatusCreated {
		e.t.Fatalf("upload %s: status %d: %v", filename, status, v)
	}
	return v
}

// download fetches a data source's content.
func (e *testEnv) download(token, id string) (int, http.Header, []byte) {
	e.t.Helper()
	req, err := http.NewRequest("GET", e.HTTP.URL+"/api/datasources/"+id+"/content", nil)
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
	return resp.StatusCode, resp.Header, data
}

// auditActions counts the audit entries per action.
func (e *testEnv) auditActions() map[string]int {
	e.t.Helper()
	rows, err := e.query(`SELECT action, COUNT(*) FROM audit_log GROUP BY action`)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	m := map[string]int{}
	for rows.Next() {
		var a string
		var n int
		if err := rows.Scan(&a, &n); err != nil {
			e.t.Fatal(err)
		}
		m[a] = n
	}
	return m
}

// lastAudit returns the newest audit entry of action.
func (e *testEnv) lastAudit(action string) bitnobi.AuditEntry {
	e.t.Helper()
	var a bitnobi.AuditEntry
	err := e.queryRow(`SELECT actor_name, action, target_type, target_id, detail, remote_addr, remote_user FROM audit_log WHERE action = ? ORDER BY seq DESC LIMIT 1`, action).
		Scan(&a.ActorName, &a.Action, &a.TargetType, &a.TargetID, &a.Detail, &a.RemoteAddr, &a.RemoteUser)
	if err != nil {
		e.t.Fatalf("last %s audit entry: %v", action, err)
	}
	return a
}

// wantAudit checks that the audit entries per action changed by exactly
// delta since before.
func (e *testEnv) wantAudit(before map[string]int, delta map[string]int) {
	e.t.Helper()
	after := e.auditActions()
	for action := range mergeKeys(before, after) {
		if got, want := after[action]-before[action], delta[action]; got != want {
			e.t.Errorf("audit %s: %d new entries, want %d", action, got, want)
		}
	}
}

func mergeKeys(a, b map[string]int) map[string]bool {
	m := map[string]bool{}
	for k := range a {
		m[k] = true
	}
	for k := range b {
		m[k] = true
	}
	return m
}

// wantError checks an error answer's status, code and field.
func wantError(t *testing.T, status int, v J, wantStatus int, code, field string) {
	t.Helper()
	if status != wantStatus || v["code"] != code || (field != "" && v["field"] != field) {
		t.Fatalf("got %d %v, want %d code=%s field=%q", status, v, wantStatus, code, field)
	}
	if v["message"] == "" {
		t.Fatalf("error without message: %v", v)
	}
}

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

const (
	salesCSV = "region,product,amount\n" +
		"north,apple,10\n" +
		"south,apple,5\n" +
		"north,pear,2.5\n" +
		"east,apple,7\n" +
		"north,apple,1\n"
	salesJSON = `[{"region":"north","amount":3},{"region":"west","amount":4.5,"extra":true}]`
)

func TestDataSourceUpload(t *testing.T) { dbtest.Run(t, testDataSourceUpload) }

func testDataSourceUpload(t *testing.T, engine string) {
	e := newTestServer(t, engine)
	_, root := e.user("root") // the administrator
	aliceID, alice := e.user("alice")
	_, bob := e.user("bob")
	before := e.auditActions()

	csv := e.uploadFile(alice, "sales", "sales.csv", salesCSV)
	for k, want := range map[string]any{"name": "sales", "kind": "file", "format": "csv", "filename": "sales.csv",
		"size": float64(len(salesCSV)), "blob_id": sha(salesCSV), "owner_id": aliceID, "password_set": false} {
		if csv[k] != want {
			t.Errorf("%s=%v, want %v", k, csv[k], want)
		}
	}
	// Format from the extension, name from the file name, a client path cut off.
	status, js := e.uploadForm(alice, uploadPart{name: "description", value: "d"}, uploadPart{name: "file", filename: `C:\data\points.JSON`, value: salesJSON})
	if status != http.StatusCreated || js["format"] != "json" || js["name"] != "points.JSON" || js["filename"] != "points.JSON" || js["description"] != "d" {
		t.Fatalf("JSON upload: %d %v", status, js)
	}
	csvID, jsID := csv["id"].(string), js["id"].(string)
	e.wantAudit(before, map[string]int{bitnobi.ActionDataSourceCreate: 2})

	t.Run("DownloadEqualsUpload", func(t *testing.T) {
		e := e.For(t)
		before := e.auditActions()
		for id, want := range map[string]string{csvID: salesCSV, jsID: salesJSON} {
			status, hdr, data := e.download(alice, id)
			if status != http.StatusOK || string(data) != want {
				t.Fatalf("download %s: %d %q, want %q", id, status, data, want)
			}
			if hdr.Get("ETag") != `"`+sha(want)+`"` || hdr.Get("Content-Length") != fmt.Sprint(len(want)) {
				t.Errorf("headers %v", hdr)
			}
		}
		_, hdr, _ := e.download(alice, csvID)
		if ct, cd := hdr.Get("Content-Type"), hdr.Get("Content-Disposition"); ct != "text/csv; charset=utf-8" || cd != `attachment; filename=sales.csv` {
			t.Errorf("Content-Type %q, Content-Disposition %q", ct, cd)
		}
		e.wantAudit(before, map[string]int{bitnobi.ActionDataSourceAccess: 3})
		a := e.lastAudit(bitnobi.ActionDataSourceAccess)
		if a.ActorName != "alice" || a.TargetID != csvID || a.RemoteAddr != "127.0.0.1" {
			t.Errorf("access entry %+v", a)
		}
		// A local session cannot name a remote user: the header that
		// would forge the audit entry's remote_user is ignored.
		hdrs := http.Header{"Authorization": {"Bearer " + alice}, "X-Bitnobi-Remote-User": {"mallory@remote"}}
		if status, _ := e.raw("GET", "/api/datasources/"+csvID+"/content", hdrs, nil); status != http.StatusOK {
			t.Fatalf("status %d", status)
		}
		if a := e.lastAudit(bitnobi.ActionDataSourceAccess); a.RemoteUser != "" || a.ActorName != "alice" {
			t.Errorf("access entry %+v, want alice with no remote user", a)
		}
	})

	t.Run("Visibility", func(t *testing.T) {
		e := e.For(t)
		count := func(token string) int {
			v := e.must(http.StatusOK, "GET", "/api/datasources", token, nil)
			return len(v["datasources"].([]any))
		}
		if a, b, r := count(alice), count(bob), count(root); a != 2 || b != 0 || r != 2 {
			t.Fatalf("alice sees %d, bob %d, root %d; want 2, 0, 2", a, b, r)
		}
		e.must(http.StatusOK, "GET", "/api/datasources/"+csvID, root, nil)
		before := e.auditActions()
		for _, req := range []struct {
			method, path string
			body         any
		}{
			{"GET", "/api/datasources/" + csvID, nil},
			{"GET", "/api/datasources/" + csvID + "/content", nil},
			{"PATCH", "/api/datasources/" + csvID, J{"name": "mine"}},
			{"DELETE", "/api/datasources/" + csvID, nil},
			{"GET", "/api/datasources/" + bitnobi.NewID(), nil},
		} {
			status, v := e.do(req.method, req.path, bob, req.body)
			wantError(t, status, v, http.StatusNotFound, bitnobi.ENOTFOUND, "")
		}
		e.wantAudit(before, nil)
	})

	t.Run("Update", func(t *testing.T) {
		e := e.For(t)
		before := e.auditActions()
		v := e.must(http.StatusOK, "PATCH", "/api/datasources/"+csvID, alice, J{"name": "sales 2024", "description": "all regions"})
		if v["name"] != "sales 2024" || v["description"] != "all regions" || v["blob_id"] != sha(salesCSV) {
			t.Fatalf("updated: %v", v)
		}
		e.must(http.StatusOK, "PATCH", "/api/datasources/"+csvID, alice, J{"name": "sales 2024"}) // no change
		status, v := e.do("PATCH", "/api/datasources/"+csvID, alice, J{"driver": "postgres"})
		wantError(t, status, v, http.StatusBadRequest, bitnobi.EINVALID, "driver")
		status, v = e.do("PATCH", "/api/datasources/"+csvID, alice, J{"name": " "})
		wantError(t, status, v, http.StatusBadRequest, bitnobi.EINVALID, "name")
		e.wantAudit(before, map[string]int{bitnobi.ActionDataSourceUpdate: 1})
	})

	t.Run("Delete", func(t *testing.T) {
		e := e.For(t)
		before := e.auditActions()
		e.must(http.StatusNoContent, "DELETE", "/api/datasources/"+jsID, alice, nil)
		status, v := e.do("GET", "/api/datasources/"+jsID, alice, nil)
		wantError(t, status, v, http.StatusNotFound, bitnobi.ENOTFOUND, "")
		status, v = e.do("DELETE", "/api/datasources/"+jsID, alice, nil)
		wantError(t, status, v, http.StatusNotFound, bitnobi.ENOTFOUND, "")
		e.wantAudit(before, map[string]int{bitnobi.ActionDataSourceDelete: 1})
		// The row goes; the blob (its row and its file) waits for the collector.
		if _, err := os.Stat(e.DB.Blobs.Path(sha(salesJSON))); err != nil {
			t.Errorf("blob file: %v", err)
		}
		var n int
		if err := e.queryRow(`SELECT COUNT(*) FROM blobs WHERE id = ?`, sha(salesJSON)).Scan(&n); err != nil || n != 1 {
			t.Errorf("blobs rows: %d, %v", n, err)
		}
	})

	t.Run("SameContentTwice", func(t *testing.T) {
		e := e.For(t)
		again := e.uploadFile(bob, "copy", "copy.csv", salesCSV)
		if again["blob_id"] != sha(salesCSV) || again["id"] == csvID {
			t.Fatalf("second upload: %v", again)
		}
		_, _, data := e.download(bob, again["id"].(string))
		if string(data) != salesCSV {
			t.Fatalf("download: %q", data)
		}
	})
}

func TestDataSourceUploadErrors(t *testing.T) { dbtest.Run(t, testDataSourceUploadErrors) }

func testDataSourceUploadErrors(t *testing.T, engine string) {
	e := newTestServer(t, engine)
	_, alice := e.user("alice")
	file := uploadPart{name: "file", filename: "a.csv", value: "a,b\n1,2\n"}
	for _, tc := range []struct {
		name   string
		parts  []uploadPart
		status int
		code   string
		field  string
	}{
		{"NoFile", []uploadPart{{name: "name", value: "x"}}, 400, bitnobi.EINVALID, "file"},
		{"Empty", nil, 400, bitnobi.EINVALID, "file"},
		{"UnknownExtension", []uploadPart{{name: "file", filename: "a.txt", value: "x"}}, 400, bitnobi.EINVALID, "format"},
		{"BadFormat", []uploadPart{{name: "format", value: "xml"}, file}, 400, bitnobi.EINVALID, "format"},
		{"UnknownField", []uploadPart{{name: "owner", value: "me"}, file}, 400, bitnobi.EINVALID, "owner"},
		{"LongName", []uploadPart{{name: "name", value: strings.Repeat("n", 201)}, file}, 400, bitnobi.EINVALID, "name"},
		{"HugeField", []uploadPart{{name: "description", value: strings.Repeat("d", 70<<10)}, file}, 400, bitnobi.EINVALID, "description"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := e.For(t)
			n := e.auditCount()
			status, v := e.uploadForm(alice, tc.parts...)
			wantError(t, status, v, tc.status, tc.code, tc.field)
			if got := e.auditCount(); got != n {
				t.Fatalf("a refused upload wrote %d audit entries", got-n)
			}
		})
	}
	t.Run("NotMultipart", func(t *testing.T) {
		e := e.For(t)
		status, v := e.do("POST", "/api/datasources", alice, J{"name": "x"})
		wantError(t, status, v, http.StatusUnsupportedMediaType, bitnobi.EUNSUPPORTED, "")
	})
	t.Run("NoToken", func(t *testing.T) {
		e := e.For(t)
		status, v := e.uploadForm("", file)
		wantError(t, status, v, http.StatusUnauthorized, bitnobi.EUNAUTHORIZED, "")
	})
	t.Run("CutShort", func(t *testing.T) {
		e := e.For(t)
		body := "--XYZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n\r\na,b\n1,2\n"
		hdr := http.Header{"Content-Type": {"multipart/form-data; boundary=XYZ"}, "Authorization": {"Bearer " + alice}}
		status, data := e.raw("POST", "/api/datasources", hdr, strings.NewReader(body))
		var v J
		json.Unmarshal(data, &v)
		wantError(t, status, v, http.StatusBadRequest, bitnobi.EINVALID, "")
	})
	t.Run("TooLarge", func(t *testing.T) {
		e := e.For(t)
		// A second server on the same database, with a small limit.
		s := *e.Server
		s.MaxUploadBytes = 1000
		srv := httptest.NewServer(s.Handler())
		defer srv.Close()
		send := func(size int) (int, J) {
			var buf bytes.Buffer
			mw := multipart.NewWriter(&buf)
			w, _ := mw.CreateFormFile("file", "big.csv")
			w.Write(bytes.Repeat([]byte("x"), size))
			mw.Close()
			req, _ := http.NewRequest("POST", srv.URL+"/api/datasources", &buf)
			req.Header.Set("Content-Type", mw.FormDataContentType())
			req.Header.Set("Authorization", "Bearer "+alice)
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var v J
			json.NewDecoder(resp.Body).Decode(&v)
			return resp.StatusCode, v
		}
		n := e.auditCount()
		status, v := send(1001)
		wantError(t, status, v, http.StatusRequestEntityTooLarge, bitnobi.ETOOLARGE, "")
		status, v = send(200 << 10)
		wantError(t, status, v, http.StatusRequestEntityTooLarge, bitnobi.ETOOLARGE, "")
		if got := e.auditCount(); got != n {
			t.Fatalf("a refused upload wrote %d audit entries", got-n)
		}
		if status, v := send(1000); status != http.StatusCreated || v["size"] != 1000.0 {
			t.Fatalf("upload of exactly the limit: %d %v", status, v)
		}
	})
}

func TestSQLDataSource(t *testing.T) { dbtest.Run(t, testSQLDataSource) }

func testSQLDataSource(t *testing.T, engine string) {
	e := newTestServer(t, engine)
	ctx := context.Background()
	_, root := e.user("root")
	_, alice := e.user("alice")
	_, bob := e.user("bob")
	const pw, pw2 = "sql-secret-Qw81zXcv", "sql-secret-Rt55yHnm"
	before := e.auditActions()
	ds := e.must(http.StatusCreated, "POST", "/api/datasources/sql", alice, J{
		"name": "crm", "driver": "postgres", "host": "db.example.org", "port": 5432, "database": "crm",
		"user": "reader", "query": "SELECT * FROM customers", "password": pw,
	})
	id := ds["id"].(string)
	if ds["kind"] != "sql" || ds["password_set"] != true || ds["host"] != "db.example.org" || ds["port"] != 5432.0 {
		t.Fatalf("created: %v", ds)
	}
	if _, ok := ds["password"]; ok {
		t.Fatalf("the answer has a password field: %v", ds)
	}
	secretID := func() string {
		var s *string
		if err := e.queryRow(`SELECT secret_id FROM datasources WHERE id = ?`, id).Scan(&s); err != nil {
			t.Fatal(err)
		}
		if s == nil {
			return ""
		}
		return *s
	}
	if got, err := e.DB.RevealSecret(ctx, secretID()); err != nil || got != pw {
		t.Fatalf("sealed password = %q, %v", got, err)
	}

	for _, tc := range []struct {
		name  string
		body  J
		field string
	}{
		{"NoDriver", J{"name": "x", "host": "h", "port": 1, "database": "d", "query": "q"}, "driver"},
		{"BadDriver", J{"name": "x", "driver": "oracle", "host": "h", "port": 1, "database": "d", "query": "q"}, "driver"},
		{"NoHost", J{"name": "x", "driver": "mysql", "port": 1, "database": "d", "query": "q"}, "host"},
		{"BadPort", J{"name": "x", "driver": "mysql", "host": "h", "port": 70000, "database": "d", "query": "q"}, "port"},
		{"NoQuery", J{"name": "x", "driver": "mysql", "host": "h", "port": 1, "database": "d"}, "query"},
		{"NoName", J{"driver": "mysql", "host": "h", "port": 1, "database": "d", "query": "q"}, "name"},
		{"LongPassword", J{"name": "x", "driver": "mysql", "host": "h", "port": 1, "database": "d", "query": "q", "password": strings.Repeat("p", 1025)}, "password"},
		{"PortAsText", J{"name": "x", "driver": "mysql", "host": "h", "port": "1", "database": "d", "query": "q"}, "port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := e.For(t)
			status, v := e.do("POST", "/api/datasources/sql", alice, tc.body)
			wantError(t, status, v, http.StatusBadRequest, bitnobi.EINVALID, tc.field)
		})
	}

	// Its content cannot be downloaded in this version.
	status, _, body := e.download(alice, id)
	if status != http.StatusUnsupportedMediaType || !strings.Contains(string(body), "not supported") {
		t.Fatalf("download of a SQL data source: %d %s", status, body)
	}
	// Change the password, then remove it: the secret goes with it.
	v := e.must(http.StatusOK, "PATCH", "/api/datasources/"+id, alice, J{"password": pw2, "port": 5433})
	if v["password_set"] != true || v["port"] != 5433.0 {
		t.Fatalf("updated: %v", v)
	}
	if got, err := e.DB.RevealSecret(ctx, secretID()); err != nil || got != pw2 {
		t.Fatalf("sealed password = %q, %v", got, err)
	}
	if status, v := e.do("PATCH", "/api/datasources/"+id, bob, J{"password": "x"}); status != http.StatusNotFound {
		t.Fatalf("bob's update: %d %v", status, v)
	}
	e.must(http.StatusOK, "GET", "/api/datasources/"+id, root, nil)
	v = e.must(http.StatusOK, "PATCH", "/api/datasources/"+id, alice, J{"password": ""})
	if v["password_set"] != false || secretID() != "" {
		t.Fatalf("after removing the password: %v, secret %q", v, secretID())
	}
	var secrets int
	e.queryRow(`SELECT COUNT(*) FROM secrets`).Scan(&secrets)
	if secrets != 0 {
		t.Fatalf("%d secrets left after the password was removed", secrets)
	}
	e.must(http.StatusOK, "PATCH", "/api/datasources/"+id, alice, J{"password": pw})
	e.must(http.StatusNoContent, "DELETE", "/api/datasources/"+id, alice, nil)
	e.queryRow(`SELECT COUNT(*) FROM secrets`).Scan(&secrets)
	if secrets != 0 {
		t.Fatalf("%d secrets left after the data source was deleted", secrets)
	}
	e.wantAudit(before, map[string]int{bitnobi.ActionDataSourceCreate: 1, bitnobi.ActionDataSourceUpdate: 3, bitnobi.ActionDataSourceDelete: 1})

	// The password was never in a response, an audit entry or the
	// database files in plain text.
	e.must(http.StatusOK, "GET", "/api/audit?limit=1000", root, nil)
	for _, b := range e.responses() {
		for _, s := range []string{pw, pw2} {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("a response holds the password %q: %s", s, b)
			}
		}
	}
	control := false
	for where, data := range e.storedData() {
		control = control || bytes.Contains(data, []byte("db.example.org"))
		for _, s := range []string{pw, pw2} {
			if bytes.Contains(data, []byte(s)) {
				t.Errorf("%s holds the password %q", where, s)
			}
		}
	}
	if !control {
		t.Fatal("control: the host name is nowhere in the database, so the search sees nothing")
	}
}

// graphJSON is a workflow graph: importer -> select -> group -> result.
func salesGraph(dsID string) J {
	return J{
		"elements": []J{
			{"id": "in", "type": "importer", "config": J{"datasource_id": dsID}},
			{"id": "apples", "type": "select", "config": J{"where": []J{{"column": "product", "op": "=", "value": "apple"}}}},
			{"id": "by_region", "type": "group", "config": J{"by": []string{"region"}, "aggregates": []J{{"op": "count"}, {"op": "sum", "column": "amount", "as": "total"}}}},
			{"id": "out", "type": "result"},
		},
		"edges": []J{{"from": "in", "to": "apples"}, {"from": "apples", "to": "by_region"}, {"from": "by_region", "to": "out"}},
	}
}

// result fetches a run's result.
func (e *testEnv) result(token, workflowID, runID string) (int, J) {
	e.t.Helper()
	return e.do("GET", "/api/workflows/"+workflowID+"/runs/"+runID+"/result", token, nil)
}

func TestWorkflowValidation(t *testing.T) { dbtest.Run(t, testWorkflowValidation) }

func testWorkflowValidation(t *testing.T, engine string) {
	e := newTestServer(t, engine)
	_, alice := e.user("alice")
	ds := bitnobi.NewID()
	good := salesGraph(ds)
	for _, tc := range []struct {
		name  string
		body  J
		field string
		msg   string
	}{
		{"NoResult", J{"name": "w", "graph": J{"elements": []J{{"id": "in", "type": "importer", "config": J{"datasource_id": ds}}}}}, "graph", "exactly one result"},
		{"NoGraph", J{"name": "w"}, "graph", "exactly one result"},
		{"UnknownType", J{"name": "w", "graph": J{"elements": []J{{"id": "x", "type": "spark"}}}}, "graph", `unknown type "spark"`},
		{"Cycle", J{"name": "w", "graph": J{
			"elements": []J{{"id": "in", "type": "importer", "config": J{"datasource_id": ds}}, {"id": "j", "type": "join", "config": J{"on": "a"}}, {"id": "s", "type": "select"}, {"id": "out", "type": "result"}},
			"edges":    []J{{"from": "in", "to": "j"}, {"from": "s", "to": "j"}, {"from": "j", "to": "s"}, {"from": "s", "to": "out"}},
		}}, "graph", "cycle"},
		{"EdgeToNowhere", J{"name": "w", "graph": J{
			"elements": []J{{"id": "in", "type": "importer", "config": J{"datasource_id": ds}}, {"id": "out", "type": "result"}},
			"edges":    []J{{"from": "in", "to": "out"}, {"from": "in", "to": "ghost"}},
		}}, "graph", "ends at no element"},
		{"BadConfig", J{"name": "w", "graph": J{
			"elements": []J{{"id": "in", "type": "importer", "config": J{"datasource_id": "nope"}}, {"id": "out", "type": "result"}},
			"edges":    []J{{"from": "in", "to": "out"}},
		}}, "graph", "datasource_id"},
		{"NoName", J{"graph": good}, "name", ""},
		{"BadExportables", J{"name": "w", "graph": good, "exportables": []string{"a", "a"}}, "exportables", "twice"},
		{"PolicyIDsOnCreate", J{"name": "w", "graph": good, "policy_ids": []string{}}, "policy_ids", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := e.For(t)
			n := e.auditCount()
			status, v := e.do("POST", "/api/workflows", alice, tc.body)
			wantError(t, status, v, http.StatusBadRequest, bitnobi.EINVALID, tc.field)
			if !strings.Contains(v["message"].(string), tc.msg) {
				t.Errorf("message %q, want it to contain %q", v["message"], tc.msg)
			}
			if e.auditCount() != n {
				t.Fatal("a refused create was audited")
			}
		})
	}
	wf := e.must(http.StatusCreated, "POST", "/api/workflows", alice, J{"name": "w", "graph": good, "exportables": []string{"region"}})
	status, v := e.do("PATCH", "/api/workflows/"+wf["id"].(string), alice, J{"graph": J{"elements": []J{}}})
	wantError(t, status, v, http.StatusBadRequest, bitnobi.EINVALID, "graph")
}

// sharingSetup is a server with an administrator (root), alice who owns
// data and a workflow, bob in department IT and carol in HR, and a policy
// of alice's matching IT.
type sharingSetup struct {
	e                       *testEnv
	root, alice, bob, carol string
	dsID, wfID, policyID    string
}

func newSharingSetup(t *testing.T, engine string) *sharingSetup {
	e := newTestServer(t, engine)
	s := &sharingSetup{e: e}
	_, s.root = e.user("root")
	_, s.alice = e.user("alice")
	bobID, bob := e.user("bob")
	carolID, carol := e.user("carol")
	s.bob, s.carol = bob, carol
	e.must(http.StatusOK, "PATCH", "/api/users/"+bobID, s.root, J{"attributes": J{"department": "IT", "organization": "Bitnobi"}})
	e.must(http.StatusOK, "PATCH", "/api/users/"+carolID, s.root, J{"attributes": J{"department": "HR", "organization": "Bitnobi"}})
	s.dsID = e.uploadFile(s.alice, "sales", "sales.csv", salesCSV)["id"].(string)
	s.wfID = e.must(http.StatusCreated, "POST", "/api/workflows", s.alice, J{"name": "apples by region", "graph": salesGraph(s.dsID), "exportables": []string{"region", "total"}})["id"].(string)
	s.policyID = e.must(http.StatusCreated, "POST", "/api/policies", s.alice, J{"name": "IT", "attributes": J{"department": "IT"}})["id"].(string)
	return s
}

func TestWorkflowPolicies(t *testing.T) { dbtest.Run(t, testWorkflowPolicies) }

func testWorkflowPolicies(t *testing.T, engine string) {
	s := newSharingSetup(t, engine)
	e := s.e
	path := "/api/workflows/" + s.wfID + "/policies/"
	bobPolicy := e.must(http.StatusCreated, "POST", "/api/policies", s.bob, J{"name": "bob's", "attributes": J{"department": "IT"}})["id"].(string)
	global := e.must(http.StatusCreated, "POST", "/api/policies", s.root, J{"name": "everyone", "attributes": J{"organization": "Bitnobi"}, "global": true})["id"].(string)
	before := e.auditActions()

	e.must(http.StatusNoContent, "PUT", path+s.policyID, s.alice, nil)
	e.must(http.StatusNoContent, "PUT", path+s.policyID, s.alice, nil) // again: no change, no audit
	e.must(http.StatusNoContent, "PUT", path+global, s.alice, nil)
	wf := e.must(http.StatusOK, "GET", "/api/workflows/"+s.wfID, s.alice, nil)
	if got := fmt.Sprint(wf["policy_ids"]); got != fmt.Sprint([]any{s.policyID, global}) {
		t.Fatalf("policy_ids=%s", got)
	}
	// Another user's private policy is not visible to the owner: 404,
	// also when the administrator attaches it.
	for _, tok := range []string{s.alice, s.root} {
		status, v := e.do("PUT", path+bobPolicy, tok, nil)
		wantError(t, status, v, http.StatusNotFound, bitnobi.ENOTFOUND, "")
	}
	status, v := e.do("PUT", path+bitnobi.NewID(), s.alice, nil)
	wantError(t, status, v, http.StatusNotFound, bitnobi.ENOTFOUND, "")
	// Bob now shares the result, but may not manage the policies: 403;
	// carol does not see the workflow at all: 404.
	status, v = e.do("DELETE", path+s.policyID, s.bob, nil)
	wantError(t, status, v, http.StatusForbidden, bitnobi.EFORBIDDEN, "")
	status, v = e.do("PUT", path+s.policyID, s.carol, nil)
	wantError(t, status, v, http.StatusForbidden, bitnobi.EFORBIDDEN, "") // carol matches the global policy
	e.must(http.StatusNoContent, "DELETE", path+global, s.root, nil)      // the administrator may
	status, v = e.do("PUT", path+s.policyID, s.carol, nil)
	wantError(t, status, v, http.StatusNotFound, bitnobi.ENOTFOUND, "")
	status, v = e.do("DELETE", path+global, s.alice, nil) // not attached any more
	wantError(t, status, v, http.StatusNotFound, bitnobi.ENOTFOUND, "")
	status, v = e.do("PUT", path+"nope", s.alice, nil)
	wantError(t, status, v, http.StatusBadRequest, bitnobi.EINVALID, "policyID")
	e.wantAudit(before, map[string]int{bitnobi.ActionWorkflowUpdate: 3})
	a := e.lastAudit(bitnobi.ActionWorkflowUpdate)
	if a.ActorName != "root" || !strings.Contains(a.Detail, `"policy_detached":"`+global+`"`) {
		t.Errorf("last workflow.update entry: %+v", a)
	}

	// Deleting the policy detaches it.
	e.must(http.StatusNoContent, "DELETE", "/api/policies/"+s.policyID, s.alice, nil)
	wf = e.must(http.StatusOK, "GET", "/api/workflows/"+s.wfID, s.alice, nil)
	if ids := wf["policy_ids"].([]any); len(ids) != 0 {
		t.Fatalf("policy_ids after the policy was deleted: %v", ids)
	}
}

func TestWorkflowRunAndSharing(t *testing.T) { dbtest.Run(t, testWorkflowRunAndSharing) }

func testWorkflowRunAndSharing(t *testing.T, engine string) {
	s := newSharingSetup(t, engine)
	e := s.e
	wantRows := []any{[]any{"north", 2.0, 11.0}, []any{"south", 1.0, 5.0}, []any{"east", 1.0, 7.0}}
	e.must(http.StatusNoContent, "PUT", "/api/workflows/"+s.wfID+"/policies/"+s.policyID, s.alice, nil)

	before := e.auditActions()
	run := e.must(http.StatusCreated, "POST", "/api/workflows/"+s.wfID+"/runs", s.alice, nil)
	if run["status"] != "succeeded" || run["result_rows"] != 3.0 || run["progress"] != 1.0 || run["ended_at"] == nil {
		t.Fatalf("run: %v", run)
	}
	if got := fmt.Sprint(run["result_columns"]); got != "[region count total]" {
		t.Fatalf("columns %s", got)
	}
	runID := run["id"].(string)
	e.wantAudit(before, map[string]int{bitnobi.ActionWorkflowStart: 1, bitnobi.ActionWorkflowEnd: 1, bitnobi.ActionDataSourceAccess: 1})
	if a := e.lastAudit(bitnobi.ActionWorkflowEnd); a.TargetID != s.wfID || !strings.Contains(a.Detail, `"status":"succeeded"`) {
		t.Errorf("workflow.end entry: %+v", a)
	}
	// The result is a blob referred to by the run.
	var blobID string
	if err := e.queryRow(`SELECT b.id FROM workflow_runs r JOIN blobs b ON b.id = r.result_blob_id WHERE r.id = ?`, runID).Scan(&blobID); err != nil {
		t.Fatalf("result blob: %v", err)
	}
	if data, err := os.ReadFile(e.DB.Blobs.Path(blobID)); err != nil || string(data) != "[\"north\",2,11]\n[\"south\",1,5]\n[\"east\",1,7]\n" {
		t.Fatalf("result blob holds %q, %v", data, err)
	}

	t.Run("Owner", func(t *testing.T) {
		e := e.For(t)
		v := e.must(http.StatusOK, "GET", "/api/workflows/"+s.wfID+"/runs/"+runID+"/result", s.alice, nil)
		if !reflect.DeepEqual(v["rows"], wantRows) || fmt.Sprint(v["columns"]) != "[region count total]" {
			t.Fatalf("result: %v", v)
		}
		if v["run"].(map[string]any)["id"] != runID {
			t.Fatalf("result's run: %v", v["run"])
		}
	})

	t.Run("PolicyMatchedUser", func(t *testing.T) {
		e := e.For(t)
		before := e.auditActions()
		// Bob reads only the exportable columns, region and total.
		v := e.must(http.StatusOK, "GET", "/api/workflows/"+s.wfID+"/runs/"+runID+"/result", s.bob, nil)
		exported := []any{[]any{"north", 11.0}, []any{"south", 5.0}, []any{"east", 7.0}}
		if !reflect.DeepEqual(v["rows"], exported) || fmt.Sprint(v["columns"]) != "[region total]" {
			t.Fatalf("result: %v", v)
		}
		e.wantAudit(before, map[string]int{bitnobi.ActionDataSourceAccess: 1})
		if a := e.lastAudit(bitnobi.ActionDataSourceAccess); a.ActorName != "bob" || a.TargetType != "workflow_run" || a.TargetID != runID {
			t.Errorf("access entry: %+v", a)
		}
		runs := e.must(http.StatusOK, "GET", "/api/workflows/"+s.wfID+"/runs", s.bob, nil)["runs"].([]any)
		if len(runs) != 1 || fmt.Sprint(runs[0].(J)["result_columns"]) != "[region total]" {
			t.Fatalf("runs: %v", runs)
		}
		// Bob sees the workflow, not how it is made.
		wf := e.must(http.StatusOK, "GET", "/api/workflows/"+s.wfID, s.bob, nil)
		if wf["name"] != "apples by region" || len(wf["graph"].(map[string]any)["elements"].([]any)) != 0 || len(wf["policy_ids"].([]any)) != 0 {
			t.Fatalf("bob's view: %v", wf)
		}
		list := e.must(http.StatusOK, "GET", "/api/workflows", s.bob, nil)["workflows"].([]any)
		if len(list) != 1 || list[0].(map[string]any)["id"] != s.wfID {
			t.Fatalf("bob's list: %v", list)
		}
		// ... and may not manage it.
		for _, req := range [][2]string{{"PATCH", ""}, {"DELETE", ""}, {"POST", "/runs"}} {
			var body any
			if req[0] == "PATCH" {
				body = J{"name": "mine"}
			}
			status, v := e.do(req[0], "/api/workflows/"+s.wfID+req[1], s.bob, body)
			wantError(t, status, v, http.StatusForbidden, bitnobi.EFORBIDDEN, "")
		}
		// Nor read alice's data source.
		status, _, _ := e.download(s.bob, s.dsID)
		if status != http.StatusNotFound {
			t.Fatalf("bob downloads alice's data source: %d", status)
		}
	})

	t.Run("UnmatchedUser", func(t *testing.T) {
		e := e.For(t)
		n := e.auditCount()
		for _, p := range []string{"", "/runs", "/runs/" + runID + "/result"} {
			status, v := e.do("GET", "/api/workflows/"+s.wfID+p, s.carol, nil)
			wantError(t, status, v, http.StatusNotFound, bitnobi.ENOTFOUND, "")
		}
		for _, req := range [][2]string{{"DELETE", ""}, {"POST", "/runs"}} {
			status, v := e.do(req[0], "/api/workflows/"+s.wfID+req[1], s.carol, nil)
			wantError(t, status, v, http.StatusNotFound, bitnobi.ENOTFOUND, "")
		}
		if list := e.must(http.StatusOK, "GET", "/api/workflows", s.carol, nil)["workflows"].([]any); len(list) != 0 {
			t.Fatalf("carol's list: %v", list)
		}
		if e.auditCount() != n {
			t.Fatal("refused requests were audited")
		}
	})

	t.Run("Administrator", func(t *testing.T) {
		e := e.For(t)
		// The administrator reads every column, as the owner does.
		v := e.must(http.StatusOK, "GET", "/api/workflows/"+s.wfID+"/runs/"+runID+"/result", s.root, nil)
		if !reflect.DeepEqual(v["rows"], wantRows) {
			t.Fatalf("result: %v", v)
		}
		wf := e.must(http.StatusOK, "GET", "/api/workflows/"+s.wfID, s.root, nil)
		if len(wf["graph"].(map[string]any)["elements"].([]any)) != 4 {
			t.Fatalf("the administrator's view lacks the graph: %v", wf)
		}
	})

	t.Run("DatasourceElement", func(t *testing.T) {
		e := e.For(t)
		// A workflow reading the last result of alice's: fine for bob,
		// a failed run for carol.
		g := J{
			"elements": []J{
				{"id": "shared", "type": "datasource", "config": J{"workflow_id": s.wfID}},
				{"id": "big", "type": "select", "config": J{"columns": []string{"region", "total"}, "where": []J{{"column": "total", "op": ">=", "value": "7"}}}},
				{"id": "out", "type": "result"},
			},
			"edges": []J{{"from": "shared", "to": "big"}, {"from": "big", "to": "out"}},
		}
		bobWF := e.must(http.StatusCreated, "POST", "/api/workflows", s.bob, J{"name": "big regions", "graph": g})["id"].(string)
		run := e.must(http.StatusCreated, "POST", "/api/workflows/"+bobWF+"/runs", s.bob, nil)
		if run["status"] != "succeeded" {
			t.Fatalf("bob's run: %v", run)
		}
		v := e.must(http.StatusOK, "GET", "/api/workflows/"+bobWF+"/runs/"+run["id"].(string)+"/result", s.bob, nil)
		if want := []any{[]any{"north", 11.0}, []any{"east", 7.0}}; !reflect.DeepEqual(v["rows"], want) {
			t.Fatalf("rows %v, want %v", v["rows"], want)
		}
		// A column outside the exportables does not reach bob's workflow.
		g2 := J{
			"elements": []J{
				{"id": "shared", "type": "datasource", "config": J{"workflow_id": s.wfID}},
				{"id": "counts", "type": "select", "config": J{"columns": []string{"region", "count"}}},
				{"id": "out", "type": "result"},
			},
			"edges": []J{{"from": "shared", "to": "counts"}, {"from": "counts", "to": "out"}},
		}
		countsWF := e.must(http.StatusCreated, "POST", "/api/workflows", s.bob, J{"name": "counts", "graph": g2})["id"].(string)
		run = e.must(http.StatusCreated, "POST", "/api/workflows/"+countsWF+"/runs", s.bob, nil)
		if run["status"] != "failed" || !strings.Contains(run["error"].(string), `"count"`) {
			t.Fatalf("bob's run over a non-exportable column: %v", run)
		}
		carolWF := e.must(http.StatusCreated, "POST", "/api/workflows", s.carol, J{"name": "big regions", "graph": g})["id"].(string)
		run = e.must(http.StatusCreated, "POST", "/api/workflows/"+carolWF+"/runs", s.carol, nil)
		if run["status"] != "failed" || !strings.Contains(run["error"].(string), "Workflow not found") {
			t.Fatalf("carol's run: %v", run)
		}
		status, v := e.result(s.carol, carolWF, run["id"].(string))
		wantError(t, status, v, http.StatusConflict, bitnobi.ECONFLICT, "")
	})

	t.Run("FailedRun", func(t *testing.T) {
		e := e.For(t)
		g := J{
			"elements": []J{{"id": "in", "type": "importer", "config": J{"datasource_id": s.dsID}}, {"id": "py", "type": "python", "config": J{"code": "print(1)"}}, {"id": "out", "type": "result"}},
			"edges":    []J{{"from": "in", "to": "py"}, {"from": "py", "to": "out"}},
		}
		wf := e.must(http.StatusCreated, "POST", "/api/workflows", s.alice, J{"name": "python", "graph": g})["id"].(string)
		before := e.auditActions()
		run := e.must(http.StatusCreated, "POST", "/api/workflows/"+wf+"/runs", s.alice, nil)
		if run["status"] != "failed" || !strings.HasPrefix(fmt.Sprint(run["error"]), `Element "py" (python): Python elements are off on this server`) {
			t.Fatalf("run: %v", run)
		}
		e.wantAudit(before, map[string]int{bitnobi.ActionWorkflowStart: 1, bitnobi.ActionWorkflowEnd: 1, bitnobi.ActionDataSourceAccess: 1})
		if a := e.lastAudit(bitnobi.ActionWorkflowEnd); !strings.Contains(a.Detail, `"status":"failed"`) {
			t.Errorf("workflow.end entry: %+v", a)
		}
		// The data source was deleted: the run fails and says why.
		tmp := e.uploadFile(s.alice, "tmp", "tmp.csv", "a\n1\n")
		e.must(http.StatusNoContent, "DELETE", "/api/datasources/"+tmp["id"].(string), s.alice, nil)
		wf = e.must(http.StatusCreated, "POST", "/api/workflows", s.alice, J{"name": "gone", "graph": salesGraph(tmp["id"].(string))})["id"].(string)
		run = e.must(http.StatusCreated, "POST", "/api/workflows/"+wf+"/runs", s.alice, nil)
		if run["status"] != "failed" || !strings.Contains(run["error"].(string), "Data source not found") {
			t.Fatalf("run: %v", run)
		}
		status, v := e.result(s.alice, wf, run["id"].(string))
		wantError(t, status, v, http.StatusConflict, bitnobi.ECONFLICT, "")
		status, v = e.result(s.alice, wf, bitnobi.NewID())
		wantError(t, status, v, http.StatusNotFound, bitnobi.ENOTFOUND, "")
		status, v = e.result(s.alice, wf, "x")
		wantError(t, status, v, http.StatusBadRequest, bitnobi.EINVALID, "runID")
	})

	t.Run("UpdateAndDelete", func(t *testing.T) {
		e := e.For(t)
		before := e.auditActions()
		wf := e.must(http.StatusOK, "PATCH", "/api/workflows/"+s.wfID, s.alice, J{"description": "apples only", "exportables": []string{"region"}})
		if wf["description"] != "apples only" || fmt.Sprint(wf["exportables"]) != "[region]" {
			t.Fatalf("updated: %v", wf)
		}
		e.must(http.StatusOK, "PATCH", "/api/workflows/"+s.wfID, s.alice, J{"description": "apples only"}) // no change
		e.must(http.StatusNoContent, "DELETE", "/api/workflows/"+s.wfID, s.alice, nil)
		status, v := e.do("GET", "/api/workflows/"+s.wfID+"/runs", s.alice, nil)
		wantError(t, status, v, http.StatusNotFound, bitnobi.ENOTFOUND, "")
		e.wantAudit(before, map[string]int{bitnobi.ActionWorkflowUpdate: 1, bitnobi.ActionWorkflowDelete: 1})
	})
}

func TestReports(t *testing.T) { dbtest.Run(t, testReports) }

func testReports(t *testing.T, engine string) {
	s := newSharingSetup(t, engine)
	e := s.e
	e.must(http.StatusNoContent, "PUT", "/api/workflows/"+s.wfID+"/policies/"+s.policyID, s.alice, nil)
	charts := []J{{"type": "bar", "title": "Apples", "x": "region", "y": []string{"total"}}, {"type": "table"}}
	before := e.auditActions()

	mine := e.must(http.StatusCreated, "POST", "/api/reports", s.alice, J{"workflow_id": s.wfID, "name": "apples", "charts": charts})
	if mine["workflow_id"] != s.wfID || len(mine["charts"].([]any)) != 2 {
		t.Fatalf("created: %v", mine)
	}
	// Bob shares the result, so he may report on it; carol may not.
	bobs := e.must(http.StatusCreated, "POST", "/api/reports", s.bob, J{"workflow_id": s.wfID, "name": "bob's view"})
	status, v := e.do("POST", "/api/reports", s.carol, J{"workflow_id": s.wfID, "name": "carol's"})
	wantError(t, status, v, http.StatusBadRequest, bitnobi.EINVALID, "workflow_id")

	for _, tc := range []struct {
		name  string
		body  J
		field string
	}{
		{"BadChartType", J{"workflow_id": s.wfID, "name": "r", "charts": []J{{"type": "radar", "x": "a", "y": []string{"b"}}}}, "charts"},
		{"BarWithoutY", J{"workflow_id": s.wfID, "name": "r", "charts": []J{{"type": "bar", "x": "a"}}}, "charts"},
		{"PieTwoY", J{"workflow_id": s.wfID, "name": "r", "charts": []J{{"type": "pie", "x": "a", "y": []string{"b", "c"}}}}, "charts"},
		{"NoName", J{"workflow_id": s.wfID}, "name"},
		{"BadWorkflowID", J{"workflow_id": "nope", "name": "r"}, "workflow_id"},
		{"NoSuchWorkflow", J{"workflow_id": bitnobi.NewID(), "name": "r"}, "workflow_id"},
		{"UnknownField", J{"workflow_id": s.wfID, "name": "r", "owner_id": "me"}, "owner_id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := e.For(t)
			status, v := e.do("POST", "/api/reports", s.alice, tc.body)
			wantError(t, status, v, http.StatusBadRequest, bitnobi.EINVALID, tc.field)
		})
	}

	id := mine["id"].(string)
	upd := e.must(http.StatusOK, "PATCH", "/api/reports/"+id, s.alice, J{"name": "apples by region", "charts": []J{{"type": "line", "x": "region", "y": []string{"total", "count"}}}})
	if upd["name"] != "apples by region" || len(upd["charts"].([]any)) != 1 {
		t.Fatalf("updated: %v", upd)
	}
	e.must(http.StatusOK, "PATCH", "/api/reports/"+id, s.alice, J{"name": "apples by region"}) // no change
	status, v = e.do("PATCH", "/api/reports/"+id, s.alice, J{"charts": []J{{"type": "pie"}}})
	wantError(t, status, v, http.StatusBadRequest, bitnobi.EINVALID, "charts")

	// Reports are managed by their owner and the administrator alone.
	// Alice's report over her own shared workflow is shared with bob
	// (read only); bob's is his alone (TestReportData covers the rest).
	e.must(http.StatusOK, "GET", "/api/reports/"+id, s.bob, nil)
	for _, req := range []struct {
		method string
		body   any
	}{{"PATCH", J{"name": "x"}}, {"DELETE", nil}} {
		status, v := e.do(req.method, "/api/reports/"+id, s.bob, req.body)
		wantError(t, status, v, http.StatusForbidden, bitnobi.EFORBIDDEN, "")
		status, v = e.do(req.method, "/api/reports/"+bobs["id"].(string), s.alice, req.body)
		wantError(t, status, v, http.StatusNotFound, bitnobi.ENOTFOUND, "")
	}
	count := func(tok string) int {
		return len(e.must(http.StatusOK, "GET", "/api/reports", tok, nil)["reports"].([]any))
	}
	if a, b, c, r := count(s.alice), count(s.bob), count(s.carol), count(s.root); a != 1 || b != 2 || c != 0 || r != 2 {
		t.Fatalf("reports seen: alice %d, bob %d, carol %d, root %d", a, b, c, r)
	}
	e.must(http.StatusOK, "GET", "/api/reports/"+bobs["id"].(string), s.root, nil)
	e.must(http.StatusNoContent, "DELETE", "/api/reports/"+id, s.alice, nil)
	status, v = e.do("GET", "/api/reports/"+id, s.alice, nil)
	wantError(t, status, v, http.StatusNotFound, bitnobi.ENOTFOUND, "")
	e.wantAudit(before, map[string]int{bitnobi.ActionReportCreate: 2, bitnobi.ActionReportUpdate: 1, bitnobi.ActionReportDelete: 1})

	// Deleting the workflow deletes the reports over it.
	e.must(http.StatusNoContent, "DELETE", "/api/workflows/"+s.wfID, s.alice, nil)
	status, v = e.do("GET", "/api/reports/"+bobs["id"].(string), s.bob, nil)
	wantError(t, status, v, http.StatusNotFound, bitnobi.ENOTFOUND, "")
}

func TestContentBadInput(t *testing.T) { dbtest.Run(t, testContentBadInput) }

func testContentBadInput(t *testing.T, engine string) {
	e := newTestServer(t, engine)
	_, alice := e.user("alice")
	jh := http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + alice}}
	id := bitnobi.NewID()
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		code, field              string
	}{
		{"BadDataSourceID", "GET", "/api/datasources/x", "", 400, bitnobi.EINVALID, "id"},
		{"BadContentID", "GET", "/api/datasources/X/content", "", 400, bitnobi.EINVALID, "id"},
		{"BadWorkflowID", "PATCH", "/api/workflows/1234", `{}`, 400, bitnobi.EINVALID, "id"},
		{"BadRunsID", "POST", "/api/workflows/zz/runs", "", 400, bitnobi.EINVALID, "id"},
		{"BadReportID", "DELETE", "/api/reports/" + strings.ToUpper(id), "", 400, bitnobi.EINVALID, "id"},
		{"NoSuchDataSource", "GET", "/api/datasources/" + id, "", 404, bitnobi.ENOTFOUND, ""},
		{"NoSuchWorkflow", "POST", "/api/workflows/" + id + "/runs", "", 404, bitnobi.ENOTFOUND, ""},
		{"NoSuchReport", "PATCH", "/api/reports/" + id, `{"name":"x"}`, 404, bitnobi.ENOTFOUND, ""},
		{"UnknownUpdateField", "PATCH", "/api/datasources/" + id, `{"format":"csv"}`, 400, bitnobi.EINVALID, "format"},
		{"WorkflowWrongType", "POST", "/api/workflows", `{"name":"w","graph":[]}`, 400, bitnobi.EINVALID, "graph"},
		{"WorkflowMalformed", "POST", "/api/workflows", `{"name":`, 400, bitnobi.EINVALID, ""},
		{"SQLWrongContentType", "POST", "/api/datasources/sql", "name=x", 415, bitnobi.EUNSUPPORTED, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := e.For(t)
			hdr := jh
			if tc.code == bitnobi.EUNSUPPORTED {
				hdr = http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Authorization": {"Bearer " + alice}}
			}
			n := e.auditCount()
			status, body := e.raw(tc.method, tc.path, hdr, strings.NewReader(tc.body))
			var v J
			if err := json.Unmarshal(body, &v); err != nil {
				t.Fatalf("body is not JSON: %s", body)
			}
			wantError(t, status, v, tc.status, tc.code, tc.field)
			if e.auditCount() != n {
				t.Fatal("a refused request was audited")
			}
		})
	}
	for _, p := range []string{"/api/datasources", "/api/workflows", "/api/reports", "/api/workflows/" + id + "/runs"} {
		status, v := e.do("GET", p, "", nil)
		wantError(t, status, v, http.StatusUnauthorized, bitnobi.EUNAUTHORIZED, "")
	}
}

// csvGenerator produces a CSV file of about size bytes a line at a time,
// without ever holding it whole.
type csvGenerator struct {
	size, n int64
	line    int64
	pending []byte
}

func (g *csvGenerator) Read(p []byte) (int, error) {
	if g.n >= g.size && len(g.pending) == 0 {
		return 0, io.EOF
	}
	written := 0
	for written < len(p) {
		if len(g.pending) == 0 {
			if g.n >= g.size {
				break
			}
			if g.line == 0 {
				g.pending = []byte("id,name,region,amount\n")
			} else {
				b := strconv.AppendInt(g.pending[:0], g.line, 10)
				b = append(b, ",customer number "...)
				b = strconv.AppendInt(b, g.line, 10)
				b = append(b, ",region-"...)
				b = strconv.AppendInt(b, g.line%17, 10)
				b = append(b, ',')
				b = strconv.AppendInt(b, g.line%9973, 10)
				g.pending = append(b, ".5,a comment to make the line longer\n"...)
			}
			g.line++
			g.n += int64(len(g.pending))
		}
		c := copy(p[written:], g.pending)
		g.pending = g.pending[c:]
		written += c
	}
	return written, nil
}

// TestDataSourceUploadLarge streams a generated 200 MB CSV file through the
// real HTTP handler into the blob store, sampling the heap meanwhile: the
// upload must not be held in memory.
func TestDataSourceUploadLarge(t *testing.T) { dbtest.Run(t, testDataSourceUploadLarge) }

func testDataSourceUploadLarge(t *testing.T, engine string) {
	const size = 200 << 20
	const maxGrowth = 64 << 20
	e := newTestServer(t, engine)
	_, alice := e.user("alice")

	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	h := sha256.New()
	var sent atomic.Int64
	go func() {
		mw.WriteField("name", "big")
		fw, err := mw.CreateFormFile("file", "big.csv")
		if err != nil {
			pw.CloseWithError(err)
			return
		}
		n, err := io.Copy(io.MultiWriter(fw, h), &csvGenerator{size: size})
		sent.Store(n)
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()

	start := time.Now()
	hdr := http.Header{"Content-Type": {mw.FormDataContentType()}, "Authorization": {"Bearer " + alice}}
	status, body := e.raw("POST", "/api/datasources", hdr, pr)
	elapsed := time.Since(start)
	close(stop)
	wg.Wait()

	if status != http.StatusCreated {
		t.Fatalf("upload: %d %s", status, body)
	}
	var ds J
	if err := json.Unmarshal(body, &ds); err != nil {
		t.Fatal(err)
	}
	if want := hex.EncodeToString(h.Sum(nil)); ds["blob_id"] != want || int64(ds["size"].(float64)) != sent.Load() {
		t.Fatalf("stored blob %v of %v bytes, want %s of %d", ds["blob_id"], ds["size"], want, sent.Load())
	}
	growth := int64(peak.Load()) - int64(base)
	t.Logf("uploaded %d MB in %v (%.0f MB/s); heap in use %d MiB before, peak %d MiB, growth %.1f MiB",
		sent.Load()>>20, elapsed.Round(time.Millisecond), float64(sent.Load())/(1<<20)/elapsed.Seconds(), base>>20, peak.Load()>>20, float64(growth)/(1<<20))
	if growth > maxGrowth {
		t.Fatalf("heap grew by %d MiB during the upload, more than %d MiB: the upload is being buffered", growth>>20, maxGrowth>>20)
	}
}
