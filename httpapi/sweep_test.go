package httpapi_test

// The API sweep: every route of Server.Routes, taken from the list so that
// a new route is swept without editing this file, is sent hostile
// requests: no token, a garbage token, a well-formed unknown token and an
// expired one; malformed JSON, an oversized body, a wrong content type,
// unknown fields, wrong JSON types; malformed IDs, unknown IDs and other
// users' IDs in every path parameter. Whatever is sent, the answer is never
// a 500 nor a broken connection, and every error is a JSON body with a
// code that matches the status.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/httpapi"
	"github.com/bitnobi/bitnobi/internal/dbtest"
)

func TestSweep(t *testing.T) { dbtest.Run(t, testSweep) }

// sweepParam matches a path parameter of a route pattern.
var sweepParam = regexp.MustCompile(`\{(\w+)(\.\.\.)?\}`)

// sweepStatus is the status each error code must come with (docs/api.md).
var sweepStatus = map[string]int{
	bitnobi.EINVALID:      http.StatusBadRequest,
	bitnobi.EUNAUTHORIZED: http.StatusUnauthorized,
	bitnobi.EFORBIDDEN:    http.StatusForbidden,
	bitnobi.ENOTFOUND:     http.StatusNotFound,
	bitnobi.ECONFLICT:     http.StatusConflict,
	bitnobi.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	bitnobi.EUNSUPPORTED:  http.StatusUnsupportedMediaType,
}

// sweep is the state the sweep runs against.
type sweep struct {
	e                *testEnv
	admin, alice     string // tokens
	bob              string // a plain user who owns nothing
	carolID          string
	ids              map[string]string // collection ("policies") or parameter ("runID") -> alice's (or the admin's) entity
	bodies           map[string]J      // "METHOD pattern" -> a valid JSON body
	multipart        map[string]bool   // routes that read a multipart body
	exercised        map[string]int    // "METHOD pattern" -> requests that reached its handler
	aliceID, adminID string
}

func testSweep(t *testing.T, engine string) {
	e := newTestServer(t, engine)
	s := &sweep{e: e, exercised: map[string]int{}}
	s.adminID, s.admin = e.user("root")
	s.aliceID, s.alice = e.user("alice")
	_, s.bob = e.user("bob")
	s.carolID = e.signUp("carol")["id"].(string)

	dsID := e.uploadFile(s.alice, "sales", "sales.csv", salesCSV)["id"].(string)
	wfID := e.must(http.StatusCreated, "POST", "/api/workflows", s.alice, J{"name": "apples", "graph": salesGraph(dsID), "exportables": []string{"region", "total"}})["id"].(string)
	policyID := e.must(http.StatusCreated, "POST", "/api/policies", s.alice, J{"name": "IT", "attributes": J{"department": "IT"}})["id"].(string)
	runID := e.must(http.StatusCreated, "POST", "/api/workflows/"+wfID+"/runs", s.alice, nil)["id"].(string)
	reportID := e.must(http.StatusCreated, "POST", "/api/reports", s.alice, J{"workflow_id": wfID, "name": "apples"})["id"].(string)
	remoteID := e.must(http.StatusCreated, "POST", "/api/remote-servers", s.admin, J{"name": "partner", "url": "https://partner.example.org", "service_id": "svc"})["id"].(string)
	s.ids = map[string]string{
		"users": s.aliceID, "policies": policyID, "remote-servers": remoteID,
		"datasources": dsID, "workflows": wfID, "reports": reportID,
		"policyID": policyID, "runID": runID,
		"federation": wfID, // POST /api/federation/results/{id}
	}
	s.bodies = map[string]J{
		"POST /api/auth/signup":            {"username": "sweeper", "email": "sweeper@example.org", "password": password("sweeper")},
		"POST /api/auth/signin":            {"username": "alice", "password": password("alice")},
		"PATCH /api/users/{id}":            {"email": "alice2@example.org", "is_admin": false, "attributes": J{"department": "IT"}},
		"POST /api/policies":               {"name": "p", "description": "d", "attributes": J{"department": "IT"}, "global": false},
		"PATCH /api/policies/{id}":         {"name": "p2", "description": "d2"},
		"POST /api/remote-servers":         {"name": "x", "url": "https://x.example.org", "service_id": "s", "password": "pw"},
		"PATCH /api/remote-servers/{id}":   {"name": "y", "enabled": true},
		"PUT /api/settings/email":          {"from": "a@example.org", "host": "smtp.example.org", "port": 25},
		"PUT /api/settings/backup":         {"enabled": true, "schedule": "daily at 02:15", "retention": J{"keep_daily": 7}},
		"POST /api/settings/email/test":    {"to": "x@example.org"},
		"POST /api/auth/forgot-password":   {"email": "nobody@example.org"},
		"POST /api/auth/reset-password":    {"token": "no-such-token", "password": "long enough password"},
		"PUT /api/settings/python":         {"enabled": false},
		"PUT /api/settings/sql-sources":    {"enabled": true},
		"POST /api/datasources/sql":        {"name": "crm", "driver": "postgres", "host": "db.example.org", "port": 5432, "database": "crm", "user": "reader", "query": "SELECT 1", "password": "pw"},
		"PATCH /api/datasources/{id}":      {"name": "n2", "description": "d2"},
		"POST /api/workflows":              {"name": "w", "graph": salesGraph(dsID), "exportables": []string{"region"}},
		"PATCH /api/workflows/{id}":        {"name": "w2", "exportables": []string{"region"}},
		"POST /api/reports":                {"workflow_id": wfID, "name": "r", "charts": []J{{"type": "table"}}},
		"PATCH /api/reports/{id}":          {"name": "r2", "charts": []J{{"type": "table"}}},
		"POST /api/workflows/preview":      {"element_id": "in", "graph": salesGraph(dsID), "rows": 2},
		"POST /api/workflows/{id}/preview": {"element_id": "apples", "rows": 2},
	}
	s.multipart = map[string]bool{"POST /api/datasources": true}

	routes := append([]httpapi.Route(nil), e.Server.Routes...)
	if len(routes) == 0 {
		t.Fatal("Server.Routes is empty")
	}
	for _, rt := range routes {
		t.Run(strings.ReplaceAll(rt.Method+rt.Pattern, "/", "_"), func(t *testing.T) {
			s.route(t, rt)
		})
	}

	// Nothing of alice's was changed or deleted by the sweep.
	for _, p := range []string{"/api/datasources/" + dsID, "/api/workflows/" + wfID, "/api/policies/" + policyID, "/api/reports/" + reportID, "/api/workflows/" + wfID + "/runs/" + runID + "/result"} {
		e.For(t).must(http.StatusOK, "GET", p, s.alice, nil)
	}
	if v := e.For(t).must(http.StatusOK, "GET", "/api/me", s.alice, nil); v["email"] != "alice@example.org" || v["is_admin"] != false {
		t.Errorf("alice changed by the sweep: %v", v)
	}

	// Expired: every sign-in so far is past its 30 days.
	e.Clock.Advance(31 * 24 * time.Hour)
	t.Run("Expired", func(t *testing.T) {
		for _, rt := range routes {
			if !rt.Auth {
				continue
			}
			s.want(t, rt, "expired token", http.StatusUnauthorized, bitnobi.EUNAUTHORIZED, "",
				s.send(t, rt, s.path(t, rt, nil), bearer(s.alice), s.bodyBytes(rt)))
		}
	})

	var missed []string
	total := 0
	for _, n := range s.exercised {
		total += n
	}
	t.Logf("%d routes, %d requests answered as required", len(routes), total)
	for _, rt := range routes {
		if s.exercised[rt.Method+" "+rt.Pattern] == 0 {
			missed = append(missed, rt.Method+" "+rt.Pattern)
		}
	}
	if len(missed) > 0 {
		sort.Strings(missed)
		t.Errorf("routes never reached by the sweep: %v", missed)
	}
}

// sweepResult is one answer.
type sweepResult struct {
	status int
	body   []byte
	err    error
}

// route sweeps one route.
func (s *sweep) route(t *testing.T, rt httpapi.Route) {
	key := rt.Method + " " + rt.Pattern
	valid := s.path(t, rt, nil)
	params := sweepParam.FindAllStringSubmatch(rt.Pattern, -1)
	_, jsonBody := s.bodies[key]

	// Authentication.
	if rt.Auth {
		for _, tc := range []struct{ name, auth string }{
			{"no token", ""},
			{"garbage token", "Bearer garbage!!"},
			{"empty bearer", "Bearer "},
			{"basic auth", "Basic " + "YWxpY2U6cHc="},
			{"unknown well-formed token", bearer(mutate(s.alice))},
			{"token of a deleted session", bearer(strings.Repeat("A", len(s.alice)))},
		} {
			s.want(t, rt, tc.name, http.StatusUnauthorized, bitnobi.EUNAUTHORIZED, "", s.send(t, rt, valid, tc.auth, s.bodyBytes(rt)))
		}
	} else {
		s.check(t, rt, "garbage token, no body", s.send(t, rt, valid, "Bearer garbage!!", nil))
	}

	// Bodies.
	if jsonBody {
		s.jsonBodies(t, rt, valid)
	} else {
		// A route that does not read JSON: hostile bodies must not make
		// it fail badly. Sent by carol (a fresh sign-in each time, since
		// one of these routes is sign-out) on alice's IDs, which carol
		// may not touch.
		for _, b := range hostileBodies() {
			res := s.sendCT(t, rt, valid, s.carol(t), b.ct, b.data)
			s.check(t, rt, "non-JSON route, "+b.name, res)
			if res.status == http.StatusUnsupportedMediaType && !s.multipart[key] && rt.Auth {
				t.Errorf("%s answers 415 to %s: it reads a body; add a valid body for it to the sweep's bodies", key, b.name)
			}
		}
	}

	// Path parameters.
	for _, p := range params {
		name := p[1]
		for _, bad := range []string{"nope", "0", "-1", strings.Repeat("z", 32), strings.ToUpper(newHexID()), newHexID()[:31], newHexID() + "0", strings.Repeat("a", 1000), "%00" + newHexID()[:29], "%20"} {
			s.want(t, rt, fmt.Sprintf("bad {%s} %.40q", name, bad), http.StatusBadRequest, bitnobi.EINVALID, name,
				s.send(t, rt, s.path(t, rt, map[string]string{name: bad}), bearer(s.admin), s.bodyBytes(rt)))
		}
		want, code := http.StatusNotFound, bitnobi.ENOTFOUND
		if peerRoute(rt) {
			want, code = http.StatusUnauthorized, bitnobi.EUNAUTHORIZED // a session is no peer's signature
		}
		s.want(t, rt, fmt.Sprintf("unknown {%s}", name), want, code, "",
			s.send(t, rt, s.path(t, rt, map[string]string{name: newHexID()}), bearer(s.admin), s.bodyBytes(rt)))
	}
	if len(params) > 0 {
		// Another user's entities: bob owns nothing and matches no policy.
		want, code := http.StatusNotFound, bitnobi.ENOTFOUND
		switch {
		case strings.HasPrefix(rt.Pattern, "/api/users/") || strings.HasPrefix(rt.Pattern, "/api/remote-servers/"):
			want, code = http.StatusForbidden, bitnobi.EFORBIDDEN
		case peerRoute(rt):
			want, code = http.StatusUnauthorized, bitnobi.EUNAUTHORIZED
		}
		s.want(t, rt, "another user's IDs", want, code, "", s.send(t, rt, valid, bearer(s.bob), s.bodyBytes(rt)))
	}
}

// peerRoute reports whether rt is called by paired servers, with a signed
// request instead of a session.
func peerRoute(rt httpapi.Route) bool { return strings.HasPrefix(rt.Pattern, "/api/federation/") }

// jsonBodies sends hostile JSON bodies to a route that reads one, as the
// administrator (so that no permission check answers first) on alice's
// IDs. None of them may change anything.
func (s *sweep) jsonBodies(t *testing.T, rt httpapi.Route, path string) {
	key := rt.Method + " " + rt.Pattern
	valid := s.bodies[key]
	auth := ""
	if rt.Auth {
		auth = bearer(s.admin)
	}
	send := func(ct string, data []byte) sweepResult { return s.sendCT(t, rt, path, auth, ct, data) }
	js := "application/json"
	validData, _ := json.Marshal(valid)

	for _, tc := range []struct {
		name string
		data string
	}{
		{"malformed JSON", `{"name": `},
		{"malformed JSON (bare word)", `{name: 1}`},
		{"empty body", ``},
		{"trailing data", string(validData) + `{}`},
		{"array", `[]`},
		{"string", `"x"`},
		{"number", `1`},
		{"boolean", `true`},
		{"deep nesting", strings.Repeat("[", 100000) + strings.Repeat("]", 100000)},
		{"invalid UTF-8 in a key", "{\"\xff\": 1}"},
	} {
		s.want(t, rt, tc.name, http.StatusBadRequest, bitnobi.EINVALID, "", send(js, []byte(tc.data)))
	}
	huge := append([]byte(`{"name": "`), bytes.Repeat([]byte("x"), int(s.e.Server.MaxBodyBytes)+1024)...)
	huge = append(huge, `"}`...)
	s.want(t, rt, "body over MaxBodyBytes", http.StatusRequestEntityTooLarge, bitnobi.ETOOLARGE, "", send(js, huge))
	for _, ct := range []string{"text/plain", "application/xml", "multipart/form-data; boundary=x", "application/x-www-form-urlencoded"} {
		s.want(t, rt, "content type "+ct, http.StatusUnsupportedMediaType, bitnobi.EUNSUPPORTED, "", send(ct, validData))
	}
	unknown := J{"sweep_unknown_field": 1}
	for k, v := range valid {
		unknown[k] = v
	}
	data, _ := json.Marshal(unknown)
	s.want(t, rt, "unknown field", http.StatusBadRequest, bitnobi.EINVALID, "sweep_unknown_field", send(js, data))
	for field, v := range valid {
		for _, wrong := range wrongTypes(v) {
			b := J{}
			for k, v := range valid {
				b[k] = v
			}
			b[field] = wrong
			data, _ := json.Marshal(b)
			s.want(t, rt, fmt.Sprintf("%s as %s", field, data), http.StatusBadRequest, bitnobi.EINVALID, "", send(js, data))
		}
	}
}

// wrongTypes returns JSON values of other types than v.
func wrongTypes(v any) []any {
	all := map[string]any{"string": "s", "number": 12345, "bool": true, "object": J{"x": 1}, "array": []any{1}}
	kind := "object"
	switch v.(type) {
	case string:
		kind = "string"
	case int, float64:
		kind = "number"
	case bool:
		kind = "bool"
	case []string, []J, []any:
		kind = "array"
	}
	var out []any
	for _, k := range []string{"string", "number", "bool", "object", "array"} {
		if k != kind {
			out = append(out, all[k])
		}
	}
	return out
}

type hostileBody struct {
	name, ct string
	data     []byte
}

func hostileBodies() []hostileBody {
	return []hostileBody{
		{"malformed JSON", "application/json", []byte(`{"name": `)},
		{"unknown field", "application/json", []byte(`{"sweep_unknown_field": 1}`)},
		{"wrong content type", "text/plain", []byte(`{}`)},
		{"body over 1 MiB", "application/json", bytes.Repeat([]byte("["), 1<<20+1024)},
	}
}

// path returns the route's path with each parameter set to alice's entity,
// or to set[name].
func (s *sweep) path(t *testing.T, rt httpapi.Route, set map[string]string) string {
	t.Helper()
	return sweepParam.ReplaceAllStringFunc(rt.Pattern, func(m string) string {
		name := sweepParam.FindStringSubmatch(m)[1]
		if v, ok := set[name]; ok {
			return v
		}
		if v, ok := s.ids[name]; ok {
			return v
		}
		if name == "id" {
			coll := strings.Split(strings.TrimPrefix(rt.Pattern, "/api/"), "/")[0]
			if v, ok := s.ids[coll]; ok {
				return v
			}
		}
		t.Errorf("%s %s: the sweep has no entity for {%s}: add one to sweep.ids", rt.Method, rt.Pattern, name)
		return newHexID()
	})
}

// bodyBytes returns the route's valid JSON body, or nil.
func (s *sweep) bodyBytes(rt httpapi.Route) []byte {
	v, ok := s.bodies[rt.Method+" "+rt.Pattern]
	if !ok {
		return nil
	}
	data, _ := json.Marshal(v)
	return data
}

// carol signs carol in afresh and returns the Authorization header.
func (s *sweep) carol(t *testing.T) string {
	return bearer(s.e.For(t).signIn("carol"))
}

func (s *sweep) send(t *testing.T, rt httpapi.Route, path, auth string, body []byte) sweepResult {
	ct := ""
	if body != nil {
		ct = "application/json"
	}
	return s.sendCT(t, rt, path, auth, ct, body)
}

// sendCT sends one request and reads the whole answer. Transport errors
// (a reset connection, a server that hung up) are returned, not fatal.
func (s *sweep) sendCT(t *testing.T, rt httpapi.Route, path, auth, ct string, body []byte) sweepResult {
	t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(rt.Method, s.e.HTTP.URL+path, r)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	resp, err := s.e.HTTP.Client().Do(req)
	if err != nil {
		return sweepResult{err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return sweepResult{status: resp.StatusCode, body: data, err: err}
}

// check asserts what holds of every answer: no transport error, no 5xx,
// the request reached the route (not the catch-all), and an error is a
// JSON object with a code that matches the status. It reports whether the
// answer passed, and the decoded error.
func (s *sweep) check(t *testing.T, rt httpapi.Route, what string, res sweepResult) (httpapi.ErrorResponse, bool) {
	t.Helper()
	var er httpapi.ErrorResponse
	if res.err != nil {
		t.Errorf("%s %s, %s: %v", rt.Method, rt.Pattern, what, res.err)
		return er, false
	}
	if res.status >= 500 {
		t.Errorf("%s %s, %s: status %d: %s", rt.Method, rt.Pattern, what, res.status, res.body)
		return er, false
	}
	if res.status < 400 {
		s.exercised[rt.Method+" "+rt.Pattern]++
		return er, true
	}
	if err := json.Unmarshal(res.body, &er); err != nil || er.Code == "" {
		t.Errorf("%s %s, %s: status %d with no JSON error code: %v: %q", rt.Method, rt.Pattern, what, res.status, err, res.body)
		return er, false
	}
	if want, ok := sweepStatus[er.Code]; !ok || want != res.status {
		t.Errorf("%s %s, %s: status %d with code %q", rt.Method, rt.Pattern, what, res.status, er.Code)
		return er, false
	}
	if strings.HasPrefix(er.Message, "No such endpoint") {
		t.Errorf("%s %s, %s: the request did not reach the route: %s", rt.Method, rt.Pattern, what, er.Message)
		return er, false
	}
	s.exercised[rt.Method+" "+rt.Pattern]++
	return er, true
}

// want is check, also asserting the status, code and (if set) field.
func (s *sweep) want(t *testing.T, rt httpapi.Route, what string, status int, code, field string, res sweepResult) {
	t.Helper()
	er, ok := s.check(t, rt, what, res)
	if !ok {
		return
	}
	if res.status != status || er.Code != code || (field != "" && er.Field != field) {
		t.Errorf("%s %s, %s: status %d code %q field %q, want %d %q %q: %.300s", rt.Method, rt.Pattern, what, res.status, er.Code, er.Field, status, code, field, res.body)
	}
}

func bearer(token string) string { return "Bearer " + token }

// mutate changes the last character of a token, keeping its shape.
func mutate(tok string) string {
	if tok == "" {
		return "x"
	}
	c := byte('A')
	if tok[len(tok)-1] == 'A' {
		c = 'B'
	}
	return tok[:len(tok)-1] + string(c)
}

// newHexID returns a well-formed ID that names nothing.
func newHexID() string { return bitnobi.NewID() }
