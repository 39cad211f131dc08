package federation_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/blob"
	"github.com/bitnobi/bitnobi/federation"
	"github.com/bitnobi/bitnobi/httpapi"
	"github.com/bitnobi/bitnobi/internal/dbtest"
	"github.com/bitnobi/bitnobi/secret"
	"github.com/bitnobi/bitnobi/store"
)

var fastPasswords = store.PasswordParams{Time: 1, Memory: 64, Threads: 1, SaltLen: 16, KeyLen: 32}

// node is one Bitnobi server: its own database and blob store, every
// service the federation touches, and its API served on 127.0.0.1.
type node struct {
	t         *testing.T
	db        *store.DB
	users     *store.UserService
	policies  *store.PolicyService
	sources   *store.DataSourceService
	workflows *store.WorkflowService
	remotes   *store.RemoteServerService
	fed       *federation.Service
	http      *httptest.Server
	admin     *bitnobi.User
}

func newNode(t *testing.T, engine string) *node {
	t.Helper()
	db := dbtest.Open(t, engine)
	var err error
	if db.Key, err = secret.GenerateKey(); err != nil {
		t.Fatal(err)
	}
	db.Blobs = blob.NewStore(filepath.Join(t.TempDir(), "blobs"))
	db.Logger = slog.New(slog.DiscardHandler)
	client := &federation.Client{Timeout: 10 * time.Second, StatusTimeout: 2 * time.Second, MaxRows: 1000}
	n := &node{t: t, db: db,
		users:     &store.UserService{DB: db, Password: fastPasswords},
		policies:  &store.PolicyService{DB: db},
		sources:   &store.DataSourceService{DB: db},
		workflows: &store.WorkflowService{DB: db, Remote: client},
		remotes:   &store.RemoteServerService{DB: db},
	}
	n.fed = &federation.Service{Peers: n.remotes, Results: n.workflows, Client: client}
	s := httpapi.NewServer()
	s.Logger = db.Logger
	s.Users, s.Policies, s.DataSources, s.Workflows, s.Remotes = n.users, n.policies, n.sources, n.workflows, n.remotes
	s.Federation = n.fed
	n.http = httptest.NewServer(s.Handler())
	t.Cleanup(n.http.Close)
	n.admin = n.signUp("admin") // the first user is the administrator
	if !n.admin.IsAdmin {
		t.Fatal("first user is not the administrator")
	}
	return n
}

// as returns a context whose actor is u.
func (n *node) as(u *bitnobi.User) context.Context {
	return bitnobi.NewContextWithActor(context.Background(), &bitnobi.Actor{UserID: u.ID, Username: u.Username, IsAdmin: u.IsAdmin, Attributes: u.Attributes})
}

func (n *node) signUp(name string) *bitnobi.User {
	n.t.Helper()
	u, err := n.users.SignUp(context.Background(), name, name+"@example.org", "pw-"+name+"-long-enough")
	if err != nil {
		n.t.Fatalf("sign up %s: %v", name, err)
	}
	return u
}

// userWith signs up a user and has the administrator give them attrs.
func (n *node) userWith(name string, attrs map[string]string) *bitnobi.User {
	n.t.Helper()
	u := n.signUp(name)
	u, err := n.users.UpdateUser(n.as(n.admin), u.ID, bitnobi.UserUpdate{Attributes: &attrs})
	if err != nil {
		n.t.Fatalf("set attributes of %s: %v", name, err)
	}
	return u
}

// pair stores peer as a remote server of n.
func (n *node) pair(name string, peer *node, serviceID, secret string) *bitnobi.RemoteServer {
	n.t.Helper()
	r, err := n.remotes.CreateRemoteServer(n.as(n.admin), bitnobi.RemoteServerCreate{Name: name, URL: peer.http.URL, ServiceID: serviceID, Password: secret})
	if err != nil {
		n.t.Fatalf("pair %s: %v", name, err)
	}
	return r
}

func (n *node) workflow(owner *bitnobi.User, name string, g bitnobi.Graph, exportables []string) *bitnobi.Workflow {
	n.t.Helper()
	w := &bitnobi.Workflow{Name: name, Graph: g, Exportables: exportables}
	if err := n.workflows.CreateWorkflow(n.as(owner), w); err != nil {
		n.t.Fatalf("create workflow %s: %v", name, err)
	}
	return w
}

func (n *node) run(u *bitnobi.User, w *bitnobi.Workflow) *bitnobi.WorkflowRun {
	n.t.Helper()
	run, err := n.workflows.StartRun(n.as(u), w.ID)
	if err != nil {
		n.t.Fatalf("run %s: %v", w.Name, err)
	}
	return run
}

func (n *node) rows(u *bitnobi.User, w *bitnobi.Workflow, run *bitnobi.WorkflowRun) [][]any {
	n.t.Helper()
	_, rc, err := n.workflows.ReadResult(n.as(u), w.ID, run.ID)
	if err != nil {
		n.t.Fatalf("read result: %v", err)
	}
	defer rc.Close()
	var out [][]any
	dec := json.NewDecoder(rc)
	for {
		var row []any
		if err := dec.Decode(&row); err == io.EOF {
			return out
		} else if err != nil {
			n.t.Fatal(err)
		}
		out = append(out, row)
	}
}

// remoteAccesses returns the audit entries of n that name a remote user,
// as "action remote_user@remote_addr target_type".
func (n *node) remoteAccesses() []string {
	n.t.Helper()
	rows, err := n.db.Read.QueryContext(context.Background(), `SELECT action, remote_user, remote_addr, target_type FROM audit_log WHERE remote_user <> '' ORDER BY seq`)
	if err != nil {
		n.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var action, user, addr, typ string
		if err := rows.Scan(&action, &user, &addr, &typ); err != nil {
			n.t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s %s@%s %s", action, user, addr, typ))
	}
	if err := rows.Err(); err != nil {
		n.t.Fatal(err)
	}
	return out
}

func graph(source bitnobi.Element) bitnobi.Graph {
	return bitnobi.Graph{
		Elements: []bitnobi.Element{source, {ID: "out", Type: bitnobi.ElementResult}},
		Edges:    []bitnobi.Edge{{From: source.ID, To: "out"}},
	}
}

func element(id, typ string, config any) bitnobi.Element {
	b, _ := json.Marshal(config)
	return bitnobi.Element{ID: id, Type: typ, Config: b}
}

// world is server A (the user's) and server B (the data's), paired.
type world struct {
	a, b         *node
	bob          *bitnobi.User // owns the shared workflow on B
	shared       *bitnobi.Workflow
	policy       *bitnobi.Policy
	peerB        *bitnobi.RemoteServer // B, as stored on A
	peerA        *bitnobi.RemoteServer // A, as stored on B
	alice, carol *bitnobi.User         // users of A: in sales, in IT
}

const pairSecret = "a-shared-secret-of-the-pairing"

func newWorld(t *testing.T, engine string) *world {
	w := &world{a: newNode(t, engine), b: newNode(t, engine)}
	b := w.b
	w.bob = b.signUp("bob")
	ds := &bitnobi.DataSource{Name: "salaries", Format: bitnobi.FormatCSV, Filename: "salaries.csv"}
	csv := "name,dept,salary\nann,sales,100\nben,sales,200\n"
	if err := b.sources.CreateFileDataSource(b.as(w.bob), ds, strings.NewReader(csv), 1<<20); err != nil {
		t.Fatalf("upload: %v", err)
	}
	w.shared = b.workflow(w.bob, "salaries by name", graph(element("in", bitnobi.ElementImporter, bitnobi.ImporterConfig{DataSourceID: ds.ID})), []string{"name", "dept"})
	w.policy = &bitnobi.Policy{Name: "sales", Attributes: map[string]string{"dept": "sales"}}
	if err := b.policies.CreatePolicy(b.as(w.bob), w.policy); err != nil {
		t.Fatal(err)
	}
	if err := b.workflows.AttachPolicy(b.as(w.bob), w.shared.ID, w.policy.ID); err != nil {
		t.Fatal(err)
	}
	if run := b.run(w.bob, w.shared); run.Status != bitnobi.RunSucceeded {
		t.Fatalf("run on B: %s %s", run.Status, run.Error)
	}
	w.peerB = w.a.pair("server-b", b, "pair-ab", pairSecret)
	w.peerA = b.pair("server-a", w.a, "pair-ab", pairSecret)
	w.alice = w.a.userWith("alice", map[string]string{"dept": "sales"})
	w.carol = w.a.userWith("carol", map[string]string{"dept": "it"})
	return w
}

// external makes, on A, u's workflow reading B's shared result.
func (w *world) external(u *bitnobi.User) *bitnobi.Workflow {
	return w.a.workflow(u, "from B for "+u.Username, graph(element("ext", bitnobi.ElementExternal, bitnobi.ExternalConfig{RemoteServerID: w.peerB.ID, WorkflowID: w.shared.ID})), nil)
}

func TestFederation(t *testing.T) { dbtest.Run(t, testFederation) }

func testFederation(t *testing.T, engine string) {
	w := newWorld(t, engine)
	a, b := w.a, w.b
	aliceFlow, carolFlow := w.external(w.alice), w.external(w.carol)

	t.Run("StatusOnline", func(t *testing.T) {
		if got, err := a.fed.PeerStatus(a.as(a.admin), w.peerB.ID); err != nil || got != bitnobi.RemoteOnline {
			t.Fatalf("A sees B as %q (%v), want online", got, err)
		}
		if got, err := b.fed.PeerStatus(b.as(b.admin), w.peerA.ID); err != nil || got != bitnobi.RemoteOnline {
			t.Fatalf("B sees A as %q (%v), want online", got, err)
		}
		// The list and GET routes show it too.
		if got := apiStatus(t, a, a.admin, "/api/remote-servers/"+w.peerB.ID); got != bitnobi.RemoteOnline {
			t.Fatalf("GET remote server: status %q, want online", got)
		}
		if _, err := a.fed.PeerStatus(a.as(w.alice), w.peerB.ID); bitnobi.ErrorCode(err) != bitnobi.EFORBIDDEN {
			t.Fatalf("a non-administrator probes a peer: %v, want EFORBIDDEN", err)
		}
	})

	t.Run("StatusOffline", func(t *testing.T) {
		gone := httptest.NewServer(http.NotFoundHandler())
		gone.Close()
		r, err := a.remotes.CreateRemoteServer(a.as(a.admin), bitnobi.RemoteServerCreate{Name: "gone", URL: gone.URL, ServiceID: "pair-gone", Password: pairSecret})
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := a.fed.PeerStatus(a.as(a.admin), r.ID); got != bitnobi.RemoteOffline {
			t.Fatalf("status of a closed server: %q, want offline", got)
		}
	})

	t.Run("MatchingUserGetsExportableColumns", func(t *testing.T) {
		run := a.run(w.alice, aliceFlow)
		if run.Status != bitnobi.RunSucceeded {
			t.Fatalf("run: %s: %s", run.Status, run.Error)
		}
		if got, want := run.ResultColumns, []string{"name", "dept"}; !slices.Equal(got, want) {
			t.Fatalf("columns %v, want %v (salary is not exportable)", got, want)
		}
		got := fmt.Sprint(a.rows(w.alice, aliceFlow, run))
		if want := "[[ann sales] [ben sales]]"; got != want {
			t.Fatalf("rows %s, want %s", got, want)
		}
		// B records alice, and A (its URL's host) as the remote host.
		want := []string{bitnobi.ActionDataSourceAccess + " alice@" + strings.TrimPrefix(a.http.URL, "http://") + " workflow_run"}
		if got := b.remoteAccesses(); !slices.Equal(got, want) {
			t.Fatalf("B's audit log of remote accesses: %q, want %q", got, want)
		}
		if got := a.remoteAccesses(); len(got) != 0 {
			t.Fatalf("A recorded remote users: %q; only the serving side records them", got)
		}
	})

	t.Run("NonMatchingUserRefused", func(t *testing.T) {
		run := a.run(w.carol, carolFlow)
		t.Logf("run error: %s", run.Error)
		if run.Status != bitnobi.RunFailed || !strings.Contains(run.Error, `Remote server "server-b" refused the result`) {
			t.Fatalf("carol's run: %s %q, want failed, refused by server-b", run.Status, run.Error)
		}
		if n := len(b.remoteAccesses()); n != 1 {
			t.Fatalf("B recorded %d remote accesses, want still 1", n)
		}
	})

	t.Run("ReplayRefused", func(t *testing.T) {
		body := []byte(`{"user":{"username":"alice","attributes":{"dept":"sales"}}}`)
		req, _ := http.NewRequest(http.MethodPost, b.http.URL+federation.ResultsPath+w.shared.ID, bytes.NewReader(body))
		federation.Sign(req, "pair-ab", pairSecret, time.Now(), body)
		first := send(t, req, body)
		second := send(t, req, body)
		if first != http.StatusOK || second != http.StatusUnauthorized {
			t.Fatalf("the same signed request twice: %d then %d, want 200 then 401", first, second)
		}
		req, _ = http.NewRequest(http.MethodPost, b.http.URL+federation.ResultsPath+w.shared.ID, bytes.NewReader(body))
		federation.Sign(req, "pair-ab", "not-the-secret", time.Now(), body)
		if got := send(t, req, body); got != http.StatusUnauthorized {
			t.Fatalf("a request signed with another secret: %d, want 401", got)
		}
		req, _ = http.NewRequest(http.MethodPost, b.http.URL+federation.ResultsPath+w.shared.ID, bytes.NewReader(body))
		federation.Sign(req, "pair-ab", pairSecret, time.Now().Add(-time.Hour), body)
		if got := send(t, req, body); got != http.StatusUnauthorized {
			t.Fatalf("an hour-old request: %d, want 401", got)
		}
	})

	t.Run("NoExportablesShareNothing", func(t *testing.T) {
		none, back := []string{}, []string{"name", "dept"}
		if _, err := b.workflows.UpdateWorkflow(b.as(w.bob), w.shared.ID, bitnobi.WorkflowUpdate{Exportables: &none}); err != nil {
			t.Fatal(err)
		}
		run := a.run(w.alice, aliceFlow)
		if run.Status != bitnobi.RunFailed || !strings.Contains(run.Error, "names no exportable columns") {
			t.Fatalf("run of a remote workflow with no exportables: %s %q, want failed", run.Status, run.Error)
		}
		if _, err := b.workflows.UpdateWorkflow(b.as(w.bob), w.shared.ID, bitnobi.WorkflowUpdate{Exportables: &back}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("RowLimit", func(t *testing.T) {
		a.fed.Client.MaxRows = 1
		defer func() { a.fed.Client.MaxRows = 1000 }()
		run := a.run(w.alice, aliceFlow)
		t.Logf("run error: %s", run.Error)
		if run.Status != bitnobi.RunFailed || !strings.Contains(run.Error, "has more than 1 rows") {
			t.Fatalf("run over the row limit: %s %q, want failed, too many rows", run.Status, run.Error)
		}
	})

	t.Run("Timeout", func(t *testing.T) {
		release := make(chan struct{})
		hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}))
		defer hang.Close()
		defer close(release)
		r, err := a.remotes.CreateRemoteServer(a.as(a.admin), bitnobi.RemoteServerCreate{Name: "hangs", URL: hang.URL, ServiceID: "pair-hang", Password: pairSecret})
		if err != nil {
			t.Fatal(err)
		}
		flow := a.workflow(w.alice, "from a server that hangs", graph(element("ext", bitnobi.ElementExternal, bitnobi.ExternalConfig{RemoteServerID: r.ID, WorkflowID: w.shared.ID})), nil)
		a.fed.Client.Timeout = 300 * time.Millisecond
		defer func() { a.fed.Client.Timeout = 10 * time.Second }()
		run := a.run(w.alice, flow)
		t.Logf("run error: %s", run.Error)
		if run.Status != bitnobi.RunFailed || !strings.Contains(run.Error, `Remote server "hangs" did not answer within 300ms`) {
			t.Fatalf("run against a peer that hangs: %s %q, want failed, no answer in time", run.Status, run.Error)
		}
		if got, _ := a.fed.PeerStatus(a.as(a.admin), r.ID); got != bitnobi.RemoteOffline {
			t.Fatalf("status of a peer that hangs: %q, want offline", got)
		}
	})

	t.Run("TLS", func(t *testing.T) {
		// A third server, C, serves over TLS with a certificate A does
		// not trust at first.
		c := newNode(t, engine)
		c.http.Close()
		c.http = httptest.NewUnstartedServer(c.http.Config.Handler)
		c.http.StartTLS()
		defer c.http.Close()
		peerC := a.pair("server-c", c, "pair-ac", pairSecret)
		c.pair("server-a", a, "pair-ac", pairSecret)
		if !strings.HasPrefix(peerC.URL, "https://") {
			t.Fatalf("C's URL %q is not https", peerC.URL)
		}
		if got, _ := a.fed.PeerStatus(a.as(a.admin), peerC.ID); got != bitnobi.RemoteOffline {
			t.Fatalf("status of a peer whose certificate is not trusted: %q, want offline", got)
		}
		old := a.fed.Client.HTTP
		a.fed.Client.HTTP = c.http.Client() // trusts C's certificate, and plain http as before
		defer func() { a.fed.Client.HTTP = old }()
		if got, _ := a.fed.PeerStatus(a.as(a.admin), peerC.ID); got != bitnobi.RemoteOnline {
			t.Fatalf("status of a trusted https peer: %q, want online", got)
		}
	})

	t.Run("PolicyChangedOnB", func(t *testing.T) {
		it := map[string]string{"dept": "finance"}
		if _, err := b.policies.UpdatePolicy(b.as(w.bob), w.policy.ID, bitnobi.PolicyUpdate{Attributes: &it}); err != nil {
			t.Fatal(err)
		}
		run := a.run(w.alice, aliceFlow)
		t.Logf("run error: %s", run.Error)
		if run.Status != bitnobi.RunFailed || !strings.Contains(run.Error, "refused the result") {
			t.Fatalf("alice's run after B's policy changed: %s %q, want failed", run.Status, run.Error)
		}
		sales := map[string]string{"dept": "sales"}
		if _, err := b.policies.UpdatePolicy(b.as(w.bob), w.policy.ID, bitnobi.PolicyUpdate{Attributes: &sales}); err != nil {
			t.Fatal(err)
		}
		if run := a.run(w.alice, aliceFlow); run.Status != bitnobi.RunSucceeded {
			t.Fatalf("alice's run after the policy is back: %s %q", run.Status, run.Error)
		}
	})

	t.Run("DisabledHereNeverContacted", func(t *testing.T) {
		// What a restore --as-copy does to every remote server.
		off, on := false, true
		if _, err := a.remotes.UpdateRemoteServer(a.as(a.admin), w.peerB.ID, bitnobi.RemoteServerUpdate{Enabled: &off}); err != nil {
			t.Fatal(err)
		}
		before := len(b.remoteAccesses())
		run := a.run(w.alice, aliceFlow)
		t.Logf("run error: %s", run.Error)
		if run.Status != bitnobi.RunFailed || !strings.Contains(run.Error, "is disabled") {
			t.Fatalf("run with B disabled on A: %s %q, want failed, disabled", run.Status, run.Error)
		}
		if got, _ := a.fed.PeerStatus(a.as(a.admin), w.peerB.ID); got != bitnobi.RemoteDisabled {
			t.Fatalf("status of a disabled peer: %q, want disabled", got)
		}
		if after := len(b.remoteAccesses()); after != before {
			t.Fatalf("B recorded %d remote accesses while disabled on A, want %d", after, before)
		}
		if _, err := a.remotes.UpdateRemoteServer(a.as(a.admin), w.peerB.ID, bitnobi.RemoteServerUpdate{Enabled: &on}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("DisabledOnBRefused", func(t *testing.T) {
		// A copy of B restored --as-copy has B's pairings disabled: it
		// serves no peer.
		off, on := false, true
		if _, err := b.remotes.UpdateRemoteServer(b.as(b.admin), w.peerA.ID, bitnobi.RemoteServerUpdate{Enabled: &off}); err != nil {
			t.Fatal(err)
		}
		if got, _ := a.fed.PeerStatus(a.as(a.admin), w.peerB.ID); got != bitnobi.RemoteForbidden {
			t.Fatalf("A sees B, which disabled the pairing, as %q, want forbidden", got)
		}
		if run := a.run(w.alice, aliceFlow); run.Status != bitnobi.RunFailed || !strings.Contains(run.Error, "refused this server's signed request") {
			t.Fatalf("run with the pairing disabled on B: %s %q, want failed, refused", run.Status, run.Error)
		}
		if _, err := b.remotes.UpdateRemoteServer(b.as(b.admin), w.peerA.ID, bitnobi.RemoteServerUpdate{Enabled: &on}); err != nil {
			t.Fatal(err)
		}
		if got, _ := a.fed.PeerStatus(a.as(a.admin), w.peerB.ID); got != bitnobi.RemoteOnline {
			t.Fatalf("A sees B, which enabled the pairing again, as %q, want online", got)
		}
	})

	t.Run("RevokedPairing", func(t *testing.T) {
		if err := b.remotes.DeleteRemoteServer(b.as(b.admin), w.peerA.ID); err != nil {
			t.Fatal(err)
		}
		if got, _ := a.fed.PeerStatus(a.as(a.admin), w.peerB.ID); got != bitnobi.RemoteForbidden {
			t.Fatalf("A sees B, which revoked the pairing, as %q, want forbidden", got)
		}
		if got := apiStatus(t, a, a.admin, "/api/remote-servers"); got != bitnobi.RemoteForbidden {
			t.Fatalf("list: status %q, want forbidden", got)
		}
		run := a.run(w.alice, aliceFlow)
		t.Logf("run error: %s", run.Error)
		if run.Status != bitnobi.RunFailed || !strings.Contains(run.Error, "refused this server's signed request: the pairing was revoked") {
			t.Fatalf("run after B revoked the pairing: %s %q, want failed, pairing revoked", run.Status, run.Error)
		}
	})
}

// send sends req with body again (a fresh body reader) and returns the status.
func send(t *testing.T, req *http.Request, body []byte) int {
	t.Helper()
	req.Body = io.NopCloser(bytes.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// apiStatus signs u in on n and GETs path, a remote server or their list,
// and returns the (first) status shown.
func apiStatus(t *testing.T, n *node, u *bitnobi.User, path string) string {
	t.Helper()
	sess, _, err := n.users.SignIn(context.Background(), u.Username, "pw-"+u.Username+"-long-enough")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, n.http.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+sess.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct {
		Status  string `json:"status"`
		Remotes []struct {
			Name   string `json:"name"`
			Status string `json:"status"`
		} `json:"remote_servers"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", path, resp.StatusCode, err)
	}
	for _, r := range v.Remotes {
		if r.Name == "server-b" {
			return r.Status
		}
	}
	return v.Status
}
