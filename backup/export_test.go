package backup

import (
	"sync/atomic"

	"github.com/bitnobi/bitnobi/store"
)

// SetSegmentKeys makes tables split into key ranges of n keys instead of
// [format.SegmentKeys] until the returned function is called, so that tests
// need few rows for several segments.
func SetSegmentKeys(n int64) (restore func()) {
	old := segmentKeys
	segmentKeys = n
	return func() { segmentKeys = old }
}

// SetMaxSegmentInMemory makes restores check in memory, as they copy
// them, only the sealed segment files of at most n bytes, until the
// returned function is called; 0 makes them check every segment from the
// restored blob store afterwards.
func SetMaxSegmentInMemory(n int64) (restore func()) {
	old := maxSegmentInMemory
	maxSegmentInMemory = n
	return func() { maxSegmentInMemory = old }
}

// CountSegmentRereads counts, until restore is called, the sealed
// segments that restores check by reading their files back from the
// restored blob store.
func CountSegmentRereads() (count func() int64, restore func()) {
	var n atomic.Int64
	segmentReread = func(*store.AuditSegment) { n.Add(1) }
	return n.Load, func() { segmentReread = nil }
}

// SetWriteback turns the early write-back of restored blobs on or off
// until the returned function is called.
func SetWriteback(on bool) (restore func()) {
	old := writeback
	writeback = on
	return func() { writeback = old }
}
