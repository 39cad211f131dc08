package httpapi_test

// Tests of SQL data sources in a copy restored with --as-copy: off, so
// that a SQL element never connects to the original's databases, until
// an administrator turns them on (GET/PUT /api/settings/sql-sources).

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/internal/dbtest"
	"github.com/bitnobi/bitnobi/store"
)

// connCounter is a listener on 127.0.0.1 that counts and closes every
// connection, standing in for the original's database.
type connCounter struct {
	ln net.Listener
	n  atomic.Int64
}

func newConnCounter(t *testing.T) *connCounter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &connCounter{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			c.n.Add(1)
			conn.Close()
		}
	}()
	return c
}

func (c *connCounter) port() int { return c.ln.Addr().(*net.TCPAddr).Port }

func TestSQLSourcesOffInCopy(t *testing.T) { dbtest.Run(t, testSQLSourcesOffInCopy) }

func testSQLSourcesOffInCopy(t *testing.T, engine string) {
	e := newTestServer(t, engine)
	_, admin := e.user("admin")
	_, alice := e.user("alice")
	db := newConnCounter(t)

	if v := e.must(http.StatusOK, "GET", "/api/settings/sql-sources", admin, nil); v["enabled"] != true {
		t.Fatalf("before a copy: %v, want enabled", v)
	}
	src := J{"name": "crm", "driver": "postgres", "host": "127.0.0.1", "port": db.port(), "database": "crm",
		"user": "reader", "password": "pw", "query": "SELECT 1"}
	ds := e.must(http.StatusCreated, "POST", "/api/datasources/sql", alice, src)["id"].(string)
	g := graph(elem("q", "sql", J{"datasource_id": ds}), elem("out", "result", nil))
	wf := e.must(http.StatusCreated, "POST", "/api/workflows", alice, J{"name": "sql", "graph": g})["id"].(string)

	// What a restore --as-copy does to the restored state.
	err := e.DB.WriteTx(context.Background(), func(tx *store.Tx) error {
		_, _, err := tx.MarkAsCopy(context.Background())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if v := e.must(http.StatusOK, "GET", "/api/settings/sql-sources", admin, nil); v["enabled"] != false {
		t.Fatalf("in a copy: %v, want disabled", v)
	}
	const why = "This installation is a copy restored with --as-copy: SQL data sources stay off so that it never queries the original's databases."
	const how = "PUT /api/settings/sql-sources"
	run := e.must(http.StatusCreated, "POST", "/api/workflows/"+wf+"/runs", alice, nil)
	wantRun(t, run, why)
	wantRun(t, run, how)
	_, p := e.do("POST", "/api/workflows/preview", alice, J{"element_id": "q", "graph": g, "rows": 2})
	if !strings.Contains(fmt.Sprint(p), why) {
		t.Fatalf("preview in a copy: %v, want it refused with %q", p, why)
	}
	if n := db.n.Load(); n != 0 {
		t.Fatalf("the database saw %d connections from a copy, want none", n)
	}

	// Only the administrator turns them on.
	for _, m := range []string{"GET", "PUT"} {
		status, v := e.do(m, "/api/settings/sql-sources", alice, J{"enabled": true})
		wantError(t, status, v, http.StatusForbidden, bitnobi.EFORBIDDEN, "")
	}
	run = e.must(http.StatusCreated, "POST", "/api/workflows/"+wf+"/runs", alice, nil)
	wantRun(t, run, why)
	before := e.auditActions()
	if v := e.must(http.StatusOK, "PUT", "/api/settings/sql-sources", admin, J{"enabled": true}); v["enabled"] != true {
		t.Fatalf("turned on: %v", v)
	}
	e.wantAudit(before, map[string]int{bitnobi.ActionSettingsUpdate: 1})
	if a := e.lastAudit(bitnobi.ActionSettingsUpdate); a.TargetID != "sql-sources" {
		t.Fatalf("audit: %+v", a)
	}
	if v := e.must(http.StatusOK, "GET", "/api/settings/sql-sources", admin, nil); v["enabled"] != true {
		t.Fatalf("read back: %v", v)
	}
	// Now the run connects (and fails, as the listener is no database).
	run = e.must(http.StatusCreated, "POST", "/api/workflows/"+wf+"/runs", alice, nil)
	if run["status"] != "failed" || strings.Contains(fmt.Sprint(run["error"]), why) {
		t.Fatalf("run after turning on: %v, want a connection failure", run)
	}
	if n := db.n.Load(); n == 0 {
		t.Fatal("the run did not connect after SQL data sources were turned on")
	}
	// And off again.
	if v := e.must(http.StatusOK, "PUT", "/api/settings/sql-sources", admin, J{"enabled": false}); v["enabled"] != false {
		t.Fatalf("turned off: %v", v)
	}
	run = e.must(http.StatusCreated, "POST", "/api/workflows/"+wf+"/runs", alice, nil)
	wantRun(t, run, why)
}
