package reliability_test

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// longByTag is set by the reliability_long build tag.
var longByTag bool

// bin is the bitnobi binary built once by TestMain.
var bin string

// prof is the number of trials of each fault.
var prof profile

type profile struct {
	Name          string
	BackupKills   int // kill -9 during backup
	RestoreKills  int // kill -9 during restore
	ServerKills   int // kill -9 of the server during writes
	Corruptions   int // damaged backup files, per kind of file
	BlobMiB       int // MiB of blobs in the killed data directory
	ConcurrentRun int // rounds of each concurrency scenario
	HugeJSONMiB   int // size of the huge manifest (slow to parse under -race)
	SealKills     int // kill -9 during audit seal
}

var (
	fast = profile{Name: "fast", BackupKills: 5, RestoreKills: 5, ServerKills: 2, Corruptions: 24, BlobMiB: 24, ConcurrentRun: 1, HugeJSONMiB: 4, SealKills: 3}
	long = profile{Name: "long", BackupKills: 30, RestoreKills: 30, ServerKills: 10, Corruptions: 120, BlobMiB: 48, ConcurrentRun: 5, HugeJSONMiB: 64, SealKills: 20}
)

func TestMain(m *testing.M) {
	flag.Parse()
	prof = fast
	if longByTag || os.Getenv("BITNOBI_RELIABILITY") == "long" {
		prof = long
	}
	if testing.Short() {
		prof.BackupKills, prof.RestoreKills, prof.ServerKills, prof.Corruptions, prof.SealKills = 2, 2, 1, 8, 1
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "bitnobi-reliability-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin = filepath.Join(dir, "bitnobi")
	// A plain build, without -race even under "go test -race": the
	// processes are killed, not checked for races, and stay fast.
	cmd := exec.Command("go", "build", "-o", bin, "github.com/bitnobi/bitnobi/cmd/bitnobi")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "build bitnobi: %v\n", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "reliability: profile %s\n", prof.Name)
	return m.Run()
}
