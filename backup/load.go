package backup

import (
	"fmt"
	"iter"
	"sync"

	"github.com/bitnobi/bitnobi/store"
)

// A restore loads tables on two goroutines: one reads and decodes a
// table's file and checks the audit chain (readAhead), the other inserts
// the rows (SQLite's one writer, or COPY to PostgreSQL). The copying of
// blobs runs beside both (builder.fill).

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
func (b *builder) tableRows(t store.Table, mt Table, audit *auditStream) iter.Seq2[[]any, error] {
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
// intact, refusing the backup otherwise. The rows were checked as they
// were loaded (audit); reading them all back would repeat that check,
// which at 2 million rows costs seconds. It is skipped only when that
// check passed, no migration has run since the load (migrated), and
// audit_log holds exactly the rows checked: seq 1 to their count, which,
// with seq unique, leaves no room for any other row. In every other case,
// a chain the load refused included, [store.VerifyAudit] reads the table
// and decides, as it always did, so a broken chain is refused with its
// error.
func (b *builder) checkAudit(db *store.DB, audit *auditStream, migrated bool) error {
	ctx := b.ctx
	err := db.ReadTx(ctx, func(tx *store.Tx) error {
		if audit.verified() && !migrated {
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
		_, _, err := store.VerifyAudit(ctx, tx)
		return err
	})
	if err != nil {
		return &HintError{Err: fmt.Errorf("restore: the backup's audit log: %w", err), Hint: "pick another backup"}
	}
	return nil
}
