package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDefaultDataDir: from a checkout, the data and backups go to
// ./bitnobi/data and ./bitnobi/backup, apart from the source folders
// (the backup package's is ./backup); an existing ./bitnobi-data keeps
// working, with a notice.
func TestDefaultDataDir(t *testing.T) {
	resolve := func(t *testing.T) (dataDir, folder, notice string) {
		t.Helper()
		var stderr bytes.Buffer
		m := &Main{Stdout: &bytes.Buffer{}, Stderr: &stderr, Getenv: func(string) string { return "" }}
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		d := m.dataDirFlag(fs)
		b := m.backupDirFlag(fs)
		if err := fs.Parse(nil); err != nil {
			t.Fatal(err)
		}
		folder, err := m.backupDir(*b, *d)
		if err != nil {
			t.Fatal(err)
		}
		return *d, folder, stderr.String()
	}
	t.Run("New", func(t *testing.T) {
		dir := t.TempDir()
		t.Chdir(dir)
		d, folder, notice := resolve(t)
		if d != DefaultDataDir || notice != "" {
			t.Fatalf("data dir %q with notice %q, want %q and none", d, notice, DefaultDataDir)
		}
		if got, want := folder, filepath.Join(dir, "bitnobi", "backup"); got != want {
			t.Fatalf("backup folder %q, want %q", got, want)
		}
	})
	t.Run("Legacy", func(t *testing.T) {
		dir := t.TempDir()
		t.Chdir(dir)
		if err := os.Mkdir(LegacyDataDir, 0o700); err != nil {
			t.Fatal(err)
		}
		d, folder, notice := resolve(t)
		if d != LegacyDataDir {
			t.Fatalf("data dir %q, want %q", d, LegacyDataDir)
		}
		if got, want := folder, filepath.Join(dir, "backup"); got != want {
			t.Fatalf("backup folder %q, want %q (where its backups are)", got, want)
		}
		if !strings.Contains(notice, "Notice: using ./bitnobi-data") || !strings.Contains(notice, "Try: move it to ./bitnobi/data") {
			t.Fatalf("notice %q, want one naming both directories", notice)
		}
	})
	t.Run("BothPreferNew", func(t *testing.T) {
		t.Chdir(t.TempDir())
		for _, d := range []string{LegacyDataDir, DefaultDataDir} {
			if err := os.MkdirAll(d, 0o700); err != nil {
				t.Fatal(err)
			}
		}
		if d, _, notice := resolve(t); d != DefaultDataDir || notice != "" {
			t.Fatalf("data dir %q with notice %q, want %q and none", d, notice, DefaultDataDir)
		}
	})
}
