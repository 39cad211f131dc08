package backup_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/bitnobi/bitnobi/backup"
	"github.com/bitnobi/bitnobi/sqlite"
	"github.com/bitnobi/bitnobi/store"
)

// The state of BenchmarkRestore_SealedSegments: benchOverlapSegments
// sealed audit segments of the default size (about 1 MB each) beside
// benchOverlapUploads uploads of benchOverlapUploadSize bytes of CSV.
const (
	benchOverlapSegments   = 40
	benchOverlapUploads    = 4
	benchOverlapUploadSize = 16 << 20
)

// BenchmarkRestore_SealedSegments restores a backup of a sealed audit
// history beside some uploads ("restore"), and, for scale, copies the
// data directory it was made from with cp -a and fsyncs the copy ("cp").
// Every restore checks each sealed segment against its index row
// (store.CheckAuditSegment's checks); issue 15 asks that this add little
// to the time of copying the bytes. It reports, besides the time:
//
//   - check-ms: the CPU time of checking every segment from the data
//     directory, one after the other (store.CheckAuditSegment), measured
//     once before the runs: what the checks cost, wherever they run;
//   - after-load-ms/op: the time from the end of the restore's load phase
//     (tables and blobs copied) to the start of its seal phase: the
//     migrations, the audit chain's final check, and the restore's audit
//     entry;
//   - cpu-ms/op: the process's CPU time.
//
// Run it with
//
//	nice go test -run '^$' -bench Restore_SealedSegments -benchtime 3x ./backup/
func BenchmarkRestore_SealedSegments(b *testing.B) {
	ctx := context.Background()
	d := benchAuditDataDir(b, benchOverlapSegments*store.DefaultAuditSegmentSize+100)
	if _, err := d.DB.SealAudit(ctx); err != nil {
		b.Fatal(err)
	}
	segs := segments(b, d.DB)
	if len(segs) != benchOverlapSegments {
		b.Fatalf("%d sealed segments, want %d", len(segs), benchOverlapSegments)
	}
	var uploads [][]byte
	for i := range benchOverlapUploads {
		uploads = append(uploads, benchCSV(b, benchOverlapUploadSize+i)) // distinct blobs
	}
	putBlobs(b, d, uploads...)
	res, err := backup.Create(ctx, backup.CreateOptions{Local: sqlite.Local{}, DataDir: d.Dir.Path(), Folder: filepath.Join(b.TempDir(), "backup")})
	if err != nil {
		b.Fatal(err)
	}
	start := cpuTime(b)
	for i := range segs {
		if err := store.CheckAuditSegment(ctx, &segs[i], d.Blobs); err != nil {
			b.Fatal(err)
		}
	}
	check := cpuTime(b) - start

	b.Run("restore", func(b *testing.B) {
		defer reportCPU(b)()
		root := b.TempDir()
		var afterLoad time.Duration
		i := 0
		for b.Loop() {
			target := filepath.Join(root, fmt.Sprint(i))
			i++
			var mu sync.Mutex
			var loaded, sealing time.Time
			progress := func(p backup.Progress) {
				mu.Lock()
				defer mu.Unlock()
				switch {
				case p.Phase == "load" && p.Items == p.ItemsTotal:
					loaded = time.Now()
				case p.Phase == "seal" && sealing.IsZero():
					sealing = time.Now()
				}
			}
			if _, err := backup.Restore(ctx, backup.RestoreOptions{Backup: res.Path, DataDir: target, Local: sqlite.Local{}, KeyFile: d.Dir.Key(), Progress: progress}); err != nil {
				b.Fatal(err)
			}
			if loaded.IsZero() || sealing.IsZero() {
				b.Fatal("the restore reported no end of its load phase or no seal phase")
			}
			afterLoad += sealing.Sub(loaded)
			b.StopTimer()
			os.RemoveAll(target)
			b.StartTimer()
		}
		b.ReportMetric(float64(afterLoad.Milliseconds())/float64(b.N), "after-load-ms/op")
		b.ReportMetric(float64(check.Milliseconds()), "check-ms")
	})
	b.Run("cp", func(b *testing.B) {
		defer reportCPU(b)()
		root := b.TempDir()
		i := 0
		for b.Loop() {
			target := filepath.Join(root, fmt.Sprint(i))
			i++
			if out, err := exec.Command("cp", "-a", d.Dir.Path(), target).CombinedOutput(); err != nil {
				b.Fatalf("cp -a: %v: %s", err, out)
			}
			if err := fsyncTree(target); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			os.RemoveAll(target)
			b.StartTimer()
		}
	})
}
