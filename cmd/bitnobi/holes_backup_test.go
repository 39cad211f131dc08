package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// betweenRenames leaves dataDir as a restore killed between its two
// renames leaves it: the old state moved to a .before-restore-* name, the
// restored state in the staging directory, the journal beside them, and
// no data directory.
func betweenRenames(t *testing.T, dataDir, bk string) (previous string) {
	t.Helper()
	previous = dataDir + ".before-restore-20260101_000000"
	staging := dataDir + ".restore-staging"
	if code, out, errOut := runCmd(t, nil, "restore", bk, "--data-dir", staging, "--key-file", filepath.Join(dataDir, "master.key")); code != ExitOK {
		t.Fatalf("restore into staging: exit %d\n%s\n%s", code, out, errOut)
	}
	if err := os.Rename(dataDir, previous); err != nil {
		t.Fatal(err)
	}
	j, err := json.Marshal(map[string]any{"version": 1, "data_dir": dataDir, "staging": staging,
		"previous": previous, "backup": filepath.Base(bk), "started": time.Now().UTC().Format(time.RFC3339)})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dataDir+".restore-journal", j, 0o600); err != nil {
		t.Fatal(err)
	}
	return previous
}

// TestFinishInterruptedRestore checks that backup and audit verify finish
// a restore killed between its two renames (no data directory, a journal)
// instead of failing with "no Bitnobi database".
func TestFinishInterruptedRestore(t *testing.T) {
	for _, cmd := range [][]string{{"backup"}, {"audit", "verify"}} {
		t.Run(cmd[0], func(t *testing.T) {
			_, dataDir := seededDataDir(t)
			bk := mustBackup(t, dataDir)
			betweenRenames(t, dataDir, bk)
			code, out, errOut := runCmd(t, nil, append(cmd, "--data-dir", dataDir)...)
			if code != ExitOK {
				t.Fatalf("%v: exit %d, want 0\nstdout: %s\nstderr: %s", cmd, code, out, errOut)
			}
			if _, err := os.Stat(filepath.Join(dataDir, "bitnobi.db")); err != nil {
				t.Fatalf("after %v: %v; want the restored state switched in", cmd, err)
			}
			if _, err := os.Stat(dataDir + ".restore-journal"); !os.IsNotExist(err) {
				t.Fatalf("journal still there after %v: %v", cmd, err)
			}
		})
	}
}
