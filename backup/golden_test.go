package backup_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/backup"
	"github.com/bitnobi/bitnobi/backup/backuptest"
	"github.com/bitnobi/bitnobi/backup/format"
	"github.com/bitnobi/bitnobi/internal/testutil"
	"github.com/bitnobi/bitnobi/sqlite"
	"github.com/bitnobi/bitnobi/store"
)

// TestGolden restores every golden backup kept in testdata/, one per
// format and schema version that was ever released, with today's binary,
// and checks the content. Run with -update to (re)write the ones for the
// current versions; never regenerate an older one. Plain backups of
// formats 1, 3 and 4 are vN-schemaM, and encrypted ones of formats 3 and
// 4 vN-schemaM-encrypted (format 2's: v2-schemaM); a golden encrypted
// backup has its age identity in <dir>.identity (a test key, protecting
// nothing) instead of a master key file. From format 5 the golden state
// has a sealed audit log (segments of 4 entries) and a live tail; every
// golden backup, older ones included, restores to such a state, which
// reads back whole and verifies across the seal boundary.
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
	backuptest.Seed(t, d)
	// From format 5, a state with sealed history and a live tail: the
	// 13 seeded entries in segments of 4 (seq 1-3, 4-7, 8-11, ...), so
	// seq 1-11 sealed, 12-13 live.
	sealState(t, d)
	if n := liveRows(t, d.DB); n != 2 {
		t.Fatalf("golden state has %d live audit rows, want 2", n)
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

func checkGolden(t *testing.T, dir string) {
	ctx := context.Background()
	tmp := t.TempDir()
	// Segments of sealSize: whatever the format, the restored history
	// lands sealed, with a live tail.
	opts := backup.RestoreOptions{Local: sqlite.Local{}, AuditSegmentSize: sealSize}
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
	r := backuptest.Open(t, target)
	if v, err := r.DB.SchemaVersion(ctx); err != nil || v != store.LatestSchemaVersion() {
		t.Fatalf("restored schema version %d (%v), want %d", v, err, store.LatestSchemaVersion())
	}
	count := func(q string, args ...any) int {
		var n int
		if err := r.DB.Read.QueryRow(q, args...).Scan(&n); err != nil {
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
		{`SELECT COUNT(*) FROM user_attributes WHERE user_id = 'u-alice' AND key = 'department' AND value = 'Research'`, nil, 1},
		{`SELECT COUNT(*) FROM policies WHERE name = ? AND global = 0`, []any{"Acme — «partners»"}, 1},
		{`SELECT COUNT(*) FROM policy_attributes WHERE policy_id = 'p-it'`, nil, 2},
		{`SELECT COUNT(*) FROM workflow_policies WHERE workflow_id = 'wf-1' AND policy_id = 'p-it'`, nil, 1},
		{`SELECT COUNT(*) FROM reports WHERE id = 'rep-1'`, nil, 1},
		{`SELECT COUNT(*) FROM remote_servers WHERE enabled = 1`, nil, 1},
	} {
		if got := count(c.q, c.args...); got != c.want {
			t.Errorf("%s = %d, want %d", c.q, got, c.want)
		}
	}
	var blobID, secretID string
	if err := r.DB.Read.QueryRow(`SELECT blob_id FROM datasources WHERE id = 'ds-csv'`).Scan(&blobID); err != nil {
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
	if err := r.DB.Read.QueryRow(`SELECT secret_id FROM datasources WHERE id = 'ds-sql'`).Scan(&secretID); err != nil {
		t.Fatal(err)
	}
	if got, err := r.DB.RevealSecret(ctx, secretID); err != nil || got != "s3cret-db-password" {
		t.Fatalf("data source password after restore: %q, %v", got, err)
	}
	if n := len(allEntries(t, r.DB)); n != 14 {
		t.Fatalf("audit log reads %d entries across sealed and live, want 13 seeded + 1 restore", n)
	}
	if segs := segments(t, r.DB); len(segs) != 3 || segs[2].LastSeq != 11 {
		t.Fatalf("restored sealed segments %+v, want seq 1-11 in 3", segs)
	}
	if n := liveRows(t, r.DB); n != 3 {
		t.Fatalf("restored audit_log holds %d rows, want the live tail of 3 (seq 12-14)", n)
	}
	if action, _, _ := lastAudit(t, r.DB); action != bitnobi.ActionRestore {
		t.Fatalf("last audit action %s, want %s", action, bitnobi.ActionRestore)
	}
	if res.InstanceID != res.Manifest.InstanceID {
		t.Fatalf("instance id %s, want the backup's %s", res.InstanceID, res.Manifest.InstanceID)
	}
}
