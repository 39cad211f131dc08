package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/internal/dbtest"
	"github.com/bitnobi/bitnobi/store"
)

func TestSignUp(t *testing.T) { dbtest.Run(t, testSignUp) }

func testSignUp(t *testing.T, engine string) {
	e := newTestServer(t, engine)
	t.Run("FirstIsAdmin", func(t *testing.T) {
		e := e.For(t)
		u := e.signUp("alice")
		if got, want := u["is_admin"], true; got != want {
			t.Fatalf("first user is_admin=%v, want %v", got, want)
		}
		if _, ok := u["password"]; ok {
			t.Fatalf("sign-up response carries a password field: %v", u)
		}
		if got, want := u["attributes"], (J{}); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("attributes=%v, want {}", got)
		}
	})
	t.Run("SecondIsNot", func(t *testing.T) {
		e := e.For(t)
		u := e.signUp("bob")
		if got, want := u["is_admin"], false; got != want {
			t.Fatalf("second user is_admin=%v, want %v", got, want)
		}
	})
	t.Run("ErrConflict", func(t *testing.T) {
		e := e.For(t)
		n := e.auditCount()
		for _, name := range []string{"alice", "ALICE"} {
			status, v := e.do("POST", "/api/auth/signup", "", J{"username": name, "email": "x@example.org", "password": "long enough"})
			if status != http.StatusConflict || v["code"] != bitnobi.ECONFLICT || v["field"] != "username" {
				t.Fatalf("sign-up as taken %q: %d %v, want 409 conflict on username", name, status, v)
			}
		}
		if got := e.auditCount(); got != n {
			t.Fatalf("failed sign-ups wrote %d audit entries", got-n)
		}
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		e := e.For(t)
		for _, tc := range []struct {
			body  J
			field string
		}{
			{J{"username": "x", "email": "x@example.org", "password": "long enough"}, "username"},
			{J{"username": "bad name", "email": "x@example.org", "password": "long enough"}, "username"},
			{J{"username": "-carol", "email": "x@example.org", "password": "long enough"}, "username"},
			{J{"username": "carol", "email": "not-an-address", "password": "long enough"}, "email"},
			{J{"username": "carol", "email": "carol@example.org", "password": "short"}, "password"},
			{J{"username": "carol", "email": "carol@example.org", "password": strings.Repeat("p", 1025)}, "password"},
		} {
			status, v := e.do("POST", "/api/auth/signup", "", tc.body)
			if status != http.StatusBadRequest || v["code"] != bitnobi.EINVALID || v["field"] != tc.field {
				t.Errorf("sign-up %v: %d %v, want 400 invalid on %s", tc.body, status, v, tc.field)
			}
		}
	})
	t.Run("Audited", func(t *testing.T) {
		e := e.For(t)
		adminTok := e.signIn("alice")
		v := e.must(http.StatusOK, "GET", "/api/audit?action="+bitnobi.ActionSignUp, adminTok, nil)
		entries := v["entries"].([]any)
		if got, want := len(entries), 2; got != want {
			t.Fatalf("%d sign-up entries, want %d: %v", got, want, entries)
		}
		first := entries[0].(J)
		if first["actor_name"] != "alice" || first["target_type"] != "user" || first["remote_addr"] != "127.0.0.1" {
			t.Fatalf("sign-up entry = %v, want actor alice from 127.0.0.1", first)
		}
	})
}

// TestSignUpConcurrentFirst races sign-ups on an empty server: exactly one
// may become the administrator.
func TestSignUpConcurrentFirst(t *testing.T) { dbtest.Run(t, testSignUpConcurrentFirst) }

func testSignUpConcurrentFirst(t *testing.T, engine string) {
	e := newTestServer(t, engine)
	const n = 8
	var wg sync.WaitGroup
	admins := make(chan string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("racer%d", i)
			status, v := e.do("POST", "/api/auth/signup", "", J{"username": name, "email": name + "@example.org", "password": password(name)})
			if status != http.StatusCreated {
				t.Errorf("sign-up %s: %d %v", name, status, v)
				return
			}
			if v["is_admin"] == true {
				admins <- name
			}
		}()
	}
	wg.Wait()
	close(admins)
	var got []string
	for a := range admins {
		got = append(got, a)
	}
	if len(got) != 1 {
		t.Fatalf("administrators after concurrent first sign-ups: %v, want exactly one", got)
	}
}

func TestSignInOut(t *testing.T) { dbtest.Run(t, testSignInOut) }

func testSignInOut(t *testing.T, engine string) {
	e := newTestServer(t, engine)
	aliceID, _ := e.user("alice")

	t.Run("OK", func(t *testing.T) {
		e := e.For(t)
		v := e.must(http.StatusOK, "POST", "/api/auth/signin", "", J{"username": "alice", "password": password("alice")})
		tok := v["token"].(string)
		if len(tok) < 40 {
			t.Fatalf("token %q is too short", tok)
		}
		if v["user"].(J)["id"] != aliceID {
			t.Fatalf("sign-in user = %v, want %s", v["user"], aliceID)
		}
		exp, err := time.Parse(time.RFC3339Nano, v["expires_at"].(string))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := exp, e.Clock.Now().Add(e.DB.SessionTTL); !got.Equal(want) {
			t.Fatalf("expires_at=%v, want %v", got, want)
		}
		me := e.must(http.StatusOK, "GET", "/api/me", tok, nil)
		if me["username"] != "alice" {
			t.Fatalf("me = %v", me)
		}
		// Only the token's hash is stored.
		var n int
		if err := e.queryRow(`SELECT COUNT(*) FROM sessions WHERE token_hash = ?`, tok).Scan(&n); err != nil || n != 0 {
			t.Fatalf("sessions table holds the plain token (n=%d, err=%v)", n, err)
		}
	})
	t.Run("CaseInsensitiveUsername", func(t *testing.T) {
		e := e.For(t)
		e.must(http.StatusOK, "POST", "/api/auth/signin", "", J{"username": "ALICE", "password": password("alice")})
	})
	t.Run("ErrUnauthorized", func(t *testing.T) {
		e := e.For(t)
		n := e.auditCount()
		for _, body := range []J{
			{"username": "alice", "password": "wrong password"},
			{"username": "nobody", "password": password("alice")},
			{"username": "alice", "password": ""},
		} {
			status, v := e.do("POST", "/api/auth/signin", "", body)
			if status != http.StatusUnauthorized || v["code"] != bitnobi.EUNAUTHORIZED {
				t.Errorf("sign-in %v: %d %v, want 401", body, status, v)
			}
		}
		if got := e.auditCount(); got != n {
			t.Fatalf("failed sign-ins wrote %d audit entries", got-n)
		}
	})
	t.Run("SignOut", func(t *testing.T) {
		e := e.For(t)
		tok := e.signIn("alice")
		other := e.signIn("alice")
		if status, _ := e.do("POST", "/api/auth/signout", tok, nil); status != http.StatusNoContent {
			t.Fatalf("sign-out: %d", status)
		}
		if status, _ := e.do("GET", "/api/me", tok, nil); status != http.StatusUnauthorized {
			t.Fatalf("me after sign-out: %d, want 401", status)
		}
		if status, _ := e.do("POST", "/api/auth/signout", tok, nil); status != http.StatusUnauthorized {
			t.Fatalf("second sign-out: %d, want 401", status)
		}
		// Other sessions of the same user live on.
		e.must(http.StatusOK, "GET", "/api/me", other, nil)
	})
	t.Run("BadTokens", func(t *testing.T) {
		e := e.For(t)
		for name, hdr := range map[string]string{
			"Missing":  "",
			"Garbage":  "Bearer not-a-token",
			"Empty":    "Bearer ",
			"Basic":    "Basic YWxpY2U6cHc=",
			"TooLong":  "Bearer " + strings.Repeat("x", 5000),
			"NoScheme": "abc",
		} {
			h := http.Header{}
			if hdr != "" {
				h.Set("Authorization", hdr)
			}
			status, body := e.raw("GET", "/api/me", h, nil)
			if status != http.StatusUnauthorized || !bytes.Contains(body, []byte(`"code":"unauthorized"`)) {
				t.Errorf("%s: %d %s, want 401 unauthorized", name, status, body)
			}
		}
	})
	t.Run("Expired", func(t *testing.T) {
		e := e.For(t)
		tok := e.signIn("alice")
		// Used at least twice a day, the session lives its whole lifetime.
		for left := e.DB.SessionTTL - time.Second; left > 0; left -= min(left, 12*time.Hour) {
			e.Clock.Advance(min(left, 12*time.Hour))
			e.must(http.StatusOK, "GET", "/api/me", tok, nil)
		}
		e.Clock.Advance(time.Second)
		if status, v := e.do("GET", "/api/me", tok, nil); status != http.StatusUnauthorized {
			t.Fatalf("me with expired token: %d %v, want 401", status, v)
		}
		// The next sign-in clears expired sessions away.
		e.signIn("alice")
		var n int
		if err := e.queryRow(`SELECT COUNT(*) FROM sessions WHERE expires_at <= ?`, bitnobi.FormatTime(e.Clock.Now())).Scan(&n); err != nil || n != 0 {
			t.Fatalf("%d expired sessions left (err %v)", n, err)
		}
	})
	t.Run("Audited", func(t *testing.T) {
		e := e.For(t)
		adminTok := e.signIn("alice")
		for _, action := range []string{bitnobi.ActionSignIn, bitnobi.ActionSignOut} {
			v := e.must(http.StatusOK, "GET", "/api/audit?action="+action, adminTok, nil)
			entries := v["entries"].([]any)
			if len(entries) == 0 {
				t.Fatalf("no %s entries", action)
			}
			if got := entries[0].(J)["actor_id"]; got != aliceID {
				t.Fatalf("%s entry actor %v, want %s", action, got, aliceID)
			}
		}
	})
}

func TestUsers(t *testing.T) { dbtest.Run(t, testUsers) }

func testUsers(t *testing.T, engine string) {
	e := newTestServer(t, engine)
	adminID, admin := e.user("admin")
	aliceID, alice := e.user("alice")
	bobID, bob := e.user("bob")

	t.Run("List", func(t *testing.T) {
		e := e.For(t)
		v := e.must(http.StatusOK, "GET", "/api/users", admin, nil)
		users := v["users"].([]any)
		if len(users) != 3 || users[0].(J)["id"] != adminID || users[2].(J)["id"] != bobID {
			t.Fatalf("users = %v", users)
		}
		if status, v := e.do("GET", "/api/users", alice, nil); status != http.StatusForbidden || v["code"] != bitnobi.EFORBIDDEN {
			t.Fatalf("list by non-admin: %d %v, want 403", status, v)
		}
	})
	t.Run("Get", func(t *testing.T) {
		e := e.For(t)
		e.must(http.StatusOK, "GET", "/api/users/"+aliceID, alice, nil)
		e.must(http.StatusOK, "GET", "/api/users/"+aliceID, admin, nil)
		e.must(http.StatusForbidden, "GET", "/api/users/"+bobID, alice, nil)
		// Non-admins learn nothing about which IDs exist.
		e.must(http.StatusForbidden, "GET", "/api/users/"+bitnobi.NewID(), alice, nil)
		e.must(http.StatusNotFound, "GET", "/api/users/"+bitnobi.NewID(), admin, nil)
	})
	t.Run("UpdateSelf", func(t *testing.T) {
		e := e.For(t)
		// The current password is required, and checked.
		for _, body := range []J{
			{"email": "alice@new.example.org"},
			{"password": "a brand new password"},
			{"password": "a brand new password", "current_password": "wrong password"},
		} {
			status, v := e.do("PATCH", "/api/users/"+aliceID, alice, body)
			wantError(t, status, v, http.StatusBadRequest, bitnobi.EINVALID, "current_password")
		}
		v := e.must(http.StatusOK, "PATCH", "/api/users/"+aliceID, alice, J{"email": "alice@new.example.org", "current_password": password("alice")})
		if v["email"] != "alice@new.example.org" {
			t.Fatalf("email not changed: %v", v)
		}
		e.must(http.StatusOK, "PATCH", "/api/users/"+aliceID, alice, J{"password": "a brand new password", "current_password": password("alice")})
		e.must(http.StatusUnauthorized, "POST", "/api/auth/signin", "", J{"username": "alice", "password": password("alice")})
		e.must(http.StatusOK, "POST", "/api/auth/signin", "", J{"username": "alice", "password": "a brand new password"})
	})
	t.Run("ErrForbidden", func(t *testing.T) {
		e := e.For(t)
		n := e.auditCount()
		for _, tc := range []struct {
			id   string
			body J
		}{
			{aliceID, J{"is_admin": true}},
			{aliceID, J{"attributes": J{"organization": "Bitnobi"}}},
			{bobID, J{"email": "bob@evil.example.org"}},
		} {
			status, v := e.do("PATCH", "/api/users/"+tc.id, alice, tc.body)
			if status != http.StatusForbidden || v["code"] != bitnobi.EFORBIDDEN {
				t.Errorf("alice PATCH %s %v: %d %v, want 403", tc.id, tc.body, status, v)
			}
		}
		e.must(http.StatusForbidden, "DELETE", "/api/users/"+bobID, alice, nil)
		if got := e.auditCount(); got != n {
			t.Fatalf("forbidden changes wrote %d audit entries", got-n)
		}
	})
	t.Run("AdminSetsAttributes", func(t *testing.T) {
		e := e.For(t)
		v := e.must(http.StatusOK, "PATCH", "/api/users/"+aliceID, admin, J{"attributes": J{"organization": "Bitnobi", "department": "IT"}})
		if got := v["attributes"].(J); got["organization"] != "Bitnobi" || got["department"] != "IT" || len(got) != 2 {
			t.Fatalf("attributes = %v", got)
		}
		// The actor of a request is loaded afresh: alice sees her attributes.
		me := e.must(http.StatusOK, "GET", "/api/me", alice, nil)
		if me["attributes"].(J)["department"] != "IT" {
			t.Fatalf("me = %v", me)
		}
		e.must(http.StatusBadRequest, "PATCH", "/api/users/"+aliceID, admin, J{"attributes": J{"bad key": "x"}})
		e.must(http.StatusBadRequest, "PATCH", "/api/users/"+aliceID, admin, J{"attributes": J{"department": ""}})
	})
	t.Run("LastAdmin", func(t *testing.T) {
		e := e.For(t)
		n := e.auditCount()
		if status, v := e.do("PATCH", "/api/users/"+adminID, admin, J{"is_admin": false}); status != http.StatusConflict {
			t.Fatalf("demote last admin: %d %v, want 409", status, v)
		}
		if status, v := e.do("DELETE", "/api/users/"+adminID, admin, nil); status != http.StatusConflict {
			t.Fatalf("delete last admin: %d %v, want 409", status, v)
		}
		if got := e.auditCount(); got != n {
			t.Fatalf("refused changes wrote %d audit entries", got-n)
		}
		// With a second administrator, the first may step down.
		e.must(http.StatusOK, "PATCH", "/api/users/"+bobID, admin, J{"is_admin": true})
		v := e.must(http.StatusOK, "PATCH", "/api/users/"+adminID, admin, J{"is_admin": false})
		if v["is_admin"] != false {
			t.Fatalf("demoted admin = %v", v)
		}
		// The demoted user is no administrator from the next request on.
		e.must(http.StatusForbidden, "GET", "/api/users", admin, nil)
		if status, _ := e.do("PATCH", "/api/users/"+bobID, bob, J{"is_admin": false}); status != http.StatusConflict {
			t.Fatalf("bob may not demote himself as the last admin: %d", status)
		}
	})
	t.Run("Delete", func(t *testing.T) {
		e := e.For(t)
		// bob is the administrator now.
		if _, err := e.exec(`INSERT INTO policies (id, owner_id, name, global, created_at, updated_at) VALUES (?, ?, 'p', 0, 'x', 'x')`, bitnobi.NewID(), aliceID); err != nil {
			t.Fatal(err)
		}
		if status, _ := e.do("DELETE", "/api/users/"+aliceID, bob, nil); status != http.StatusNoContent {
			t.Fatalf("delete: %d", status)
		}
		e.must(http.StatusNotFound, "GET", "/api/users/"+aliceID, bob, nil)
		e.must(http.StatusNotFound, "DELETE", "/api/users/"+aliceID, bob, nil)
		e.must(http.StatusUnauthorized, "GET", "/api/me", alice, nil)
		var n int
		if err := e.queryRow(`SELECT COUNT(*) FROM policies WHERE owner_id = ?`, aliceID).Scan(&n); err != nil || n != 0 {
			t.Fatalf("deleted user's policies left: %d (err %v)", n, err)
		}
	})
	t.Run("Audited", func(t *testing.T) {
		e := e.For(t)
		v := e.must(http.StatusOK, "GET", "/api/audit?action="+bitnobi.ActionUserDelete, bob, nil)
		entries := v["entries"].([]any)
		if len(entries) != 1 || entries[0].(J)["target_id"] != aliceID || entries[0].(J)["actor_id"] != bobID {
			t.Fatalf("user.delete entries = %v", entries)
		}
		v = e.must(http.StatusOK, "GET", "/api/audit?action="+bitnobi.ActionUserUpdate, bob, nil)
		var details []string
		for _, x := range v["entries"].([]any) {
			details = append(details, x.(J)["detail"].(string))
		}
		if got := strings.Join(details, "\n"); !strings.Contains(got, `"fields":["password"]`) || !strings.Contains(got, `"attributes":{"department":"IT"`) || strings.Contains(got, "a brand new password") {
			t.Fatalf("user.update details:\n%s", got)
		}
	})
}

func TestPolicies(t *testing.T) { dbtest.Run(t, testPolicies) }

func testPolicies(t *testing.T, engine string) {
	e := newTestServer(t, engine)
	_, admin := e.user("admin")
	aliceID, alice := e.user("alice")
	bobID, bob := e.user("bob")
	e.must(http.StatusOK, "PATCH", "/api/users/"+aliceID, admin, J{"attributes": J{"organization": "Bitnobi", "department": "IT"}})
	e.must(http.StatusOK, "PATCH", "/api/users/"+bobID, admin, J{"attributes": J{"organization": "Bitnobi", "department": "Sales"}})

	var private, global J
	t.Run("Create", func(t *testing.T) {
		e := e.For(t)
		private = e.must(http.StatusCreated, "POST", "/api/policies", alice, J{"name": "IT only", "attributes": J{"department": "IT"}})
		if private["owner_id"] != aliceID || private["global"] != false || private["id"] == "" {
			t.Fatalf("created policy = %v", private)
		}
		global = e.must(http.StatusCreated, "POST", "/api/policies", admin, J{"name": "Whole org", "description": "everyone at Bitnobi", "attributes": J{"organization": "Bitnobi"}, "global": true})
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		e := e.For(t)
		n := e.auditCount()
		for _, tc := range []struct {
			body  J
			field string
		}{
			{J{"name": "none"}, "attributes"},
			{J{"name": "none", "attributes": J{}}, "attributes"},
			{J{"name": " ", "attributes": J{"a": "b"}}, "name"},
			{J{"name": "x", "attributes": J{"a": " "}}, "attributes"},
			{J{"name": strings.Repeat("n", 201), "attributes": J{"a": "b"}}, "name"},
		} {
			status, v := e.do("POST", "/api/policies", alice, tc.body)
			if status != http.StatusBadRequest || v["field"] != tc.field {
				t.Errorf("create %v: %d %v, want 400 on %s", tc.body, status, v, tc.field)
			}
		}
		if got := e.auditCount(); got != n {
			t.Fatalf("invalid creates wrote %d audit entries", got-n)
		}
	})
	t.Run("GlobalAdminOnly", func(t *testing.T) {
		e := e.For(t)
		e.must(http.StatusForbidden, "POST", "/api/policies", alice, J{"name": "mine", "attributes": J{"a": "b"}, "global": true})
		e.must(http.StatusForbidden, "PATCH", "/api/policies/"+private["id"].(string), alice, J{"global": true})
		// Setting global to what it is already is no change, so allowed.
		e.must(http.StatusOK, "PATCH", "/api/policies/"+private["id"].(string), alice, J{"global": false})
	})
	t.Run("Visibility", func(t *testing.T) {
		e := e.For(t)
		ids := func(tok string) []string {
			var out []string
			for _, p := range e.must(http.StatusOK, "GET", "/api/policies", tok, nil)["policies"].([]any) {
				out = append(out, p.(J)["id"].(string))
			}
			return out
		}
		pid, gid := private["id"].(string), global["id"].(string)
		if got, want := fmt.Sprint(ids(alice)), fmt.Sprint([]string{pid, gid}); got != want {
			t.Errorf("alice sees %s, want %s", got, want)
		}
		if got, want := fmt.Sprint(ids(bob)), fmt.Sprint([]string{gid}); got != want {
			t.Errorf("bob sees %s, want %s", got, want)
		}
		if got, want := fmt.Sprint(ids(admin)), fmt.Sprint([]string{pid, gid}); got != want {
			t.Errorf("admin sees %s, want %s", got, want)
		}
		e.must(http.StatusOK, "GET", "/api/policies/"+pid, alice, nil)
		e.must(http.StatusOK, "GET", "/api/policies/"+pid, admin, nil)
		e.must(http.StatusNotFound, "GET", "/api/policies/"+pid, bob, nil)
		e.must(http.StatusOK, "GET", "/api/policies/"+gid, bob, nil)
		e.must(http.StatusNotFound, "GET", "/api/policies/"+bitnobi.NewID(), alice, nil)
	})
	t.Run("Matching", func(t *testing.T) {
		e := e.For(t)
		// The attributes the admin set, and the policies as the API
		// returns them, decide who a policy lets in.
		users := map[string]*bitnobi.User{}
		for name, tok := range map[string]string{"alice": alice, "bob": bob, "admin": admin} {
			me := e.must(http.StatusOK, "GET", "/api/me", tok, nil)
			users[name] = &bitnobi.User{Attributes: map[string]string{}}
			for k, v := range me["attributes"].(J) {
				users[name].Attributes[k] = v.(string)
			}
		}
		pol := func(v J) *bitnobi.Policy {
			p := &bitnobi.Policy{Attributes: map[string]string{}}
			for k, x := range v["attributes"].(J) {
				p.Attributes[k] = x.(string)
			}
			return p
		}
		for _, tc := range []struct {
			policy J
			user   string
			want   bool
		}{
			{private, "alice", true},
			{private, "bob", false},
			{private, "admin", false},
			{global, "alice", true},
			{global, "bob", true},
			{global, "admin", false},
		} {
			if got := pol(tc.policy).Matches(users[tc.user].Attributes); got != tc.want {
				t.Errorf("policy %q matches %s = %v, want %v", tc.policy["name"], tc.user, got, tc.want)
			}
		}
	})
	t.Run("Update", func(t *testing.T) {
		e := e.For(t)
		pid, gid := private["id"].(string), global["id"].(string)
		n := e.auditCount()
		e.must(http.StatusForbidden, "PATCH", "/api/policies/"+gid, bob, J{"name": "hijack"})
		e.must(http.StatusForbidden, "DELETE", "/api/policies/"+gid, bob, nil)
		e.must(http.StatusNotFound, "PATCH", "/api/policies/"+pid, bob, J{"name": "hijack"})
		e.must(http.StatusNotFound, "DELETE", "/api/policies/"+pid, bob, nil)
		e.must(http.StatusBadRequest, "PATCH", "/api/policies/"+pid, alice, J{"attributes": J{}})
		if got := e.auditCount(); got != n {
			t.Fatalf("refused updates wrote %d audit entries", got-n)
		}
		v := e.must(http.StatusOK, "PATCH", "/api/policies/"+pid, alice, J{"name": "IT and Sales", "attributes": J{"organization": "Bitnobi"}})
		if v["name"] != "IT and Sales" || len(v["attributes"].(J)) != 1 {
			t.Fatalf("updated policy = %v", v)
		}
		// The administrator may change and delete anyone's policy.
		e.must(http.StatusOK, "PATCH", "/api/policies/"+pid, admin, J{"description": "checked by admin"})
		if got := e.auditCount(); got != n+2 {
			t.Fatalf("two updates wrote %d audit entries", got-n)
		}
		// An update that changes nothing writes nothing.
		e.must(http.StatusOK, "PATCH", "/api/policies/"+pid, alice, J{"description": "checked by admin"})
		if got := e.auditCount(); got != n+2 {
			t.Fatalf("a no-op update wrote an audit entry")
		}
	})
	t.Run("Delete", func(t *testing.T) {
		e := e.For(t)
		pid, gid := private["id"].(string), global["id"].(string)
		if status, _ := e.do("DELETE", "/api/policies/"+pid, alice, nil); status != http.StatusNoContent {
			t.Fatalf("owner delete: %d", status)
		}
		e.must(http.StatusNotFound, "GET", "/api/policies/"+pid, alice, nil)
		if status, _ := e.do("DELETE", "/api/policies/"+gid, admin, nil); status != http.StatusNoContent {
			t.Fatalf("admin delete: %d", status)
		}
	})
	t.Run("Audited", func(t *testing.T) {
		e := e.For(t)
		v := e.must(http.StatusOK, "GET", "/api/audit?limit=1000", admin, nil)
		var got []string
		for _, x := range v["entries"].([]any) {
			if a := x.(J)["action"].(string); strings.HasPrefix(a, "policy.") {
				got = append(got, a+" by "+x.(J)["actor_name"].(string))
			}
		}
		want := []string{
			"policy.create by alice", "policy.create by admin",
			"policy.update by alice", "policy.update by admin",
			"policy.delete by alice", "policy.delete by admin",
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("policy audit entries:\n got %v\nwant %v", got, want)
		}
	})
}

func TestRemoteServers(t *testing.T) { dbtest.Run(t, testRemoteServers) }

func testRemoteServers(t *testing.T, engine string) {
	e := newTestServer(t, engine)
	_, admin := e.user("admin")
	_, alice := e.user("alice")
	ctx := context.Background()
	const pw1, pw2 = "remote-pass-Zq81xK", "remote-pass-second-Ty55"

	var rs J
	t.Run("Create", func(t *testing.T) {
		e := e.For(t)
		rs = e.must(http.StatusCreated, "POST", "/api/remote-servers", admin, J{
			"name": "partner", "url": "https://partner.example.org", "service_id": "svc-1", "password": pw1,
		})
		if rs["password_set"] != true || rs["enabled"] != true {
			t.Fatalf("created = %v", rs)
		}
		if _, ok := rs["password"]; ok {
			t.Fatalf("response has a password field: %v", rs)
		}
		if got, err := e.Remotes.Password(ctx, rs["id"].(string)); err != nil || got != pw1 {
			t.Fatalf("Password() = %q, %v; want the stored one", got, err)
		}
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		e := e.For(t)
		for _, tc := range []struct {
			body  J
			field string
		}{
			{J{"name": "", "url": "https://x.example.org", "service_id": "s"}, "name"},
			{J{"name": "x", "url": "ftp://x.example.org", "service_id": "s"}, "url"},
			{J{"name": "x", "url": "https://", "service_id": "s"}, "url"},
			{J{"name": "x", "url": "https://u:p@x.example.org", "service_id": "s"}, "url"},
			{J{"name": "x", "url": "https://x.example.org", "service_id": ""}, "service_id"},
		} {
			status, v := e.do("POST", "/api/remote-servers", admin, tc.body)
			if status != http.StatusBadRequest || v["field"] != tc.field {
				t.Errorf("create %v: %d %v, want 400 on %s", tc.body, status, v, tc.field)
			}
		}
		e.must(http.StatusConflict, "POST", "/api/remote-servers", admin, J{"name": "partner", "url": "https://p2.example.org", "service_id": "s"})
	})
	t.Run("AdminOnly", func(t *testing.T) {
		e := e.For(t)
		id := rs["id"].(string)
		n := e.auditCount()
		for _, r := range []struct {
			method, path string
			body         any
		}{
			{"GET", "/api/remote-servers", nil},
			{"POST", "/api/remote-servers", J{"name": "y", "url": "https://y.example.org", "service_id": "s"}},
			{"GET", "/api/remote-servers/" + id, nil},
			{"PATCH", "/api/remote-servers/" + id, J{"enabled": false}},
			{"DELETE", "/api/remote-servers/" + id, nil},
		} {
			if status, v := e.do(r.method, r.path, alice, r.body); status != http.StatusForbidden {
				t.Errorf("alice %s %s: %d %v, want 403", r.method, r.path, status, v)
			}
		}
		if got := e.auditCount(); got != n {
			t.Fatalf("forbidden calls wrote %d audit entries", got-n)
		}
	})
	t.Run("Update", func(t *testing.T) {
		e := e.For(t)
		id := rs["id"].(string)
		v := e.must(http.StatusOK, "PATCH", "/api/remote-servers/"+id, admin, J{"password": pw2, "enabled": false})
		if v["password_set"] != true || v["enabled"] != false {
			t.Fatalf("updated = %v", v)
		}
		if got, _ := e.Remotes.Password(ctx, id); got != pw2 {
			t.Fatalf("Password() = %q, want the new one", got)
		}
		v = e.must(http.StatusOK, "PATCH", "/api/remote-servers/"+id, admin, J{"url": "http://partner.example.org:8000"})
		if v["password_set"] != true || v["url"] != "http://partner.example.org:8000" {
			t.Fatalf("updated = %v", v)
		}
		v = e.must(http.StatusOK, "PATCH", "/api/remote-servers/"+id, admin, J{"password": ""})
		if v["password_set"] != false {
			t.Fatalf("password not removed: %v", v)
		}
		if got := secretCount(t, e); got != 0 {
			t.Fatalf("%d secrets left after the password was removed", got)
		}
		e.must(http.StatusOK, "PATCH", "/api/remote-servers/"+id, admin, J{"password": pw1})
		list := e.must(http.StatusOK, "GET", "/api/remote-servers", admin, nil)["remote_servers"].([]any)
		if len(list) != 1 || list[0].(J)["password_set"] != true {
			t.Fatalf("list = %v", list)
		}
	})
	t.Run("Delete", func(t *testing.T) {
		e := e.For(t)
		id := rs["id"].(string)
		if status, _ := e.do("DELETE", "/api/remote-servers/"+id, admin, nil); status != http.StatusNoContent {
			t.Fatalf("delete: %d", status)
		}
		e.must(http.StatusNotFound, "GET", "/api/remote-servers/"+id, admin, nil)
		if got := secretCount(t, e); got != 0 {
			t.Fatalf("%d secrets left after delete", got)
		}
	})
	t.Run("Audited", func(t *testing.T) {
		e := e.For(t)
		v := e.must(http.StatusOK, "GET", "/api/audit?limit=1000", admin, nil)
		var got []string
		for _, x := range v["entries"].([]any) {
			x := x.(J)
			if a := x["action"].(string); strings.HasPrefix(a, "remote.") {
				got = append(got, a)
				if d := x["detail"].(string); strings.Contains(d, pw1) || strings.Contains(d, pw2) {
					t.Errorf("audit detail holds a password: %s", d)
				}
			}
		}
		want := []string{bitnobi.ActionRemoteCreate, bitnobi.ActionRemoteUpdate, bitnobi.ActionRemoteUpdate, bitnobi.ActionRemoteUpdate, bitnobi.ActionRemoteUpdate, bitnobi.ActionRemoteDelete}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("remote audit entries:\n got %v\nwant %v", got, want)
		}
	})
}

func TestEmailSettings(t *testing.T) { dbtest.Run(t, testEmailSettings) }

func testEmailSettings(t *testing.T, engine string) {
	e := newTestServer(t, engine)
	_, admin := e.user("admin")
	_, alice := e.user("alice")
	ctx := context.Background()
	const pw = "smtp-pass-Hq27vW"

	t.Run("Default", func(t *testing.T) {
		e := e.For(t)
		v := e.must(http.StatusOK, "GET", "/api/settings/email", admin, nil)
		if v["enabled"] != false || v["password_set"] != false || v["host"] != "" {
			t.Fatalf("unsaved settings = %v", v)
		}
	})
	t.Run("AdminOnly", func(t *testing.T) {
		e := e.For(t)
		e.must(http.StatusForbidden, "GET", "/api/settings/email", alice, nil)
		e.must(http.StatusForbidden, "PUT", "/api/settings/email", alice, J{"from": "a@example.org"})
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		e := e.For(t)
		for _, tc := range []struct {
			body  J
			field string
		}{
			{J{"enabled": true, "host": "smtp.example.org", "port": 587}, "from"},
			{J{"enabled": true, "from": "bitnobi@example.org", "port": 587}, "host"},
			{J{"enabled": true, "from": "bitnobi@example.org", "host": "smtp.example.org"}, "port"},
			{J{"from": "bitnobi@example.org", "host": "smtp.example.org", "port": 70000}, "port"},
			{J{"from": "bitnobi@example.org", "host": "smtp example.org", "port": 25}, "host"},
		} {
			status, v := e.do("PUT", "/api/settings/email", admin, tc.body)
			if status != http.StatusBadRequest || v["field"] != tc.field {
				t.Errorf("PUT %v: %d %v, want 400 on %s", tc.body, status, v, tc.field)
			}
		}
	})
	t.Run("Save", func(t *testing.T) {
		e := e.For(t)
		v := e.must(http.StatusOK, "PUT", "/api/settings/email", admin, J{
			"from": "bitnobi@example.org", "host": "smtp.example.org", "port": 587, "user": "mailer", "password": pw, "enabled": true,
		})
		if v["password_set"] != true || v["port"] != float64(587) || v["enabled"] != true {
			t.Fatalf("saved = %v", v)
		}
		if got, err := e.Settings.EmailPassword(ctx); err != nil || got != pw {
			t.Fatalf("EmailPassword() = %q, %v", got, err)
		}
		// Without a password field, the stored password is kept.
		v = e.must(http.StatusOK, "PUT", "/api/settings/email", admin, J{
			"from": "bitnobi@example.org", "host": "mail.example.org", "port": 25, "enabled": true,
		})
		if v["password_set"] != true || v["host"] != "mail.example.org" || v["user"] != "" {
			t.Fatalf("saved = %v", v)
		}
		if got, _ := e.Settings.EmailPassword(ctx); got != pw {
			t.Fatalf("password lost on an update without one: %q", got)
		}
		got := e.must(http.StatusOK, "GET", "/api/settings/email", admin, nil)
		if got["host"] != "mail.example.org" || got["password_set"] != true {
			t.Fatalf("GET = %v", got)
		}
		v = e.must(http.StatusOK, "PUT", "/api/settings/email", admin, J{"password": ""})
		if v["password_set"] != false || v["enabled"] != false {
			t.Fatalf("saved = %v", v)
		}
		if n := secretCount(t, e); n != 0 {
			t.Fatalf("%d secrets left after the password was removed", n)
		}
	})
	t.Run("Audited", func(t *testing.T) {
		e := e.For(t)
		v := e.must(http.StatusOK, "GET", "/api/audit?action="+bitnobi.ActionSettingsUpdate, admin, nil)
		entries := v["entries"].([]any)
		if len(entries) != 3 {
			t.Fatalf("%d settings.update entries, want 3", len(entries))
		}
		for i, want := range []string{`"password":"set"`, `"password":"unchanged"`, `"password":"removed"`} {
			if d := entries[i].(J)["detail"].(string); !strings.Contains(d, want) || strings.Contains(d, pw) {
				t.Errorf("entry %d detail %s, want %s and no password", i, d, want)
			}
		}
	})
}

// TestSecretsNotLeaked stores every kind of secret, then checks that no API
// response ever carried one and that none is in the database files in
// plain text, while each can still be unsealed.
func TestSecretsNotLeaked(t *testing.T) { dbtest.Run(t, testSecretsNotLeaked) }

func testSecretsNotLeaked(t *testing.T, engine string) {
	e := newTestServer(t, engine)
	ctx := context.Background()
	const remotePW, smtpPW = "remote-secret-Vb93pQxz", "smtp-secret-Lk02mNwe"
	_, admin := e.user("admin")
	aliceID, alice := e.user("alice")
	rs := e.must(http.StatusCreated, "POST", "/api/remote-servers", admin, J{"name": "peer", "url": "https://peer.example.org", "service_id": "svc", "password": remotePW})
	e.must(http.StatusOK, "PUT", "/api/settings/email", admin, J{"from": "b@example.org", "host": "smtp.example.org", "port": 465, "password": smtpPW, "enabled": true})
	e.must(http.StatusOK, "PATCH", "/api/users/"+aliceID, alice, J{"password": "alice-new-secret-Ty7", "current_password": password("alice")})
	// Read everything back through every read route.
	for _, p := range []string{"/api/remote-servers", "/api/remote-servers/" + rs["id"].(string), "/api/settings/email", "/api/users", "/api/me", "/api/audit?limit=1000"} {
		e.must(http.StatusOK, "GET", p, admin, nil)
	}

	secrets := []string{remotePW, smtpPW, password("admin"), password("alice"), "alice-new-secret-Ty7"}
	for _, body := range e.responses() {
		for _, s := range secrets {
			if bytes.Contains(body, []byte(s)) {
				t.Errorf("an API response holds secret %q: %s", s, body)
			}
		}
		if bytes.Contains(body, []byte("argon2id")) || bytes.Contains(body, []byte("password_hash")) {
			t.Errorf("an API response holds a password hash: %s", body)
		}
	}

	found, control := 0, false
	for where, data := range e.storedData() {
		found++
		// Control: the non-secret fields saved with the secrets are there
		// in plain text, so the search below does see the data.
		control = control || bytes.Contains(data, []byte("smtp.example.org"))
		for _, s := range secrets {
			if bytes.Contains(data, []byte(s)) {
				t.Errorf("%s holds secret %q in plain text", where, s)
			}
		}
	}
	if found == 0 || !control {
		t.Fatalf("places searched: %d; control value found: %v", found, control)
	}
	// Sealed, not lost.
	if got, err := e.Remotes.Password(ctx, rs["id"].(string)); err != nil || got != remotePW {
		t.Fatalf("remote password = %q, %v", got, err)
	}
	if got, err := e.Settings.EmailPassword(ctx); err != nil || got != smtpPW {
		t.Fatalf("SMTP password = %q, %v", got, err)
	}
}

// TestBadInput checks that each kind of bad request gets the documented
// status and error code.
func TestBadInput(t *testing.T) { dbtest.Run(t, testBadInput) }

func testBadInput(t *testing.T, engine string) {
	e := newTestServer(t, engine)
	aliceID, alice := e.user("alice")
	jh := http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + alice}}
	for _, tc := range []struct {
		name         string
		method, path string
		hdr          http.Header
		body         string
		status       int
		code, field  string
	}{
		{"MalformedJSON", "POST", "/api/policies", jh, `{"name": "x",`, 400, bitnobi.EINVALID, ""},
		{"SyntaxError", "POST", "/api/policies", jh, `{"name" "x"}`, 400, bitnobi.EINVALID, ""},
		{"UnknownField", "POST", "/api/policies", jh, `{"name": "x", "attributes": {"a": "b"}, "owner_id": "me"}`, 400, bitnobi.EINVALID, "owner_id"},
		{"WrongType", "POST", "/api/policies", jh, `{"name": 42, "attributes": {"a": "b"}}`, 400, bitnobi.EINVALID, "name"},
		{"WrongTypeNested", "PATCH", "/api/users/" + aliceID, jh, `{"email": ["a@b.c"]}`, 400, bitnobi.EINVALID, "email"},
		{"EmptyBody", "POST", "/api/policies", jh, ``, 400, bitnobi.EINVALID, ""},
		{"TrailingData", "POST", "/api/policies", jh, `{"name": "x", "attributes": {"a": "b"}} {}`, 400, bitnobi.EINVALID, ""},
		{"NotAnObject", "POST", "/api/auth/signin", jh, `["alice"]`, 400, bitnobi.EINVALID, ""},
		{"Oversized", "POST", "/api/auth/signup", jh, `{"username": "` + strings.Repeat("a", 2<<20) + `"}`, 413, bitnobi.ETOOLARGE, ""},
		{"BadID", "GET", "/api/users/not-an-id", jh, ``, 400, bitnobi.EINVALID, "id"},
		{"BadIDUpper", "DELETE", "/api/policies/" + strings.ToUpper(bitnobi.NewID()), jh, ``, 400, bitnobi.EINVALID, "id"},
		{"WrongContentType", "POST", "/api/policies", http.Header{"Content-Type": {"text/plain"}, "Authorization": {"Bearer " + alice}}, `{"name": "x", "attributes": {"a": "b"}}`, 415, bitnobi.EUNSUPPORTED, ""},
		{"FormContentType", "POST", "/api/auth/signin", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, `username=alice`, 415, bitnobi.EUNSUPPORTED, ""},
		{"MissingToken", "GET", "/api/policies", http.Header{}, ``, 401, bitnobi.EUNAUTHORIZED, ""},
		{"MissingTokenWrite", "POST", "/api/policies", http.Header{"Content-Type": {"application/json"}}, `{"name": "x", "attributes": {"a": "b"}}`, 401, bitnobi.EUNAUTHORIZED, ""},
		{"BadAuditTime", "GET", "/api/audit?since=yesterday", jh, ``, 400, bitnobi.EINVALID, "since"},
		{"BadAuditAfter", "GET", "/api/audit?after=-1", jh, ``, 400, bitnobi.EINVALID, "after"},
		{"BadAuditLimit", "GET", "/api/audit?limit=0", jh, ``, 400, bitnobi.EINVALID, "limit"},
		{"NoSuchRoute", "GET", "/api/nothing", jh, ``, 404, bitnobi.ENOTFOUND, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := e.auditCount()
			status, body := e.raw(tc.method, tc.path, tc.hdr, strings.NewReader(tc.body))
			var v struct{ Code, Message, Field string }
			if err := json.Unmarshal(body, &v); err != nil {
				t.Fatalf("body is not a JSON error: %v: %s", err, body)
			}
			if status != tc.status || v.Code != tc.code || v.Field != tc.field {
				t.Fatalf("%d %+v, want %d code=%s field=%q", status, v, tc.status, tc.code, tc.field)
			}
			if v.Message == "" {
				t.Fatalf("error without message")
			}
			if got := e.auditCount(); got != n {
				t.Fatalf("a refused request wrote %d audit entries", got-n)
			}
		})
	}
}

func TestAuditLog(t *testing.T) { dbtest.Run(t, testAuditLog) }

func testAuditLog(t *testing.T, engine string) {
	e := newTestServer(t, engine)
	adminID, admin := e.user("admin") // signup, signin
	_, alice := e.user("alice")       // signup, signin
	t0 := e.Clock.Now()
	e.Clock.Advance(time.Hour)
	e.must(http.StatusCreated, "POST", "/api/policies", alice, J{"name": "p", "attributes": J{"a": "b"}})
	e.must(http.StatusNoContent, "POST", "/api/auth/signout", alice, nil)
	t1 := e.Clock.Now()

	list := func(e *testEnv, query string) []J {
		e.t.Helper()
		var out []J
		for _, x := range e.must(http.StatusOK, "GET", "/api/audit"+query, admin, nil)["entries"].([]any) {
			out = append(out, x.(J))
		}
		return out
	}
	actions := func(es []J) string {
		var s []string
		for _, x := range es {
			s = append(s, x["action"].(string))
		}
		return strings.Join(s, ",")
	}

	t.Run("All", func(t *testing.T) {
		e := e.For(t)
		got := list(e, "")
		if a, want := actions(got), "user.signup,user.signin,user.signup,user.signin,policy.create,user.signout"; a != want {
			t.Fatalf("actions %s, want %s", a, want)
		}
		for i, x := range got {
			if x["seq"] != float64(i+1) || x["hash"] == "" {
				t.Fatalf("entry %d = %v", i, x)
			}
		}
	})
	t.Run("Filters", func(t *testing.T) {
		e := e.For(t)
		if a := actions(list(e, "?actor="+adminID)); a != "user.signup,user.signin" {
			t.Errorf("actor filter: %s", a)
		}
		if a := actions(list(e, "?action=user.signin")); a != "user.signin,user.signin" {
			t.Errorf("action filter: %s", a)
		}
		since := t0.Add(time.Minute).Format(time.RFC3339Nano)
		if a := actions(list(e, "?since="+since)); a != "policy.create,user.signout" {
			t.Errorf("since filter: %s", a)
		}
		if a := actions(list(e, "?until="+since)); a != "user.signup,user.signin,user.signup,user.signin" {
			t.Errorf("until filter: %s", a)
		}
		if a := actions(list(e, "?since="+t1.Format(time.RFC3339Nano)+"&until="+t1.Add(time.Nanosecond).Format(time.RFC3339Nano))); a != "policy.create,user.signout" {
			t.Errorf("since+until filter: %s", a)
		}
		if a := actions(list(e, "?after=2&limit=2")); a != "user.signup,user.signin" {
			t.Errorf("after+limit: %s", a)
		}
		if a := actions(list(e, "?after=6")); a != "" {
			t.Errorf("after the end: %s", a)
		}
	})
	t.Run("LimitCapped", func(t *testing.T) {
		e := e.For(t)
		err := e.DB.WriteTx(context.Background(), func(tx *store.Tx) error {
			for range store.MaxAuditLimit + 10 {
				if err := tx.Audit(context.Background(), bitnobi.ActionDataSourceAccess, "", "", nil); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := len(list(e, "?limit=5000")); got != store.MaxAuditLimit {
			t.Errorf("limit=5000 returned %d entries, want the cap %d", got, store.MaxAuditLimit)
		}
		if got := len(list(e, "")); got != store.DefaultAuditLimit {
			t.Errorf("no limit returned %d entries, want the default %d", got, store.DefaultAuditLimit)
		}
	})
	t.Run("AdminOnly", func(t *testing.T) {
		e := e.For(t)
		alice := e.signIn("alice")
		e.must(http.StatusForbidden, "GET", "/api/audit", alice, nil)
		e.must(http.StatusForbidden, "GET", "/api/audit/verify", alice, nil)
	})
}

func TestAuditChain(t *testing.T) { dbtest.Run(t, testAuditChain) }

func testAuditChain(t *testing.T, engine string) {
	e := newTestServer(t, engine)
	_, admin := e.user("admin")
	_, alice := e.user("alice")
	e.must(http.StatusCreated, "POST", "/api/policies", alice, J{"name": "p", "attributes": J{"a": "b"}})

	v := e.must(http.StatusOK, "GET", "/api/audit/verify", admin, nil)
	if v["ok"] != true || v["entries"] != float64(e.auditCount()) {
		t.Fatalf("verify = %v, want ok with %d entries", v, e.auditCount())
	}

	t.Run("Tampered", func(t *testing.T) {
		e := e.For(t)
		if _, err := e.exec(`UPDATE audit_log SET actor_name = 'mallory' WHERE seq = 3`); err != nil {
			t.Fatal(err)
		}
		status, v := e.do("GET", "/api/audit/verify", admin, nil)
		if status != http.StatusConflict || v["code"] != bitnobi.ECONFLICT || !strings.Contains(v["message"].(string), "seq 3") {
			t.Fatalf("verify after tampering: %d %v, want 409 naming seq 3", status, v)
		}
		_, err := e.Audit.VerifyAuditChain(bitnobi.NewContextWithActor(context.Background(), &bitnobi.Actor{UserID: "x", IsAdmin: true}))
		if !errors.Is(err, store.ErrAuditChain) {
			t.Fatalf("VerifyAuditChain error %v does not wrap store.ErrAuditChain", err)
		}
	})
	t.Run("Removed", func(t *testing.T) {
		e := newTestServer(t, engine)
		_, admin := e.user("admin")
		e.signIn("admin")
		if _, err := e.exec(`DELETE FROM audit_log WHERE seq = 2`); err != nil {
			t.Fatal(err)
		}
		status, v := e.do("GET", "/api/audit/verify", admin, nil)
		if status != http.StatusConflict || !strings.Contains(v["message"].(string), "seq 3") {
			t.Fatalf("verify after removing an entry: %d %v, want 409 naming seq 3", status, v)
		}
	})
}

// secretCount returns the number of sealed secrets in the database.
func secretCount(t *testing.T, e *testEnv) int {
	t.Helper()
	var n int
	if err := e.queryRow(`SELECT COUNT(*) FROM secrets`).Scan(&n); err != nil {
		t.Fatalf("count secrets: %v", err)
	}
	return n
}
