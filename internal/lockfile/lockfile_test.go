//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package lockfile_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bitnobi/bitnobi/internal/lockfile"
)

// helperEnv names the lock file a helper process should lock.
const helperEnv = "BITNOBI_LOCKFILE_HELPER_PATH"

func lockPath(tb testing.TB) string {
	tb.Helper()
	return filepath.Join(tb.TempDir(), "lock")
}

func mustAcquire(tb testing.TB, path, purpose string, shared bool) *lockfile.Lock {
	tb.Helper()
	acquire := lockfile.Acquire
	if shared {
		acquire = lockfile.AcquireShared
	}
	l, err := acquire(path, purpose)
	if err != nil {
		tb.Fatalf("acquire(shared=%v): %v", shared, err)
	}
	tb.Cleanup(func() { _ = l.Release() })
	return l
}

// heldError asserts that err is a *HeldError matching ErrLocked.
func heldError(tb testing.TB, err error) *lockfile.HeldError {
	tb.Helper()
	if err == nil {
		tb.Fatal("lock taken, want HeldError")
	}
	if !errors.Is(err, lockfile.ErrLocked) {
		tb.Fatalf("err=%v, want it to match ErrLocked", err)
	}
	var he *lockfile.HeldError
	if !errors.As(err, &he) {
		tb.Fatalf("err=%T %v, want *HeldError", err, err)
	}
	return he
}

func TestAcquire(t *testing.T) {
	path := lockPath(t)
	before := time.Now().Add(-time.Second)
	l := mustAcquire(t, path, "serve", false)

	if got, want := l.Path(), path; got != want {
		t.Fatalf("Path()=%q, want %q", got, want)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fi.Mode().Perm(), os.FileMode(0o600); got != want {
		t.Fatalf("lock file mode=%v, want %v", got, want)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	if len(lines) != 4 || lines[3] != "" {
		t.Fatalf("lock file=%q, want three lines", data)
	}
	if got, want := lines[0], fmt.Sprintf("pid=%d", os.Getpid()); got != want {
		t.Fatalf("line 1=%q, want %q", got, want)
	}
	if got, want := lines[1], "purpose=serve"; got != want {
		t.Fatalf("line 2=%q, want %q", got, want)
	}
	since, err := time.Parse(time.RFC3339, strings.TrimPrefix(lines[2], "since="))
	if err != nil || !strings.HasPrefix(lines[2], "since=") {
		t.Fatalf("line 3=%q, want since=<RFC3339>: %v", lines[2], err)
	}
	if since.Before(before) || since.After(time.Now().Add(time.Second)) {
		t.Fatalf("since=%v, want about now", since)
	}
}

func TestAcquire_ErrLocked(t *testing.T) {
	path := lockPath(t)
	mustAcquire(t, path, "serve", false)

	for _, tt := range []struct {
		name    string
		acquire func(string, string) (*lockfile.Lock, error)
	}{
		{"Exclusive", lockfile.Acquire},
		{"Shared", lockfile.AcquireShared},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.acquire(path, "backup")
			he := heldError(t, err)
			if got, want := he.PID, os.Getpid(); got != want {
				t.Fatalf("PID=%d, want %d", got, want)
			}
			if got, want := he.Purpose, "serve"; got != want {
				t.Fatalf("Purpose=%q, want %q", got, want)
			}
			if got, want := he.Path, path; got != want {
				t.Fatalf("Path=%q, want %q", got, want)
			}
			if he.Shared {
				t.Fatal("Shared=true for an exclusive holder")
			}
			if time.Since(he.Since) > time.Minute {
				t.Fatalf("Since=%v, want about now", he.Since)
			}
			msg := err.Error()
			for _, want := range []string{
				fmt.Sprintf("data directory is in use by pid %d (serve) since ", os.Getpid()),
				"stop that process first",
				path,
			} {
				if !strings.Contains(msg, want) {
					t.Fatalf("error %q does not contain %q", msg, want)
				}
			}
		})
	}

	// The failed attempts must not have changed the holder's details.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "purpose=serve\n") {
		t.Fatalf("lock file=%q after failed attempts, want purpose=serve", data)
	}
}

func TestRelease(t *testing.T) {
	path := lockPath(t)
	l, err := lockfile.Acquire(path, "first")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Release(); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if err := l.Release(); err != nil {
		t.Fatalf("second Release: %v", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("lock file after Release: %v", err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) != 0 {
		t.Fatalf("lock file=%q after Release, want empty", data)
	}

	l2 := mustAcquire(t, path, "second", false)
	data, err = os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "purpose=second\n") {
		t.Fatalf("lock file=%q, want purpose=second", data)
	}
	if err := l2.Release(); err != nil {
		t.Fatal(err)
	}

	var nilLock *lockfile.Lock
	if err := nilLock.Release(); err != nil {
		t.Fatalf("nil Release: %v", err)
	}
}

func TestAcquireShared(t *testing.T) {
	// Content left by an earlier exclusive holder that crashed.
	path := lockPath(t)
	if err := os.WriteFile(path, []byte("pid=999999\npurpose=stale\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s1 := mustAcquire(t, path, "backup", true)
	s2 := mustAcquire(t, path, "backup", true)

	t.Run("LeavesContent", func(t *testing.T) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := string(data), "pid=999999\npurpose=stale\n"; got != want {
			t.Fatalf("lock file=%q, want %q", got, want)
		}
	})

	t.Run("BlocksExclusive", func(t *testing.T) {
		_, err := lockfile.Acquire(path, "gc")
		he := heldError(t, err)
		if !he.Shared {
			t.Fatal("Shared=false, want true")
		}
		// The file names a stale holder, which must not be reported.
		if he.PID != 0 || he.Purpose != "" {
			t.Fatalf("HeldError names PID=%d Purpose=%q, want none for shared holders", he.PID, he.Purpose)
		}
		if msg := err.Error(); !strings.Contains(msg, "shared") {
			t.Fatalf("error %q does not mention shared locks", msg)
		}
	})

	t.Run("ExclusiveAfterAllReleased", func(t *testing.T) {
		if err := s1.Release(); err != nil {
			t.Fatal(err)
		}
		if _, err := lockfile.Acquire(path, "gc"); !errors.Is(err, lockfile.ErrLocked) {
			t.Fatalf("Acquire with one shared holder left err=%v, want ErrLocked", err)
		}
		if err := s2.Release(); err != nil {
			t.Fatal(err)
		}
		mustAcquire(t, path, "gc", false)
	})
}

func TestAcquire_PurposeLineBreak(t *testing.T) {
	path := lockPath(t)
	if _, err := lockfile.Acquire(path, "serve\npid=1"); err == nil {
		t.Fatal("Acquire accepted a purpose with a line break")
	}
	mustAcquire(t, path, "serve", false)
}

func TestAcquire_BadPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "lock")
	_, err := lockfile.Acquire(path, "serve")
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Acquire err=%v, want os.ErrNotExist", err)
	}
	if errors.Is(err, lockfile.ErrLocked) {
		t.Fatal("a missing folder reported as ErrLocked")
	}
}

func TestAcquireWait(t *testing.T) {
	for _, tt := range []struct {
		name           string
		holderShared   bool
		waiterShared   bool
		waitsForHolder bool
	}{
		{"ExclusiveWaitsForExclusive", false, false, true},
		{"SharedWaitsForExclusive", false, true, true},
		{"ExclusiveWaitsForShared", true, false, true},
		{"SharedWithShared", true, true, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := lockPath(t)
			holder := mustAcquire(t, path, "gc", tt.holderShared)

			released := make(chan struct{})
			go func() {
				time.Sleep(200 * time.Millisecond)
				_ = holder.Release()
				close(released)
			}()

			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			l, err := lockfile.AcquireWait(ctx, path, "backup", tt.waiterShared)
			if err != nil {
				t.Fatalf("AcquireWait: %v", err)
			}
			defer l.Release()
			select {
			case <-released:
				if !tt.waitsForHolder {
					t.Fatal("AcquireWait waited for a compatible lock")
				}
			default:
				if tt.waitsForHolder {
					t.Fatal("AcquireWait returned while the lock was still held")
				}
			}
			<-released
		})
	}

	t.Run("Free", func(t *testing.T) {
		l, err := lockfile.AcquireWait(context.Background(), lockPath(t), "backup", false)
		if err != nil {
			t.Fatalf("AcquireWait: %v", err)
		}
		_ = l.Release()
	})

	t.Run("DeadlineExceeded", func(t *testing.T) {
		path := lockPath(t)
		mustAcquire(t, path, "gc", false)
		ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := lockfile.AcquireWait(ctx, path, "backup", false)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("AcquireWait err=%v, want context.DeadlineExceeded", err)
		}
		he := heldError(t, err)
		if got, want := he.Purpose, "gc"; got != want {
			t.Fatalf("Purpose=%q, want %q", got, want)
		}
		if elapsed := time.Since(start); elapsed < 100*time.Millisecond {
			t.Fatalf("AcquireWait gave up after %v, want about 150ms", elapsed)
		}
	})

	t.Run("Canceled", func(t *testing.T) {
		path := lockPath(t)
		mustAcquire(t, path, "gc", false)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := lockfile.AcquireWait(ctx, path, "backup", true); !errors.Is(err, context.Canceled) {
			t.Fatalf("AcquireWait err=%v, want context.Canceled", err)
		}
	})
}

// TestHelperProcess is not a real test: run by TestAcquire_OtherProcess
// in a child process, it takes the lock named by helperEnv, prints
// "locked", and exits without releasing once stdin is closed, as a crash
// would.
func TestHelperProcess(t *testing.T) {
	path := os.Getenv(helperEnv)
	if path == "" {
		t.Skip("helper process for TestAcquire_OtherProcess")
	}
	if _, err := lockfile.Acquire(path, "helper"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Println("locked")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n') // until the parent closes stdin
	os.Exit(0)
}

func TestAcquire_OtherProcess(t *testing.T) {
	path := lockPath(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+path)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})

	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("helper said %q, %v; want \"locked\"", line, err)
	}

	_, err = lockfile.Acquire(path, "serve")
	he := heldError(t, err)
	if got, want := he.PID, cmd.Process.Pid; got != want {
		t.Fatalf("PID=%d, want the child's %d", got, want)
	}
	if got, want := he.Purpose, "helper"; got != want {
		t.Fatalf("Purpose=%q, want %q", got, want)
	}
	if msg, want := err.Error(), "pid "+strconv.Itoa(cmd.Process.Pid)+" (helper)"; !strings.Contains(msg, want) {
		t.Fatalf("error %q does not contain %q", msg, want)
	}

	// The child exits without calling Release; the kernel frees the lock.
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v", err)
	}
	l := mustAcquire(t, path, "serve", false)
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
}
