package archive_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/bitnobi/bitnobi/backup/archive"
	"github.com/bitnobi/bitnobi/internal/testutil"
)

// entry is one tar entry of a hand-made archive.
type entry struct {
	hdr  tar.Header
	data string
}

func file(name, data string) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o600, Size: int64(len(data))}, data: data}
}

// tarOf returns entries as a tar stream with its end-of-archive marker.
func tarOf(tb testing.TB, entries ...entry) []byte {
	tb.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		if e.hdr.Typeflag != tar.TypeXGlobalHeader {
			e.hdr.ModTime = time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC)
		}
		if err := tw.WriteHeader(&e.hdr); err != nil {
			tb.Fatalf("WriteHeader(%q): %v", e.hdr.Name, err)
		}
		if _, err := tw.Write([]byte(e.data)); err != nil {
			tb.Fatalf("Write(%q): %v", e.hdr.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// rawBlock returns a USTAR header block built byte by byte, for headers
// archive/tar refuses to write.
func rawBlock(name string, typeflag byte, size int64) []byte {
	b := make([]byte, 512)
	copy(b[0:100], name)
	copy(b[100:108], "0000600\x00")
	copy(b[108:116], "0000000\x00")
	copy(b[116:124], "0000000\x00")
	if size < 1<<33 {
		copy(b[124:136], fmt.Sprintf("%011o\x00", size))
	} else { // GNU base-256, for sizes beyond 11 octal digits
		b[124] = 0x80
		for i := 135; i > 124; i-- {
			b[i] = byte(size)
			size >>= 8
		}
	}
	copy(b[136:148], fmt.Sprintf("%011o\x00", 0))
	b[156] = typeflag
	copy(b[257:263], "ustar\x00")
	copy(b[263:265], "00")
	copy(b[148:156], "        ")
	sum := 0 // computed with the checksum field as spaces
	for _, c := range b {
		sum += int(c)
	}
	copy(b[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return b
}

// pad returns data padded with zeros to a whole number of tar blocks.
func pad(data string) []byte {
	b := []byte(data)
	return append(b, make([]byte, (512-len(b)%512)%512)...)
}

func zstdOf(tb testing.TB, data []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf, zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := zw.Write(data); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// maliciousCase is one archive of testdata/malicious and the error
// Extract must return for it.
type maliciousCase struct {
	file string
	want error
	make func(tb testing.TB) []byte
}

func maliciousCases() []maliciousCase {
	ok := file("ok/manifest.json", "{}")
	endMarker := make([]byte, 1024)
	return []maliciousCase{
		{"traversal.tar", archive.ErrUnsafePath, func(tb testing.TB) []byte {
			return tarOf(tb, file("../evil", "x"))
		}},
		{"traversal-nested.tar", archive.ErrUnsafePath, func(tb testing.TB) []byte {
			return tarOf(tb, file("a/../../evil", "x"))
		}},
		// A good file first, so cleanup of created files and directories
		// is tested too.
		{"traversal-after-good-file.tar", archive.ErrUnsafePath, func(tb testing.TB) []byte {
			return tarOf(tb, file("tables/a/b/c.jsonl.zst", "data"), file("tables/../../evil", "x"))
		}},
		{"absolute.tar", archive.ErrUnsafePath, func(tb testing.TB) []byte {
			return tarOf(tb, file("/etc/x", "x"))
		}},
		{"dot-slash.tar", archive.ErrUnsafePath, func(tb testing.TB) []byte {
			return tarOf(tb, file("./manifest.json", "x"))
		}},
		{"backslash.tar", archive.ErrUnsafePath, func(tb testing.TB) []byte {
			return tarOf(tb, file(`..\evil`, "x"))
		}},
		// archive/tar itself rejects a NUL in a PAX path record.
		{"nul-in-pax-path.tar", archive.ErrCorrupt, func(tb testing.TB) []byte {
			rec := "18 path=evil\x00.txt\n"
			return cat(rawBlock("PaxHeaders/x", tar.TypeXHeader, int64(len(rec))), pad(rec),
				rawBlock("x", tar.TypeReg, 1), pad("x"), endMarker)
		}},
		{"symlink-outside.tar", archive.ErrLink, func(tb testing.TB) []byte {
			return tarOf(tb,
				entry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: "tables", Linkname: "/etc"}},
				file("tables/passwd", "x"))
		}},
		{"hardlink.tar", archive.ErrLink, func(tb testing.TB) []byte {
			return tarOf(tb, ok, entry{hdr: tar.Header{Typeflag: tar.TypeLink, Name: "shadow", Linkname: "/etc/shadow"}})
		}},
		{"duplicate.tar", archive.ErrDuplicate, func(tb testing.TB) []byte {
			return tarOf(tb, file("manifest.json", "{}"), file("manifest.json", `{"evil":1}`))
		}},
		{"duplicate-dir.tar", archive.ErrDuplicate, func(tb testing.TB) []byte {
			dir := entry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: "tables/", Mode: 0o700}}
			return tarOf(tb, dir, dir)
		}},
		{"file-over-dir.tar", archive.ErrDuplicate, func(tb testing.TB) []byte {
			return tarOf(tb, file("tables/a", "x"), file("tables", "x"))
		}},
		{"dir-under-file.tar", archive.ErrDuplicate, func(tb testing.TB) []byte {
			return tarOf(tb, file("tables", "x"), file("tables/a", "x"))
		}},
		{"huge-declared-size.tar", archive.ErrTooLarge, func(tb testing.TB) []byte {
			return cat(rawBlock("big", tar.TypeReg, 1<<50), pad("short"), endMarker)
		}},
		{"short-data.tar", archive.ErrCorrupt, func(tb testing.TB) []byte {
			return cat(rawBlock("short", tar.TypeReg, 4096), []byte("only this"))
		}},
		{"truncated-header.tar", archive.ErrCorrupt, func(tb testing.TB) []byte {
			return tarOf(tb, ok, file("second", "x"))[:1024+100]
		}},
		{"no-end-marker.tar", archive.ErrCorrupt, func(tb testing.TB) []byte {
			b := tarOf(tb, ok)
			return b[:len(b)-1024]
		}},
		{"one-zero-block.tar", archive.ErrCorrupt, func(tb testing.TB) []byte {
			b := tarOf(tb, ok)
			return b[:len(b)-512]
		}},
		{"trailing-garbage.tar", archive.ErrCorrupt, func(tb testing.TB) []byte {
			return cat(tarOf(tb, ok), []byte("#!/bin/sh\nrm -rf /\n"))
		}},
		{"bad-checksum.tar", archive.ErrCorrupt, func(tb testing.TB) []byte {
			b := tarOf(tb, ok)
			b[0] ^= 1
			return b
		}},
		{"empty.tar", archive.ErrCorrupt, func(tb testing.TB) []byte {
			return nil
		}},
		{"char-device.tar", archive.ErrUnsupportedType, func(tb testing.TB) []byte {
			return tarOf(tb, entry{hdr: tar.Header{Typeflag: tar.TypeChar, Name: "null", Devmajor: 1, Devminor: 3}})
		}},
		{"block-device.tar", archive.ErrUnsupportedType, func(tb testing.TB) []byte {
			return tarOf(tb, entry{hdr: tar.Header{Typeflag: tar.TypeBlock, Name: "sda", Devmajor: 8}})
		}},
		{"fifo.tar", archive.ErrUnsupportedType, func(tb testing.TB) []byte {
			return tarOf(tb, entry{hdr: tar.Header{Typeflag: tar.TypeFifo, Name: "pipe"}})
		}},
		{"zstd-traversal.tar.zst", archive.ErrUnsafePath, func(tb testing.TB) []byte {
			return zstdOf(tb, tarOf(tb, ok, file("../evil", "x")))
		}},
		{"zstd-truncated.tar.zst", archive.ErrCorrupt, func(tb testing.TB) []byte {
			b := zstdOf(tb, tarOf(tb, ok, file("second", strings.Repeat("x", 5000))))
			return b[:len(b)-10]
		}},
		{"zstd-trailing-garbage.tar.zst", archive.ErrCorrupt, func(tb testing.TB) []byte {
			return cat(zstdOf(tb, tarOf(tb, ok)), []byte("garbage"))
		}},
		{"zstd-bad-checksum.tar.zst", archive.ErrCorrupt, func(tb testing.TB) []byte {
			b := zstdOf(tb, tarOf(tb, ok))
			b[len(b)-1] ^= 0xff // the frame's XXH64 checksum
			return b
		}},
	}
}

// TestExtract_Malicious extracts every archive of testdata/malicious and
// checks the error and that nothing is left behind. go test -update
// regenerates the archives.
func TestExtract_Malicious(t *testing.T) {
	dir := filepath.Join("testdata", "malicious")
	var known []string
	for _, tt := range maliciousCases() {
		known = append(known, tt.file)
		t.Run(tt.file, func(t *testing.T) {
			p := filepath.Join(dir, tt.file)
			if *testutil.Update {
				if err := os.WriteFile(p, tt.make(t), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			parent, dest := newDest(t)
			files, err := archive.Extract(context.Background(), bytes.NewReader(data), dest, nil, archive.Limits{})
			if !errors.Is(err, tt.want) {
				t.Fatalf("Extract=%v, want %v", err, tt.want)
			}
			t.Log(err)
			if files != nil {
				t.Errorf("files=%q on error, want nil", files)
			}
			assertOnlyDest(t, parent, true)
		})
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !slices.Contains(known, e.Name()) {
			t.Errorf("%s: no test case; delete it or add one", filepath.Join(dir, e.Name()))
		}
	}
}

// TestExtract_ShortDataLargeLimits checks that a huge declared size within
// the limits is not trusted: Extract copies what is there and finds it
// short, without allocating or writing the declared size.
func TestExtract_ShortDataLargeLimits(t *testing.T) {
	data := cat(rawBlock("big", tar.TypeReg, 1<<50), pad("short"), make([]byte, 1024))
	parent, dest := newDest(t)
	lim := archive.Limits{MaxFileSize: 1 << 60, MaxTotalSize: 1 << 60}
	_, err := archive.Extract(context.Background(), bytes.NewReader(data), dest, nil, lim)
	if !errors.Is(err, archive.ErrCorrupt) {
		t.Fatalf("Extract=%v, want ErrCorrupt", err)
	}
	assertOnlyDest(t, parent, true)
}

// TestExtract_StreamLimit checks that a small compressed archive that
// expands to an endless run of PAX extended headers, which the tar reader
// consumes without returning an entry, is stopped by the stream limit.
func TestExtract_StreamLimit(t *testing.T) {
	rec := "16 comment=bomb\n"
	paxHdr := cat(rawBlock("PaxHeaders/x", tar.TypeXHeader, int64(len(rec))), pad(rec))
	data := zstdOf(t, cat(bytes.Repeat(paxHdr, 3000), tarOf(t, file("x", "x"))))
	if len(data) > 10<<10 {
		t.Fatalf("bomb is %d bytes, meant to be small", len(data))
	}
	parent, dest := newDest(t)
	_, err := archive.Extract(context.Background(), bytes.NewReader(data), dest, nil, archive.Limits{MaxEntries: 1, MaxTotalSize: 1})
	if !errors.Is(err, archive.ErrTooLarge) {
		t.Fatalf("Extract=%v, want ErrTooLarge", err)
	}
	t.Log(err)
	assertOnlyDest(t, parent, true)
}

// TestExtract_Padding checks that zero padding after the end-of-archive
// marker, as GNU tar writes to fill a 10 KiB record, is accepted.
func TestExtract_Padding(t *testing.T) {
	b := tarOf(t, file("manifest.json", "{}"))
	b = append(b, make([]byte, 10240-len(b)%10240)...)
	for _, tt := range []struct {
		name string
		data []byte
	}{
		{"Plain", b},
		{"Zstd", zstdOf(t, b)},
		{"GlobalHeader", cat(tarOf(t, entry{hdr: tar.Header{Typeflag: tar.TypeXGlobalHeader, Name: "pax_global_header",
			PAXRecords: map[string]string{"comment": "made by git archive"}}})[:1024], b)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, dest := newDest(t)
			files, err := archive.Extract(context.Background(), bytes.NewReader(tt.data), dest, nil, archive.Limits{})
			if err != nil {
				t.Fatalf("Extract: %v", err)
			}
			if got, want := files, []string{"manifest.json"}; !slices.Equal(got, want) {
				t.Fatalf("files=%q, want %q", got, want)
			}
		})
	}
}

// FuzzExtract feeds arbitrary bytes to Extract: it must not panic, must
// create nothing outside dest and nothing but regular files and
// directories inside it, must leave dest empty on error, and must report
// exactly the files it created on success.
func FuzzExtract(f *testing.F) {
	for _, tt := range maliciousCases() {
		data, err := os.ReadFile(filepath.Join("testdata", "malicious", tt.file))
		if err != nil {
			f.Fatalf("%v (run go test -update to create it)", err)
		}
		f.Add(data)
	}
	for _, name := range []string{"v1.tar", "v1.tar.zst"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add(tarOf(f, entry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: "a/", Mode: 0o700}}, file("a/b", "x"), file("c", "")))
	lim := archive.Limits{MaxEntries: 64, MaxFileSize: 1 << 20, MaxTotalSize: 4 << 20, MaxPathLen: 256}
	archive.DisableSync()
	base := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		// Cheaper than t.TempDir, which matters at thousands of runs.
		parent, err := os.MkdirTemp(base, "")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(parent)
		dest := filepath.Join(parent, "dest")
		if err := os.Mkdir(dest, 0o700); err != nil {
			t.Fatal(err)
		}
		files, err := archive.Extract(context.Background(), bytes.NewReader(data), dest, nil, lim)
		if err != nil {
			assertOnlyDest(t, parent, true)
			return
		}
		assertOnlyDest(t, parent, false)
		got := readTree(t, dest) // fails on links, devices and FIFOs
		var names []string
		for name := range got {
			names = append(names, name)
		}
		slices.Sort(names)
		sorted := slices.Sorted(slices.Values(files))
		if !slices.Equal(names, sorted) {
			t.Fatalf("Extract returned %q, dest holds %q", sorted, names)
		}
	})
}
