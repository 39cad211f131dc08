package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// priorityHelperEnv makes TestLowerProcessPriority, run in a child
// process, do the helper's part: the priority of a process cannot be
// raised again, so it is lowered in a child, never in the test process.
const priorityHelperEnv = "BITNOBI_TEST_PRIORITY_HELPER"

// threadPriority is the priority of one thread of the process.
type threadPriority struct {
	TID    int
	Nice   int // field 19 of /proc/self/task/TID/stat
	IOPrio int // ioprio_get(IOPRIO_WHO_PROCESS, TID)
}

// threadPriorities reads the priorities of every thread of the process.
func threadPriorities(t *testing.T) []threadPriority {
	t.Helper()
	tids, err := threadIDs()
	if err != nil {
		t.Fatal(err)
	}
	var out []threadPriority
	for _, tid := range tids {
		stat, err := os.ReadFile(filepath.Join("/proc/self/task", strconv.Itoa(tid), "stat"))
		if os.IsNotExist(err) {
			continue // exited
		} else if err != nil {
			t.Fatal(err)
		}
		nice, err := statNice(string(stat))
		if err != nil {
			t.Fatalf("thread %d: %v", tid, err)
		}
		io, err := ioprioGet(tid)
		if err != nil {
			t.Fatalf("ioprio_get thread %d: %v", tid, err)
		}
		out = append(out, threadPriority{TID: tid, Nice: nice, IOPrio: io})
	}
	return out
}

// statNice returns the nice value, field 19, of a /proc/PID/stat line.
// Field 2, the command name in parentheses, may hold spaces and
// parentheses, so the fields are counted from the last ")".
func statNice(stat string) (int, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("stat %q: no command name", stat)
	}
	fields := strings.Fields(stat[i+1:]) // fields 3, 4, ...
	if len(fields) < 19-2 {
		return 0, fmt.Errorf("stat %q: %d fields", stat, len(fields)+2)
	}
	return strconv.Atoi(fields[19-3])
}

func TestStatNice(t *testing.T) {
	for _, tt := range []struct {
		name, stat string
		want       int
	}{
		{"Plain", "3162 (cat) R 3157 3157 611 0 -1 4194304 100 0 0 0 0 0 0 0 20 0 1 0 1072143 3133440", 0},
		{"Niced", "3162 (bitnobi) S 3157 3157 611 0 -1 4194304 100 0 0 0 0 0 0 0 30 10 6 0 1072143 3133440", 10},
		{"SpacesInName", "42 (a) b (c) S 1 42 42 0 -1 4194304 100 0 0 0 0 0 0 0 39 19 1 0 5 6", 19},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := statNice(tt.stat)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("statNice=%d, want %d", got, tt.want)
			}
		})
	}
}

// startThreads starts n goroutines, each locked to a thread of its own
// (so that the runtime must create new threads), blocked until done is
// closed.
func startThreads(n int, done <-chan struct{}) {
	started := make(chan struct{})
	for range n {
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			started <- struct{}{}
			<-done
		}()
	}
	for range n {
		<-started
	}
}

// TestLowerProcessPriority runs "bitnobi backup" in a child process with
// the real priority lowering, then checks every thread of that process,
// those it had before, those the backup started and those started after,
// in /proc/self/task/*/stat and with ioprio_get: all at nice 19 and I/O
// best effort 7; and its autogroup's nice value, lowered only when the
// child leads its own session. A third child, already at nice 15 and in
// the idle I/O class, must stay there.
func TestLowerProcessPriority(t *testing.T) {
	if mode := os.Getenv(priorityHelperEnv); mode != "" {
		priorityHelper(t, mode)
		return
	}
	if nice, err := statNice(readFile(t, "/proc/self/stat")); err != nil {
		t.Fatal(err)
	} else if nice >= lowNice {
		t.Skipf("the tests run at nice %d already: the lowering cannot be seen", nice)
	}
	_, dataDir := seededDataDir(t)
	for _, mode := range []string{"backup", "backup-own-session", "keep-lower"} {
		t.Run(mode, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestLowerProcessPriority$", "-test.v")
			cmd.Env = append(os.Environ(), priorityHelperEnv+"="+mode, "BITNOBI_TEST_DATA_DIR="+dataDir)
			// A session of its own, as a systemd unit or "docker exec" has.
			cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: mode == "backup-own-session"}
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("helper: %v\n%s", err, out)
			}
			if !bytes.Contains(out, []byte("checked threads:")) {
				t.Fatalf("the helper did not check the threads:\n%s", out)
			}
			t.Logf("%s", bytes.TrimSpace(out))
		})
	}
}

// priorityHelper is the child process's part of TestLowerProcessPriority.
func priorityHelper(t *testing.T, mode string) {
	done := make(chan struct{})
	defer close(done)
	startThreads(4, done) // threads that exist before the call

	wantNice, wantIO := lowNice, lowIOPrio
	autogroupBefore, hasAutogroup := autogroupNice(t)
	wantAutogroup := autogroupBefore
	switch mode {
	case "backup", "backup-own-session":
		if mode == "backup-own-session" {
			wantAutogroup = lowNice
		} // else the autogroup is the test's session's: left alone
		before := threadPriorities(t)
		for _, p := range before {
			if p.Nice >= lowNice || p.IOPrio == lowIOPrio {
				t.Fatalf("thread %d has nice %d, I/O priority %#x before the backup: the test would prove nothing", p.TID, p.Nice, p.IOPrio)
			}
		}
		var out, errb bytes.Buffer
		m := NewMain()
		m.Stdout, m.Stderr, m.Getenv = &out, &errb, func(string) string { return "" }
		if code := m.Report(m.Run(context.Background(), []string{"backup", "--data-dir", os.Getenv("BITNOBI_TEST_DATA_DIR")})); code != 0 {
			t.Fatalf("backup exit %d\n%s%s", code, out.String(), errb.String())
		}
		if strings.Contains(errb.String(), "Warning: could not lower") {
			t.Fatalf("backup warned:\n%s", errb.String())
		}
	case "keep-lower":
		// Lower than low already: the idle I/O class, as "nice -n 19
		// ionice -c3 bitnobi backup" would start it (nice 19 is the
		// lowest there is, low's own).
		wantNice, wantIO = 19, ioprioClassIdle<<ioprioClassShift
		for range 3 { // catch threads created meanwhile
			for _, p := range threadPriorities(t) {
				if err := unix.Setpriority(unix.PRIO_PROCESS, p.TID, wantNice); err != nil {
					t.Fatal(err)
				}
				if err := ioprioSet(p.TID, wantIO); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := lowerProcessPriority(); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("unknown helper mode %q", mode)
	}
	startThreads(4, done) // threads started after the call

	after := threadPriorities(t)
	for _, p := range after {
		if p.Nice != wantNice || p.IOPrio != wantIO {
			t.Errorf("thread %d: nice %d, I/O priority %#x; want nice %d, I/O priority %#x", p.TID, p.Nice, p.IOPrio, wantNice, wantIO)
		}
	}
	if got, _ := autogroupNice(t); hasAutogroup && got != wantAutogroup {
		t.Errorf("autogroup nice %d, want %d (before: %d)", got, wantAutogroup, autogroupBefore)
	}
	fmt.Printf("checked threads: %d, all at nice %d, I/O priority %#x; autogroup nice %d (autogroups: %v)\n",
		len(after), wantNice, wantIO, wantAutogroup, hasAutogroup)
}

// autogroupNice returns the nice value of the process's autogroup, and
// false if it has none of its own (see readAutogroup).
func autogroupNice(t *testing.T) (int, bool) {
	t.Helper()
	_, nice, ok, err := readAutogroup()
	if err != nil {
		t.Fatal(err)
	}
	return nice, ok
}

func TestParseAutogroup(t *testing.T) {
	for _, tt := range []struct {
		name, data string
		wantName   string
		wantNice   int
		wantOK     bool
		wantErr    bool
	}{
		{"Own", "/autogroup-4956 nice 0\n", "/autogroup-4956", 0, true, false},
		{"Lowered", "/autogroup-12 nice 19\n", "/autogroup-12", 19, true, false},
		// The root autogroup, or a CPU cgroup (most containers): CI's case.
		{"Empty", "", "", 0, false, false},
		{"Newline", "\n", "", 0, false, false},
		{"Garbage", "autogroup?\n", "", 0, false, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			name, nice, ok, err := parseAutogroup([]byte(tt.data))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err=%v, want error: %v", err, tt.wantErr)
			}
			if name != tt.wantName || nice != tt.wantNice || ok != tt.wantOK {
				t.Fatalf("got %q nice %d ok %v, want %q nice %d ok %v", name, nice, ok, tt.wantName, tt.wantNice, tt.wantOK)
			}
		})
	}
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
