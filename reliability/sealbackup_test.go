package reliability_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/backup"
	"github.com/bitnobi/bitnobi/backup/backuptest"
	"github.com/bitnobi/bitnobi/backup/format"
	"github.com/bitnobi/bitnobi/internal/testutil"
	"github.com/bitnobi/bitnobi/store"
)

// sealedDataDir is seedDataDir with segs full segments of audit history
// more, sealed by "bitnobi audit seal", and a live tail after them.
func sealedDataDir(t *testing.T, path string, blobMiB int, marker, keyFrom string, segs int) {
	t.Helper()
	seedDataDir(t, path, blobMiB, marker, keyFrom)
	appendHistory(t, path, segs*store.DefaultAuditSegmentSize)
	mustRun(t, "audit", "seal", "--data-dir", path)
	if n := sealedSegments(t, path); n < segs {
		t.Fatalf("%s: %d sealed segments, want at least %d", path, n, segs)
	}
}

// appendHistory appends n audit entries to the data directory at path.
func appendHistory(t testing.TB, path string, n int) {
	t.Helper()
	d := backuptest.Open(t, path)
	defer d.Close()
	ctx := context.Background()
	es := make([]*bitnobi.AuditEntry, n)
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range es {
		es[i] = &bitnobi.AuditEntry{At: start.Add(time.Duration(i) * time.Second), ActorID: "u" + strconv.Itoa(i%13), ActorName: "user",
			Action: bitnobi.ActionDataSourceAccess, TargetType: "datasource", TargetID: strconv.Itoa(i), Detail: `{"name":"file.csv"}`, RemoteAddr: "192.0.2.1"}
	}
	if err := d.DB.WriteTx(ctx, func(tx *store.Tx) error { return tx.AppendAuditBatch(ctx, es) }); err != nil {
		t.Fatal(err)
	}
}

// segmentBlobFiles returns the paths, in the backup at dir, of the files
// of its sealed segments (the blobs audit_segments refers to).
func segmentBlobFiles(t testing.TB, dir string) []string {
	t.Helper()
	r, err := backup.OpenReader(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := r.Rows(context.Background(), "audit_segments")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	col := slices.IndexFunc(rows.Table().Columns, func(c format.Column) bool { return c.Name == "blob_id" })
	ids := map[string]bool{}
	for rows.Next() {
		ids[rows.Row()[col].(string)] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range r.Manifest().Files {
		if ids[f.Blob] {
			out = append(out, filepath.Join(dir, f.Path))
		}
	}
	if len(out) != len(ids) || len(out) == 0 {
		t.Fatalf("%s: %d segment files for %d sealed segments", dir, len(out), len(ids))
	}
	return out
}

// TestKillDuringSealedBackup kills "bitnobi backup" of a data directory
// with a sealed audit log at random moments, while it links the sealed
// segments from the previous backup (and, every other trial, while it
// writes them afresh). Afterwards nothing that is not a complete,
// verifying backup is listed, the next backup succeeds, links the
// segment files of the first backup, and the live data is unchanged.
func TestKillDuringSealedBackup(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	data, folder := filepath.Join(root, "data"), filepath.Join(root, "backups")
	sealedDataDir(t, data, prof.BlobMiB, "marker-live", "", 3)
	before := dump(t, data)
	want := mustRun(t, "audit", "verify", "--data-dir", data).Stdout

	start := time.Now()
	mustRun(t, "backup", "--quiet", "--data-dir", data, "--backup-dir", folder)
	full := time.Since(start)
	first := lastBackup(t, folder)
	firstSegs := segmentBlobFiles(t, first)
	rnd := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
	killed := 0
	for i := range prof.BackupKills {
		delay := time.Duration(rnd.Int64N(int64(full) + 1))
		wasKilled, r := killAfter(t, delay, "backup", "--quiet", "--data-dir", data, "--backup-dir", folder)
		if wasKilled {
			killed++
		} else if r.Code != 0 {
			t.Fatalf("trial %d: backup not killed but failed: %s", i, r)
		}
		checkListedVerify(t, folder)
		mustRun(t, "backup", "--quiet", "--data-dir", data, "--backup-dir", folder)
		if tmp := entries(t, folder, ".tmp-backup-"); len(tmp) > 0 {
			t.Fatalf("trial %d: after the next backup, temporary directories remain: %v", i, tmp)
		}
		checkListedVerify(t, folder)
		// The segments are linked from the first backup, whatever the
		// kill interrupted.
		last := segmentBlobFiles(t, lastBackup(t, folder))
		if i%2 == 0 {
			for j, p := range firstSegs {
				a, errA := os.Stat(p)
				b, errB := os.Stat(last[j])
				if errA != nil || errB != nil || !os.SameFile(a, b) {
					t.Fatalf("trial %d: segment file %s not linked from the first backup (%v, %v)", i, filepath.Base(p), errA, errB)
				}
			}
		}
		// Every other trial, start again from the first backup alone,
		// so that linking backups are killed too, not only no-change ones.
		if i%2 == 1 {
			for _, in := range mustList(t, folder) {
				if in.Path != first {
					os.RemoveAll(in.Path)
				}
			}
		}
		t.Logf("trial %d: killed=%v after %v", i, wasKilled, delay)
	}
	if after := dump(t, data); !after.equal(before) {
		t.Fatal("the live data changed during the killed backups")
	}
	if got := mustRun(t, "audit", "verify", "--data-dir", data).Stdout; got != want {
		t.Fatalf("audit verify after the trials printed %q, want %q", got, want)
	}
	record(t, "kill -9 during backup of a sealed audit log (segments linked)", prof.BackupKills,
		fmt.Sprintf("%d killed mid-way, others finished; listed backups verify, the next backup links the segments; nothing lost", killed))
}

// TestKillDuringSealedRestore kills an in-place "bitnobi restore" of
// backups with sealed segments at random moments. After recovery the
// data directory holds exactly the old state or exactly the new one,
// whose audit log verifies across the seal boundary, and the next
// restore succeeds.
func TestKillDuringSealedRestore(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	folder := filepath.Join(root, "backups")
	srcA, srcB := filepath.Join(root, "a"), filepath.Join(root, "b")
	sealedDataDir(t, srcA, prof.BlobMiB/2, "marker-A", "", 2)
	sealedDataDir(t, srcB, prof.BlobMiB/2, "marker-B", filepath.Join(srcA, "master.key"), 3)
	key := filepath.Join(root, "master.key")
	backuptest.CopyKey(t, filepath.Join(srcA, "master.key"), key)
	bk := map[string]string{}
	for name, src := range map[string]string{"A": srcA, "B": srcB} {
		bk[name] = testutil.LastLine(mustRun(t, "backup", "--quiet", "--data-dir", src, "--backup-dir", folder).Stdout)
	}
	want := map[string]*state{}
	var restoreTime time.Duration
	for name, b := range bk {
		dst := filepath.Join(root, "want-"+name)
		start := time.Now()
		mustRun(t, "restore", b, "--quiet", "--data-dir", dst, "--key-file", key)
		restoreTime = max(restoreTime, time.Since(start))
		want[name] = dump(t, dst)
		os.RemoveAll(dst)
	}
	which := func(s *state) string {
		for name, w := range want {
			if s.equal(w) {
				return name
			}
		}
		return ""
	}
	data := filepath.Join(root, "data")
	mustRun(t, "restore", bk["A"], "--quiet", "--data-dir", data, "--key-file", key)
	cur := "A"
	rnd := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 4))
	outcomes := map[string]int{}
	for i := range prof.RestoreKills {
		next := map[string]string{"A": "B", "B": "A"}[cur]
		delay := time.Duration(rnd.Int64N(int64(restoreTime) + 1))
		wasKilled, r := killAfter(t, delay, "restore", bk[next], "--quiet", "--discard-previous", "--data-dir", data, "--key-file", key)
		if !wasKilled && r.Code != 0 {
			t.Fatalf("trial %d: restore not killed but failed: %s", i, r)
		}
		if err := backup.RecoverInterruptedRestore(data); err != nil {
			t.Fatalf("trial %d: recover: %v", i, err)
		}
		got := which(dump(t, data))
		switch {
		case got == "":
			t.Fatalf("trial %d (killed=%v after %v): the data directory holds neither the old state %s nor the new %s", i, wasKilled, delay, cur, next)
		case !wasKilled && got != next:
			t.Fatalf("trial %d: finished restore left state %s, want %s", i, got, next)
		}
		if v := mustRun(t, "audit", "verify", "--data-dir", data).Stdout; !strings.HasPrefix(v, "audit chain OK") {
			t.Fatalf("trial %d: audit verify printed %q", i, v)
		}
		outcome := "old"
		if got == next {
			outcome = "new"
		}
		if wasKilled {
			outcomes["killed, "+outcome]++
		} else {
			outcomes["finished"]++
		}
		mustRun(t, "restore", bk[next], "--quiet", "--discard-previous", "--data-dir", data, "--key-file", key)
		if got := which(dump(t, data)); got != next {
			t.Fatalf("trial %d: restore after the kill gave state %q, want %s", i, got, next)
		}
		mustRun(t, "audit", "verify", "--data-dir", data)
		for _, prev := range entries(t, root, "data.before-restore-") {
			os.RemoveAll(filepath.Join(root, prev))
		}
		cur = next
		t.Logf("trial %d: killed=%v after %v: %s state", i, wasKilled, delay, outcome)
	}
	record(t, "kill -9 during restore of a sealed audit log (in place)", prof.RestoreKills,
		fmt.Sprintf("always the old or the new state, never a mix, audit chain verifying across the seal: %v; next restore always succeeded", outcomes))
}
