package backup_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"maps"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/backup"
	"github.com/bitnobi/bitnobi/backup/archive"
	"github.com/bitnobi/bitnobi/backup/backuptest"
	"github.com/bitnobi/bitnobi/backup/backuptest/tamper"
	"github.com/bitnobi/bitnobi/backup/format"
	"github.com/bitnobi/bitnobi/backup/retention"
	"github.com/bitnobi/bitnobi/internal/testutil"
	"github.com/bitnobi/bitnobi/sqlite"
	"github.com/bitnobi/bitnobi/store"
)

// copyBackup copies the backup src to a new directory of the same name
// under a new temporary folder, so that damaging it touches no other.
func copyBackup(tb testing.TB, src string) string {
	tb.Helper()
	dst := filepath.Join(tb.TempDir(), filepath.Base(src))
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		tb.Fatal(err)
	}
	return dst
}

// TestVerify_Damage damages a copy of a real backup in each way and
// checks that Verify reports it, naming the file.
func TestVerify_Damage(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	tf := firstFile(f.res.Manifest, false)
	bf := firstFile(f.res.Manifest, true)
	for _, tt := range []struct {
		name   string
		damage func(dir string) string // returns the path the error must name
		want   error
	}{
		{"ManifestFlippedByte", func(dir string) string {
			flipByte(t, filepath.Join(dir, format.ManifestName))
			return format.ManifestName
		}, backup.ErrChecksumMismatch},
		{"TableFlippedByte", func(dir string) string {
			flipByte(t, filepath.Join(dir, tf.Path))
			return tf.Path
		}, backup.ErrChecksumMismatch},
		{"BlobFlippedByte", func(dir string) string {
			flipByte(t, filepath.Join(dir, bf.Path))
			return bf.Path
		}, backup.ErrChecksumMismatch},
		{"MissingFile", func(dir string) string {
			os.Remove(filepath.Join(dir, tf.Path))
			return tf.Path
		}, backup.ErrMissingFile},
		{"ExtraFile", func(dir string) string {
			os.WriteFile(filepath.Join(dir, "tables", "extra.jsonl.zst"), []byte("x"), 0o600)
			return "tables/extra.jsonl.zst"
		}, backup.ErrUnexpectedFile},
		{"ExtraDirectory", func(dir string) string {
			os.MkdirAll(filepath.Join(dir, "evil"), 0o700)
			return "evil/"
		}, backup.ErrUnexpectedFile},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := copyBackup(t, f.res.Path)
			if _, err := backup.Verify(ctx, dir, backup.VerifyOptions{}); err != nil {
				t.Fatalf("Verify before damage: %v", err)
			}
			naming := tt.damage(dir)
			_, err := backup.Verify(ctx, dir, backup.VerifyOptions{})
			if !errors.Is(err, backup.ErrVerify) || !errors.Is(err, tt.want) || !strings.Contains(err.Error(), naming) {
				t.Fatalf("Verify err=%v, want %v naming %s", err, tt.want, naming)
			}
		})
	}
}

// TestVerify_SizeChanged checks that a file of the wrong size is reported
// as truncated only when it shrank.
func TestVerify_SizeChanged(t *testing.T) {
	f := newFixture(t)
	bf := firstFile(f.res.Manifest, true)
	for _, tt := range []struct {
		name    string
		change  func([]byte) []byte
		want    string
		notWant string
	}{
		{"Shrank", func(b []byte) []byte { return b[:len(b)-3] }, "3 bytes short: truncated?", "more"},
		{"Grew", func(b []byte) []byte { return append(b, "abcde"...) }, "5 bytes more: written to or replaced after the backup?", "truncated"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := copyBackup(t, f.res.Path)
			p := filepath.Join(dir, bf.Path)
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, tt.change(data), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err = backup.Verify(context.Background(), dir, backup.VerifyOptions{})
			if !errors.Is(err, backup.ErrChecksumMismatch) || !strings.Contains(err.Error(), bf.Path) {
				t.Fatalf("Verify err=%v, want ErrChecksumMismatch naming %s", err, bf.Path)
			}
			if msg := err.Error(); !strings.Contains(msg, tt.want) || strings.Contains(msg, tt.notWant) {
				t.Fatalf("Verify err=%q, want it to say %q and not %q", msg, tt.want, tt.notWant)
			}
			if got, want := backup.Hint(err), "pick another backup"; !strings.Contains(got, want) {
				t.Fatalf("Hint=%q, want it to say %q", got, want)
			}
		})
	}
}

func TestVerifyDeep(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	opts := backup.VerifyOptions{Deep: true, Local: sqlite.Local{}, KeyFile: f.data.Dir.Key(), TempDir: t.TempDir()}
	t.Run("OK", func(t *testing.T) {
		if _, err := backup.Verify(ctx, f.res.Path, opts); err != nil {
			t.Fatalf("Verify --deep: %v", err)
		}
		if left, _ := os.ReadDir(opts.TempDir); len(left) != 0 {
			t.Fatalf("left in the temporary directory: %v", left)
		}
	})
	t.Run("DanglingReference", func(t *testing.T) {
		// A user attribute of a user who is not there, with the manifest
		// rewritten to match: every checksum agrees.
		dir := copyBackup(t, f.res.Path)
		tamper.RewriteTable(t, dir, "user_attributes", func(lines []string) []string {
			return append(lines, `["u-ghost","department","Nowhere"]`)
		})
		if _, err := backup.Verify(ctx, dir, backup.VerifyOptions{}); err != nil {
			t.Fatalf("Verify of the re-checksummed backup: %v (want it to pass: checksums cannot tell)", err)
		}
		_, err := backup.Verify(ctx, dir, opts)
		if !errors.Is(err, backup.ErrTrialRestore) || !errors.Is(err, backup.ErrVerify) {
			t.Fatalf("Verify --deep err=%v, want ErrTrialRestore", err)
		}
		if !strings.Contains(err.Error(), "user_attributes") && !strings.Contains(strings.ToLower(err.Error()), "foreign key") {
			t.Fatalf("Verify --deep err=%v does not say what is wrong", err)
		}
	})
	t.Run("BrokenAuditChain", func(t *testing.T) {
		dir := copyBackup(t, f.res.Path)
		tamper.RewriteTable(t, dir, "audit_log", func(lines []string) []string {
			lines[0] = strings.Replace(lines[0], `"192.0.2.1"`, `"192.0.2.99"`, 1)
			return lines
		})
		if _, err := backup.Verify(ctx, dir, opts); !errors.Is(err, backup.ErrVerify) {
			t.Fatalf("Verify --deep err=%v, want a verify error", err)
		}
	})
	t.Run("NoKey", func(t *testing.T) {
		o := opts
		o.KeyFile = filepath.Join(t.TempDir(), "missing.key")
		if _, err := backup.Verify(ctx, f.res.Path, o); !errors.Is(err, backup.ErrKeyMissing) || errors.Is(err, backup.ErrVerify) {
			t.Fatalf("Verify --deep err=%v, want ErrKeyMissing and not ErrVerify", err)
		}
	})
}

// synthFolder makes a folder of backups at the given times, clones of one
// real backup sharing every blob file through hard links.
func synthFolder(tb testing.TB, f *fixture, times ...time.Time) string {
	tb.Helper()
	folder := filepath.Join(tb.TempDir(), "backup")
	os.MkdirAll(folder, 0o700)
	for _, at := range times {
		name := backup.Name(at)
		for n := 2; ; n++ {
			if _, err := os.Stat(filepath.Join(folder, name)); err != nil {
				break
			}
			name = backup.Name(at) + "-" + string(rune('0'+n))
		}
		testutil.CloneBackup(tb, f.res.Path, folder, name, at)
	}
	return folder
}

func names(entries []backup.FolderEntry) []string {
	var out []string
	for _, e := range entries {
		out = append(out, e.Name)
	}
	return out
}

func TestPrune(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	base := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	var times []time.Time
	for i := range 6 {
		times = append(times, base.Add(time.Duration(i)*24*time.Hour))
	}
	folder := synthFolder(t, f, times...)
	// A damaged backup, an interrupted prune and a foreign file.
	os.MkdirAll(filepath.Join(folder, "backup-20200101_0000"), 0o700)
	os.MkdirAll(filepath.Join(folder, ".tmp-backup-prune-backup-20200101_0001-abcd"), 0o700)
	os.WriteFile(filepath.Join(folder, "notes.txt"), []byte("mine"), 0o600)
	for _, at := range times {
		m, err := format.ReadManifest(filepath.Join(folder, backup.Name(at)))
		if err != nil {
			t.Fatal(err)
		}
		v := backup.Verification{Backup: backup.Name(at), ManifestChecksum: m.ManifestChecksum, OK: true, At: at}
		if err := (backup.Folder{Path: folder}).RecordVerification(v); err != nil {
			t.Fatal(err)
		}
	}

	policy := retention.Policy{Last: 2}
	dry, err := backup.Prune(ctx, backup.PruneOptions{Folder: folder, Policy: policy, DryRun: true})
	if err != nil {
		t.Fatalf("Prune dry run: %v", err)
	}
	if got := len(dry.Removed); got != 4 {
		t.Fatalf("dry run would remove %v, want 4 backups", dry.Removed)
	}
	entries, _ := backup.Folder{Path: folder}.Entries()
	if len(entries) != 9 {
		t.Fatalf("the dry run changed the folder: %v", names(entries))
	}

	res, err := backup.Prune(ctx, backup.PruneOptions{Folder: folder, Policy: policy})
	if err != nil {
		t.Fatalf("Prune: %v", err)
	}
	want := []string{backup.Name(times[3]), backup.Name(times[2]), backup.Name(times[1]), backup.Name(times[0])}
	if !slices.Equal(res.Removed, want) {
		t.Fatalf("Removed=%v, want %v", res.Removed, want)
	}
	entries, err = backup.Folder{Path: folder}.Entries()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(entries), []string{backup.Name(times[5]), backup.Name(times[4]), "backup-20200101_0000", "notes.txt"}; !slices.Equal(got, want) {
		t.Fatalf("left %v, want %v", got, want)
	}
	// The backups kept share their blob files with the removed ones: they
	// must still verify.
	for _, e := range entries[:2] {
		if _, err := backup.Verify(ctx, e.Path, backup.VerifyOptions{}); err != nil {
			t.Fatalf("Verify %s after prune: %v", e.Name, err)
		}
		if e.Verification == nil {
			t.Errorf("%s lost its verification record", e.Name)
		}
	}
	sidecars, _ := os.ReadDir(filepath.Join(folder, backup.VerifiedDir))
	if len(sidecars) != 2 {
		t.Fatalf("verification records left: %v, want those of the 2 kept backups", sidecars)
	}

	t.Run("EmptyPolicy", func(t *testing.T) {
		_, err := backup.Prune(ctx, backup.PruneOptions{Folder: folder})
		if !errors.Is(err, backup.ErrEmptyPolicy) {
			t.Fatalf("Prune err=%v, want ErrEmptyPolicy", err)
		}
	})
	t.Run("NeverTheNewest", func(t *testing.T) {
		res, err := backup.Prune(ctx, backup.PruneOptions{Folder: folder, Policy: retention.Policy{Within: time.Nanosecond}})
		if err != nil || len(res.Removed) != 1 || res.Removed[0] != backup.Name(times[4]) {
			t.Fatalf("Prune=%+v, %v; want only %s removed", res, err, backup.Name(times[4]))
		}
		if _, err := backup.Verify(ctx, filepath.Join(folder, backup.Name(times[5])), backup.VerifyOptions{}); err != nil {
			t.Fatalf("the newest backup: %v", err)
		}
	})
}

func TestScan(t *testing.T) {
	f := newFixture(t)
	second := mustCreate(t, f.data.Dir.Path(), f.folder, func() time.Time { return time.Now().Add(time.Hour) })
	os.MkdirAll(filepath.Join(f.folder, ".tmp-backup-20260101_0000-1234"), 0o700)
	os.WriteFile(filepath.Join(f.folder, "README"), []byte("x"), 0o600)
	entries, err := backup.Folder{Path: f.folder}.Entries()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(entries), []string{second.Name, f.res.Name, ".tmp-backup-20260101_0000-1234", "README"}; !slices.Equal(got, want) {
		t.Fatalf("Scan=%v, want %v", got, want)
	}
	kinds := []string{backup.KindBackup, backup.KindBackup, backup.KindIncomplete, backup.KindForeign}
	for i, e := range entries {
		if e.Kind != kinds[i] {
			t.Errorf("%s: kind %s, want %s", e.Name, e.Kind, kinds[i])
		}
	}
	// The second backup hard-linked its blobs and unchanged tables from
	// the first: each backup's unique bytes leave those out.
	shared := second.Manifest.Stats.BytesLinked
	if second.Manifest.Stats.FilesLinked < 2 {
		t.Fatalf("second backup linked %d files, want at least both blobs", second.Manifest.Stats.FilesLinked)
	}
	for _, e := range entries[:2] {
		if e.Unique != e.Size-shared || e.Size == 0 {
			t.Errorf("%s: size %d, unique %d; want unique = size - %d shared bytes", e.Name, e.Size, e.Unique, shared)
		}
	}
}

func TestReader(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	r, err := backup.OpenReader(f.res.Path, nil)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := r.Rows(ctx, "users")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		got = append(got, rows.Row()[0].(string))
	}
	rows.Close()
	if err := rows.Err(); err != nil || !slices.Equal(got, []string{"u-admin", "u-alice", "u-bob"}) {
		t.Fatalf("users ids=%v, %v", got, err)
	}

	t.Run("OutOfOrder", func(t *testing.T) {
		dir := copyBackup(t, f.res.Path)
		tamper.RewriteTable(t, dir, "users", func(lines []string) []string {
			lines[0], lines[1] = lines[1], lines[0]
			return lines
		})
		r, err := backup.OpenReader(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := r.Rows(ctx, "users")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
		}
		if err := rows.Err(); !errors.Is(err, backup.ErrMalformed) {
			t.Fatalf("Err=%v, want ErrMalformed for rows out of order", err)
		}
	})
	t.Run("Damaged", func(t *testing.T) {
		dir := copyBackup(t, f.res.Path)
		flipByte(t, filepath.Join(dir, "tables", "users.0.jsonl.zst"))
		r, err := backup.OpenReader(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Rows(ctx, "users"); !errors.Is(err, backup.ErrChecksumMismatch) {
			t.Fatalf("Rows err=%v, want ErrChecksumMismatch", err)
		}
	})
}

func TestInspect_NoSecrets(t *testing.T) {
	f := newFixture(t)
	r, err := backup.OpenReader(f.res.Path, nil)
	if err != nil {
		t.Fatal(err)
	}
	in, err := backup.Inspect(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Users) != 3 || len(in.Policies) != 2 || len(in.DataSources) != 2 || len(in.Workflows) != 1 || len(in.Reports) != 1 || len(in.RemoteServers) != 1 {
		t.Fatalf("Inspect=%+v", in)
	}
	if wf := in.Workflows[0]; wf.Owner != "alice" || !slices.Equal(wf.Policies, []string{"Bitnobi IT"}) || wf.Runs != 1 || wf.LastRun != "succeeded" {
		t.Fatalf("workflow %+v", wf)
	}
	if rep := in.Reports[0]; rep.Workflow != "Count by org" || rep.Owner != "alice" {
		t.Fatalf("report %+v", rep)
	}
	out := fmtJSON(t, in)
	for _, s := range backuptest.Secrets(t, f.data) {
		if strings.Contains(out, s) {
			t.Errorf("Inspect shows the secret %q", s)
		}
	}
}

func fmtJSON(tb testing.TB, v any) string {
	tb.Helper()
	var b bytes.Buffer
	if err := jsonEncode(&b, v); err != nil {
		tb.Fatal(err)
	}
	return b.String()
}

func TestDiff(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	// Known changes: a user added, one changed, one removed (with her
	// attributes), a policy renamed, audit entries appended.
	err := f.data.DB.WriteTx(ctx, func(tx *store.Tx) error {
		now := bitnobi.FormatTime(tx.Now())
		for _, q := range []string{
			`INSERT INTO users (id, username, email, password_hash, is_admin, created_at, updated_at) VALUES ('u-carol', 'carol', 'carol@example.org', 'x', 0, '` + now + `', '` + now + `')`,
			`UPDATE users SET email = 'bob@acme.example', password_hash = 'new-hash-value' WHERE id = 'u-bob'`,
			`UPDATE policies SET name = 'Acme partners' WHERE id = 'p-acme'`,
		} {
			if _, err := tx.Exec(ctx, q); err != nil {
				return err
			}
		}
		return tx.Audit(ctx, bitnobi.ActionPolicyUpdate, "policy", "p-acme", nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	second := mustCreate(t, f.data.Dir.Path(), f.folder, func() time.Time { return time.Now().Add(time.Minute) })
	a, err := backup.OpenReader(f.res.Path, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := backup.OpenReader(second.Path, nil)
	if err != nil {
		t.Fatal(err)
	}
	check := func(t *testing.T, d *backup.Difference) {
		t.Helper()
		byTable := map[string]backup.TableDiff{}
		for _, td := range d.Tables {
			byTable[td.Table] = td
		}
		u := byTable["users"]
		if u.Added != 1 || u.Removed != 0 || u.Changed != 1 {
			t.Fatalf("users diff %+v, want 1 added, 1 changed", u)
		}
		wantRows := []backup.RowChange{
			{Change: backup.ChangeChanged, Key: "u-bob", Name: "bob", Columns: []string{"email", "password_hash"}},
			{Change: backup.ChangeAdded, Key: "u-carol", Name: "carol"},
		}
		if len(u.Rows) != 2 || u.Rows[0].Key != wantRows[0].Key || !slices.Equal(u.Rows[0].Columns, wantRows[0].Columns) ||
			u.Rows[1].Key != wantRows[1].Key || u.Rows[1].Change != backup.ChangeAdded || u.Rows[1].Name != "carol" {
			t.Fatalf("users rows %+v, want %+v", u.Rows, wantRows)
		}
		if p := byTable["policies"]; p.Changed != 1 || p.Rows[0].Name != "Acme partners" {
			t.Fatalf("policies diff %+v", p)
		}
		if al := byTable["audit_log"]; al.Added != 1 || al.Removed != 0 || al.Changed != 0 {
			t.Fatalf("audit_log diff %+v, want 1 added", al)
		}
		if s := byTable["secrets"]; s.Added+s.Removed+s.Changed != 0 {
			t.Fatalf("secrets diff %+v, want none", s)
		}
		out := fmtJSON(t, d)
		for _, s := range append(backuptest.Secrets(t, f.data), "new-hash-value", "bob@acme.example") {
			if strings.Contains(out, `"`+s+`"`) {
				t.Errorf("the difference shows the value %q", s)
			}
		}
	}
	t.Run("TwoBackups", func(t *testing.T) {
		d, err := backup.Diff(ctx, a, b, backup.DiffOptions{Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		check(t, d)
		if d.A != f.res.Name || d.B != second.Name {
			t.Fatalf("A, B = %s, %s", d.A, d.B)
		}
	})
	t.Run("Live", func(t *testing.T) {
		d, err := backup.DiffLive(ctx, a, f.data.DB, backup.DiffOptions{Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		check(t, d)
		if d.B != backup.LiveName {
			t.Fatalf("B=%s, want live", d.B)
		}
	})
	t.Run("Same", func(t *testing.T) {
		d, err := backup.Diff(ctx, b, b, backup.DiffOptions{Limit: 10})
		if err != nil || d.Changed() {
			t.Fatalf("Diff of a backup with itself: %+v, %v", d, err)
		}
	})
	t.Run("Limit", func(t *testing.T) {
		d, err := backup.Diff(ctx, a, b, backup.DiffOptions{Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, td := range d.Tables {
			if td.Table == "users" && (len(td.Rows) != 1 || td.Unlisted != 1) {
				t.Fatalf("users with limit 1: %+v", td)
			}
		}
	})
}

// exportBytes exports the backup in dir.
func exportBytes(tb testing.TB, dir string, compress bool) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if _, err := backup.Export(context.Background(), dir, &buf, compress); err != nil {
		tb.Fatalf("Export: %v", err)
	}
	return buf.Bytes()
}

func TestExportImport(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, compress := range []bool{true, false} {
		data := exportBytes(t, f.res.Path, compress)
		if compress != bytes.HasPrefix(data, []byte{0x28, 0xb5, 0x2f, 0xfd}) {
			t.Fatalf("compress=%v but the archive starts %x", compress, data[:4])
		}
		folder := filepath.Join(t.TempDir(), "offsite")
		res, err := backup.Import(ctx, bytes.NewReader(data), backup.ImportOptions{Folder: folder})
		if err != nil {
			t.Fatalf("Import: %v", err)
		}
		if res.Name != f.res.Name || res.Manifest.ManifestChecksum != f.res.Manifest.ManifestChecksum {
			t.Fatalf("imported as %s (%s), want %s", res.Name, res.Manifest.ManifestChecksum, f.res.Name)
		}
		if got, want := testutil.Tree(t, res.Path, true), testutil.Tree(t, f.res.Path, true); len(got) != len(want) {
			t.Fatalf("imported tree has %d entries, the original %d", len(got), len(want))
		}
		// Twice: refused, and the folder unchanged.
		before := testutil.Tree(t, folder, true)
		_, err = backup.Import(ctx, bytes.NewReader(data), backup.ImportOptions{Folder: folder})
		if !errors.Is(err, backup.ErrExists) {
			t.Fatalf("second Import err=%v, want ErrExists", err)
		}
		if after := testutil.Tree(t, folder, true); !maps.Equal(before, after) {
			t.Fatal("a refused import changed the folder")
		}
		if !compress {
			continue
		}
		// Restore the import and compare with the source.
		target := filepath.Join(t.TempDir(), "data")
		mustRestore(t, res.Path, target, backup.RestoreOptions{Local: sqlite.Local{}, KeyFile: f.data.Dir.Key()})
		r := backuptest.Open(t, target)
		want, got := backuptest.Dump(t, f.data.DB), backuptest.Dump(t, r.DB)
		for table, rows := range want {
			if table == "audit_log" || table == "meta" {
				continue // the restore adds its entry and marks
			}
			if !slices.Equal(got[table], rows) {
				t.Errorf("table %s differs after export, import and restore", table)
			}
		}
	}
}

func TestImport_Refused(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	good := exportBytes(t, f.res.Path, false)

	cases := map[string][]byte{}
	malicious := filepath.Join("archive", "testdata", "malicious")
	dirents, err := os.ReadDir(malicious)
	if err != nil || len(dirents) == 0 {
		t.Fatalf("the malicious corpus: %v", err)
	}
	for _, d := range dirents {
		data, err := os.ReadFile(filepath.Join(malicious, d.Name()))
		if err != nil {
			t.Fatal(err)
		}
		cases["malicious/"+d.Name()] = data
	}
	// Good archives with one thing wrong: what only the manifest can say.
	cases["truncated"] = good[:len(good)/2]
	cases["extra-file"] = tarWith(t, good, func(files []tarFile) []tarFile {
		return append(files[:len(files)-1], tarFile{"tables/extra.jsonl.zst", []byte("x")}, files[len(files)-1])
	})
	cases["foreign-path"] = tarWith(t, good, func(files []tarFile) []tarFile {
		return append([]tarFile{{"README", []byte("hello")}}, files...)
	})
	cases["after-manifest"] = tarWith(t, good, func(files []tarFile) []tarFile {
		return append(files, tarFile{"tables/late.jsonl.zst", []byte("x")})
	})
	cases["missing-file"] = tarWith(t, good, func(files []tarFile) []tarFile { return files[1:] })
	cases["no-manifest"] = tarWith(t, good, func(files []tarFile) []tarFile { return files[:len(files)-1] })
	cases["altered-file"] = tarWith(t, good, func(files []tarFile) []tarFile {
		files[0].data = append([]byte{}, files[0].data...)
		files[0].data[0] ^= 1
		return files
	})

	folder := filepath.Join(t.TempDir(), "backup")
	if _, err := backup.Import(ctx, bytes.NewReader(exportBytes(t, f.res.Path, true)), backup.ImportOptions{Folder: folder}); err != nil {
		t.Fatal(err)
	}
	before := testutil.Tree(t, folder, true)
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := backup.Import(ctx, bytes.NewReader(data), backup.ImportOptions{Folder: folder})
			if err == nil {
				t.Fatal("Import accepted it")
			}
			if !errors.Is(err, backup.ErrVerify) && !errors.Is(err, backup.ErrExists) {
				t.Fatalf("Import err=%v, want a verify error", err)
			}
			if after := testutil.Tree(t, folder, true); !maps.Equal(before, after) {
				t.Fatalf("Import (err %v) changed the folder", err)
			}
		})
	}
}

type tarFile struct {
	name string
	data []byte
}

// tarWith rewrites the plain tar archive of a backup with its files edited.
func tarWith(tb testing.TB, archiveData []byte, edit func([]tarFile) []tarFile) []byte {
	tb.Helper()
	files := readTar(tb, archiveData)
	return writeTar(tb, edit(files))
}

// FuzzImport imports arbitrary archive bytes into an empty folder: an
// archive is either imported as a backup that verifies, or refused with
// the folder left empty.
func FuzzImport(f *testing.F) {
	fx := newFixture(f)
	f.Add(exportBytes(f, fx.res.Path, true))
	f.Add(exportBytes(f, fx.res.Path, false))
	malicious := filepath.Join("archive", "testdata", "malicious")
	dirents, _ := os.ReadDir(malicious)
	for _, d := range dirents {
		data, _ := os.ReadFile(filepath.Join(malicious, d.Name()))
		f.Add(data)
	}
	lim := archive.Limits{MaxEntries: 200, MaxFileSize: 1 << 20, MaxTotalSize: 8 << 20}
	f.Fuzz(func(t *testing.T, data []byte) {
		folder := t.TempDir()
		res, err := backup.Import(context.Background(), bytes.NewReader(data),
			backup.ImportOptions{Folder: folder, UnpackOptions: backup.UnpackOptions{Limits: lim}})
		if err == nil {
			if _, err := backup.Verify(context.Background(), res.Path, backup.VerifyOptions{}); err != nil {
				t.Fatalf("imported a backup that does not verify: %v", err)
			}
			return
		}
		entries, _ := os.ReadDir(folder)
		for _, e := range entries {
			if e.Name() != ".lock" {
				t.Fatalf("a refused import (%v) left %s", err, e.Name())
			}
		}
		if errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, backup.ErrVerify) {
			t.Fatalf("truncation reported as %v, not as a verify error", err)
		}
	})
}

func jsonEncode(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func readTar(tb testing.TB, data []byte) []tarFile {
	tb.Helper()
	var files []tarFile
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			tb.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			tb.Fatal(err)
		}
		files = append(files, tarFile{hdr.Name, b})
	}
}

func writeTar(tb testing.TB, files []tarFile) []byte {
	tb.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: 0o600, Size: int64(len(f.data))}); err != nil {
			tb.Fatal(err)
		}
		tw.Write(f.data)
	}
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}
