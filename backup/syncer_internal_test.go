package backup

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFileSyncer(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		dir := t.TempDir()
		s := newFileSyncer()
		var files []*os.File
		for i := range 3 * syncQueue { // more than the queue holds: finish waits, never drops
			f, err := os.Create(filepath.Join(dir, strings.Repeat("a", i+1)))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteString("x"); err != nil {
				t.Fatal(err)
			}
			if err := s.finish(f, f.Name()); err != nil {
				t.Fatal(err)
			}
			files = append(files, f)
		}
		if err := s.wait(); err != nil {
			t.Fatalf("wait: %v", err)
		}
		for _, f := range files { // every file closed by the syncer
			if err := f.Close(); !errors.Is(err, os.ErrClosed) {
				t.Fatalf("Close(%s) after wait = %v, want %v", f.Name(), err, os.ErrClosed)
			}
		}
		if err := s.wait(); err != nil {
			t.Fatalf("second wait: %v", err)
		}
	})
	t.Run("ErrClosed", func(t *testing.T) {
		// A file whose fsync fails (here: closed already) makes wait
		// fail, naming the file, however many others pass.
		dir := t.TempDir()
		s := newFileSyncer()
		for _, name := range []string{"a", "bad", "c"} {
			f, err := os.Create(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			if name == "bad" {
				f.Close()
			}
			if err := s.finish(f, "blobs/"+name); err != nil {
				t.Fatal(err)
			}
		}
		err := s.wait()
		if !errors.Is(err, os.ErrClosed) || !strings.Contains(err.Error(), "blobs/bad") {
			t.Fatalf("wait = %v, want %v naming blobs/bad", err, os.ErrClosed)
		}
	})
	t.Run("Nil", func(t *testing.T) {
		// Without a syncer, finish fsyncs and closes at once.
		var s *fileSyncer
		f, err := os.Create(filepath.Join(t.TempDir(), "f"))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.finish(f, "f"); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); !errors.Is(err, os.ErrClosed) {
			t.Fatalf("Close after finish = %v, want %v", err, os.ErrClosed)
		}
		if err := s.wait(); err != nil {
			t.Fatal(err)
		}
	})
}
