package backup_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/bitnobi/bitnobi/backup"
	"github.com/bitnobi/bitnobi/sqlite"
)

// benchUploadBlobs and benchUploadSize shape the state of
// BenchmarkRestore_Uploads: 256 MiB of uploaded CSV in blobs of 32 MiB,
// beside a small database, as an installation used mostly for sharing
// uploaded files holds.
const (
	benchUploadBlobs = 8
	benchUploadSize  = 32 << 20
)

// BenchmarkRestore_Uploads restores a backup of upload-heavy state (see
// benchUploadBlobs) into a new data directory ("restore"), and, for
// scale, copies the data directory it was made from with cp -a and
// fsyncs the copy ("cp"), which is what a restore of such state should
// approach: issue 15 measured 4.9 s against 1.0 s for 821 MB.
func BenchmarkRestore_Uploads(b *testing.B) {
	benchUploads(b, func(size int) []byte { return benchCSV(b, size) })
}

// BenchmarkRestore_UploadsRandom is BenchmarkRestore_Uploads with
// uploads of random bytes, which backups store as they are: a restore
// then hashes each blob's bytes once, for its file and its id at once.
func BenchmarkRestore_UploadsRandom(b *testing.B) {
	benchUploads(b, benchRandom)
}

func benchUploads(b *testing.B, content func(size int) []byte) {
	d := benchAuditDataDir(b, 1000)
	for i := range benchUploadBlobs {
		putBlobs(b, d, content(benchUploadSize+i)) // distinct blobs
	}
	res, err := backup.Create(context.Background(), backup.CreateOptions{Local: sqlite.Local{}, DataDir: d.Dir.Path(), Folder: filepath.Join(b.TempDir(), "backup")})
	if err != nil {
		b.Fatal(err)
	}
	var bytes int64
	for i := range benchUploadBlobs {
		bytes += int64(benchUploadSize + i)
	}
	b.Run("restore", func(b *testing.B) {
		b.SetBytes(bytes)
		defer reportCPU(b)()
		benchRestore(b, res.Path, d.Dir.Key())
	})
	b.Run("cp", func(b *testing.B) {
		b.SetBytes(bytes)
		defer reportCPU(b)()
		benchCopy(b, d.Dir.Path())
	})
}

// reportCPU returns a function that reports the process's CPU time (user
// and system) per iteration since reportCPU was called, as "cpu-ms/op":
// on a machine shared with other work, a steadier comparison than the
// time taken.
func reportCPU(b *testing.B) func() {
	start := cpuTime(b)
	return func() {
		b.ReportMetric(float64((cpuTime(b)-start).Milliseconds())/float64(b.N), "cpu-ms/op")
	}
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// fsyncTree fsyncs every file and directory under root, as sync(1)
// would, but for root alone: other work on the machine is not measured.
func fsyncTree(root string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && !d.Type().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		err = f.Sync()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	})
}

// benchCopy times `cp -a` of dir followed by an fsync of every file of the
// copy: the limit a restore of dir is measured against.
func benchCopy(b *testing.B, dir string) {
	b.Helper()
	root := b.TempDir()
	i := 0
	for b.Loop() {
		target := filepath.Join(root, fmt.Sprint(i))
		i++
		if out, err := exec.Command("cp", "-a", dir, target).CombinedOutput(); err != nil {
			b.Fatalf("cp -a: %v: %s", err, out)
		}
		if err := fsyncTree(target); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		os.RemoveAll(target)
		b.StartTimer()
	}
}
