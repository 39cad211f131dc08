package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/internal/dbtest"
	"github.com/bitnobi/bitnobi/store"
)

// TestSignInThrottle checks the per-account and per-address backoff: a
// 429 with Retry-After after a few failures, waits that double up to a
// cap, and the real user let in as soon as the wait is over.
func TestSignInThrottle(t *testing.T) { dbtest.Run(t, testSignInThrottle) }

func testSignInThrottle(t *testing.T, engine string) {
	e := newTestServer(t, engine)
	e.user("alice")
	lim := store.DefaultSignInLimits
	wrong := J{"username": "alice", "password": "wrong password"}
	right := J{"username": "alice", "password": password("alice")}

	for i := 0; i < lim.Free; i++ {
		if status, v := e.do("POST", "/api/auth/signin", "", wrong); status != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d %v, want 401", i+1, status, v)
		}
	}
	// The next failure starts the backoff: even the right password waits.
	e.must(http.StatusUnauthorized, "POST", "/api/auth/signin", "", wrong)
	status, hdr, v := e.signInRaw(right)
	if status != http.StatusTooManyRequests || v["code"] != bitnobi.ETOOMANY || hdr.Get("Retry-After") != "1" {
		t.Fatalf("throttled sign-in: %d %v Retry-After %q, want 429 too_many_attempts 1", status, v, hdr.Get("Retry-After"))
	}
	// The service says how long, through errors.As.
	ctx := bitnobi.NewContextWithActor(context.Background(), &bitnobi.Actor{RemoteAddr: "192.0.2.1"})
	_, _, err := e.Users.SignIn(ctx, "ALICE", password("alice"))
	var be *bitnobi.Error
	if !errors.As(err, &be) || be.Code != bitnobi.ETOOMANY || be.RetryAfter != time.Second {
		t.Fatalf("SignIn while throttled: %v, want ETOOMANY with RetryAfter 1s", err)
	}
	e.Clock.Advance(time.Second)
	e.must(http.StatusOK, "POST", "/api/auth/signin", "", right)

	// An attacker keeps trying: the waits double, but never exceed Max,
	// and attempts made while waiting do not count.
	var longest time.Duration
	for i := 0; i < 40; i++ {
		status, hdr, _ := e.signInRaw(wrong)
		if status == http.StatusTooManyRequests {
			secs, err := strconv.Atoi(hdr.Get("Retry-After"))
			if err != nil {
				t.Fatalf("Retry-After %q", hdr.Get("Retry-After"))
			}
			d := time.Duration(secs) * time.Second
			longest = max(longest, d)
			e.Clock.Advance(d)
		}
	}
	if longest != lim.Max {
		t.Fatalf("longest wait %v, want the cap %v", longest, lim.Max)
	}
	// The real user waits at most Max, then signs in.
	e.Clock.Advance(lim.Max)
	e.must(http.StatusOK, "POST", "/api/auth/signin", "", right)

	// Per address: failures on many accounts from one address throttle
	// that address, also for an account without failures.
	e.Clock.Advance(lim.Forget + time.Second)
	for i := 0; i < lim.FreeAddress+1; i++ {
		e.do("POST", "/api/auth/signin", "", J{"username": "nobody" + strconv.Itoa(i), "password": "wrong password"})
	}
	if status, _, v := e.signInRaw(right); status != http.StatusTooManyRequests {
		t.Fatalf("sign-in from a throttled address: %d %v, want 429", status, v)
	}
	// ... but not from another address.
	ctx = bitnobi.NewContextWithActor(context.Background(), &bitnobi.Actor{RemoteAddr: "192.0.2.2"})
	if _, _, err := e.Users.SignIn(ctx, "alice", password("alice")); err != nil {
		t.Fatalf("sign-in from another address: %v", err)
	}
}

// signInRaw posts a sign-in and returns the status, headers and body.
func (e *testEnv) signInRaw(body J) (int, http.Header, J) {
	e.t.Helper()
	req, err := http.NewRequest("POST", e.HTTP.URL+"/api/auth/signin", strings.NewReader(`{"username":"`+body["username"].(string)+`","password":"`+body["password"].(string)+`"}`))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.HTTP.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var v J
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, v
}

// TestSessionIdle checks that a session unused for the idle timeout ends,
// while one in use lives on.
func TestSessionIdle(t *testing.T) { dbtest.Run(t, testSessionIdle) }

func testSessionIdle(t *testing.T, engine string) {
	e := newTestServer(t, engine)
	e.user("alice")
	tok := e.signIn("alice")
	idle := e.DB.SessionIdle
	if idle <= 0 || idle >= e.DB.SessionTTL {
		t.Fatalf("idle timeout %v, lifetime %v", idle, e.DB.SessionTTL)
	}
	for i := 0; i < 3; i++ {
		e.Clock.Advance(idle - time.Second)
		e.must(http.StatusOK, "GET", "/api/me", tok, nil)
	}
	e.Clock.Advance(idle)
	if status, v := e.do("GET", "/api/me", tok, nil); status != http.StatusUnauthorized {
		t.Fatalf("me after %v idle: %d %v, want 401", idle, status, v)
	}
}

// TestSignOutAll checks DELETE /api/users/{id}/sessions: a user ends all
// their own sessions; the administrator anyone's; nobody else's.
func TestSignOutAll(t *testing.T) { dbtest.Run(t, testSignOutAll) }

func testSignOutAll(t *testing.T, engine string) {
	e := newTestServer(t, engine)
	_, admin := e.user("admin")
	aliceID, alice := e.user("alice")
	bobID, bob := e.user("bob")
	alice2 := e.signIn("alice")

	status, v := e.do("DELETE", "/api/users/"+aliceID+"/sessions", bob, nil)
	wantError(t, status, v, http.StatusForbidden, bitnobi.EFORBIDDEN, "")
	v = e.must(http.StatusOK, "DELETE", "/api/users/"+aliceID+"/sessions", alice, nil)
	if v["sessions_ended"] != 2.0 {
		t.Fatalf("alice signs out everywhere: %v", v)
	}
	for _, tok := range []string{alice, alice2} {
		e.must(http.StatusUnauthorized, "GET", "/api/me", tok, nil)
	}
	e.must(http.StatusOK, "DELETE", "/api/users/"+bobID+"/sessions", admin, nil)
	e.must(http.StatusUnauthorized, "GET", "/api/me", bob, nil)
	e.must(http.StatusOK, "GET", "/api/me", admin, nil)
	if a := e.lastAudit(bitnobi.ActionSignOutAll); a.ActorName != "admin" || a.TargetID != bobID || !strings.Contains(a.Detail, `"sessions":1`) {
		t.Fatalf("audit entry %+v", a)
	}
	status, v = e.do("DELETE", "/api/users/"+bitnobi.NewID()+"/sessions", admin, nil)
	wantError(t, status, v, http.StatusNotFound, bitnobi.ENOTFOUND, "")
}

// TestPasswordReset checks that the administrator sets another user's
// password without theirs, as a separately audited action that ends that
// user's sessions, but needs the current password for their own.
func TestPasswordReset(t *testing.T) { dbtest.Run(t, testPasswordReset) }

func testPasswordReset(t *testing.T, engine string) {
	e := newTestServer(t, engine)
	adminID, admin := e.user("admin")
	bobID, bob := e.user("bob")
	before := e.auditActions()
	e.must(http.StatusOK, "PATCH", "/api/users/"+bobID, admin, J{"password": "reset by the admin"})
	e.wantAudit(before, map[string]int{bitnobi.ActionUserPasswordReset: 1})
	if a := e.lastAudit(bitnobi.ActionUserPasswordReset); a.ActorName != "admin" || a.TargetID != bobID || strings.Contains(a.Detail, "reset by the admin") {
		t.Fatalf("audit entry %+v", a)
	}
	e.must(http.StatusUnauthorized, "GET", "/api/me", bob, nil)
	e.must(http.StatusOK, "POST", "/api/auth/signin", "", J{"username": "bob", "password": "reset by the admin"})
	// Combined with another change, that one is a user.update.
	before = e.auditActions()
	e.must(http.StatusOK, "PATCH", "/api/users/"+bobID, admin, J{"password": "reset once more", "email": "bob@new.example.org"})
	e.wantAudit(before, map[string]int{bitnobi.ActionUserPasswordReset: 1, bitnobi.ActionUserUpdate: 1})
	// The administrator's own password needs the current one.
	status, v := e.do("PATCH", "/api/users/"+adminID, admin, J{"password": "a new admin password"})
	wantError(t, status, v, http.StatusBadRequest, bitnobi.EINVALID, "current_password")
}
