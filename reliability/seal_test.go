package reliability_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/backup/backuptest"
	"github.com/bitnobi/bitnobi/sqlite"
	"github.com/bitnobi/bitnobi/store"
)

// sealSegments is how many full segments the killed seals have to seal.
const sealSegments = 4

// TestKillDuringSeal kills "bitnobi audit seal" with SIGKILL at random
// moments while it seals several segments of the audit log. Afterwards
// the log is complete (every entry, sealed or live, and the same head),
// its chain verifies across the segments sealed so far, and the next seal
// finishes the work.
func TestKillDuringSeal(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	pristine := filepath.Join(root, "pristine")
	d := backuptest.NewDataDir(t, pristine)
	backuptest.Seed(t, d)
	ctx := context.Background()
	es := make([]*bitnobi.AuditEntry, sealSegments*store.DefaultAuditSegmentSize+100)
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range es {
		es[i] = &bitnobi.AuditEntry{At: start.Add(time.Duration(i) * time.Second), ActorID: "u" + strconv.Itoa(i%13), ActorName: "user",
			Action: bitnobi.ActionDataSourceAccess, TargetType: "datasource", TargetID: strconv.Itoa(i), Detail: `{"name":"file.csv"}`, RemoteAddr: "192.0.2.1"}
	}
	if err := d.DB.WriteTx(ctx, func(tx *store.Tx) error { return tx.AppendAuditBatch(ctx, es) }); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	want := mustRun(t, "audit", "verify", "--data-dir", pristine).Stdout

	// One full seal, on a copy, to measure how long one takes.
	full := filepath.Join(root, "full")
	copyTree(t, pristine, full)
	began := time.Now()
	mustRun(t, "audit", "seal", "--data-dir", full)
	took := time.Since(began)
	if got := mustRun(t, "audit", "verify", "--data-dir", full).Stdout; got != want {
		t.Fatalf("after a seal, audit verify printed %q, want %q", got, want)
	}
	if n := sealedSegments(t, full); n != sealSegments {
		t.Fatalf("a full seal sealed %d segments, want %d", n, sealSegments)
	}

	rnd := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	midway := 0
	for i := range prof.SealKills {
		dir := filepath.Join(root, fmt.Sprintf("trial-%d", i))
		copyTree(t, pristine, dir)
		delay := time.Duration(rnd.Int64N(int64(took) + 1))
		killed, r := killAfter(t, delay, "audit", "seal", "--data-dir", dir)
		if !killed && r.Code != 0 {
			t.Fatalf("trial %d: seal not killed but failed: %s", i, r)
		}
		n := sealedSegments(t, dir)
		if killed && n > 0 && n < sealSegments {
			midway++
		}
		// Complete and whole: the same count and head as before.
		if got := mustRun(t, "audit", "verify", "--data-dir", dir).Stdout; got != want {
			t.Fatalf("trial %d (killed=%v after %v, %d segments sealed): audit verify printed %q, want %q", i, killed, delay, n, got, want)
		}
		out := mustRun(t, "audit", "seal", "--data-dir", dir).Stdout
		if !regexp.MustCompile(`sealed up to seq ` + strconv.Itoa(sealSegments*store.DefaultAuditSegmentSize-1) + `\n$`).MatchString(out) {
			t.Fatalf("trial %d: the next seal printed %q", i, out)
		}
		if got := mustRun(t, "audit", "verify", "--data-dir", dir).Stdout; got != want {
			t.Fatalf("trial %d: after the next seal, audit verify printed %q, want %q", i, got, want)
		}
		t.Logf("trial %d: killed=%v after %v with %d of %d segments sealed", i, killed, delay, n, sealSegments)
	}
	t.Logf("%d trials, %d killed mid-way (%v per full seal)", prof.SealKills, midway, took)
	record(t, "kill -9 during audit seal ("+strconv.Itoa(len(es))+" entries, "+strconv.Itoa(sealSegments)+" segments to seal)", prof.SealKills,
		fmt.Sprintf("%d killed with some segments sealed; after every kill, audit verify gave the same count and head; the next seal finished", midway))
}

// sealedSegments returns how many sealed segments the data directory has.
func sealedSegments(t *testing.T, dir string) int {
	t.Helper()
	db, err := sqlite.OpenNoMigrate(context.Background(), filepath.Join(dir, "bitnobi.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	segs, err := store.AuditSegments(context.Background(), db.Read)
	if err != nil {
		t.Fatal(err)
	}
	return len(segs)
}
