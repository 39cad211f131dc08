package backup_test

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/bitnobi/bitnobi/backup"
	"github.com/bitnobi/bitnobi/backup/backuptest"
	"github.com/bitnobi/bitnobi/backup/backuptest/tamper"
	"github.com/bitnobi/bitnobi/backup/format"
	"github.com/bitnobi/bitnobi/internal/testutil"
	"github.com/bitnobi/bitnobi/sqlite"
)

// TestRestore_ChecksFilesAsItReads alters a backup file so that only its
// SHA-256 tells: it decodes, its rows or content are valid, and its size
// is the one the manifest lists. Restore no longer hashes the table and
// blob files before it begins, but checks each as it restores it, and
// must refuse such a file all the same, naming it, with the data
// directory left as it was.
func TestRestore_ChecksFilesAsItReads(t *testing.T) {
	f := newFixture(t)
	for _, tt := range []struct {
		name  string
		alter func(t *testing.T, dir string, m *format.Manifest) string // returns the file altered
	}{
		{"TableReencoded", func(t *testing.T, dir string, m *format.Manifest) string {
			// The same rows compressed again, and the file's size, but not
			// its SHA-256, updated in the manifest: the rows restore as
			// they were, but the file is not the one the backup wrote.
			p := filepath.Join(dir, "tables", "users.0.jsonl.zst")
			old, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			tamper.RewriteTable(t, dir, "users", func(lines []string) []string { return lines })
			if now, _ := os.ReadFile(p); bytes.Equal(now, old) {
				// A small table can compress to the same bytes with the
				// same encoder: write the frame without its checksum,
				// which cannot be the same file.
				dec, _ := zstd.NewReader(nil)
				defer dec.Close()
				content, err := dec.DecodeAll(now, nil)
				if err != nil {
					t.Fatal(err)
				}
				enc, _ := zstd.NewWriter(nil, zstd.WithEncoderCRC(false))
				data := enc.EncodeAll(content, nil)
				if bytes.Equal(data, old) {
					t.Fatal("compressed again, the file is the same: the test alters nothing")
				}
				if err := os.WriteFile(p, data, 0o600); err != nil {
					t.Fatal(err)
				}
				rewriteManifest(t, dir, func(m *format.Manifest) {
					for i := range m.Files {
						if m.Files[i].Path == "tables/users.0.jsonl.zst" {
							m.Files[i].Size = int64(len(data))
						}
					}
				})
			}
			return "tables/users.0.jsonl.zst"
		}},
		{"BlobReencoded", func(t *testing.T, dir string, m *format.Manifest) string {
			// The same content, compressed otherwise: the blob is intact,
			// its file is not the one the backup wrote.
			victim := firstFile(m, true)
			p := filepath.Join(dir, filepath.FromSlash(victim.Path))
			raw, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			content := raw
			if victim.Encoding == format.EncodingZstd {
				dec, _ := zstd.NewReader(nil)
				defer dec.Close()
				if content, err = dec.DecodeAll(raw, nil); err != nil {
					t.Fatal(err)
				}
			}
			enc, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBestCompression))
			data := enc.EncodeAll(content, nil)
			os.Remove(p) // in case it is a hard link
			if err := os.WriteFile(p, data, 0o600); err != nil {
				t.Fatal(err)
			}
			rewriteManifest(t, dir, func(m *format.Manifest) {
				for i := range m.Files {
					if m.Files[i].Path == victim.Path {
						m.Files[i].Size, m.Files[i].Encoding = int64(len(data)), format.EncodingZstd
					}
				}
			})
			return victim.Path
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), f.res.Name)
			if err := os.CopyFS(dir, os.DirFS(f.res.Path)); err != nil {
				t.Fatal(err)
			}
			altered := tt.alter(t, dir, f.res.Manifest)
			// Put the file's original SHA-256 back in the manifest.
			rewriteManifest(t, dir, func(m *format.Manifest) {
				for i := range m.Files {
					for _, of := range f.res.Manifest.Files {
						if m.Files[i].Path == altered && of.Path == altered {
							m.Files[i].SHA256 = of.SHA256
						}
					}
				}
			})
			target := filepath.Join(t.TempDir(), "data")
			d := backuptest.NewDataDir(t, target)
			d.Close()
			before := testutil.Tree(t, target, true)
			_, err := backup.Restore(context.Background(), backup.RestoreOptions{Backup: dir, DataDir: target, Local: sqlite.Local{}, KeyFile: f.data.Dir.Key()})
			if !errors.Is(err, backup.ErrChecksumMismatch) {
				t.Fatalf("Restore err=%v, want %v", err, backup.ErrChecksumMismatch)
			}
			if !strings.Contains(err.Error(), altered) || !strings.Contains(err.Error(), "manifest says") {
				t.Fatalf("Restore err=%q does not name %s and its expected SHA-256", err, altered)
			}
			if backup.Hint(err) == "" {
				t.Fatalf("Restore err=%q has no hint", err)
			}
			if after := testutil.Tree(t, target, true); !maps.Equal(before, after) {
				t.Fatalf("data directory changed:\nbefore %v\nafter  %v", before, after)
			}
			assertNoLeftovers(t, target)
		})
	}
}
