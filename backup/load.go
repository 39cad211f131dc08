package backup

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/bitnobi/bitnobi/backup/format"
	"github.com/bitnobi/bitnobi/blob"
	"github.com/bitnobi/bitnobi/store"
)

// A restore loads tables on two goroutines: one reads and decodes a
// table's file and checks the audit chain (readAhead), the other inserts
// the rows (SQLite's one writer, or COPY to PostgreSQL). The blobs are
// copied on a third, beside both (builder.load).

// load loads the backup's rows into tables of db (through loader when
// not nil, else with INSERTs in one transaction, secondary indexes built
// at the end) and, at the same time, on a goroutine of its own, copies
// the blobs into db.Blobs; then it checks that the blobs table and the
// blob files agree. The tables are the schema's, in load order; audit
// checks audit_log's rows on their way.
//
// The first failure on either side cancels the other, which stops at its
// next check of the context (the transaction of the load is rolled
// back), and is the error returned. Progress is reported in one phase,
// "load", through loadProgress.
func (b *builder) load(db *store.DB, loader RowLoader, tables []store.Table, audit *auditStream) error {
	var blobs, blobBytes int64
	for _, f := range b.m.Files {
		if f.Blob != "" {
			blobs++
			blobBytes += f.RawSize
		}
	}
	prog := &loadProgress{report: b.progress, p: Progress{Phase: "load", ItemsTotal: int64(len(tables)) + blobs, BytesTotal: blobBytes}}

	// Both sides run with ctx, which a failure of either cancels; the
	// rows of the tables come through b.rows, which reads with b.ctx, so
	// b.ctx is ctx until both are done.
	parent := b.ctx
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	b.ctx = ctx
	blobsDone := make(chan error, 1)
	go func() {
		err := b.copyBlobFiles(ctx, db.Blobs, func(size int64) { prog.add(1, size) })
		if err != nil {
			cancel(err)
		}
		blobsDone <- err
	}()
	err := b.loadTables(ctx, db, loader, tables, audit, func() { prog.add(1, 0) })
	if err != nil {
		cancel(err)
	}
	berr := <-blobsDone
	b.ctx = parent
	if err != nil || berr != nil {
		// The side that failed first cancelled the other, whose error
		// then only says so: report the first. (When the caller
		// cancelled, both say that.)
		if cause := context.Cause(ctx); parent.Err() == nil && cause != nil {
			return cause
		}
		if err != nil {
			return err
		}
		return berr
	}
	return b.checkBlobRows(db, blobs)
}

// loadTables loads the backup's rows into tables of db, as load says,
// and calls tableDone after each table.
func (b *builder) loadTables(ctx context.Context, db *store.DB, loader RowLoader, tables []store.Table, audit *auditStream, tableDone func()) error {
	byName := map[string]format.Table{}
	for _, t := range b.m.Tables {
		byName[t.Name] = t
	}
	if loader != nil {
		for _, t := range tables {
			mt := byName[t.Name]
			n, err := loader.LoadRows(ctx, t, b.tableRows(t, mt, audit))
			if err != nil {
				return fmt.Errorf("restore: restore table %s: %w", t.Name, fromBackup{err})
			}
			if n != mt.Rows {
				return &FileError{Op: "restore", Path: mt.File, Err: fmt.Errorf("%w: %d rows, manifest says %d", ErrMalformed, n, mt.Rows)}
			}
			tableDone()
		}
		return nil
	}
	err := db.WriteTx(ctx, func(tx *store.Tx) error {
		rebuild, err := db.DeferIndexes(ctx, tx)
		if err != nil {
			return err
		}
		for _, t := range tables {
			mt := byName[t.Name]
			n, err := b.insertRows(ctx, db, tx, t, b.tableRows(t, mt, audit))
			if err != nil {
				return fmt.Errorf("restore table %s: %w", t.Name, fromBackup{err})
			}
			if n != mt.Rows {
				return &FileError{Op: "restore", Path: mt.File, Err: fmt.Errorf("%w: %d rows, manifest says %d", ErrMalformed, n, mt.Rows)}
			}
			tableDone()
		}
		return rebuild()
	})
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	return nil
}

// insertRows inserts rows into t within tx and returns how many it read.
func (b *builder) insertRows(ctx context.Context, db *store.DB, tx *store.Tx, t store.Table, rows iter.Seq2[[]any, error]) (n int64, err error) {
	imp, err := db.NewImporter(ctx, tx, t)
	if err != nil {
		return 0, err
	}
	defer func() {
		if cerr := imp.Close(); err == nil {
			err = cerr
		}
	}()
	for row, err := range rows {
		if err != nil {
			return n, err
		}
		n++
		if err := imp.Insert(ctx, row); err != nil {
			return n, err
		}
	}
	return n, imp.Flush(ctx)
}

// loadProgress reports the progress of builder.load, where the tables and
// the blobs advance together: Items counts the tables loaded and the
// blobs copied, Bytes the blobs' bytes. Both goroutines report through
// it, and it makes the calls one at a time, so that every count grows
// from one call to the next.
type loadProgress struct {
	mu     sync.Mutex
	report func(Progress)
	p      Progress
}

func (lp *loadProgress) add(items, bytes int64) {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	lp.p.Items += items
	lp.p.Bytes += bytes
	lp.report(lp.p)
}

// Read-ahead batches: rows of a table go from the reading goroutine to
// the loading one in batches of at most readAheadRows rows or about
// readAheadBytes of text, of which readAheadBatches exist, so that the
// memory held does not grow with the table.
const (
	readAheadRows    = 256
	readAheadBytes   = 1 << 20
	readAheadBatches = 3
)

// readAheadBatch is a batch of rows of cols values each, flattened.
type readAheadBatch struct {
	vals  []any
	n     int   // rows in vals
	bytes int   // bytes of text in them
	err   error // what ended the sequence after these rows, if anything
}

// readAhead returns rows as a sequence that a goroutine of its own reads
// ahead of the caller, so that reading and decoding a table's file use a
// second core while the caller loads the rows. cols is the number of
// values of each row. The rows it yields are valid until the next one is
// yielded. Stopping the iteration stops the reader and waits for it.
func readAhead(rows iter.Seq2[[]any, error], cols int) iter.Seq2[[]any, error] {
	return func(yield func([]any, error) bool) {
		full := make(chan *readAheadBatch, readAheadBatches)
		free := make(chan *readAheadBatch, readAheadBatches)
		for range readAheadBatches {
			free <- &readAheadBatch{vals: make([]any, readAheadRows*cols)}
		}
		done := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(full)
			var cur *readAheadBatch
			next := func() bool {
				select {
				case cur = <-free:
					cur.n, cur.bytes, cur.err = 0, 0, nil
					return true
				case <-done:
					return false
				}
			}
			send := func() bool {
				select {
				case full <- cur:
					return true
				case <-done:
					return false
				}
			}
			if !next() {
				return
			}
			for row, err := range rows {
				if err != nil {
					cur.err = err
					break
				}
				copy(cur.vals[cur.n*cols:(cur.n+1)*cols], row)
				for _, v := range row {
					if s, ok := v.(string); ok {
						cur.bytes += len(s)
					}
				}
				cur.n++
				if cur.n == readAheadRows || cur.bytes >= readAheadBytes {
					if !send() || !next() {
						return
					}
				}
			}
			if cur.n > 0 || cur.err != nil {
				send()
			}
		}()
		defer func() {
			close(done)
			wg.Wait()
		}()
		for b := range full {
			for i := range b.n {
				if !yield(b.vals[i*cols:(i+1)*cols:(i+1)*cols], nil) {
					return
				}
			}
			if b.err != nil {
				yield(nil, b.err)
				return
			}
			clear(b.vals[:b.n*cols]) // hold no rows beyond their batch
			free <- b                // never blocks: free holds every batch
		}
	}
}

// auditStream checks the audit chain of audit_log's rows as they are
// read for loading. It never stops the load: a chain it refuses, or rows
// out of seq order, only mean the chain must be checked the way it always
// was, by [store.VerifyAudit] on the loaded table, which decides
// (builder.checkAudit).
type auditStream struct {
	check *store.AuditRows
	err   error // the first refusal; nil while the chain holds
	rows  int64 // rows seen
}

// wrap returns rows, checking each on the way.
func (s *auditStream) wrap(rows iter.Seq2[[]any, error]) iter.Seq2[[]any, error] {
	return func(yield func([]any, error) bool) {
		for row, err := range rows {
			if err == nil {
				s.rows++
				if s.err == nil {
					s.err = s.check.Check(row)
				}
			}
			if !yield(row, err) {
				return
			}
		}
	}
}

// verified reports whether every row seen was checked and the chain held.
func (s *auditStream) verified() bool {
	return s != nil && s.err == nil && s.check.Count() == s.rows
}

// tableRows returns the rows of the backup's table mt, to be loaded into
// t: read ahead on a goroutine of their own, and for audit_log checked
// by audit on the way.
func (b *builder) tableRows(t store.Table, mt format.Table, audit *auditStream) iter.Seq2[[]any, error] {
	rows := b.rows(mt)
	if t.Name == "audit_log" && audit != nil {
		rows = audit.wrap(rows)
	}
	return readAhead(rows, len(t.Columns))
}

// newAuditStream returns a check of the audit chain for tables, or nil
// when they have no audit_log whose rows it can check.
func newAuditStream(tables []store.Table) *auditStream {
	for _, t := range tables {
		if t.Name == "audit_log" {
			check, err := store.NewAuditRows(t)
			if err != nil {
				return nil // VerifyAudit will say what is wrong
			}
			return &auditStream{check: check}
		}
	}
	return nil
}

// checkAudit makes sure that the restored audit log's hash chain is
// intact, refusing the backup otherwise, before the switch.
//
// A sealed log (format 5 and later) is the index audit_segments and the live tail
// in audit_log. The index must be contiguous: the first segment starts at
// seq 1 with an empty prev_hash, each next one starts the seq after the
// previous one's last and its prev_hash is that one's last_hash, and the
// live tail's first entry follows the last segment the same way; each
// segment's file must be in the restored blob store with the size the
// index gives. [store.VerifyAudit] checks the index and the live tail (a
// few thousand rows at most on a server that seals). Then each segment's
// file is checked against its index row at its ends (checkSegments:
// mostly as the file was copied, see segcheck.go; in parallel from the
// blob store otherwise): the manifest's checksums only say the files are
// the ones the backup wrote, not that the index row written beside a
// file describes it. Only the ends: decoding every entry made a
// restore's CPU grow with the history, and guarded only against a bug in
// the sealing writer (which checks the chain before it seals), since
// whoever can forge a backup can forge a file and its row alike; `audit
// verify` and `backups verify --deep` check every entry.
//
// An unsealed log (formats 1 to 4) was checked as its rows were loaded
// (audit); reading them all back would repeat that check, which at 2
// million rows costs seconds. It is skipped only when that check passed,
// no migration has run since the load (migrated), and audit_log holds
// exactly the rows checked: seq 1 to their count, which, with seq unique,
// leaves no room for any other row. In every other case, a chain the load
// refused included, [store.VerifyAudit] reads the table and decides, as
// it always did, so a broken chain is refused with its error.
func (b *builder) checkAudit(db *store.DB, audit *auditStream, migrated bool) error {
	ctx := b.ctx
	err := db.ReadTx(ctx, func(tx *store.Tx) error {
		segs, err := store.AuditSegments(ctx, tx)
		if err != nil {
			return err
		}
		if len(segs) == 0 && audit.verified() && !migrated {
			var lo, hi *int64
			err := tx.QueryRow(ctx, `SELECT (SELECT MIN(seq) FROM audit_log), (SELECT MAX(seq) FROM audit_log)`).Scan(&lo, &hi)
			if err != nil {
				return fmt.Errorf("read audit log: %w", err)
			}
			n := audit.check.Count()
			if (n == 0 && lo == nil && hi == nil) || (lo != nil && hi != nil && *lo == 1 && *hi == n) {
				return nil
			}
		}
		for i := range segs {
			if err := checkSegmentFile(db, &segs[i]); err != nil {
				return err
			}
		}
		if _, _, err = store.VerifyAudit(ctx, tx); err != nil {
			return err
		}
		return checkSegments(ctx, db, segs, b.segments)
	})
	if err != nil {
		return &HintError{Err: fmt.Errorf("restore: the backup's audit log: %w", err), Hint: "pick another backup"}
	}
	return nil
}

// checkSegments checks each sealed segment's file in db's blob store
// against its index row at the file's ends
// ([store.CheckAuditSegmentEndsAt]), on GOMAXPROCS workers, since each
// segment decodes on its own. An index row wrong at its ends (first or
// last seq, prev_hash or last_hash, entry count, a time its first or
// last frame's entries fall outside) is refused here, before the switch,
// rather than restored to fail `audit verify` later. The files are not
// hashed again: each was checked against its blob id as it was copied
// into the blob store, and checkSegmentFile checked its size. A segment checked
// as its file was copied, against exactly its row, is not read again:
// that check's result is its (segcheck.go). The error is the
// first segment's in seq order that fails, whichever worker finds a
// failure first: a failure stops the feeding of later segments but never
// cancels the check of an earlier one.
func checkSegments(ctx context.Context, db *store.DB, segs []store.AuditSegment, early *segmentChecks) error {
	if len(segs) == 0 {
		return nil
	}
	errs := make([]error, len(segs))
	var failed atomic.Int64 // lowest failing index + 1; 0 while none has failed
	fail := func(i int) {
		for {
			f := failed.Load()
			if (f != 0 && f <= int64(i)+1) || failed.CompareAndSwap(f, int64(i)+1) {
				return
			}
		}
	}
	var rest []int // the segments to check here, in seq order
	for i := range segs {
		ok, err := early.result(&segs[i])
		if !ok {
			rest = append(rest, i)
		} else if errs[i] = err; err != nil {
			fail(i)
		}
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(rest)) {
		wg.Go(func() {
			for i := range next {
				if segmentReread != nil {
					segmentReread(&segs[i])
				}
				if errs[i] = checkSegmentEnds(ctx, db, &segs[i]); errs[i] != nil {
					fail(i)
				}
			}
		})
	}
feed:
	for _, i := range rest {
		if f := failed.Load(); f != 0 && int64(i)+1 > f {
			break // a failure comes before it
		}
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return ctx.Err()
}

// checkSegmentEnds checks the file of the sealed segment seg in db's
// blob store against its index row at its ends, reading only them.
func checkSegmentEnds(ctx context.Context, db *store.DB, seg *store.AuditSegment) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f, err := db.Blobs.Open(seg.BlobID)
	if err != nil {
		return fmt.Errorf("check sealed audit segment seq %d-%d: %w", seg.FirstSeq, seg.LastSeq, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("check sealed audit segment seq %d-%d: %w", seg.FirstSeq, seg.LastSeq, err)
	}
	return store.CheckAuditSegmentEndsAt(seg, f, fi.Size())
}

// checkSegmentFile checks that the sealed segment seg has its file in
// db's blob store, with the size its index row gives. Its content was
// checked against its id as it was copied.
func checkSegmentFile(db *store.DB, seg *store.AuditSegment) error {
	size, err := db.Blobs.Stat(seg.BlobID)
	if errors.Is(err, blob.ErrNotFound) || errors.Is(err, blob.ErrInvalidID) {
		return fmt.Errorf("%w: sealed segment seq %d-%d: its file (blob %s) is not in the backup", store.ErrAuditChain, seg.FirstSeq, seg.LastSeq, seg.BlobID)
	} else if err != nil {
		return fmt.Errorf("sealed segment seq %d-%d: %w", seg.FirstSeq, seg.LastSeq, err)
	}
	if size != seg.Size {
		return fmt.Errorf("%w: sealed segment seq %d-%d: its file (blob %s) has %d bytes, the index says %d", store.ErrAuditChain, seg.FirstSeq, seg.LastSeq, seg.BlobID, size, seg.Size)
	}
	return nil
}
