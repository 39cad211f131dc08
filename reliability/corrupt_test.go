package reliability_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bitnobi/bitnobi/backup"
	"github.com/bitnobi/bitnobi/backup/format"
	"github.com/bitnobi/bitnobi/internal/testutil"
	"github.com/bitnobi/bitnobi/sqlite"
)

// fixture is a small data directory with one backup of it, and an archive
// of that backup.
type fixture struct {
	root, data, folder, backup, key, archive string
	state                                    *state
}

func newFixture(t testing.TB, blobMiB int) *fixture {
	t.Helper()
	root := t.TempDir()
	f := &fixture{root: root, data: filepath.Join(root, "data"), folder: filepath.Join(root, "backups")}
	seedDataDir(t, f.data, blobMiB, "marker-live", "")
	f.key = filepath.Join(f.data, "master.key")
	r := mustRun(t, "backup", "--quiet", "--data-dir", f.data, "--backup-dir", f.folder)
	f.backup = testutil.LastLine(r.Stdout)
	f.archive = filepath.Join(root, "backup.tar.zst")
	mustRun(t, "backups", "export", "--backup-dir", f.folder, f.backup, f.archive)
	f.state = dump(t, f.data)
	return f
}

var quiet = slog.New(slog.DiscardHandler)

// restoreIn restores dir into the fixture's data directory in-process.
func (f *fixture) restoreIn(dir string) error {
	_, err := backup.Restore(context.Background(), backup.RestoreOptions{Backup: dir, DataDir: f.data, Local: sqlite.Local{}, KeyFile: f.key, Logger: quiet, DiscardPrevious: true})
	return err
}

// checkUntouched checks that the data directory holds the state it was
// made with and that no restore left anything beside it.
func (f *fixture) checkUntouched(t testing.TB, what string) {
	t.Helper()
	if got := dump(t, f.data); !got.equal(f.state) {
		t.Fatalf("%s: the data directory changed", what)
	}
	for _, p := range []string{"data.restore-staging", "data.before-restore-", "data.restore-journal", "data.restore-archive-"} {
		if e := entries(t, f.root, p); len(e) > 0 {
			t.Fatalf("%s: left %v beside the data directory", what, e)
		}
	}
}

// TestCorruption damages each kind of backup file in each way, at random
// places, and checks that verify detects it naming the file and that
// restore refuses it without touching the data directory.
func TestCorruption(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 2)
	m, err := format.ReadManifest(f.backup)
	if err != nil {
		t.Fatal(err)
	}
	var tables, blobs []string
	for _, fl := range m.Files {
		if fl.Blob != "" {
			blobs = append(blobs, fl.Path)
		} else {
			tables = append(tables, fl.Path)
		}
	}
	kinds := map[string][]string{"manifest": {format.ManifestName}, "table": tables, "blob": blobs}
	damages := []string{"flip", "truncate", "delete", "add"}
	rnd := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 4))
	n, benign := 0, 0
	for i := 0; n < prof.Corruptions; i++ {
		kind := []string{"manifest", "table", "blob"}[i%3]
		damage := damages[(i/3)%len(damages)]
		file := kinds[kind][rnd.IntN(len(kinds[kind]))]
		name := fmt.Sprintf("%s-%s-%d", kind, damage, i)
		dir := filepath.Join(f.root, "trial", "backup-20990101_0000")
		os.RemoveAll(filepath.Dir(dir))
		copyTree(t, f.backup, dir)
		named, ok := corrupt(t, rnd, dir, file, damage)
		if !ok {
			benign++
			continue
		}
		n++
		_, verr := backup.Verify(context.Background(), dir, backup.VerifyOptions{})
		if verr == nil {
			t.Fatalf("%s: %s %s: verify passed", name, damage, named)
		}
		if !strings.Contains(verr.Error(), named) {
			t.Fatalf("%s: verify error does not name %s: %v", name, named, verr)
		}
		if !errors.Is(verr, backup.ErrVerify) && !errors.Is(verr, backup.ErrNotBackup) && !errors.Is(verr, backup.ErrNewerVersion) {
			t.Errorf("%s: verify error matches no backup sentinel: %v", name, verr)
		}
		rerr := f.restoreIn(dir)
		if rerr == nil {
			t.Fatalf("%s: %s %s: restore did not refuse", name, damage, named)
		}
		if !strings.Contains(rerr.Error(), named) && !strings.Contains(rerr.Error(), filepath.Base(named)) {
			t.Fatalf("%s: restore error does not name %s: %v", name, named, rerr)
		}
		f.checkUntouched(t, name)
	}
	record(t, "corruption of a backup directory (flip, truncate, delete, add; manifest, table, blob)", n,
		fmt.Sprintf("every one detected by verify naming the file and refused by restore, data directory untouched (%d flips of whitespace after the manifest checksum, which change no information, not counted)", benign))
}

// corrupt applies damage to file (relative to dir) and returns the path
// the error must name. ok is false when the damage changed nothing that
// carries information (a flip of trailing whitespace of the manifest into
// other whitespace).
func corrupt(t testing.TB, rnd *rand.Rand, dir, file, damage string) (named string, ok bool) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(file))
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	switch damage {
	case "flip":
		if len(data) == 0 {
			// An empty file cannot be flipped: append a byte instead.
			data = []byte{0}
		} else {
			i := rnd.IntN(len(data))
			old := data[i]
			data[i] ^= byte(1 + rnd.IntN(255))
			if file == format.ManifestName && isSpace(old) && isSpace(data[i]) && bytes.LastIndex(data, []byte(`"manifest_checksum"`)) < i {
				return "", false
			}
		}
		return file, true && write(t, p, data)
	case "truncate":
		if len(data) == 0 {
			data = []byte("x") // grow instead: the size differs all the same
		} else {
			data = data[:rnd.IntN(len(data))]
		}
		return file, write(t, p, data)
	case "delete":
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
		return file, true
	case "add":
		// A new file beside the chosen one, under a name of a valid shape
		// where there is one.
		extra := filepath.Join(filepath.Dir(p), "extra")
		rel := filepath.ToSlash(filepath.Join(filepath.Dir(file), "extra"))
		switch {
		case strings.HasPrefix(file, "tables/"):
			extra, rel = filepath.Join(dir, "tables", "extra.jsonl.zst"), "tables/extra.jsonl.zst"
		case strings.HasPrefix(file, "blobs/"):
			id := strings.Repeat("ab", 32)
			extra, rel = filepath.Join(filepath.Dir(p), id), filepath.ToSlash(filepath.Join(filepath.Dir(file), id))
		}
		if err := os.WriteFile(extra, []byte("added"), 0o600); err != nil {
			t.Fatal(err)
		}
		return rel, true
	}
	t.Fatalf("unknown damage %s", damage)
	return "", false
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func write(t testing.TB, p string, data []byte) bool {
	t.Helper()
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return true
}

// TestCorruptArchive damages an exported archive (flip, truncate, append)
// and checks that import and restore refuse it and change nothing.
func TestCorruptArchive(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 2)
	orig, err := os.ReadFile(f.archive)
	if err != nil {
		t.Fatal(err)
	}
	rnd := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 5))
	trials := max(prof.Corruptions/2, 10)
	folder := filepath.Join(f.root, "import")
	for i := range trials {
		data := append([]byte(nil), orig...)
		damage := []string{"flip", "truncate", "append"}[i%3]
		switch damage {
		case "flip":
			j := rnd.IntN(len(data))
			data[j] ^= byte(1 + rnd.IntN(255))
		case "truncate":
			data = data[:rnd.IntN(len(data))]
		case "append":
			data = append(data, []byte("garbage after the archive")...)
		}
		_, err := backup.Import(context.Background(), bytes.NewReader(data), backup.ImportOptions{Folder: folder})
		if err == nil {
			t.Fatalf("trial %d: %s: import accepted a damaged archive", i, damage)
		}
		if names := entries(t, folder, ""); len(names) > 0 && !(len(names) == 1 && names[0] == ".lock") {
			t.Fatalf("trial %d: %s: import left %v", i, damage, names)
		}
		p := filepath.Join(f.root, "damaged.tar.zst")
		write(t, p, data)
		if r := runBin(t, "restore", p, "--quiet", "--data-dir", f.data); r.Code == 0 {
			t.Fatalf("trial %d: %s: restore accepted a damaged archive", i, damage)
		} else if i < 3 {
			t.Logf("%s: %s", damage, strings.TrimSpace(r.Stderr))
		}
		f.checkUntouched(t, fmt.Sprintf("archive trial %d (%s)", i, damage))
	}
	_ = io.EOF
	record(t, "corruption of an exported archive (flip, truncate, append)", trials, "every one refused by import and by restore; folder and data directory untouched")
}
