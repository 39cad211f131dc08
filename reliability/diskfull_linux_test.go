//go:build linux

package reliability_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bitnobi/bitnobi/internal/testutil"
)

// mountTmpfs mounts a tmpfs of size bytes at dir and unmounts it when the
// test ends. It skips the test unless the process may mount (root, and
// a container that allows it).
func mountTmpfs(t *testing.T, dir string, size string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("disk full: needs root to mount a small tmpfs")
	}
	must(t, os.MkdirAll(dir, 0o700))
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0700"); err != nil {
		t.Skipf("disk full: cannot mount a tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
}

// TestDiskFullBackup writes a backup into a folder on a tmpfs too small
// for it: a clear error, nothing left in the folder, live data unchanged.
func TestDiskFullBackup(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	data, folder := filepath.Join(root, "data"), filepath.Join(root, "small")
	seedDataDir(t, data, 16, "marker-live", "")
	mountTmpfs(t, folder, "6m")
	before := dump(t, data)
	r := runBin(t, "backup", "--quiet", "--data-dir", data, "--backup-dir", folder)
	if r.Code == 0 {
		t.Fatalf("backup onto a full disk succeeded: %s", r)
	}
	if !strings.Contains(r.Stderr, "no space left on device") {
		t.Errorf("error does not say the disk is full: %s", r.Stderr)
	}
	t.Logf("backup: %s", strings.TrimSpace(r.Stderr))
	if left := entries(t, folder, ""); len(left) > 0 && !(len(left) == 1 && left[0] == ".lock") {
		t.Errorf("the failed backup left %v", left)
	}
	if !dump(t, data).equal(before) {
		t.Error("the live data changed")
	}
	record(t, "disk full during backup (tmpfs of 6 MiB for a 16 MiB backup)", 1, "clear error (no space left on device), partial backup removed, live data unchanged")
}

// TestDiskFullRestore restores in place onto a tmpfs: once refused by the
// free-space check, and once with the disk filled by another process
// while the new state is being built. Both fail with a clear error, leave
// the old state in place and nothing beside it; with the space back, the
// restore succeeds.
func TestDiskFullRestore(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	src, folder := filepath.Join(root, "src"), filepath.Join(root, "backups")
	seedDataDir(t, src, 24, "marker-B", "")
	key := filepath.Join(root, "master.key")
	copyFile(t, filepath.Join(src, "master.key"), key)
	b := testutil.LastLine(mustRun(t, "backup", "--quiet", "--data-dir", src, "--backup-dir", folder).Stdout)

	mnt := filepath.Join(root, "mnt")
	mountTmpfs(t, mnt, "160m")
	data := filepath.Join(mnt, "data")
	seedDataDir(t, data, 1, "marker-A", key)
	before := dump(t, data)
	check := func(what string) {
		t.Helper()
		if !dump(t, data).equal(before) {
			t.Fatalf("%s: the data directory changed", what)
		}
		for _, e := range entries(t, mnt, "data.") {
			if e != "data.restore-lock" { // the lock file stays, by design
				t.Fatalf("%s: left %s", what, e)
			}
		}
	}

	// 1. Too little free space from the start.
	filler := filepath.Join(mnt, "filler")
	fill(t, filler, 100<<20)
	r := runBin(t, "restore", b, "--quiet", "--discard-previous", "--data-dir", data, "--key-file", key)
	if r.Code == 0 {
		t.Fatalf("restore onto a full disk succeeded")
	}
	t.Logf("restore, checked up front: %s", strings.TrimSpace(r.Stderr))
	if !strings.Contains(r.Stderr, "not enough free disk space") {
		t.Errorf("error does not say the disk is too full: %s", r.Stderr)
	}
	check("refused up front")
	must(t, os.Remove(filler))

	// 2. The disk fills while the new state is built.
	done := make(chan struct{})
	go func() {
		defer close(done)
		deadline := time.Now().Add(time.Minute)
		for time.Now().Before(deadline) {
			if _, err := os.Stat(data + ".restore-staging"); err == nil {
				fillNow(t, filler)
				return
			}
			time.Sleep(100 * time.Microsecond)
		}
	}()
	r = runBin(t, "restore", b, "--quiet", "--discard-previous", "--data-dir", data, "--key-file", key)
	<-done
	if r.Code == 0 {
		// The restore finished building before the disk was full: the
		// new state must then be complete.
		os.Remove(filler)
		os.Remove(filler + "-rest")
		if got := dump(t, data).marker(); got != "p-marker-B" {
			t.Fatalf("restore succeeded while the disk filled, but the state has marker %q", got)
		}
		t.Skip("the restore finished before the disk filled (timing); the new state is complete")
	}
	t.Logf("restore, disk filled while building: %s", strings.TrimSpace(r.Stderr))
	if !strings.Contains(r.Stderr, "no space left on device") && !strings.Contains(strings.ToLower(r.Stderr), "full") {
		t.Errorf("error does not say the disk is full: %s", r.Stderr)
	}
	must(t, os.Remove(filler))
	must(t, os.Remove(filler+"-rest"))
	check("filled while building")

	// 3. With the space back, the restore succeeds.
	mustRun(t, "restore", b, "--quiet", "--discard-previous", "--data-dir", data, "--key-file", key)
	if got := dump(t, data).marker(); got != "p-marker-B" {
		t.Fatalf("restored state has marker %q", got)
	}
	record(t, "disk full during restore (tmpfs 160 MiB, 24 MiB backup: full up front; filled by another process while building)", 2, "clear error each time (free-space check; no space left on device), staging removed, old state in place; restore succeeds once space is back")
}

// fillNow takes all free space of path's file system at once.
func fillNow(t testing.TB, path string) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(filepath.Dir(path), &st); err != nil {
		t.Error(err)
		return
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Error(err)
		return
	}
	defer f.Close()
	off, chunk := int64(0), int64(st.Bavail)*st.Bsize
	for chunk >= 4096 {
		if err := syscall.Fallocate(int(f.Fd()), 0, off, chunk); err == nil {
			off += chunk
		} else if errors.Is(err, syscall.ENOSPC) {
			chunk /= 2
		} else {
			t.Errorf("fallocate: %v", err)
			return
		}
	}
	fill(t, path+"-rest", 1<<40) // whatever fallocate left
}

// fill writes up to n bytes to path, stopping quietly when the disk is
// full.
func fill(t testing.TB, path string, n int64) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Error(err)
		return
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for w := int64(0); w < n; w += int64(len(buf)) {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Error(err)
			}
			return
		}
	}
}
