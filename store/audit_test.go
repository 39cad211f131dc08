package store_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/internal/dbtest"
	"github.com/bitnobi/bitnobi/sqlite"
	"github.com/bitnobi/bitnobi/store"
)

// auditEntries returns n new entries with distinct content, the i-th at
// start plus i seconds and some nanoseconds, in a zone other than UTC (the
// append stores and hashes At in UTC).
func auditEntries(n int, start time.Time) []*bitnobi.AuditEntry {
	zone := time.FixedZone("UTC+2", 2*60*60)
	es := make([]*bitnobi.AuditEntry, n)
	for i := range es {
		id := strconv.Itoa(i)
		es[i] = &bitnobi.AuditEntry{
			At:         start.Add(time.Duration(i)*time.Second + time.Duration(i)*1237).In(zone),
			ActorID:    "u" + id,
			ActorName:  "user" + id,
			Action:     bitnobi.ActionDataSourceAccess,
			TargetType: "datasource",
			TargetID:   "ds" + id,
			Detail:     `{"name":"file` + id + `.csv"}`,
			RemoteAddr: "192.0.2." + strconv.Itoa(1+i%254),
		}
		if i%3 == 0 {
			es[i].RemoteUser = "ana@partner"
		}
	}
	return es
}

// storedAudit reads the whole audit log in seq order.
func storedAudit(t *testing.T, db *store.DB) []bitnobi.AuditEntry {
	t.Helper()
	rows, err := db.Read.Query(`SELECT seq, at, actor_id, actor_name, action, target_type, target_id, detail, remote_addr, remote_user, prev_hash, hash FROM audit_log ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []bitnobi.AuditEntry
	for rows.Next() {
		var e bitnobi.AuditEntry
		var at string
		if err := rows.Scan(&e.Seq, &at, &e.ActorID, &e.ActorName, &e.Action, &e.TargetType, &e.TargetID, &e.Detail, &e.RemoteAddr, &e.RemoteUser, &e.PrevHash, &e.Hash); err != nil {
			t.Fatal(err)
		}
		if e.At, err = bitnobi.ParseTime(at); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// verifyAudit checks the chain with [store.VerifyAudit] and that it holds
// n entries ending in last.
func verifyAudit(t *testing.T, db *store.DB, n int64, last string) {
	t.Helper()
	got, gotLast, err := store.VerifyAudit(context.Background(), db.Read)
	if err != nil {
		t.Fatalf("VerifyAudit: %v", err)
	}
	if got != n || gotLast != last {
		t.Fatalf("VerifyAudit()=%d, %.12s, want %d, %.12s", got, gotLast, n, last)
	}
}

func derefAudit(es []*bitnobi.AuditEntry) []bitnobi.AuditEntry {
	out := make([]bitnobi.AuditEntry, len(es))
	for i, e := range es {
		out[i] = *e
	}
	return out
}

func TestTx_AppendAuditBatch(t *testing.T) { dbtest.Run(t, testTx_AppendAuditBatch) }

func testTx_AppendAuditBatch(t *testing.T, engine string) {
	ctx := context.Background()
	start := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

	// Singly: the reference chain, one AppendAudit per entry, in a few
	// transactions.
	single := dbtest.Open(t, engine)
	want := auditEntries(23, start)
	for _, part := range [][]*bitnobi.AuditEntry{want[:1], want[1:12], want[12:]} {
		err := single.WriteTx(ctx, func(tx *store.Tx) error {
			for _, e := range part {
				if err := tx.AppendAudit(ctx, e); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}

	// In batches: the same content, as batches of 1 (on an empty log), 0,
	// and more, mixed with AppendAudit in the same transaction, so that
	// each continues the chain where the other left it.
	batched := dbtest.Open(t, engine)
	got := auditEntries(23, start)
	steps := [][]func(tx *store.Tx) error{
		{
			func(tx *store.Tx) error { return tx.AppendAuditBatch(ctx, got[:1]) },
		},
		{
			func(tx *store.Tx) error { return tx.AppendAuditBatch(ctx, nil) },
			func(tx *store.Tx) error { return tx.AppendAuditBatch(ctx, got[1:7]) },
			func(tx *store.Tx) error { return tx.AppendAudit(ctx, got[7]) },
			func(tx *store.Tx) error { return tx.AppendAuditBatch(ctx, got[8:12]) },
		},
		{
			func(tx *store.Tx) error { return tx.AppendAuditBatch(ctx, got[12:13]) },
			func(tx *store.Tx) error { return tx.AppendAuditBatch(ctx, got[13:]) },
		},
	}
	for i, step := range steps {
		err := batched.WriteTx(ctx, func(tx *store.Tx) error {
			for _, fn := range step {
				if err := fn(tx); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("transaction %d: %v", i, err)
		}
	}

	// The entries as filled in, and as stored, are the same.
	if diff := cmp.Diff(derefAudit(want), derefAudit(got)); diff != "" {
		t.Fatalf("batched entries differ from single ones (-single +batched):\n%s", diff)
	}
	stored := storedAudit(t, batched)
	if diff := cmp.Diff(storedAudit(t, single), stored); diff != "" {
		t.Fatalf("batched log differs from the single one (-single +batched):\n%s", diff)
	}
	if diff := cmp.Diff(derefAudit(got), stored); diff != "" {
		t.Fatalf("stored log differs from the entries as filled in (-filled +stored):\n%s", diff)
	}
	for i, e := range got {
		if e.Seq != int64(i+1) || e.At.Location() != time.UTC {
			t.Fatalf("entry %d: seq %d at %v, want seq %d in UTC", i, e.Seq, e.At, i+1)
		}
	}
	verifyAudit(t, batched, 23, want[22].Hash)
}

func TestTx_AppendAuditBatch_Empty(t *testing.T) { dbtest.Run(t, testTx_AppendAuditBatch_Empty) }

func testTx_AppendAuditBatch_Empty(t *testing.T, engine string) {
	ctx := context.Background()
	db := dbtest.Open(t, engine)
	err := db.WriteTx(ctx, func(tx *store.Tx) error {
		if err := tx.AppendAuditBatch(ctx, nil); err != nil {
			return err
		}
		return tx.AppendAuditBatch(ctx, []*bitnobi.AuditEntry{})
	})
	if err != nil {
		t.Fatal(err)
	}
	verifyAudit(t, db, 0, "")
}

func TestTx_AppendAuditBatch_ErrRollback(t *testing.T) {
	dbtest.Run(t, testTx_AppendAuditBatch_ErrRollback)
}

// rejectAuditAction installs a trigger that makes the insert of an audit
// entry with the given action fail.
func rejectAuditAction(t *testing.T, db *store.DB, engine, action string) {
	t.Helper()
	var stmts []string
	switch engine {
	case dbtest.SQLite:
		stmts = []string{fmt.Sprintf(`CREATE TRIGGER audit_reject BEFORE INSERT ON audit_log
			WHEN NEW.action = '%s' BEGIN SELECT RAISE(ABORT, 'audit entry rejected'); END`, action)}
	case dbtest.Postgres:
		stmts = []string{
			fmt.Sprintf(`CREATE FUNCTION audit_reject() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN
				IF NEW.action = '%s' THEN RAISE EXCEPTION 'audit entry rejected'; END IF;
				RETURN NEW;
			END $$`, action),
			`CREATE TRIGGER audit_reject BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_reject()`,
		}
	default:
		t.Fatalf("unknown engine %q", engine)
	}
	for _, s := range stmts {
		if _, err := db.Write.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
}

func testTx_AppendAuditBatch_ErrRollback(t *testing.T, engine string) {
	ctx := context.Background()
	db := dbtest.Open(t, engine)
	start := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	committed := auditEntries(2, start)
	if err := db.WriteTx(ctx, func(tx *store.Tx) error { return tx.AppendAuditBatch(ctx, committed) }); err != nil {
		t.Fatal(err)
	}
	rejectAuditAction(t, db, engine, "test.reject")

	// The third entry of the batch fails: the transaction rolls back,
	// with the two entries appended before it and a change made before.
	batch := auditEntries(5, start.Add(time.Hour))
	batch[2].Action = "test.reject"
	errFn := errors.New("fn did not stop at the batch's error")
	err := db.WriteTx(ctx, func(tx *store.Tx) error {
		if err := tx.SetMeta(ctx, "audit_test", "rolled back"); err != nil {
			return err
		}
		if err := tx.AppendAuditBatch(ctx, batch); err != nil {
			return err
		}
		return errFn
	})
	if err == nil || errors.Is(err, errFn) {
		t.Fatalf("WriteTx()=%v, want the batch's error", err)
	}
	t.Logf("batch error: %v", err)
	verifyAudit(t, db, 2, committed[1].Hash)
	if v, err := db.Meta(ctx, "audit_test"); err != nil || v != "" {
		t.Fatalf("Meta()=%q, %v; want the transaction's change rolled back", v, err)
	}

	// The chain goes on from the last committed entry.
	batch[2].Action = bitnobi.ActionDataSourceAccess
	if err := db.WriteTx(ctx, func(tx *store.Tx) error { return tx.AppendAuditBatch(ctx, batch) }); err != nil {
		t.Fatal(err)
	}
	if got, want := batch[0].PrevHash, committed[1].Hash; got != want {
		t.Fatalf("PrevHash=%.12s, want %.12s", got, want)
	}
	verifyAudit(t, db, 7, batch[4].Hash)
}

// BenchmarkAppendAudit appends transactions of 1,000 entries on SQLite,
// one AppendAudit per entry (Single) and with AppendAuditBatch (Batch).
// Single/NoStampTrigger drops the trigger that replaces audit_log's change
// stamp when an insert is not an append (migration 0002), to show what
// that check costs each append.
func BenchmarkAppendAudit(b *testing.B) {
	const perTx = 1000
	start := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	for _, mode := range []string{"Single", "Single/NoStampTrigger", "Batch"} {
		b.Run(mode, func(b *testing.B) {
			ctx := context.Background()
			db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "bitnobi.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			if mode == "Single/NoStampTrigger" {
				if _, err := db.Write.ExecContext(ctx, `DROP TRIGGER audit_log_stamp_insert`); err != nil {
					b.Fatal(err)
				}
			}
			for b.Loop() {
				b.StopTimer()
				es := auditEntries(perTx, start)
				b.StartTimer()
				err := db.WriteTx(ctx, func(tx *store.Tx) error {
					if mode == "Batch" {
						return tx.AppendAuditBatch(ctx, es)
					}
					for _, e := range es {
						if err := tx.AppendAudit(ctx, e); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(perTx*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}
