package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// I/O priorities, as in the kernel's include/uapi/linux/ioprio.h.
const (
	ioprioWhoProcess = 1
	ioprioClassShift = 13
	ioprioClassBE    = 2 // best effort: levels 0 (highest) to 7 (lowest)
	ioprioClassIdle  = 3 // only when no one else wants the disk
	// lowIOPrio is best effort at the lowest level.
	lowIOPrio = ioprioClassBE<<ioprioClassShift | 7
)

// lowerProcessPriority lowers the CPU priority of every thread of the
// process to nice [lowNice] and its I/O priority to best effort, level 7,
// leaving any thread whose priority is lower already as it is.
//
// On Linux both priorities belong to threads, not processes:
// setpriority(PRIO_PROCESS, 0) and ioprio_set(IOPRIO_WHO_PROCESS, 0) change
// only the calling thread, and a thread ID names that one thread. The Go
// runtime has several threads before main runs, and goroutines move
// between them, so every thread is changed, by its ID from /proc/self/task.
// A thread inherits both priorities from the thread that creates it, so
// the threads the runtime starts later are low too; a thread created by a
// not yet lowered thread while this runs is caught by the next pass, which
// repeats until one finds no new thread. Then the nice value of the
// process's autogroup is lowered too, where that is safe (see
// [lowerAutogroup]).
func lowerProcessPriority() error {
	seen := map[int]bool{}
	var niceErr, ioErr error
	for range 100 {
		tids, err := threadIDs()
		if err != nil {
			return err
		}
		fresh := 0
		for _, tid := range tids {
			if seen[tid] {
				continue
			}
			seen[tid] = true
			fresh++
			n, io := lowerThreadPriority(tid)
			if niceErr == nil && n != nil {
				niceErr = n
			}
			if ioErr == nil && io != nil {
				ioErr = io
			}
		}
		if fresh == 0 {
			return errors.Join(niceErr, ioErr, lowerAutogroup())
		}
	}
	return errors.Join(niceErr, ioErr, lowerAutogroup(), errors.New("lower priority: new threads kept appearing"))
}

// autogroupFile holds the process's autogroup and its nice value,
// "/autogroup-4956 nice 0".
const autogroupFile = "/proc/self/autogroup"

// lowerAutogroup lowers the nice value of the process's autogroup to
// [lowNice] when the process leads its session, and so the autogroup is
// its own.
//
// With autogroups (CONFIG_SCHED_AUTOGROUP, on by default in most
// distributions), the scheduler first shares the CPU between sessions
// (setsid(2)), each its own autogroup, and only then between the threads
// of a session by their nice values. The server and a backup run in
// different sessions as a rule (two systemd units, cron, docker exec), so
// a thread's nice value alone does not hold the backup back from the
// server at all; the autogroup's nice value does. It is only changed when
// this process leads the session (a systemd unit, "docker exec", "setsid
// bitnobi backup"): otherwise the session is someone else's, such as the
// operator's shell, which must keep its priority.
func lowerAutogroup() error {
	if sid, err := unix.Getsid(0); err != nil || sid != os.Getpid() {
		return nil
	}
	name, nice, ok, err := readAutogroup()
	if err != nil || !ok {
		return err
	}
	if nice >= lowNice {
		return nil
	}
	// The kernel accepts one change every 100 ms from the whole system.
	for try := 0; ; try++ {
		err = writeAutogroup(lowNice)
		if !errors.Is(err, unix.EAGAIN) || try == 5 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("set nice %d of autogroup %s: %w", lowNice, name, err)
	}
	return nil
}

// readAutogroup returns the name and nice value of the process's
// autogroup, and false when it has none of its own: on a kernel without
// autogroups (no file), and for a process in the root autogroup or in a
// CPU cgroup other than the root (an empty file, as inside most
// containers), where the autogroup plays no part in scheduling.
func readAutogroup() (name string, nice int, ok bool, err error) {
	data, err := os.ReadFile(autogroupFile)
	if errors.Is(err, fs.ErrNotExist) {
		return "", 0, false, nil
	} else if err != nil {
		return "", 0, false, fmt.Errorf("read autogroup: %w", err)
	}
	return parseAutogroup(data)
}

// parseAutogroup parses the contents of [autogroupFile], such as
// "/autogroup-4956 nice 0\n"; see [readAutogroup].
func parseAutogroup(data []byte) (name string, nice int, ok bool, err error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return "", 0, false, nil
	}
	if _, err := fmt.Sscanf(string(data), "%s nice %d", &name, &nice); err != nil {
		return "", 0, false, fmt.Errorf("read autogroup %q: %w", data, err)
	}
	return name, nice, true, nil
}

// writeAutogroup sets the nice value of the process's autogroup.
func writeAutogroup(nice int) error {
	f, err := os.OpenFile(autogroupFile, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(strconv.Itoa(nice))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// lowerThreadPriority lowers the CPU and I/O priority of the thread tid,
// returning an error for each it could not lower. A thread that has
// exited meanwhile is no error.
func lowerThreadPriority(tid int) (cpu, io error) {
	// The raw getpriority returns 20 - nice (glibc's wrapper hides this).
	p, err := unix.Getpriority(unix.PRIO_PROCESS, tid)
	if err == nil && 20-p < lowNice {
		err = unix.Setpriority(unix.PRIO_PROCESS, tid, lowNice)
	}
	cpu = threadError("set nice "+strconv.Itoa(lowNice), tid, err)

	p, err = ioprioGet(tid)
	if err == nil && p>>ioprioClassShift != ioprioClassIdle && p != lowIOPrio {
		err = ioprioSet(tid, lowIOPrio)
	}
	io = threadError("set I/O priority best-effort 7", tid, err)
	return cpu, io
}

// threadError wraps the error err of doing what to the thread tid, or
// returns nil when there is none or the thread has exited.
func threadError(what string, tid int, err error) error {
	if err == nil || errors.Is(err, unix.ESRCH) {
		return nil
	}
	return fmt.Errorf("%s (thread %d): %w", what, tid, err)
}

// threadIDs lists the threads of the process.
func threadIDs() ([]int, error) {
	entries, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return nil, fmt.Errorf("list threads: %w", err)
	}
	tids := make([]int, 0, len(entries))
	for _, e := range entries {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	return tids, nil
}

// ioprioGet returns the I/O priority of the thread tid (class <<
// ioprioClassShift | level).
func ioprioGet(tid int) (int, error) {
	r, _, errno := unix.Syscall(unix.SYS_IOPRIO_GET, ioprioWhoProcess, uintptr(tid), 0)
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}

// ioprioSet sets the I/O priority of the thread tid.
func ioprioSet(tid, prio int) error {
	if _, _, errno := unix.Syscall(unix.SYS_IOPRIO_SET, ioprioWhoProcess, uintptr(tid), uintptr(prio)); errno != 0 {
		return errno
	}
	return nil
}
