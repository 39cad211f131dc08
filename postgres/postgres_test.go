package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bitnobi/bitnobi/internal/dbtest"
	"github.com/bitnobi/bitnobi/postgres"
	"github.com/bitnobi/bitnobi/store"
)

func TestDialect_Rebind(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"None", `SELECT 1`, `SELECT 1`},
		{"One", `SELECT value FROM meta WHERE key = ?`, `SELECT value FROM meta WHERE key = $1`},
		{"Many", `INSERT INTO t (a, b, c) VALUES (?, ?, ?)`, `INSERT INTO t (a, b, c) VALUES ($1, $2, $3)`},
		{"Ten", `VALUES (?,?,?,?,?,?,?,?,?,?,?)`, `VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)`},
		{"InString", `SELECT '?' WHERE a = ?`, `SELECT '?' WHERE a = $1`},
		{"EscapedQuote", `SELECT 'it''s ?' WHERE a = ? AND b = 'x?'`, `SELECT 'it''s ?' WHERE a = $1 AND b = 'x?'`},
		{"InIdentifier", `SELECT "what?" FROM t WHERE a = ?`, `SELECT "what?" FROM t WHERE a = $1`},
		{"DoubleQuoteInString", `SELECT '"?' WHERE a = ?`, `SELECT '"?' WHERE a = $1`},
		{"SingleQuoteInIdentifier", `SELECT "it's" FROM t WHERE a = ?`, `SELECT "it's" FROM t WHERE a = $1`},
		{"Adjacent", `?=?`, `$1=$2`},
		{"Unterminated", `SELECT '? WHERE a = ?`, `SELECT '? WHERE a = ?`},
		{"Multibyte", `SELECT 'é?' WHERE ünï = ?`, `SELECT 'é?' WHERE ünï = $1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := (postgres.Dialect{}).Rebind(tc.in); got != tc.want {
				t.Fatalf("Rebind(%q)=%q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// TestSchemaConformance checks that the PostgreSQL schema is the SQLite
// one: the same tables, with the same columns in the same order and the
// same normalised types, primary keys and foreign keys. It fails when a
// migration changes one engine's schema and not the other's.
func TestSchemaConformance(t *testing.T) {
	ctx := context.Background()
	lite := dbtest.Open(t, dbtest.SQLite)
	pg := dbtest.Open(t, dbtest.Postgres)
	lt, err := lite.Dialect.Tables(ctx, lite.Read)
	if err != nil {
		t.Fatal(err)
	}
	pt, err := pg.Dialect.Tables(ctx, pg.Read)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(lt, pt) {
		t.Fatalf("tables differ:\nsqlite   %v\npostgres %v", lt, pt)
	}
	if len(lt) < 10 {
		t.Fatalf("only %d tables: %v", len(lt), lt)
	}
	describe := func(db *store.DB, table string) string {
		t.Helper()
		d, q := db.Dialect, db.Read
		cols, err := d.Columns(ctx, q, table)
		if err != nil {
			t.Fatalf("%s: columns of %s: %v", d.Name(), table, err)
		}
		pk, err := d.PrimaryKey(ctx, q, table)
		if err != nil {
			t.Fatalf("%s: primary key of %s: %v", d.Name(), table, err)
		}
		refs, err := d.References(ctx, q, table)
		if err != nil {
			t.Fatalf("%s: references of %s: %v", d.Name(), table, err)
		}
		fks, err := d.ForeignKeys(ctx, q, table)
		if err != nil {
			t.Fatalf("%s: foreign keys of %s: %v", d.Name(), table, err)
		}
		var b strings.Builder
		for _, c := range cols {
			fmt.Fprintf(&b, "column %s %s\n", c.Name, c.Type)
		}
		fmt.Fprintf(&b, "primary key %v\nreferences %v\n", pk, refs)
		for _, fk := range fks {
			fmt.Fprintf(&b, "foreign key %s%v -> %s%v\n", fk.Table, fk.Columns, fk.RefTable, fk.RefColumns)
		}
		return b.String()
	}
	for _, table := range lt {
		t.Run(table, func(t *testing.T) {
			if got, want := describe(pg, table), describe(lite, table); got != want {
				t.Errorf("postgres differs from sqlite:\n--- postgres\n%s--- sqlite\n%s", got, want)
			}
		})
	}
	// What the backup relies on: the same state tables, in the same load
	// order, and the same blob references.
	ls, err := lite.StateTables(ctx, lite.Read)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := pg.StateTables(ctx, pg.Read)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(ps), fmt.Sprint(ls); got != want {
		t.Errorf("StateTables differ:\npostgres %s\nsqlite   %s", got, want)
	}
	lb, err := lite.BlobReferences(ctx, lite.Read)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := pg.BlobReferences(ctx, pg.Read)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(pb), fmt.Sprint(lb); got != want || len(lb) == 0 {
		t.Errorf("BlobReferences differ:\npostgres %s\nsqlite   %s", got, want)
	}
}

// TestExportRows_SameOnBothEngines writes the same rows on both engines and
// checks that they come back identical, in the same (byte-wise) order.
func TestExportRows_SameOnBothEngines(t *testing.T) {
	ctx := context.Background()
	dump := func(engine string) string {
		db := dbtest.Open(t, engine)
		err := db.WriteTx(ctx, func(tx *store.Tx) error {
			for _, k := range []string{"b", "B", "a", "_x", "Z", "é", "e"} {
				if err := tx.SetMeta(ctx, k, "v-"+k); err != nil {
					return err
				}
			}
			_, err := tx.Exec(ctx, `INSERT INTO blobs (id, size, created_at) VALUES (?, ?, ?)`, strings.Repeat("a", 64), int64(5)<<30, "t")
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		err = db.ReadTx(ctx, func(tx *store.Tx) error {
			tables, err := db.StateTables(ctx, tx)
			if err != nil {
				return err
			}
			for _, tb := range tables {
				err := db.ExportRows(ctx, tx, tb, func(row []any) error {
					fmt.Fprintf(&b, "%s %#v\n", tb.Name, row)
					return nil
				})
				if err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	if got, want := dump(dbtest.Postgres), dump(dbtest.SQLite); got != want {
		t.Fatalf("rows differ:\n--- postgres\n%s--- sqlite\n%s", got, want)
	}
}

func TestAcquireLock(t *testing.T) {
	ctx := context.Background()
	dsn := dbtest.NewPostgresDatabase(t)
	open := func() *store.DB {
		db, err := postgres.OpenNoMigrate(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	first, second := open(), open()

	release, err := postgres.AcquireLock(ctx, first.Write)
	if err != nil {
		t.Fatal(err)
	}
	// The holder, found independently of the package's own query.
	var holder int
	err = second.Read.QueryRowContext(ctx, `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted
		AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&holder)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("ErrLocked", func(t *testing.T) {
		_, err := postgres.AcquireLock(ctx, second.Write)
		var held *postgres.LockedError
		if !errors.As(err, &held) {
			t.Fatalf("second AcquireLock: %v, want a *LockedError", err)
		}
		if held.PID != holder || held.ApplicationName != postgres.ApplicationName || !strings.HasPrefix(held.ClientAddr, "127.0.0.1:") && held.ClientAddr != "local socket" || held.Since.IsZero() {
			t.Fatalf("LockedError=%+v, want pid %d, application %q, a client address and a start time", held, holder, postgres.ApplicationName)
		}
		for _, want := range []string{fmt.Sprintf("pid %d", holder), `"bitnobi serve"`, held.ClientAddr} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not contain %q", err, want)
			}
		}
	})
	t.Run("SameProcessSecondCall", func(t *testing.T) {
		// A second call on the same pool gets another session: refused too.
		if _, err := postgres.AcquireLock(ctx, first.Write); err == nil {
			t.Fatal("second AcquireLock on the same pool succeeded")
		}
	})
	t.Run("AfterRelease", func(t *testing.T) {
		release()
		release() // idempotent
		release2, err := postgres.AcquireLock(ctx, second.Write)
		if err != nil {
			t.Fatalf("AcquireLock after release: %v", err)
		}
		release2()
	})
	t.Run("ReleasedWhenSessionEnds", func(t *testing.T) {
		db := open()
		if _, err := postgres.AcquireLock(ctx, db.Write); err != nil {
			t.Fatal(err)
		}
		// The holder's session ends, as a crashed server's does.
		_, err := second.Read.ExecContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted
			AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`)
		if err != nil {
			t.Fatal(err)
		}
		release3, err := postgres.AcquireLock(ctx, second.Write)
		for i := 0; err != nil && i < 50; i++ { // the backend exits asynchronously
			time.Sleep(100 * time.Millisecond)
			release3, err = postgres.AcquireLock(ctx, second.Write)
		}
		if err != nil {
			t.Fatalf("AcquireLock after the holder's session ended: %v", err)
		}
		release3()
	})
}

// TestWriteTx_Serialised runs many concurrent audited writes: on
// PostgreSQL, with concurrent writers, the lock taken by every write
// transaction keeps the audit chain from forking and the first sign-up
// the only administrator.
func TestWriteTx_Serialised(t *testing.T) {
	ctx := context.Background()
	db := dbtest.Open(t, dbtest.Postgres)
	users := &store.UserService{DB: db, Password: store.PasswordParams{Time: 1, Memory: 64, Threads: 1, SaltLen: 16, KeyLen: 32}}
	const n = 24
	var wg sync.WaitGroup
	admins := make(chan bool, n)
	for i := range n {
		wg.Go(func() {
			u, err := users.SignUp(ctx, fmt.Sprintf("user%02d", i), "u@example.org", "password one")
			if err != nil {
				t.Error(err)
				return
			}
			admins <- u.IsAdmin
		})
	}
	wg.Wait()
	close(admins)
	count := 0
	for a := range admins {
		if a {
			count++
		}
	}
	if count != 1 {
		t.Fatalf("%d administrators, want 1", count)
	}
	entries, _, err := store.VerifyAudit(ctx, db.Read)
	if err != nil || entries != n {
		t.Fatalf("VerifyAudit: %d entries, %v; want %d, nil", entries, err, n)
	}
	// Times follow the chain's order.
	rows, err := db.Read.QueryContext(ctx, `SELECT at FROM audit_log ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	prev := ""
	for rows.Next() {
		var at string
		if err := rows.Scan(&at); err != nil {
			t.Fatal(err)
		}
		if at < prev {
			t.Fatalf("audit times out of order: %s after %s", at, prev)
		}
		prev = at
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}
