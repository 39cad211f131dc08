package backup_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"maps"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/backup"
	"github.com/bitnobi/bitnobi/backup/backuptest"
	"github.com/bitnobi/bitnobi/backup/backuptest/tamper"
	"github.com/bitnobi/bitnobi/backup/format"
	"github.com/bitnobi/bitnobi/blob"
	"github.com/bitnobi/bitnobi/internal/lockfile"
	"github.com/bitnobi/bitnobi/internal/testutil"
	"github.com/bitnobi/bitnobi/secret"
	"github.com/bitnobi/bitnobi/sqlite"
	"github.com/bitnobi/bitnobi/store"
)

// fixture is a seeded data directory and a backup of it.
type fixture struct {
	root   string // temp dir holding everything
	data   *backuptest.DataDir
	seeded *backuptest.Seeded
	folder string // backup folder
	res    *backup.Result
}

func newFixture(tb testing.TB) *fixture {
	tb.Helper()
	root := tb.TempDir()
	f := &fixture{root: root, folder: filepath.Join(root, "backup")}
	f.data = backuptest.NewDataDir(tb, filepath.Join(root, "data"))
	f.seeded = backuptest.Seed(tb, f.data)
	f.res = mustCreate(tb, f.data.Dir.Path(), f.folder, nil)
	return f
}

func mustCreate(tb testing.TB, dataDir, folder string, now func() time.Time) *backup.Result {
	tb.Helper()
	res, err := backup.Create(context.Background(), backup.CreateOptions{Local: sqlite.Local{}, DataDir: dataDir, Folder: folder, Now: now})
	if err != nil {
		tb.Fatalf("Create: %v", err)
	}
	return res
}

func mustRestore(tb testing.TB, backupDir, dataDir string, opts backup.RestoreOptions) *backup.RestoreResult {
	tb.Helper()
	opts.Backup, opts.DataDir = backupDir, dataDir
	res, err := backup.Restore(context.Background(), opts)
	if err != nil {
		tb.Fatalf("Restore: %v", err)
	}
	return res
}

// meta reads a meta value.
func meta(tb testing.TB, db *store.DB, key string) string {
	tb.Helper()
	v, err := db.Meta(context.Background(), key)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

// lastAudit returns the newest audit entry's action and detail.
func lastAudit(tb testing.TB, db *store.DB) (action, actor, detail string) {
	tb.Helper()
	err := db.Read.QueryRow(`SELECT action, actor_name, detail FROM audit_log ORDER BY seq DESC LIMIT 1`).Scan(&action, &actor, &detail)
	if err != nil {
		tb.Fatal(err)
	}
	return action, actor, detail
}

func verifyAudit(tb testing.TB, db *store.DB) int64 {
	tb.Helper()
	ctx := context.Background()
	var n int64
	err := db.ReadTx(ctx, func(tx *store.Tx) error {
		var err error
		n, _, err = store.VerifyAudit(ctx, tx)
		return err
	})
	if err != nil {
		tb.Fatalf("VerifyAudit: %v", err)
	}
	return n
}

func TestRoundTrip(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if ok, _ := regexp.MatchString(`^backup-\d{8}_\d{4}$`, f.res.Name); !ok {
		t.Fatalf("Name=%q, want backup-YYYYMMDD_HHMM", f.res.Name)
	}
	if got, want := f.res.Path, filepath.Join(f.folder, f.res.Name); got != want {
		t.Fatalf("Path=%q, want %q", got, want)
	}
	m := f.res.Manifest
	if m.Format != format.FormatVersion || m.SchemaVersion != store.LatestSchemaVersion() || m.Engine != "sqlite" {
		t.Fatalf("manifest format=%d schema=%d engine=%q", m.Format, m.SchemaVersion, m.Engine)
	}
	if got, want := m.MasterKey.Fingerprint, f.data.Key.Fingerprint(); got != want {
		t.Fatalf("key fingerprint=%q, want %q", got, want)
	}
	if m.Stats.Blobs != 2 || m.Stats.FilesLinked != 0 || m.Stats.BytesWritten == 0 {
		t.Fatalf("stats=%+v, want 2 blobs written, none linked", m.Stats)
	}
	want := backuptest.Dump(t, f.data.DB)
	wantInstance := meta(t, f.data.DB, store.MetaInstanceID)
	wantAudit := verifyAudit(t, f.data.DB)

	target := filepath.Join(f.root, "restored")
	res := mustRestore(t, f.res.Path, target, backup.RestoreOptions{Local: sqlite.Local{}, KeyFile: f.data.Dir.Key(), RestoredBy: "operator"})
	if res.Previous != "" || res.InstanceID != wantInstance {
		t.Fatalf("Restore result %+v, want no previous and instance %s", res, wantInstance)
	}
	r := backuptest.Open(t, target)
	got := backuptest.Dump(t, r.DB)
	for table, rows := range want {
		switch table {
		case "audit_log":
			if n := len(got[table]); n != len(rows)+1 {
				t.Errorf("audit_log has %d rows, want %d (+1 restore entry)", n, len(rows)+1)
			}
		case "meta":
			if !isSubset(rows, got[table]) {
				t.Errorf("meta=%v, want it to contain %v", got[table], rows)
			}
		default:
			if !slices.Equal(got[table], rows) {
				t.Errorf("table %s differs:\n got %v\nwant %v", table, got[table], rows)
			}
		}
	}
	if n := verifyAudit(t, r.DB); n != wantAudit+1 {
		t.Fatalf("restored audit chain has %d entries, want %d", n, wantAudit+1)
	}
	action, actor, detail := lastAudit(t, r.DB)
	if action != bitnobi.ActionRestore || actor != "operator" ||
		!strings.Contains(detail, `"backup":"`+f.res.Name+`"`) || !strings.Contains(detail, `"mode":"plain"`) || !strings.Contains(detail, `"restored_by":"operator"`) {
		t.Fatalf("last audit entry %s by %s %s, want the restore", action, actor, detail)
	}
	if got := meta(t, r.DB, store.MetaRestoredFrom); got != f.res.Name {
		t.Fatalf("meta restored_from=%q, want %q", got, f.res.Name)
	}
	for id, data := range f.seeded.BlobData {
		rc, err := r.Blobs.Open(id)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		if string(b) != string(data) {
			t.Fatalf("blob %s content differs", id)
		}
	}
	for id, plain := range f.seeded.Secrets {
		got, err := r.DB.RevealSecret(ctx, id)
		if err != nil || got != plain {
			t.Fatalf("RevealSecret(%s)=%q, %v; want %q", id, got, err, plain)
		}
	}
	fi, err := os.Stat(filepath.Join(target, "master.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("restored master.key: %v %v, want mode 0600", fi, err)
	}
	assertNoLeftovers(t, target)
}

func isSubset(sub, set []string) bool {
	for _, s := range sub {
		if !slices.Contains(set, s) {
			return false
		}
	}
	return true
}

// assertNoLeftovers checks that nothing but the data directory and the
// restore lock remains beside it.
func assertNoLeftovers(tb testing.TB, dataDir string) {
	tb.Helper()
	base := filepath.Base(dataDir)
	entries, err := os.ReadDir(filepath.Dir(dataDir))
	if err != nil {
		tb.Fatal(err)
	}
	for _, e := range entries {
		n := e.Name()
		if strings.HasPrefix(n, base+".") && n != base+".restore-lock" && !strings.HasPrefix(n, base+".before-restore-") {
			tb.Errorf("left beside the data directory: %s", n)
		}
	}
}

// TestComplete fails when the schema has a table that backups do not
// cover: every table is in the manifest or in store.NotBackedUp.
func TestComplete(t *testing.T) {
	f := newFixture(t)
	tables, err := f.data.DB.Dialect.Tables(context.Background(), f.data.DB.Read)
	if err != nil {
		t.Fatal(err)
	}
	inManifest := map[string]bool{}
	for _, tb := range f.res.Manifest.Tables {
		inManifest[tb.Name] = true
	}
	for _, name := range tables {
		_, skipped := store.NotBackedUp[name]
		if inManifest[name] == skipped {
			t.Errorf("table %s: in manifest=%v, in store.NotBackedUp=%v; want exactly one", name, inManifest[name], skipped)
		}
	}
	if len(inManifest)+len(store.NotBackedUp) != len(tables) {
		t.Errorf("manifest has %d tables + %d not backed up, schema has %d", len(inManifest), len(store.NotBackedUp), len(tables))
	}
}

func TestCreate_SameMinute(t *testing.T) {
	f := newFixture(t)
	fixed := func() time.Time { return f.res.Manifest.CreatedAt }
	r2 := mustCreate(t, f.data.Dir.Path(), f.folder, fixed)
	r3 := mustCreate(t, f.data.Dir.Path(), f.folder, fixed)
	if r2.Name != f.res.Name+"-2" || r3.Name != f.res.Name+"-3" {
		t.Fatalf("names %s, %s after %s; want -2 and -3 suffixes", r2.Name, r3.Name, f.res.Name)
	}
	// Nothing changed: the second and third link every file of the one
	// before, tables included, and write none.
	if got := r2.Manifest.Stats; got.FilesLinked != int64(len(r2.Manifest.Files)) || got.FilesWritten != 0 || got.Blobs != 2 || got.BytesLinked == 0 {
		t.Fatalf("second backup stats %+v, want all %d files linked", got, len(r2.Manifest.Files))
	}
	if r2.Manifest.Previous != f.res.Name || r3.Manifest.Previous != r2.Name {
		t.Fatalf("previous=%q,%q", r2.Manifest.Previous, r3.Manifest.Previous)
	}
	for _, fl := range r3.Manifest.Files {
		a, _ := os.Stat(filepath.Join(f.res.Path, fl.Path))
		b, _ := os.Stat(filepath.Join(r3.Path, fl.Path))
		if !os.SameFile(a, b) {
			t.Fatalf("%s is not hard-linked to the first backup's", fl.Path)
		}
	}
	infos, err := backup.Folder{Path: f.folder}.Backups()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, in := range infos {
		if in.Err != nil {
			t.Fatalf("List: %s: %v", in.Name, in.Err)
		}
		names = append(names, in.Name)
	}
	if want := []string{f.res.Name, r2.Name, r3.Name}; !slices.Equal(names, want) {
		t.Fatalf("List=%v, want %v", names, want)
	}
	for _, r := range []*backup.Result{f.res, r2, r3} {
		if _, err := backup.Verify(context.Background(), r.Path, backup.VerifyOptions{}); err != nil {
			t.Fatalf("Verify(%s): %v", r.Name, err)
		}
	}
}

// A damaged file in the previous backup is not carried forward.
func TestCreate_DamagedPreviousNotLinked(t *testing.T) {
	f := newFixture(t)
	var victim format.File
	for _, fl := range f.res.Manifest.Files {
		if fl.Blob != "" {
			victim = fl
		}
	}
	flipByte(t, filepath.Join(f.res.Path, victim.Path))
	// The kernel stamps files with a coarse clock (a few milliseconds), so
	// a flip right after the backup may carry the manifest's own mtime, as
	// no later damage does: date it a second on, as damage found by the
	// next nightly backup is.
	later := time.Now().Add(time.Second)
	if err := os.Chtimes(filepath.Join(f.res.Path, victim.Path), later, later); err != nil {
		t.Fatal(err)
	}
	r2 := mustCreate(t, f.data.Dir.Path(), f.folder, nil)
	if got, want := r2.Manifest.Stats.FilesLinked, int64(len(r2.Manifest.Files)-1); got != want {
		t.Fatalf("FilesLinked=%d, want %d (all but the damaged one, copied afresh)", got, want)
	}
	a, _ := os.Stat(filepath.Join(f.res.Path, victim.Path))
	b, _ := os.Stat(filepath.Join(r2.Path, victim.Path))
	if os.SameFile(a, b) {
		t.Fatalf("damaged %s was linked", victim.Path)
	}
	if _, err := backup.Verify(context.Background(), r2.Path, backup.VerifyOptions{}); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}

func TestCreate_Interrupted(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := backup.Create(ctx, backup.CreateOptions{
		Local:   sqlite.Local{},
		DataDir: f.data.Dir.Path(), Folder: f.folder,
		Progress: func(p backup.Progress) {
			if p.Phase == "blobs" {
				cancel()
			}
		},
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Create err=%v, want context.Canceled", err)
	}
	// As a crash would leave it: a temporary directory with some files.
	stale := filepath.Join(f.folder, ".tmp-backup-20200101_0000-123")
	if err := os.CopyFS(stale, os.DirFS(f.res.Path)); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(f.folder)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{".lock", filepath.Base(stale), f.res.Name}; !slices.Equal(names, want) {
		t.Fatalf("folder holds %v, want %v (cancelled backup removed)", names, want)
	}
	infos, _ := backup.Folder{Path: f.folder}.Backups()
	if len(infos) != 1 || infos[0].Name != f.res.Name {
		t.Fatalf("List=%v, want only %s", infos, f.res.Name)
	}
	_, err = backup.Restore(context.Background(), backup.RestoreOptions{Backup: stale, DataDir: filepath.Join(f.root, "r"), Local: sqlite.Local{}, KeyFile: f.data.Dir.Key()})
	if !errors.Is(err, backup.ErrNotBackup) {
		t.Fatalf("Restore(temp dir) err=%v, want ErrNotBackup", err)
	}
	r := mustCreate(t, f.data.Dir.Path(), f.folder, nil)
	if !slices.Equal(r.RemovedTemp, []string{filepath.Base(stale)}) {
		t.Fatalf("RemovedTemp=%v", r.RemovedTemp)
	}
	if ok, _ := exists(stale); ok {
		t.Fatal("stale temporary directory still there")
	}
}

func exists(p string) (bool, error) {
	_, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

func TestCreate_Locked(t *testing.T) {
	f := newFixture(t)
	l, err := lockfile.Acquire(filepath.Join(f.folder, ".lock"), "backup")
	if err != nil {
		t.Fatal(err)
	}
	_, err = backup.Create(context.Background(), backup.CreateOptions{Local: sqlite.Local{}, DataDir: f.data.Dir.Path(), Folder: f.folder})
	if !errors.Is(err, lockfile.ErrLocked) || !strings.Contains(err.Error(), "in use by another backup") {
		t.Fatalf("Create err=%v, want ErrLocked naming the other backup", err)
	}
	// A wait that runs out says so, and suggests a longer one.
	_, err = backup.Create(context.Background(), backup.CreateOptions{Local: sqlite.Local{}, DataDir: f.data.Dir.Path(), Folder: f.folder, LockWait: 300 * time.Millisecond})
	if !errors.Is(err, lockfile.ErrLocked) || !strings.Contains(err.Error(), "after waiting 300ms") || !strings.Contains(backup.Hint(err), "longer --wait") {
		t.Fatalf("Create with a short LockWait: %v (hint %q), want ErrLocked after waiting", err, backup.Hint(err))
	}
	// A wait that is interrupted is an interruption, not a busy folder.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = backup.Create(ctx, backup.CreateOptions{Local: sqlite.Local{}, DataDir: f.data.Dir.Path(), Folder: f.folder, LockWait: time.Minute})
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, lockfile.ErrLocked) {
		t.Fatalf("Create interrupted while waiting: %v, want the context's error", err)
	}
	go func() {
		time.Sleep(200 * time.Millisecond)
		l.Release()
	}()
	_, err = backup.Create(context.Background(), backup.CreateOptions{Local: sqlite.Local{}, DataDir: f.data.Dir.Path(), Folder: f.folder, LockWait: 10 * time.Second})
	if err != nil {
		t.Fatalf("Create with LockWait: %v", err)
	}
}

func TestCreate_NewerSchema(t *testing.T) {
	root := t.TempDir()
	d := backuptest.NewDataDir(t, filepath.Join(root, "data"))
	next := store.LatestSchemaVersion() + 1
	if _, err := d.DB.Write.Exec(`INSERT INTO schema_migrations (version, name, applied_at, app_version) VALUES (?, 'future', '', '9.9')`, next); err != nil {
		t.Fatal(err)
	}
	_, err := backup.Create(context.Background(), backup.CreateOptions{Local: sqlite.Local{}, DataDir: d.Dir.Path(), Folder: filepath.Join(root, "backup")})
	if !errors.Is(err, backup.ErrNewerVersion) {
		t.Fatalf("Create err=%v, want ErrNewerVersion", err)
	}
	if infos, _ := (backup.Folder{Path: filepath.Join(root, "backup")}).Backups(); len(infos) != 0 {
		t.Fatalf("a backup was left: %v", infos)
	}
}

func TestCreate_BackupFolderInsideDataDir(t *testing.T) {
	f := newFixture(t)
	_, err := backup.Create(context.Background(), backup.CreateOptions{Local: sqlite.Local{}, DataDir: f.data.Dir.Path(), Folder: filepath.Join(f.data.Dir.Path(), "backup")})
	if err == nil || !strings.Contains(err.Error(), "inside the data directory") {
		t.Fatalf("Create err=%v, want refusal", err)
	}
}

func flipByte(tb testing.TB, path string) {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	data[len(data)/2] ^= 0x01
	if err := os.WriteFile(path, data, 0o600); err != nil {
		tb.Fatal(err)
	}
}

func rewriteManifest(tb testing.TB, dir string, edit func(m *format.Manifest)) {
	tb.Helper()
	m, err := format.ReadManifest(dir)
	if err != nil {
		tb.Fatal(err)
	}
	edit(m)
	data, err := m.Marshal()
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, format.ManifestName), data, 0o600); err != nil {
		tb.Fatal(err)
	}
}

func firstFile(m *format.Manifest, blobFile bool) format.File {
	for _, f := range m.Files {
		if (f.Blob != "") == blobFile {
			return f
		}
	}
	panic("no such file")
}

// TestRestore_Refused checks each reason to refuse a restore, and that
// the target data directory is left exactly as it was.
func TestRestore_Refused(t *testing.T) {
	f := newFixture(t)
	m := f.res.Manifest
	otherKey := filepath.Join(f.root, "other.key")
	if _, _, err := secret.LoadOrCreateKeyFile(otherKey); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		damage  func(t *testing.T, dir string) // changes the copy of the backup
		opts    func(o *backup.RestoreOptions)
		want    error
		naming  string // the error must contain this
		holdSrv bool   // a server holds the data directory's lock
	}{
		{name: "FlippedManifestByte", want: backup.ErrChecksumMismatch, naming: "manifest",
			damage: func(t *testing.T, dir string) {
				p := filepath.Join(dir, format.ManifestName)
				data, _ := os.ReadFile(p)
				i := strings.Index(string(data), `"host"`)
				data[i+1] = 'H'
				os.WriteFile(p, data, 0o600)
			}},
		{name: "FlippedTableByte", want: backup.ErrChecksumMismatch, naming: "tables/users.0.jsonl.zst",
			damage: func(t *testing.T, dir string) { flipByte(t, filepath.Join(dir, "tables", "users.0.jsonl.zst")) }},
		{name: "FlippedBlobByte", want: backup.ErrChecksumMismatch, naming: firstFile(m, true).Path,
			damage: func(t *testing.T, dir string) { flipByte(t, filepath.Join(dir, firstFile(m, true).Path)) }},
		{name: "MissingFile", want: backup.ErrMissingFile, naming: "tables/policies.0.jsonl.zst",
			damage: func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "tables", "policies.0.jsonl.zst")) }},
		{name: "ExtraFile", want: backup.ErrUnexpectedFile, naming: "tables/evil.jsonl.zst",
			damage: func(t *testing.T, dir string) {
				os.WriteFile(filepath.Join(dir, "tables", "evil.jsonl.zst"), []byte("x"), 0o600)
			}},
		{name: "TruncatedManifest", want: backup.ErrMalformed, naming: "manifest.json",
			damage: func(t *testing.T, dir string) {
				p := filepath.Join(dir, format.ManifestName)
				data, _ := os.ReadFile(p)
				os.WriteFile(p, data[:len(data)/2], 0o600)
			}},
		{name: "NewerFormat", want: backup.ErrNewerVersion, naming: fmt.Sprintf("backup format %d", format.FormatVersion+1),
			damage: func(t *testing.T, dir string) {
				rewriteManifest(t, dir, func(m *format.Manifest) { m.Format = format.FormatVersion + 1 })
			}},
		{name: "NewerSchema", want: backup.ErrNewerVersion, naming: "schema version",
			damage: func(t *testing.T, dir string) {
				rewriteManifest(t, dir, func(m *format.Manifest) { m.SchemaVersion = store.LatestSchemaVersion() + 1 })
			}},
		{name: "EscapingPath", want: backup.ErrUnsafePath, naming: "../../outside",
			damage: func(t *testing.T, dir string) {
				rewriteManifest(t, dir, func(m *format.Manifest) {
					m.Files = append([]format.File{{Path: "../../outside", Size: 1, SHA256: strings.Repeat("0", 64), Encoding: "none", RawSize: 1}}, m.Files...)
				})
			}},
		{name: "AbsolutePath", want: backup.ErrUnsafePath, naming: "/etc/passwd",
			damage: func(t *testing.T, dir string) {
				rewriteManifest(t, dir, func(m *format.Manifest) {
					m.Files = append([]format.File{{Path: "/etc/passwd", Size: 1, SHA256: strings.Repeat("0", 64), Encoding: "none", RawSize: 1}}, m.Files...)
				})
			}},
		{name: "Symlink", want: backup.ErrUnsafePath, naming: firstFile(m, true).Path,
			damage: func(t *testing.T, dir string) {
				p := filepath.Join(dir, firstFile(m, true).Path)
				os.Rename(p, filepath.Join(t.TempDir(), "moved"))
				os.Symlink("/etc/hostname", p)
			}},
		{name: "MissingKey", want: backup.ErrKeyMissing, naming: "no-such.key",
			opts: func(o *backup.RestoreOptions) { o.KeyFile = filepath.Join(f.root, "no-such.key") }},
		{name: "WrongKey", want: backup.ErrKeyMismatch, naming: "fingerprint",
			opts: func(o *backup.RestoreOptions) { o.KeyFile = otherKey }},
		{name: "ServerHoldsLock", want: lockfile.ErrLocked, naming: "serve", holdSrv: true},
		// Blobs are copied while the tables load; one whose content is
		// not its id (though its file matches the manifest) fails the
		// restore with its own error, whichever side was still working.
		{name: "BlobContentNotItsID", want: backup.ErrChecksumMismatch, naming: firstFile(m, true).Path + ": " + backup.ErrChecksumMismatch.Error() + ": decodes to 8 bytes",
			damage: func(t *testing.T, dir string) {
				victim := firstFile(m, true)
				data := []byte("tampered")
				os.Remove(filepath.Join(dir, victim.Path)) // a hard link, perhaps
				if err := os.WriteFile(filepath.Join(dir, victim.Path), data, 0o600); err != nil {
					t.Fatal(err)
				}
				sum := sha256.Sum256(data)
				rewriteManifest(t, dir, func(m *format.Manifest) {
					for i := range m.Files {
						if m.Files[i].Path == victim.Path {
							m.Files[i].Size, m.Files[i].RawSize, m.Files[i].SHA256, m.Files[i].Encoding = int64(len(data)), int64(len(data)), hex.EncodeToString(sum[:]), "none"
						}
					}
				})
			}},
		// The audit log's chain is checked while its rows load; a broken
		// one is refused as VerifyAudit on the loaded table refuses it.
		{name: "AuditEntryAltered", want: store.ErrAuditChain, naming: "at seq 3: content does not match its hash",
			damage: func(t *testing.T, dir string) {
				tamper.RewriteTable(t, dir, "audit_log", func(lines []string) []string {
					lines[2] = strings.Replace(lines[2], `"`+bitnobi.ActionSignUp+`"`, `"`+bitnobi.ActionSignIn+`"`, 1)
					return lines
				})
			}},
		{name: "AuditEntryRemoved", want: store.ErrAuditChain, naming: "at seq 5: expected seq 4 (entries missing)",
			damage: func(t *testing.T, dir string) {
				tamper.RewriteTable(t, dir, "audit_log", func(lines []string) []string { return slices.Delete(lines, 3, 4) })
			}},
		{name: "AuditLastEntryRelinked", want: store.ErrAuditChain, naming: "prev_hash does not match",
			damage: func(t *testing.T, dir string) {
				tamper.RewriteTable(t, dir, "audit_log", func(lines []string) []string {
					last := lines[len(lines)-1] // ...,"prev_hash","hash"]
					prev := strings.LastIndex(last[:strings.LastIndex(last, `,"`)], `,"`)
					lines[len(lines)-1] = last[:prev] + `,"` + strings.Repeat("0", 64) + `"` + last[strings.LastIndex(last, `,"`):]
					return lines
				})
			}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), f.res.Name)
			if err := os.CopyFS(dir, os.DirFS(f.res.Path)); err != nil {
				t.Fatal(err)
			}
			if tt.damage != nil {
				tt.damage(t, dir)
			}
			// The target: an existing data directory with other state.
			target := filepath.Join(t.TempDir(), "data")
			d := backuptest.NewDataDir(t, target)
			backuptest.CopyKey(t, f.data.Dir.Key(), filepath.Join(t.TempDir(), "unused"))
			d.Close()
			if tt.holdSrv {
				l, err := lockfile.Acquire(d.Dir.Lock(), "serve")
				if err != nil {
					t.Fatal(err)
				}
				defer l.Release()
			}
			before := testutil.Tree(t, target, true)
			opts := backup.RestoreOptions{Local: sqlite.Local{}, KeyFile: f.data.Dir.Key()}
			if tt.opts != nil {
				tt.opts(&opts)
			}
			opts.Backup, opts.DataDir = dir, target
			_, err := backup.Restore(context.Background(), opts)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Restore err=%v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.naming) {
				t.Fatalf("Restore err=%q does not name %q", err, tt.naming)
			}
			if after := testutil.Tree(t, target, true); !maps.Equal(before, after) {
				t.Fatalf("data directory changed:\nbefore %v\nafter  %v", before, after)
			}
			assertNoLeftovers(t, target)
			if entries, _ := filepath.Glob(target + ".before-restore-*"); len(entries) > 0 {
				t.Fatalf("left %v", entries)
			}
		})
	}
}

// TestRestore_BadBackupWhileLocked checks that a wrong backup path is
// refused for what it is while another restore into the same data
// directory holds the restore lock: the backup is read before the lock is
// taken, so the operator learns of the wrong path at once instead of
// being told to wait for the other restore, and only then that the path
// was wrong. A good backup still meets the lock.
func TestRestore_BadBackupWhileLocked(t *testing.T) {
	f := newFixture(t)
	parent := t.TempDir()
	target := filepath.Join(parent, "data")
	l, err := lockfile.Acquire(target+".restore-lock", "restore") // as doc.go names it
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	damaged := filepath.Join(t.TempDir(), f.res.Name)
	if err := os.CopyFS(damaged, os.DirFS(f.res.Path)); err != nil {
		t.Fatal(err)
	}
	manifest := filepath.Join(damaged, format.ManifestName)
	data, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(manifest, data[:len(data)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		backup string
		want   error
	}{
		{"NotABackup", f.folder, backup.ErrNotBackup},
		{"Missing", filepath.Join(f.folder, "backup-19700101_0000"), backup.ErrNotBackup},
		{"DamagedManifest", damaged, backup.ErrMalformed},
		{"GoodBackup", f.res.Path, lockfile.ErrLocked},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := backup.Restore(context.Background(), backup.RestoreOptions{Backup: tt.backup, DataDir: target, Local: sqlite.Local{}, KeyFile: f.data.Dir.Key()})
			if !errors.Is(err, tt.want) {
				t.Fatalf("Restore err=%v, want %v", err, tt.want)
			}
			if tt.want != lockfile.ErrLocked && errors.Is(err, lockfile.ErrLocked) {
				t.Fatalf("Restore err=%v: the lock, not the backup, was reported", err)
			}
			entries, err := os.ReadDir(parent)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 1 {
				t.Fatalf("the target's parent holds %d entries, want only the lock file", len(entries))
			}
		})
	}
	// Nothing is made for a bad backup: not even the target's parent.
	target = filepath.Join(t.TempDir(), "new", "data")
	if _, err := backup.Restore(context.Background(), backup.RestoreOptions{Backup: f.folder, DataDir: target, Local: sqlite.Local{}}); !errors.Is(err, backup.ErrNotBackup) {
		t.Fatalf("Restore err=%v, want ErrNotBackup", err)
	}
	if _, err := os.Stat(filepath.Dir(target)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a refused restore made %s (stat err=%v)", filepath.Dir(target), err)
	}
}

// TestRestore_KeyFileMessages checks what a restore says of a master key
// file it cannot use: "not found" only when there is no such file, and
// otherwise the real reason, with a hint that fixes that reason.
func TestRestore_KeyFileMessages(t *testing.T) {
	f := newFixture(t)
	fp := f.res.Manifest.MasterKey.Fingerprint
	dir := t.TempDir()
	keyFile := func(name string, mode fs.FileMode, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	goodKey, err := os.ReadFile(f.data.Dir.Key())
	if err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.key")
	insecure := keyFile("insecure.key", 0o644, string(goodKey))
	malformed := keyFile("malformed.key", 0o600, "not a key\n")
	unreadable := keyFile("unreadable.key", 0o200, string(goodKey))
	directory := filepath.Join(dir, "directory.key")
	if err := os.Mkdir(directory, 0o700); err != nil {
		t.Fatal(err)
	}
	passKey := "pass the master key the backup was made with (fingerprint " + fp + ") with --key-file"
	for _, tt := range []struct {
		name     string
		keyFile  string
		want     []error
		message  string
		hint     string
		needsDAC bool // file modes bind the test process (not root; see TestUnusableKeyError)
	}{
		{name: "Missing", keyFile: missing, want: []error{backup.ErrKeyMissing},
			message: "restore: master key not found: the backup needs the master key with fingerprint " + fp + ", and " + missing + " does not exist",
			hint:    "pass the master.key kept apart from the backups with --key-file, or set BITNOBI_MASTER_KEY_FILE"},
		{name: "InsecureMode", keyFile: insecure, want: []error{backup.ErrKeyUnusable, secret.ErrInsecureKeyFile},
			message: "restore: master key file unusable: read key file " + insecure + ": insecure key file permissions: mode 0644 gives group or others access",
			hint:    "chmod 600 " + insecure},
		{name: "Malformed", keyFile: malformed, want: []error{backup.ErrKeyUnusable, secret.ErrMalformedKeyFile},
			message: "restore: master key file unusable: read key file " + malformed + ": malformed key file: want 64 hex characters and a newline, found 10 bytes",
			hint:    passKey},
		{name: "Directory", keyFile: directory, want: []error{backup.ErrKeyUnusable},
			message: "restore: master key file unusable: read key file " + directory + ": not a regular file",
			hint:    passKey},
		{name: "Unreadable", keyFile: unreadable, want: []error{backup.ErrKeyUnusable, fs.ErrPermission}, needsDAC: true,
			message: "restore: master key file unusable: read key file " + unreadable + ": permission denied",
			hint:    "restore as a user who can read " + unreadable + ", or pass a copy of the key that this user can read with --key-file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.needsDAC && os.Geteuid() == 0 {
				t.Skip("root reads any file")
			}
			target := filepath.Join(t.TempDir(), "data")
			_, err := backup.Restore(context.Background(), backup.RestoreOptions{Backup: f.res.Path, DataDir: target, Local: sqlite.Local{}, KeyFile: tt.keyFile})
			for _, want := range tt.want {
				if !errors.Is(err, want) {
					t.Errorf("Restore err=%v, want it to match %v", err, want)
				}
			}
			if err == nil {
				t.FailNow()
			}
			if tt.keyFile != missing && errors.Is(err, backup.ErrKeyMissing) {
				t.Errorf("Restore err=%v matches ErrKeyMissing for a file that is there", err)
			}
			if got := err.Error(); got != tt.message {
				t.Errorf("Restore err=%q,\nwant %q", got, tt.message)
			}
			if got := backup.Hint(err); got != tt.hint {
				t.Errorf("Hint=%q,\nwant %q", got, tt.hint)
			}
			if _, err := os.Stat(target); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("a refused restore left %s (stat err=%v)", target, err)
			}
		})
	}
}

// TestRestore_Interrupted cancels a restore's context at each phase
// before the switch and checks that it returns an *InterruptedError that
// matches context.Canceled, and that it changed nothing: an existing data
// directory is as it was, a missing one is missing again, and nothing is
// left beside it.
func TestRestore_Interrupted(t *testing.T) {
	f := newFixture(t)
	for _, phase := range []string{"start", "verify", "load", "seal"} {
		for _, inPlace := range []bool{true, false} {
			t.Run(phase+map[bool]string{true: "/InPlace", false: "/NewDirectory"}[inPlace], func(t *testing.T) {
				target := filepath.Join(t.TempDir(), "data")
				var before map[string]string
				if inPlace {
					backuptest.NewDataDir(t, target).Close()
					before = testutil.Tree(t, target, true)
				}
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				if phase == "start" {
					cancel()
				}
				_, err := backup.Restore(ctx, backup.RestoreOptions{
					Backup:  f.res.Path,
					DataDir: target,
					Local:   sqlite.Local{},
					KeyFile: f.data.Dir.Key(),
					Progress: func(p backup.Progress) {
						if p.Phase == phase {
							cancel()
						}
					},
				})
				var ie *backup.InterruptedError
				if !errors.As(err, &ie) || !errors.Is(err, context.Canceled) {
					t.Fatalf("Restore err=%v, want an *InterruptedError matching context.Canceled", err)
				}
				if inPlace {
					if after := testutil.Tree(t, target, true); !maps.Equal(before, after) {
						t.Fatalf("data directory changed:\nbefore %v\nafter  %v", before, after)
					}
				} else if _, err := os.Stat(target); !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("the data directory the restore created is still there (stat err=%v)", err)
				}
				assertNoLeftovers(t, target)
				if entries, _ := filepath.Glob(target + ".before-restore-*"); len(entries) > 0 {
					t.Fatalf("left %v", entries)
				}
			})
		}
	}
}

// A backup whose secrets were sealed with another key than the manifest
// names is refused, even with the key the manifest names.
func TestRestore_SecretsSealedWithOtherKey(t *testing.T) {
	root := t.TempDir()
	d := backuptest.NewDataDir(t, filepath.Join(root, "data"))
	other, _ := secret.GenerateKey()
	d.DB.Key = other
	if err := d.DB.WriteTx(context.Background(), func(tx *store.Tx) error {
		_, err := tx.PutSecret(context.Background(), "", "sealed with another key")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	res, err := backup.Create(context.Background(), backup.CreateOptions{Local: sqlite.Local{}, DataDir: d.Dir.Path(), Folder: filepath.Join(root, "backup")})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) == 0 {
		t.Fatal("Create gave no warning about secrets sealed with another key")
	}
	_, err = backup.Restore(context.Background(), backup.RestoreOptions{Backup: res.Path, DataDir: filepath.Join(root, "r"), Local: sqlite.Local{}, KeyFile: d.Dir.Key()})
	if !errors.Is(err, backup.ErrKeyMismatch) || !strings.Contains(err.Error(), other.Fingerprint()) {
		t.Fatalf("Restore err=%v, want ErrKeyMismatch naming %s", err, other.Fingerprint())
	}
	if ok, _ := exists(filepath.Join(root, "r")); ok {
		t.Fatal("restore left the target directory it created")
	}
}

func TestRestore_InPlace(t *testing.T) {
	for _, discard := range []bool{false, true} {
		t.Run(map[bool]string{false: "KeepPrevious", true: "DiscardPrevious"}[discard], func(t *testing.T) {
			f := newFixture(t)
			ctx := context.Background()
			instance := meta(t, f.data.DB, store.MetaInstanceID)
			// A change after the backup, which the restore undoes.
			if err := f.data.DB.WriteTx(ctx, func(tx *store.Tx) error {
				_, err := tx.Exec(ctx, `DELETE FROM policies WHERE id = ?`, f.seeded.AcmePolicy.ID)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			f.data.Close()
			res := mustRestore(t, f.res.Path, f.data.Dir.Path(), backup.RestoreOptions{Local: sqlite.Local{}, DiscardPrevious: discard, Now: func() time.Time {
				return time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
			}})
			r := backuptest.Open(t, f.data.Dir.Path())
			var n int
			r.DB.Read.QueryRow(`SELECT COUNT(*) FROM policies WHERE id = ?`, f.seeded.AcmePolicy.ID).Scan(&n)
			if n != 1 {
				t.Fatal("the restore did not bring back the deleted policy")
			}
			if got := meta(t, r.DB, store.MetaInstanceID); got != instance {
				t.Fatalf("instance id %s, want %s kept", got, instance)
			}
			prev := f.data.Dir.Path() + ".before-restore-20250304_050607"
			ok, _ := exists(prev)
			if discard {
				if ok || res.Previous != "" {
					t.Fatalf("previous state kept at %s with DiscardPrevious", prev)
				}
				return
			}
			if !ok || res.Previous != prev {
				t.Fatalf("Previous=%q, want %s kept", res.Previous, prev)
			}
			old := backuptest.Open(t, prev)
			old.DB.Read.QueryRow(`SELECT COUNT(*) FROM policies WHERE id = ?`, f.seeded.AcmePolicy.ID).Scan(&n)
			if n != 0 {
				t.Fatal("the previous state is not the state before the restore")
			}
			assertNoLeftovers(t, f.data.Dir.Path())
		})
	}
}

func TestRestore_AsCopy(t *testing.T) {
	f := newFixture(t)
	original := meta(t, f.data.DB, store.MetaInstanceID)
	target := filepath.Join(f.root, "copy")
	res := mustRestore(t, f.res.Path, target, backup.RestoreOptions{Local: sqlite.Local{}, KeyFile: f.data.Dir.Key(), AsCopy: true})
	r := backuptest.Open(t, target)
	id := meta(t, r.DB, store.MetaInstanceID)
	if id == original || id != res.InstanceID || !bitnobi.ValidID(id) {
		t.Fatalf("copy's instance id %q (result %q), original %q: want a new one", id, res.InstanceID, original)
	}
	if got := meta(t, r.DB, store.MetaCloneOf); got != original || res.CloneOf != original {
		t.Fatalf("clone_of=%q, want %q", got, original)
	}
	var enabled int
	r.DB.Read.QueryRow(`SELECT COUNT(*) FROM remote_servers WHERE enabled <> 0`).Scan(&enabled)
	if enabled != 0 {
		t.Fatal("a remote server is still enabled in the copy")
	}
	r.DB.Read.QueryRow(`SELECT COUNT(*) FROM email_settings WHERE enabled <> 0`).Scan(&enabled)
	if enabled != 0 {
		t.Fatal("e-mail is still enabled in the copy")
	}
	if got := meta(t, r.DB, store.MetaSQLSourcesOff); got != "1" {
		t.Fatalf("sql_sources_off=%q in the copy, want 1: SQL data sources would query the original's databases", got)
	}
	if _, _, detail := lastAudit(t, r.DB); !strings.Contains(detail, `"mode":"copy"`) {
		t.Fatalf("restore entry detail %s, want mode copy", detail)
	}
	// A plain restore leaves SQL data sources on.
	plain := filepath.Join(f.root, "plain")
	mustRestore(t, f.res.Path, plain, backup.RestoreOptions{Local: sqlite.Local{}, KeyFile: f.data.Dir.Key()})
	if got := meta(t, backuptest.Open(t, plain).DB, store.MetaSQLSourcesOff); got != "" {
		t.Fatalf("sql_sources_off=%q after a plain restore, want unset", got)
	}
	// The original is unchanged.
	f.data.DB.Read.QueryRow(`SELECT COUNT(*) FROM remote_servers WHERE enabled <> 0`).Scan(&enabled)
	if enabled != 1 {
		t.Fatal("the original's remote server was disabled")
	}
}

// A restore into a directory that holds something else is refused.
func TestRestore_TargetNotDataDir(t *testing.T) {
	f := newFixture(t)
	target := filepath.Join(f.root, "home")
	os.MkdirAll(target, 0o700)
	os.WriteFile(filepath.Join(target, "notes.txt"), []byte("mine"), 0o600)
	_, err := backup.Restore(context.Background(), backup.RestoreOptions{Backup: f.res.Path, DataDir: target, Local: sqlite.Local{}, KeyFile: f.data.Dir.Key()})
	if !errors.Is(err, backup.ErrTargetNotEmpty) {
		t.Fatalf("Restore err=%v, want ErrTargetNotEmpty", err)
	}
}

// The key found in the target data directory is used when none is given.
func TestRestore_KeyInTarget(t *testing.T) {
	f := newFixture(t)
	target := filepath.Join(f.root, "new")
	backuptest.CopyKey(t, f.data.Dir.Key(), filepath.Join(target, "master.key"))
	res := mustRestore(t, f.res.Path, target, backup.RestoreOptions{Local: sqlite.Local{}, KeyFile: f.data.Dir.Key()})
	if res.Previous == "" {
		t.Fatal("the directory holding only the key was not kept as the previous state")
	}
	backuptest.Open(t, target)
}

func TestVerify(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := backup.Verify(ctx, f.res.Path, backup.VerifyOptions{}); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	tf := firstFile(f.res.Manifest, false)
	bf := firstFile(f.res.Manifest, true)
	flipByte(t, filepath.Join(f.res.Path, tf.Path))
	os.Remove(filepath.Join(f.res.Path, bf.Path))
	_, err := backup.Verify(ctx, f.res.Path, backup.VerifyOptions{})
	if !errors.Is(err, backup.ErrVerify) || !strings.Contains(err.Error(), tf.Path) || !strings.Contains(err.Error(), bf.Path) {
		t.Fatalf("Verify err=%v, want ErrVerify naming %s and %s", err, tf.Path, bf.Path)
	}
}

func TestList_DamagedManifest(t *testing.T) {
	f := newFixture(t)
	p := filepath.Join(f.res.Path, format.ManifestName)
	data, _ := os.ReadFile(p)
	os.WriteFile(p, data[:100], 0o600)
	infos, err := backup.Folder{Path: f.folder}.Backups()
	if err != nil || len(infos) != 1 || !errors.Is(infos[0].Err, backup.ErrVerify) {
		t.Fatalf("List=%+v, %v; want one backup with a verify error", infos, err)
	}
	// The next backup cannot link from it, and copies everything.
	r := mustCreate(t, f.data.Dir.Path(), f.folder, nil)
	if r.Manifest.Stats.FilesLinked != 0 || r.Manifest.Previous != "" {
		t.Fatalf("stats %+v previous %q: linked from a damaged backup", r.Manifest.Stats, r.Manifest.Previous)
	}
}

func hashOf(path string) (string, int64, error) { return blob.HashFile(path) }

func chtimes(tb testing.TB, path string, t time.Time) {
	tb.Helper()
	if err := os.Chtimes(path, t, t); err != nil {
		tb.Fatal(err)
	}
}

// TestRestore_WALMode checks that the restored database, loaded without a
// write-ahead log (sqlite.OpenStaging), is left in WAL mode, the server's,
// with nothing beside it: the file header says WAL before anything opens it.
func TestRestore_WALMode(t *testing.T) {
	f := newFixture(t)
	target := filepath.Join(t.TempDir(), "restored")
	mustRestore(t, f.res.Path, target, backup.RestoreOptions{Local: sqlite.Local{}, KeyFile: f.data.Dir.Key()})
	db := filepath.Join(target, filepath.Base(f.data.Dir.DB()))
	hdr := make([]byte, 20)
	fh, err := os.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadFull(fh, hdr)
	fh.Close()
	if err != nil {
		t.Fatal(err)
	}
	// Bytes 18 and 19 of the header are the file format's write and read
	// versions: 2 in WAL mode, 1 in rollback-journal mode.
	if hdr[18] != 2 || hdr[19] != 2 {
		t.Fatalf("restored database's header has versions %d/%d, want 2/2 (WAL)", hdr[18], hdr[19])
	}
	for _, suffix := range []string{"-wal", "-journal"} {
		if ok, _ := exists(db + suffix); ok {
			t.Fatalf("%s left beside the restored database", db+suffix)
		}
	}
	r := backuptest.Open(t, target)
	var mode string
	if err := r.DB.Read.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal mode %q (%v), want wal", mode, err)
	}
}

// TestRestore_AuditRowsOutOfOrder restores a backup whose audit_log file
// holds an intact chain out of seq order. The check made while rows load
// cannot follow the chain then, and the loaded table is checked instead,
// which decides as it always did: the chain, in seq order, is intact.
func TestRestore_AuditRowsOutOfOrder(t *testing.T) {
	f := newFixture(t)
	dir := filepath.Join(t.TempDir(), f.res.Name)
	if err := os.CopyFS(dir, os.DirFS(f.res.Path)); err != nil {
		t.Fatal(err)
	}
	tamper.RewriteTable(t, dir, "audit_log", func(lines []string) []string {
		lines[1], lines[2] = lines[2], lines[1]
		return lines
	})
	target := filepath.Join(t.TempDir(), "data")
	mustRestore(t, dir, target, backup.RestoreOptions{Local: sqlite.Local{}, KeyFile: f.data.Dir.Key()})
	r := backuptest.Open(t, target)
	if got, want := verifyAudit(t, r.DB), verifyAudit(t, f.data.DB)+1; got != want {
		t.Fatalf("restored audit chain has %d entries, want %d", got, want)
	}
}

// TestRestore_AsCopyForgetsOffsiteBucket: a copy must never push into, or
// prune, the original's bucket; the backup settings otherwise come back.
func TestRestore_AsCopyForgetsOffsiteBucket(t *testing.T) {
	f := newFixture(t)
	if _, err := f.data.DB.Write.Exec(`INSERT INTO backup_settings (id, enabled, schedule, offsite_endpoint, offsite_bucket, updated_at) VALUES (1, 1, 'daily at 03:00', 's3.example.org', 'prod-backups', '2025-06-01T00:00:00.000000000Z')`); err != nil {
		t.Fatal(err)
	}
	res := mustCreate(t, f.data.Dir.Path(), f.folder, func() time.Time { return time.Now().Add(time.Hour) })
	for _, tc := range []struct {
		name   string
		asCopy bool
		bucket string
	}{{"Plain", false, "prod-backups"}, {"AsCopy", true, ""}} {
		t.Run(tc.name, func(t *testing.T) {
			target := filepath.Join(f.root, "restored-"+tc.name)
			mustRestore(t, res.Path, target, backup.RestoreOptions{KeyFile: f.data.Dir.Key(), AsCopy: tc.asCopy})
			r := backuptest.Open(t, target)
			var schedule, endpoint, bucket string
			if err := r.DB.Read.QueryRow(`SELECT schedule, offsite_endpoint, offsite_bucket FROM backup_settings`).Scan(&schedule, &endpoint, &bucket); err != nil {
				t.Fatal(err)
			}
			if schedule != "daily at 03:00" || endpoint != "s3.example.org" || bucket != tc.bucket {
				t.Fatalf("restored schedule %q, endpoint %q, bucket %q; want bucket %q", schedule, endpoint, bucket, tc.bucket)
			}
		})
	}
}
