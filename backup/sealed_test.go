package backup_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/backup"
	"github.com/bitnobi/bitnobi/backup/backuptest"
	"github.com/bitnobi/bitnobi/backup/format"
	"github.com/bitnobi/bitnobi/internal/dbtest"
	"github.com/bitnobi/bitnobi/postgres"
	"github.com/bitnobi/bitnobi/sqlite"
	"github.com/bitnobi/bitnobi/store"
)

// sealSize is the segment size of the sealed states of these tests: a
// few entries, so that a seeded state has several segments.
const sealSize = 4

// sealState seals d's audit log in segments of sealSize entries and
// returns how many segments it holds afterwards.
func sealState(tb testing.TB, d *backuptest.DataDir) int {
	tb.Helper()
	d.DB.AuditSegmentSize = sealSize
	if _, err := d.DB.SealAudit(context.Background()); err != nil {
		tb.Fatalf("SealAudit: %v", err)
	}
	return len(segments(tb, d.DB))
}

// segments returns db's sealed segments.
func segments(tb testing.TB, db *store.DB) []store.AuditSegment {
	tb.Helper()
	segs, err := store.AuditSegments(context.Background(), db.Read)
	if err != nil {
		tb.Fatal(err)
	}
	return segs
}

// liveRows returns the number of rows of db's audit_log.
func liveRows(tb testing.TB, db *store.DB) int64 {
	tb.Helper()
	var n int64
	if err := db.Read.QueryRow(`SELECT COUNT(*) FROM audit_log`).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

// allEntries reads db's whole audit log, sealed and live, as the audit
// API does, and checks its chain, segment files included; it returns the
// entries as "seq hash" lines.
func allEntries(tb testing.TB, db *store.DB) []string {
	tb.Helper()
	ctx := bitnobi.NewContextWithActor(context.Background(), &bitnobi.Actor{UserID: "u-test", Username: "test", IsAdmin: true})
	s := &store.AuditService{DB: db}
	var out []string
	var after int64
	for {
		page, err := s.FindAuditEntries(ctx, bitnobi.AuditFilter{AfterSeq: after, Limit: store.MaxAuditLimit})
		if err != nil {
			tb.Fatalf("FindAuditEntries: %v", err)
		}
		for _, e := range page {
			out = append(out, e.Hash)
			after = e.Seq
		}
		if len(page) < store.MaxAuditLimit {
			break
		}
	}
	n, err := s.VerifyAuditChain(ctx)
	if err != nil {
		tb.Fatalf("VerifyAuditChain: %v", err)
	}
	if n != int64(len(out)) {
		tb.Fatalf("VerifyAuditChain counts %d entries, the API reads %d", n, len(out))
	}
	return out
}

// segmentFiles returns the paths, in backup b, of the files of the
// sealed segments segs.
func segmentFiles(tb testing.TB, b *backup.Result, segs []store.AuditSegment) []string {
	tb.Helper()
	var out []string
	for _, s := range segs {
		i := slices.IndexFunc(b.Manifest.Files, func(f format.File) bool { return f.Blob == s.BlobID })
		if i < 0 {
			tb.Fatalf("sealed segment seq %d-%d: its blob %s is not in %s", s.FirstSeq, s.LastSeq, s.BlobID, b.Name)
		}
		out = append(out, b.Manifest.Files[i].Path)
	}
	return out
}

// TestSealed_RoundTrip backs up a sealed audit log on each engine and
// restores it into each: the backup holds the index and the live tail's
// rows only (the sealed entries are never re-exported), the segment files
// as blobs; the restore copies the same segments, and the whole log
// reads back and verifies across the seal boundary. A second backup links
// the segment files from the first instead of writing them.
func TestSealed_RoundTrip(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, from string) {
		ctx := context.Background()
		root := t.TempDir()
		d, dsn := backuptest.NewDataDirOn(t, filepath.Join(root, "data"), from)
		backuptest.Seed(t, d)
		appendAudit(t, d.DB, 30)
		nsegs := sealState(t, d)
		live := liveRows(t, d.DB)
		want := allEntries(t, d.DB)
		if nsegs < 5 || live >= sealSize*2 {
			t.Fatalf("%d segments and %d live rows: the test needs a sealed log", nsegs, live)
		}
		folder := filepath.Join(root, "backup")
		create := func() *backup.Result {
			t.Helper()
			res, err := backup.Create(ctx, backup.CreateOptions{Local: sqlite.Local{}, DataDir: d.Dir.Path(), Folder: folder, OpenDB: backuptest.OpenDB(dsn)})
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			return res
		}
		b1 := create()
		if got, want := b1.Manifest.Format, format.FormatVersion; got != want {
			t.Fatalf("format %d, want %d", got, want)
		}
		if got := table(t, b1.Manifest, "audit_log").Rows; got != live {
			t.Fatalf("audit_log in the backup: %d rows, want the live tail's %d (sealed entries re-exported?)", got, live)
		}
		if got := table(t, b1.Manifest, "audit_segments").Rows; got != int64(nsegs) {
			t.Fatalf("audit_segments in the backup: %d rows, want %d", got, nsegs)
		}
		files := segmentFiles(t, b1, segments(t, d.DB))

		// More history, sealed, then a second backup: the segments of
		// the first are linked, not written again.
		appendAudit(t, d.DB, 2*sealSize)
		if n := sealState(t, d); n <= nsegs {
			t.Fatalf("%d segments after appends, want more than %d", n, nsegs)
		}
		b2 := create()
		for _, f := range files {
			if !sameFile(t, b1, b2, f) {
				t.Fatalf("sealed segment file %s was written again, not linked from the previous backup", f)
			}
		}
		if s := b2.Manifest.Stats; s.FilesLinked < int64(len(files)) {
			t.Fatalf("second backup linked %d files, want at least the %d segment files", s.FilesLinked, len(files))
		}
		want2 := allEntries(t, d.DB)

		for _, into := range dbtest.Engines(t) {
			t.Run("Into"+into, func(t *testing.T) {
				for i, c := range []struct {
					b    *backup.Result
					want []string
				}{{b1, want}, {b2, want2}} {
					r := restoreOn(t, c.b, d, into)
					got := allEntries(t, r.DB)
					if len(got) != len(c.want)+1 || !slices.Equal(got[:len(c.want)], c.want) {
						t.Fatalf("backup %d restored: %d entries, want the %d backed up + the restore's", i+1, len(got), len(c.want))
					}
					// The segments came over as files, the same blobs.
					gotSegs, srcSegs := segments(t, r.DB), segments(t, d.DB)
					for j := range gotSegs[:min(len(gotSegs), int(table(t, c.b.Manifest, "audit_segments").Rows))] {
						if gotSegs[j].BlobID != srcSegs[j].BlobID {
							t.Fatalf("restored segment %d is blob %s, want %s", j, gotSegs[j].BlobID, srcSegs[j].BlobID)
						}
					}
					if n := liveRows(t, r.DB); n > 2*sealSize {
						t.Fatalf("restored audit_log holds %d rows: the sealed entries were inserted as rows", n)
					}
				}
			})
		}
	})
}

// restoreOn restores backup b of d into a new data directory whose
// database is on engine into, and opens it.
func restoreOn(tb testing.TB, b *backup.Result, d *backuptest.DataDir, into string) *backuptest.DataDir {
	tb.Helper()
	r, _ := restoreInto(tb, b.Path, d.Dir.Key(), filepath.Join(tb.TempDir(), "data"), into)
	r.DB.AuditSegmentSize = sealSize
	return r
}

// restoreInto restores the backup at from, with the master key at key,
// into the data directory target, its database on engine into (a new
// PostgreSQL database for dbtest.Postgres), sealing segments of
// sealSize entries, and opens it. It returns the database's DSN too ("" on
// SQLite).
func restoreInto(tb testing.TB, from, key, target, into string) (*backuptest.DataDir, string) {
	tb.Helper()
	opts := backup.RestoreOptions{Local: sqlite.Local{}, KeyFile: key, AuditSegmentSize: sealSize}
	dsn := ""
	if into == dbtest.Postgres {
		dsn = dbtest.NewPostgresDatabase(tb)
		opts.Target = &postgres.RestoreTarget{DSN: dsn}
	}
	mustRestore(tb, from, target, opts)
	return backuptest.OpenOn(tb, target, dsn), dsn
}

// TestSealed_BackupBeforeAndAfterSeal: the incremental backup of
// audit_log by key range copes with the rows sealing deletes. A backup
// before the seal and one after restore to the same log, which verifies.
func TestSealed_BackupBeforeAndAfterSeal(t *testing.T) {
	t.Cleanup(backup.SetSegmentKeys(16))
	root := t.TempDir()
	d := backuptest.NewDataDir(t, filepath.Join(root, "data"))
	backuptest.Seed(t, d)
	appendAudit(t, d.DB, 60)
	folder := filepath.Join(root, "backup")
	want := allEntries(t, d.DB)
	before := mustCreate(t, d.Dir.Path(), folder, nil)
	if n := len(table(t, before.Manifest, "audit_log").Segments); n < 3 {
		t.Fatalf("audit_log in %d segments, want several", n)
	}
	sealState(t, d)
	if got := allEntries(t, d.DB); !slices.Equal(got, want) {
		t.Fatal("sealing changed the log")
	}
	after := mustCreate(t, d.Dir.Path(), folder, nil)
	if got := table(t, after.Manifest, "audit_log").Rows; got != liveRows(t, d.DB) {
		t.Fatalf("audit_log after the seal: %d rows in the backup, %d live", got, liveRows(t, d.DB))
	}
	for _, b := range []*backup.Result{before, after} {
		r := restoreOn(t, b, d, dbtest.SQLite)
		got := allEntries(t, r.DB)
		if len(got) != len(want)+1 || !slices.Equal(got[:len(want)], want) {
			t.Fatalf("%s restored: %d entries, want the %d backed up + the restore's", b.Name, len(got), len(want))
		}
		if len(segments(t, r.DB)) == 0 {
			t.Fatalf("%s restored with no sealed segment", b.Name)
		}
	}
	// And the backup after the seal restores with segments of the
	// default size: nothing to seal then, the index is the backup's.
	target := filepath.Join(root, "default")
	mustRestore(t, after.Path, target, backup.RestoreOptions{Local: sqlite.Local{}, KeyFile: d.Dir.Key()})
	r := backuptest.Open(t, target)
	if got := allEntries(t, r.DB); len(got) != len(want)+1 {
		t.Fatalf("restored with the default segment size: %d entries, want %d", len(got), len(want)+1)
	}
}

// TestSealed_RestoreRefusesBrokenIndex: a sealed log whose index has a
// gap, a link that does not match, a live tail that does not follow the
// last segment, or a row that does not describe its segment's file at
// its ends (times, hashes) is refused before the switch, naming the
// segment: with the same error whether the restore checks each segment
// as it copies its file (Copying) or reads the files back afterwards
// (Afterwards, for files too large to hold). A row whose summaries do
// not describe its file is not refused (TestSealed_DeepVerifyRefuses
// ForgedSummary).
func TestSealed_RestoreRefusesBrokenIndex(t *testing.T) {
	t.Run("Copying", testRestoreRefusesBrokenIndex)
	t.Run("Afterwards", func(t *testing.T) {
		t.Cleanup(backup.SetMaxSegmentInMemory(0))
		testRestoreRefusesBrokenIndex(t)
	})
}

func testRestoreRefusesBrokenIndex(t *testing.T) {
	for _, c := range []struct {
		name, sql, want string
	}{
		{"Gap", `DELETE FROM audit_segments WHERE first_seq = 4`, "expected it to start at seq 4"},
		{"FirstNotAtOne", `DELETE FROM audit_segments WHERE first_seq = 1`, "expected it to start at seq 1"},
		{"Link", `UPDATE audit_segments SET last_hash = 'x' WHERE first_seq = 4`, "prev_hash does not match"},
		{"Tail", `DELETE FROM audit_segments WHERE first_seq = (SELECT MAX(first_seq) FROM audit_segments)`, "seq"},
		{"MissingFile", `UPDATE audit_segments SET size = size + 1 WHERE first_seq = 4`, "the index says"},
		// A contiguous index whose rows do not describe their files at
		// their ends: only reading each file's ends finds it.
		{"ForgedTime", `UPDATE audit_segments SET last_at = '2001-01-01T00:00:00.000000000Z' WHERE first_seq = 4`, "index row's times"},
		{"ForgedHashes", `UPDATE audit_segments SET last_hash = 'x' WHERE first_seq = 4; UPDATE audit_segments SET prev_hash = 'x' WHERE first_seq = 8`, "sealed segment seq 4-7"},
	} {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			d := backuptest.NewDataDir(t, filepath.Join(root, "data"))
			backuptest.Seed(t, d)
			appendAudit(t, d.DB, 20)
			sealState(t, d)
			if _, err := d.DB.Write.Exec(c.sql); err != nil {
				t.Fatal(err)
			}
			b := mustCreate(t, d.Dir.Path(), filepath.Join(root, "backup"), nil)
			target := filepath.Join(root, "restored")
			_, err := backup.Restore(context.Background(), backup.RestoreOptions{Backup: b.Path, DataDir: target, Local: sqlite.Local{}, KeyFile: d.Dir.Key()})
			if !errors.Is(err, store.ErrAuditChain) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("restore of a broken index: %v, want %v naming %q", err, store.ErrAuditChain, c.want)
			}
			if _, err := os.Stat(target); !os.IsNotExist(err) {
				t.Fatalf("refused restore left %s (%v)", target, err)
			}
		})
	}
}

// TestSealed_DeepVerifyRefusesForgedSummary: a segment's index row whose
// summaries do not describe its file (an action none of its entries
// has, so that a filtered query would skip entries) is restored: a
// restore checks each file at its ends only, since the chain has no key
// (whoever can forge a backup can forge a file and its row alike) and
// decoding every entry made restore time grow with the history. `backups
// verify --deep` refuses it, as `audit verify` does on the restored
// state: both decode every entry.
func TestSealed_DeepVerifyRefusesForgedSummary(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	d := backuptest.NewDataDir(t, filepath.Join(root, "data"))
	backuptest.Seed(t, d)
	appendAudit(t, d.DB, 20)
	sealState(t, d)
	if _, err := d.DB.Write.Exec(`UPDATE audit_segments SET actions = '["nothing.here"]' WHERE first_seq = 4`); err != nil {
		t.Fatal(err)
	}
	b := mustCreate(t, d.Dir.Path(), filepath.Join(root, "backup"), nil)
	const want = "sealed segment seq 4-7"

	_, err := backup.Verify(ctx, b.Path, backup.VerifyOptions{Deep: true, Local: sqlite.Local{}, KeyFile: d.Dir.Key()})
	if !errors.Is(err, backup.ErrTrialRestore) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "summaries") {
		t.Fatalf("VerifyDeep of a forged summary: %v, want %v naming %q and its summaries", err, backup.ErrTrialRestore, want)
	}
	if _, err := backup.Verify(ctx, b.Path, backup.VerifyOptions{}); err != nil {
		t.Fatalf("Verify (checksums only) of a forged summary: %v, want nil: the files are the ones written", err)
	}

	r := restoreOn(t, b, d, dbtest.SQLite)
	_, _, err = r.DB.VerifyAudit(ctx, r.DB.Read)
	if !errors.Is(err, store.ErrAuditChain) || !strings.Contains(err.Error(), want) {
		t.Fatalf("audit verify of the restored state: %v, want %v naming %q", err, store.ErrAuditChain, want)
	}
}

// TestSealed_RestoreChecksSegmentsAsItCopies: a restore checks each
// sealed segment's file against its index row while it copies the file,
// and never reads it back from the restored blob store; a file too large
// to hold is read back and checked after the copy, as before. Either way
// the restored log reads back whole and verifies.
func TestSealed_RestoreChecksSegmentsAsItCopies(t *testing.T) {
	root := t.TempDir()
	d := backuptest.NewDataDir(t, filepath.Join(root, "data"))
	backuptest.Seed(t, d)
	appendAudit(t, d.DB, 20)
	n := sealState(t, d)
	if n < 3 {
		t.Fatalf("%d sealed segments, want several", n)
	}
	want := allEntries(t, d.DB)
	b := mustCreate(t, d.Dir.Path(), filepath.Join(root, "backup"), nil)
	for _, c := range []struct {
		name    string
		max     int64
		rereads int64
	}{
		{"InMemory", 16 << 20, 0},
		{"TooLarge", 0, int64(n)},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Cleanup(backup.SetMaxSegmentInMemory(c.max))
			rereads, stop := backup.CountSegmentRereads()
			t.Cleanup(stop)
			r := restoreOn(t, b, d, dbtest.SQLite)
			if got := rereads(); got != c.rereads {
				t.Fatalf("%d of %d segment files read back after the copy, want %d", got, n, c.rereads)
			}
			got := allEntries(t, r.DB)
			if len(got) != len(want)+1 || !slices.Equal(got[:len(want)], want) {
				t.Fatalf("restored %d entries, want the %d backed up + the restore's", len(got), len(want))
			}
		})
	}
}

// TestSealed_Verify: backups verify finds a sealed segment file altered
// in a backup, and verify --deep of an intact one checks the chain across
// the seal boundary, reading every segment file.
func TestSealed_Verify(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	d := backuptest.NewDataDir(t, filepath.Join(root, "data"))
	backuptest.Seed(t, d)
	appendAudit(t, d.DB, 20)
	segs := segments(t, d.DB)
	if len(segs) != 0 {
		t.Fatal("sealed before sealState")
	}
	sealState(t, d)
	b := mustCreate(t, d.Dir.Path(), filepath.Join(root, "backup"), nil)
	if _, err := backup.Verify(ctx, b.Path, backup.VerifyOptions{Deep: true, Local: sqlite.Local{}, KeyFile: d.Dir.Key()}); err != nil {
		t.Fatalf("VerifyDeep of a sealed backup: %v", err)
	}
	file := segmentFiles(t, b, segments(t, d.DB)[1:2])[0]
	flipByte(t, filepath.Join(b.Path, file))
	_, err := backup.Verify(ctx, b.Path, backup.VerifyOptions{})
	if !errors.Is(err, backup.ErrChecksumMismatch) || !strings.Contains(err.Error(), file) {
		t.Fatalf("Verify with an altered segment file: %v, want %v naming %s", err, backup.ErrChecksumMismatch, file)
	}
}

// sealedPair seeds a data directory under a new root, appends 20 audit entries
// (sealState seals them with a small segment size), and backs it up before and after sealing them:
// the root, the data directory, the two backups, the number of entries,
// the number of segments sealed and the entries left live.
func sealedPair(t *testing.T) (root string, d *backuptest.DataDir, before, after *backup.Result, total int64, nsegs int, live int64) {
	t.Helper()
	root = t.TempDir()
	d = backuptest.NewDataDir(t, filepath.Join(root, "data"))
	backuptest.Seed(t, d)
	appendAudit(t, d.DB, 20)
	total = int64(len(allEntries(t, d.DB)))
	folder := filepath.Join(root, "backup")
	before = mustCreate(t, d.Dir.Path(), folder, nil)
	nsegs = sealState(t, d)
	live = liveRows(t, d.DB)
	after = mustCreate(t, d.Dir.Path(), folder, nil)
	return root, d, before, after, total, nsegs, live
}

// TestSealed_InspectDiff: inspect counts the sealed entries with the
// live ones, and a diff from a backup before a seal to one after it (or
// to the live database) shows the sealed rows as sealed, not removed.
func TestSealed_InspectDiff(t *testing.T) {
	ctx := context.Background()
	_, d, before, after, total, nsegs, live := sealedPair(t)
	open := func(b *backup.Result) *backup.Reader {
		t.Helper()
		r, err := backup.OpenReader(b.Path, nil)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	ra, rb := open(before), open(after)

	for _, c := range []struct {
		r    *backup.Reader
		want backup.AuditCount
	}{
		{ra, backup.AuditCount{Entries: total, Live: total}},
		{rb, backup.AuditCount{Entries: total, Sealed: total - live, Segments: int64(nsegs), Live: live}},
	} {
		in, err := backup.Inspect(ctx, c.r, backup.EntityUsers)
		if err != nil {
			t.Fatal(err)
		}
		if in.Audit != c.want {
			t.Fatalf("Inspect(%s).Audit = %+v, want %+v", c.r.Name(), in.Audit, c.want)
		}
	}

	check := func(d *backup.Difference) {
		t.Helper()
		for _, td := range d.Tables {
			switch td.Table {
			case "audit_log":
				if td.Sealed != total-live || td.Removed != 0 || td.Added != 0 {
					t.Fatalf("%s to %s: audit_log %+v, want %d sealed, none removed or added", d.A, d.B, td, total-live)
				}
			case "audit_segments":
				if td.Added != int64(nsegs) {
					t.Fatalf("%s to %s: audit_segments %+v, want %d added", d.A, d.B, td, nsegs)
				}
			}
		}
	}
	diff, err := backup.Diff(ctx, ra, rb, backup.DiffOptions{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	check(diff)
	diff, err = backup.DiffLive(ctx, ra, d.DB, backup.DiffOptions{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	check(diff)
}

// TestSealed_OlderFormatLandsSealed restores the golden format-4 backup
// into each engine: its history, rows in the backup, lands as sealed
// segments with a live tail, and reads back whole.
func TestSealed_OlderFormatLandsSealed(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, into string) {
		dir := filepath.Join("testdata", "v4-schema5")
		tmp := t.TempDir()
		key := filepath.Join(tmp, "master.key")
		backuptest.CopyKey(t, dir+".master.key", key)
		r, _ := restoreInto(t, dir, key, filepath.Join(tmp, "data"), into)
		if n := len(allEntries(t, r.DB)); n != 14 {
			t.Fatalf("restored log reads %d entries, want 13 + the restore's", n)
		}
		if segs := segments(t, r.DB); len(segs) != 3 {
			t.Fatalf("%d sealed segments, want 3", len(segs))
		}
		if n := liveRows(t, r.DB); n != 3 {
			t.Fatalf("%d live rows, want 3 (seq 12-14)", n)
		}
	})
}

// TestSealed_DeepVerifyReadsSegments: a segment whose index row does not
// describe its file (a summary changed, the file intact) passes a
// restore, which checks the index's chain and the file's hash only, but
// not verify --deep, which reads every segment file.
func TestSealed_DeepVerifyReadsSegments(t *testing.T) {
	root := t.TempDir()
	d := backuptest.NewDataDir(t, filepath.Join(root, "data"))
	backuptest.Seed(t, d)
	sealState(t, d)
	if _, err := d.DB.Write.Exec(`UPDATE audit_segments SET actions = '["nothing.here"]' WHERE first_seq = 1`); err != nil {
		t.Fatal(err)
	}
	b := mustCreate(t, d.Dir.Path(), filepath.Join(root, "backup"), nil)
	_, err := backup.Verify(context.Background(), b.Path, backup.VerifyOptions{Deep: true, Local: sqlite.Local{}, KeyFile: d.Dir.Key()})
	if !errors.Is(err, backup.ErrTrialRestore) || !strings.Contains(err.Error(), "summaries do not match") {
		t.Fatalf("VerifyDeep of a segment whose index does not match its file: %v, want %v naming the summaries", err, backup.ErrTrialRestore)
	}
}

// TestSealed_DiffSealedEitherSide: a diff treats the sealed history of
// either side alike. From a backup after a seal to one before it, the
// rows B holds live that A had sealed show as sealed, not added. And
// history that was rewritten is not hidden as "sealed": a row that ends
// one of the other side's segments with another hash shows as changed,
// in both directions.
func TestSealed_DiffSealedEitherSide(t *testing.T) {
	ctx := context.Background()
	root, d, before, after, total, nsegs, live := sealedPair(t)
	// Another history of the same length: another installation's.
	other := backuptest.NewDataDir(t, filepath.Join(root, "other"))
	backuptest.Seed(t, other)
	appendAudit(t, other.DB, 20)
	first := segments(t, d.DB)[0] // the first segment's end
	end := strconv.FormatInt(first.LastSeq, 10)
	var h string
	if err := other.DB.Read.QueryRow(`SELECT hash FROM audit_log WHERE seq = ?`, first.LastSeq).Scan(&h); err != nil {
		t.Fatal(err)
	}
	if h == first.LastHash {
		t.Fatalf("the two histories agree at seq %s: the test compares nothing", end)
	}
	rewritten := mustCreate(t, other.Dir.Path(), filepath.Join(root, "backup-other"), nil)
	open := func(b *backup.Result) *backup.Reader {
		t.Helper()
		r, err := backup.OpenReader(b.Path, nil)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	auditDiff := func(a, b *backup.Result) backup.TableDiff {
		t.Helper()
		diff, err := backup.Diff(ctx, open(a), open(b), backup.DiffOptions{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, td := range diff.Tables {
			if td.Table == "audit_log" {
				return td
			}
		}
		t.Fatal("no audit_log in the diff")
		return backup.TableDiff{}
	}

	t.Run("ASealedFurther", func(t *testing.T) {
		td := auditDiff(after, before)
		if td.Sealed != total-live || td.Added != 0 || td.Removed != 0 || td.Changed != 0 {
			t.Fatalf("%s to %s: audit_log %+v, want %d sealed, none added, removed or changed", after.Name, before.Name, td, total-live)
		}
	})
	for _, c := range []struct {
		name string
		a, b *backup.Result
	}{{"RewrittenSealedInB", rewritten, after}, {"RewrittenSealedInA", after, rewritten}} {
		t.Run(c.name, func(t *testing.T) {
			td := auditDiff(c.a, c.b)
			var boundaries int
			for _, r := range td.Rows {
				if r.Change == backup.ChangeChanged && slices.Equal(r.Columns, []string{"hash"}) {
					boundaries++
				}
			}
			if !slices.ContainsFunc(td.Rows, func(r backup.RowChange) bool {
				return r.Key == end && r.Change == backup.ChangeChanged && slices.Equal(r.Columns, []string{"hash"})
			}) {
				t.Fatalf("%s to %s: audit_log %+v, want seq %s (the end of the first segment) changed in hash", c.a.Name, c.b.Name, td, end)
			}
			if boundaries != nsegs {
				t.Fatalf("%s to %s: %d segment ends changed in hash, want %d (every segment's)", c.a.Name, c.b.Name, boundaries, nsegs)
			}
			if td.Sealed != total-live-int64(nsegs) || td.Added != 0 || td.Removed != 0 {
				t.Fatalf("%s to %s: audit_log %+v, want %d sealed, none added or removed", c.a.Name, c.b.Name, td, total-live-int64(nsegs))
			}
		})
	}
}

// TestSealed_LinksIndexAfterSeal: audit_segments, one row per key range,
// has its stamp changed by every seal, yet a backup after a seal links
// the rows the previous backup holds unchanged and writes only the new
// one and any row that changed; the backup restores to the live log.
func TestSealed_LinksIndexAfterSeal(t *testing.T) {
	t.Cleanup(backup.SetSegmentKeys(sealSize))
	root := t.TempDir()
	d := backuptest.NewDataDir(t, filepath.Join(root, "data"))
	backuptest.Seed(t, d)
	appendAudit(t, d.DB, 20)
	sealState(t, d)
	folder := filepath.Join(root, "backup")
	before := mustCreate(t, d.Dir.Path(), folder, nil)
	old := table(t, before.Manifest, "audit_segments")
	if len(old.Segments) < 3 {
		t.Fatalf("audit_segments in %d segments, want several", len(old.Segments))
	}
	for _, s := range old.Segments {
		if s.Rows != 1 {
			t.Fatalf("segment %s holds %d rows, want one per range", s.File, s.Rows)
		}
	}
	appendAudit(t, d.DB, 2*sealSize)
	sealState(t, d)
	want := allEntries(t, d.DB)
	// A summary forged in the index: the chain no longer verifies, but a
	// backup copies it as it is (TestSealed_DeepVerifyRefusesForgedSummary).
	changed := old.Segments[1]
	var actions string
	if err := d.DB.Read.QueryRow(`SELECT actions FROM audit_segments WHERE first_seq = ?`, changed.First).Scan(&actions); err != nil {
		t.Fatal(err)
	}
	if _, err := d.DB.Write.Exec(`UPDATE audit_segments SET actions = '["nothing.here"]' WHERE first_seq = ?`, changed.First); err != nil {
		t.Fatal(err)
	}
	after := mustCreate(t, d.Dir.Path(), folder, nil)

	byFrom := map[int64]format.Segment{}
	for _, s := range old.Segments {
		byFrom[s.Keys[0]] = s
	}
	linked, written := 0, 0
	for _, s := range table(t, after.Manifest, "audit_segments").Segments {
		ps, had := byFrom[s.Keys[0]]
		link := had && s.Keys[0] != changed.Keys[0]
		if got := sameFileAt(t, before, ps.File, after, s.File); had && got != link {
			t.Errorf("segment %v: linked=%v, want %v", s.Keys, got, link)
		}
		if link {
			linked++
		} else {
			written++
		}
	}
	if linked != len(old.Segments)-1 || written < 2 {
		t.Fatalf("linked %d, written %d segments of audit_segments; want %d linked and the changed one and the new ones written", linked, written, len(old.Segments)-1)
	}
	r := restoreOn(t, after, d, dbtest.SQLite)
	if got, want := segments(t, r.DB), segments(t, d.DB); !slices.EqualFunc(got, want, func(a, b store.AuditSegment) bool { return fmt.Sprint(a) == fmt.Sprint(b) }) {
		t.Fatalf("restored index:\n%v\nwant the live one, forged row included:\n%v", got, want)
	}
	// The summary put back, the restored log is the one backed up.
	if _, err := r.DB.Write.Exec(`UPDATE audit_segments SET actions = ? WHERE first_seq = ?`, actions, changed.First); err != nil {
		t.Fatal(err)
	}
	if got := allEntries(t, r.DB); len(got) != len(want)+1 || !slices.Equal(got[:len(want)], want) {
		t.Fatalf("restored: %d entries, want the %d backed up + the restore's", len(got), len(want))
	}
}
