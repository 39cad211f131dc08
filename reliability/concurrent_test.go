package reliability_test

import (
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestConcurrentBackups runs two backups into one folder at once (each
// must succeed or fail clearly, saying another backup holds the folder),
// a backup beside a prune, and a restore while a server holds the data
// directory (refused with exit code 3, data unchanged). Every listed
// backup verifies afterwards.
func TestConcurrentBackups(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	data, folder := filepath.Join(root, "data"), filepath.Join(root, "backups")
	seedDataDir(t, data, 8, "marker-live", "")
	before := dump(t, data)
	outcomes := map[string]int{}
	for range prof.ConcurrentRun {
		for _, second := range [][]string{
			{"backup", "--quiet", "--data-dir", data, "--backup-dir", folder},
			{"backup", "--quiet", "--wait", "1m", "--data-dir", data, "--backup-dir", folder},
			{"backups", "prune", "--keep-last", "1", "--data-dir", data, "--backup-dir", folder},
		} {
			var wg sync.WaitGroup
			rs := make([]result, 2)
			for i, args := range [][]string{{"backup", "--quiet", "--data-dir", data, "--backup-dir", folder}, second} {
				wg.Add(1)
				go func() { defer wg.Done(); rs[i] = runBin(t, args...) }()
			}
			wg.Wait()
			for i, r := range rs {
				switch {
				case r.Code == 0:
					outcomes["ok"]++
				case r.Code == 3 && strings.Contains(r.Stderr, "--wait"):
					outcomes["refused: folder locked"]++
				default:
					t.Fatalf("%d: unexpected outcome: %s", i, r)
				}
			}
			checkListedVerify(t, folder)
		}
	}
	srv := startBin(t, data)
	b := lastBackup(t, folder)
	r := runBin(t, "restore", b, "--data-dir", data)
	if r.Code != 3 {
		t.Fatalf("restore while the server runs: %s", r)
	}
	srv.kill(t)
	if !dump(t, data).equal(before) {
		t.Fatal("the live data changed")
	}
	t.Logf("outcomes: %v; restore beside a server: %s", outcomes, strings.TrimSpace(r.Stderr))
	record(t, "concurrency (two backups, backup with --wait, backup beside prune, restore beside a server)", prof.ConcurrentRun*3+1,
		"each succeeded or was refused clearly (exit 3, folder or data directory locked); every listed backup verifies; data unchanged")
}
