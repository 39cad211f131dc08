package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"maps"

	"github.com/bitnobi/bitnobi/backup"
	"github.com/bitnobi/bitnobi/backup/backuptest"
	"github.com/bitnobi/bitnobi/backup/backuptest/tamper"
	"github.com/bitnobi/bitnobi/backup/format"
	"github.com/bitnobi/bitnobi/internal/datadir"
	"github.com/bitnobi/bitnobi/internal/lockfile"
	"github.com/bitnobi/bitnobi/internal/testutil"
	"github.com/bitnobi/bitnobi/sqlite"
)

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *testutil.Update {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Fatalf("output differs from %s (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", p, got, want)
	}
}

// fixedBackup seeds a data directory with a fixed clock and backs it up
// with one, so that what the backup holds is the same on every run but
// for the instance ID, host and version.
func fixedBackup(t *testing.T) (dataDir string, res *backup.Result) {
	t.Helper()
	root := t.TempDir()
	dataDir = filepath.Join(root, "bitnobi-data")
	d := backuptest.NewDataDir(t, dataDir)
	at := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	d.DB.Now = func() time.Time { return at }
	backuptest.Seed(t, d)
	res, err := backup.Create(context.Background(), backup.CreateOptions{
		Local:   sqlite.Local{},
		DataDir: dataDir, Folder: filepath.Join(root, "backup"), Now: func() time.Time { return at.Add(time.Hour) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	return dataDir, res
}

// normalize replaces what differs between runs with placeholders.
func normalize(s string, m *format.Manifest) string {
	return strings.NewReplacer(m.InstanceID, "INSTANCE", m.Host, "HOST", m.AppVersion, "VERSION").Replace(s)
}

func TestBackupsInspect(t *testing.T) {
	dataDir, res := fixedBackup(t)
	folder := filepath.Dir(res.Path)
	code, out, errOut := runMain(t, nil, "backups", "inspect", res.Name, "--backup-dir", folder)
	if code != ExitOK {
		t.Fatalf("inspect exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	golden(t, "inspect.golden", normalize(out, res.Manifest))

	code, one, _ := runMain(t, nil, "backups", "inspect", "--backup-dir", folder, res.Name, "data-sources")
	if code != ExitOK || !strings.Contains(one, "DATA SOURCES (2)") || strings.Contains(one, "USERS") || strings.Contains(one, "COUNTS") {
		t.Fatalf("inspect NAME data-sources exit %d:\n%s", code, one)
	}
	code, js, _ := runMain(t, nil, "backups", "inspect", res.Name, "--backup-dir", folder, "--json")
	var in backup.Inspection
	if code != ExitOK || json.Unmarshal([]byte(js), &in) != nil || len(in.Users) != 3 {
		t.Fatalf("inspect --json exit %d:\n%s", code, js)
	}
	d := backuptest.Open(t, dataDir)
	secrets := backuptest.Secrets(t, d)
	d.Close()
	for _, s := range secrets {
		for _, o := range []string{out, js} {
			if strings.Contains(o, s) {
				t.Errorf("inspect prints the secret %q", s)
			}
		}
	}
	if code, _, _ := runMain(t, nil, "backups", "inspect", res.Name, "--backup-dir", folder, "sessions"); code != ExitUsage {
		t.Fatalf("inspect of an unknown entity: exit %d, want %d", code, ExitUsage)
	}
}

// pruneTimes are the synthetic creation times of the backups the prune
// tests start from: a year of irregular backups, dense at the end, two in
// one minute.
var pruneTimes = []string{
	"2024-11-03 09:00", "2024-12-24 18:30", "2025-01-05 09:00", "2025-02-10 12:00",
	"2025-03-02 08:00", "2025-03-16 08:00", "2025-03-20 10:00", "2025-03-21 10:00",
	"2025-03-21 22:00", "2025-03-22 01:00", "2025-03-22 01:30", "2025-03-22 02:10",
	"2025-03-22 03:00", "2025-03-22 03:00",
}

func TestBackupsPrune(t *testing.T) {
	_, dataDir := seededDataDir(t)
	src := mustBackup(t, dataDir)
	for _, tt := range []struct {
		name  string
		flags []string
	}{
		{"keep-last", []string{"--keep-last", "3"}},
		{"hourly", []string{"--keep-hourly", "4"}},
		{"daily", []string{"--keep-daily", "3"}},
		{"weekly-monthly", []string{"--keep-weekly", "2", "--keep-monthly", "3"}},
		{"yearly", []string{"--keep-yearly", "5"}},
		{"within", []string{"--keep-within", "1d2h"}},
		{"combined", []string{"--keep-last", "2", "--keep-daily", "2", "--keep-weekly", "2", "--keep-monthly", "3", "--keep-yearly", "2"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			folder := filepath.Join(t.TempDir(), "backup")
			for _, s := range pruneTimes {
				at, err := time.Parse("2006-01-02 15:04", s)
				if err != nil {
					t.Fatal(err)
				}
				name := backup.Name(at)
				if _, err := os.Stat(filepath.Join(folder, name)); err == nil {
					name += "-2"
				}
				testutil.CloneBackup(t, src, folder, name, at)
			}
			args := append([]string{"backups", "prune", "--backup-dir", folder}, tt.flags...)
			before := testutil.Tree(t, folder, true)
			code, dry, errOut := runMain(t, nil, append(args, "--dry-run")...)
			if code != ExitOK {
				t.Fatalf("prune --dry-run exit %d\nstdout: %s\nstderr: %s", code, dry, errOut)
			}
			if !maps.Equal(before, testutil.Tree(t, folder, true)) {
				t.Fatal("prune --dry-run changed the backup folder")
			}
			code, out, errOut := runMain(t, nil, args...)
			if code != ExitOK {
				t.Fatalf("prune exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
			}
			golden(t, filepath.Join("prune", tt.name+".golden"), "$ bitnobi backups prune "+strings.Join(tt.flags, " ")+" --dry-run\n"+dry+
				"\n$ bitnobi backups prune "+strings.Join(tt.flags, " ")+"\n"+out)

			// Exactly what the dry run announced was removed, and the
			// backups left, which shared every file with the removed ones,
			// still verify.
			var wouldKeep []string
			for _, line := range strings.Split(dry, "\n") {
				if f := strings.Fields(line); len(f) > 1 && f[0] == "keep" {
					wouldKeep = append(wouldKeep, f[1])
				}
			}
			var left []string
			entries, _ := os.ReadDir(folder)
			for _, e := range entries {
				if strings.HasPrefix(e.Name(), "backup-") {
					left = append(left, e.Name())
				}
			}
			slices.Sort(wouldKeep)
			if !slices.Equal(left, wouldKeep) {
				t.Fatalf("left %v, the dry run said it would keep %v", left, wouldKeep)
			}
			code, out, _ = runMain(t, nil, "backups", "verify", "--all", "--backup-dir", folder)
			if code != ExitOK || strings.Count(out, ": OK") != len(left) {
				t.Fatalf("verify --all after prune: exit %d\n%s", code, out)
			}
		})
	}
	t.Run("EmptyPolicy", func(t *testing.T) {
		code, _, errOut := runMain(t, nil, "backups", "prune", "--data-dir", dataDir)
		if code != ExitUsage || !strings.Contains(errOut, "--keep") {
			t.Fatalf("prune without a policy: exit %d, stderr %s", code, errOut)
		}
		if _, err := os.Stat(src); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("BadWithin", func(t *testing.T) {
		if code, _, _ := runMain(t, nil, "backups", "prune", "--data-dir", dataDir, "--keep-within", "soon"); code != ExitUsage {
			t.Fatalf("exit %d, want %d", code, ExitUsage)
		}
	})
}

// reChecksumTable rewrites a table file of the backup in dir with lines
// appended, and the manifest to match: every checksum agrees.
func reChecksumTable(t *testing.T, dir, table string, extra ...string) {
	t.Helper()
	tamper.RewriteTable(t, dir, table, func(lines []string) []string { return append(lines, extra...) })
}

func TestBackupsVerify(t *testing.T) {
	root, dataDir := seededDataDir(t)
	good := mustBackup(t, dataDir)
	folder := filepath.Join(root, "backup")
	// A backup whose files all match its re-written manifest, but whose
	// user_attributes refer to a user who is not there.
	inconsistent := filepath.Join(folder, "backup-20200101_0000")
	if err := os.CopyFS(inconsistent, os.DirFS(good)); err != nil {
		t.Fatal(err)
	}
	reChecksumTable(t, inconsistent, "user_attributes", `["u-ghost","department","Nowhere"]`)

	code, out, errOut := runMain(t, nil, "backups", "verify", "--data-dir", dataDir, filepath.Base(good), "--deep")
	if code != ExitOK || !strings.Contains(out, "OK") || !strings.Contains(out, "trial restore") {
		t.Fatalf("verify --deep of a good backup: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	code, out, _ = runMain(t, nil, "backups", "verify", "--data-dir", dataDir, filepath.Base(inconsistent))
	if code != ExitOK {
		t.Fatalf("verify (not deep) of the re-checksummed backup: exit %d, want 0: checksums cannot tell\n%s", code, out)
	}
	code, out, errOut = runMain(t, nil, "backups", "verify", "--data-dir", dataDir, filepath.Base(inconsistent), "--deep")
	if code != ExitVerify || !strings.Contains(out, "FAILED") || !strings.Contains(out, "trial restore") {
		t.Fatalf("verify --deep of the inconsistent backup: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}

	// The outcomes show in the list.
	code, out, _ = runMain(t, nil, "backups", "list", "--data-dir", dataDir)
	if code != ExitOK {
		t.Fatalf("list exit %d", code)
	}
	for _, want := range []struct{ name, status string }{{filepath.Base(good), "ok "}, {filepath.Base(inconsistent), "FAILED "}} {
		line := lineWith(out, want.name)
		if !strings.Contains(line, want.status) || !strings.Contains(line, "(deep)") {
			t.Errorf("list line %q does not show the last verification as %q (deep)", line, want.status)
		}
	}

	t.Run("NamesEveryBadFile", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "backup-20200101_0001")
		if err := os.CopyFS(dir, os.DirFS(good)); err != nil {
			t.Fatal(err)
		}
		m, _ := format.ReadManifest(dir)
		var bad []string
		for _, f := range m.Files {
			if len(bad) < 3 && (f.Blob != "" || f.Path == "tables/users.0.jsonl.zst") {
				data, _ := os.ReadFile(filepath.Join(dir, f.Path))
				data[len(data)/2] ^= 1
				os.WriteFile(filepath.Join(dir, f.Path), data, 0o600)
				bad = append(bad, f.Path)
			}
		}
		os.WriteFile(filepath.Join(dir, "tables", "extra.jsonl.zst"), []byte("x"), 0o600)
		bad = append(bad, "tables/extra.jsonl.zst")
		code, out, _ := runMain(t, nil, "backups", "verify", dir)
		if code != ExitVerify {
			t.Fatalf("exit %d, want %d", code, ExitVerify)
		}
		for _, b := range bad {
			if !strings.Contains(out, b) {
				t.Errorf("output does not name %s:\n%s", b, out)
			}
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(dir), backup.VerifiedDir)); err == nil {
			t.Error("a verification record was written into a folder that is not a backup folder")
		}
	})
	t.Run("DeepWithoutKey", func(t *testing.T) {
		// The master key, not the backup, is missing: bad input, as for
		// a missing identity, and as restore says.
		code, _, errOut := runMain(t, nil, "backups", "verify", "--data-dir", filepath.Join(root, "elsewhere"), good, "--deep")
		if code != ExitUsage || !strings.Contains(errOut, "master key") {
			t.Fatalf("exit %d, want %d; stderr %s", code, ExitUsage, errOut)
		}
	})
	t.Run("NotABackup", func(t *testing.T) {
		code, _, errOut := runMain(t, nil, "backups", "verify", root)
		if code != ExitUsage || !strings.Contains(errOut, "not a backup") {
			t.Fatalf("exit %d, want %d; stderr %s", code, ExitUsage, errOut)
		}
	})
}

func lineWith(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}

func TestBackupsList(t *testing.T) {
	root, dataDir := seededDataDir(t)
	first := mustBackup(t, dataDir)
	second := mustBackup(t, dataDir)
	folder := filepath.Join(root, "backup")
	os.MkdirAll(filepath.Join(folder, ".tmp-backup-20250101_0000-99"), 0o700)
	os.MkdirAll(filepath.Join(folder, "backup-20200101_0000"), 0o700)
	os.WriteFile(filepath.Join(folder, "notes.txt"), []byte("x"), 0o600)

	code, out, errOut := runMain(t, nil, "backups", "list", "--backup-dir", folder)
	if code != ExitOK {
		t.Fatalf("list exit %d\n%s\n%s", code, out, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	order := []string{filepath.Base(second), filepath.Base(first), "backup-20200101_0000", ".tmp-backup-20250101_0000-99", "notes.txt"}
	if len(lines) != len(order)+1 {
		t.Fatalf("list:\n%s", out)
	}
	for i, name := range order {
		if !strings.HasPrefix(lines[i+1], name+" ") {
			t.Fatalf("line %d is %q, want %s (newest backup first, then the rest)\n%s", i+1, lines[i+1], name, out)
		}
	}
	for i, want := range []string{"never", "never", "damaged", "incomplete", "foreign"} {
		if !strings.Contains(lines[i+1], want) {
			t.Errorf("line %q does not say %q", lines[i+1], want)
		}
	}

	code, out, _ = runMain(t, nil, "backups", "list", "--backup-dir", folder, "--json")
	var entries []listEntry
	if code != ExitOK || json.Unmarshal([]byte(out), &entries) != nil || len(entries) != 5 {
		t.Fatalf("list --json exit %d:\n%s", code, out)
	}
	// The second backup linked both blobs and the unchanged tables from
	// the first: neither owns them alone.
	m, _ := format.ReadManifest(second)
	shared := m.Stats.BytesLinked
	if m.Stats.FilesLinked < 2 {
		t.Fatalf("second backup linked %d files, want at least both blobs", m.Stats.FilesLinked)
	}
	for _, e := range entries[:2] {
		if e.Kind != backup.KindBackup || e.Encrypted || e.Unique != e.Size-shared {
			t.Errorf("entry %+v: want a plain backup whose unique bytes leave out %d shared bytes", e, shared)
		}
	}
	if entries[2].Kind != backup.KindDamaged || entries[3].Kind != backup.KindIncomplete || entries[4].Kind != backup.KindForeign {
		t.Errorf("kinds %s %s %s", entries[2].Kind, entries[3].Kind, entries[4].Kind)
	}
}

func TestBackupsDiff(t *testing.T) {
	root, dataDir := seededDataDir(t)
	a := mustBackup(t, dataDir)
	d := backuptest.Open(t, dataDir)
	if _, err := d.DB.Write.Exec(`UPDATE policies SET description = 'changed' WHERE id = 'p-it'`); err != nil {
		t.Fatal(err)
	}
	if _, err := d.DB.Write.Exec(`DELETE FROM reports WHERE id = 'rep-1'`); err != nil {
		t.Fatal(err)
	}
	d.Close()
	folder := filepath.Join(root, "backup")

	check := func(t *testing.T, out string) {
		t.Helper()
		for _, want := range []string{"policies (policies): 0 added, 0 removed, 1 changed", "~ p-it  Bitnobi IT  (description)",
			"reports (reports): 0 added, 1 removed, 0 changed", "- rep-1  Orgs"} {
			if !strings.Contains(out, want) {
				t.Errorf("diff output lacks %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, "users") {
			t.Errorf("diff shows unchanged users:\n%s", out)
		}
	}
	t.Run("Live", func(t *testing.T) {
		code, out, errOut := runMain(t, nil, "backups", "diff", filepath.Base(a), "live", "--data-dir", dataDir)
		if code != ExitOK {
			t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
		}
		check(t, out)
	})
	t.Run("TwoBackups", func(t *testing.T) {
		b := mustBackup(t, dataDir)
		code, out, errOut := runMain(t, nil, "backups", "diff", "--backup-dir", folder, filepath.Base(a), filepath.Base(b))
		if code != ExitOK {
			t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
		}
		check(t, out)
		code, out, _ = runMain(t, nil, "backups", "diff", "--backup-dir", folder, filepath.Base(b), filepath.Base(b))
		if code != ExitOK || !strings.Contains(out, "no differences") {
			t.Fatalf("diff of a backup with itself: exit %d\n%s", code, out)
		}
		code, out, _ = runMain(t, nil, "backups", "diff", "--backup-dir", folder, filepath.Base(a), filepath.Base(b), "--json")
		var diff backup.Difference
		if code != ExitOK || json.Unmarshal([]byte(out), &diff) != nil || !diff.Changed() {
			t.Fatalf("diff --json exit %d:\n%s", code, out)
		}
	})
	t.Run("Usage", func(t *testing.T) {
		if code, _, _ := runMain(t, nil, "backups", "diff", filepath.Base(a)); code != ExitUsage {
			t.Fatalf("diff with one argument: exit %d", code)
		}
	})
}

func TestBackupsExportImport(t *testing.T) {
	root, dataDir := seededDataDir(t)
	src := mustBackup(t, dataDir)
	key := datadir.Dir(dataDir).Key()
	archivePath := filepath.Join(root, "offsite", filepath.Base(src)+".tar.zst")
	os.MkdirAll(filepath.Dir(archivePath), 0o700)

	code, out, errOut := runMain(t, nil, "backups", "export", "--data-dir", dataDir, filepath.Base(src), archivePath)
	if code != ExitOK || testutil.LastLine(out) != archivePath {
		t.Fatalf("export exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if code, _, _ := runMain(t, nil, "backups", "export", "--data-dir", dataDir, filepath.Base(src), archivePath); code != ExitUsage {
		t.Fatalf("export over an existing file: exit %d, want %d", code, ExitUsage)
	}
	plain := filepath.Join(root, "plain.tar")
	if code, _, _ := runMain(t, nil, "backups", "export", "--data-dir", dataDir, filepath.Base(src), plain, "--no-compress"); code != ExitOK {
		t.Fatalf("export --no-compress exit %d", code)
	}
	var stdout bytes.Buffer
	m := &Main{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &bytes.Buffer{}, Getenv: func(string) string { return "" }}
	if err := m.Run(context.Background(), []string{"backups", "export", "--data-dir", dataDir, filepath.Base(src), "-"}); err != nil {
		t.Fatalf("export to stdout: %v", err)
	}

	want := dumpOf(t, dataDir)
	other := filepath.Join(root, "elsewhere", "backup")
	code, out, errOut = runMain(t, nil, "backups", "import", archivePath, "--backup-dir", other)
	if code != ExitOK || testutil.LastLine(out) != filepath.Join(other, filepath.Base(src)) {
		t.Fatalf("import exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if code, _, errOut := runMain(t, nil, "backups", "import", plain, "--backup-dir", other); code != ExitUsage || !strings.Contains(errOut, "already") {
		t.Fatalf("importing the same backup again: exit %d, stderr %s", code, errOut)
	}
	target := filepath.Join(root, "t1", "bitnobi-data")
	if code, out, errOut := runMain(t, nil, "restore", testutil.LastLine(out), "--data-dir", target, "--key-file", key); code != ExitOK {
		t.Fatalf("restore of the imported backup: exit %d\n%s\n%s", code, out, errOut)
	}
	compareDumps(t, want, dumpOf(t, target))

	t.Run("RestoreFromArchive", func(t *testing.T) {
		target := filepath.Join(root, "t2", "bitnobi-data")
		code, out, errOut := runMain(t, nil, "restore", archivePath, "--data-dir", target, "--key-file", key)
		if code != ExitOK || !strings.Contains(out, "restored "+filepath.Base(src)) {
			t.Fatalf("restore of an archive: exit %d\n%s\n%s", code, out, errOut)
		}
		compareDumps(t, want, dumpOf(t, target))
		entries, _ := os.ReadDir(filepath.Dir(target))
		for _, e := range entries {
			if strings.Contains(e.Name(), "restore-archive") {
				t.Errorf("left beside the data directory: %s", e.Name())
			}
		}

		// From stdin.
		target = filepath.Join(root, "t3", "bitnobi-data")
		f, err := os.Open(plain)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		m := &Main{Stdin: f, Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}, Getenv: func(string) string { return "" }}
		if err := m.Run(context.Background(), []string{"restore", "-", "--data-dir", target, "--key-file", key}); err != nil {
			t.Fatalf("restore - < archive: %v", err)
		}
		compareDumps(t, want, dumpOf(t, target))
	})

	t.Run("Malicious", func(t *testing.T) {
		corpus := filepath.Join("..", "..", "backup", "archive", "testdata", "malicious")
		entries, err := os.ReadDir(corpus)
		if err != nil || len(entries) == 0 {
			t.Fatalf("malicious corpus: %v", err)
		}
		before := testutil.Tree(t, other, true)
		for _, e := range entries {
			code, out, errOut := runMain(t, nil, "backups", "import", filepath.Join(corpus, e.Name()), "--backup-dir", other)
			if code != ExitUsage || !strings.HasPrefix(errOut, "Error: ") {
				t.Errorf("import %s: exit %d, want %d\nstdout: %s\nstderr: %s", e.Name(), code, ExitUsage, out, errOut)
			}
			if !maps.Equal(before, testutil.Tree(t, other, true)) {
				t.Fatalf("import %s changed the backup folder", e.Name())
			}
			target := filepath.Join(root, "t4", "bitnobi-data")
			if code, _, _ := runMain(t, nil, "restore", filepath.Join(corpus, e.Name()), "--data-dir", target, "--key-file", key); code != ExitUsage {
				t.Errorf("restore %s: exit %d, want %d", e.Name(), code, ExitUsage)
			}
			if left, _ := os.ReadDir(filepath.Join(root, "t4")); len(left) > 0 {
				var names []string
				for _, l := range left {
					names = append(names, l.Name())
				}
				t.Fatalf("restore of %s left %v", e.Name(), names)
			}
		}
	})
}

// dumpOf returns the state tables of a data directory, sorted.
func dumpOf(t *testing.T, dataDir string) map[string][]string {
	t.Helper()
	d := backuptest.Open(t, dataDir)
	defer d.Close()
	return backuptest.Dump(t, d.DB)
}

// compareDumps compares two states, but for what a restore adds: its
// audit entry and meta marks.
func compareDumps(t *testing.T, want, got map[string][]string) {
	t.Helper()
	for table, rows := range want {
		switch table {
		case "audit_log":
			if len(got[table]) != len(rows)+1 {
				t.Errorf("audit_log has %d rows, want %d + the restore's", len(got[table]), len(rows))
			}
		case "meta":
		default:
			if !slices.Equal(got[table], rows) {
				t.Errorf("table %s differs:\n%s\nwant\n%s", table, fmt.Sprint(got[table]), fmt.Sprint(rows))
			}
		}
	}
}

// cancelOnWrite is an output that cancels a context when a line holding
// mark is written to it, to interrupt a command at that point.
type cancelOnWrite struct {
	bytes.Buffer
	mark   string
	cancel context.CancelFunc
}

func (w *cancelOnWrite) Write(p []byte) (int, error) {
	if strings.Contains(string(p), w.mark) {
		w.cancel()
	}
	return w.Buffer.Write(p)
}

// TestInterrupted checks that each command that can run long, stopped by
// SIGINT or SIGTERM (its context cancelled), exits 130 with one line that
// says what it did and did not do, rather than "context canceled", and
// that what it says it left alone it did.
func TestInterrupted(t *testing.T) {
	root, dataDir := seededDataDir(t)
	first := mustBackup(t, dataDir)
	second := mustBackup(t, dataDir)
	folder := filepath.Dir(first)
	archive := filepath.Join(root, "first.tar.zst")
	if code, _, errOut := runMain(t, nil, "backups", "export", first, archive); code != ExitOK {
		t.Fatalf("export exit %d: %s", code, errOut)
	}
	existing := filepath.Join(root, "existing.tar.zst")
	if err := os.WriteFile(existing, []byte("an older export"), 0o600); err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(root, "master.key")
	backuptest.CopyKey(t, datadir.Dir(dataDir).Key(), key)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()

	for _, tt := range []struct {
		name   string
		args   []string
		stderr string
		same   []string // paths whose tree must not change
		absent []string // paths (globs) that must not exist afterwards
	}{
		{name: "Restore/InPlace", args: []string{"restore", first, "--data-dir", dataDir},
			stderr: "restore interrupted: the data directory " + dataDir + " was left as it was",
			same:   []string{dataDir}, absent: []string{dataDir + ".restore-staging", dataDir + ".before-restore-*"}},
		{name: "Restore/NewDirectory", args: []string{"restore", first, "--data-dir", filepath.Join(root, "new"), "--key-file", key},
			stderr: "restore interrupted: nothing was restored, and there is no data directory " + filepath.Join(root, "new"),
			absent: []string{filepath.Join(root, "new"), filepath.Join(root, "new.restore-staging")}},
		{name: "Restore/Archive", args: []string{"restore", archive, "--data-dir", filepath.Join(root, "unpacked"), "--key-file", key},
			stderr: "restore interrupted: nothing was restored, and there is no data directory " + filepath.Join(root, "unpacked"),
			absent: []string{filepath.Join(root, "unpacked"), filepath.Join(root, "unpacked.restore-archive-*")}},
		{name: "Verify", args: []string{"backups", "verify", "--backup-dir", folder, filepath.Base(first)},
			stderr: "verify interrupted: " + first + " was not checked to the end, and no result was recorded for it",
			absent: []string{filepath.Join(folder, backup.VerifiedDir, filepath.Base(first)+".json")}},
		{name: "VerifyDeep", args: []string{"backups", "verify", "--deep", "--key-file", key, "--tmp-dir", filepath.Join(root, "tmp"), first},
			stderr: "verify interrupted: " + first + " was not checked to the end, and no result was recorded for it",
			absent: []string{filepath.Join(root, "tmp", "*")}},
		{name: "Export", args: []string{"backups", "export", first, filepath.Join(root, "out.tar.zst")},
			stderr: "export interrupted: " + filepath.Join(root, "out.tar.zst") + " was not written",
			absent: []string{filepath.Join(root, "out.tar.zst"), filepath.Join(root, ".out.tar.zst.tmp-*")}},
		{name: "Export/Force", args: []string{"backups", "export", "--force", first, existing},
			stderr: "export interrupted: " + existing + " was left as it was",
			same:   []string{existing}, absent: []string{filepath.Join(root, ".existing.tar.zst.tmp-*")}},
		{name: "Export/Stdout", args: []string{"backups", "export", first, "-"},
			stderr: "export interrupted: the archive written to stdout is incomplete; do not keep it"},
		{name: "Import", args: []string{"backups", "import", "--backup-dir", filepath.Join(root, "other"), archive},
			stderr: "import interrupted: nothing was added to " + filepath.Join(root, "other"),
			absent: []string{filepath.Join(root, "other", "backup-*"), filepath.Join(root, "other", ".tmp-backup-*")}},
		{name: "Prune", args: []string{"backups", "prune", "--keep-last", "1", "--backup-dir", folder},
			stderr: "prune interrupted: removed 0 of the 1 backup it was to remove (see above); the others are kept",
			same:   []string{folder}},
		{name: "Diff", args: []string{"backups", "diff", first, second},
			stderr: "diff interrupted: nothing was printed (it only reads, and changed nothing)"},
		{name: "Inspect", args: []string{"backups", "inspect", first},
			stderr: "inspect interrupted: nothing was printed (it only reads, and changed nothing)"},
		{name: "AuditVerify", args: []string{"audit", "verify", "--data-dir", dataDir},
			stderr: "audit verify interrupted: the audit log was not checked to the end (it only reads, and changed nothing)",
			same:   []string{dataDir}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var before []map[string]string
			for _, p := range tt.same {
				before = append(before, testutil.Tree(t, p, true))
			}
			code, out, errOut := runMainContext(t, cancelled, nil, tt.args...)
			if code != ExitInterrupted {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, ExitInterrupted, out, errOut)
			}
			if want := "Error: " + tt.stderr + "\n"; !strings.HasSuffix(errOut, want) || strings.Count(errOut, "Error: ") != 1 {
				t.Fatalf("stderr:\n%s\nwant it to end with:\n%s", errOut, want)
			}
			for i, p := range tt.same {
				if after := testutil.Tree(t, p, true); !maps.Equal(before[i], after) {
					t.Errorf("%s changed:\nbefore %v\nafter  %v", p, before[i], after)
				}
			}
			for _, g := range tt.absent {
				if m, _ := filepath.Glob(g); len(m) > 0 {
					t.Errorf("left %v", m)
				}
			}
		})
	}

	t.Run("Prune/WaitingForLock", func(t *testing.T) {
		l, err := lockfile.Acquire(filepath.Join(folder, ".lock"), "backup")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Release()
		code, out, errOut := runMainContext(t, cancelled, nil, "backups", "prune", "--keep-last", "1", "--wait", "1h", "--backup-dir", folder)
		if want := "Error: prune interrupted: no backup was removed\n"; code != ExitInterrupted || errOut != want {
			t.Fatalf("exit %d, stderr %q; want %d, %q\nstdout: %s", code, errOut, ExitInterrupted, want, out)
		}
	})

	// Interrupted after the first of two backups: its result stands.
	t.Run("VerifyAll", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		out := &cancelOnWrite{mark: ": OK", cancel: cancel}
		var errb bytes.Buffer
		m := &Main{Stdin: strings.NewReader(""), Stdout: out, Stderr: &errb, Getenv: func(string) string { return "" }}
		code := m.Report(m.Run(ctx, []string{"backups", "verify", "--all", "--backup-dir", folder}))
		if code != ExitInterrupted {
			t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, ExitInterrupted, out.String(), errb.String())
		}
		checked, stopped := first, second
		if strings.HasPrefix(out.String(), second+": ") {
			checked, stopped = second, first
		}
		if want := checked + ": OK ("; !strings.HasPrefix(out.String(), want) || strings.Count(out.String(), "\n") != 1 {
			t.Fatalf("stdout %q, want one result, %q...", out.String(), want)
		}
		want := "Error: verify interrupted: " + stopped + " was not checked to the end, and no result was recorded for it; checked before it: 1 of 2 backups (see above); not checked after it: 0\n"
		if got := errb.String(); got != want {
			t.Fatalf("stderr:\n%s\nwant:\n%s", got, want)
		}
		verified := func(p string) bool {
			_, err := os.Stat(filepath.Join(folder, backup.VerifiedDir, filepath.Base(p)+".json"))
			return err == nil
		}
		if !verified(checked) || verified(stopped) {
			t.Fatalf("recorded results: %s %v, %s %v; want only the first's", checked, verified(checked), stopped, verified(stopped))
		}
	})
}
