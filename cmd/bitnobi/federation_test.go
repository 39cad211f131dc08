package main

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

// TestServeFederation pairs two `bitnobi serve` servers on 127.0.0.1
// through their APIs, as two administrators would, and reads B's shared
// result from a workflow of A: what serve wires together (the signing
// client, the peer routes, the External Data Source element) works end to
// end.
func TestServeFederation(t *testing.T) {
	const pw = "correct horse battery"
	srvA := startServer(t, t.TempDir(), nil)
	srvB := startServer(t, t.TempDir(), nil)
	admin := func(base string) *client {
		c := &client{t: t, base: base}
		c.do("POST", "/api/auth/signup", J{"username": "admin", "email": "admin@example.org", "password": pw}, http.StatusCreated, nil)
		return signIn(t, base, "admin", pw)
	}
	a, b := admin(srvA.URL), admin(srvB.URL)

	// B shares a result with the users whose team is "blue", exporting
	// two of its three columns.
	ds := b.upload("scores", "csv", "scores.csv", strings.NewReader("name,team,score\nann,blue,3\nbo,blue,5\n"))
	var wf J
	b.do("POST", "/api/workflows", J{"name": "scores", "exportables": []string{"name", "score"}, "graph": J{
		"elements": []J{{"id": "in", "type": "importer", "config": J{"datasource_id": id(ds)}}, {"id": "out", "type": "result"}},
		"edges":    []J{{"from": "in", "to": "out"}},
	}}, http.StatusCreated, &wf)
	var pol J
	b.do("POST", "/api/policies", J{"name": "blue", "attributes": J{"team": "blue"}}, http.StatusCreated, &pol)
	b.do("PUT", "/api/workflows/"+id(wf)+"/policies/"+id(pol), nil, http.StatusNoContent, nil)
	b.do("POST", "/api/workflows/"+id(wf)+"/runs", nil, http.StatusCreated, nil)

	// The pairing: each side stores the other with the same service id
	// and secret.
	var peerB J
	a.do("POST", "/api/remote-servers", J{"name": "b", "url": srvB.URL, "service_id": "a-b", "password": "pairing secret a-b"}, http.StatusCreated, &peerB)
	b.do("POST", "/api/remote-servers", J{"name": "a", "url": srvA.URL, "service_id": "a-b", "password": "pairing secret a-b"}, http.StatusCreated, nil)
	var st J
	a.do("GET", "/api/remote-servers/"+id(peerB)+"/status", nil, http.StatusOK, &st)
	if st["status"] != "online" {
		t.Fatalf("A sees B as %v, want online", st["status"])
	}

	// A's administrator, on the blue team, reads B's result.
	var me J
	a.do("GET", "/api/me", nil, http.StatusOK, &me)
	a.do("PATCH", "/api/users/"+id(me), J{"attributes": J{"team": "blue"}}, http.StatusOK, nil)
	var ext, run J
	a.do("POST", "/api/workflows", J{"name": "from b", "graph": J{
		"elements": []J{{"id": "ext", "type": "external", "config": J{"remote_server_id": id(peerB), "workflow_id": id(wf)}}, {"id": "out", "type": "result"}},
		"edges":    []J{{"from": "ext", "to": "out"}},
	}}, http.StatusCreated, &ext)
	a.do("POST", "/api/workflows/"+id(ext)+"/runs", nil, http.StatusCreated, &run)
	if run["status"] != "succeeded" || run["result_rows"] != float64(2) {
		t.Fatalf("run on A: %v", run)
	}
	var cols []string
	for _, c := range run["result_columns"].([]any) {
		cols = append(cols, c.(string))
	}
	if want := []string{"name", "score"}; !slices.Equal(cols, want) {
		t.Fatalf("columns %v, want %v", cols, want)
	}

	// B's audit log names A's user as the remote user.
	var audit struct {
		Entries []struct {
			Action     string `json:"action"`
			RemoteUser string `json:"remote_user"`
		} `json:"entries"`
	}
	b.do("GET", "/api/audit?action=datasource.access&limit=1000", nil, http.StatusOK, &audit)
	found := false
	for _, e := range audit.Entries {
		found = found || e.RemoteUser == "admin"
	}
	if !found {
		t.Fatalf("B's audit log has no access by remote user admin: %+v", audit.Entries)
	}
}
