package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/blob"
	"github.com/bitnobi/bitnobi/internal/dbtest"
	"github.com/bitnobi/bitnobi/store"
)

// sealSize is the segment size of the sealing tests.
const sealSize = 10

// openSealDB returns a fresh database with a blob store and segments of
// sealSize entries.
func openSealDB(t *testing.T, engine string) *store.DB {
	t.Helper()
	db := dbtest.Open(t, engine)
	db.Blobs = blob.NewStore(filepath.Join(t.TempDir(), "blobs"))
	db.AuditSegmentSize = sealSize
	return db
}

// variedAudit returns n entries whose actors, actions and target types
// repeat, so that filters match some entries of some segments: actor k
// of 7, but actor "rare" only in entries 33 and 77; and times that go
// back once (entry 50), as a clock may.
func variedAudit(n int, start time.Time) []*bitnobi.AuditEntry {
	actions := []string{bitnobi.ActionSignIn, bitnobi.ActionDataSourceAccess, bitnobi.ActionWorkflowStart}
	types := []string{"user", "datasource", "workflow", ""}
	es := make([]*bitnobi.AuditEntry, n)
	for i := range es {
		k := strconv.Itoa(i % 7)
		es[i] = &bitnobi.AuditEntry{
			At:         start.Add(time.Duration(i) * time.Minute),
			ActorID:    "u" + k,
			ActorName:  "user" + k,
			Action:     actions[i%len(actions)],
			TargetType: types[(i/2)%len(types)],
			TargetID:   "t" + strconv.Itoa(i),
			Detail:     `{"i":` + strconv.Itoa(i) + `}`,
			RemoteAddr: "192.0.2.7",
		}
		if i == 33 || i == 77 {
			es[i].ActorID, es[i].ActorName = "rare", "rare-user"
		}
		if i == 50 {
			es[i].At = start.Add(10 * time.Minute)
		}
	}
	return es
}

func appendAll(t *testing.T, db *store.DB, es []*bitnobi.AuditEntry) {
	t.Helper()
	ctx := context.Background()
	if err := db.WriteTx(ctx, func(tx *store.Tx) error { return tx.AppendAuditBatch(ctx, es) }); err != nil {
		t.Fatal(err)
	}
}

var adminCtx = bitnobi.NewContextWithActor(context.Background(), &bitnobi.Actor{UserID: "admin", Username: "admin", IsAdmin: true})

// findAll pages through FindAuditEntries with f and page size limit.
func findAll(t *testing.T, db *store.DB, f bitnobi.AuditFilter) []bitnobi.AuditEntry {
	t.Helper()
	s := &store.AuditService{DB: db}
	var out []bitnobi.AuditEntry
	for page := 0; ; page++ {
		es, err := s.FindAuditEntries(adminCtx, f)
		if err != nil {
			t.Fatalf("FindAuditEntries(%+v): %v", f, err)
		}
		out = append(out, derefAudit(es)...)
		if len(es) == 0 || (f.Limit > 0 && len(es) < f.Limit) || page > 200 {
			return out
		}
		f.AfterSeq = es[len(es)-1].Seq
	}
}

func TestSealAudit(t *testing.T) { dbtest.Run(t, testSealAudit) }

func testSealAudit(t *testing.T, engine string) {
	ctx := context.Background()
	start := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	plain, sealed := openSealDB(t, engine), openSealDB(t, engine)
	appendAll(t, plain, variedAudit(95, start))
	appendAll(t, sealed, variedAudit(95, start))

	// Segments 1-9, 10-19, ..., 80-89 are full and have a newer entry;
	// 90-95 stay live.
	res, err := sealed.SealAudit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Segments != 9 || res.Entries != 89 || res.SealedUpTo != 89 || res.Bytes <= 0 {
		t.Fatalf("SealAudit()=%+v, want 9 segments of 89 entries", res)
	}
	var live int64
	if err := sealed.Read.QueryRow(`SELECT COUNT(*) FROM audit_log`).Scan(&live); err != nil || live != 6 {
		t.Fatalf("audit_log holds %d rows (%v), want 6", live, err)
	}
	segs, err := store.AuditSegments(ctx, sealed.Read)
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) != 9 || segs[0].FirstSeq != 1 || segs[0].LastSeq != 9 || segs[3].FirstSeq != 30 || segs[3].LastSeq != 39 || !has(segs[3].Actors, "rare") || has(segs[2].Actors, "rare") {
		t.Fatalf("segments %+v", segs)
	}
	// Again: nothing to do.
	if res, err := sealed.SealAudit(ctx); err != nil || res.Segments != 0 || res.SealedUpTo != 89 {
		t.Fatalf("second SealAudit()=%+v, %v, want nothing sealed", res, err)
	}

	t.Run("Find", func(t *testing.T) {
		// A fresh cache, so segments are read from the files too.
		reopened := sameDB(sealed)
		for _, f := range []bitnobi.AuditFilter{
			{},
			{ActorID: "u3"},
			{ActorID: "rare"},
			{ActorID: "nobody"},
			{Action: bitnobi.ActionWorkflowStart},
			{ActorID: "u2", Action: bitnobi.ActionSignIn},
			{Since: start.Add(35 * time.Minute)},
			{Until: start.Add(12 * time.Minute)},
			{Since: start.Add(9 * time.Minute), Until: start.Add(11 * time.Minute)},
			{Since: start.Add(89 * time.Minute), Until: start.Add(93 * time.Minute)},
			{AfterSeq: 85},
			{AfterSeq: 40, ActorID: "u1"},
		} {
			for _, limit := range []int{0, 1, 3, 7, 10, 1000} {
				f.Limit = limit
				t.Run(fmt.Sprintf("%+v", f), func(t *testing.T) {
					want := findAll(t, plain, f)
					if diff := cmp.Diff(want, findAll(t, reopened, f)); diff != "" {
						t.Fatalf("sealed log differs from the unsealed one (-unsealed +sealed):\n%s", diff)
					}
				})
			}
		}
		if got := findAll(t, sealed, bitnobi.AuditFilter{ActorID: "rare"}); len(got) != 2 || got[0].Seq != 34 || got[1].Seq != 78 {
			t.Fatalf("rare actor: %+v", got)
		}
	})

	t.Run("Verify", func(t *testing.T) {
		want := storedAudit(t, plain)
		last := want[len(want)-1].Hash
		for name, verify := range map[string]func(context.Context, store.Querier) (int64, string, error){
			"DB":      sealed.VerifyAudit,
			"Package": store.VerifyAudit,
		} {
			n, h, err := verify(ctx, sealed.Read)
			if err != nil || n != 95 || h != last {
				t.Fatalf("%s VerifyAudit()=%d, %.12s, %v; want 95, %.12s", name, n, h, err, last)
			}
		}
		n, err := (&store.AuditService{DB: sealed}).VerifyAuditChain(adminCtx)
		if err != nil || n != 95 {
			t.Fatalf("VerifyAuditChain()=%d, %v", n, err)
		}
	})

	t.Run("Head", func(t *testing.T) {
		// Appends go on from the live head.
		more := variedAudit(1, start.Add(time.Hour))
		appendAll(t, sealed, more)
		if more[0].Seq != 96 {
			t.Fatalf("appended seq %d, want 96", more[0].Seq)
		}
	})

	t.Run("GC", func(t *testing.T) {
		// The collector keeps every sealed segment, however old.
		if _, err := sealed.CollectGarbage(ctx, filepath.Join(t.TempDir(), "gc.lock"), 0); err != nil {
			t.Fatal(err)
		}
		if _, _, err := sealed.VerifyAudit(ctx, sealed.Read); err != nil {
			t.Fatalf("after GC: %v", err)
		}
	})
}

// sameDB returns another store.DB on db's pools and blob store, as
// another process would open it: with its own sealer lock and cache.
func sameDB(db *store.DB) *store.DB {
	o := store.New(db.Write, db.Read, db.Dialect)
	o.Blobs, o.AuditSegmentSize, o.Logger = db.Blobs, db.AuditSegmentSize, db.Logger
	return o
}

func has(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}

// TestSealAudit_HeadFallback checks that an empty audit_log after sealed
// segments (as a restore of sealed history may leave it) continues the
// chain after the last segment rather than at seq 1.
func TestSealAudit_HeadFallback(t *testing.T) { dbtest.Run(t, testSealAudit_HeadFallback) }

func testSealAudit_HeadFallback(t *testing.T, engine string) {
	ctx := context.Background()
	db := openSealDB(t, engine)
	appendAll(t, db, variedAudit(25, time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)))
	if _, err := db.SealAudit(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Write.Exec(`DELETE FROM audit_log`); err != nil {
		t.Fatal(err)
	}
	segs, err := store.AuditSegments(ctx, db.Read)
	if err != nil || len(segs) != 2 {
		t.Fatalf("segments %v, %v", segs, err)
	}
	e := variedAudit(1, time.Date(2025, 4, 1, 9, 0, 0, 0, time.UTC))
	appendAll(t, db, e)
	if got, want := e[0].Seq, int64(20); got != want {
		t.Fatalf("appended seq %d, want %d", got, want)
	}
	if got, want := e[0].PrevHash, segs[1].LastHash; got != want {
		t.Fatalf("PrevHash %.12s, want %.12s (the last segment's)", got, want)
	}
	if n, _, err := db.VerifyAudit(ctx, db.Read); err != nil || n != 20 {
		t.Fatalf("VerifyAudit()=%d, %v, want 20", n, err)
	}
}

// TestSealAudit_Damaged checks that a segment file altered or missing
// makes verification fail, naming the segment, and reads fail loudly.
func TestSealAudit_Damaged(t *testing.T) { dbtest.Run(t, testSealAudit_Damaged) }

func testSealAudit_Damaged(t *testing.T, engine string) {
	ctx := context.Background()
	for _, damage := range []string{"Flipped", "Missing", "IndexRow"} {
		t.Run(damage, func(t *testing.T) {
			db := openSealDB(t, engine)
			appendAll(t, db, variedAudit(35, time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)))
			if _, err := db.SealAudit(ctx); err != nil {
				t.Fatal(err)
			}
			segs, err := store.AuditSegments(ctx, db.Read)
			if err != nil || len(segs) != 3 {
				t.Fatalf("segments %v, %v", segs, err)
			}
			seg := segs[1]
			path := db.Blobs.Path(seg.BlobID)
			switch damage {
			case "Flipped":
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				b[len(b)/2] ^= 1
				if err := os.WriteFile(path, b, 0o600); err != nil {
					t.Fatal(err)
				}
			case "Missing":
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
			case "IndexRow":
				if _, err := db.Write.Exec(db.Dialect.Rebind(`UPDATE audit_segments SET last_hash = ? WHERE first_seq = 10`), strings.Repeat("0", 64)); err != nil {
					t.Fatal(err)
				}
			}
			_, _, err = db.VerifyAudit(ctx, db.Read)
			if !errors.Is(err, store.ErrAuditChain) || !strings.Contains(err.Error(), "seq 10-19") {
				t.Fatalf("VerifyAudit()=%v, want ErrAuditChain naming the segment seq 10-19", err)
			}
			t.Logf("VerifyAudit: %v", err)
			_, err = (&store.AuditService{DB: db}).VerifyAuditChain(adminCtx)
			if code := bitnobi.ErrorCode(err); code != bitnobi.ECONFLICT {
				t.Fatalf("VerifyAuditChain()=%v (code %q), want ECONFLICT", err, code)
			}
			// A page that takes the segment's last entry hashes its frame
			// whole, and compares the last hash with the row's.
			_, err = (&store.AuditService{DB: db}).FindAuditEntries(adminCtx, bitnobi.AuditFilter{AfterSeq: 10})
			if !errors.Is(err, store.ErrAuditChain) {
				t.Fatalf("FindAuditEntries over the damaged segment: %v, want an error", err)
			}
		})
	}
}

// TestSealAudit_Concurrent seals while writers append and another sealer
// runs: nothing is lost or duplicated, and the chain verifies.
func TestSealAudit_Concurrent(t *testing.T) { dbtest.Run(t, testSealAudit_Concurrent) }

func testSealAudit_Concurrent(t *testing.T, engine string) {
	ctx := context.Background()
	db := openSealDB(t, engine)
	// Another process's sealer: the same database and blob store, with a
	// lock of its own.
	other := sameDB(db)
	const writers, perWriter = 3, 40
	var wg sync.WaitGroup
	errs := make(chan error, writers+2)
	stop := make(chan struct{})
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				es := variedAudit(1, time.Date(2025, 3, 1, 9, w, i, 0, time.UTC))
				if err := db.WriteTx(ctx, func(tx *store.Tx) error { return tx.AppendAuditBatch(ctx, es) }); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var sealers sync.WaitGroup
	for _, s := range []*store.DB{db, other} {
		sealers.Add(1)
		go func() {
			defer sealers.Done()
			for {
				if _, err := s.SealAudit(ctx); err != nil {
					errs <- err
					return
				}
				select {
				case <-stop:
					return
				default:
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	sealers.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	res, err := db.SealAudit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(writers*perWriter)/sealSize*sealSize - 1; res.SealedUpTo != want {
		t.Fatalf("sealed up to %d, want %d", res.SealedUpTo, want)
	}
	n, _, err := db.VerifyAudit(ctx, db.Read)
	if err != nil || n != writers*perWriter {
		t.Fatalf("VerifyAudit()=%d, %v, want %d", n, err, writers*perWriter)
	}
	all := findAll(t, db, bitnobi.AuditFilter{Limit: 1000})
	if len(all) != writers*perWriter {
		t.Fatalf("FindAuditEntries found %d entries, want %d", len(all), writers*perWriter)
	}
}
