package backup_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/backup"
	"github.com/bitnobi/bitnobi/backup/backuptest"
	"github.com/bitnobi/bitnobi/backup/format"
	"github.com/bitnobi/bitnobi/blob"
	"github.com/bitnobi/bitnobi/internal/dbtest"
	"github.com/bitnobi/bitnobi/internal/testutil"
	"github.com/bitnobi/bitnobi/postgres"
	"github.com/bitnobi/bitnobi/sqlite"
	"github.com/bitnobi/bitnobi/store"
	"github.com/bitnobi/bitnobi/store/auditseg"
)

// TestGolden restores every golden backup kept in testdata/, one per
// format and schema version that was ever released, with today's binary,
// and checks the content. Run with -update to (re)write the ones for the
// current versions; never regenerate an older one. Plain backups of
// formats 1 and 3 on are vN-schemaM, and encrypted ones of formats 3 on
// vN-schemaM-encrypted (format 2's: v2-schemaM); a golden encrypted
// backup has its age identity in <dir>.identity (a test key, protecting
// nothing) instead of a master key file. What a golden backup holds is
// in <dir>.expect.json (see [goldenExpect]): the IDs of its records,
// which the seeder of its day chose, and the number of its audit
// entries. From format 5 the golden state has a sealed audit log
// (segments of sealSize entries) and a live tail; every golden backup,
// older ones included, restores to such a state, which reads back whole
// and verifies across the seal boundary. The segment files of the
// format-5 goldens are of version 2, those of format 6 of version 3
// (see [goldenSegmentVersion]): each restore checks the version byte of
// the segments it restored.
func TestGolden(t *testing.T) {
	plain := fmt.Sprintf("v%d-schema%d", format.FormatVersion, store.LatestSchemaVersion())
	current := plain + "-encrypted"
	if *testutil.Update {
		writeGolden(t, filepath.Join("testdata", plain), false)
		writeGolden(t, filepath.Join("testdata", current), true)
	}
	if _, err := os.Stat(filepath.Join("testdata", plain)); err != nil {
		t.Fatalf("no golden plain backup testdata/%s for the current schema: run go test ./backup -run TestGolden -update", plain)
	}
	dirs, err := filepath.Glob(filepath.Join("testdata", "v*-schema*"))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, dir := range dirs {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			continue
		}
		found = found || filepath.Base(dir) == current
		t.Run(filepath.Base(dir), func(t *testing.T) { checkGolden(t, dir) })
	}
	if !found {
		t.Fatalf("no golden backup testdata/%s for the current format and schema: run go test ./backup -run TestGolden -update", current)
	}
}

func writeGolden(t *testing.T, dir string, encrypted bool) {
	root := t.TempDir()
	d := backuptest.NewDataDir(t, filepath.Join(root, "data"))
	seeded := backuptest.Seed(t, d)
	audit := verifyAudit(t, d.DB)
	// From format 5, a state with sealed history and a live tail: the
	// seeded entries in segments of sealSize (seq 1-3, 4-7, 8-11, ...),
	// each full one followed by a newer entry sealed.
	sealState(t, d)
	if n, want := liveRows(t, d.DB), audit-lastSealed(audit); n != want {
		t.Fatalf("golden state has %d live audit rows, want %d", n, want)
	}
	opts := backup.CreateOptions{
		Local:   sqlite.Local{},
		DataDir: d.Dir.Path(), Folder: filepath.Join(root, "backup"),
		Now: func() time.Time { return time.Date(2025, 1, 2, 15, 4, 0, 0, time.UTC) },
	}
	var id *age.X25519Identity
	if encrypted {
		id = newIdentity(t)
		opts.Encrypt = toRecipients(id)
	}
	res, err := backup.Create(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(dir, os.DirFS(res.Path)); err != nil {
		t.Fatal(err)
	}
	os.Remove(dir + ".master.key")
	os.Remove(dir + ".identity")
	expect, err := json.MarshalIndent(goldenExpect{
		Alice: seeded.Alice.ID, ITPolicy: seeded.ITPolicy.ID, Workflow: seeded.Workflow.ID, Report: seeded.Report.ID,
		CSVSource: seeded.CSVSource.ID, SQLSource: seeded.SQLSource.ID, AuditEntries: audit,
	}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir+".expect.json", append(expect, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	if encrypted {
		text := "# test identity of the golden backup " + filepath.Base(dir) + "; protects nothing\n" + id.String() + "\n"
		if err := os.WriteFile(dir+".identity", []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	} else {
		backuptest.CopyKey(t, d.Dir.Key(), dir+".master.key")
	}
	t.Logf("wrote %s", dir)
}

// goldenExpect is what a golden backup holds that its checks need: the
// IDs of the seeded records they look at (the first goldens' seeder
// wrote fixed ones such as "u-alice"; today's services choose random
// ones) and the number of audit entries before the restore adds one.
type goldenExpect struct {
	Alice        string `json:"alice"`
	ITPolicy     string `json:"it_policy"`
	Workflow     string `json:"workflow"`
	Report       string `json:"report"`
	CSVSource    string `json:"csv_source"`
	SQLSource    string `json:"sql_source"`
	AuditEntries int64  `json:"audit_entries"`
}

func readGoldenExpect(t *testing.T, dir string) goldenExpect {
	t.Helper()
	data, err := os.ReadFile(dir + ".expect.json")
	if err != nil {
		t.Fatal(err)
	}
	var e goldenExpect
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("%s.expect.json: %v", dir, err)
	}
	if e.Alice == "" || e.ITPolicy == "" || e.Workflow == "" || e.Report == "" || e.CSVSource == "" || e.SQLSource == "" || e.AuditEntries == 0 {
		t.Fatalf("%s.expect.json lacks a field: %+v", dir, e)
	}
	return e
}

// checkGolden restores the golden backup dir into each engine, a
// backup kept for years may be restored into either: the data
// directory's SQLite database, and a PostgreSQL database
// (postgres.RestoreTarget), which skips without PostgreSQL as
// dbtest.PostgresDSN says.
// lastSealed returns the last seq that sealing a log of n entries in
// segments of sealSize seals: segments end at k*sealSize-1, and only one
// followed by a newer entry is sealed.
func lastSealed(n int64) int64 { return max(n/sealSize*sealSize-1, 0) }

func checkGolden(t *testing.T, dir string) {
	for _, engine := range []string{dbtest.SQLite, dbtest.Postgres} {
		t.Run(engine, func(t *testing.T) { checkGoldenOn(t, dir, engine) })
	}
}

func checkGoldenOn(t *testing.T, dir, engine string) {
	ctx := context.Background()
	want := readGoldenExpect(t, dir)
	tmp := t.TempDir()
	// Segments of sealSize: whatever the format, the restored history
	// lands sealed, with a live tail.
	opts := backup.RestoreOptions{Local: sqlite.Local{}, AuditSegmentSize: sealSize}
	dsn := ""
	if engine == dbtest.Postgres {
		dsn = dbtest.NewPostgresDatabase(t)
		opts.Target = &postgres.RestoreTarget{DSN: dsn}
	}
	if _, err := os.Stat(dir + ".identity"); err == nil {
		// Test identities are committed with mode 0644; LoadKeys does
		// not mind.
		keys, err := format.LoadKeys(dir+".identity", "")
		if err != nil {
			t.Fatal(err)
		}
		opts.Keys = keys
	} else {
		opts.KeyFile = filepath.Join(tmp, "master.key")
		backuptest.CopyKey(t, dir+".master.key", opts.KeyFile)
	}
	if _, err := backup.Verify(ctx, dir, backup.VerifyOptions{Keys: opts.Keys}); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	target := filepath.Join(tmp, "data")
	res := mustRestore(t, dir, target, opts)
	r := backuptest.OpenOn(t, target, dsn)
	if v, err := r.DB.SchemaVersion(ctx); err != nil || v != store.LatestSchemaVersion() {
		t.Fatalf("restored schema version %d (%v), want %d", v, err, store.LatestSchemaVersion())
	}
	queryRow := func(q string, args ...any) *sql.Row {
		return r.DB.Read.QueryRow(r.DB.Dialect.Rebind(q), args...)
	}
	count := func(q string, args ...any) int {
		var n int
		if err := queryRow(q, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, c := range []struct {
		q    string
		args []any
		want int
	}{
		{`SELECT COUNT(*) FROM users WHERE username IN ('admin', 'alice', 'bob')`, nil, 3},
		{`SELECT COUNT(*) FROM users WHERE username = 'admin' AND is_admin = 1`, nil, 1},
		{`SELECT COUNT(*) FROM users WHERE username = 'alice' AND id = ?`, []any{want.Alice}, 1},
		{`SELECT COUNT(*) FROM user_attributes WHERE user_id = ? AND key = 'department' AND value = 'Research'`, []any{want.Alice}, 1},
		{`SELECT COUNT(*) FROM policies WHERE name = ? AND global = 0`, []any{"Acme — «partners»"}, 1},
		{`SELECT COUNT(*) FROM policy_attributes WHERE policy_id = ?`, []any{want.ITPolicy}, 2},
		{`SELECT COUNT(*) FROM workflow_policies WHERE workflow_id = ? AND policy_id = ?`, []any{want.Workflow, want.ITPolicy}, 1},
		{`SELECT COUNT(*) FROM reports WHERE id = ?`, []any{want.Report}, 1},
		{`SELECT COUNT(*) FROM remote_servers WHERE enabled = 1`, nil, 1},
	} {
		if got := count(c.q, c.args...); got != c.want {
			t.Errorf("%s = %d, want %d", c.q, got, c.want)
		}
	}
	var blobID, secretID string
	if err := queryRow(`SELECT blob_id FROM datasources WHERE id = ?`, want.CSVSource).Scan(&blobID); err != nil {
		t.Fatal(err)
	}
	f, err := r.Blobs.Open(blobID)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(f)
	f.Close()
	if string(data) != backuptest.SampleCSV {
		t.Fatalf("uploaded CSV after restore: %q", data)
	}
	if err := queryRow(`SELECT secret_id FROM datasources WHERE id = ?`, want.SQLSource).Scan(&secretID); err != nil {
		t.Fatal(err)
	}
	if got, err := r.DB.RevealSecret(ctx, secretID); err != nil || got != "s3cret-db-password" {
		t.Fatalf("data source password after restore: %q, %v", got, err)
	}
	total := want.AuditEntries + 1 // the seeded entries and the restore's
	if n := int64(len(allEntries(t, r.DB))); n != total {
		t.Fatalf("audit log reads %d entries across sealed and live, want %d seeded + 1 restore", n, want.AuditEntries)
	}
	last := lastSealed(total)
	if segs := segments(t, r.DB); int64(len(segs)) != total/sealSize || segs[len(segs)-1].LastSeq != last {
		t.Fatalf("restored sealed segments %+v, want seq 1-%d in %d", segs, last, total/sealSize)
	}
	if n := liveRows(t, r.DB); n != total-last {
		t.Fatalf("restored audit_log holds %d rows, want the live tail of %d (seq %d-%d)", n, total-last, last+1, total)
	}
	if action, _, _ := lastAudit(t, r.DB); action != bitnobi.ActionRestore {
		t.Fatalf("last audit action %s, want %s", action, bitnobi.ActionRestore)
	}
	checkSegmentVersions(t, r.Blobs, segments(t, r.DB), res.Manifest.Format, lastSealed(want.AuditEntries))
	if res.InstanceID != res.Manifest.InstanceID {
		t.Fatalf("instance id %s, want the backup's %s", res.InstanceID, res.Manifest.InstanceID)
	}
}

// goldenSegmentVersion is the version of store/auditseg that the golden
// backup of each format holding sealed segments was written with: format
// 5 shipped with version 2, and format 6 was made for version 3.
var goldenSegmentVersion = map[int]int{5: 2, 6: 3}

// TestSegmentVersionHasFormat keeps the segment version that sealing
// writes tied to a backup format: a backup of a new segment version
// under the old format number would pass an older bitnobi's format check
// and then fail on a segment it cannot read, as if damaged. A new
// auditseg.Version takes a new format.FormatVersion and a golden backup
// of it.
func TestSegmentVersionHasFormat(t *testing.T) {
	if got, want := goldenSegmentVersion[format.FormatVersion], auditseg.Version; got != want {
		t.Fatalf("format %d is listed with segment version %d, but sealing writes version %d: bump format.FormatVersion (docs/backup-format.md, Versioning rules) and add it to goldenSegmentVersion",
			format.FormatVersion, got, want)
	}
}

// checkSegmentVersions checks the version byte of each restored segment
// file: those that the golden backup of the given format held (up to seq
// last, from format 5) are of the version it was written with, and those
// the restore sealed (all of an older format's) of auditseg.Version.
func checkSegmentVersions(t *testing.T, blobs *blob.Store, segs []store.AuditSegment, backupFormat int, last int64) {
	t.Helper()
	if len(segs) == 0 {
		t.Fatal("no sealed segment restored")
	}
	for _, s := range segs {
		want := auditseg.Version
		if backupFormat >= 5 && s.LastSeq <= last {
			v, ok := goldenSegmentVersion[backupFormat]
			if !ok {
				t.Fatalf("golden backup of format %d: no segment version in goldenSegmentVersion", backupFormat)
			}
			want = v
		}
		f, err := blobs.Open(s.BlobID)
		if err != nil {
			t.Fatal(err)
		}
		x, err := auditseg.ReadIndex(f, s.Size, s.Entries)
		f.Close()
		if err != nil {
			t.Fatalf("segment %d-%d: %v", s.FirstSeq, s.LastSeq, err)
		}
		if x.Version != want {
			t.Errorf("segment %d-%d restored from a format-%d backup is of version %d, want %d", s.FirstSeq, s.LastSeq, backupFormat, x.Version, want)
		}
	}
}

// TestSealed_UpgradedKeepsV2Segments backs up, with today's format, an
// installation upgraded from a format-5 build (the golden format-5
// backup restored, then more history sealed): the segments it sealed
// before the upgrade stay of version 2 in the format-6 backup, byte for
// byte, beside the version-3 ones sealed since, and the backup restores
// into each engine and reads back whole.
func TestSealed_UpgradedKeepsV2Segments(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, engine string) {
		ctx := context.Background()
		golden := filepath.Join("testdata", "v5-schema6")
		old := lastSealed(readGoldenExpect(t, golden).AuditEntries)
		tmp := t.TempDir()
		key := filepath.Join(tmp, "master.key")
		backuptest.CopyKey(t, golden+".master.key", key)
		restore := func(from, to string) (*backuptest.DataDir, string) {
			t.Helper()
			return restoreInto(t, from, key, to, engine)
		}
		d, dsn := restore(golden, filepath.Join(tmp, "data"))
		appendAudit(t, d.DB, 2*sealSize)
		segs := segments(t, d.DB)
		if n := sealState(t, d); n <= len(segs) {
			t.Fatalf("%d segments after appends, want more than %d", n, len(segs))
		}
		segs = segments(t, d.DB)
		want := allEntries(t, d.DB)
		res, err := backup.Create(ctx, backup.CreateOptions{Local: sqlite.Local{}, DataDir: d.Dir.Path(),
			Folder: filepath.Join(tmp, "backup"), OpenDB: backuptest.OpenDB(dsn)})
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		if got, want := res.Manifest.Format, format.FormatVersion; got != want {
			t.Fatalf("format %d, want %d", got, want)
		}
		for i, path := range segmentFiles(t, res, segs) {
			f := res.Manifest.Files[slices.IndexFunc(res.Manifest.Files, func(f format.File) bool { return f.Path == path })]
			rc, err := format.OpenContent(res.Path, path, f.Encoding, nil)
			if err != nil {
				t.Fatal(err)
			}
			head := make([]byte, len(auditseg.Magic)+1)
			_, err = io.ReadFull(rc, head)
			rc.Close()
			if err != nil {
				t.Fatal(err)
			}
			want := auditseg.Version
			if segs[i].LastSeq <= old {
				want = goldenSegmentVersion[5]
			}
			if got := int(head[len(auditseg.Magic)]); string(head[:len(auditseg.Magic)]) != auditseg.Magic || got != want {
				t.Errorf("segment %d-%d in the format-%d backup: header %q, version %d, want %d",
					segs[i].FirstSeq, segs[i].LastSeq, res.Manifest.Format, head[:len(auditseg.Magic)], got, want)
			}
		}
		r, _ := restore(res.Path, filepath.Join(tmp, "again"))
		got := allEntries(t, r.DB)
		if len(got) != len(want)+1 || !slices.Equal(got[:len(want)], want) {
			t.Fatalf("restored log reads %d entries, want the backup's %d and the restore's", len(got), len(want))
		}
	})
}
