package format_test

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/bitnobi/bitnobi/backup"
	"github.com/bitnobi/bitnobi/backup/format"
)

// TestReadManifest_TooLarge checks that a manifest.json over the limit
// (256 MiB, docs/backup-format.md) is refused on its size, without being
// read: the file is sparse, and the refusal allocates almost nothing.
func TestReadManifest_TooLarge(t *testing.T) {
	for _, size := range []int64{256<<20 + 1, 1 << 40} {
		dir := t.TempDir()
		f, err := os.Create(filepath.Join(dir, format.ManifestName))
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(size); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err = format.ReadManifest(dir)
		runtime.ReadMemStats(&after)
		if !errors.Is(err, backup.ErrMalformed) {
			t.Fatalf("ReadManifest of a %d-byte manifest: %v, want ErrMalformed", size, err)
		}
		if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(1<<20); got > limit {
			t.Errorf("ReadManifest of a %d-byte manifest allocated %d bytes, want at most %d", size, got, limit)
		}
	}
}
