package reliability_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"maps"

	"github.com/bitnobi/bitnobi/backup"
	"github.com/bitnobi/bitnobi/backup/format"
	"github.com/bitnobi/bitnobi/internal/testutil"
	"github.com/bitnobi/bitnobi/sqlite"
)

// sealManifest writes m as dir/manifest.json with a valid checksum, so
// that what is tested is the reader's handling of the content, not the
// checksum.
func sealManifest(t testing.TB, dir string, m map[string]any) {
	t.Helper()
	delete(m, "manifest_checksum")
	body, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	writeSealed(t, dir, body)
}

// writeSealed appends a valid manifest_checksum member to body, a JSON
// object's text ending in "}", and writes it as dir/manifest.json.
func writeSealed(t testing.TB, dir string, body []byte) {
	t.Helper()
	body = bytes.TrimRight(body, "\n")
	body = append(bytes.TrimSuffix(body, []byte("}")), []byte(",\n  ")...)
	sum := sha256.Sum256(body)
	body = append(body, []byte(`"manifest_checksum": "`+hex.EncodeToString(sum[:])+"\"\n}\n")...)
	if err := os.WriteFile(filepath.Join(dir, format.ManifestName), body, 0o600); err != nil {
		t.Fatal(err)
	}
}

func readManifestMap(t testing.TB, dir string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, format.ManifestName))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// hostile is one malicious backup directory, made from a good one.
type hostile struct {
	name string
	make func(t testing.TB, dir, outside string)
}

func files(m map[string]any) []any { return m["files"].([]any) }

func firstBlob(m map[string]any) map[string]any {
	for _, f := range files(m) {
		if f.(map[string]any)["blob"] != nil {
			return f.(map[string]any)
		}
	}
	panic("no blob")
}

var hostiles = []hostile{
	{"path-traversal-file", func(t testing.TB, dir, outside string) {
		m := readManifestMap(t, dir)
		files(m)[0].(map[string]any)["path"] = "../../outside/secret"
		sealManifest(t, dir, m)
	}},
	{"path-traversal-table", func(t testing.TB, dir, outside string) {
		m := readManifestMap(t, dir)
		m["tables"].([]any)[0].(map[string]any)["file"] = "../outside/secret"
		sealManifest(t, dir, m)
	}},
	{"path-traversal-table-name", func(t testing.TB, dir, outside string) {
		m := readManifestMap(t, dir)
		m["tables"].([]any)[0].(map[string]any)["name"] = "../users"
		sealManifest(t, dir, m)
	}},
	{"absolute-path", func(t testing.TB, dir, outside string) {
		m := readManifestMap(t, dir)
		files(m)[0].(map[string]any)["path"] = filepath.Join(outside, "secret")
		sealManifest(t, dir, m)
	}},
	{"blob-id-traversal", func(t testing.TB, dir, outside string) {
		m := readManifestMap(t, dir)
		firstBlob(m)["blob"] = "../../../outside"
		sealManifest(t, dir, m)
	}},
	{"symlink-blob-outside", func(t testing.TB, dir, outside string) {
		m := readManifestMap(t, dir)
		p := filepath.Join(dir, firstBlob(m)["path"].(string))
		copyFile(t, p, filepath.Join(outside, "blob-copy")) // same content: checksums match
		os.Remove(p)
		must(t, os.Symlink(filepath.Join(outside, "blob-copy"), p))
	}},
	{"symlink-tables-dir", func(t testing.TB, dir, outside string) {
		copyTree(t, filepath.Join(dir, "tables"), filepath.Join(outside, "tables"))
		must(t, os.RemoveAll(filepath.Join(dir, "tables")))
		must(t, os.Symlink(filepath.Join(outside, "tables"), filepath.Join(dir, "tables")))
	}},
	{"symlink-manifest", func(t testing.TB, dir, outside string) {
		copyFile(t, filepath.Join(dir, format.ManifestName), filepath.Join(outside, "manifest.json"))
		os.Remove(filepath.Join(dir, format.ManifestName))
		must(t, os.Symlink(filepath.Join(outside, "manifest.json"), filepath.Join(dir, format.ManifestName)))
	}},
	{"symlink-extra-outside", func(t testing.TB, dir, outside string) {
		must(t, os.Symlink(filepath.Join(outside, "secret"), filepath.Join(dir, "tables", "extra.jsonl.zst")))
	}},
	{"hardlink-outside-other-content", func(t testing.TB, dir, outside string) {
		m := readManifestMap(t, dir)
		p := filepath.Join(dir, firstBlob(m)["path"].(string))
		os.Remove(p)
		must(t, os.Link(filepath.Join(outside, "secret"), p))
	}},
	{"fifo", func(t testing.TB, dir, outside string) {
		m := readManifestMap(t, dir)
		p := filepath.Join(dir, firstBlob(m)["path"].(string))
		os.Remove(p)
		must(t, syscall.Mkfifo(p, 0o600))
	}},
	{"listed-file-missing", func(t testing.TB, dir, outside string) {
		m := readManifestMap(t, dir)
		id := strings.Repeat("cd", 32)
		m["files"] = append(files(m), map[string]any{"path": "blobs/cd/" + id, "size": 5, "sha256": strings.Repeat("0", 64), "encoding": "none", "raw_size": 5, "blob": id})
		sealManifest(t, dir, m)
	}},
	{"huge-declared-sizes", func(t testing.TB, dir, outside string) {
		m := readManifestMap(t, dir)
		for _, f := range files(m) {
			f.(map[string]any)["size"] = json.Number("4611686018427387904")
			f.(map[string]any)["raw_size"] = json.Number("4611686018427387904")
		}
		for _, tb := range m["tables"].([]any) {
			tb.(map[string]any)["raw_size"] = json.Number("4611686018427387904")
			tb.(map[string]any)["rows"] = json.Number("4611686018427387904")
		}
		sealManifest(t, dir, m)
	}},
	{"huge-raw-size-only", func(t testing.TB, dir, outside string) {
		m := readManifestMap(t, dir)
		firstBlob(m)["raw_size"] = json.Number("4611686018427387904")
		sealManifest(t, dir, m)
	}},
	{"negative-size", func(t testing.TB, dir, outside string) {
		m := readManifestMap(t, dir)
		files(m)[0].(map[string]any)["size"] = json.Number("-1")
		sealManifest(t, dir, m)
	}},
	{"deeply-nested-json", func(t testing.TB, dir, outside string) {
		body := `{"format": 1, "x": ` + strings.Repeat("[", 1<<20) + strings.Repeat("]", 1<<20) + "\n}"
		writeSealed(t, dir, []byte(body))
	}},
	{"huge-json", func(t testing.TB, dir, outside string) {
		m := readManifestMap(t, dir)
		m["host"] = strings.Repeat("h", prof.HugeJSONMiB<<20)
		sealManifest(t, dir, m)
	}},
	{"invalid-utf8", func(t testing.TB, dir, outside string) {
		data, err := os.ReadFile(filepath.Join(dir, format.ManifestName))
		must(t, err)
		body := data[:bytes.LastIndex(data, []byte(`,`))]
		body = bytes.Replace(body, []byte(`"host": "`), []byte("\"host\": \"\xff\xfe"), 1)
		writeSealed(t, dir, append(body, []byte("\n}")...))
	}},
	{"future-format", func(t testing.TB, dir, outside string) {
		m := readManifestMap(t, dir)
		m["format"] = 99
		sealManifest(t, dir, m)
	}},
	{"wrong-engine", func(t testing.TB, dir, outside string) {
		m := readManifestMap(t, dir)
		m["engine"] = "oracle"
		sealManifest(t, dir, m)
	}},
	{"unknown-member", func(t testing.TB, dir, outside string) {
		m := readManifestMap(t, dir)
		m["run_after_restore"] = "rm -rf /"
		sealManifest(t, dir, m)
	}},
	{"manifest-is-directory", func(t testing.TB, dir, outside string) {
		os.Remove(filepath.Join(dir, format.ManifestName))
		must(t, os.Mkdir(filepath.Join(dir, format.ManifestName), 0o700))
	}},
	{"empty-manifest", func(t testing.TB, dir, outside string) {
		write(t, filepath.Join(dir, format.ManifestName), nil)
	}},
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func copyFile(t testing.TB, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	must(t, err)
	must(t, os.WriteFile(dst, data, 0o600))
}

// corpusDir holds the committed hostile corpus (testdata/hostile/README.md):
// good/ is a complete backup, master.key its key, and each stored case's
// directory holds the files that differ from good/.
const corpusDir = "testdata/hostile"

// madeAtRunTime are the cases not stored under testdata, and why.
var madeAtRunTime = map[string]string{
	"absolute-path":                  "names the test's own outside directory",
	"symlink-blob-outside":           "symbolic link",
	"symlink-tables-dir":             "symbolic link",
	"symlink-manifest":               "symbolic link",
	"symlink-extra-outside":          "symbolic link",
	"hardlink-outside-other-content": "hard link",
	"fifo":                           "FIFO",
	"manifest-is-directory":          "empty directory",
	"deeply-nested-json":             "2 MiB of brackets",
	"huge-json":                      "4 MiB (fast) or 64 MiB (long) manifest",
}

// TestHostileBackups gives verify and restore malicious backup
// directories: the committed ones of testdata/hostile, and the few made at
// run time from its good backup (symbolic links, hard links and FIFOs
// cannot be kept in git as they are; the huge ones would weigh MiBs).
// Each is refused with an error, and nothing is changed, neither the data
// directory nor anything outside the backup.
func TestHostileBackups(t *testing.T) {
	t.Parallel()
	if *testutil.Update {
		writeCorpus(t)
	}
	good := filepath.Join(corpusDir, "good")
	root := t.TempDir()
	f := &fixture{root: root, data: filepath.Join(root, "data")}
	seedDataDir(t, f.data, 0, "marker-live", filepath.Join(corpusDir, "master.key"))
	f.key = filepath.Join(f.data, "master.key")
	f.state = dump(t, f.data)

	// Control: the good backup verifies and restores (into a directory of
	// its own), so the refusals below are the hostile parts' doing.
	t.Run("control", func(t *testing.T) {
		dir := filepath.Join(root, "control", "backup-20990101_0000")
		copyCorpus(t, good, dir)
		if _, err := backup.Verify(context.Background(), dir, backup.VerifyOptions{}); err != nil {
			t.Fatalf("verify of the good backup: %v (regenerate the corpus with -update?)", err)
		}
		if _, err := backup.Restore(context.Background(), backup.RestoreOptions{Backup: dir, DataDir: filepath.Join(root, "control", "data"), Local: sqlite.Local{}, KeyFile: f.key, Logger: quiet}); err != nil {
			t.Fatalf("restore of the good backup: %v", err)
		}
	})

	known := map[string]bool{"good": true}
	for _, h := range hostiles {
		known[h.name] = true
		t.Run(h.name, func(t *testing.T) {
			dir := filepath.Join(f.root, "hostile", h.name, "backup-20990101_0000")
			outside := filepath.Join(f.root, "hostile", h.name, "outside")
			must(t, os.MkdirAll(outside, 0o700))
			write(t, filepath.Join(outside, "secret"), []byte("outside the backup"))
			copyCorpus(t, good, dir)
			if _, ok := madeAtRunTime[h.name]; ok {
				h.make(t, dir, outside)
			} else {
				stored := filepath.Join(corpusDir, h.name)
				if _, err := os.Stat(stored); err != nil {
					t.Fatalf("no committed case: %v (go test ./reliability -run TestHostileBackups -update)", err)
				}
				copyCorpus(t, stored, dir)
			}
			before := testutil.Tree(t, filepath.Join(f.root, "hostile", h.name), false)

			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			alloc := ms.TotalAlloc
			_, verr := backup.Verify(context.Background(), dir, backup.VerifyOptions{})
			rerr := f.restoreIn(dir)
			runtime.ReadMemStats(&ms)
			if verr == nil {
				t.Errorf("verify accepted it")
			}
			if rerr == nil {
				t.Errorf("restore accepted it")
			}
			t.Logf("verify: %v\nrestore: %v", verr, rerr)
			if got := ms.TotalAlloc - alloc; got > 1<<30 {
				t.Errorf("verify and restore allocated %d MiB", got>>20)
			}
			if after := testutil.Tree(t, filepath.Join(f.root, "hostile", h.name), false); !maps.Equal(after, before) {
				t.Errorf("the backup or its surroundings changed")
			}
			f.checkUntouched(t, h.name)
		})
	}
	des, err := os.ReadDir(corpusDir)
	must(t, err)
	for _, de := range des {
		if de.IsDir() && !known[de.Name()] {
			t.Errorf("%s/%s is no case of the test: remove it or regenerate with -update", corpusDir, de.Name())
		}
	}
	record(t, "hostile backup directories (traversal, absolute paths, symlinks, hard link, FIFO, missing files, huge sizes, nested/huge JSON, invalid UTF-8, future format, wrong engine, unknown member)", len(hostiles), "each refused by verify and by restore with an error naming the problem; nothing changed")
}

// writeCorpus rewrites testdata/hostile from a fresh backup of a small
// data directory: good/, master.key, and for each case not made at run
// time the files that differ from good/. README.md is kept.
func writeCorpus(t *testing.T) {
	root := t.TempDir()
	data := filepath.Join(root, "data")
	seedDataDir(t, data, 0, "marker-live", "")
	r := mustRun(t, "backup", "--quiet", "--data-dir", data, "--backup-dir", filepath.Join(root, "backups"))
	src := testutil.LastLine(r.Stdout)

	des, err := os.ReadDir(corpusDir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, de := range des {
		if de.Name() != "README.md" {
			must(t, os.RemoveAll(filepath.Join(corpusDir, de.Name())))
		}
	}
	good := filepath.Join(corpusDir, "good")
	copyCorpus(t, src, good)
	copyFile(t, filepath.Join(data, "master.key"), filepath.Join(corpusDir, "master.key"))
	for _, h := range hostiles {
		if _, ok := madeAtRunTime[h.name]; ok {
			continue
		}
		dir := filepath.Join(root, "cases", h.name)
		outside := filepath.Join(root, "cases", "outside")
		must(t, os.MkdirAll(outside, 0o700))
		copyCorpus(t, good, dir)
		h.make(t, dir, outside)
		// Keep what differs from good/; the cases stored here only
		// change or add regular files.
		n := 0
		err := filepath.WalkDir(dir, func(p string, de fs.DirEntry, err error) error {
			if err != nil || de.IsDir() {
				return err
			}
			if !de.Type().IsRegular() {
				t.Fatalf("%s: %s is not a regular file: make the case at run time", h.name, p)
			}
			rel, _ := filepath.Rel(dir, p)
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if old, err := os.ReadFile(filepath.Join(good, rel)); err == nil && bytes.Equal(old, data) {
				return nil
			}
			n++
			target := filepath.Join(corpusDir, h.name, rel)
			must(t, os.MkdirAll(filepath.Dir(target), 0o755))
			return os.WriteFile(target, data, 0o644)
		})
		must(t, err)
		if n == 0 {
			t.Fatalf("%s: the case changes nothing", h.name)
		}
	}
	t.Logf("wrote %s", corpusDir)
}

// copyCorpus copies the regular files and directories under src over
// dst, as a backup has them: files 0600, directories 0700 (git keeps
// neither mode).
func copyCorpus(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if de.IsDir() {
			return os.MkdirAll(target, 0o700)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}
