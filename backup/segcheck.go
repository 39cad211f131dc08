package backup

import (
	"bytes"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/backup/format"
	"github.com/bitnobi/bitnobi/store"
)

// A restore checks every sealed audit segment's file against its index
// row before the switch (checkSegments), at the file's ends
// ([store.CheckAuditSegmentEndsAt]: the header, the frame table and the
// first and last frames, whatever the segment's length; `audit verify`
// and `backups verify --deep` decode every entry). Made after the copy,
// reading each file back from the new blob store, even that check came
// on top of the copy's time. So a restore reads the backup's
// audit_segments rows first (a few KB: one row per segment) and checks
// each segment while the copy holds its bytes in memory
// (builder.copyBlobFile), beside the copy of the other blobs and the
// load of the tables, and without a second read.
//
// Those early checks only save work: the rows they used are the backup
// file's, and the decision is made on the rows loaded into the new
// database, after the migrations, as before. checkSegments takes an
// early result only for a segment whose loaded row is exactly the row it
// was checked with, and checks any other segment from the blob store, as
// it always did; so the error a broken backup gets is the same, and a
// row the early read missed or read otherwise costs time, never a check.

// maxSegmentInMemory is the largest sealed segment file a restore holds
// in memory to check it as it is copied: each blob-copying goroutine
// holds at most one. A default segment (16,384 entries) takes about a
// megabyte; a larger file is checked from the blob store afterwards.
// Tests change it.
var maxSegmentInMemory int64 = 16 << 20

// segmentReread, when set by tests, is called for each segment that
// checkSegments checks from the blob store, for want of a check made as
// it was copied.
var segmentReread func(seg *store.AuditSegment)

// segmentChecks holds the index rows of the sealed segments a backup
// holds, by blob id, and the results of checking them as they were
// copied. Safe for concurrent use.
type segmentChecks struct {
	rows map[string][]store.AuditSegment // the backup's rows, by blob id; read-only

	mu   sync.Mutex
	done map[int64]checkedSegment // by first seq
}

// checkedSegment is the result of checking a segment's file against the
// index row seg.
type checkedSegment struct {
	seg store.AuditSegment
	err error
}

// segmentRows returns the rows of the backup's audit_segments that index
// the blob id, if any.
func (sc *segmentChecks) segmentRows(id string) []store.AuditSegment {
	if sc == nil {
		return nil
	}
	return sc.rows[id]
}

// check checks the segments segs, whose file's bytes are data (its blob
// checked against its id, hence not hashed again), at their ends, and
// records the results.
func (sc *segmentChecks) check(segs []store.AuditSegment, data []byte) {
	for i := range segs {
		err := store.CheckAuditSegmentEndsAt(&segs[i], bytes.NewReader(data), int64(len(data)))
		sc.mu.Lock()
		sc.done[segs[i].FirstSeq] = checkedSegment{seg: segs[i], err: err}
		sc.mu.Unlock()
	}
}

// result reports whether seg's file was checked as it was copied,
// against a row exactly like seg, and returns that check's result.
func (sc *segmentChecks) result(seg *store.AuditSegment) (bool, error) {
	if sc == nil {
		return false, nil
	}
	sc.mu.Lock()
	r, ok := sc.done[seg.FirstSeq]
	sc.mu.Unlock()
	if !ok || !sameSegment(&r.seg, seg) {
		return false, nil
	}
	return true, r.err
}

// sameSegment reports whether a and b are the same index row.
func sameSegment(a, b *store.AuditSegment) bool {
	return a.FirstSeq == b.FirstSeq && a.LastSeq == b.LastSeq && a.Entries == b.Entries &&
		a.FirstAt.Equal(b.FirstAt) && a.LastAt.Equal(b.LastAt) && a.PrevHash == b.PrevHash && a.LastHash == b.LastHash &&
		a.BlobID == b.BlobID && a.Size == b.Size &&
		slices.Equal(a.Actors, b.Actors) && slices.Equal(a.Actions, b.Actions) && slices.Equal(a.TargetTypes, b.TargetTypes)
}

// segmentIndex reads the backup's audit_segments rows, for the checks of
// segments as they are copied; nil when there are none, or when they
// cannot be read: then nothing is checked early, and the load meets (and
// reports) whatever is wrong with the table. tables are the restored
// schema's.
func (b *builder) segmentIndex(tables []store.Table) *segmentChecks {
	if !slices.ContainsFunc(tables, func(t store.Table) bool { return t.Name == "audit_segments" }) {
		return nil
	}
	i := slices.IndexFunc(b.m.Tables, func(t format.Table) bool { return t.Name == "audit_segments" })
	if i < 0 || b.m.Tables[i].Rows == 0 {
		return nil
	}
	mt := b.m.Tables[i]
	dec, ok := newSegmentRowDecoder(mt.Columns)
	if !ok {
		return nil
	}
	sc := &segmentChecks{rows: map[string][]store.AuditSegment{}, done: map[int64]checkedSegment{}}
	errSkip := errors.New("skip")
	_, err := forEachRow(b.ctx, b.dir, mt, b.keys, b.check, func(row []any) error {
		seg, ok := dec.decode(row)
		if !ok {
			return errSkip
		}
		sc.rows[seg.BlobID] = append(sc.rows[seg.BlobID], seg)
		return nil
	})
	if err != nil {
		return nil
	}
	return sc
}

// segmentRowDecoder turns the backup's rows of audit_segments into
// [store.AuditSegment] values, as [store.AuditSegments] reads them from a
// database: each column's position in a row.
type segmentRowDecoder struct {
	firstSeq, lastSeq, entries, firstAt, lastAt, prevHash, lastHash, blobID, size, actors, actions, targetTypes int
}

// newSegmentRowDecoder returns a decoder of rows with the columns cols,
// and false if one it needs is missing.
func newSegmentRowDecoder(cols []format.Column) (*segmentRowDecoder, bool) {
	d := &segmentRowDecoder{}
	for name, p := range map[string]*int{
		"first_seq": &d.firstSeq, "last_seq": &d.lastSeq, "entries": &d.entries, "first_at": &d.firstAt, "last_at": &d.lastAt,
		"prev_hash": &d.prevHash, "last_hash": &d.lastHash, "blob_id": &d.blobID, "size": &d.size,
		"actors": &d.actors, "actions": &d.actions, "target_types": &d.targetTypes,
	} {
		if *p = slices.IndexFunc(cols, func(c format.Column) bool { return c.Name == name }); *p < 0 {
			return nil, false
		}
	}
	return d, true
}

// decode returns the segment row holds, and false if a value is not of
// the type the table stores or does not parse.
func (d *segmentRowDecoder) decode(row []any) (store.AuditSegment, bool) {
	var s store.AuditSegment
	ok := true
	num := func(i int) int64 {
		v, isInt := row[i].(int64)
		ok = ok && isInt
		return v
	}
	text := func(i int) string {
		v, isText := row[i].(string)
		ok = ok && isText
		return v
	}
	at := func(i int) time.Time {
		v := text(i)
		if v == "" {
			return time.Time{}
		}
		t, err := bitnobi.ParseTime(v)
		ok = ok && err == nil
		return t
	}
	list := func(i int) []string {
		var l []string
		ok = ok && store.ParseAuditSummary([]byte(text(i)), &l) == nil
		return l
	}
	s.FirstSeq, s.LastSeq, s.Entries, s.Size = num(d.firstSeq), num(d.lastSeq), num(d.entries), num(d.size)
	s.FirstAt, s.LastAt = at(d.firstAt), at(d.lastAt)
	s.PrevHash, s.LastHash, s.BlobID = text(d.prevHash), text(d.lastHash), text(d.blobID)
	s.Actors, s.Actions, s.TargetTypes = list(d.actors), list(d.actions), list(d.targetTypes)
	return s, ok
}
