package backup_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/bitnobi/bitnobi/backup"
	"github.com/bitnobi/bitnobi/backup/backuptest"
)

// benchChecksCopyingOrAfter restores res, the backup of d of
// BenchmarkRestore_SealedSegments, twice an iteration, in turns: with
// each sealed segment checked as its file is copied (as restores do),
// and with every segment checked from the restored blob store after the
// copy (as restores did before; backup.SetMaxSegmentInMemory(0)). Taking
// turns within one run keeps the comparison fair on a machine whose load
// changes. It reports the median time of each ("copying-ms",
// "after-ms"), their ratio, the time of the phase after the load in each
// ("copying-after-load-ms", "after-after-load-ms") and the CPU time of
// each ("copying-cpu-ms", "after-cpu-ms").
func benchChecksCopyingOrAfter(b *testing.B, d *backuptest.DataDir, res *backup.Result) {
	root := b.TempDir()
	var copying, after, copyingAL, afterAL, copyingCPU, afterCPU []time.Duration
	i := 0
	for b.Loop() {
		for k := range 2 {
			late := (i+k)%2 == 1 // alternate which goes first
			target := filepath.Join(root, fmt.Sprint(i, k))
			var stop func()
			if late {
				stop = backup.SetMaxSegmentInMemory(0)
			}
			cpu := cpuTime(b)
			total, _, al := timedRestore(b, res, d, target)
			cpu = cpuTime(b) - cpu
			if late {
				stop()
				after, afterAL, afterCPU = append(after, total), append(afterAL, al), append(afterCPU, cpu)
			} else {
				copying, copyingAL, copyingCPU = append(copying, total), append(copyingAL, al), append(copyingCPU, cpu)
			}
			b.StopTimer()
			os.RemoveAll(target)
			b.StartTimer()
		}
		i++
	}
	median := func(ds []time.Duration) float64 {
		s := slices.Clone(ds)
		slices.Sort(s)
		return float64(s[len(s)/2].Microseconds()) / 1000
	}
	b.ReportMetric(median(copying), "copying-ms")
	b.ReportMetric(median(after), "after-ms")
	b.ReportMetric(median(copying)/median(after), "copying/after")
	b.ReportMetric(median(copyingAL), "copying-after-load-ms")
	b.ReportMetric(median(afterAL), "after-after-load-ms")
	b.ReportMetric(median(copyingCPU), "copying-cpu-ms")
	b.ReportMetric(median(afterCPU), "after-cpu-ms")
}
