package backup_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/bitnobi/bitnobi/backup"
	"github.com/bitnobi/bitnobi/backup/backuptest"
	"github.com/bitnobi/bitnobi/sqlite"
	"github.com/bitnobi/bitnobi/store"
)

// The state of BenchmarkRestore_SealedSegments: benchOverlapSegments
// sealed audit segments of the default size (about 1 MB each) beside
// benchOverlapUploads uploads of benchOverlapUploadSize bytes of CSV.
const (
	benchOverlapSegments   = 32
	benchOverlapUploads    = 4
	benchOverlapUploadSize = 16 << 20
)

// BenchmarkRestore_SealedSegments restores a backup of a sealed audit
// history beside some uploads ("restore"), and, for scale, copies the
// data directory it was made from with cp -a and fsyncs the copy ("cp");
// "checks" compares where the segments are checked
// (benchChecksCopyingOrAfter).
// Every restore checks each sealed segment against its index row at the
// file's ends (store.CheckAuditSegmentEndsAt); issue 15 asks that this
// add little to the time of copying the bytes. Besides the time, it reports:
//
//   - check-ms: the CPU time of checking every segment from the data
//     directory in full, one after the other (store.CheckAuditSegment:
//     what `audit verify` and `backups verify --deep` do), measured once
//     before the runs;
//   - ends-check-ms: the same for the check a restore makes, at each
//     file's ends (store.CheckAuditSegmentEndsAt, the file read from the
//     data directory's blob store);
//   - load-ms/op: the time from the start of the restore to the end of
//     its load phase (tables and blobs copied);
//   - after-load-ms/op: the time from there to the start of its seal
//     phase: the migrations, the audit chain's final check, and the
//     restore's audit entry;
//   - cpu-ms/op: the process's CPU time.
//
// Run it with
//
//	nice go test -run '^$' -bench Restore_SealedSegments -benchtime 3x ./backup/
func BenchmarkRestore_SealedSegments(b *testing.B) {
	d, res, check, ends := sealedBenchState(b)
	b.Run("restore", func(b *testing.B) {
		defer reportCPU(b)()
		root := b.TempDir()
		var load, afterLoad time.Duration
		i := 0
		for b.Loop() {
			target := filepath.Join(root, fmt.Sprint(i))
			i++
			_, l, a := timedRestore(b, res, d, target)
			load += l
			afterLoad += a
			b.StopTimer()
			os.RemoveAll(target)
			b.StartTimer()
		}
		b.ReportMetric(float64(load.Milliseconds())/float64(b.N), "load-ms/op")
		b.ReportMetric(float64(afterLoad.Milliseconds())/float64(b.N), "after-load-ms/op")
		b.ReportMetric(float64(check.Milliseconds()), "check-ms")
		b.ReportMetric(float64(ends.Microseconds())/1000, "ends-check-ms")
	})
	b.Run("checks", func(b *testing.B) { benchChecksCopyingOrAfter(b, d, res) })
	b.Run("cp", func(b *testing.B) {
		defer reportCPU(b)()
		benchCopy(b, d.Dir.Path())
	})
}

// sealedBenchState returns the data directory of
// BenchmarkRestore_SealedSegments, a backup of it, and the CPU time of
// checking its sealed segments one after the other, in full and at their
// ends.
func sealedBenchState(b *testing.B) (d *backuptest.DataDir, res *backup.Result, full, ends time.Duration) {
	b.Helper()
	ctx := context.Background()
	d = benchAuditDataDir(b, benchOverlapSegments*store.DefaultAuditSegmentSize+100)
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
	full = cpuTime(b) - start
	start = cpuTime(b)
	for i := range segs {
		f, err := d.Blobs.Open(segs[i].BlobID)
		if err != nil {
			b.Fatal(err)
		}
		err = store.CheckAuditSegmentEndsAt(&segs[i], f, segs[i].Size)
		f.Close()
		if err != nil {
			b.Fatal(err)
		}
	}
	return d, res, full, cpuTime(b) - start
}

// timedRestore restores res, a backup of d, into target and returns the
// time it took, the time to the end of its load phase, and the time from
// there to the start of its seal phase.
func timedRestore(b *testing.B, res *backup.Result, d *backuptest.DataDir, target string) (total, load, afterLoad time.Duration) {
	b.Helper()
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
	start := time.Now()
	if _, err := backup.Restore(context.Background(), backup.RestoreOptions{Backup: res.Path, DataDir: target, Local: sqlite.Local{}, KeyFile: d.Dir.Key(), Progress: progress}); err != nil {
		b.Fatal(err)
	}
	total = time.Since(start)
	if loaded.IsZero() || sealing.IsZero() {
		b.Fatal("the restore reported no end of its load phase or no seal phase")
	}
	return total, loaded.Sub(start), sealing.Sub(loaded)
}
