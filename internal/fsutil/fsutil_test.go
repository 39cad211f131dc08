package fsutil_test

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bitnobi/bitnobi/internal/fsutil"
)

func TestSyncDir(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		if err := fsutil.SyncDir(t.TempDir()); err != nil {
			t.Fatalf("SyncDir() = %v", err)
		}
	})
	t.Run("ErrNotExist", func(t *testing.T) {
		err := fsutil.SyncDir(filepath.Join(t.TempDir(), "missing"))
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("SyncDir(missing) = %v, want fs.ErrNotExist", err)
		}
	})
}

func TestSyncDirs(t *testing.T) {
	var dirs []string
	for range 100 {
		dirs = append(dirs, t.TempDir())
	}
	if err := fsutil.SyncDirs(dirs); err != nil {
		t.Fatalf("SyncDirs() = %v", err)
	}
	if err := fsutil.SyncDirs(nil); err != nil {
		t.Fatalf("SyncDirs(nil) = %v", err)
	}
	missing := filepath.Join(t.TempDir(), "missing")
	err := fsutil.SyncDirs(append(dirs, missing))
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Fatalf("SyncDirs(with a missing one) = %v, want fs.ErrNotExist naming it", err)
	}
}

func TestWithin(t *testing.T) {
	for _, tt := range []struct {
		path, dir string
		want      bool
	}{
		{"/a/b", "/a/b", true},
		{"/a/b/c", "/a/b", true},
		{"/a/bc", "/a/b", false},
		{"/a", "/a/b", false},
		{"/x/..y", "/x", true},
	} {
		if got := fsutil.Within(tt.path, tt.dir); got != tt.want {
			t.Errorf("Within(%q, %q)=%v, want %v", tt.path, tt.dir, got, tt.want)
		}
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	write := func(s string) func(io.Writer) error {
		return func(w io.Writer) error { _, err := io.WriteString(w, s); return err }
	}
	if err := fsutil.WriteFileAtomic(p, 0o600, write("one")); err != nil {
		t.Fatal(err)
	}
	if err := fsutil.WriteFileAtomic(p, 0o600, write("two")); err != nil {
		t.Fatal(err)
	}
	failed := errors.New("failed")
	if err := fsutil.WriteFileAtomic(p, 0o600, func(w io.Writer) error { io.WriteString(w, "part"); return failed }); !errors.Is(err, failed) {
		t.Fatalf("WriteFileAtomic with a failing write: %v, want %v", err, failed)
	}
	if data, err := os.ReadFile(p); err != nil || string(data) != "two" {
		t.Fatalf("content %q, %v; want %q", data, err, "two")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("%d entries in the directory, want 1 (no temporary file left)", len(entries))
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v; want 0600", fi.Mode(), err)
	}
}

func TestWriteFileNew(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := fsutil.WriteFileNew(p, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := fsutil.WriteFileNew(p, []byte("y"), 0o600); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second WriteFileNew: %v, want fs.ErrExist", err)
	}
}
