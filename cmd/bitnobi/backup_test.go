package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bitnobi/bitnobi/backup"
	"github.com/bitnobi/bitnobi/backup/backuptest"
	"github.com/bitnobi/bitnobi/backup/format"
	"github.com/bitnobi/bitnobi/internal/datadir"
	"github.com/bitnobi/bitnobi/internal/lockfile"
	"github.com/bitnobi/bitnobi/internal/testutil"
	"github.com/bitnobi/bitnobi/secret"
)

// runMainContext is runMain with a context: cancelled, it stands for the
// SIGINT or SIGTERM that main turns into a cancellation.
func runMainContext(t testing.TB, ctx context.Context, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	m := &Main{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] }}
	code := m.Report(m.Run(ctx, args))
	return code, out.String(), errb.String()
}

// seededDataDir makes a data directory with content, closed again so
// that commands can use it.
func seededDataDir(t *testing.T) (root, dataDir string) {
	t.Helper()
	root = t.TempDir()
	dataDir = filepath.Join(root, "bitnobi-data")
	d := backuptest.NewDataDir(t, dataDir)
	backuptest.Seed(t, d)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	return root, dataDir
}

func mustBackup(t *testing.T, dataDir string, args ...string) string {
	t.Helper()
	code, out, errOut := runMain(t, nil, append([]string{"backup", "--data-dir", dataDir}, args...)...)
	if code != ExitOK {
		t.Fatalf("backup exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	return testutil.LastLine(out)
}

func TestBackupCommand(t *testing.T) {
	root, dataDir := seededDataDir(t)
	code, out, errOut := runMain(t, nil, "backup", "--data-dir", dataDir)
	if code != ExitOK {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	path := testutil.LastLine(out)
	if got, want := filepath.Dir(path), filepath.Join(root, "backup"); got != want {
		t.Fatalf("backup written to %s, want the folder %s beside the data directory", got, want)
	}
	if ok, _ := regexp.MatchString(`^backup-\d{8}_\d{4}$`, filepath.Base(path)); !ok {
		t.Fatalf("last line %q is not a backup path", path)
	}
	if _, err := format.ReadManifest(path); err != nil {
		t.Fatalf("the printed backup: %v", err)
	}
	if n := strings.Count(errOut, "master key"); n != 1 {
		t.Fatalf("stderr mentions the master key %d times, want once:\n%s", n, errOut)
	}
	if !strings.Contains(errOut, datadir.Dir(dataDir).Key()) || !strings.Contains(errOut, "off-site") {
		t.Fatalf("stderr does not tell where the key is and to keep it off-site:\n%s", errOut)
	}
	if !strings.Contains(out, "written") || !strings.Contains(out, "linked") {
		t.Fatalf("no summary of bytes written and linked:\n%s", out)
	}
	if ok, _ := regexp.MatchString(`(?m)^backup-\S+: \d+ tables, \d+ rows, 2 blobs \(\d`, out); !ok {
		t.Fatalf("the summary does not count the seed's two blobs:\n%s", out)
	}
	if ok, _ := regexp.MatchString(`\b1 [a-z]+s\b`, out+errOut); ok {
		t.Fatalf("a count of 1 with a plural noun:\n%s%s", out, errOut)
	}

	t.Run("Quiet", func(t *testing.T) {
		code, out, errOut := runMain(t, nil, "backup", "--data-dir", dataDir, "--quiet")
		if code != ExitOK || strings.Count(out, "\n") != 1 || errOut != "" {
			t.Fatalf("exit %d, stdout %q, stderr %q; want only the path", code, out, errOut)
		}
		if got := filepath.Base(testutil.LastLine(out)); got != filepath.Base(path)+"-2" && !strings.HasPrefix(got, "backup-") {
			t.Fatalf("second backup %s", got)
		}
	})
	t.Run("BackupDirFromEnv", func(t *testing.T) {
		folder := filepath.Join(root, "elsewhere")
		code, out, _ := runMain(t, map[string]string{EnvBackupDir: folder, EnvDataDir: dataDir}, "backup", "--quiet")
		if code != ExitOK || filepath.Dir(testutil.LastLine(out)) != folder {
			t.Fatalf("exit %d, path %q; want a backup in %s", code, testutil.LastLine(out), folder)
		}
	})
}

func TestBackupCommand_Refused(t *testing.T) {
	root, dataDir := seededDataDir(t)
	folder := filepath.Join(root, "backup")
	if err := os.MkdirAll(folder, 0o700); err != nil {
		t.Fatal(err)
	}
	l, err := lockfile.Acquire(filepath.Join(folder, ".lock"), "backup")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	for _, tt := range []struct {
		name string
		args []string
		want int
	}{
		{"FolderLocked", []string{"backup", "--data-dir", dataDir}, ExitLocked},
		{"NoDatabase", []string{"backup", "--data-dir", filepath.Join(root, "missing")}, ExitUsage},
		{"FolderInsideDataDir", []string{"backup", "--data-dir", dataDir, "--backup-dir", filepath.Join(dataDir, "b")}, ExitUsage},
		{"UnknownFlag", []string{"backup", "--nope"}, ExitUsage},
		{"Argument", []string{"backup", "--data-dir", dataDir, "extra"}, ExitUsage},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runMain(t, nil, tt.args...)
			if code != tt.want {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.want, out, errOut)
			}
			if !strings.HasPrefix(errOut, "Error: ") && !strings.Contains(errOut, "\nError: ") {
				t.Fatalf("stderr has no Error: line:\n%s", errOut)
			}
		})
	}
}

// TestBackupCommand_Interrupted checks that a backup stopped by SIGINT
// (its context cancelled; here before the database is opened, where a
// quick Ctrl-C lands) exits 130 saying so, rather than with the error of
// whatever was cut short, and leaves no backup, complete or partial.
func TestBackupCommand_Interrupted(t *testing.T) {
	root, dataDir := seededDataDir(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errb bytes.Buffer
	m := &Main{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}
	code := m.Report(m.Run(ctx, []string{"backup", "--data-dir", dataDir}))
	if code != ExitInterrupted {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, ExitInterrupted, out.String(), errb.String())
	}
	folder := filepath.Join(root, "backup")
	if got, want := errb.String(), "Error: backup interrupted: nothing was kept (no new backup in "+folder+")\n"; got != want {
		t.Fatalf("stderr %q, want %q", got, want)
	}
	entries, err := os.ReadDir(folder)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != ".lock" {
			t.Fatalf("the backup folder holds %s after the interruption", e.Name())
		}
	}
}

func TestRestoreCommand(t *testing.T) {
	root, dataDir := seededDataDir(t)
	path := mustBackup(t, dataDir)
	key := datadir.Dir(dataDir).Key()

	target := filepath.Join(root, "new", "bitnobi-data")
	code, out, errOut := runMain(t, nil, "restore", path, "--data-dir", target, "--key-file", key)
	if code != ExitOK {
		t.Fatalf("restore exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if testutil.LastLine(out) != target {
		t.Fatalf("last line %q, want the data directory %s", testutil.LastLine(out), target)
	}
	r := backuptest.Open(t, target)
	var users int
	r.DB.Read.QueryRow(`SELECT COUNT(*) FROM users`).Scan(&users)
	if users != 3 {
		t.Fatalf("restored %d users, want 3", users)
	}
	r.Close()

	// In place, by name, with the key from the environment and flags
	// before the argument.
	env := map[string]string{EnvKeyFile: key}
	code, out, errOut = runMain(t, env, "restore", "--data-dir", dataDir, filepath.Base(path))
	if code != ExitOK || !strings.Contains(out, "previous state kept in "+dataDir+".before-restore-") {
		t.Fatalf("in-place restore exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}

	// As a copy.
	code, out, _ = runMain(t, nil, "restore", path, "--data-dir", filepath.Join(root, "copy"), "--key-file", key, "--as-copy", "--quiet")
	if code != ExitOK || strings.Count(out, "\n") != 1 {
		t.Fatalf("restore --as-copy --quiet exit %d, stdout %q", code, out)
	}
}

func TestRestoreCommand_ExitCodes(t *testing.T) {
	root, dataDir := seededDataDir(t)
	path := mustBackup(t, dataDir)
	key := datadir.Dir(dataDir).Key()
	wrongKey := filepath.Join(root, "wrong.key")
	if _, _, err := secret.LoadOrCreateKeyFile(wrongKey); err != nil {
		t.Fatal(err)
	}
	damaged := filepath.Join(root, "damaged")
	if err := os.CopyFS(damaged, os.DirFS(path)); err != nil {
		t.Fatal(err)
	}
	users := filepath.Join(damaged, "tables", "users.0.jsonl.zst")
	data, _ := os.ReadFile(users)
	data[len(data)/2] ^= 1
	os.WriteFile(users, data, 0o600)

	locked := filepath.Join(root, "locked")
	backuptest.NewDataDir(t, locked).Close()
	l, err := lockfile.Acquire(datadir.Dir(locked).Lock(), "serve")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()

	for _, tt := range []struct {
		name   string
		args   []string
		want   int
		naming string
	}{
		{"NoArgument", []string{"restore", "--data-dir", filepath.Join(root, "t1")}, ExitUsage, "one backup"},
		{"NotABackup", []string{"restore", filepath.Dir(path), "--data-dir", filepath.Join(root, "t2"), "--key-file", key}, ExitUsage, "not a backup"},
		{"WrongKey", []string{"restore", path, "--data-dir", filepath.Join(root, "t3"), "--key-file", wrongKey}, ExitUsage, "fingerprint"},
		{"MissingKey", []string{"restore", path, "--data-dir", filepath.Join(root, "t4")}, ExitUsage, "master key"},
		{"Damaged", []string{"restore", damaged, "--data-dir", filepath.Join(root, "t5"), "--key-file", key}, ExitVerify, "tables/users.0.jsonl.zst"},
		{"ServerRunning", []string{"restore", path, "--data-dir", locked, "--key-file", key}, ExitLocked, "serve"},
		// A directory holding the target: first of all not a backup.
		{"NotABackupAroundTarget", []string{"restore", root, "--data-dir", filepath.Join(root, "t6"), "--key-file", key}, ExitUsage, "not a backup"},
		{"TargetInsideBackup", []string{"restore", path, "--data-dir", filepath.Join(path, "t7"), "--key-file", key}, ExitUsage, "overlap"},
		{"BackupInsideTarget", []string{"restore", path, "--data-dir", filepath.Dir(filepath.Dir(path)), "--key-file", key}, ExitUsage, "overlap"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runMain(t, nil, tt.args...)
			if code != tt.want {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.want, out, errOut)
			}
			if !strings.Contains(errOut, tt.naming) || !strings.Contains(errOut, "Try: ") {
				t.Fatalf("stderr does not name %q or give a hint:\n%s", tt.naming, errOut)
			}
		})
	}
	// Bad input is refused before anything is created.
	for _, p := range []string{
		filepath.Join(root, "t1"), filepath.Join(root, "t2"), filepath.Join(root, "t2.restore-lock"),
		filepath.Join(root, "t6"), filepath.Join(root, "t6.restore-lock"), filepath.Join(path, "t7"),
	} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("a refused restore left %s", p)
		}
	}
}

// TestKeyFileMode checks that a master key file refused for its mode is
// reported as that, with the fix, and not as a key that is missing.
func TestKeyFileMode(t *testing.T) {
	root, dataDir := seededDataDir(t)
	path := mustBackup(t, dataDir)
	key := datadir.Dir(dataDir).Key()
	if err := os.Chmod(key, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		args []string
	}{
		{"Backup", []string{"backup", "--data-dir", dataDir}},
		{"Restore", []string{"restore", path, "--data-dir", filepath.Join(root, "new"), "--key-file", key}},
		{"VerifyDeep", []string{"backups", "verify", "--deep", path, "--key-file", key}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runMain(t, nil, tt.args...)
			if code != ExitUsage {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, ExitUsage, out, errOut)
			}
			for _, want := range []string{"master key file " + key + " refused", "mode 0644", "Try: chmod 600 " + key + "\n"} {
				if !strings.Contains(errOut, want) {
					t.Errorf("stderr does not say %q:\n%s", want, errOut)
				}
			}
			if strings.Contains(out+errOut, "not found") {
				t.Errorf("the output calls the key file, which is there, not found:\n%s%s", out, errOut)
			}
		})
	}
}

// TestRestoreCommand_KeyFileMessages checks what restore and "backups
// verify --deep" say of a master key file they cannot use: "not found"
// only for a file that is not there, else the reason, with its fix. (A
// key file refused for its mode: TestKeyFileMode.)
func TestRestoreCommand_KeyFileMessages(t *testing.T) {
	root, dataDir := seededDataDir(t)
	path := mustBackup(t, dataDir)
	mf, err := format.ReadManifest(path)
	if err != nil {
		t.Fatal(err)
	}
	fp := mf.MasterKey.Fingerprint
	missing := filepath.Join(root, "missing.key")
	malformed := filepath.Join(root, "malformed.key")
	if err := os.WriteFile(malformed, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	directory := filepath.Join(root, "directory.key")
	if err := os.Mkdir(directory, 0o700); err != nil {
		t.Fatal(err)
	}
	passKey := "Try: pass the master key the backup was made with (fingerprint " + fp + ") with --key-file\n"
	for _, tt := range []struct {
		name    string
		keyFile string
		stderr  string
	}{
		{"Missing", missing,
			"Error: restore: master key not found: the backup needs the master key with fingerprint " + fp + ", and " + missing + " does not exist\n" +
				"Try: pass the master.key kept apart from the backups with --key-file, or set BITNOBI_MASTER_KEY_FILE\n"},
		{"Malformed", malformed,
			"Error: restore: master key file unusable: read key file " + malformed + ": malformed key file: want 64 hex characters and a newline, found 10 bytes\n" + passKey},
		{"Directory", directory,
			"Error: restore: master key file unusable: read key file " + directory + ": not a regular file\n" + passKey},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runMain(t, nil, "restore", path, "--data-dir", filepath.Join(t.TempDir(), "new"), "--key-file", tt.keyFile)
			if code != ExitUsage {
				t.Fatalf("restore exit %d, want %d\nstdout: %s\nstderr: %s", code, ExitUsage, out, errOut)
			}
			if errOut != tt.stderr {
				t.Fatalf("restore stderr:\n%s\nwant:\n%s", errOut, tt.stderr)
			}
			// The trial restore of verify --deep: the key's fault, not the
			// backup's (exit 2, not 4).
			code, out, errOut = runMain(t, nil, "backups", "verify", "--deep", path, "--key-file", tt.keyFile)
			if code != ExitUsage || !strings.Contains(errOut, strings.TrimPrefix(strings.SplitN(tt.stderr, "\n", 2)[0], "Error: restore: ")) {
				t.Fatalf("verify --deep exit %d, want %d with the restore's message\nstdout: %s\nstderr: %s", code, ExitUsage, out, errOut)
			}
		})
	}
}

func TestBackupsCommand(t *testing.T) {
	root, dataDir := seededDataDir(t)
	first := mustBackup(t, dataDir)
	second := mustBackup(t, dataDir)
	folder := filepath.Join(root, "backup")

	code, out, errOut := runMain(t, nil, "backups", "list", "--data-dir", dataDir)
	if code != ExitOK || !strings.Contains(out, filepath.Base(first)) || !strings.Contains(out, filepath.Base(second)) {
		t.Fatalf("list exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	code, out, _ = runMain(t, nil, "backups", "verify", "--backup-dir", folder, filepath.Base(first))
	if code != ExitOK || !strings.Contains(out, "OK") {
		t.Fatalf("verify exit %d: %s", code, out)
	}
	// Nothing changed between the two: every file of the second is the
	// first's, read once by verify --all.
	manifest, err := format.ReadManifest(second)
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runMain(t, nil, "backups", "verify", "--all", "--backup-dir", folder)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != ExitOK || len(lines) != 2 || strings.Contains(lines[0], "not read again") ||
		!strings.Contains(lines[1], fmt.Sprintf("; %d files (", len(manifest.Files))) || !strings.Contains(lines[1], "not read again") {
		t.Fatalf("verify --all exit %d, want the second backup's %d files not read again\nstdout: %s\nstderr: %s", code, len(manifest.Files), out, errOut)
	}
	// Damage the second: verify --all fails with exit 4 naming the file.
	if err != nil {
		t.Fatal(err)
	}
	var victim string
	for _, f := range manifest.Files {
		if f.Blob != "" {
			victim = f.Path
		}
	}
	// The blob is hard-linked to the first backup's: replace, not modify.
	p := filepath.Join(second, victim)
	data, _ := os.ReadFile(p)
	os.Remove(p)
	data[0] ^= 1
	os.WriteFile(p, data, 0o600)
	code, out, errOut = runMain(t, nil, "backups", "verify", "--all", "--backup-dir", folder)
	if code != ExitVerify || !strings.Contains(out, victim) || !strings.Contains(out, "FAILED") {
		t.Fatalf("verify --all exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	code, _, _ = runMain(t, nil, "backups", "verify", "--backup-dir", folder)
	if code != ExitUsage {
		t.Fatalf("verify without a name: exit %d, want %d", code, ExitUsage)
	}
	code, out, _ = runMain(t, nil, "backups", "list", "--backup-dir", folder, "--json")
	if code != ExitOK || !strings.Contains(out, `"bytes_linked"`) {
		t.Fatalf("list --json exit %d: %s", code, out)
	}
}

func TestCount(t *testing.T) {
	for _, tt := range []struct {
		n    int64
		want string
	}{
		{0, "0 blobs"},
		{1, "1 blob"},
		{2, "2 blobs"},
		{-1, "-1 blobs"},
	} {
		if got := count(tt.n, "blob", "blobs"); got != tt.want {
			t.Errorf("count(%d)=%q, want %q", tt.n, got, tt.want)
		}
	}
	if got, want := count(1, "entry", "entries"), "1 entry"; got != want {
		t.Errorf("count(1)=%q, want %q", got, want)
	}
}

func TestFormatProgress(t *testing.T) {
	got := formatProgress(backup.Progress{Phase: "blobs", Items: 12, ItemsTotal: 40, Bytes: 3 << 20, BytesTotal: 9 << 20}, 3*time.Second)
	if want := "blobs 12/40  3.0 MiB/9.0 MiB  1.0 MiB/s  ETA 6s"; got != want {
		t.Fatalf("formatProgress=%q, want %q", got, want)
	}
	if got, want := humanBytes(512), "512 B"; got != want {
		t.Fatalf("humanBytes=%q, want %q", got, want)
	}
}
