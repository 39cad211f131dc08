// Command profile runs one backup or restore in-process under the CPU
// profiler, so that a profile shows that operation alone (a benchmark's
// profile also holds its set-up). For finding what to make faster:
//
//	go run ./bench/profile -op backup -data-dir D -backup-dir B -cpuprofile cpu.prof
//	go run ./bench/profile -op restore -backup B/backup-... -data-dir T -key-file D/master.key -cpuprofile cpu.prof
//	go tool pprof -top -cum cpu.prof
//
// With -trace it also writes an execution trace, which shows where the
// operation's goroutines wait rather than compute (the disk, a lock, the
// scheduler), and whether both cores stay busy to the end:
//
//	go run ./bench/profile -op backup -data-dir D -backup-dir B -trace trace.out
//	go tool trace -pprof=syscall trace.out > syscall.prof && go tool pprof -top syscall.prof
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"runtime/trace"
	"time"

	"github.com/bitnobi/bitnobi/backup"
	"github.com/bitnobi/bitnobi/sqlite"
)

func main() {
	op := flag.String("op", "backup", "backup or restore")
	dataDir := flag.String("data-dir", "", "data directory: backed up, or restored into")
	backupDir := flag.String("backup-dir", "", "backup folder (backup)")
	from := flag.String("backup", "", "backup to restore (restore)")
	keyFile := flag.String("key-file", "", "master key (restore)")
	out := flag.String("cpuprofile", "cpu.prof", "CPU profile to write")
	traceOut := flag.String("trace", "", "execution trace to write, if any")
	flag.Parse()
	if err := run(*op, *dataDir, *backupDir, *from, *keyFile, *out, *traceOut); err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		os.Exit(1)
	}
}

func run(op, dataDir, backupDir, from, keyFile, out, traceOut string) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	defer pprof.StopCPUProfile()
	if traceOut != "" {
		tf, err := os.Create(traceOut)
		if err != nil {
			return err
		}
		defer tf.Close()
		if err := trace.Start(tf); err != nil {
			return err
		}
		defer trace.Stop()
	}
	ctx := context.Background()
	start := time.Now()
	switch op {
	case "backup":
		res, err := backup.Create(ctx, backup.CreateOptions{Local: sqlite.Local{}, DataDir: dataDir, Folder: backupDir, Progress: phases(start)})
		if err != nil {
			return err
		}
		fmt.Printf("backup %s: %d rows, %d blobs in %v\n", res.Name, res.Manifest.Stats.Rows, res.Manifest.Stats.Blobs, time.Since(start))
	case "restore":
		res, err := backup.Restore(ctx, backup.RestoreOptions{Backup: from, DataDir: dataDir, Local: sqlite.Local{}, KeyFile: keyFile, DiscardPrevious: true,
			Progress: phases(start)})
		if err != nil {
			return err
		}
		fmt.Printf("restore of %s into %s in %v\n", from, res.DataDir, time.Since(start))
	default:
		return fmt.Errorf("-op %q: want backup or restore", op)
	}
	return nil
}

// phases returns a progress function that prints, on standard error, when
// each phase of the operation began and ended after start, so that a
// profile can be read against the operation's wall-clock phases.
func phases(start time.Time) func(backup.Progress) {
	var phase string
	var last, printed time.Duration
	return func(p backup.Progress) {
		now := time.Since(start)
		if p.Phase != phase {
			if phase != "" {
				fmt.Fprintf(os.Stderr, "%8.3fs  %s ended\n", last.Seconds(), phase)
			}
			fmt.Fprintf(os.Stderr, "%8.3fs  %s began\n", now.Seconds(), p.Phase)
			phase = p.Phase
		}
		if now-printed >= 250*time.Millisecond || p.Items == p.ItemsTotal {
			printed = now
			fmt.Fprintf(os.Stderr, "%8.3fs  %s: %d of %d items, %d of %d bytes\n", now.Seconds(), p.Phase, p.Items, p.ItemsTotal, p.Bytes, p.BytesTotal)
		}
		last = now
	}
}
