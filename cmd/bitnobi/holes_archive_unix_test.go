//go:build unix

package main

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// craftArchive writes a small .tar.zst in dir: the files of first (name,
// content), then an entry named huge that declares size bytes but is
// followed by only 64 MiB of zeros (a few KB compressed), as a hostile
// archive would be.
func craftArchive(t *testing.T, dir, name string, first [][2]string, huge string, size int64) string {
	t.Helper()
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(zw)
	for _, f := range first {
		if err := tw.WriteHeader(&tar.Header{Name: f[0], Mode: 0o600, Size: int64(len(f[1])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(f[1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.WriteHeader(&tar.Header{Name: huge, Mode: 0o600, Size: size, Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(make([]byte, 0)); err != nil {
		t.Fatal(err)
	}
	// The tar writer would refuse to close a short entry: write the zeros
	// to the compressor directly, after its header.
	if err := tw.Flush(); err != nil && !strings.Contains(err.Error(), "missed writing") {
		t.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	for range 64 {
		if _, err := zw.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if buf.Len() > 1<<20 {
		t.Fatalf("crafted archive of %d bytes, want a small one", buf.Len())
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestHostileArchiveBounded checks that import and restore refuse, with
// exit code 2 and before writing it, a small archive whose entry declares
// more than the disk holds: in an archive with the manifest first (as
// export writes them: the size differs from the listed one), and in one
// without a leading manifest (older exports: the free space caps it).
func TestHostileArchiveBounded(t *testing.T) {
	root, dataDir := seededDataDir(t)
	bk := mustBackup(t, dataDir)
	manifest, err := os.ReadFile(filepath.Join(bk, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(root, &st); err != nil {
		t.Fatal(err)
	}
	free := int64(st.Bavail) * int64(st.Bsize)
	blob := "blobs/aa/aa" + strings.Repeat("0", 62)
	for _, tt := range []struct {
		name  string
		first [][2]string
		huge  string
		size  int64
		want  string
	}{
		// The first table file of the real manifest, declared huge.
		{"ManifestFirst", [][2]string{{"manifest.json", string(manifest)}}, firstListed(t, bk), 10 << 30, "lists"},
		{"ManifestFirstUnlisted", [][2]string{{"manifest.json", string(manifest)}}, blob, 10 << 30, "not listed"},
		{"ManifestLast", nil, blob, min(free+(1<<30), 1<<40), "free space"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			archive := craftArchive(t, dir, "hostile.tar.zst", tt.first, tt.huge, tt.size)
			folder := filepath.Join(dir, "folder")
			code, out, errOut := runMain(t, nil, "backups", "import", archive, "--backup-dir", folder)
			if code != ExitUsage || !strings.Contains(errOut, tt.want) {
				t.Fatalf("import: exit %d, want %d with %q\nstdout: %s\nstderr: %s", code, ExitUsage, tt.want, out, errOut)
			}
			target := filepath.Join(dir, "t", "bitnobi-data")
			code, out, errOut = runMain(t, nil, "restore", archive, "--data-dir", target, "--key-file", filepath.Join(dataDir, "master.key"))
			if code != ExitUsage || !strings.Contains(errOut, tt.want) {
				t.Fatalf("restore: exit %d, want %d with %q\nstdout: %s\nstderr: %s", code, ExitUsage, tt.want, out, errOut)
			}
			if left, _ := os.ReadDir(filepath.Join(dir, "t")); len(left) > 0 {
				t.Fatalf("restore left %s beside the data directory", left[0].Name())
			}
		})
	}
}

// firstListed returns the path of the first file the manifest of the
// backup bk lists.
func firstListed(t *testing.T, bk string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(bk, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(data, []byte(`"path": "`))
	if i < 0 {
		i = bytes.Index(data, []byte(`"path":"`))
	}
	if i < 0 {
		t.Fatalf("no path in the manifest: %.200s", data)
	}
	rest := data[i+bytes.IndexByte(data[i:], ':')+1:]
	rest = bytes.TrimLeft(rest, " ")[1:]
	return string(rest[:bytes.IndexByte(rest, '"')])
}
