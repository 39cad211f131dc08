package backup

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/backup/backuptest"
	"github.com/bitnobi/bitnobi/backup/format"
	"github.com/bitnobi/bitnobi/blob"
	"github.com/bitnobi/bitnobi/sqlite"
	"github.com/bitnobi/bitnobi/store"
)

// seqRows yields n rows of two values, the row number and text of size
// bytes, then err if not nil. It counts the rows it produced in *made.
func seqRows(n, size int, err error, made *int) iter.Seq2[[]any, error] {
	return func(yield func([]any, error) bool) {
		row := make([]any, 2) // reused, as rowReader does
		for i := 1; i <= n; i++ {
			row[0], row[1] = int64(i), strings.Repeat("x", size)
			*made = i
			if !yield(row, nil) {
				return
			}
		}
		if err != nil {
			yield(nil, err)
		}
	}
}

func TestReadAhead(t *testing.T) {
	errRead := errors.New("read error")
	for _, tt := range []struct {
		name    string
		n, size int
		err     error
		stop    int // stop iterating after this many rows; 0: never
	}{
		{"Empty", 0, 1, nil, 0},
		{"OneRow", 1, 1, nil, 0},
		{"BatchBoundaries", 3*readAheadRows + 1, 1, nil, 0},
		{"ManyBatches", 10*readAheadRows + 7, 1, nil, 0},
		{"LargeRows", 40, readAheadBytes / 3, nil, 0}, // batches end by size
		{"ErrorAfterRows", readAheadRows + 5, 1, errRead, 0},
		{"ErrorFirst", 0, 1, errRead, 0},
		{"StopEarly", 10 * readAheadRows, 1, nil, 3},
		{"StopAtBatchEnd", 10 * readAheadRows, 1, nil, readAheadRows},
	} {
		t.Run(tt.name, func(t *testing.T) {
			made := 0
			var got int
			var gotErr error
			for row, err := range readAhead(seqRows(tt.n, tt.size, tt.err, &made), 2) {
				if err != nil {
					gotErr = err
					continue
				}
				got++
				if row[0] != int64(got) || len(row[1].(string)) != tt.size || len(row) != 2 || cap(row) != 2 {
					t.Fatalf("row %d: %v (len %d, cap %d)", got, row[0], len(row), cap(row))
				}
				if got == tt.stop {
					break
				}
			}
			want := tt.n
			if tt.stop > 0 {
				want = tt.stop
				// The reader stopped, a few batches ahead at most.
				if made > tt.stop+(readAheadBatches+1)*readAheadRows {
					t.Fatalf("reader made %d rows after a stop at %d", made, tt.stop)
				}
			}
			if got != want || !errors.Is(gotErr, tt.err) || (tt.err == nil) != (gotErr == nil) {
				t.Fatalf("got %d rows and %v, want %d and %v", got, gotErr, want, tt.err)
			}
		})
	}
}

// auditFixture opens a new staging database at the latest schema with n
// chained audit entries loaded through an auditStream, and returns it
// with the stream and a builder to check it with.
func auditFixture(t *testing.T, n int) (*store.DB, *auditStream, *builder) {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.OpenStaging(ctx, filepath.Join(t.TempDir(), "bitnobi.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	tables, err := db.StateTables(ctx, db.Read)
	if err != nil {
		t.Fatal(err)
	}
	audit := newAuditStream(tables)
	tbl := tables[slices.IndexFunc(tables, func(t store.Table) bool { return t.Name == "audit_log" })]
	rows := func(yield func([]any, error) bool) {
		prev := ""
		for i := 1; i <= n; i++ {
			e := bitnobi.AuditEntry{Seq: int64(i), At: time.Date(2025, 1, 1, 0, 0, i, 0, time.UTC), Action: "x", PrevHash: prev}
			e.Hash = e.ComputeHash()
			prev = e.Hash
			v := map[string]any{"seq": e.Seq, "at": bitnobi.FormatTime(e.At), "action": e.Action, "prev_hash": e.PrevHash, "hash": e.Hash}
			row := make([]any, len(tbl.Columns))
			for k, c := range tbl.Columns {
				if row[k] = v[c.Name]; row[k] == nil {
					row[k] = ""
				}
			}
			if !yield(row, nil) {
				return
			}
		}
	}
	err = db.WriteTx(ctx, func(tx *store.Tx) error {
		im, err := db.NewImporter(ctx, tx, tbl)
		if err != nil {
			return err
		}
		for row := range readAhead(audit.wrap(rows), len(tbl.Columns)) {
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
	return db, audit, &builder{ctx: ctx}
}

// TestCheckAudit checks when a restore relies on the check of the audit
// chain made as the rows loaded, and when it reads audit_log again. To
// tell the two apart, the table is changed after the load behind the
// stream's back: only a second read sees it.
func TestCheckAudit(t *testing.T) {
	for _, tt := range []struct {
		name     string
		n        int
		change   string // SQL run after the load
		migrated bool
		broken   bool // the stream refused a row
		want     string
	}{
		{name: "Intact", n: 300},
		{name: "IntactEmpty", n: 0},
		// The stream checked every row, and the table holds exactly
		// them: audit_log is not read again, so a change made behind the
		// stream's back is not seen.
		{name: "NotReadAgain", n: 300, change: `UPDATE audit_log SET action = 'y' WHERE seq = 7`},
		{name: "Migrated", n: 300, change: `UPDATE audit_log SET action = 'y' WHERE seq = 7`, migrated: true,
			want: "at seq 7: content does not match its hash"},
		{name: "StreamRefused", n: 300, change: `UPDATE audit_log SET action = 'y' WHERE seq = 9`, broken: true,
			want: "at seq 9: content does not match its hash"},
		{name: "ExtraRowAfter", n: 300, change: `INSERT INTO audit_log (seq, at, action, prev_hash, hash) VALUES (301, '2025-01-01T00:00:00.000000000Z', 'x', 'p', 'h')`,
			want: "at seq 301: prev_hash does not match entry 300"},
		{name: "ExtraRowBefore", n: 300, change: `INSERT INTO audit_log (seq, at, action, prev_hash, hash) VALUES (0, '2025-01-01T00:00:00.000000000Z', 'x', '', 'h')`,
			want: "at seq 0: expected seq 1"},
		{name: "FirstRowRemoved", n: 300, change: `DELETE FROM audit_log WHERE seq = 1`, want: "at seq 2: expected seq 1"},
		{name: "RowInEmpty", n: 0, change: `INSERT INTO audit_log (seq, at, action, prev_hash, hash) VALUES (1, '2025-01-01T00:00:00.000000000Z', 'x', '', 'h')`,
			want: "at seq 1: content does not match its hash"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			db, audit, b := auditFixture(t, tt.n)
			if tt.change != "" {
				if _, err := db.Write.Exec(tt.change); err != nil {
					t.Fatal(err)
				}
			}
			if tt.broken {
				audit.err = fmt.Errorf("%w: refused", store.ErrAuditChain)
			}
			err := b.checkAudit(db, audit, tt.migrated)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("checkAudit: %v", err)
				}
				return
			}
			if !errors.Is(err, store.ErrAuditChain) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("checkAudit: %v, want ErrAuditChain naming %q", err, tt.want)
			}
			if Hint(err) != "pick another backup" {
				t.Fatalf("hint %q", Hint(err))
			}
		})
	}
}

// loaderFunc is a RowLoader made of a function.
type loaderFunc func(ctx context.Context, t store.Table, rows iter.Seq2[[]any, error]) (int64, error)

func (f loaderFunc) LoadRows(ctx context.Context, t store.Table, rows iter.Seq2[[]any, error]) (int64, error) {
	return f(ctx, t, rows)
}

// loadFixture returns a builder for a backup of a seeded data directory,
// with a new staging database at its schema version to load into.
// damageBlob, when set, replaces the content of the first blob file.
func loadFixture(t *testing.T, damageBlob bool, progress func(Progress)) (*builder, *store.DB, []store.Table) {
	t.Helper()
	ctx := context.Background()
	root := t.TempDir()
	src := backuptest.NewDataDir(t, filepath.Join(root, "src"))
	backuptest.Seed(t, src)
	res, err := Create(ctx, CreateOptions{Local: sqlite.Local{}, DataDir: src.Dir.Path(), Folder: filepath.Join(root, "backup")})
	if err != nil {
		t.Fatal(err)
	}
	if damageBlob {
		for _, f := range res.Manifest.Files {
			if f.Blob != "" {
				p := filepath.Join(res.Path, filepath.FromSlash(f.Path))
				os.Remove(p)
				if err := os.WriteFile(p, []byte("tampered"), 0o600); err != nil {
					t.Fatal(err)
				}
				res.Manifest.Files[slices.IndexFunc(res.Manifest.Files, func(g format.File) bool { return g.Path == f.Path })].Encoding = format.EncodingNone
				break
			}
		}
	}
	db, err := sqlite.OpenStaging(ctx, filepath.Join(root, "staging.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.Blobs = blob.NewStore(filepath.Join(root, "blobs"))
	if err := db.MigrateTo(ctx, res.Manifest.SchemaVersion); err != nil {
		t.Fatal(err)
	}
	b := &builder{ctx: ctx, dir: res.Path, name: res.Name, m: res.Manifest, opts: RestoreOptions{Local: sqlite.Local{}, Progress: progress}}
	tables, err := b.matchSchema(db)
	if err != nil {
		t.Fatal(err)
	}
	return b, db, tables
}

// TestLoad_FirstFailure checks that when one side of the load fails, the
// other is stopped and the error reported is the first failure, not the
// cancellation it caused.
func TestLoad_FirstFailure(t *testing.T) {
	errTable := errors.New("table refused")
	t.Run("BlobFailsWhileTablesLoad", func(t *testing.T) {
		b, db, tables := loadFixture(t, true, nil)
		stopped := false
		// The tables never finish on their own: only the blob side's
		// failure can end this load.
		err := b.load(db, loaderFunc(func(ctx context.Context, _ store.Table, _ iter.Seq2[[]any, error]) (int64, error) {
			<-ctx.Done()
			stopped = true
			return 0, ctx.Err()
		}), tables, nil)
		if !errors.Is(err, ErrChecksumMismatch) || errors.Is(err, context.Canceled) || !stopped {
			t.Fatalf("load: %v (tables stopped: %v), want the blob's checksum mismatch", err, stopped)
		}
	})
	t.Run("TableFailsWhileBlobsCopy", func(t *testing.T) {
		failed := make(chan struct{})
		var once sync.Once
		b, db, tables := loadFixture(t, false, func(p Progress) {
			if p.Bytes > 0 {
				once.Do(func() { <-failed }) // hold the blob side until the tables failed
			}
		})
		err := b.load(db, loaderFunc(func(ctx context.Context, _ store.Table, _ iter.Seq2[[]any, error]) (int64, error) {
			close(failed)
			return 0, errTable
		}), tables, nil)
		if !errors.Is(err, errTable) || errors.Is(err, context.Canceled) {
			t.Fatalf("load: %v, want the table's error", err)
		}
	})
	t.Run("Cancelled", func(t *testing.T) {
		b, db, tables := loadFixture(t, false, nil)
		ctx, cancel := context.WithCancel(context.Background())
		b.ctx = ctx
		err := b.load(db, loaderFunc(func(ctx context.Context, _ store.Table, _ iter.Seq2[[]any, error]) (int64, error) {
			cancel()
			<-ctx.Done()
			return 0, fmt.Errorf("copy: %w", ctx.Err())
		}), tables, nil)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("load: %v, want context.Canceled", err)
		}
		if b.ctx != ctx {
			t.Fatal("load did not give the builder its context back")
		}
	})
}

// TestLoad_Progress checks that the progress of a load, reported from two
// goroutines, comes one call at a time and never goes back, and that it
// ends at its totals.
func TestLoad_Progress(t *testing.T) {
	var calls []Progress
	var inCall atomic.Bool
	b, db, tables := loadFixture(t, false, func(p Progress) {
		if !inCall.CompareAndSwap(false, true) {
			t.Error("progress called while a call was running")
		}
		time.Sleep(time.Millisecond) // give an overlapping call the chance to show
		calls = append(calls, p)
		inCall.Store(false)
	})
	if err := b.load(db, nil, tables, newAuditStream(tables)); err != nil {
		t.Fatal(err)
	}
	if len(calls) == 0 {
		t.Fatal("no progress")
	}
	for i, p := range calls {
		if p.Phase != "load" {
			t.Fatalf("call %d: phase %q, want load", i, p.Phase)
		}
		if i > 0 && (p.Items <= calls[i-1].Items || p.Bytes < calls[i-1].Bytes) {
			t.Fatalf("progress went back or stood still: %+v after %+v", p, calls[i-1])
		}
	}
	last := calls[len(calls)-1]
	if last.Items != last.ItemsTotal || last.Bytes != last.BytesTotal || last.ItemsTotal != int64(len(tables)+2) {
		t.Fatalf("last progress %+v, want every table and both blobs done", last)
	}
}
