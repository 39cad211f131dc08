package format

// Segments: docs/backup-format.md, "Segments" (under "Compression"), and
// "Incremental backups". A table is stored as one or more segment files
// (named by [SegmentFile]); a table whose primary key is one INTEGER
// column is split by key, so that a backup rewrites only the segments
// that changed and hard-links the others.

// Segment is one file of a table's rows (format 3). A table whose primary
// key is one INTEGER column is split by key into ranges of
// [SegmentKeys] keys, and its segments say which keys they hold; any other
// table is one segment.
type Segment struct {
	File    string `json:"file"` // tables/<name>.<n>.jsonl.zst, n = 0, 1, 2...
	Rows    int64  `json:"rows"`
	RawSize int64  `json:"raw_size"` // bytes of JSON lines, decoded
	// Keys is the segment's key range [from, to], for a table split by
	// key: every row of the segment has its key in it, and no other
	// segment's range overlaps it.
	Keys *[2]int64 `json:"keys,omitempty"`
	// First and Last are the smallest and largest key in the segment, and
	// LastRowSHA256 the SHA-256 of the segment's last line (with its
	// LF), for a table split by key; a backup compares them with the live
	// table to decide whether the segment is unchanged.
	First         int64  `json:"first,omitempty"`
	Last          int64  `json:"last,omitempty"`
	LastRowSHA256 string `json:"last_row_sha256,omitempty"`
}

// SegmentKeys is the number of keys in the key range of a segment of a
// table split by key: segment ranges are [k*SegmentKeys, (k+1)*SegmentKeys-1].
// Small enough that rewriting the last, growing segment of audit_log
// costs little; large enough that 10 million entries are ~600 files.
// It must equal store.DefaultAuditSegmentSize, the size of a sealed
// audit segment, so that a sealed segment never splits a backup's key
// range (TestSegmentSizesAgree in package backup fails otherwise).
const SegmentKeys = 1 << 14

// Parts returns the table's segments in order: Segments in format 3, the
// one File in formats 1 and 2.
func (t Table) Parts() []Segment {
	if t.File != "" {
		return []Segment{{File: t.File, Rows: t.Rows, RawSize: t.RawSize}}
	}
	return t.Segments
}

// Where names the table's files in a message: the file, if it has one.
func (t Table) Where() string {
	if ps := t.Parts(); len(ps) == 1 {
		return ps[0].File
	}
	return "tables/" + t.Name + ".*.jsonl.zst"
}
