package store

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/blob"
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
// and, when blobs is not nil, by its file too, entry by entry, with the
// row's summaries. An error names the segment.
func (c *AuditChain) segment(ctx context.Context, seg *AuditSegment, blobs *blob.Store) error {
	switch {
	case seg.FirstSeq != c.seq+1:
		return segmentError(seg, "expected it to start at seq %d (entries missing)", c.seq+1)
	case seg.PrevHash != c.last:
		return segmentError(seg, "its prev_hash does not match entry %d", c.seq)
	case seg.LastSeq < seg.FirstSeq || seg.Entries != seg.LastSeq-seg.FirstSeq+1:
		return segmentError(seg, "its index row says %d entries", seg.Entries)
	}
	if blobs == nil {
		c.seq, c.last = seg.LastSeq, seg.LastHash
		c.n += seg.Entries
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	entries, err := readSegment(blobs, seg)
	if err != nil {
		return err
	}
	return c.segmentEntries(seg, entries)
}

// segmentEntries checks entries, the decoded file of the sealed segment
// seg, as the next entries, with the row's last hash and summaries.
func (c *AuditChain) segmentEntries(seg *AuditSegment, entries []bitnobi.AuditEntry) error {
	for i := range entries {
		e := &entries[i]
		if err := c.Next(e, bitnobi.FormatTime(e.At)); err != nil {
			return fmt.Errorf("%w (in sealed segment seq %d-%d, blob %s)", err, seg.FirstSeq, seg.LastSeq, seg.BlobID)
		}
	}
	if c.last != seg.LastHash {
		return segmentError(seg, "its index row's last_hash is not its last entry's hash")
	}
	sum := summarize(entries)
	if !slices.Equal(sum.Actors, seg.Actors) || !slices.Equal(sum.Actions, seg.Actions) || !slices.Equal(sum.TargetTypes, seg.TargetTypes) ||
		!sum.FirstAt.Equal(seg.FirstAt) || !sum.LastAt.Equal(seg.LastAt) {
		return segmentError(seg, "its index row's times or summaries do not match its entries")
	}
	return nil
}

// CheckAuditSegment checks the file of the sealed segment seg, read from
// blobs, against its index row, with the checks [DB.VerifyAudit] makes
// of it: the file hashes to its blob id and decodes, its entries are
// seg.FirstSeq to seg.LastSeq, the first one's prev_hash is the row's,
// each entry checks as a live one does, the last one's hash is the row's
// last_hash, and the row's times and summaries are its entries'. It does
// not check that seg follows the segments before it ([VerifyAudit] checks
// the index), so segments may be checked one apart from another, on
// goroutines of their own. An error wraps [ErrAuditChain] and names the
// segment.
func CheckAuditSegment(ctx context.Context, seg *AuditSegment, blobs *blob.Store) error {
	if blobs == nil {
		return errors.New("check sealed audit segment: no blob store to read it from")
	}
	c := AuditChain{n: seg.FirstSeq - 1, seq: seg.FirstSeq - 1, last: seg.PrevHash}
	return c.segment(ctx, seg, blobs)
}

// CheckAuditSegmentData is [CheckAuditSegment] for a segment file already
// in memory: data, the bytes of seg's file, which it does not keep. A
// restore checks each segment with it as it copies the file, rather than
// reading the file again afterwards.
func CheckAuditSegmentData(seg *AuditSegment, data []byte) error {
	c := AuditChain{n: seg.FirstSeq - 1, seq: seg.FirstSeq - 1, last: seg.PrevHash}
	if seg.LastSeq < seg.FirstSeq || seg.Entries != seg.LastSeq-seg.FirstSeq+1 {
		return segmentError(seg, "its index row says %d entries", seg.Entries)
	}
	entries, err := decodeSegment(seg, data)
	if err != nil {
		return err
	}
	return c.segmentEntries(seg, entries)
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
