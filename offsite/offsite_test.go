package offsite_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/backup"
	"github.com/bitnobi/bitnobi/backup/backuptest"
	"github.com/bitnobi/bitnobi/backup/format"
	"github.com/bitnobi/bitnobi/backup/retention"
	"github.com/bitnobi/bitnobi/offsite"
	"github.com/bitnobi/bitnobi/offsite/s3test"
	"github.com/bitnobi/bitnobi/sqlite"
	"github.com/bitnobi/bitnobi/store"
)

// fixture is a seeded data directory and its backup folder.
type fixture struct {
	data   *backuptest.DataDir
	folder string
	clock  time.Time
}

func newFixture(tb testing.TB) *fixture {
	tb.Helper()
	root := tb.TempDir()
	d := backuptest.NewDataDir(tb, filepath.Join(root, "data"))
	backuptest.Seed(tb, d)
	return &fixture{data: d, folder: filepath.Join(root, "backups"), clock: time.Date(2026, 11, 1, 2, 15, 0, 0, time.UTC)}
}

// backup writes a backup one hour after the previous one.
func (f *fixture) backup(tb testing.TB, encrypt *format.EncryptOptions) *backup.Result {
	tb.Helper()
	f.clock = f.clock.Add(time.Hour)
	now := f.clock
	res, err := backup.Create(context.Background(), backup.CreateOptions{
		Local:   sqlite.Local{},
		DataDir: f.data.Dir.Path(), Folder: f.folder, Encrypt: encrypt, Now: func() time.Time { return now },
	})
	if err != nil {
		tb.Fatal(err)
	}
	return res
}

// putBlobs stores each content as a blob with its row.
func (f *fixture) putBlobs(tb testing.TB, contents ...[]byte) {
	tb.Helper()
	ctx := context.Background()
	err := f.data.DB.WriteTx(ctx, func(tx *store.Tx) error {
		for _, c := range contents {
			id, size, err := f.data.Blobs.Put(ctx, bytes.NewReader(c), 0)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO blobs (id, size, created_at) VALUES (?, ?, ?)`, id, size, bitnobi.FormatTime(tx.Now())); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// newSums returns the distinct SHA-256 sums of b's files that a lacks.
func newSums(a, b *format.Manifest) int64 {
	have := map[string]bool{}
	if a != nil {
		for _, f := range a.Files {
			have[f.SHA256] = true
		}
	}
	var n int64
	for _, f := range b.Files {
		if !have[f.SHA256] {
			have[f.SHA256] = true
			n++
		}
	}
	return n
}

func push(tb testing.TB, r *offsite.Remote, dir string) *offsite.PushResult {
	tb.Helper()
	res, err := r.Push(context.Background(), dir, offsite.PushOptions{})
	if err != nil {
		tb.Fatalf("push %s: %v", filepath.Base(dir), err)
	}
	return res
}

func TestPushPull(t *testing.T) {
	s := s3test.Shared(t)
	f := newFixture(t)
	b := f.backup(t, nil)
	r := s.Open(t)
	ctx := context.Background()

	res := push(t, r, b.Path)
	if got, want := res.Uploaded, newSums(nil, b.Manifest); got != want || res.UpToDate {
		t.Fatalf("Uploaded=%d UpToDate=%v, want %d and false", got, res.UpToDate, want)
	}
	if got, want := res.URL, "s3://"+s.Target.Bucket+"/"+s.Target.Prefix+"/"+b.Name; got != want {
		t.Errorf("URL=%q, want %q", got, want)
	}

	entries, err := r.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || !entries[0].Complete || entries[0].Name != b.Name || entries[0].Manifest == nil {
		t.Fatalf("List()=%+v, want the one complete backup %s", entries, b.Name)
	}
	if got, want := entries[0].Manifest.ManifestChecksum, b.Manifest.ManifestChecksum; got != want {
		t.Errorf("remote manifest checksum %s, want %s", got, want)
	}
	var size, distinctSize int64
	seen := map[string]bool{}
	for _, fl := range b.Manifest.Files {
		size += fl.Size
		if !seen[fl.SHA256] {
			seen[fl.SHA256] = true
			distinctSize += fl.Size
		}
	}
	if e := entries[0]; e.Size <= size || e.Unique != distinctSize {
		t.Errorf("Size=%d Unique=%d; want more than the files' %d, and %d", e.Size, e.Unique, size, distinctSize)
	}

	vr, err := r.Verify(ctx, b.Name, nil)
	if err != nil || vr.Err() != nil {
		t.Fatalf("Verify: %v, %v", err, vr.Err())
	}
	if got, want := vr.Files, int64(len(b.Manifest.Files)); got != want {
		t.Errorf("Verify read %d files, want %d", got, want)
	}

	// Pulled into another folder, the backup is the same backup.
	other := filepath.Join(t.TempDir(), "backups")
	pr, err := r.Pull(ctx, b.Name, backup.ImportOptions{Folder: other})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := pr.Name, b.Name; got != want {
		t.Errorf("pulled as %s, want %s", got, want)
	}
	if _, err := backup.Verify(ctx, pr.Path, backup.VerifyOptions{}); err != nil {
		t.Fatalf("pulled backup does not verify: %v", err)
	}
	local, _ := os.ReadFile(filepath.Join(b.Path, format.ManifestName))
	pulled, _ := os.ReadFile(filepath.Join(pr.Path, format.ManifestName))
	if !bytes.Equal(local, pulled) {
		t.Error("pulled manifest.json differs from the local one")
	}

	// A second push sends nothing.
	before := r.Uploads()
	again := push(t, r, b.Path)
	if !again.UpToDate || again.Uploaded != 0 || r.Uploads() != before {
		t.Errorf("second push: UpToDate=%v Uploaded=%d, %d uploads; want true, 0, 0", again.UpToDate, again.Uploaded, r.Uploads()-before)
	}
}

func TestPush_Incremental(t *testing.T) {
	s := s3test.Shared(t)
	f := newFixture(t)
	f.putBlobs(t, randomBytes(300_000), randomBytes(200_000))
	b1 := f.backup(t, nil)
	r := s.Open(t)
	push(t, r, b1.Path)

	// Nothing changed: the next backup's files are all in the bucket.
	b2 := f.backup(t, nil)
	before := r.Uploads()
	res := push(t, r, b2.Path)
	if res.UpToDate || res.Uploaded != 0 || res.UploadedBytes != 0 {
		t.Errorf("push of an unchanged backup: Uploaded=%d (%d bytes) UpToDate=%v, want 0 and false", res.Uploaded, res.UploadedBytes, res.UpToDate)
	}
	// Only its manifest (and the pending one) went up.
	if got, want := r.Uploads()-before, 2; got != want {
		t.Errorf("%d objects uploaded, want %d (pending-manifest.json and manifest.json)", got, want)
	}

	// One new blob: only it and the changed segments go up.
	f.putBlobs(t, randomBytes(100_000))
	b3 := f.backup(t, nil)
	res = push(t, r, b3.Path)
	if got, want := res.Uploaded, newSums(b2.Manifest, b3.Manifest); got != want || got == 0 || got >= res.Files {
		t.Errorf("push after one new blob: Uploaded=%d of %d, want %d", got, res.Files, want)
	}
	if res.UploadedBytes >= res.Bytes-500_000 {
		t.Errorf("UploadedBytes=%d of %d: the unchanged blobs were sent again", res.UploadedBytes, res.Bytes)
	}
}

func TestPush_ServerStoppedMidUpload(t *testing.T) {
	s := s3test.Start(t)
	f := newFixture(t)
	f.putBlobs(t, randomBytes(400_000), randomBytes(400_000), randomBytes(400_000), randomBytes(400_000))
	b := f.backup(t, nil)
	r := s.Open(t)
	r.Concurrency = 1
	ctx := context.Background()

	stopped := false
	_, err := r.Push(ctx, b.Path, offsite.PushOptions{Progress: func(p backup.Progress) {
		if p.Items >= 2 && !stopped {
			stopped = true
			s.Stop()
		}
	}})
	if !stopped {
		t.Fatal("the push ended before the server was stopped")
	}
	if !errors.Is(err, offsite.ErrUnreachable) {
		t.Fatalf("push with the server stopped: %v, want ErrUnreachable", err)
	}
	if hint := backup.Hint(err); !strings.Contains(hint, "BITNOBI_S3_ENDPOINT") {
		t.Errorf("hint %q does not name BITNOBI_S3_ENDPOINT", hint)
	}

	s.Restart(t)
	r = s.Open(t)
	entries, err := r.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Complete {
		t.Fatalf("after the interrupted push, List()=%+v, want one incomplete backup", entries)
	}
	if _, _, err := r.Manifest(ctx, b.Name); !errors.Is(err, offsite.ErrNotFound) {
		t.Errorf("Manifest of the half-pushed backup: %v, want ErrNotFound", err)
	}
	if _, err := r.Pull(ctx, b.Name, backup.ImportOptions{Folder: t.TempDir()}); !errors.Is(err, offsite.ErrNotFound) {
		t.Errorf("Pull of the half-pushed backup: %v, want ErrNotFound", err)
	}

	res := push(t, r, b.Path)
	total := newSums(nil, b.Manifest)
	if res.Uploaded == 0 || res.Uploaded >= total {
		t.Errorf("second push uploaded %d of %d files, want what the first one had not", res.Uploaded, total)
	}
	vr, err := r.Verify(ctx, b.Name, nil)
	if err != nil || vr.Err() != nil {
		t.Fatalf("Verify after the second push: %v, %v", err, vr.Err())
	}
	entries, _ = r.List(ctx)
	if len(entries) != 1 || !entries[0].Complete {
		t.Errorf("after the second push, List()=%+v, want one complete backup", entries)
	}
}

func TestOpen_Errors(t *testing.T) {
	s := s3test.Shared(t)
	ctx := context.Background()
	t.Run("ErrWrongSecret", func(t *testing.T) {
		tg := s.Target
		tg.SecretAccessKey = "not-the-secret-key"
		_, err := offsite.Open(ctx, tg)
		if !errors.Is(err, offsite.ErrAccessDenied) || !strings.Contains(err.Error(), "wrong secret key") {
			t.Fatalf("Open: %v, want ErrAccessDenied naming the wrong secret key", err)
		}
	})
	t.Run("ErrUnknownAccessKey", func(t *testing.T) {
		tg := s.Target
		tg.AccessKeyID = "nobody"
		_, err := offsite.Open(ctx, tg)
		if !errors.Is(err, offsite.ErrAccessDenied) {
			t.Fatalf("Open: %v, want ErrAccessDenied", err)
		}
	})
	t.Run("ErrNoBucket", func(t *testing.T) {
		tg := s.Target
		tg.Bucket = "no-such-bucket"
		_, err := offsite.Open(ctx, tg)
		if !errors.Is(err, offsite.ErrNoBucket) || !strings.Contains(err.Error(), "no-such-bucket") {
			t.Fatalf("Open: %v, want ErrNoBucket naming the bucket", err)
		}
	})
	t.Run("ErrUnreachable", func(t *testing.T) {
		tg := s.Target
		tg.Endpoint = "http://127.0.0.1:1"
		_, err := offsite.Open(ctx, tg)
		if !errors.Is(err, offsite.ErrUnreachable) {
			t.Fatalf("Open: %v, want ErrUnreachable", err)
		}
	})
	t.Run("ErrConfig", func(t *testing.T) {
		tg := s.Target
		tg.Bucket = ""
		if _, err := offsite.Open(ctx, tg); !errors.Is(err, offsite.ErrConfig) {
			t.Fatalf("Open without a bucket: %v, want ErrConfig", err)
		}
	})
}

func TestVerify_AlteredObject(t *testing.T) {
	s := s3test.Shared(t)
	if s.Dir == "" {
		t.Fatal(s3test.EnvDir + " is not set: cannot alter an object behind the server's back")
	}
	f := newFixture(t)
	b := f.backup(t, nil)
	r := s.Open(t)
	push(t, r, b.Path)
	ctx := context.Background()

	var victim format.File
	for _, fl := range b.Manifest.Files {
		if strings.HasPrefix(fl.Path, "tables/users.") {
			victim = fl
		}
	}
	p := s.ObjectPath(s.Key("data/" + victim.SHA256[:2] + "/" + victim.SHA256))
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0x01
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}

	vr, err := r.Verify(ctx, b.Name, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(vr.Problems) != 1 || vr.Problems[0].Path != victim.Path {
		t.Fatalf("Verify problems %+v, want one, for %s", vr.Problems, victim.Path)
	}
	if err := vr.Err(); !errors.Is(err, backup.ErrChecksumMismatch) || !errors.Is(err, backup.ErrVerify) {
		t.Fatalf("Verify: %v, want a checksum mismatch", err)
	}

	// Pull refuses it, and leaves the folder without it.
	folder := t.TempDir()
	if _, err := r.Pull(ctx, b.Name, backup.ImportOptions{Folder: folder}); !errors.Is(err, backup.ErrVerify) {
		t.Fatalf("Pull of an altered backup: %v, want ErrVerify", err)
	}
	if infos, _ := (backup.Folder{Path: folder}).Backups(); len(infos) != 0 {
		t.Errorf("after a refused pull the folder holds %+v", infos)
	}
	if _, err := r.Unpack(ctx, b.Name, t.TempDir(), "x-", backup.UnpackOptions{}); !errors.Is(err, backup.ErrVerify) {
		t.Fatalf("Unpack of an altered backup: %v, want ErrVerify", err)
	}

	// An ordinary push trusts what is there; a repair mends it.
	if res := push(t, r, b.Path); !res.UpToDate {
		t.Errorf("push of a complete backup: %+v, want UpToDate", res)
	}
	res, err := r.Push(ctx, b.Path, offsite.PushOptions{Repair: true})
	if err != nil || res.Repaired != 1 || res.Uploaded != 1 {
		t.Fatalf("push --repair: %+v, %v; want 1 object repaired", res, err)
	}
	if vr, err := r.Verify(ctx, b.Name, nil); err != nil || vr.Err() != nil {
		t.Fatalf("Verify after the repair: %v %v", err, vr.Err())
	}

	// A missing object too.
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	vr, err = r.Verify(ctx, b.Name, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := vr.Err(); !errors.Is(err, backup.ErrMissingFile) {
		t.Fatalf("Verify with an object gone: %v, want ErrMissingFile", err)
	}
	if res, err := r.Push(ctx, b.Path, offsite.PushOptions{Repair: true}); err != nil || res.Uploaded != 1 {
		t.Fatalf("push --repair of a missing object: %+v, %v; want it sent again", res, err)
	}
	if vr, err := r.Verify(ctx, b.Name, nil); err != nil || vr.Err() != nil {
		t.Fatalf("Verify after the second repair: %v %v", err, vr.Err())
	}
}

func TestPush_DamagedLocalFile(t *testing.T) {
	s := s3test.Shared(t)
	f := newFixture(t)
	f.putBlobs(t, randomBytes(50_000))
	b := f.backup(t, nil)
	var victim format.File
	for _, fl := range b.Manifest.Files {
		if fl.Size == 50_000 {
			victim = fl
		}
	}
	p := filepath.Join(b.Path, filepath.FromSlash(victim.Path))
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	data[100] ^= 0x01 // same size, other bytes
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	r := s.Open(t)
	_, err = r.Push(context.Background(), b.Path, offsite.PushOptions{})
	if !errors.Is(err, backup.ErrChecksumMismatch) || !strings.Contains(err.Error(), victim.Path) {
		t.Fatalf("push of a damaged backup: %v, want a checksum mismatch naming %s", err, victim.Path)
	}
	if _, err := os.Stat(s.ObjectPath(s.Key("data/" + victim.SHA256[:2] + "/" + victim.SHA256))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the damaged file is stored under the right content's name: %v", err)
	}
	if _, _, err := r.Manifest(context.Background(), b.Name); !errors.Is(err, offsite.ErrNotFound) {
		t.Errorf("the damaged backup looks complete remotely: %v", err)
	}
}

func TestPush_Conflict(t *testing.T) {
	s := s3test.Shared(t)
	f := newFixture(t)
	b1 := f.backup(t, nil)
	f.putBlobs(t, randomBytes(1000))
	b2 := f.backup(t, nil)
	r := s.Open(t)
	push(t, r, b1.Path)
	_, err := r.Push(context.Background(), b2.Path, offsite.PushOptions{Name: b1.Name})
	if !errors.Is(err, offsite.ErrConflict) {
		t.Fatalf("push of another backup under the name %s: %v, want ErrConflict", b1.Name, err)
	}
	m, _, err := r.Manifest(context.Background(), b1.Name)
	if err != nil || m.ManifestChecksum != b1.Manifest.ManifestChecksum {
		t.Fatalf("the remote %s was replaced: %v", b1.Name, err)
	}
}

func TestPush_Encrypted(t *testing.T) {
	s := s3test.Shared(t)
	f := newFixture(t)
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	b := f.backup(t, &format.EncryptOptions{Recipients: []age.Recipient{id.Recipient()}})
	r := s.Open(t)
	push(t, r, b.Path)
	ctx := context.Background()

	// The objects are the backup's files as they are: ciphertext.
	for _, fl := range b.Manifest.Public().Files {
		local, err := os.ReadFile(filepath.Join(b.Path, filepath.FromSlash(fl.Path)))
		if err != nil {
			t.Fatal(err)
		}
		remote, err := os.ReadFile(s.ObjectPath(s.Key("data/" + fl.SHA256[:2] + "/" + fl.SHA256)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(local, remote) {
			t.Fatalf("object of %s differs from the local file", fl.Path)
		}
		if bytes.Contains(remote, []byte("Alice,Bitnobi,IT")) {
			t.Fatalf("object of %s holds plain text of the sample CSV", fl.Path)
		}
	}
	// Pulled with the identity, it verifies completely.
	pr, err := r.Pull(ctx, b.Name, backup.ImportOptions{Folder: t.TempDir(), UnpackOptions: backup.UnpackOptions{Keys: format.NewKeys(id)}})
	if err != nil {
		t.Fatal(err)
	}
	if !pr.Manifest.Encrypted() {
		t.Error("the pulled backup is not encrypted")
	}
}

func TestPrune(t *testing.T) {
	s := s3test.Shared(t)
	f := newFixture(t)
	r := s.Open(t)
	ctx := context.Background()
	var results []*backup.Result
	for i := range 3 {
		f.putBlobs(t, randomBytes(10_000+i))
		b := f.backup(t, nil)
		push(t, r, b.Path)
		results = append(results, b)
	}
	newest := results[2]

	if _, err := r.Prune(ctx, offsite.PruneOptions{}); !errors.Is(err, backup.ErrEmptyPolicy) {
		t.Fatalf("Prune with an empty policy: %v, want ErrEmptyPolicy", err)
	}
	dry, err := r.Prune(ctx, offsite.PruneOptions{Policy: retention.Policy{Last: 1}, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(dry.Removed) != 2 || dry.Objects == 0 {
		t.Fatalf("dry run: Removed=%v Objects=%d, want 2 backups and some objects", dry.Removed, dry.Objects)
	}
	if entries, _ := r.List(ctx); len(entries) != 3 {
		t.Fatalf("a dry run removed backups: %d left", len(entries))
	}

	res, err := r.Prune(ctx, offsite.PruneOptions{Policy: retention.Policy{Last: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.Objects, dry.Objects; got != want {
		t.Errorf("removed %d objects, the dry run said %d", got, want)
	}
	entries, err := r.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name != newest.Name {
		t.Fatalf("after prune, List()=%+v, want only %s", entries, newest.Name)
	}
	// Every object the kept backup uses is still there, and nothing else.
	vr, err := r.Verify(ctx, newest.Name, nil)
	if err != nil || vr.Err() != nil {
		t.Fatalf("the kept backup does not verify: %v %v", err, vr.Err())
	}
	again, err := r.Prune(ctx, offsite.PruneOptions{Policy: retention.Policy{Last: 1}})
	if err != nil || again.Objects != 0 || len(again.Removed) != 0 {
		t.Fatalf("second prune: %+v, %v; want nothing left to remove", again, err)
	}
}

func TestParseURL(t *testing.T) {
	for _, tc := range []struct{ in, bucket, prefix, name string }{
		{"s3://b/backup-20261101_0315", "b", "", "backup-20261101_0315"},
		{"s3://b/a/c/backup-20261101_0315", "b", "a/c", "backup-20261101_0315"},
		{"s3://b/p/backup-20261101_0315/", "b", "p", "backup-20261101_0315"},
	} {
		b, p, n, err := offsite.ParseURL(tc.in)
		if err != nil || b != tc.bucket || p != tc.prefix || n != tc.name {
			t.Errorf("ParseURL(%q)=%q,%q,%q,%v; want %q,%q,%q", tc.in, b, p, n, err, tc.bucket, tc.prefix, tc.name)
		}
	}
	for _, in := range []string{"s3://b", "s3://b/", "http://b/x", "s3://b/p/.tmp-backup-x", "s3://b/p/.."} {
		if _, _, _, err := offsite.ParseURL(in); !errors.Is(err, offsite.ErrConfig) {
			t.Errorf("ParseURL(%q): %v, want ErrConfig", in, err)
		}
	}
}

func TestPrune_PendingPush(t *testing.T) {
	s := s3test.Shared(t)
	f := newFixture(t)
	r := s.Open(t)
	b1 := f.backup(t, nil)
	push(t, r, b1.Path)
	f.putBlobs(t, randomBytes(60_000), randomBytes(60_000), randomBytes(60_000))
	b2 := f.backup(t, nil)

	// A push interrupted after its first upload: pending, not complete.
	ctx, cancel := context.WithCancel(context.Background())
	r.Concurrency = 1
	_, err := r.Push(ctx, b2.Path, offsite.PushOptions{Progress: func(p backup.Progress) {
		if p.Items >= 1 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted push: %v, want context.Canceled", err)
	}

	// A prune keeps what the pending push sent.
	res, err := r.Prune(context.Background(), offsite.PruneOptions{Policy: retention.Policy{Last: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Pending) != 1 || res.Pending[0] != b2.Name || res.Objects != 0 || len(res.Removed) != 0 {
		t.Fatalf("prune beside a pending push: %+v, want it pending and nothing removed", res)
	}

	// Two days later the pending push is stale: it and its objects go.
	r.Now = func() time.Time { return time.Now().Add(48 * time.Hour) }
	res, err = r.Prune(context.Background(), offsite.PruneOptions{Policy: retention.Policy{Last: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.StalePending) != 1 || res.Objects == 0 {
		t.Fatalf("prune after the grace period: %+v, want the stale push and its objects removed", res)
	}
	if entries, _ := r.List(context.Background()); len(entries) != 1 || entries[0].Name != b1.Name {
		t.Fatalf("after prune, List()=%+v, want only %s", entries, b1.Name)
	}
	if vr, err := r.Verify(context.Background(), b1.Name, nil); err != nil || vr.Err() != nil {
		t.Fatalf("the complete backup lost objects: %v %v", err, vr.Err())
	}
	// Pushing b2 now sends what the prune removed and completes it.
	r.Now = time.Now
	if res := push(t, r, b2.Path); res.Uploaded == 0 {
		t.Errorf("push after the prune sent nothing")
	}
}
