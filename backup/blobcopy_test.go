package backup_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/backup"
	"github.com/bitnobi/bitnobi/backup/backuptest"
	"github.com/bitnobi/bitnobi/backup/format"
	"github.com/bitnobi/bitnobi/internal/seed"
	"github.com/bitnobi/bitnobi/sqlite"
	"github.com/bitnobi/bitnobi/store"
)

// copyWorkers is GOMAXPROCS in the tests of parallel blob copying, so
// that several goroutines copy blobs on any machine.
const copyWorkers = 4

// withProcs sets GOMAXPROCS to n until the test ends.
func withProcs(tb testing.TB, n int) {
	tb.Helper()
	old := runtime.GOMAXPROCS(n)
	tb.Cleanup(func() { runtime.GOMAXPROCS(old) })
}

// manyBlobs stores blobs of every kind a backup treats differently in d,
// each with its row, and returns their contents by id: small CSV (within
// the compression sample: one zstd frame), larger CSV (the sample's
// frame, then a frame of the rest), random bytes of both sizes (stored
// as they are) and an empty blob.
func manyBlobs(tb testing.TB, d *backuptest.DataDir) map[string][]byte {
	tb.Helper()
	var csv bytes.Buffer
	if _, err := seed.WriteCSV(&csv, 7, 12<<20); err != nil {
		tb.Fatal(err)
	}
	text := csv.Bytes()
	var contents [][]byte
	off := 0
	take := func(n int) []byte { b := text[off : off+n]; off += n; return b }
	for i := range 24 {
		contents = append(contents, take(1000+i*2500))
	}
	for i := range 5 {
		contents = append(contents, take(1<<20+i*300_000))
	}
	for i := range 8 {
		p := make([]byte, 5000+i*40_000)
		rand.Read(p)
		contents = append(contents, p)
	}
	for range 2 {
		p := make([]byte, 1<<20+100_000)
		rand.Read(p)
		contents = append(contents, p)
	}
	contents = append(contents, nil)
	return putBlobs(tb, d, contents...)
}

// putBlobs stores each content as a blob of d, with its row, and returns
// the contents by id.
func putBlobs(tb testing.TB, d *backuptest.DataDir, contents ...[]byte) map[string][]byte {
	tb.Helper()
	ctx := context.Background()
	out := map[string][]byte{}
	err := d.DB.WriteTx(ctx, func(tx *store.Tx) error {
		for _, c := range contents {
			id, size, err := d.Blobs.Put(ctx, bytes.NewReader(c), 0)
			if err != nil {
				return err
			}
			out[id] = c
			if _, err := tx.Exec(ctx, `INSERT INTO blobs (id, size, created_at) VALUES (?, ?, ?)`, id, size, bitnobi.FormatTime(tx.Now())); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// progressLog records a backup's progress reports and checks, as they
// come, that the blobs phase never goes back.
type progressLog struct {
	tb    testing.TB
	blobs []backup.Progress
}

func (l *progressLog) report(p backup.Progress) {
	if p.Phase != "blobs" {
		return
	}
	if n := len(l.blobs); n > 0 {
		last := l.blobs[n-1]
		if p.Items < last.Items || p.Bytes < last.Bytes {
			l.tb.Errorf("blobs progress went back: %+v after %+v", p, last)
		}
	}
	if p.Items > p.ItemsTotal || p.Bytes > p.BytesTotal {
		l.tb.Errorf("blobs progress beyond its totals: %+v", p)
	}
	l.blobs = append(l.blobs, p)
}

// encryptionCase is how a table test's backups are made: plain, or
// encrypted to an identity of its own.
type encryptionCase struct {
	name string
	// enc returns the options to encrypt with (nil: plain) and the keys
	// that open the backup (nil: none needed).
	enc func() (*format.EncryptOptions, *format.Keys)
}

// encryptionCases returns the plain and the encrypted case.
func encryptionCases(t *testing.T) []encryptionCase {
	return []encryptionCase{
		{"Plain", func() (*format.EncryptOptions, *format.Keys) { return nil, nil }},
		{"Encrypted", func() (*format.EncryptOptions, *format.Keys) {
			id := newIdentity(t)
			return toRecipients(id), format.NewKeys(id)
		}},
	}
}

// TestCreate_ParallelBlobs backs up many blobs of every kind on several
// goroutines: the backup holds the same files as one written on a single
// goroutine, its progress never goes back, it restores every blob intact,
// and the next backup links them all.
func TestCreate_ParallelBlobs(t *testing.T) {
	for _, c := range encryptionCases(t) {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			root := t.TempDir()
			d := backuptest.NewDataDir(t, filepath.Join(root, "data"))
			seeded := backuptest.Seed(t, d)
			want := manyBlobs(t, d)
			for id, data := range seeded.BlobData {
				want[id] = data
			}
			var rawTotal int64
			for _, data := range want {
				rawTotal += int64(len(data))
			}
			enc, keys := c.enc()
			create := func(procs int, folder string, progress func(backup.Progress)) *backup.Result {
				t.Helper()
				old := runtime.GOMAXPROCS(procs)
				defer runtime.GOMAXPROCS(old)
				res, err := backup.Create(ctx, backup.CreateOptions{Local: sqlite.Local{}, DataDir: d.Dir.Path(), Folder: folder, Encrypt: enc, Progress: progress})
				if err != nil {
					t.Fatalf("Create on %d procs: %v", procs, err)
				}
				return res
			}

			plog := &progressLog{tb: t}
			folder := filepath.Join(root, "backup")
			res := create(copyWorkers, folder, plog.report)
			st := res.Manifest.Stats
			if st.Blobs != int64(len(want)) || st.BlobBytes != rawTotal || st.FilesLinked != 0 {
				t.Fatalf("stats %+v, want %d blobs of %d bytes, none linked", st, len(want), rawTotal)
			}
			if len(plog.blobs) == 0 {
				t.Fatal("no blobs progress reported")
			}
			last := plog.blobs[len(plog.blobs)-1]
			if last.Items != int64(len(want)) || last.ItemsTotal != last.Items || last.Bytes != rawTotal || last.BytesTotal != rawTotal {
				t.Fatalf("last blobs progress %+v, want %d of %d blobs, %d of %d bytes", last, len(want), len(want), rawTotal, rawTotal)
			}

			// One goroutine writes the same files, in the same order (the
			// same bytes, unless encrypted: age encrypts each file under a
			// new random key).
			serial := create(1, filepath.Join(root, "serial"), nil)
			same := func(a, b format.File) bool {
				if enc != nil {
					a.SHA256, b.SHA256 = "", ""
				}
				return a == b
			}
			if got, want := res.Manifest.Files, serial.Manifest.Files; !slices.EqualFunc(got, want, same) {
				t.Fatalf("files written on %d goroutines differ from those written on one:\n%v\n%v", copyWorkers, got, want)
			}
			if got, want := res.Manifest.Stats, serial.Manifest.Stats; got != want {
				t.Fatalf("stats %+v, on one goroutine %+v", got, want)
			}
			if _, err := backup.Verify(ctx, res.Path, backup.VerifyOptions{Keys: keys}); err != nil {
				t.Fatalf("Verify: %v", err)
			}

			target := filepath.Join(root, "restored")
			mustRestore(t, res.Path, target, backup.RestoreOptions{Local: sqlite.Local{}, KeyFile: d.Dir.Key(), Keys: keys})
			r := backuptest.Open(t, target)
			checkBlobs(t, r, want)

			// The next backup links every blob file of this one.
			next := create(copyWorkers, folder, nil)
			st2 := next.Manifest.Stats
			var blobFileBytes int64
			for _, f := range res.Manifest.Files {
				if f.Blob != "" {
					blobFileBytes += f.Size
				}
			}
			// Tables are linked too, plain or encrypted: nothing changed
			// them.
			tableFiles, tableBytes := 0, int64(0)
			for _, f := range res.Manifest.Files {
				if f.Blob == "" {
					tableFiles++
					tableBytes += f.Size
				}
			}
			if st2.FilesLinked != int64(len(want)+tableFiles) || st2.BytesLinked != blobFileBytes+tableBytes || st2.Blobs != st.Blobs || st2.BlobBytes != st.BlobBytes {
				t.Fatalf("next backup's stats %+v, want all %d blob files (%d bytes) and %d table files linked", st2, len(want), blobFileBytes, tableFiles)
			}
			if got, want := st2.FilesWritten, int64(len(next.Manifest.Files)-len(want)-tableFiles); got != want {
				t.Fatalf("next backup wrote %d files, want %d (the tables not linked)", got, want)
			}
			if next.Manifest.Previous != res.Name {
				t.Fatalf("Previous=%q, want %q", next.Manifest.Previous, res.Name)
			}
			if _, err := backup.Verify(ctx, next.Path, backup.VerifyOptions{Keys: keys}); err != nil {
				t.Fatalf("Verify next: %v", err)
			}
		})
	}
}

// TestCreate_BlobFails: when one of many blobs copied side by side cannot
// be, the backup fails with that blob's error and leaves nothing that
// looks like a backup; once the blob is back, the next backup works.
func TestCreate_BlobFails(t *testing.T) {
	for _, c := range []struct {
		name   string
		damage func(t *testing.T, path string)
		want   string
	}{
		{"Missing", func(t *testing.T, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}, "its file is missing"},
		{"Damaged", func(t *testing.T, path string) {
			if err := os.Chmod(path, 0o600); err != nil {
				t.Fatal(err)
			}
			flipByte(t, path)
		}, "is damaged"},
	} {
		t.Run(c.name, func(t *testing.T) {
			withProcs(t, copyWorkers)
			root := t.TempDir()
			d := backuptest.NewDataDir(t, filepath.Join(root, "data"))
			blobs := manyBlobs(t, d)
			ids := make([]string, 0, len(blobs))
			for id := range blobs {
				ids = append(ids, id)
			}
			slices.Sort(ids)
			victim := ids[len(ids)/2]
			c.damage(t, d.Blobs.Path(victim))

			folder := filepath.Join(root, "backup")
			_, err := backup.Create(context.Background(), backup.CreateOptions{Local: sqlite.Local{}, DataDir: d.Dir.Path(), Folder: folder})
			if err == nil || !strings.Contains(err.Error(), victim) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Create err=%v, want blob %s %s", err, victim, c.want)
			}
			var he *backup.HintError
			if !errors.As(err, &he) || !strings.HasPrefix(err.Error(), "backup: ") {
				t.Fatalf("Create err=%v (%T), want a HintError wrapped as backup: ...", err, err)
			}
			assertOnlyLock(t, folder)

			if err := os.Remove(d.Blobs.Path(victim)); err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
			if _, _, err := d.Blobs.Put(context.Background(), bytes.NewReader(blobs[victim]), 0); err != nil {
				t.Fatal(err)
			}
			res := mustCreate(t, d.Dir.Path(), folder, nil)
			if len(res.RemovedTemp) != 0 || res.Manifest.Stats.Blobs != int64(len(blobs)) {
				t.Fatalf("backup after the repair: removed %v, stats %+v", res.RemovedTemp, res.Manifest.Stats)
			}
		})
	}
}

// TestCreate_CancelDuringBlobs cancels a backup while several goroutines
// copy its blobs: it returns context.Canceled, reports nothing more, and
// leaves no backup and no temporary directory.
func TestCreate_CancelDuringBlobs(t *testing.T) {
	withProcs(t, copyWorkers)
	root := t.TempDir()
	d := backuptest.NewDataDir(t, filepath.Join(root, "data"))
	manyBlobs(t, d)
	folder := filepath.Join(root, "backup")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var after int
	_, err := backup.Create(ctx, backup.CreateOptions{
		Local:   sqlite.Local{},
		DataDir: d.Dir.Path(), Folder: folder,
		Progress: func(p backup.Progress) {
			if ctx.Err() != nil {
				after++
			}
			if p.Phase == "blobs" {
				cancel()
			}
		},
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Create err=%v, want context.Canceled", err)
	}
	if after != 0 {
		t.Fatalf("%d progress reports after the cancel", after)
	}
	assertOnlyLock(t, folder)
}

// assertOnlyLock fails unless the backup folder holds only its lock file.
func assertOnlyLock(tb testing.TB, folder string) {
	tb.Helper()
	entries, err := os.ReadDir(folder)
	if err != nil {
		tb.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{".lock"}) {
		tb.Fatalf("backup folder holds %v, want only .lock", names)
	}
	infos, err := backup.Folder{Path: folder}.Backups()
	if err != nil || len(infos) != 0 {
		tb.Fatalf("List=%v, %v; want no backup", infos, err)
	}
}

// TestCreate_LargeBlobs backs up two large CSV blobs side by side: one is
// compressed on several goroutines at once, the other on its own, and
// both restore intact.
func TestCreate_LargeBlobs(t *testing.T) {
	withProcs(t, copyWorkers)
	root := t.TempDir()
	d := backuptest.NewDataDir(t, filepath.Join(root, "data"))
	const size = 16<<20 + 1
	var csv bytes.Buffer
	if _, err := seed.WriteCSV(&csv, 11, 2*size+1); err != nil {
		t.Fatal(err)
	}
	text := csv.Bytes()
	want := putBlobs(t, d, text[:size], text[size+1:2*size+1])
	res := mustCreate(t, d.Dir.Path(), filepath.Join(root, "backup"), nil)
	for _, f := range res.Manifest.Files {
		if f.Blob != "" && (f.Encoding != format.EncodingZstd || f.Size > f.RawSize/2) {
			t.Fatalf("blob file %+v, want CSV compressed", f)
		}
	}
	if _, err := backup.Verify(context.Background(), res.Path, backup.VerifyOptions{}); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	target := filepath.Join(root, "restored")
	mustRestore(t, res.Path, target, backup.RestoreOptions{Local: sqlite.Local{}, KeyFile: d.Dir.Key()})
	r := backuptest.Open(t, target)
	checkBlobs(t, r, want)
}

// TestCreate_BlobFrames backs up, plain and encrypted, CSV blobs larger
// than the compression sample, whose files hold the sample's zstd frame
// followed by a frame of the rest (for one, compressed on several
// goroutines), a CSV blob the size of the sample (one frame) and random
// bytes (stored as they are): the backup verifies, every blob restores
// intact, and progress counts each byte once.
func TestCreate_BlobFrames(t *testing.T) {
	withProcs(t, copyWorkers)
	const sample = 1 << 20      // the compression sample's size
	const big = sample + 16<<20 // leaves a rest compressed on several goroutines
	var csv bytes.Buffer
	if _, err := seed.WriteCSV(&csv, 13, big+5<<20); err != nil {
		t.Fatal(err)
	}
	text := csv.Bytes()
	random := make([]byte, 2<<20+77)
	rand.Read(random)
	contents := [][]byte{text[:big], text[big : big+3<<20+123], text[big+4<<20 : big+4<<20+sample], random}
	for _, c := range encryptionCases(t) {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			root := t.TempDir()
			d := backuptest.NewDataDir(t, filepath.Join(root, "data"))
			want := putBlobs(t, d, contents...)
			var total int64
			for _, data := range want {
				total += int64(len(data))
			}
			enc, keys := c.enc()
			plog := &progressLog{tb: t}
			res, err := backup.Create(ctx, backup.CreateOptions{Local: sqlite.Local{}, DataDir: d.Dir.Path(), Folder: filepath.Join(root, "backup"), Encrypt: enc, Progress: plog.report})
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			for _, f := range res.Manifest.Files {
				if f.Blob == "" {
					continue
				}
				wantEnc := format.EncodingZstd
				if bytes.Equal(want[f.Blob], random) {
					wantEnc = format.EncodingNone
				}
				if f.Encoding != wantEnc || f.RawSize != int64(len(want[f.Blob])) {
					t.Fatalf("blob file %+v, want encoding %s, raw size %d", f, wantEnc, len(want[f.Blob]))
				}
			}
			if n := len(plog.blobs); n == 0 || plog.blobs[n-1].Bytes != total {
				t.Fatalf("blobs progress %+v, want it to end at %d bytes", plog.blobs, total)
			}
			if _, err := backup.Verify(ctx, res.Path, backup.VerifyOptions{Keys: keys}); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			target := filepath.Join(root, "restored")
			mustRestore(t, res.Path, target, backup.RestoreOptions{Local: sqlite.Local{}, KeyFile: d.Dir.Key(), Keys: keys})
			checkBlobs(t, backuptest.Open(t, target), want)
		})
	}
}

// checkBlobs checks that the data directory r holds every blob of want
// (id -> content) intact.
func checkBlobs(t *testing.T, r *backuptest.DataDir, want map[string][]byte) {
	t.Helper()
	for id, data := range want {
		f, err := r.Blobs.Open(id)
		if err != nil {
			t.Fatalf("restored blob %s: %v", id, err)
		}
		got, err := io.ReadAll(f)
		f.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("restored blob %s: %d bytes (%v), want %d", id, len(got), err, len(data))
		}
	}
}
