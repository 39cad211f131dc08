package blob_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bitnobi/bitnobi/blob"
)

// newStore returns a Store in a fresh temporary directory.
func newStore(tb testing.TB) *blob.Store {
	tb.Helper()
	return blob.NewStore(filepath.Join(tb.TempDir(), "blobs"))
}

// mustPut stores content and returns its id.
func mustPut(tb testing.TB, s *blob.Store, content string) string {
	tb.Helper()
	id, size, err := s.Put(context.Background(), strings.NewReader(content), 0)
	if err != nil {
		tb.Fatalf("Put: %v", err)
	}
	if got, want := size, int64(len(content)); got != want {
		tb.Fatalf("Put size=%d, want %d", got, want)
	}
	return id
}

func sum(content string) string {
	h := sha256.Sum256([]byte(content))
	return hex.EncodeToString(h[:])
}

// tmpEntries lists the store's temporary directory.
func tmpEntries(tb testing.TB, s *blob.Store) []string {
	tb.Helper()
	entries, err := os.ReadDir(filepath.Join(s.Dir, "tmp"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		tb.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestValidID(t *testing.T) {
	for _, tt := range []struct {
		name string
		id   string
		want bool
	}{
		{"OK", sum("x"), true},
		{"Empty", "", false},
		{"Short", sum("x")[:63], false},
		{"Long", sum("x") + "0", false},
		{"Uppercase", strings.ToUpper(sum("x")), false},
		{"NonHex", "g" + sum("x")[1:], false},
		{"Traversal", "../" + sum("x")[3:], false},
		{"Slash", sum("x")[:2] + "/" + sum("x")[3:], false},
		{"DotDot", "..", false},
		{"NUL", "\x00" + sum("x")[1:], false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := blob.ValidID(tt.id); got != tt.want {
				t.Fatalf("ValidID(%q)=%v, want %v", tt.id, got, tt.want)
			}
		})
	}
}

func TestStore_PutOpen(t *testing.T) {
	for _, tt := range []struct {
		name    string
		content string
	}{
		{"Empty", ""},
		{"Small", "hello, world\n"},
		{"MultiChunk", strings.Repeat("0123456789abcdef", 200_000)}, // 3.2 MB > 1 MiB buffer
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			id := mustPut(t, s, tt.content)
			if got, want := id, sum(tt.content); got != want {
				t.Fatalf("Put id=%s, want %s", got, want)
			}

			f, err := s.Open(id)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer f.Close()
			got, err := io.ReadAll(f)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.content {
				t.Fatalf("Open content differs: got %d bytes, want %d", len(got), len(tt.content))
			}

			if size, err := s.Stat(id); err != nil {
				t.Fatalf("Stat: %v", err)
			} else if got, want := size, int64(len(tt.content)); got != want {
				t.Fatalf("Stat=%d, want %d", got, want)
			}

			if got, want := s.Path(id), filepath.Join(s.Dir, id[:2], id); got != want {
				t.Fatalf("Path=%q, want %q", got, want)
			}
			fi, err := os.Stat(s.Path(id))
			if err != nil {
				t.Fatal(err)
			}
			if runtime.GOOS != "windows" {
				if got, want := fi.Mode().Perm(), os.FileMode(0o600); got != want {
					t.Fatalf("blob mode=%v, want %v", got, want)
				}
			}
			if got := tmpEntries(t, s); len(got) != 0 {
				t.Fatalf("tmp not empty after Put: %v", got)
			}
		})
	}
}

func TestStore_Put_Dedupe(t *testing.T) {
	s := newStore(t)
	id1 := mustPut(t, s, "same content")
	before, err := os.Stat(s.Path(id1))
	if err != nil {
		t.Fatal(err)
	}
	id2 := mustPut(t, s, "same content")
	if id1 != id2 {
		t.Fatalf("ids differ: %s, %s", id1, id2)
	}
	after, err := os.Stat(s.Path(id1))
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) {
		t.Fatal("second Put replaced the existing file")
	}
	var n int
	if err := s.Walk(func(string, int64, time.Time) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if got, want := n, 1; got != want {
		t.Fatalf("blobs=%d, want %d", got, want)
	}
	if got := tmpEntries(t, s); len(got) != 0 {
		t.Fatalf("tmp not empty after dedupe: %v", got)
	}
}

func TestStore_Put_Limit(t *testing.T) {
	content := strings.Repeat("x", 100)
	for _, tt := range []struct {
		name    string
		limit   int64
		wantErr bool
	}{
		{"Unlimited", 0, false},
		{"Negative", -1, false},
		{"Exact", 100, false},
		{"Above", 101, false},
		{"MaxInt64", 1<<63 - 1, false},
		{"ErrTooLarge", 99, true},
		{"ErrTooLargeTiny", 1, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			id, size, err := s.Put(context.Background(), strings.NewReader(content), tt.limit)
			if tt.wantErr {
				if !errors.Is(err, blob.ErrTooLarge) {
					t.Fatalf("Put err=%v, want ErrTooLarge", err)
				}
				if got := tmpEntries(t, s); len(got) != 0 {
					t.Fatalf("tmp not empty after ErrTooLarge: %v", got)
				}
				if _, err := s.Stat(sum(content)); !errors.Is(err, blob.ErrNotFound) {
					t.Fatalf("Stat after ErrTooLarge err=%v, want ErrNotFound", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Put: %v", err)
			}
			if id != sum(content) || size != 100 {
				t.Fatalf("Put=(%s, %d), want (%s, 100)", id, size, sum(content))
			}
		})
	}
}

// cancelReader cancels its context after the first read.
type cancelReader struct {
	cancel context.CancelFunc
	reads  int
}

func (c *cancelReader) Read(p []byte) (int, error) {
	c.reads++
	c.cancel()
	return len(p), nil
}

func TestStore_Put_Canceled(t *testing.T) {
	t.Run("During", func(t *testing.T) {
		s := newStore(t)
		ctx, cancel := context.WithCancel(context.Background())
		r := &cancelReader{cancel: cancel}
		_, _, err := s.Put(ctx, r, 0)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Put err=%v, want context.Canceled", err)
		}
		if got, want := r.reads, 1; got != want {
			t.Fatalf("reads=%d, want %d", got, want)
		}
		if got := tmpEntries(t, s); len(got) != 0 {
			t.Fatalf("tmp not empty after cancel: %v", got)
		}
	})
	t.Run("Before", func(t *testing.T) {
		s := newStore(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, _, err := s.Put(ctx, strings.NewReader("x"), 0); !errors.Is(err, context.Canceled) {
			t.Fatalf("Put err=%v, want context.Canceled", err)
		}
	})
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func TestStore_Put_ReadError(t *testing.T) {
	s := newStore(t)
	boom := errors.New("boom")
	r := io.MultiReader(strings.NewReader("partial"), errReader{boom})
	if _, _, err := s.Put(context.Background(), r, 0); !errors.Is(err, boom) {
		t.Fatalf("Put err=%v, want %v", err, boom)
	}
	if got := tmpEntries(t, s); len(got) != 0 {
		t.Fatalf("tmp not empty after read error: %v", got)
	}
}

// TestStore_Put_Large streams 64 MiB of generated data through Put and
// checks that it was not held in memory.
func TestStore_Put_Large(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 64 MiB")
	}
	const size = 64 << 20
	s := newStore(t)
	gen := io.LimitReader(rand.NewChaCha8([32]byte{1, 2, 3}), size)
	want := sha256.New()
	r := io.TeeReader(gen, want)

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	id, n, err := s.Put(context.Background(), r, size)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	if got, want := n, int64(size); got != want {
		t.Fatalf("Put size=%d, want %d", got, want)
	}
	if got, want := id, hex.EncodeToString(want.Sum(nil)); got != want {
		t.Fatalf("Put id=%s, want %s", got, want)
	}
	// One 1 MiB copy buffer plus small change; holding the content would
	// allocate at least 64 MiB.
	if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(16<<20); got > limit {
		t.Fatalf("Put allocated %d bytes, want <= %d", got, limit)
	}
	if got, _, err := blob.HashFile(s.Path(id)); err != nil {
		t.Fatal(err)
	} else if got != id {
		t.Fatalf("stored file hashes to %s, want %s", got, id)
	}
}

func TestStore_InvalidID(t *testing.T) {
	s := newStore(t)
	// A file outside the store that a traversal would reach.
	outside := filepath.Join(filepath.Dir(s.Dir), "x")
	if err := os.WriteFile(outside, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"", "../x", "..", "/etc/passwd", "ab/../../x", strings.ToUpper(sum("x"))} {
		t.Run(id, func(t *testing.T) {
			if got := s.Path(id); got != "" {
				t.Fatalf("Path(%q)=%q, want empty", id, got)
			}
			if _, err := s.Open(id); !errors.Is(err, blob.ErrInvalidID) {
				t.Fatalf("Open err=%v, want ErrInvalidID", err)
			}
			if _, err := s.Stat(id); !errors.Is(err, blob.ErrInvalidID) {
				t.Fatalf("Stat err=%v, want ErrInvalidID", err)
			}
			if err := s.Remove(id); !errors.Is(err, blob.ErrInvalidID) {
				t.Fatalf("Remove err=%v, want ErrInvalidID", err)
			}
			if err := s.Link(id, outside); !errors.Is(err, blob.ErrInvalidID) {
				t.Fatalf("Link err=%v, want ErrInvalidID", err)
			}
		})
	}
	if _, err := os.Stat(outside); err != nil {
		t.Fatalf("file outside the store: %v", err)
	}
}

func TestStore_NotFound(t *testing.T) {
	s := newStore(t)
	mustPut(t, s, "something else") // so the store directory exists
	id := sum("missing")
	if _, err := s.Open(id); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Open err=%v, want ErrNotFound", err)
	}
	if _, err := s.Stat(id); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Stat err=%v, want ErrNotFound", err)
	}
	if err := s.Remove(id); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Remove err=%v, want ErrNotFound", err)
	}
}

func TestStore_Remove(t *testing.T) {
	s := newStore(t)
	id := mustPut(t, s, "doomed")
	if err := s.Remove(id); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if _, err := s.Open(id); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Open after Remove err=%v, want ErrNotFound", err)
	}
	// Content-addressed: the same content can be stored again.
	if got := mustPut(t, s, "doomed"); got != id {
		t.Fatalf("Put again id=%s, want %s", got, id)
	}
}

func TestStore_Walk(t *testing.T) {
	t.Run("Empty", func(t *testing.T) {
		s := newStore(t) // Dir does not exist yet
		err := s.Walk(func(id string, _ int64, _ time.Time) error {
			t.Fatalf("unexpected blob %s", id)
			return nil
		})
		if err != nil {
			t.Fatalf("Walk: %v", err)
		}
	})

	t.Run("OK", func(t *testing.T) {
		s := newStore(t)
		want := map[string]int64{}
		for _, c := range []string{"a", "bb", "ccc", "dddd", ""} {
			want[mustPut(t, s, c)] = int64(len(c))
		}
		// Things Walk must skip: a temporary file, a stray file at the
		// top, a non-shard folder, a misplaced blob and a stray file in
		// a shard.
		stray := sum("stray")
		mustWrite(t, filepath.Join(s.Dir, "tmp", stray), "tmp")
		mustWrite(t, filepath.Join(s.Dir, "README"), "x")
		mustWrite(t, filepath.Join(s.Dir, "zz", stray), "x")
		misplaced := "00" + stray[2:]
		if stray[:2] == "00" {
			misplaced = "11" + stray[2:]
		}
		mustWrite(t, filepath.Join(s.Dir, stray[:2], misplaced), "x")
		mustWrite(t, filepath.Join(s.Dir, stray[:2], "notes.txt"), "x")

		start := time.Now().Add(-time.Minute)
		got := map[string]int64{}
		var order []string
		err := s.Walk(func(id string, size int64, modTime time.Time) error {
			got[id] = size
			order = append(order, id)
			if modTime.Before(start) {
				t.Errorf("blob %s modTime=%v, want after %v", id, modTime, start)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("Walk: %v", err)
		}
		if len(got) != len(want) {
			t.Fatalf("Walk visited %v, want %v", got, want)
		}
		for id, size := range want {
			if got[id] != size {
				t.Fatalf("Walk size of %s=%d, want %d", id, got[id], size)
			}
		}
		if !slices.IsSorted(order) {
			t.Fatalf("Walk order not sorted: %v", order)
		}
	})

	t.Run("RemoveDuringWalk", func(t *testing.T) {
		s := newStore(t)
		for _, c := range []string{"1", "2", "3"} {
			mustPut(t, s, c)
		}
		err := s.Walk(func(id string, _ int64, _ time.Time) error { return s.Remove(id) })
		if err != nil {
			t.Fatalf("Walk: %v", err)
		}
		err = s.Walk(func(id string, _ int64, _ time.Time) error {
			t.Fatalf("blob %s left after removing all", id)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})

	t.Run("StopOnError", func(t *testing.T) {
		s := newStore(t)
		mustPut(t, s, "1")
		mustPut(t, s, "2")
		stop := errors.New("stop")
		var n int
		err := s.Walk(func(string, int64, time.Time) error { n++; return stop })
		if err != stop {
			t.Fatalf("Walk err=%v, want %v unchanged", err, stop)
		}
		if got, want := n, 1; got != want {
			t.Fatalf("calls=%d, want %d", got, want)
		}
	})
}

func mustWrite(tb testing.TB, path, content string) {
	tb.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
}

func TestStore_CleanTemp(t *testing.T) {
	s := newStore(t)
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	s.Now = func() time.Time { return now }

	old := filepath.Join(s.Dir, "tmp", "put-old")
	fresh := filepath.Join(s.Dir, "tmp", "put-fresh")
	mustWrite(t, old, "old")
	mustWrite(t, fresh, "fresh")
	if err := os.Chtimes(old, now.Add(-2*time.Hour), now.Add(-2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(fresh, now.Add(-time.Minute), now.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	id := mustPut(t, s, "a real blob")

	if err := s.CleanTemp(time.Hour); err != nil {
		t.Fatalf("CleanTemp: %v", err)
	}
	if got, want := tmpEntries(t, s), []string{"put-fresh"}; !slices.Equal(got, want) {
		t.Fatalf("tmp=%v, want %v", got, want)
	}
	if _, err := s.Stat(id); err != nil {
		t.Fatalf("CleanTemp touched a blob: %v", err)
	}

	t.Run("NoDir", func(t *testing.T) {
		if err := newStore(t).CleanTemp(time.Hour); err != nil {
			t.Fatalf("CleanTemp: %v", err)
		}
	})
}

func TestStore_Link(t *testing.T) {
	const content = "linked content"
	writeSrc := func(t *testing.T, content string) string {
		t.Helper()
		p := filepath.Join(t.TempDir(), "src")
		mustWrite(t, p, content)
		return p
	}

	t.Run("OK", func(t *testing.T) {
		s := newStore(t)
		src := writeSrc(t, content)
		id := sum(content)
		if err := s.Link(id, src); err != nil {
			t.Fatalf("Link: %v", err)
		}
		assertContent(t, s, id, content)
		srcFi, err := os.Stat(src)
		if err != nil {
			t.Fatal(err)
		}
		dstFi, err := os.Stat(s.Path(id))
		if err != nil {
			t.Fatal(err)
		}
		if runtime.GOOS != "windows" && !os.SameFile(srcFi, dstFi) {
			t.Fatal("Link copied instead of hard linking on the same file system")
		}
		// The blob survives removal of the source.
		if err := os.Remove(src); err != nil {
			t.Fatal(err)
		}
		assertContent(t, s, id, content)
		if got := tmpEntries(t, s); len(got) != 0 {
			t.Fatalf("tmp not empty after Link: %v", got)
		}
	})

	t.Run("AlreadyStored", func(t *testing.T) {
		s := newStore(t)
		id := mustPut(t, s, content)
		if err := s.Link(id, writeSrc(t, content)); err != nil {
			t.Fatalf("Link: %v", err)
		}
		assertContent(t, s, id, content)
		if got := tmpEntries(t, s); len(got) != 0 {
			t.Fatalf("tmp not empty after Link: %v", got)
		}
	})

	t.Run("ErrChecksumMismatch", func(t *testing.T) {
		s := newStore(t)
		src := writeSrc(t, "not what the id says")
		id := sum(content)
		err := s.Link(id, src)
		if !errors.Is(err, blob.ErrChecksumMismatch) {
			t.Fatalf("Link err=%v, want ErrChecksumMismatch", err)
		}
		if _, err := s.Stat(id); !errors.Is(err, blob.ErrNotFound) {
			t.Fatalf("Stat after mismatch err=%v, want ErrNotFound", err)
		}
		if got := tmpEntries(t, s); len(got) != 0 {
			t.Fatalf("tmp not empty after mismatch: %v", got)
		}
		if _, err := os.Stat(src); err != nil {
			t.Fatalf("source removed: %v", err)
		}
	})

	t.Run("ErrChecksumMismatchAlreadyStored", func(t *testing.T) {
		s := newStore(t)
		id := mustPut(t, s, content)
		if err := s.Link(id, writeSrc(t, "other")); !errors.Is(err, blob.ErrChecksumMismatch) {
			t.Fatalf("Link err=%v, want ErrChecksumMismatch", err)
		}
		assertContent(t, s, id, content)
	})

	t.Run("MissingSource", func(t *testing.T) {
		s := newStore(t)
		err := s.Link(sum(content), filepath.Join(t.TempDir(), "nope"))
		if !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("Link err=%v, want os.ErrNotExist", err)
		}
	})

	t.Run("Directory", func(t *testing.T) {
		s := newStore(t)
		if err := s.Link(sum(content), t.TempDir()); err == nil {
			t.Fatal("Link of a directory succeeded")
		}
	})
}

// TestStore_Link_Copy exercises the copy fallback, which needs a source on
// another file system so that the hard link fails: /dev/shm by default, or
// the folder named by BITNOBI_TEST_OTHER_FS. It skips if there is none.
func TestStore_Link_Copy(t *testing.T) {
	other := os.Getenv("BITNOBI_TEST_OTHER_FS")
	if other == "" {
		other = "/dev/shm"
	}
	dir, err := os.MkdirTemp(other, "blobtest-")
	if err != nil {
		t.Skipf("no second file system at %s: %v", other, err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	src := filepath.Join(dir, "src")
	mustWrite(t, src, "copied content")
	s := newStore(t)
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	probe := filepath.Join(s.Dir, "probe")
	if err := os.Link(src, probe); err == nil {
		os.Remove(probe)
		t.Skipf("%s is on the same file system as %s", other, s.Dir)
	}

	t.Run("OK", func(t *testing.T) {
		id := sum("copied content")
		if err := s.Link(id, src); err != nil {
			t.Fatalf("Link: %v", err)
		}
		assertContent(t, s, id, "copied content")
		if runtime.GOOS != "windows" {
			fi, err := os.Stat(s.Path(id))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := fi.Mode().Perm(), os.FileMode(0o600); got != want {
				t.Fatalf("copied blob mode=%v, want %v", got, want)
			}
		}
	})
	t.Run("ErrChecksumMismatch", func(t *testing.T) {
		id := sum("something else")
		if err := s.Link(id, src); !errors.Is(err, blob.ErrChecksumMismatch) {
			t.Fatalf("Link err=%v, want ErrChecksumMismatch", err)
		}
		if _, err := s.Stat(id); !errors.Is(err, blob.ErrNotFound) {
			t.Fatalf("Stat err=%v, want ErrNotFound", err)
		}
		if got := tmpEntries(t, s); len(got) != 0 {
			t.Fatalf("tmp not empty after mismatch: %v", got)
		}
	})
}

func assertContent(tb testing.TB, s *blob.Store, id, want string) {
	tb.Helper()
	f, err := s.Open(id)
	if err != nil {
		tb.Fatalf("Open(%s): %v", id, err)
	}
	defer f.Close()
	got, err := io.ReadAll(f)
	if err != nil {
		tb.Fatal(err)
	}
	if !bytes.Equal(got, []byte(want)) {
		tb.Fatalf("blob %s content=%q, want %q", id, got, want)
	}
}

func TestHashFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	content := strings.Repeat("abc", 1<<19) // 1.5 MiB, more than one buffer
	mustWrite(t, p, content)
	id, n, err := blob.HashFile(p)
	if err != nil {
		t.Fatalf("HashFile: %v", err)
	}
	if got, want := id, sum(content); got != want {
		t.Fatalf("HashFile id=%s, want %s", got, want)
	}
	if got, want := n, int64(len(content)); got != want {
		t.Fatalf("HashFile size=%d, want %d", got, want)
	}
	if _, _, err := blob.HashFile(p + ".missing"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("HashFile missing err=%v, want os.ErrNotExist", err)
	}
}

func TestStore_Put_Concurrent(t *testing.T) {
	s := newStore(t)
	const n = 8
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			_, _, err := s.Put(context.Background(), strings.NewReader(strings.Repeat("z", 1<<20)), 0)
			errs <- err
		}()
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Fatalf("Put: %v", err)
		}
	}
	assertContent(t, s, sum(strings.Repeat("z", 1<<20)), strings.Repeat("z", 1<<20))
	if got := tmpEntries(t, s); len(got) != 0 {
		t.Fatalf("tmp not empty: %v", got)
	}
}
