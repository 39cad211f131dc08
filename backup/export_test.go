package backup

// SetSegmentKeys makes tables split into key ranges of n keys instead of
// [format.SegmentKeys] until the returned function is called, so that tests
// need few rows for several segments.
func SetSegmentKeys(n int64) (restore func()) {
	old := segmentKeys
	segmentKeys = n
	return func() { segmentKeys = old }
}
