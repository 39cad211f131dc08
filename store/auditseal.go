package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/blob"
	"github.com/bitnobi/bitnobi/store/auditseg"
)

// DefaultAuditSegmentSize is the number of audit entries in a sealed
// segment: the key range backups already split audit_log by, so that a
// backup of the live tail stays aligned with the segments. It must equal
// the backup format's SegmentKeys (package backup/format), or a sealed
// segment would split a backup's key range: TestSegmentSizesAgree in
// package backup fails if they differ.
const DefaultAuditSegmentSize = 16384

// AuditSegment is one sealed segment of the audit log, as the
// audit_segments table indexes it (see migration 0006): the entries with
// seq FirstSeq to LastSeq, stored in the blob BlobID in the format of
// package auditseg.
type AuditSegment struct {
	FirstSeq, LastSeq int64
	Entries           int64
	// FirstAt and LastAt are the smallest and the largest time of its
	// entries.
	FirstAt, LastAt time.Time
	// PrevHash is the first entry's PrevHash, LastHash the last entry's
	// Hash.
	PrevHash, LastHash string
	BlobID             string
	Size               int64 // of the blob
	// Actors are the distinct ActorID and ActorName values of its
	// entries; Actions and TargetTypes the distinct actions and target
	// types. Each is sorted. Queries skip a segment that cannot match.
	Actors, Actions, TargetTypes []string
}

// SealResult tells what [DB.SealAudit] did.
type SealResult struct {
	Segments int           // segments sealed
	Entries  int64         // entries moved from audit_log into them
	Bytes    int64         // size of the segment files written
	Duration time.Duration // time taken
	// SealedUpTo is the last seq held by a sealed segment after the
	// call (0 when none is).
	SealedUpTo int64
}

// segmentSize returns the segment size to seal with.
func (db *DB) segmentSize() int64 {
	if db.AuditSegmentSize > 0 {
		return db.AuditSegmentSize
	}
	return DefaultAuditSegmentSize
}

// errSealRaced means another sealer sealed the segment first.
var errSealRaced = errors.New("segment sealed by another sealer")

// SealAudit seals every segment of the audit log that can be sealed:
// segment k holds seq k*N to (k+1)*N-1 (N = db.AuditSegmentSize; the
// first, k = 0, holds seq 1 to N-1), the key ranges a backup splits
// audit_log by, and it
// is sealed once audit_log holds all its entries and at least one newer
// entry, so that the chain's head always stays in audit_log. For each, in
// order, it reads the entries and checks their chain, writes them as one
// blob (package auditseg) to db.Blobs, durably, and then in one write
// transaction records the blob and the segment and deletes the entries
// from audit_log, checking that it deleted exactly the entries sealed.
//
// A crash at any point leaves either the rows or the sealed segment: the
// blob is written before the transaction, and a blob that no committed
// segment refers to is removed by the blob collector after its grace
// period. Sealing the same entries again gives the same blob.
//
// It is safe to call concurrently with audited writes (appends go above
// the segment being sealed) and with other sealers: in one process they
// take turns; across processes, the write transaction checks that no one
// sealed the segment in the meantime, and the count of deleted rows
// catches anything else. A broken chain is not sealed: it gives an error
// wrapping [ErrAuditChain]. db.Blobs must be set.
func (db *DB) SealAudit(ctx context.Context) (SealResult, error) {
	start := time.Now()
	var res SealResult
	if db.Blobs == nil {
		return res, errors.New("seal audit log: no blob store")
	}
	db.sealMu.Lock()
	defer db.sealMu.Unlock()
	n := db.segmentSize()
	for {
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("seal audit log: %w", err)
		}
		var done, liveMax int64
		var lastHash string
		err := db.ReadTx(ctx, func(tx *Tx) error {
			err := tx.QueryRow(ctx, `SELECT last_seq, last_hash FROM audit_segments ORDER BY first_seq DESC LIMIT 1`).Scan(&done, &lastHash)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("read sealed segments: %w", err)
			}
			return tx.QueryRow(ctx, `SELECT COALESCE(MAX(seq), 0) FROM audit_log`).Scan(&liveMax)
		})
		if err != nil {
			return res, fmt.Errorf("seal audit log: %w", err)
		}
		res.SealedUpTo = done
		// Segments are the key ranges backups split audit_log by,
		// [k·n, (k+1)·n-1], so that a backup's ranges of the live tail
		// stay whole: the first holds seq 1 to n-1.
		first := done + 1
		last := (first/n+1)*n - 1
		if liveMax <= last {
			// Not a full segment with a newer entry yet.
			if res.Segments > 0 {
				db.reclaimSpace(ctx)
			}
			res.Duration = time.Since(start)
			return res, nil
		}
		seg, size, err := db.sealSegment(ctx, first, last, lastHash)
		if errors.Is(err, errSealRaced) {
			continue
		} else if err != nil {
			res.Duration = time.Since(start)
			return res, fmt.Errorf("seal audit log seq %d-%d: %w", first, last, err)
		}
		res.Segments++
		res.Entries += seg.Entries
		res.Bytes += size
		res.SealedUpTo = seg.LastSeq
	}
}

// reclaimStep is how many pages [DB.SealAudit] gives back to the file
// system in one transaction: 512 KiB of 4 KiB pages, a few milliseconds
// of holding the write lock, which every audited write waits for. In one
// transaction, a sealed segment's 2,400 pages held it for 30 to 150 ms
// (BenchmarkAuditedWriteDuringSeal).
const reclaimStep = 128

// reclaimSpace gives the pages of the sealed rows back to the file system
// where the engine does that cheaply ([Dialect.ReclaimSpace]: SQLite with
// incremental auto-vacuum), outside the seal's transactions, reclaimStep
// pages a transaction: the writers waiting for the write connection get
// it between two. It stops when no free page is left, or when a step gave
// back none (a SQLite database created without incremental auto-vacuum).
// A failure only leaves the space unreturned until the next seal: it is
// logged.
func (db *DB) reclaimSpace(ctx context.Context) {
	start := time.Now()
	var steps int
	prev := int64(-1)
	for {
		t := time.Now()
		left, err := db.Dialect.ReclaimSpace(ctx, db.Write, reclaimStep)
		db.lockHeld("reclaim", t)
		if err != nil {
			db.Logger.Warn("seal audit log: give back free space", "err", err)
			return
		}
		steps++
		if left == 0 || (prev >= 0 && left >= prev) {
			db.Logger.Debug("seal audit log: gave back free space", "steps", steps, "free_pages_left", left, "took", time.Since(start))
			return
		}
		prev = left
	}
}

// lockHeld reports to the test hook how long a write step of sealing,
// begun at since (zero: it never got the connection), held the write
// connection.
func (db *DB) lockHeld(step string, since time.Time) {
	if db.sealLockHeld != nil && !since.IsZero() {
		db.sealLockHeld(step, time.Since(since))
	}
}

// Compact rebuilds the database without its free space where the engine
// needs that done ([Dialect.Compact]: SQLite's VACUUM, which also turns on
// incremental auto-vacuum in a database created without it), and
// otherwise does nothing. It blocks writers while it runs.
func (db *DB) Compact(ctx context.Context) error {
	if err := db.Dialect.Compact(ctx, db.Write); err != nil {
		return fmt.Errorf("compact database: %w", err)
	}
	return nil
}

// sealSegment seals the entries first to last, whose first entry's
// PrevHash must be prevHash.
func (db *DB) sealSegment(ctx context.Context, first, last int64, prevHash string) (*AuditSegment, int64, error) {
	entries := make([]bitnobi.AuditEntry, 0, last-first+1)
	chain := AuditChain{n: first - 1, seq: first - 1, last: prevHash}
	err := db.ReadTx(ctx, func(tx *Tx) error {
		rows, err := tx.Query(ctx, `SELECT seq, at, actor_id, actor_name, action, target_type, target_id, detail, remote_addr, remote_user, prev_hash, hash
			FROM audit_log WHERE seq >= ? AND seq <= ? ORDER BY seq`, first, last)
		if err != nil {
			return fmt.Errorf("read entries: %w", err)
		}
		defer rows.Close()
		var at string
		for rows.Next() {
			entries = append(entries, bitnobi.AuditEntry{})
			e := &entries[len(entries)-1]
			if err := rows.Scan(&e.Seq, &at, &e.ActorID, &e.ActorName, &e.Action, &e.TargetType, &e.TargetID, &e.Detail, &e.RemoteAddr, &e.RemoteUser, &e.PrevHash, &e.Hash); err != nil {
				return fmt.Errorf("read entries: %w", err)
			}
			if err := chain.Next(e, at); err != nil {
				return err
			}
		}
		return rows.Err()
	})
	if err != nil {
		return nil, 0, err
	}
	if int64(len(entries)) != last-first+1 {
		if len(entries) == 0 {
			// Sealed by another process since we looked.
			return nil, 0, errSealRaced
		}
		return nil, 0, fmt.Errorf("%w: %d of %d entries in audit_log", ErrAuditChain, len(entries), last-first+1)
	}
	seg, data, err := db.putSegment(ctx, entries)
	if err != nil {
		return nil, 0, err
	}
	err = db.commitSegment(ctx, seg, data, func(tx *Tx) error {
		if n, err := tx.deleteSealed(ctx, first, last); err != nil {
			return fmt.Errorf("delete sealed entries: %w", err)
		} else if n != seg.Entries {
			return fmt.Errorf("delete sealed entries: deleted %d rows, sealed %d: rolled back", n, seg.Entries)
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return seg, seg.Size, nil
}

// putSegment encodes entries, a checked piece of the chain that is one
// whole segment range, as a segment file (package auditseg) and puts it
// in db.Blobs, durably. It returns the segment's index row and the file.
func (db *DB) putSegment(ctx context.Context, entries []bitnobi.AuditEntry) (*AuditSegment, []byte, error) {
	data, err := auditseg.Encode(entries)
	if err != nil {
		return nil, nil, err
	}
	id, size, err := db.Blobs.Put(ctx, bytes.NewReader(data), 0)
	if err != nil {
		return nil, nil, err
	}
	if db.afterSegmentPut != nil {
		db.afterSegmentPut(id)
	}
	seg := summarize(entries)
	seg.BlobID, seg.Size = id, size
	return seg, data, nil
}

// commitSegment records seg, put by [DB.putSegment] with the file data,
// in one write transaction: it checks that seg follows the last sealed
// segment, which another sealer may have sealed in the meantime
// ([errSealRaced]), runs step, which moves or checks what audit_log holds
// of its entries ([DB.SealAudit] deletes the rows it seals,
// [DB.ImportSealedSegment] checks that there are none), and records the
// blob and the index row.
func (db *DB) commitSegment(ctx context.Context, seg *AuditSegment, data []byte, step func(tx *Tx) error) error {
	id, size := seg.BlobID, seg.Size
	var held time.Time
	err := db.WriteTx(ctx, func(tx *Tx) error {
		held = time.Now()
		var done int64
		if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(last_seq), 0) FROM audit_segments`).Scan(&done); err != nil {
			return fmt.Errorf("read sealed segments: %w", err)
		}
		if done != seg.FirstSeq-1 {
			return errSealRaced
		}
		if err := step(tx); err != nil {
			return err
		}
		if err := db.keepSegmentBlob(ctx, id, size, data); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO blobs (id, size, created_at) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING`, id, size, ts(tx.Now())); err != nil {
			return fmt.Errorf("record segment blob: %w", err)
		}
		return tx.insertSegment(ctx, seg)
	})
	db.lockHeld("seal", held)
	if err != nil {
		return err
	}
	db.Logger.Debug("sealed audit segment", "first_seq", seg.FirstSeq, "last_seq", seg.LastSeq, "blob", seg.BlobID, "bytes", size)
	return nil
}

// SealedDeleter is a [Dialect] that deletes the entries of a segment
// being sealed from audit_log at less cost than a plain DELETE, with the
// same effect: the rows gone and audit_log's change stamp replaced, in
// tx (see store/migrations/0002_table_changes.sql). SQLite's triggers
// fire for each row, and its change-stamp trigger on audit_log replaced
// the stamp 16,384 times a seal, about half the time of a transaction
// that holds the one write lock every audited write waits for.
type SealedDeleter interface {
	// DeleteSealed deletes the rows of audit_log with seq first to last
	// within tx, replaces audit_log's change stamp once, and returns the
	// number of rows deleted. On an error tx must be rolled back.
	DeleteSealed(ctx context.Context, tx *sql.Tx, first, last int64) (int64, error)
}

// deleteSealed deletes the entries first to last from audit_log, which
// the segment tx indexes holds: through the dialect's [SealedDeleter]
// where it has one, else with a DELETE, whose statement-level change-stamp
// trigger (PostgreSQL's) replaces audit_log's stamp once.
func (tx *Tx) deleteSealed(ctx context.Context, first, last int64) (int64, error) {
	if d, ok := tx.db.Dialect.(SealedDeleter); ok {
		return d.DeleteSealed(ctx, tx.Tx, first, last)
	}
	r, err := tx.Exec(ctx, `DELETE FROM audit_log WHERE seq >= ? AND seq <= ?`, first, last)
	if err != nil {
		return 0, err
	}
	return r.RowsAffected()
}

// keepSegmentBlob makes sure, inside the seal's write transaction, that
// the segment's blob is stored with its size, putting data again if it is
// gone. The blob was put before the transaction, and the blob collector
// may have removed it since: a seal that crashed after its put leaves the
// same content unreferenced and old, the collector lists it, and removes
// it after the next seal's put found it there. The collector removes a
// file only inside a write transaction, after checking that no blobs row
// names it; write transactions run one at a time on both engines and
// across processes (SQLite's single writer, taken at BEGIN; PostgreSQL's
// advisory lock, see [Dialect.LockAudit]). So a file present now stays
// until this transaction commits the row that names it, and the seal
// never indexes a missing file.
func (db *DB) keepSegmentBlob(ctx context.Context, id string, size int64, data []byte) error {
	got, err := db.Blobs.Stat(id)
	switch {
	case errors.Is(err, blob.ErrNotFound):
		pid, psize, err := db.Blobs.Put(ctx, bytes.NewReader(data), 0)
		if err != nil {
			return fmt.Errorf("put segment blob again: %w", err)
		}
		if pid != id || psize != size {
			return fmt.Errorf("put segment blob again: got %s (%d bytes), want %s (%d bytes)", pid, psize, id, size)
		}
		db.Logger.Warn("segment blob removed before its seal committed: put again", "blob", id)
		return nil
	case err != nil:
		return fmt.Errorf("check segment blob: %w", err)
	case got != size:
		return fmt.Errorf("check segment blob %s: %d bytes on disk, %d written", id, got, size)
	}
	return nil
}

// summarize returns the index row of entries, but for the blob.
func summarize(entries []bitnobi.AuditEntry) *AuditSegment {
	var s summarizer
	s.add(entries)
	return s.done()
}

// summarizer builds the index row of entries given a run at a time, in
// seq order, but for the blob. The zero value is ready.
type summarizer struct {
	seg                    AuditSegment
	actors, actions, types map[string]bool
}

func (s *summarizer) add(entries []bitnobi.AuditEntry) {
	if len(entries) == 0 {
		return
	}
	if s.seg.Entries == 0 {
		f := &entries[0]
		s.seg = AuditSegment{FirstSeq: f.Seq, FirstAt: f.At, LastAt: f.At, PrevHash: f.PrevHash}
		s.actors, s.actions, s.types = map[string]bool{}, map[string]bool{}, map[string]bool{}
	}
	l := &entries[len(entries)-1]
	s.seg.LastSeq, s.seg.LastHash = l.Seq, l.Hash
	s.seg.Entries += int64(len(entries))
	// Neighbouring entries often share values: a map is touched only
	// when a value differs from the entry before's.
	var prev *bitnobi.AuditEntry
	for i := range entries {
		e := &entries[i]
		if e.At.Before(s.seg.FirstAt) {
			s.seg.FirstAt = e.At
		}
		if e.At.After(s.seg.LastAt) {
			s.seg.LastAt = e.At
		}
		if prev == nil || e.ActorID != prev.ActorID {
			s.actors[e.ActorID] = true
		}
		if prev == nil || e.ActorName != prev.ActorName {
			s.actors[e.ActorName] = true
		}
		if prev == nil || e.Action != prev.Action {
			s.actions[e.Action] = true
		}
		if prev == nil || e.TargetType != prev.TargetType {
			s.types[e.TargetType] = true
		}
		prev = e
	}
}

// done returns the index row of the entries added.
func (s *summarizer) done() *AuditSegment {
	seg := s.seg
	seg.Actors, seg.Actions, seg.TargetTypes = sortedKeys(s.actors), sortedKeys(s.actions), sortedKeys(s.types)
	return &seg
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// insertSegment records seg in audit_segments.
func (tx *Tx) insertSegment(ctx context.Context, seg *AuditSegment) error {
	var sums [3]string
	for i, v := range [...][]string{seg.Actors, seg.Actions, seg.TargetTypes} {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("record segment: %w", err)
		}
		sums[i] = string(b)
	}
	_, err := tx.Exec(ctx, `INSERT INTO audit_segments (first_seq, last_seq, entries, first_at, last_at, prev_hash, last_hash, blob_id, size, actors, actions, target_types)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		seg.FirstSeq, seg.LastSeq, seg.Entries, ts(seg.FirstAt), ts(seg.LastAt), seg.PrevHash, seg.LastHash, seg.BlobID, seg.Size, sums[0], sums[1], sums[2])
	if err != nil {
		return fmt.Errorf("record segment: %w", err)
	}
	return nil
}

// AuditSegments returns the sealed segments of the audit log as q sees
// them, in seq order.
func AuditSegments(ctx context.Context, q Querier) ([]AuditSegment, error) {
	return auditSegments(ctx, q, nil)
}

// auditSegments returns the sealed segments as q sees them, in seq order.
// With sums, a segment's summaries (Actors, Actions, TargetTypes) are
// taken from it when it holds them, by blob id, and added to it when not:
// a long history has hundreds of segments whose summaries would otherwise
// be parsed again at every query.
func auditSegments(ctx context.Context, q Querier, sums *summaryCache) ([]AuditSegment, error) {
	rows, err := q.QueryContext(ctx, `SELECT first_seq, last_seq, entries, first_at, last_at, prev_hash, last_hash, blob_id, size, actors, actions, target_types FROM audit_segments ORDER BY first_seq`)
	if err != nil {
		return nil, fmt.Errorf("read sealed audit segments: %w", err)
	}
	defer rows.Close()
	var out []AuditSegment
	var texts [3]sql.RawBytes
	for rows.Next() {
		var s AuditSegment
		var firstAt, lastAt string
		if err := rows.Scan(&s.FirstSeq, &s.LastSeq, &s.Entries, &firstAt, &lastAt, &s.PrevHash, &s.LastHash, &s.BlobID, &s.Size, &texts[0], &texts[1], &texts[2]); err != nil {
			return nil, fmt.Errorf("read sealed audit segments: %w", err)
		}
		if s.FirstAt, err = parseTS(firstAt); err != nil {
			return nil, err
		}
		if s.LastAt, err = parseTS(lastAt); err != nil {
			return nil, err
		}
		if !sums.get(&s) {
			for i, p := range [...]*[]string{&s.Actors, &s.Actions, &s.TargetTypes} {
				if err := ParseAuditSummary(texts[i], p); err != nil {
					return nil, fmt.Errorf("audit segment seq %d-%d: summary: %w", s.FirstSeq, s.LastSeq, err)
				}
			}
			sums.put(&s)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read sealed audit segments: %w", err)
	}
	return out, nil
}

// summaryCache keeps the parsed summaries of segments by blob id. The
// summaries are derived from the content, which the id names, so an entry
// is never stale (audit verify checks the rows against the files). A nil
// cache keeps nothing. The zero value is ready.
type summaryCache struct {
	mu sync.Mutex
	m  map[string][3][]string
}

func (c *summaryCache) get(s *AuditSegment) bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[s.BlobID]
	s.Actors, s.Actions, s.TargetTypes = v[0], v[1], v[2]
	return ok
}

func (c *summaryCache) put(s *AuditSegment) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string][3][]string{}
	}
	c.m[s.BlobID] = [3][]string{s.Actors, s.Actions, s.TargetTypes}
}

// has reports whether the sorted list holds v.
func has(sorted []string, v string) bool {
	_, ok := slices.BinarySearch(sorted, v)
	return ok
}

// segmentError is the error of a segment that cannot be read as indexed:
// it wraps [ErrAuditChain], since the log it is part of is not whole.
func segmentError(seg *AuditSegment, format string, args ...any) error {
	return fmt.Errorf("%w: sealed segment seq %d-%d (blob %s): %s", ErrAuditChain, seg.FirstSeq, seg.LastSeq, seg.BlobID, fmt.Sprintf(format, args...))
}

// openSegment opens the file of the sealed segment seg in blobs, and
// returns it with its size.
func openSegment(blobs *blob.Store, seg *AuditSegment) (*os.File, int64, error) {
	f, err := blobs.Open(seg.BlobID)
	if errors.Is(err, blob.ErrNotFound) {
		return nil, 0, fmt.Errorf("%w: sealed segment seq %d-%d (blob %s): %w from the blob store %s",
			ErrAuditChain, seg.FirstSeq, seg.LastSeq, seg.BlobID, ErrSegmentMissing, blobs.Dir)
	} else if err != nil {
		return nil, 0, fmt.Errorf("open sealed audit segment seq %d-%d: %w", seg.FirstSeq, seg.LastSeq, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("read sealed audit segment seq %d-%d: %w", seg.FirstSeq, seg.LastSeq, err)
	}
	return f, fi.Size(), nil
}

// readSegmentFile reads the file of the sealed segment seg from blobs,
// whole, in a buffer of its size on disk, not the size the index gives (a
// damaged row must not make a reader allocate it), up to the decoder's
// own bound; a file of another size than indexed is caught by its hash.
func readSegmentFile(blobs *blob.Store, seg *AuditSegment) ([]byte, error) {
	f, size, err := openSegment(blobs, seg)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if size > auditseg.MaxDecodedSize {
		return nil, segmentError(seg, "the segment file has %d bytes, more than a segment may", size)
	}
	buf := bytes.NewBuffer(make([]byte, 0, size+bytes.MinRead))
	if _, err := buf.ReadFrom(io.LimitReader(f, auditseg.MaxDecodedSize+1)); err != nil {
		return nil, fmt.Errorf("read sealed audit segment seq %d-%d: %w", seg.FirstSeq, seg.LastSeq, err)
	}
	return buf.Bytes(), nil
}

// Sizes of a [DB]'s cache of sealed segments. A page of a query, or the
// Audit Log element's pass, reads one frame after another (a frame holds
// up to [auditseg.FrameEntries] entries) and keeps those it returns
// entries of ([DB.keepFrame]), so a few dozen frames are enough; the
// frame tables are small (a few KiB a segment) and kept for many more
// segments, so that a page of a segment read before costs one read of
// one frame. A frame table of format version 3 also holds its
// segment's dictionary once a frame was read, but package auditseg
// bounds those across every table (8 MiB), not this cache.
const (
	frameCacheSize = 64
	indexCacheSize = 1024
)

// frameKey names frame i of the segment file blob.
type frameKey struct {
	blob string
	i    int
}

// segmentCache keeps the frame tables of sealed segments and recently
// decoded frames that held entries a reader returned, by blob id
// (content addressed, so an entry can never be stale). The zero value is
// ready.
type segmentCache struct {
	mu      sync.Mutex
	indexes map[string]*auditseg.Index
	keys    []frameKey // most recent last
	frames  map[frameKey]*segFrame
}

// segmentIndex returns the frame table of seg's file, read from db.Blobs
// or cached. A page reader trusts the file, whose name is its SHA-256
// (a checker hashes it): the frame table's checksum and each frame's
// catch damage. The index is shared: callers must not change it.
func (db *DB) segmentIndex(seg *AuditSegment) (*auditseg.Index, error) {
	c := &db.segs
	c.mu.Lock()
	x, ok := c.indexes[seg.BlobID]
	c.mu.Unlock()
	if ok {
		// The table is cached by blob id, but checked against each row
		// that names it: a damaged row naming another segment's file
		// must be refused as with a cold cache.
		if err := checkSegmentIndex(seg, x); err != nil {
			return nil, err
		}
		return x, nil
	}
	if db.Blobs == nil {
		return nil, errors.New("read sealed audit segment: no blob store")
	}
	f, size, err := openSegment(db.Blobs, seg)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	x, err = auditseg.ReadIndex(f, size, seg.Entries)
	if errors.Is(err, auditseg.ErrFormat) {
		return nil, segmentError(seg, "%v", err)
	} else if err != nil {
		return nil, fmt.Errorf("read sealed audit segment seq %d-%d: %w", seg.FirstSeq, seg.LastSeq, err)
	}
	if err := checkSegmentIndex(seg, x); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.indexes == nil || len(c.indexes) >= indexCacheSize {
		c.indexes = map[string]*auditseg.Index{}
	}
	c.indexes[seg.BlobID] = x
	return x, nil
}

// checkSegmentIndex checks that seg's index row counts its seq range and
// that the frame table x holds the entries it names, from the prev_hash
// it names: a reader goes on after the row's last_seq, and computes the
// hashes of the entries it returns from the table's prev_hash of their
// frame. A file whose chain starts elsewhere than the row says (as
// [CheckAuditSegmentEndsAt] checks it at restore) would give every entry
// of its first frame a hash the log never held.
func checkSegmentIndex(seg *AuditSegment, x *auditseg.Index) error {
	if err := checkSegmentRow(seg); err != nil {
		return err
	}
	if int64(x.Entries) != seg.Entries || x.FirstSeq != seg.FirstSeq {
		return segmentError(seg, "the file holds %d entries from seq %d, not those indexed", x.Entries, x.FirstSeq)
	}
	if len(x.Frames) == 0 || x.Frames[0].PrevHash != seg.PrevHash {
		return segmentError(seg, "its first entry's prev_hash is not its index row's (seq %d: prev_hash does not match entry %d)", seg.FirstSeq, seg.FirstSeq-1)
	}
	return nil
}

// segmentFrame returns frame i of seg, whose frame table is x, cached or
// decoded from the segment's file (opened by file, once for all the
// frames a reader reads of it), its hashes not yet computed (see
// [segFrame]). A cached frame is shared: callers must not change it. A
// frame decoded is the caller's, in memory that may be another's before:
// the caller caches it with [DB.keepFrame] if it returns any of its
// entries, or gives its memory back with [segFrame.release].
func (db *DB) segmentFrame(seg *AuditSegment, x *auditseg.Index, i int, file *segmentFile) (*segFrame, error) {
	c := &db.segs
	k := frameKey{seg.BlobID, i}
	c.mu.Lock()
	if fr, ok := c.frames[k]; ok {
		j := slices.Index(c.keys, k)
		c.keys = append(slices.Delete(c.keys, j, j+1), k)
		c.mu.Unlock()
		return fr, nil
	}
	c.mu.Unlock()
	f, err := file.open(db.Blobs, seg)
	if err != nil {
		return nil, err
	}
	fb := frameBufs.Get().(*frameBuf)
	fm := &x.Frames[i]
	if cap(fb.b) < fm.Size {
		fb.b = make([]byte, fm.Size)
	}
	if _, err := f.ReadAt(fb.b[:fm.Size], fm.Offset); err != nil {
		frameBufs.Put(fb)
		return nil, fmt.Errorf("read sealed audit segment seq %d-%d: frame %d: %w", seg.FirstSeq, seg.LastSeq, i, err)
	}
	es, raw, err := x.DecodeFrameFieldsInto(f, i, fb.b[:fm.Size], fb.es, fb.raw)
	if err != nil {
		frameBufs.Put(fb)
		if errors.Is(err, auditseg.ErrFormat) {
			return nil, segmentError(seg, "%v", err)
		}
		return nil, fmt.Errorf("read sealed audit segment seq %d-%d: %w", seg.FirstSeq, seg.LastSeq, err)
	}
	fb.es, fb.raw = es, raw
	return &segFrame{es: es, key: k, buf: fb}, nil
}
