package seed

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/blob"
	"github.com/bitnobi/bitnobi/internal/testutil"
	"github.com/bitnobi/bitnobi/sqlite"
	"github.com/bitnobi/bitnobi/store"
)

// testWorld returns a small world with fixed IDs, so that two seeders
// make the same audit entries, hashes and all.
func testWorld() *world {
	w := &world{byID: map[string]*user{}}
	for i := range 5 {
		u := &user{u: &bitnobi.User{ID: fmt.Sprintf("user%02d", i), Username: fmt.Sprintf("user.%d", i)}, ip: fmt.Sprintf("10.0.0.%d", i+1)}
		w.users = append(w.users, u)
		w.byID[u.u.ID] = u
	}
	w.admin = w.users[0]
	for i := range 3 {
		owner := w.users[i+1]
		w.files = append(w.files, &fileSource{ds: &bitnobi.DataSource{ID: fmt.Sprintf("ds%02d", i), Name: fmt.Sprintf("file %d", i), OwnerID: owner.u.ID}, owner: owner})
		w.flows = append(w.flows, &flow{w: &bitnobi.Workflow{ID: fmt.Sprintf("wf%02d", i), Name: fmt.Sprintf("flow %d", i)}, owner: owner})
		w.reports = append(w.reports, &bitnobi.Report{ID: fmt.Sprintf("rep%02d", i), Name: fmt.Sprintf("report %d", i), OwnerID: owner.u.ID})
		w.policies = append(w.policies, &bitnobi.Policy{ID: fmt.Sprintf("pol%02d", i), Name: fmt.Sprintf("policy %d", i), OwnerID: owner.u.ID})
	}
	w.remotes = append(w.remotes, &bitnobi.RemoteServer{ID: "rs00", Name: "Partner", ServiceID: "svc-partner"})
	return w
}

// TestAppendAudit_Sealed checks that the seed's audit history written as
// sealed segments ([store.DB.ImportSealedSegment]) is exactly what
// appending it as rows and sealing them (the seed's old way, and a
// server's) leaves: the same audit_segments rows, the same blobs, the
// same live rows; and that the log verifies, segment files and all.
func TestAppendAudit_Sealed(t *testing.T) {
	ctx := context.Background()
	const segSize = 64
	for _, tc := range []struct {
		name           string
		before, n      int64 // entries the services wrote, and the history
		imported, live int64 // segments the history imports, rows left live
	}{
		{"EmptyLog", 0, 1000, 15, 41},          // 1-63 ... 896-959 imported; 960-1000 live
		{"ServicesFirst", 10, 1000, 14, 51},    // 1-63 as rows, sealed; 64-127 ... 896-959; 960-1010
		{"ServicesEndSegment", 63, 500, 7, 52}, // 64-127 ... 448-511; 512-563
		{"ServicesTwoSegments", 100, 700, 10, 33},
		{"EndsAtSegmentEnd", 10, 181, 1, 64},  // to seq 191: 128-191 is full but has no newer entry
		{"WithinHeadSegment", 10, 100, 0, 47}, // to seq 110: nothing to import
	} {
		t.Run(tc.name, func(t *testing.T) {
			dump := func(sealed bool) (map[string][]string, string) {
				t.Helper()
				dir := t.TempDir()
				db, err := sqlite.Open(ctx, filepath.Join(dir, "bitnobi.db"))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				db.Blobs, db.AuditSegmentSize = blob.NewStore(filepath.Join(dir, "blobs")), segSize
				var log bytes.Buffer
				s := &Seeder{DB: db, Seed: 5, Log: &log}
				s.init()
				// The services' entries, the same in both.
				es := make([]*bitnobi.AuditEntry, tc.before)
				for i := range es {
					es[i] = &bitnobi.AuditEntry{At: DefaultStart.Add(time.Duration(i) * time.Minute), ActorID: "user00", ActorName: "admin",
						Action: bitnobi.ActionUserUpdate, TargetType: "user", TargetID: fmt.Sprint(i), Detail: `{"fields":"attributes"}`}
				}
				if err := db.WriteTx(ctx, func(tx *store.Tx) error { return tx.AppendAuditBatch(ctx, es) }); err != nil {
					t.Fatal(err)
				}
				if err := s.appendAudit(ctx, testWorld(), tc.n, DefaultStart.Add(time.Hour), 300*24*time.Hour, s.rng(9), sealed); err != nil {
					t.Fatal(err)
				}
				if err := s.sealAudit(ctx); err != nil {
					t.Fatal(err)
				}
				if n, _, err := db.VerifyAudit(ctx, db.Read); err != nil || n != tc.before+tc.n {
					t.Fatalf("VerifyAudit()=%d, %v; want %d entries", n, err, tc.before+tc.n)
				}
				return dumpTables(t, db), log.String()
			}
			want, _ := dump(false)
			got, log := dump(true)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("history written as segments differs from history sealed (-sealed +imported):\n%s", diff)
			}
			if n := int64(len(got["audit_log"])); n != tc.live {
				t.Errorf("%d live rows, want %d", n, tc.live)
			}
			entries := tc.imported * segSize
			if tc.before == 0 {
				entries-- // the first segment holds seq 1 to 63
			}
			wrote := fmt.Sprintf("wrote %d sealed audit segments (%d entries", tc.imported, entries)
			if tc.imported > 0 && !strings.Contains(log, wrote) {
				t.Errorf("the log does not say %q:\n%s", wrote, log)
			}
			if tc.imported == 0 && strings.Contains(log, "wrote ") {
				t.Errorf("the log says segments were written, want none:\n%s", log)
			}
		})
	}
}

// dumpTables returns every row of the tables the audit history is in,
// with every column, as JSON lines (the blobs' times aside: the clock's).
func dumpTables(t *testing.T, db *store.DB) map[string][]string {
	t.Helper()
	return map[string][]string{
		"audit_segments": testutil.Rows(t, db.Read, `SELECT * FROM audit_segments ORDER BY first_seq`),
		"blobs":          testutil.Rows(t, db.Read, `SELECT id, size FROM blobs ORDER BY id`),
		"audit_log":      testutil.Rows(t, db.Read, `SELECT * FROM audit_log ORDER BY seq`),
	}
}
