package archive_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bitnobi/bitnobi/backup/archive"
	"github.com/bitnobi/bitnobi/internal/testutil"
)

// tree is a backup-like directory: slash-separated name -> content. The
// manifest comes last in the file list, as the caller puts it.
var tree = map[string]string{
	"tables/users.jsonl.zst":               "users",
	"tables/empty.jsonl.zst":               "",
	"blobs/ab/" + strings.Repeat("ab", 32): "a blob",
	// Longer than the 100 bytes USTAR allows in one field.
	"blobs/cd/" + strings.Repeat("c", 120): "long name",
	"manifest.json":                        `{"format":1}`,
}

// names returns the names of tree with manifest.json last.
func names(m map[string]string) []string {
	var out []string
	for name := range m {
		if name != "manifest.json" {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	if _, ok := m["manifest.json"]; ok {
		out = append(out, "manifest.json")
	}
	return out
}

// mustWriteTree creates the files of m under a new directory, all with
// modification time mtime, and returns the directory.
func mustWriteTree(tb testing.TB, m map[string]string, mtime time.Time) string {
	tb.Helper()
	dir := tb.TempDir()
	for name, content := range m {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			tb.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}

// mustArchive returns the archive Write makes of m.
func mustArchive(tb testing.TB, m map[string]string, compress bool) []byte {
	tb.Helper()
	dir := mustWriteTree(tb, m, time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC))
	var buf bytes.Buffer
	if err := archive.Write(context.Background(), &buf, dir, names(m), compress); err != nil {
		tb.Fatalf("Write: %v", err)
	}
	return buf.Bytes()
}

// newDest returns an empty destination directory inside a parent that
// holds nothing else, so that tests can check nothing escaped.
func newDest(tb testing.TB) (parent, dest string) {
	tb.Helper()
	parent = tb.TempDir()
	dest = filepath.Join(parent, "dest")
	if err := os.Mkdir(dest, 0o700); err != nil {
		tb.Fatal(err)
	}
	return parent, dest
}

// readTree returns the regular files under dir, and fails on anything
// that is neither a regular file nor a directory.
func readTree(tb testing.TB, dir string) map[string]string {
	tb.Helper()
	got := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		switch {
		case d.Type().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			got[filepath.ToSlash(rel)] = string(b)
		case !d.IsDir():
			tb.Errorf("%s: unexpected file type %v", rel, d.Type())
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return got
}

// assertOnlyDest checks that parent holds dest and nothing else, and that
// dest is empty if wantEmpty.
func assertOnlyDest(tb testing.TB, parent string, wantEmpty bool) {
	tb.Helper()
	entries, err := os.ReadDir(parent)
	if err != nil {
		tb.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "dest" {
		var got []string
		for _, e := range entries {
			got = append(got, e.Name())
		}
		tb.Fatalf("parent of dest holds %q, want only dest", got)
	}
	if !wantEmpty {
		return
	}
	entries, err = os.ReadDir(filepath.Join(parent, "dest"))
	if err != nil {
		tb.Fatal(err)
	}
	if len(entries) != 0 {
		tb.Fatalf("dest not empty after a failed Extract: %v", readTree(tb, filepath.Join(parent, "dest")))
	}
}

func TestRoundTrip(t *testing.T) {
	big := make([]byte, 3<<20+17) // several zstd blocks
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range big {
		big[i] = byte(rng.IntN(16)) // compressible, not trivially
	}
	m := map[string]string{"tables/big.bin": string(big)}
	for k, v := range tree {
		m[k] = v
	}
	for _, tt := range []struct {
		name     string
		compress bool
	}{
		{"Plain", false},
		{"Zstd", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			data := mustArchive(t, m, tt.compress)
			if got, want := bytes.HasPrefix(data, []byte{0x28, 0xb5, 0x2f, 0xfd}), tt.compress; got != want {
				t.Fatalf("zstd magic present=%v, want %v", got, want)
			}
			if tt.compress && len(data) >= len(big) {
				t.Errorf("compressed size %d, not smaller than %d", len(data), len(big))
			}
			parent, dest := newDest(t)
			var allowed []string
			allow := func(name string, size int64) error {
				if got, want := size, int64(len(m[name])); got != want {
					t.Errorf("allow(%q) size=%d, want %d", name, got, want)
				}
				allowed = append(allowed, name)
				return nil
			}
			files, err := archive.Extract(context.Background(), bytes.NewReader(data), dest, allow, archive.Limits{})
			if err != nil {
				t.Fatalf("Extract: %v", err)
			}
			if got, want := files, names(m); !slices.Equal(got, want) {
				t.Errorf("files=%q, want %q", got, want)
			}
			if got, want := allowed, names(m); !slices.Equal(got, want) {
				t.Errorf("allow called for %q, want %q", got, want)
			}
			got := readTree(t, dest)
			if len(got) != len(m) {
				t.Errorf("extracted %d files, want %d", len(got), len(m))
			}
			for name, want := range m {
				if got[name] != want {
					t.Errorf("%s: content differs (%d bytes, want %d)", name, len(got[name]), len(want))
				}
			}
			assertOnlyDest(t, parent, false)
			fi, err := os.Stat(filepath.Join(dest, "manifest.json"))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := fi.Mode().Perm(), fs.FileMode(0o600); got != want {
				t.Errorf("file mode %v, want %v", got, want)
			}
			fi, err = os.Stat(filepath.Join(dest, "tables"))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := fi.Mode().Perm(), fs.FileMode(0o700); got != want {
				t.Errorf("directory mode %v, want %v", got, want)
			}
		})
	}
}

// TestExtract_Fixture checks that archives written by an earlier version
// of Write still extract. Regenerate with go test -update only when the
// format changes on purpose, and then keep the old files too.
func TestExtract_Fixture(t *testing.T) {
	for _, tt := range []struct {
		file     string
		compress bool
	}{
		{"v1.tar", false},
		{"v1.tar.zst", true},
	} {
		t.Run(tt.file, func(t *testing.T) {
			p := filepath.Join("testdata", tt.file)
			if *testutil.Update {
				if err := os.WriteFile(p, mustArchive(t, tree, tt.compress), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			_, dest := newDest(t)
			if _, err := archive.Extract(context.Background(), bytes.NewReader(data), dest, nil, archive.Limits{}); err != nil {
				t.Fatalf("Extract: %v", err)
			}
			got := readTree(t, dest)
			for name, want := range tree {
				if got[name] != want {
					t.Errorf("%s=%q, want %q", name, got[name], want)
				}
			}
			if len(got) != len(tree) {
				t.Errorf("extracted %d files, want %d", len(got), len(tree))
			}
		})
	}
}

func TestWrite_Errors(t *testing.T) {
	dir := mustWriteTree(t, map[string]string{"a/b.txt": "b", "c.txt": "c"}, time.Now())
	if err := os.Symlink("c.txt", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "empty"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		files []string
		want  error
	}{
		{"ErrUnsafePath", []string{"../c.txt"}, archive.ErrUnsafePath},
		{"ErrUnsafePath/Absolute", []string{filepath.Join(dir, "c.txt")}, archive.ErrUnsafePath},
		{"ErrUnsafePath/Dot", []string{"./c.txt"}, archive.ErrUnsafePath},
		{"ErrUnsafePath/Backslash", []string{`a\b.txt`}, archive.ErrUnsafePath},
		{"ErrDuplicate", []string{"c.txt", "a/b.txt", "c.txt"}, archive.ErrDuplicate},
		{"ErrLink", []string{"link"}, archive.ErrLink},
		{"ErrUnsupportedType", []string{"empty"}, archive.ErrUnsupportedType},
		{"ErrNotExist", []string{"c.txt", "missing"}, fs.ErrNotExist},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := archive.Write(context.Background(), io.Discard, dir, tt.files, false)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Write(%q)=%v, want %v", tt.files, err, tt.want)
			}
		})
	}
	// A small compressed archive reaches w only when the zstd frame is
	// closed, so this also checks that a failing Close is reported.
	for _, compress := range []bool{false, true} {
		t.Run(fmt.Sprint("WriterError/compress=", compress), func(t *testing.T) {
			errFull := errors.New("disk full")
			err := archive.Write(context.Background(), failingWriter{errFull}, dir, []string{"c.txt", "a/b.txt"}, compress)
			if !errors.Is(err, errFull) {
				t.Fatalf("Write=%v, want the writer's error", err)
			}
		})
	}
	t.Run("Canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := archive.Write(ctx, io.Discard, dir, []string{"c.txt"}, true); !errors.Is(err, context.Canceled) {
			t.Fatalf("Write=%v, want context.Canceled", err)
		}
	})
}

func TestExtract_Dest(t *testing.T) {
	data := mustArchive(t, tree, false)
	t.Run("ErrDestNotEmpty", func(t *testing.T) {
		dest := t.TempDir()
		if err := os.WriteFile(filepath.Join(dest, "old"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := archive.Extract(context.Background(), bytes.NewReader(data), dest, nil, archive.Limits{})
		if !errors.Is(err, archive.ErrDestNotEmpty) {
			t.Fatalf("Extract=%v, want ErrDestNotEmpty", err)
		}
		if got := readTree(t, dest); len(got) != 1 {
			t.Fatalf("dest holds %v, want only the old file", got)
		}
	})
	t.Run("ErrNotExist", func(t *testing.T) {
		dest := filepath.Join(t.TempDir(), "missing")
		_, err := archive.Extract(context.Background(), bytes.NewReader(data), dest, nil, archive.Limits{})
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Extract=%v, want ErrNotExist", err)
		}
	})
}

func TestExtract_Allow(t *testing.T) {
	data := mustArchive(t, tree, true)
	errNotListed := errors.New("not in manifest")
	parent, dest := newDest(t)
	var calls int
	_, err := archive.Extract(context.Background(), bytes.NewReader(data), dest, func(name string, size int64) error {
		calls++
		if name == "tables/users.jsonl.zst" {
			return errNotListed
		}
		return nil
	}, archive.Limits{})
	if !errors.Is(err, archive.ErrNotAllowed) || !errors.Is(err, errNotListed) {
		t.Fatalf("Extract=%v, want ErrNotAllowed wrapping the allow error", err)
	}
	if !strings.Contains(err.Error(), `"tables/users.jsonl.zst"`) {
		t.Errorf("error %q does not name the entry", err)
	}
	if calls < 2 {
		t.Errorf("allow called %d times; files before the rejected one were expected", calls)
	}
	assertOnlyDest(t, parent, true)
}

func TestExtract_Limits(t *testing.T) {
	m := map[string]string{"a/1": "0123456789", "a/2": "0123456789", "manifest.json": "0123456789"}
	data := mustArchive(t, m, false)
	for _, tt := range []struct {
		name string
		lim  archive.Limits
		want error
	}{
		{"OK", archive.Limits{MaxEntries: 3, MaxFileSize: 10, MaxTotalSize: 30, MaxPathLen: 13}, nil},
		{"MaxEntries", archive.Limits{MaxEntries: 2}, archive.ErrTooLarge},
		{"MaxFileSize", archive.Limits{MaxFileSize: 9}, archive.ErrTooLarge},
		{"MaxTotalSize", archive.Limits{MaxTotalSize: 29}, archive.ErrTooLarge},
		{"MaxPathLen", archive.Limits{MaxPathLen: 12}, archive.ErrTooLarge},
	} {
		t.Run(tt.name, func(t *testing.T) {
			parent, dest := newDest(t)
			_, err := archive.Extract(context.Background(), bytes.NewReader(data), dest, nil, tt.lim)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Extract=%v, want %v", err, tt.want)
			}
			assertOnlyDest(t, parent, tt.want != nil)
		})
	}
}

func TestDefaultLimits(t *testing.T) {
	l := archive.DefaultLimits()
	if l.MaxEntries <= 0 || l.MaxFileSize <= 0 || l.MaxTotalSize < l.MaxFileSize || l.MaxPathLen <= 0 {
		t.Fatalf("DefaultLimits()=%+v", l)
	}
}

// failingWriter fails every write.
type failingWriter struct{ err error }

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }

// errReader returns its data and then err.
type errReader struct {
	data []byte
	err  error
}

func (r *errReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestExtract_ReadError(t *testing.T) {
	errDisk := errors.New("disk on fire")
	for _, compress := range []bool{false, true} {
		t.Run(fmt.Sprint("compress=", compress), func(t *testing.T) {
			data := mustArchive(t, tree, compress)
			parent, dest := newDest(t)
			_, err := archive.Extract(context.Background(), &errReader{data: data[:len(data)/2], err: errDisk}, dest, nil, archive.Limits{})
			if !errors.Is(err, errDisk) || errors.Is(err, archive.ErrCorrupt) {
				t.Fatalf("Extract=%v, want the read error and not ErrCorrupt", err)
			}
			assertOnlyDest(t, parent, true)
		})
	}
}

func TestExtract_Canceled(t *testing.T) {
	data := mustArchive(t, tree, true)
	ctx, cancel := context.WithCancel(context.Background())
	parent, dest := newDest(t)
	n := 0
	_, err := archive.Extract(ctx, bytes.NewReader(data), dest, func(string, int64) error {
		if n++; n == 2 {
			cancel()
		}
		return nil
	}, archive.Limits{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Extract=%v, want context.Canceled", err)
	}
	assertOnlyDest(t, parent, true)
}
