package store_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/internal/dbtest"
	"github.com/bitnobi/bitnobi/internal/testutil"
	"github.com/bitnobi/bitnobi/store"
)

// chained returns entries as a chain in memory, from seq first after an
// entry whose hash is prevHash, as appending them would make it (but At
// kept in its zone: the import must store and hash it in UTC).
func chained(es []*bitnobi.AuditEntry, first int64, prevHash string) []bitnobi.AuditEntry {
	out := derefAudit(es)
	for i := range out {
		e := &out[i]
		e.Seq, e.PrevHash = first+int64(i), prevHash
		e.Hash = e.ComputeHash()
		prevHash = e.Hash
	}
	return out
}

// dumpAudit returns every row of the tables a seal writes, with every
// column, as JSON lines: what must be equal between two ways to the same
// sealed log (blobs.created_at aside, the clock's).
func dumpAudit(t *testing.T, db *store.DB) map[string][]string {
	t.Helper()
	return map[string][]string{
		"audit_segments": testutil.Rows(t, db.Read, `SELECT * FROM audit_segments ORDER BY first_seq`),
		"blobs":          testutil.Rows(t, db.Read, `SELECT id, size FROM blobs ORDER BY id`),
		"audit_log":      testutil.Rows(t, db.Read, `SELECT * FROM audit_log ORDER BY seq`),
	}
}

// TestImportSealedSegment checks that importing whole segments and
// appending the rest gives exactly what appending everything and sealing
// gives: the same audit_segments rows, blobs and live rows, and a log
// that verifies, files and all. Whether the services' first entries are
// live rows (sealed first by SealAuditFull) or nothing is there yet.
func TestImportSealedSegment(t *testing.T) { dbtest.Run(t, testImportSealedSegment) }

func testImportSealedSegment(t *testing.T, engine string) {
	ctx := context.Background()
	start := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name      string
		live, all int // entries appended before, and in all
	}{
		{"Empty", 0, 95},
		{"EndsAtSegmentEnd", 0, 39}, // 30-39 is full but has no newer entry: it stays live
		{"OneAfterSegmentEnd", 0, 40},
		{"LiveHead", 4, 73},
		{"LiveHeadFull", 9, 52},
	} {
		t.Run(tc.name, func(t *testing.T) {
			es := auditEntries(tc.all, start)
			sealed := openSealDB(t, engine)
			appendAll(t, sealed, es)
			if _, err := sealed.SealAudit(ctx); err != nil {
				t.Fatal(err)
			}

			imported := openSealDB(t, engine)
			es = auditEntries(tc.all, start)
			// As the seeder does: the rest of the live head's segment as
			// rows, sealed, then whole segments up to the last one that
			// has a newer entry, then the rest as rows.
			n := int64(sealSize)
			seq := int64(tc.live)
			if seq > 0 {
				seq = (seq/n+1)*n - 1
				appendAll(t, imported, es[:seq])
				res, err := imported.SealAuditFull(ctx)
				if err != nil || res.Segments != 1 || res.SealedUpTo != seq {
					t.Fatalf("SealAuditFull()=%+v, %v; want seq 1-%d sealed", res, err, seq)
				}
				if got := storedAudit(t, imported); len(got) != 0 {
					t.Fatalf("after SealAuditFull, audit_log holds %d rows, want none", len(got))
				}
			}
			prev := ""
			if seq > 0 {
				prev = es[seq-1].Hash
			}
			for importEnd := int64(tc.all)/n*n - 1; ((seq+1)/n+1)*n-1 <= importEnd; {
				last := ((seq+1)/n+1)*n - 1
				seg := chained(es[seq:last], seq+1, prev)
				got, err := imported.ImportSealedSegment(ctx, seg)
				if err != nil {
					t.Fatalf("ImportSealedSegment(seq %d-%d): %v", seq+1, last, err)
				}
				if got.FirstSeq != seq+1 || got.LastSeq != last || got.LastHash != seg[len(seg)-1].Hash || got.BlobID == "" {
					t.Fatalf("ImportSealedSegment(seq %d-%d)=%+v", seq+1, last, got)
				}
				seq, prev = got.LastSeq, got.LastHash
			}
			appendAll(t, imported, es[seq:])
			if res, err := imported.SealAudit(ctx); err != nil || res.Segments != 0 {
				t.Fatalf("SealAudit after the import sealed %d segments (%v), want none: the import sealed all there was", res.Segments, err)
			}

			want, got := dumpAudit(t, sealed), dumpAudit(t, imported)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("imported differs from sealed (-sealed +imported):\n%s", diff)
			}
			if got, want := len(got["audit_segments"]), tc.all/sealSize; got != want {
				t.Errorf("%d segments, want %d", got, want)
			}
			if n, last, err := imported.VerifyAudit(ctx, imported.Read); err != nil || n != int64(tc.all) || last != es[len(es)-1].Hash {
				t.Fatalf("VerifyAudit()=%d, %.12s, %v; want %d entries", n, last, err, tc.all)
			}
		})
	}
}

// TestImportSealedSegment_Refuses checks that an import that is not
// exactly the next segment, as SealAudit would seal it, is refused with
// ErrAuditChain and leaves nothing behind: no segment, no blob row, no
// file.
func TestImportSealedSegment_Refuses(t *testing.T) { dbtest.Run(t, testImportSealedSegment_Refuses) }

func testImportSealedSegment_Refuses(t *testing.T, engine string) {
	ctx := context.Background()
	start := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	first := func() []bitnobi.AuditEntry { return chained(auditEntries(9, start), 1, "") }
	for _, tc := range []struct {
		name    string
		want    string                           // in the error
		prepare func(t *testing.T, db *store.DB) // the state before
		entries func() []bitnobi.AuditEntry
	}{
		{"Altered", "entry altered", nil, func() []bitnobi.AuditEntry {
			es := first()
			es[4].Detail = `{"name":"other.csv"}`
			return es
		}},
		{"BrokenLink", "prev_hash does not match entry 5", nil, func() []bitnobi.AuditEntry {
			es := first()
			es[5].PrevHash = es[3].Hash
			es[5].Hash = es[5].ComputeHash()
			return es
		}},
		{"SeqGap", "entries missing", nil, func() []bitnobi.AuditEntry {
			es := first()
			es[6].Seq++
			es[6].Hash = es[6].ComputeHash()
			return es
		}},
		{"PartOfSegment", "8 entries, not the 9", nil, func() []bitnobi.AuditEntry { return first()[:8] }},
		{"MoreThanSegment", "10 entries, not the 9", nil, func() []bitnobi.AuditEntry { return chained(auditEntries(10, start), 1, "") }},
		{"NotSegmentStart", "does not start a segment", nil, func() []bitnobi.AuditEntry { return chained(auditEntries(10, start), 5, "") }},
		{"NotGenesis", "not the hash of the last sealed entry, seq 0", nil, func() []bitnobi.AuditEntry { return chained(auditEntries(9, start), 1, first()[8].Hash) }},
		{"GapAfterSealed", "the next starts at seq 1", nil, func() []bitnobi.AuditEntry { return chained(auditEntries(10, start), 10, first()[8].Hash) }},
		{"OverlapLive", "in or below its range", func(t *testing.T, db *store.DB) {
			appendAll(t, db, auditEntries(3, start))
		}, first},
		{"LiveBelow", "the next starts at seq 1", func(t *testing.T, db *store.DB) {
			// seq 1-9 live, not sealed: the next segment cannot be sealed yet.
			appendAll(t, db, auditEntries(9, start))
		}, func() []bitnobi.AuditEntry { return chained(auditEntries(10, start), 10, first()[8].Hash) }},
		{"OverlapSealed", "the next starts at seq 10", func(t *testing.T, db *store.DB) {
			if _, err := db.ImportSealedSegment(ctx, first()); err != nil {
				t.Fatal(err)
			}
		}, first},
		{"OtherChain", "not the hash of the last sealed entry, seq 9", func(t *testing.T, db *store.DB) {
			if _, err := db.ImportSealedSegment(ctx, first()); err != nil {
				t.Fatal(err)
			}
		}, func() []bitnobi.AuditEntry {
			// Follows seq 9, but of another chain.
			return chained(auditEntries(10, start), 10, chained(auditEntries(9, start.Add(time.Hour)), 1, "")[8].Hash)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := openSealDB(t, engine)
			if tc.prepare != nil {
				tc.prepare(t, db)
			}
			before := dumpAudit(t, db)
			files := blobFiles(t, db)
			seg, err := db.ImportSealedSegment(ctx, tc.entries())
			if !errors.Is(err, store.ErrAuditChain) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ImportSealedSegment()=%+v, %v; want ErrAuditChain, %q", seg, err, tc.want)
			}
			if diff := cmp.Diff(before, dumpAudit(t, db)); diff != "" {
				t.Errorf("a refused import changed the database:\n%s", diff)
			}
			if got := blobFiles(t, db); got != files {
				t.Errorf("a refused import left %d blob files, want %d", got, files)
			}
			if _, _, err := db.VerifyAudit(ctx, db.Read); err != nil {
				t.Errorf("VerifyAudit after a refused import: %v", err)
			}
		})
	}
}

// TestImportPreparedSegment checks that segments prepared at once, on
// goroutines of their own, import in order, and only in order, into the
// log sealing them gives.
func TestImportPreparedSegment(t *testing.T) { dbtest.Run(t, testImportPreparedSegment) }

func testImportPreparedSegment(t *testing.T, engine string) {
	ctx := context.Background()
	start := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	sealed := openSealDB(t, engine)
	appendAll(t, sealed, auditEntries(30, start))
	if _, err := sealed.SealAudit(ctx); err != nil {
		t.Fatal(err)
	}

	db := openSealDB(t, engine)
	es := chained(auditEntries(30, start), 1, "")
	bounds := [][2]int{{0, 9}, {9, 19}, {19, 29}}
	ps := make([]*store.PreparedSegment, len(bounds))
	var wg sync.WaitGroup
	for i, b := range bounds {
		wg.Go(func() {
			p, err := db.PrepareSealedSegment(ctx, es[b[0]:b[1]])
			if err != nil {
				t.Errorf("PrepareSealedSegment(seq %d-%d): %v", b[0]+1, b[1], err)
			}
			ps[i] = p
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if _, err := db.ImportPreparedSegment(ctx, ps[1]); !errors.Is(err, store.ErrAuditChain) {
		t.Fatalf("ImportPreparedSegment(seq 10-19) first = %v, want ErrAuditChain", err)
	}
	for i, p := range ps {
		if _, err := db.ImportPreparedSegment(ctx, p); err != nil {
			t.Fatalf("ImportPreparedSegment(%d): %v", i, err)
		}
	}
	if _, err := db.ImportPreparedSegment(ctx, ps[2]); !errors.Is(err, store.ErrAuditChain) {
		t.Fatalf("ImportPreparedSegment(seq 20-29) again = %v, want ErrAuditChain", err)
	}
	appendAll(t, db, derefPtrs(es[29:]))
	if diff := cmp.Diff(dumpAudit(t, sealed), dumpAudit(t, db)); diff != "" {
		t.Errorf("imported differs from sealed (-sealed +imported):\n%s", diff)
	}
	if n, _, err := db.VerifyAudit(ctx, db.Read); err != nil || n != 30 {
		t.Fatalf("VerifyAudit()=%d, %v; want 30", n, err)
	}
}

// derefPtrs returns pointers to copies of es, with their seq and hashes
// cleared, for appending again.
func derefPtrs(es []bitnobi.AuditEntry) []*bitnobi.AuditEntry {
	out := make([]*bitnobi.AuditEntry, len(es))
	for i := range es {
		e := es[i]
		e.Seq, e.PrevHash, e.Hash = 0, "", ""
		out[i] = &e
	}
	return out
}

// TestImportSealedSegment_Raced checks that an import refuses when
// another process sealed the same range between its checks and its
// transaction.
func TestImportSealedSegment_Raced(t *testing.T) { dbtest.Run(t, testImportSealedSegment_Raced) }

func testImportSealedSegment_Raced(t *testing.T, engine string) {
	ctx := context.Background()
	db := openSealDB(t, engine)
	other := sameDB(db)
	es := chained(auditEntries(9, time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)), 1, "")
	store.SetAfterSegmentPut(db, func(string) {
		if _, err := other.ImportSealedSegment(ctx, es); err != nil {
			t.Errorf("the other process's import: %v", err)
		}
	})
	_, err := db.ImportSealedSegment(ctx, es)
	if !errors.Is(err, store.ErrAuditChain) || !strings.Contains(err.Error(), "another process") {
		t.Fatalf("ImportSealedSegment() racing another = %v, want ErrAuditChain", err)
	}
	segs, err := store.AuditSegments(ctx, db.Read)
	if err != nil || len(segs) != 1 {
		t.Fatalf("segments %+v, %v; want the other's one", segs, err)
	}
	if n, _, err := db.VerifyAudit(ctx, db.Read); err != nil || n != 9 {
		t.Fatalf("VerifyAudit()=%d, %v; want 9", n, err)
	}
}

// blobFiles counts the files of db's blob store.
func blobFiles(t *testing.T, db *store.DB) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(db.Blobs.Dir, func(_ string, d os.DirEntry, err error) error {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err == nil && !d.IsDir() {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSealAuditFull checks that SealAuditFull seals the head's segment
// when audit_log holds all of it, and only then.
func TestSealAuditFull(t *testing.T) { dbtest.Run(t, testSealAuditFull) }

func testSealAuditFull(t *testing.T, engine string) {
	ctx := context.Background()
	db := openSealDB(t, engine)
	es := auditEntries(29, time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC))
	appendAll(t, db, es[:15])
	res, err := db.SealAuditFull(ctx)
	if err != nil || res.Segments != 1 || res.SealedUpTo != 9 {
		t.Fatalf("SealAuditFull with seq 1-15 = %+v, %v; want seq 1-9 sealed", res, err)
	}
	appendAll(t, db, es[15:19])
	res, err = db.SealAuditFull(ctx)
	if err != nil || res.Segments != 1 || res.SealedUpTo != 19 {
		t.Fatalf("SealAuditFull with seq 10-19 = %+v, %v; want seq 10-19 sealed", res, err)
	}
	if got := storedAudit(t, db); len(got) != 0 {
		t.Fatalf("audit_log holds %d rows, want none", len(got))
	}
	// The chain goes on after the sealed head.
	appendAll(t, db, es[19:])
	if got, want := es[19].PrevHash, es[18].Hash; got != want {
		t.Fatalf("seq 20's PrevHash %.12s, want %.12s", got, want)
	}
	if res, err := db.SealAuditFull(ctx); err != nil || res.Segments != 1 {
		t.Fatalf("SealAuditFull with seq 20-29 = %+v, %v; want 1 segment", res, err)
	}
	if n, _, err := db.VerifyAudit(ctx, db.Read); err != nil || n != 29 {
		t.Fatalf("VerifyAudit()=%d, %v; want 29", n, err)
	}
}

// TestImportPreparedSegment_NoBlobs imports a segment prepared on a
// database with a blob store into one without: an error, not a panic.
func TestImportPreparedSegment_NoBlobs(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	p, err := openSealDB(t, "sqlite").PrepareSealedSegment(ctx, chained(auditEntries(9, start), 1, ""))
	if err != nil {
		t.Fatal(err)
	}
	db := dbtest.Open(t, "sqlite")
	db.AuditSegmentSize = sealSize
	if _, err := db.ImportPreparedSegment(ctx, p); err == nil || !strings.Contains(err.Error(), "no blob store") {
		t.Fatalf("ImportPreparedSegment without a blob store = %v, want an error saying so", err)
	}
	if segs, err := store.AuditSegments(ctx, db.Read); err != nil || len(segs) != 0 {
		t.Fatalf("segments %v, %v; want none", segs, err)
	}
}
