package auditseg_test

import (
	"runtime"
	"testing"

	"github.com/bitnobi/bitnobi/store/auditseg"
)

// TestEncodeKeepsLittleMemory checks that sealing a segment does not leave
// the process holding large encoder state: the encoders' pooled states
// live as long as the process (a server seals all its life), and the
// dictionary's encoder at zstd's best level kept 74 MiB after one
// segment, enough to fail the upload tests' bounds on heap growth in
// other packages. Not parallel, so that no other test's memory counts.
func TestEncodeKeepsLittleMemory(t *testing.T) {
	es := entries(16384)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range 2 * runtime.GOMAXPROCS(0) {
		if _, err := auditseg.Encode(es); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	const limit = 24 << 20
	if grew := int64(after.HeapInuse) - int64(before.HeapInuse); grew > limit {
		t.Errorf("heap in use grew by %d MiB after encoding segments and a GC, more than %d MiB: an encoder keeps large state", grew>>20, limit>>20)
	}
}
