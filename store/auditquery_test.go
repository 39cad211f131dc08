package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/internal/dbtest"
	"github.com/bitnobi/bitnobi/store"
	"github.com/bitnobi/bitnobi/store/auditseg"
)

// spreadAudit returns n entries of [variedAudit] in which actor "sparse"
// does entries far apart, so that a filter on it reads many frames that
// hold no match: every 509th entry (a prime a little under
// auditseg.FrameEntries, so the matches fall at every position of a
// frame in turn), and a run around the first frame boundaries, where a
// page takes a frame's last entry and the next frame's first.
func spreadAudit(n int, start time.Time) []*bitnobi.AuditEntry {
	es := variedAudit(n, start)
	for i, e := range es {
		if i%509 == 0 || (i >= auditseg.FrameEntries-4 && i < auditseg.FrameEntries+4) || (i >= 2*auditseg.FrameEntries-3 && i < 2*auditseg.FrameEntries+3) {
			e.ActorID, e.ActorName = "sparse", "sparse-user"
		}
	}
	return es
}

// TestFindAudit_SpreadMatches: a filtered query whose matches are spread
// over many frames of several sealed segments, paged with small and
// large pages, on a cold cache (a new handle for each page) and a warm
// one (where a later page goes on hashing a frame an earlier page hashed
// in part), returns exactly the entries of the unfiltered log that
// match, Hash and PrevHash included, as audit_log held them before the
// seal.
func TestFindAudit_SpreadMatches(t *testing.T) { dbtest.Run(t, testFindAudit_SpreadMatches) }

func testFindAudit_SpreadMatches(t *testing.T, engine string) {
	ctx := context.Background()
	const n = 6000
	start := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	plain := openSealDB(t, engine)
	appendAll(t, plain, spreadAudit(n, start))
	all := findAll(t, plain, bitnobi.AuditFilter{}) // the rows, unsealed
	db := openSealDB(t, engine)
	db.AuditSegmentSize = 2048
	appendAll(t, db, spreadAudit(n, start))
	if res, err := db.SealAudit(ctx); err != nil || res.Segments < 2 {
		t.Fatalf("SealAudit()=%+v, %v; want 2 segments or more", res, err)
	}
	if diff := cmp.Diff(all, findAll(t, sameDB(db), bitnobi.AuditFilter{})); diff != "" {
		t.Fatalf("unfiltered, sealed (-rows +sealed):\n%s", diff)
	}
	filters := []struct {
		name  string
		f     bitnobi.AuditFilter
		match func(e *bitnobi.AuditEntry) bool
	}{
		{"Actor", bitnobi.AuditFilter{ActorID: "sparse"}, func(e *bitnobi.AuditEntry) bool { return e.ActorID == "sparse" }},
		{"ActorAction", bitnobi.AuditFilter{ActorID: "sparse", Action: bitnobi.ActionSignIn},
			func(e *bitnobi.AuditEntry) bool { return e.ActorID == "sparse" && e.Action == bitnobi.ActionSignIn }},
		{"Action", bitnobi.AuditFilter{Action: bitnobi.ActionWorkflowStart}, func(e *bitnobi.AuditEntry) bool { return e.Action == bitnobi.ActionWorkflowStart }},
	}
	for _, tt := range filters {
		var want []bitnobi.AuditEntry
		for i := range all {
			if tt.match(&all[i]) {
				want = append(want, all[i])
			}
		}
		if len(want) < 8 {
			t.Fatalf("%s: %d entries match, too few to page through", tt.name, len(want))
		}
		for _, limit := range []int{1, 3, 100} {
			t.Run(fmt.Sprintf("%s/%d", tt.name, limit), func(t *testing.T) {
				warm := sameDB(db)
				f := tt.f
				f.Limit = limit
				for _, pass := range []string{"cold", "warm"} {
					var got []bitnobi.AuditEntry
					f.AfterSeq = 0
					for page := 0; page <= len(want); page++ {
						h := warm
						if pass == "cold" {
							h = sameDB(db)
						}
						es, err := (&store.AuditService{DB: h}).FindAuditEntries(adminCtx, f)
						if err != nil {
							t.Fatalf("%s page after %d: %v", pass, f.AfterSeq, err)
						}
						got = append(got, derefAudit(es)...)
						if len(es) < limit {
							break
						}
						f.AfterSeq = es[len(es)-1].Seq
					}
					if diff := cmp.Diff(want, got); diff != "" {
						t.Fatalf("%s pages of %d (-unfiltered +filtered):\n%s", pass, limit, diff)
					}
				}
			})
		}
	}
}

// forgeSegment replaces the file of the sealed segment seg of db with one
// of its entries as alter leaves them, encoded as the sealer does (the
// hashes are not recomputed: the file does not keep them), and points
// seg's index row at it: a segment file forged, or damaged, with every
// checksum made to match.
func forgeSegment(t *testing.T, db *store.DB, seg store.AuditSegment, alter func(es []bitnobi.AuditEntry)) {
	t.Helper()
	data, err := os.ReadFile(db.Blobs.Path(seg.BlobID))
	if err != nil {
		t.Fatal(err)
	}
	es, err := auditseg.Decode(data, seg.Entries)
	if err != nil {
		t.Fatal(err)
	}
	alter(es)
	forged, err := auditseg.Encode(es)
	if err != nil {
		t.Fatal(err)
	}
	id, size, err := db.Blobs.Put(context.Background(), bytes.NewReader(forged), -1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Write.Exec(db.Dialect.Rebind(`INSERT INTO blobs (id, size, created_at) VALUES (?, ?, ?)`), id, size, bitnobi.FormatTime(time.Now())); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Write.Exec(db.Dialect.Rebind(`UPDATE audit_segments SET blob_id = ?, size = ? WHERE first_seq = ?`), id, size, seg.FirstSeq); err != nil {
		t.Fatal(err)
	}
}

// TestFindAudit_ForgedSegment: a page reader refuses a segment file whose
// entries do not chain as its index row and frame table say, even when
// its checksums match. PrevHash: the file's first prev_hash is not its
// row's, so every hash the reader would compute for its first frame is
// one the log never held; the reader compares the two before it reads a
// frame, whatever the page takes. Altered: an entry of the first frame
// is altered, so that the frame's last hash is not the next frame's
// prev_hash; a page that takes the frame's last entry hashes it whole
// and refuses it, and a page that takes only entries before the altered
// one, whose hashes are the log's, is served.
func TestFindAudit_ForgedSegment(t *testing.T) { dbtest.Run(t, testFindAudit_ForgedSegment) }

func testFindAudit_ForgedSegment(t *testing.T, engine string) {
	ctx := context.Background()
	start := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name  string
		alter func(es []bitnobi.AuditEntry)
		// f is the page read; want is what the error names ("" for none).
		f    bitnobi.AuditFilter
		want string
	}{
		{"PrevHash", func(es []bitnobi.AuditEntry) { es[0].PrevHash = strings.Repeat("0", 64) },
			bitnobi.AuditFilter{Limit: 2}, "prev_hash is not its index row's"},
		{"PrevHashFiltered", func(es []bitnobi.AuditEntry) { es[0].PrevHash = strings.Repeat("0", 64) },
			bitnobi.AuditFilter{ActorID: "sparse", Limit: 1}, "prev_hash is not its index row's"},
		{"Altered", func(es []bitnobi.AuditEntry) { es[100].Detail = `{"forged":true}` },
			bitnobi.AuditFilter{ActorID: "sparse", Limit: 10}, "entry altered"},
		{"AlteredAfterPage", func(es []bitnobi.AuditEntry) { es[100].Detail = `{"forged":true}` },
			bitnobi.AuditFilter{Limit: 50}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			db := openSealDB(t, engine)
			db.AuditSegmentSize = 2048
			appendAll(t, db, spreadAudit(3000, start))
			// The page before the seal: the rows.
			rows, err := (&store.AuditService{DB: db}).FindAuditEntries(adminCtx, c.f)
			if err != nil {
				t.Fatal(err)
			}
			want := derefAudit(rows)
			if len(want) == 0 {
				t.Fatalf("%+v: no entries", c.f)
			}
			// Altered's page must take the first frame's last entry (seq
			// FrameEntries: the first segment starts at seq 1), and
			// AlteredAfterPage's none after the altered one.
			switch last := want[len(want)-1].Seq; {
			case c.name == "Altered" && !slices.ContainsFunc(want, func(e bitnobi.AuditEntry) bool { return e.Seq == auditseg.FrameEntries }):
				t.Fatalf("%+v: the page does not take seq %d", c.f, auditseg.FrameEntries)
			case c.name == "AlteredAfterPage" && last > 100:
				t.Fatalf("%+v: the page takes seq %d, after the altered entry", c.f, last)
			}
			if _, err := db.SealAudit(ctx); err != nil {
				t.Fatal(err)
			}
			segs, err := store.AuditSegments(ctx, db.Read)
			if err != nil || len(segs) == 0 {
				t.Fatalf("segments %v, %v", segs, err)
			}
			// The first segment's first frame holds the page's entries.
			forgeSegment(t, db, segs[0], c.alter)
			es, err := (&store.AuditService{DB: sameDB(db)}).FindAuditEntries(adminCtx, c.f)
			if c.want == "" {
				if err != nil {
					t.Fatalf("FindAuditEntries(%+v): %v", c.f, err)
				}
				if diff := cmp.Diff(want, derefAudit(es)); diff != "" || len(es) != c.f.Limit {
					t.Fatalf("FindAuditEntries(%+v): %d entries (-rows +forged):\n%s", c.f, len(es), diff)
				}
				return
			}
			if !errors.Is(err, store.ErrAuditChain) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "sealed segment seq ") {
				t.Fatalf("FindAuditEntries(%+v): %d entries, %v; want %v naming the segment and %q", c.f, len(es), err, store.ErrAuditChain, c.want)
			}
		})
	}
}
