package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/internal/dbtest"
	"github.com/bitnobi/bitnobi/store"
)

// auditRows returns n chained audit entries as rows of t, in the
// engine-neutral form a backup holds.
func auditRows(t store.Table, n int) [][]any {
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var rows [][]any
	prev := ""
	for i := 1; i <= n; i++ {
		e := bitnobi.AuditEntry{
			Seq: int64(i), At: at.Add(time.Duration(i) * time.Second), ActorID: fmt.Sprintf("%032x", i%3), ActorName: fmt.Sprintf("user%d", i%3),
			Action: bitnobi.ActionDataSourceAccess, TargetType: "datasource", TargetID: fmt.Sprintf("%032x", i%5),
			Detail: fmt.Sprintf(`{"n":%d}`, i), RemoteAddr: "10.0.0.1", PrevHash: prev,
		}
		e.Hash = e.ComputeHash()
		prev = e.Hash
		fields := map[string]any{
			"seq": e.Seq, "at": bitnobi.FormatTime(e.At), "actor_id": e.ActorID, "actor_name": e.ActorName,
			"action": e.Action, "target_type": e.TargetType, "target_id": e.TargetID, "detail": e.Detail,
			"remote_addr": e.RemoteAddr, "remote_user": e.RemoteUser, "prev_hash": e.PrevHash, "hash": e.Hash,
		}
		row := make([]any, len(t.Columns))
		for k, c := range t.Columns {
			row[k] = fields[c.Name]
		}
		rows = append(rows, row)
	}
	return rows
}

// auditTampering lists ways to break a chain of 10 entries, each with
// the error that names the first bad entry.
var auditTampering = []struct {
	name   string
	tamper func(col func(string) int, rows [][]any) [][]any
	want   string // "" for an intact chain
}{
	{"Intact", func(col func(string) int, rows [][]any) [][]any { return rows }, ""},
	{"Empty", func(col func(string) int, rows [][]any) [][]any { return nil }, ""},
	{"Altered", func(col func(string) int, rows [][]any) [][]any {
		rows[4][col("detail")] = `{"n":500}`
		return rows
	}, "audit chain broken at seq 5: content does not match its hash (entry altered)"},
	{"Removed", func(col func(string) int, rows [][]any) [][]any {
		return slices.Delete(rows, 6, 7)
	}, "audit chain broken at seq 8: expected seq 7 (entries missing)"},
	{"FirstRemoved", func(col func(string) int, rows [][]any) [][]any {
		return rows[1:]
	}, "audit chain broken at seq 2: expected seq 1 (entries missing)"},
	{"Relinked", func(col func(string) int, rows [][]any) [][]any {
		rows[2][col("prev_hash")] = rows[0][col("hash")]
		return rows
	}, "audit chain broken at seq 3: prev_hash does not match entry 2"},
	{"BadTime", func(col func(string) int, rows [][]any) [][]any {
		rows[3][col("at")] = "yesterday"
		return rows
	}, `audit chain broken at seq 4: parse stored time "yesterday"`},
}

func TestAuditRows(t *testing.T) { dbtest.Run(t, testAuditRows) }

// testAuditRows checks a chain with AuditRows, as the rows come, and
// with VerifyAudit after loading them into audit_log, and checks that the
// two agree: the same verdict, the same error, the same count and last
// hash.
func testAuditRows(t *testing.T, engine string) {
	ctx := context.Background()
	for _, tt := range auditTampering {
		t.Run(tt.name, func(t *testing.T) {
			db := dbtest.Open(t, engine)
			tables, err := db.StateTables(ctx, db.Read)
			if err != nil {
				t.Fatal(err)
			}
			i := slices.IndexFunc(tables, func(t store.Table) bool { return t.Name == "audit_log" })
			tbl := tables[i]
			col := func(name string) int {
				return slices.IndexFunc(tbl.Columns, func(c store.Column) bool { return c.Name == name })
			}
			rows := tt.tamper(col, auditRows(tbl, 10))

			check, err := store.NewAuditRows(tbl)
			if err != nil {
				t.Fatal(err)
			}
			var streamErr error
			for _, row := range rows {
				if streamErr = check.Check(row); streamErr != nil {
					break
				}
			}

			err = db.WriteTx(ctx, func(tx *store.Tx) error {
				im, err := db.NewImporter(ctx, tx, tbl)
				if err != nil {
					return err
				}
				for _, row := range rows {
					if err := im.Insert(ctx, row); err != nil {
						im.Close()
						return err
					}
				}
				return im.Close()
			})
			if err != nil {
				t.Fatal(err)
			}
			n, last, verifyErr := store.VerifyAudit(ctx, db.Read)

			if tt.want == "" {
				if streamErr != nil || verifyErr != nil {
					t.Fatalf("AuditRows: %v; VerifyAudit: %v; want both nil", streamErr, verifyErr)
				}
			} else {
				for name, err := range map[string]error{"AuditRows": streamErr, "VerifyAudit": verifyErr} {
					if !errors.Is(err, store.ErrAuditChain) || len(err.Error()) < len(tt.want) || err.Error()[:len(tt.want)] != tt.want {
						t.Errorf("%s: %v, want an error starting %q", name, err, tt.want)
					}
				}
				if streamErr == nil || verifyErr == nil || streamErr.Error() != verifyErr.Error() {
					t.Errorf("AuditRows: %v; VerifyAudit: %v; want the same error", streamErr, verifyErr)
				}
			}
			if check.Count() != n || check.Last() != last {
				t.Errorf("AuditRows: %d entries, last %q; VerifyAudit: %d, %q", check.Count(), check.Last(), n, last)
			}
		})
	}
}

// TestAuditRows_Types refuses rows whose values audit_log cannot hold as
// they are, and a table without audit_log's columns.
func TestAuditRows_Types(t *testing.T) {
	tbl := store.Table{Name: "audit_log"}
	for _, name := range []string{"hash", "seq", "at", "actor_id", "actor_name", "action", "target_type", "target_id", "detail", "remote_addr", "remote_user", "prev_hash", "extra"} {
		typ := "TEXT"
		if name == "seq" {
			typ = "INTEGER"
		}
		tbl.Columns = append(tbl.Columns, store.Column{Name: name, Type: typ})
	}
	for _, tt := range []struct {
		name   string
		col    int
		value  any
		errMsg string
	}{
		{"SeqText", 1, "1", "audit chain broken after seq 0: audit_log.seq holds string, not an integer"},
		{"SeqNull", 1, nil, "audit chain broken after seq 0: audit_log.seq holds <nil>, not an integer"},
		{"DetailNull", 8, nil, "audit chain broken at seq 1: audit_log.detail holds <nil>, not text"},
		{"HashNumber", 0, int64(5), "audit chain broken at seq 1: audit_log.hash holds int64, not text"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			check, err := store.NewAuditRows(tbl)
			if err != nil {
				t.Fatal(err)
			}
			row := auditRows(tbl, 1)[0]
			row[tt.col] = tt.value
			err = check.Check(row)
			if !errors.Is(err, store.ErrAuditChain) || err.Error() != tt.errMsg {
				t.Fatalf("Check: %v, want %q", err, tt.errMsg)
			}
		})
	}
	t.Run("Intact", func(t *testing.T) {
		check, err := store.NewAuditRows(tbl)
		if err != nil {
			t.Fatal(err)
		}
		for _, row := range auditRows(tbl, 3) {
			if err := check.Check(row); err != nil {
				t.Fatal(err)
			}
		}
		if check.Count() != 3 {
			t.Fatalf("Count()=%d, want 3", check.Count())
		}
	})
	t.Run("MissingColumn", func(t *testing.T) {
		narrow := store.Table{Name: "audit_log", Columns: tbl.Columns[1:]}
		if _, err := store.NewAuditRows(narrow); err == nil {
			t.Fatal("NewAuditRows accepted a table without a hash column")
		}
	})
}
