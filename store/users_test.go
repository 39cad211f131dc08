package store_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/internal/dbtest"
	"github.com/bitnobi/bitnobi/secret"
	"github.com/bitnobi/bitnobi/store"
)

// openAccountsDB opens a fresh database on engine, with a master key.
func openAccountsDB(t *testing.T, engine string) *store.DB {
	t.Helper()
	db := dbtest.Open(t, engine)
	var err error
	if db.Key, err = secret.GenerateKey(); err != nil {
		t.Fatal(err)
	}
	return db
}

var cheap = store.PasswordParams{Time: 1, Memory: 64, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestUserService_PasswordHash(t *testing.T) { dbtest.Run(t, testUserService_PasswordHash) }

func testUserService_PasswordHash(t *testing.T, engine string) {
	ctx := context.Background()
	db := openAccountsDB(t, engine)
	s := &store.UserService{DB: db} // production parameters
	for _, name := range []string{"alice", "bob"} {
		if _, err := s.SignUp(ctx, name, name+"@example.org", "same password"); err != nil {
			t.Fatal(err)
		}
	}
	var hashes []string
	for _, name := range []string{"alice", "bob"} {
		var h string
		if err := db.Read.QueryRow(db.Dialect.Rebind(`SELECT password_hash FROM users WHERE username = ?`), name).Scan(&h); err != nil {
			t.Fatal(err)
		}
		if want := "$argon2id$v=19$m=19456,t=2,p=1$"; !strings.HasPrefix(h, want) || strings.Count(h, "$") != 5 {
			t.Fatalf("hash %q is not PHC argon2id starting %q", h, want)
		}
		hashes = append(hashes, h)
	}
	if hashes[0] == hashes[1] {
		t.Fatal("equal passwords hash alike: the salt is missing")
	}
	if _, _, err := s.SignIn(ctx, "alice", "same password"); err != nil {
		t.Fatalf("SignIn: %v", err)
	}
	if _, _, err := s.SignIn(ctx, "alice", "same passwort"); bitnobi.ErrorCode(err) != bitnobi.EUNAUTHORIZED {
		t.Fatalf("SignIn with a wrong password: %v, want unauthorized", err)
	}
}

// TestUserService_ParamsChange: a hash carries its parameters, so changing
// them locks nobody out.
func TestUserService_ParamsChange(t *testing.T) { dbtest.Run(t, testUserService_ParamsChange) }

func testUserService_ParamsChange(t *testing.T, engine string) {
	ctx := context.Background()
	db := openAccountsDB(t, engine)
	if _, err := (&store.UserService{DB: db, Password: cheap}).SignUp(ctx, "alice", "a@example.org", "password one"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := (&store.UserService{DB: db}).SignIn(ctx, "alice", "password one"); err != nil {
		t.Fatalf("SignIn with other parameters: %v", err)
	}
}

// TestUserService_CorruptHash: a damaged hash is an internal error, never
// a successful sign-in.
func TestUserService_CorruptHash(t *testing.T) { dbtest.Run(t, testUserService_CorruptHash) }

func testUserService_CorruptHash(t *testing.T, engine string) {
	ctx := context.Background()
	db := openAccountsDB(t, engine)
	s := &store.UserService{DB: db, Password: cheap}
	if _, err := s.SignUp(ctx, "alice", "a@example.org", "password one"); err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"", "garbage", "$argon2id$v=19$m=99999999,t=1,p=1$AAAA$AAAA", "$argon2id$v=19$m=64,t=1,p=1$!!$!!", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"} {
		if _, err := db.Write.Exec(db.Dialect.Rebind(`UPDATE users SET password_hash = ?`), h); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.SignIn(ctx, "alice", "password one"); bitnobi.ErrorCode(err) != bitnobi.EINTERNAL {
			t.Errorf("SignIn with stored hash %q: %v, want an internal error", h, err)
		}
	}
}

// TestUserService_FirstSignUpConcurrent: of many simultaneous first
// sign-ups, exactly one becomes the administrator.
func TestUserService_FirstSignUpConcurrent(t *testing.T) {
	dbtest.Run(t, testUserService_FirstSignUpConcurrent)
}

func testUserService_FirstSignUpConcurrent(t *testing.T, engine string) {
	ctx := context.Background()
	db := openAccountsDB(t, engine)
	s := &store.UserService{DB: db, Password: cheap}
	const n = 16
	var wg sync.WaitGroup
	var mu sync.Mutex
	admins := 0
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u, err := s.SignUp(ctx, fmt.Sprintf("user%d", i), "u@example.org", "password one")
			if err != nil {
				t.Error(err)
				return
			}
			if u.IsAdmin {
				mu.Lock()
				admins++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if admins != 1 {
		t.Fatalf("%d administrators, want 1", admins)
	}
	var stored int
	if err := db.Read.QueryRow(`SELECT COUNT(*) FROM users WHERE is_admin = 1`).Scan(&stored); err != nil || stored != 1 {
		t.Fatalf("%d administrators stored (err %v), want 1", stored, err)
	}
}

// TestAccountServices_Anonymous: without an actor in the context, every
// service refuses, and nothing is written.
func TestAccountServices_Anonymous(t *testing.T) { dbtest.Run(t, testAccountServices_Anonymous) }

func testAccountServices_Anonymous(t *testing.T, engine string) {
	ctx := context.Background()
	db := openAccountsDB(t, engine)
	id := bitnobi.NewID()
	for name, call := range map[string]func() error{
		"FindUsers": func() error { _, err := (&store.UserService{DB: db}).FindUsers(ctx); return err },
		"UpdateUser": func() error {
			_, err := (&store.UserService{DB: db}).UpdateUser(ctx, id, bitnobi.UserUpdate{})
			return err
		},
		"DeleteUser":    func() error { return (&store.UserService{DB: db}).DeleteUser(ctx, id) },
		"CreatePolicy":  func() error { return (&store.PolicyService{DB: db}).CreatePolicy(ctx, &bitnobi.Policy{}) },
		"FindPolicies":  func() error { _, err := (&store.PolicyService{DB: db}).FindPolicies(ctx); return err },
		"FindRemotes":   func() error { _, err := (&store.RemoteServerService{DB: db}).FindRemoteServers(ctx); return err },
		"EmailSettings": func() error { _, err := (&store.SettingsService{DB: db}).GetEmailSettings(ctx); return err },
		"Audit": func() error {
			_, err := (&store.AuditService{DB: db}).FindAuditEntries(ctx, bitnobi.AuditFilter{})
			return err
		},
		"VerifyAudit": func() error { _, err := (&store.AuditService{DB: db}).VerifyAuditChain(ctx); return err },
	} {
		if err := call(); bitnobi.ErrorCode(err) != bitnobi.EUNAUTHORIZED {
			t.Errorf("%s: %v, want unauthorized", name, err)
		}
	}
}
