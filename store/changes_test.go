package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/internal/dbtest"
	"github.com/bitnobi/bitnobi/store"
)

// TestChangeStampTriggers checks that every table a backup holds has a
// change stamp and the triggers that replace it: a table added by a
// migration without them would be exported by every backup again.
func TestChangeStampTriggers(t *testing.T) { dbtest.Run(t, testChangeStampTriggers) }

func testChangeStampTriggers(t *testing.T, engine string) {
	ctx := context.Background()
	db := openAccountsDB(t, engine)
	tables, err := db.StateTables(ctx, db.Read)
	if err != nil {
		t.Fatal(err)
	}
	stamps, err := store.ChangeStamps(ctx, db.Read, db.Dialect)
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range tables {
		if stamps[tb.Name] == "" {
			t.Errorf("table %s has no change stamp: add it to table_changes in its migration", tb.Name)
		}
		var q string
		if engine == dbtest.Postgres {
			q = `SELECT count(*) FROM pg_trigger WHERE tgrelid = to_regclass($1) AND NOT tgisinternal AND tgname LIKE '%_stamp%'`
		} else {
			q = `SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ? AND name LIKE '%_stamp_%'`
		}
		var n int
		if err := db.Read.QueryRowContext(ctx, q, tb.Name).Scan(&n); err != nil {
			t.Fatal(err)
		}
		want := 3 // INSERT, UPDATE, DELETE
		if engine == dbtest.Postgres {
			want = 1 // one statement-level trigger for all of them
			if tb.Name == "audit_log" {
				want = 2 // and one for inserts that are not appends
			}
		}
		if n != want {
			t.Errorf("table %s has %d change-stamp triggers, want %d", tb.Name, n, want)
		}
	}
}

// TestChangeStamps checks what replaces a stamp and what does not.
func TestChangeStamps(t *testing.T) { dbtest.Run(t, testChangeStamps) }

var errRollback = errors.New("roll back")

func testChangeStamps(t *testing.T, engine string) {
	ctx := context.Background()
	db := openAccountsDB(t, engine)
	users := &store.UserService{DB: db, Password: cheap}
	read := func() map[string]string {
		t.Helper()
		s, err := store.ChangeStamps(ctx, db.Read, db.Dialect)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// changed returns the tables whose stamp differs between a and b.
	changed := func(a, b map[string]string) map[string]bool {
		out := map[string]bool{}
		for name, s := range b {
			if a[name] != s {
				out[name] = true
			}
		}
		return out
	}
	s0 := read()
	alice, err := users.SignUp(ctx, "alice", "alice@example.org", "a long enough password")
	if err != nil {
		t.Fatal(err)
	}
	s1 := read()
	if c := changed(s0, s1); !c["users"] || c["audit_log"] || c["policies"] {
		t.Fatalf("after a sign-up, changed %v: want users, not audit_log (appended) or policies", c)
	}
	admin := bitnobi.NewContextWithActor(ctx, &bitnobi.Actor{UserID: alice.ID, Username: "alice", IsAdmin: true})
	bob, err := users.SignUp(ctx, "bob", "bob@example.org", "a long enough password")
	if err != nil {
		t.Fatal(err)
	}
	s2 := read()
	attrs := map[string]string{"team": "red"}
	if _, err := users.UpdateUser(admin, bob.ID, bitnobi.UserUpdate{Attributes: &attrs}); err != nil {
		t.Fatal(err)
	}
	s3 := read()
	if c := changed(s2, s3); !c["user_attributes"] {
		t.Fatalf("after an attribute change, changed %v: want user_attributes", c)
	}
	if c := changed(s3, read()); len(c) != 0 {
		t.Fatalf("reading changed %v", c)
	}
	// A foreign key's cascade changes the referencing table too.
	if err := users.DeleteUser(admin, bob.ID); err != nil {
		t.Fatal(err)
	}
	s4 := read()
	if c := changed(s3, s4); !c["users"] || !c["user_attributes"] {
		t.Fatalf("after deleting a user with attributes, changed %v: want users and user_attributes", c)
	}
	// Appending to the audit log is what services do: no change.
	s45 := read()
	err = db.WriteTx(ctx, func(tx *store.Tx) error {
		return tx.AppendAuditBatch(ctx, []*bitnobi.AuditEntry{{At: tx.Now(), Action: "a"}, {At: tx.Now(), Action: "b"}})
	})
	if err != nil {
		t.Fatal(err)
	}
	if c := changed(s45, read()); len(c) != 0 {
		t.Fatalf("after appending audit entries, changed %v", c)
	}
	// Rewriting the audit log, which no service does, changes its stamp.
	if _, err := db.Write.ExecContext(ctx, `UPDATE audit_log SET detail = 'x' WHERE seq = 1`); err != nil {
		t.Fatal(err)
	}
	if c := changed(s45, read()); !c["audit_log"] {
		t.Fatalf("after an UPDATE of audit_log, changed %v: want audit_log", c)
	}
	// Inserting an entry below the last one (no service does) is not an
	// append: it replaces the stamp.
	s6 := read()
	if _, err := db.Write.ExecContext(ctx, `INSERT INTO audit_log (seq, at, action, prev_hash, hash) VALUES (0, 'x', 'x', '', '')`); err != nil {
		t.Fatal(err)
	}
	if c := changed(s6, read()); !c["audit_log"] {
		t.Fatalf("after an insert below the last entry, changed %v: want audit_log", c)
	}
	// A rolled-back change leaves the stamp alone.
	s5 := read()
	err = db.WriteTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM policies`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET email = 'x@example.org'`); err != nil {
			return err
		}
		return errRollback
	})
	if err != errRollback {
		t.Fatal(err)
	}
	if c := changed(s5, read()); len(c) != 0 {
		t.Fatalf("after a rollback, changed %v", c)
	}
}

// TestEveryStateTableHasEntity keeps store.Entity's descriptions, which
// backups inspect and diff show an operator, in step with the schema.
func TestEveryStateTableHasEntity(t *testing.T) { dbtest.Run(t, testEveryStateTableHasEntity) }

func testEveryStateTableHasEntity(t *testing.T, engine string) {
	ctx := context.Background()
	db := openAccountsDB(t, engine)
	tables, err := db.StateTables(ctx, db.Read)
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range tables {
		if !store.HasEntity(tb.Name) {
			t.Errorf("table %s has no description: add it to entities in store/registry.go", tb.Name)
		}
	}
	if got, want := store.Entity("user_attributes"), "user attributes"; got != want {
		t.Errorf("Entity(user_attributes)=%q, want %q", got, want)
	}
}

// TestChangeStamps_Seal checks that sealing replaces audit_log's stamp
// (its rows moved to a segment: a backup must not link their old export)
// and audit_segments', and that appends after it still leave audit_log's
// alone while any other delete replaces it.
func TestChangeStamps_Seal(t *testing.T) { dbtest.Run(t, testChangeStampsSeal) }

func testChangeStampsSeal(t *testing.T, engine string) {
	ctx := context.Background()
	db := openSealDB(t, engine)
	read := func() map[string]string {
		t.Helper()
		s, err := store.ChangeStamps(ctx, db.Read, db.Dialect)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	appendAll(t, db, variedAudit(25, start))
	s0 := read()
	res, err := db.SealAudit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.Segments, 2; got != want {
		t.Fatalf("Segments=%d, want %d", got, want)
	}
	s1 := read()
	if s1["audit_log"] == s0["audit_log"] || s1["audit_segments"] == s0["audit_segments"] {
		t.Fatalf("after sealing, audit_log %q -> %q, audit_segments %q -> %q: want both replaced",
			s0["audit_log"], s1["audit_log"], s0["audit_segments"], s1["audit_segments"])
	}
	appendAll(t, db, variedAudit(3, start.Add(time.Hour)))
	if s2 := read(); s2["audit_log"] != s1["audit_log"] {
		t.Fatalf("after appending to a sealed log, audit_log %q -> %q: want it kept", s1["audit_log"], s2["audit_log"])
	}
	// The live tail (seq 20 on) is above every sealed entry: deleting
	// from it is a change.
	if _, err := db.Write.ExecContext(ctx, `DELETE FROM audit_log WHERE seq = 28`); err != nil {
		t.Fatal(err)
	}
	if s3 := read(); s3["audit_log"] == s1["audit_log"] {
		t.Fatalf("after deleting a live entry, audit_log's stamp is still %q", s3["audit_log"])
	}
}

// TestSealAudit_StampsOnce checks, on SQLite, whose triggers fire for
// each row, that a seal's transaction changes the rows it moves and a
// few more, not also a stamp for each row it deletes (sqlite.Dialect's
// DeleteSealed): those stamps held SQLite's write lock, which every
// audited write waits for, for half of the seal's transaction. The
// stamp trigger it sets aside for the delete is back as it was.
func TestSealAudit_StampsOnce(t *testing.T) {
	ctx := context.Background()
	db := openSealDB(t, dbtest.SQLite)
	appendAll(t, db, variedAudit(95, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)))
	trigger := func() string {
		t.Helper()
		var sql string
		if err := db.Read.QueryRowContext(ctx, `SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'audit_log_stamp_delete'`).Scan(&sql); err != nil {
			t.Fatal(err)
		}
		return sql
	}
	want := trigger()
	// The write pool has one connection: total_changes() counts every
	// row its statements and their triggers inserted, updated or deleted.
	changes := func() int64 {
		t.Helper()
		var n int64
		if err := db.Write.QueryRowContext(ctx, `SELECT total_changes()`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := changes()
	res, err := db.SealAudit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.Segments, 9; got != want {
		t.Fatalf("Segments=%d, want %d", got, want)
	}
	// Per segment: its rows deleted, its index row and its blob's row,
	// and the stamps of audit_segments, blobs and audit_log.
	if got, most := changes()-before, res.Entries+int64(res.Segments)*6; got > most {
		t.Fatalf("sealing %d entries changed %d rows, want at most %d", res.Entries, got, most)
	}
	if got := trigger(); got != want {
		t.Fatalf("after sealing, trigger audit_log_stamp_delete is\n%s\nwant\n%s", got, want)
	}
}
