package backup

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/backup/backuptest"
	"github.com/bitnobi/bitnobi/sqlite"
	"github.com/bitnobi/bitnobi/store"
)

// TestExportSegments_HelpersSeeTheSnapshot changes audit_log after the
// backup's snapshot and before its helper transactions start theirs:
// the backup must hold the snapshot's rows, not the later ones.
func TestExportSegments_HelpersSeeTheSnapshot(t *testing.T) {
	defer SetSegmentKeys(512)()
	gap := fmt.Sprint(2*segmentKeys + 5) // in the last range, which a helper exports
	cases := []struct {
		name    string
		setup   string // SQL run before the backup
		change  string // SQL run between the snapshots; "" appends entries
		helpers bool   // whether helpers may export
	}{
		{"Appended", "", "", true},
		{"Rewritten", "", `UPDATE audit_log SET detail = 'rewritten'`, true},
		{"Deleted", "", `DELETE FROM audit_log WHERE seq > 100`, true},
		// An insert into a gap is not an append: it replaces the stamp.
		{"GapFilled", `DELETE FROM audit_log WHERE seq = ` + gap,
			`INSERT INTO audit_log (seq, at, action, prev_hash, hash) VALUES (` + gap + `, '2025-01-01T00:00:00.000000000Z', 'late', '', '')`, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			root := t.TempDir()
			d := backuptest.NewDataDir(t, filepath.Join(root, "data"))
			appendEntries(t, d.DB, int(2*segmentKeys+10))
			if c.setup != "" {
				if _, err := d.DB.Write.ExecContext(ctx, c.setup); err != nil {
					t.Fatal(err)
				}
			}
			want := backuptest.Dump(t, d.DB)["audit_log"]
			ran := false
			testHookBeforeHelpers = func() {
				ran = true
				if c.change == "" {
					appendEntries(t, d.DB, 50)
				} else if _, err := d.DB.Write.ExecContext(ctx, c.change); err != nil {
					t.Error(err)
				}
			}
			defer func() { testHookBeforeHelpers = nil }()
			// Progress is called one call at a time, helpers or not: under
			// -race, this counter would show calls that overlap.
			calls := 0
			res, err := Create(ctx, CreateOptions{Local: sqlite.Local{}, DataDir: d.Dir.Path(), Folder: filepath.Join(root, "backup"),
				Progress: func(Progress) { calls++ }})
			if err != nil {
				t.Fatal(err)
			}
			if calls == 0 {
				t.Fatal("no progress reported")
			}
			if ran != c.helpers {
				t.Fatalf("helpers ran: %v, want %v", ran, c.helpers)
			}
			r, err := OpenReader(res.Path, nil)
			if err != nil {
				t.Fatal(err)
			}
			rows, err := r.Rows(ctx, "audit_log")
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var got []string
			for rows.Next() {
				b, err := json.Marshal(rows.Row())
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, string(b))
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Fatalf("backup holds %d audit entries, not the snapshot's %d", len(got), len(want))
			}
		})
	}
}

// appendEntries appends n audit entries in one transaction.
func appendEntries(tb testing.TB, db *store.DB, n int) {
	tb.Helper()
	ctx := context.Background()
	entries := make([]*bitnobi.AuditEntry, n)
	err := db.WriteTx(ctx, func(tx *store.Tx) error {
		for i := range entries {
			entries[i] = &bitnobi.AuditEntry{At: tx.Now(), ActorName: "test", Action: "test.append", TargetID: fmt.Sprint(i)}
		}
		return tx.AppendAuditBatch(ctx, entries)
	})
	if err != nil {
		tb.Fatal(err)
	}
}
