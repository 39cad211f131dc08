package seed_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/blob"
	"github.com/bitnobi/bitnobi/internal/seed"
	"github.com/bitnobi/bitnobi/secret"
	"github.com/bitnobi/bitnobi/sqlite"
	"github.com/bitnobi/bitnobi/store"
)

// tiny is a size small enough for a unit test that still has a little of
// everything.
var tiny = seed.Size{Name: "tiny", Users: 6, Policies: 5, SQLSources: 2, Workflows: 8, Runs: 3, Reports: 3, Remotes: 2,
	UploadBytes: 400 << 10, MinUpload: 10 << 10, MaxUpload: 200 << 10, MedianUpload: 40 << 10, Audit: 1500}

// minimal is the smallest size that seeds at all.
var minimal = seed.Size{Name: "minimal", Users: 2, UploadBytes: 10 << 10, MinUpload: 10 << 10, MaxUpload: 10 << 10, MedianUpload: 10 << 10}

func openDB(tb testing.TB, dir string) *store.DB {
	tb.Helper()
	ctx := context.Background()
	key, _, err := secret.LoadOrCreateKeyFile(filepath.Join(dir, "master.key"))
	if err != nil {
		tb.Fatal(err)
	}
	db, err := sqlite.Open(ctx, filepath.Join(dir, "bitnobi.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	db.Key, db.Blobs = key, blob.NewStore(filepath.Join(dir, "blobs"))
	return db
}

// logical returns what must be equal between two seeds with the same
// seed: everything but record IDs and what depends on them.
func logical(tb testing.TB, db *store.DB) map[string][]string {
	tb.Helper()
	ctx := context.Background()
	out := map[string][]string{}
	q := func(name, query string) {
		rows, err := db.Read.QueryContext(ctx, query)
		if err != nil {
			tb.Fatalf("%s: %v", name, err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				tb.Fatal(err)
			}
			b, _ := json.Marshal(vals)
			out[name] = append(out[name], string(b))
		}
		if err := rows.Err(); err != nil {
			tb.Fatal(err)
		}
	}
	q("users", `SELECT username, email, is_admin, created_at FROM users ORDER BY username`)
	q("user_attributes", `SELECT u.username, a.key, a.value FROM user_attributes a JOIN users u ON u.id = a.user_id ORDER BY 1, 2`)
	q("policies", `SELECT p.name, p.description, p.global, u.username, p.created_at, p.updated_at FROM policies p JOIN users u ON u.id = p.owner_id ORDER BY p.name`)
	// Sealed segments hold hashes over record IDs, which differ.
	q("blobs", `SELECT id, size FROM blobs WHERE id NOT IN (SELECT blob_id FROM audit_segments) ORDER BY id`)
	q("datasources", `SELECT name, kind, filename, blob_id, size, sql_host, sql_query, created_at FROM datasources ORDER BY created_at`)
	q("workflows", `SELECT name, description, exportables, created_at, updated_at FROM workflows ORDER BY created_at`)
	q("runs", `SELECT w.name, r.status, r.result_blob_id, r.result_rows, r.started_at FROM workflow_runs r JOIN workflows w ON w.id = r.workflow_id ORDER BY r.started_at`)
	q("reports", `SELECT name, charts, created_at FROM reports ORDER BY created_at`)
	q("remotes", `SELECT name, url, service_id, enabled FROM remote_servers ORDER BY name`)
	q("audit", `SELECT seq, at, actor_name, action, target_type, remote_addr, remote_user FROM audit_log ORDER BY seq`)
	q("audit_segments", `SELECT first_seq, last_seq, entries, first_at, last_at, actions, target_types FROM audit_segments ORDER BY first_seq`)
	return out
}

func seedDir(tb testing.TB, n uint64, mutate bool) (*store.DB, map[string][]string) {
	tb.Helper()
	dir := tb.TempDir()
	db := openDB(tb, dir)
	// Small segments, so that the seed seals some of its audit log.
	db.AuditSegmentSize = 256
	s := &seed.Seeder{DB: db, Size: tiny, Seed: n}
	if _, err := s.Fill(context.Background()); err != nil {
		tb.Fatal(err)
	}
	if mutate {
		m := &seed.Seeder{DB: db, Size: tiny, Seed: n}
		if _, err := m.Mutate(context.Background()); err != nil {
			tb.Fatal(err)
		}
	}
	return db, logical(tb, db)
}

func TestFill_Deterministic(t *testing.T) {
	db, a := seedDir(t, 7, true)
	_, b := seedDir(t, 7, true)
	for name, rows := range a {
		if !slices.Equal(rows, b[name]) {
			t.Errorf("%s differs between two seeds with the same seed:\n%v\n%v", name, rows, b[name])
		}
	}
	var c7, c8 bytes.Buffer
	seed.WriteCSV(&c7, 7, 64<<10)
	seed.WriteCSV(&c8, 8, 64<<10)
	if bytes.Equal(c7.Bytes(), c8.Bytes()) {
		t.Error("seeds 7 and 8 make the same files")
	}

	// What was made is what the server reads: the audit chain verifies,
	// across the segments sealed at the end, and the counts are the
	// size's.
	n, _, err := db.VerifyAudit(context.Background(), db.Read)
	if err != nil {
		t.Fatal(err)
	}
	segs, err := store.AuditSegments(context.Background(), db.Read)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := int64(len(segs)), (n-1)/256; got != want {
		t.Errorf("sealed segments = %d, want %d", got, want)
	}
	if want := int64(tiny.Audit + tiny.Audit/100); n < want {
		t.Errorf("audit entries = %d, want at least %d", n, want)
	}
	if got := len(a["users"]); got != tiny.Users+1 {
		t.Errorf("users = %d, want %d (one signed up by the mutation)", got, tiny.Users+1)
	}
	for _, row := range a["runs"] {
		var v []any
		json.Unmarshal([]byte(row), &v)
		if v[1] != bitnobi.RunSucceeded {
			t.Errorf("run %v did not succeed", v)
		}
	}
}

func TestFill_RefusesSeeded(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, dir)
	s := &seed.Seeder{DB: db, Size: minimal, Seed: 1}
	if _, err := s.Fill(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := (&seed.Seeder{DB: db, Size: minimal, Seed: 1}).Fill(context.Background()); err != seed.ErrSeeded {
		t.Fatalf("second Fill: %v, want ErrSeeded", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "blobs")); err != nil {
		t.Fatal(err)
	}
}

func TestFillKnown(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, t.TempDir())
	k, err := seed.FillKnown(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	got := logical(t, db)
	if want := []string{`["admin","admin@example.org",1,`, `["alice","alice@example.org",0,`, `["bob","bob@example.org",0,`}; len(got["users"]) != len(want) {
		t.Fatalf("users %v, want admin, alice, bob", got["users"])
	} else {
		for i, w := range want {
			if !strings.HasPrefix(got["users"][i], w) {
				t.Errorf("user %d = %s, want %s...", i, got["users"][i], w)
			}
		}
	}
	if !slices.Contains(got["user_attributes"], `["alice","department","Research"]`) {
		t.Errorf("alice's attributes %v lack department=Research", got["user_attributes"])
	}
	if !k.ITPolicy.Global || k.AcmePolicy.Global || k.AcmePolicy.OwnerID != k.Alice.ID {
		t.Errorf("policies %+v, %+v: want a global one and alice's own", k.ITPolicy, k.AcmePolicy)
	}
	if k.Run.Status != bitnobi.RunSucceeded || k.Run.ResultRows != 2 || k.Report.WorkflowID != k.Workflow.ID {
		t.Errorf("run %+v, report %+v", k.Run, k.Report)
	}
	rc, err := db.Blobs.Open(k.CSVSource.BlobID)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || string(data) != seed.KnownCSV {
		t.Errorf("uploaded file %q, %v; want KnownCSV", data, err)
	}
	pw, err := (&store.RemoteServerService{DB: db}).Password(ctx, k.Remote.ID)
	if err != nil || pw != seed.KnownRemotePassword {
		t.Errorf("remote server password %q, %v", pw, err)
	}
	if _, smtp, err := (&store.SettingsService{DB: db}).EmailConfig(ctx); err != nil || smtp != seed.KnownSMTPPassword {
		t.Errorf("SMTP password %q, %v", smtp, err)
	}
	// One audit entry a change, chained as the server chains them.
	if n, _, err := store.VerifyAudit(ctx, db.Read); err != nil || n != int64(len(got["audit"])) || n < 15 {
		t.Errorf("audit log: %d entries (%d read), %v", n, len(got["audit"]), err)
	}
	if _, err := seed.FillKnown(ctx, db); err != seed.ErrSeeded {
		t.Fatalf("second FillKnown: %v, want ErrSeeded", err)
	}
}

func TestMutate_NotSeeded(t *testing.T) {
	db := openDB(t, t.TempDir())
	if _, err := (&seed.Seeder{DB: db, Size: tiny, Seed: 1}).Mutate(context.Background()); err == nil {
		t.Fatal("Mutate on an empty database succeeded")
	}
}

// BenchmarkAppendAudit measures how fast the seed writes audit entries
// and seals them (the bulk of seeding M and L): 100,000 entries, as S, of
// which all but the head's segment and the last one are sealed segments.
func BenchmarkAppendAudit(b *testing.B) {
	size := tiny
	size.Audit = 100_000
	for b.Loop() {
		b.StopTimer()
		db := openDB(b, b.TempDir())
		b.StartTimer()
		if _, err := (&seed.Seeder{DB: db, Size: size, Seed: 1}).Fill(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(size.Audit)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}
