package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/blob"
	"github.com/bitnobi/bitnobi/store/auditseg"
)

// AuditChain checks the audit log's hash chain one entry at a time, in seq
// order: the checks of [VerifyAudit], which uses it, for entries read from
// anywhere, such as a restore's rows as they are loaded ([AuditRows]). The
// zero value expects the first entry, seq 1. It is not safe for concurrent
// use.
type AuditChain struct {
	n    int64  // entries accepted
	seq  int64  // the last one's seq
	last string // and hash
}

// Next checks e, the entry after the ones given before, whose time is
// stored as the text at (Next sets e.At from it): its seq follows the
// previous entry's, its PrevHash is the previous entry's hash, and its
// Hash is the hash of its content. A broken chain gives an error
// wrapping [ErrAuditChain] that names the entry; the chain then stays at
// the entry before it.
func (c *AuditChain) Next(e *bitnobi.AuditEntry, at string) error {
	var err error
	if e.At, err = parseTS(at); err != nil {
		return fmt.Errorf("%w at seq %d: %v", ErrAuditChain, e.Seq, err)
	}
	switch {
	case e.Seq != c.seq+1:
		return fmt.Errorf("%w at seq %d: expected seq %d (entries missing)", ErrAuditChain, e.Seq, c.seq+1)
	case e.PrevHash != c.last:
		return fmt.Errorf("%w at seq %d: prev_hash does not match entry %d", ErrAuditChain, e.Seq, c.seq)
	case e.ComputeHash() != e.Hash:
		return fmt.Errorf("%w at seq %d: content does not match its hash (entry altered)", ErrAuditChain, e.Seq)
	}
	c.seq, c.last = e.Seq, e.Hash
	c.n++
	return nil
}

// segment checks the sealed segment seg as the next entries: by its
// index row (it follows the entries before, and its row is consistent),
// and, when blobs is not nil, by its file too ([CheckAuditSegment]). An
// error names the segment.
func (c *AuditChain) segment(ctx context.Context, seg *AuditSegment, blobs *blob.Store) error {
	switch {
	case seg.FirstSeq != c.seq+1:
		return segmentError(seg, "expected it to start at seq %d (entries missing)", c.seq+1)
	case seg.PrevHash != c.last:
		return segmentError(seg, "its prev_hash does not match entry %d", c.seq)
	}
	if err := checkSegmentRow(seg); err != nil {
		return err
	}
	if blobs != nil {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := CheckAuditSegment(ctx, seg, blobs); err != nil {
			return err
		}
	}
	c.seq, c.last = seg.LastSeq, seg.LastHash
	c.n += seg.Entries
	return nil
}

// checkSegmentRow checks that seg's index row counts its seq range.
func checkSegmentRow(seg *AuditSegment) error {
	if seg.LastSeq < seg.FirstSeq || seg.Entries != seg.LastSeq-seg.FirstSeq+1 {
		return segmentError(seg, "its index row says %d entries", seg.Entries)
	}
	return nil
}

// CheckAuditSegment checks the file of the sealed segment seg, read from
// blobs, against its index row, as [CheckAuditSegmentData] does. It does
// not check that seg follows the segments before it ([VerifyAudit] checks
// the index), so segments may be checked one apart from another, on
// goroutines of their own. An error wraps [ErrAuditChain] and names the
// segment.
func CheckAuditSegment(ctx context.Context, seg *AuditSegment, blobs *blob.Store) error {
	if blobs == nil {
		return errors.New("check sealed audit segment: no blob store to read it from")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	data, err := readSegmentFile(blobs, seg)
	if err != nil {
		return err
	}
	return CheckAuditSegmentData(seg, data)
}

// CheckAuditSegmentData checks data, the bytes of the file of the sealed
// segment seg, against its index row, with the checks [DB.VerifyAudit]
// makes of it: the bytes hash to its blob id and decode, its entries are
// seg.FirstSeq to seg.LastSeq, the first one's prev_hash is the row's,
// each frame's prev_hash is the hash of the entry before it (within a
// frame the hashes are recomputed from it, so the chain holds there by
// construction), the last entry's hash is the row's last_hash, and the
// row's times and summaries are its entries'. It decodes every frame and
// hashes every entry; a restore checks only the ends
// ([CheckAuditSegmentEnds]). It is safe for concurrent use. An error
// wraps [ErrAuditChain] and names the segment.
func CheckAuditSegmentData(seg *AuditSegment, data []byte) error {
	if err := checkSegmentBytes(seg, data); err != nil {
		return err
	}
	// Frame by frame: a check holds one frame's entries at a time, and
	// restores run one per core.
	var sum summarizer
	next, prev := seg.FirstSeq, seg.PrevHash
	err := auditseg.Scan(data, seg.Entries, func(es []bitnobi.AuditEntry) error {
		switch f := &es[0]; {
		case f.Seq != next:
			return segmentError(seg, "the file holds entries from seq %d, not those indexed", f.Seq)
		case f.PrevHash != prev && f.Seq == seg.FirstSeq:
			return segmentError(seg, "its first entry's prev_hash is not its index row's (seq %d: prev_hash does not match entry %d)", f.Seq, f.Seq-1)
		case f.PrevHash != prev:
			return segmentError(seg, "a frame's prev_hash does not match the entry before it (seq %d: prev_hash does not match entry %d)", f.Seq, f.Seq-1)
		}
		l := &es[len(es)-1]
		next, prev = l.Seq+1, l.Hash
		sum.add(es)
		return nil
	})
	if errors.Is(err, ErrAuditChain) {
		return err
	} else if err != nil {
		return segmentError(seg, "%v", err)
	}
	if next != seg.LastSeq+1 {
		return segmentError(seg, "the file holds %d entries, not those indexed", next-seg.FirstSeq)
	}
	if prev != seg.LastHash {
		return segmentError(seg, "its index row's last_hash is not its last entry's hash")
	}
	s := sum.done()
	if !slices.Equal(s.Actors, seg.Actors) || !slices.Equal(s.Actions, seg.Actions) || !slices.Equal(s.TargetTypes, seg.TargetTypes) ||
		!s.FirstAt.Equal(seg.FirstAt) || !s.LastAt.Equal(seg.LastAt) {
		return segmentError(seg, "its index row's times or summaries do not match its entries")
	}
	return nil
}

// checkSegmentBytes checks seg's index row on its own and that data, the
// bytes of its file, are within a segment's size and hash to its blob id:
// what both checks of a segment's bytes begin with.
func checkSegmentBytes(seg *AuditSegment, data []byte) error {
	if err := checkSegmentRow(seg); err != nil {
		return err
	}
	if len(data) > auditseg.MaxDecodedSize {
		return segmentError(seg, "the segment file has %d bytes, more than a segment may", len(data))
	}
	digest := sha256.Sum256(data)
	if got := hex.EncodeToString(digest[:]); got != seg.BlobID {
		return segmentError(seg, "the segment file was altered (its content hashes to %s)", got)
	}
	return nil
}

// CheckAuditSegmentEnds checks data, the bytes of the file of the sealed
// segment seg, against its index row at the two ends of the file: what a
// restore checks of each segment it copies. The bytes must hash to
// seg.BlobID; then [CheckAuditSegmentEndsAt] checks the rest, decoding
// two frames whatever the segment's length.
func CheckAuditSegmentEnds(seg *AuditSegment, data []byte) error {
	if err := checkSegmentBytes(seg, data); err != nil {
		return err
	}
	return CheckAuditSegmentEndsAt(seg, bytes.NewReader(data), int64(len(data)))
}

// CheckAuditSegmentEndsAt is [CheckAuditSegmentEnds] of the segment file
// of size bytes that r holds, for a caller that has checked those bytes
// are the blob seg.BlobID (a restore hashes each file as it copies it):
// it does not hash them, and reads only the header, the frame table and
// the first and last frames. size must be seg.Size; the header and
// frame table must parse (the table's CRC-32C included) and count
// seg.Entries entries from seg.FirstSeq; the first frame's prev_hash must
// be seg.PrevHash. The first and last frames are decoded, their hashes
// recomputed from the prev_hash the table gives each: the first entry
// must be seg.FirstSeq,
// the last seg.LastSeq with the hash seg.LastHash, and no entry of either
// frame may lie outside seg.FirstAt to seg.LastAt (the row's times are
// the least and greatest of all its entries', which a clock set back can
// make other than the first's and the last's).
//
// It leaves to [CheckAuditSegmentData] (`audit verify`, `backups verify
// --deep`) what needs every entry: the frames in between, the link from
// each frame to the one before, the exact times and the summaries. A
// wrong index row is caught at its ends; a file that is wrong inside
// but consistent at its ends is not. The chain has no secret key, so
// whoever can forge a backup can rewrite a segment and its row alike:
// checking every entry at restore only guarded against a bug in the
// sealing writer, which checks the chain before it seals, at a cost
// that grew with the history. It is safe for concurrent use if r is. An
// error wraps [ErrAuditChain] and names the segment, unless r fails to
// read for another reason than the file's end.
func CheckAuditSegmentEndsAt(seg *AuditSegment, r io.ReaderAt, size int64) error {
	if err := checkSegmentRow(seg); err != nil {
		return err
	}
	fail := func(err error) error {
		if errors.Is(err, auditseg.ErrFormat) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return segmentError(seg, "%v", err)
		}
		return fmt.Errorf("check sealed audit segment seq %d-%d: %w", seg.FirstSeq, seg.LastSeq, err)
	}
	if size != seg.Size {
		return segmentError(seg, "the segment file has %d bytes, its index row says %d", size, seg.Size)
	}
	x, err := auditseg.ReadIndex(r, size, seg.Entries)
	if err != nil {
		return fail(err)
	}
	switch {
	case x.FirstSeq != seg.FirstSeq:
		return segmentError(seg, "the file holds entries from seq %d, not those indexed", x.FirstSeq)
	case x.Frames[0].PrevHash != seg.PrevHash:
		return segmentError(seg, "its first entry's prev_hash is not its index row's (seq %d: prev_hash does not match entry %d)", seg.FirstSeq, seg.FirstSeq-1)
	}
	inTime := func(es []bitnobi.AuditEntry) error {
		for i := range es {
			if e := &es[i]; e.At.Before(seg.FirstAt) || e.At.After(seg.LastAt) {
				return segmentError(seg, "its index row's times do not match its entries (seq %d at %s, outside first_at %s to last_at %s)",
					e.Seq, bitnobi.FormatTime(e.At), bitnobi.FormatTime(seg.FirstAt), bitnobi.FormatTime(seg.LastAt))
			}
		}
		return nil
	}
	es, err := x.ReadFrame(r, 0)
	if err != nil {
		return fail(err)
	}
	if es[0].Seq != seg.FirstSeq {
		return segmentError(seg, "the file holds entries from seq %d, not those indexed", es[0].Seq)
	}
	if err := inTime(es); err != nil {
		return err
	}
	if k := len(x.Frames) - 1; k > 0 {
		if es, err = x.ReadFrame(r, k); err != nil {
			return fail(err)
		}
		if err := inTime(es); err != nil {
			return err
		}
	}
	switch l := &es[len(es)-1]; {
	case l.Seq != seg.LastSeq:
		return segmentError(seg, "the file holds %d entries, not those indexed", l.Seq-seg.FirstSeq+1)
	case l.Hash != seg.LastHash:
		return segmentError(seg, "its index row's last_hash is not its last entry's hash")
	}
	return nil
}

// Count returns the number of entries accepted, which is also the last
// one's seq.
func (c *AuditChain) Count() int64 { return c.n }

// Last returns the hash of the last entry accepted ("" before the first).
func (c *AuditChain) Last() string { return c.last }

// auditColumns are the audit_log columns that [AuditRows] reads, in the
// order of auditFields.
var auditColumns = [...]string{"seq", "at", "actor_id", "actor_name", "action", "target_type", "target_id", "detail", "remote_addr", "remote_user", "prev_hash", "hash"}

// AuditRows checks the hash chain of audit_log rows given in the
// engine-neutral form of backups ([DB.ExportRows], [Importer.Insert]), in
// seq order, with an [AuditChain]. A restore uses it to check the chain
// while it loads the rows, rather than reading them back afterwards.
type AuditRows struct {
	chain AuditChain
	table string
	idx   [len(auditColumns)]int // each column's position in a row
	e     bitnobi.AuditEntry
}

// NewAuditRows returns a check of rows of t, which must have audit_log's
// columns (in any order; others are ignored).
func NewAuditRows(t Table) (*AuditRows, error) {
	c := &AuditRows{table: t.Name}
	for k, name := range auditColumns {
		c.idx[k] = -1
		for i, col := range t.Columns {
			if col.Name == name {
				c.idx[k] = i
			}
		}
		if c.idx[k] < 0 {
			return nil, fmt.Errorf("check the audit chain of %s: no column %s", t.Name, name)
		}
	}
	return c, nil
}

// Check checks the next row, as [AuditChain.Next] checks an entry. A row
// whose values are not of the types audit_log stores (seq an int64, the
// rest strings) is refused with an error wrapping [ErrAuditChain] too.
func (c *AuditRows) Check(row []any) error {
	e := &c.e
	seq, ok := row[c.idx[0]].(int64)
	if !ok {
		return fmt.Errorf("%w after seq %d: %s.seq holds %T, not an integer", ErrAuditChain, c.chain.seq, c.table, row[c.idx[0]])
	}
	e.Seq = seq
	var at string
	for k, p := range [...]*string{&at, &e.ActorID, &e.ActorName, &e.Action, &e.TargetType, &e.TargetID, &e.Detail, &e.RemoteAddr, &e.RemoteUser, &e.PrevHash, &e.Hash} {
		v := row[c.idx[k+1]]
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("%w at seq %d: %s.%s holds %T, not text", ErrAuditChain, seq, c.table, auditColumns[k+1], v)
		}
		*p = s
	}
	return c.chain.Next(e, at)
}

// Count returns the number of rows accepted, which is also the last one's
// seq.
func (c *AuditRows) Count() int64 { return c.chain.Count() }

// Last returns the hash of the last row accepted ("" before the first).
func (c *AuditRows) Last() string { return c.chain.Last() }
