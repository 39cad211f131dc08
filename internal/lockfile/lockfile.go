//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

// Package lockfile takes advisory locks on a lock file, typically in a
// data directory, so that two processes do not use it at once.
//
// Locks are flock(2) locks. The kernel releases them when the process
// exits, however it exits, so a crash never leaves a stale lock behind and
// there is nothing to clean up. They belong to an open file description,
// not to a process: two Acquire calls in one process conflict just as two
// processes do.
//
// The holder of an exclusive lock writes its PID, purpose and start time
// into the file, so that whoever fails to get the lock can say who holds
// it (see [HeldError]). Shared-lock holders write nothing, because several
// of them hold the lock at once.
//
// The locks are advisory: they only exclude processes that also use this
// package on the same path. flock is unreliable on some network file
// systems; keep data directories on local disks.
package lockfile

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrLocked means someone else holds a conflicting lock. Every
// [*HeldError] matches it with [errors.Is].
var ErrLocked = errors.New("locked")

// pollInterval is how often [AcquireWait] retries.
const pollInterval = 50 * time.Millisecond

// maxInfoSize bounds how much of a lock file is read for [HeldError].
const maxInfoSize = 4096

// Lock is a held lock. Release it when done; the process exiting also
// releases it.
type Lock struct {
	f      *os.File
	path   string
	shared bool
}

// HeldError is returned when a lock cannot be taken because another open
// file, in this process or another, holds a conflicting lock.
//
// PID, Purpose and Since describe the exclusive holder, as written in the
// lock file. They are zero if the holders have shared locks (then Shared
// is true) or if the file names no one, for instance because the holder
// has only just taken the lock.
type HeldError struct {
	Path    string    // lock file path
	PID     int       // process id of the exclusive holder, or 0
	Purpose string    // what the holder is doing, such as "serve"
	Since   time.Time // when the holder took the lock
	Shared  bool      // the lock is held shared by one or more processes
}

// Error describes the holder and says what to do, for example:
//
//	data directory is in use by pid 1234 (serve) since 2025-01-02T15:04:05Z: stop that process first (lock file /var/lib/bitnobi/lock)
func (e *HeldError) Error() string {
	var b strings.Builder
	switch {
	case e.Shared:
		b.WriteString("data directory is in use by other processes holding shared locks: wait for them to finish")
	case e.PID > 0:
		fmt.Fprintf(&b, "data directory is in use by pid %d", e.PID)
		if e.Purpose != "" {
			fmt.Fprintf(&b, " (%s)", e.Purpose)
		}
		if !e.Since.IsZero() {
			fmt.Fprintf(&b, " since %s", e.Since.Format(time.RFC3339))
		}
		b.WriteString(": stop that process first")
	default:
		b.WriteString("data directory is in use by another process: stop that process first")
	}
	fmt.Fprintf(&b, " (lock file %s)", e.Path)
	return b.String()
}

// Is reports whether target is [ErrLocked].
func (e *HeldError) Is(target error) bool { return target == ErrLocked }

// Acquire takes an exclusive lock on path without waiting, creating the
// file (mode 0600) if needed. On success it replaces the file's content
// with
//
//	pid=<pid>
//	purpose=<purpose>
//	since=<RFC 3339 time>
//
// and fsyncs it. If any other lock is held it returns a [*HeldError],
// which matches [ErrLocked].
func Acquire(path, purpose string) (*Lock, error) {
	return acquire(context.Background(), path, purpose, false, false)
}

// AcquireShared takes a shared lock on path without waiting, creating the
// file if needed. Any number of shared locks can be held at once, but not
// together with an exclusive one. It leaves the file's content alone. If
// an exclusive lock is held it returns a [*HeldError] naming its holder,
// which matches [ErrLocked]. purpose is accepted for symmetry with
// [Acquire] and currently unused.
func AcquireShared(path, purpose string) (*Lock, error) {
	return acquire(context.Background(), path, purpose, true, false)
}

// AcquireWait is like [Acquire], or [AcquireShared] if shared is set, but
// while the lock is held by someone else it retries every 50ms until it
// succeeds or ctx is done. In the latter case the error wraps both
// ctx.Err() and the last [*HeldError].
//
// For example, a backup waits for the blob garbage collector to finish,
// and the other way round.
func AcquireWait(ctx context.Context, path, purpose string, shared bool) (*Lock, error) {
	return acquire(ctx, path, purpose, shared, true)
}

func acquire(ctx context.Context, path, purpose string, shared, wait bool) (*Lock, error) {
	if strings.ContainsAny(purpose, "\n\r") {
		return nil, fmt.Errorf("lock %s: purpose %q contains a line break", path, purpose)
	}
	flag := os.O_RDWR | os.O_CREATE
	if shared {
		// Shared holders never write, so a read-only file is enough.
		flag = os.O_RDONLY | os.O_CREATE
	}
	f, err := os.OpenFile(path, flag, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	how := syscall.LOCK_EX
	if shared {
		how = syscall.LOCK_SH
	}

	var ticker *time.Ticker
	for {
		err = flock(f, how|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		held := heldError(f, path, shared)
		if !wait {
			f.Close()
			return nil, held
		}
		if ticker == nil {
			ticker = time.NewTicker(pollInterval)
			defer ticker.Stop()
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("wait for lock %s: %w: %w", path, ctx.Err(), held)
		case <-ticker.C:
		}
	}

	l := &Lock{f: f, path: path, shared: shared}
	if !shared {
		if err := l.writeInfo(purpose); err != nil {
			_ = l.Release()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
	}
	return l, nil
}

// flock calls flock(2), retrying if a signal interrupts it.
func flock(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if err != syscall.EINTR {
			return err
		}
	}
}

func (l *Lock) writeInfo(purpose string) error {
	info := fmt.Sprintf("pid=%d\npurpose=%s\nsince=%s\n",
		os.Getpid(), purpose, time.Now().UTC().Format(time.RFC3339))
	if err := l.f.Truncate(0); err != nil {
		return err
	}
	if _, err := l.f.WriteAt([]byte(info), 0); err != nil {
		return err
	}
	return l.f.Sync()
}

// heldError reads the holder's details from f after a failed lock
// attempt. The content is only trusted if an exclusive lock is held: for
// an exclusive attempt that is checked by trying a shared lock, which
// succeeds only if the current holders are shared (so the file's content
// is left over from an earlier exclusive holder).
func heldError(f *os.File, path string, shared bool) *HeldError {
	e := &HeldError{Path: path}
	if !shared && flock(f, syscall.LOCK_SH|syscall.LOCK_NB) == nil {
		_ = flock(f, syscall.LOCK_UN)
		e.Shared = true
		return e
	}
	data, err := io.ReadAll(io.NewSectionReader(f, 0, maxInfoSize))
	if err != nil {
		return e
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		key, value, _ := strings.Cut(sc.Text(), "=")
		switch key {
		case "pid":
			e.PID, _ = strconv.Atoi(value)
		case "purpose":
			e.Purpose = value
		case "since":
			e.Since, _ = time.Parse(time.RFC3339, value)
		}
	}
	return e
}

// Path returns the lock file's path.
func (l *Lock) Path() string { return l.path }

// Release releases the lock and closes the file. It leaves the file in
// place: deleting it would let a process that opened the old file before
// the deletion lock it while another locks a new file at the same path.
// An exclusive lock's holder details are cleared first, so they never
// outlive the lock. Calling Release again does nothing and returns nil.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	f := l.f
	l.f = nil
	var errs []error
	if !l.shared {
		errs = append(errs, f.Truncate(0))
	}
	errs = append(errs, flock(f, syscall.LOCK_UN), f.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("release lock %s: %w", l.path, err)
	}
	return nil
}
