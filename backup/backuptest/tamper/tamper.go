// Package tamper alters backups for tests: it makes backups whose
// checksums agree but whose content is wrong, which only a deep check can
// tell. It is apart from backuptest because it imports package backup,
// whose own tests use backuptest.
package tamper

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bitnobi/bitnobi/backup/format"
	"github.com/klauspost/compress/zstd"
)

// RewriteTable replaces the rows of a one-segment table of the plain backup in dir with rows
// edited by edit (JSON lines), and rewrites the manifest to match: a
// backup whose checksums all agree but whose content need not.
func RewriteTable(tb testing.TB, dir, table string, edit func(lines []string) []string) {
	tb.Helper()
	m, err := format.ReadManifest(dir)
	if err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(dir, "tables", table+".0.jsonl.zst")
	raw, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	dec, _ := zstd.NewReader(nil)
	plain, err := dec.DecodeAll(raw, nil)
	if err != nil {
		tb.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(plain), "\n"), "\n")
	if len(plain) == 0 {
		lines = nil
	}
	lines = edit(lines)
	text := ""
	for _, l := range lines {
		text += l + "\n"
	}
	enc, _ := zstd.NewWriter(nil)
	data := enc.EncodeAll([]byte(text), nil)
	os.Remove(path) // in case it is a hard link
	if err := os.WriteFile(path, data, 0o600); err != nil {
		tb.Fatal(err)
	}
	sum := sha256.Sum256(data)
	for i := range m.Tables {
		if m.Tables[i].Name == table {
			m.Tables[i].Rows, m.Tables[i].RawSize = int64(len(lines)), int64(len(text))
			if len(m.Tables[i].Segments) != 1 {
				tb.Fatalf("table %s has %d segments; rewriteTable handles one", table, len(m.Tables[i].Segments))
			}
			m.Tables[i].Segments[0].Rows, m.Tables[i].Segments[0].RawSize = int64(len(lines)), int64(len(text))
		}
	}
	for i := range m.Files {
		if m.Files[i].Path == "tables/"+table+".0.jsonl.zst" {
			m.Files[i].Size, m.Files[i].SHA256, m.Files[i].RawSize = int64(len(data)), hex.EncodeToString(sum[:]), int64(len(text))
		}
	}
	out, err := m.Marshal()
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, format.ManifestName), out, 0o600); err != nil {
		tb.Fatal(err)
	}
}
