package backup_test

import (
	"testing"

	"github.com/bitnobi/bitnobi/backup/format"
	"github.com/bitnobi/bitnobi/store"
)

// A sealed audit segment never splits a backup's key range only if the
// two sizes are the same: segment k holds seq k*N to (k+1)*N-1 on both
// sides.
func TestSegmentSizesAgree(t *testing.T) {
	if got, want := int64(store.DefaultAuditSegmentSize), int64(format.SegmentKeys); got != want {
		t.Fatalf("store.DefaultAuditSegmentSize=%d, format.SegmentKeys=%d: they must be equal", got, want)
	}
}
