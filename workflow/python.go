package workflow

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/bitnobi/bitnobi"
)

// PythonOptions say whether and how a Python element runs.
type PythonOptions struct {
	bitnobi.PythonSettings
	// Python is the interpreter to run (default: python3 in the clean
	// PATH the process gets, [PythonPath], not the server's PATH, which
	// may lead to a per-user install that user nobody cannot run).
	Python string
	// Hidden lists paths the code may not open: the server's data
	// directory, its database and blob store.
	Hidden []string
}

// PythonPath is the PATH a Python element's process gets, and where the
// interpreter is looked for.
const PythonPath = "/usr/local/bin:/usr/bin:/bin"

// findPython returns the first python3 in [PythonPath], or "python3" (which
// then fails to start with an error naming it).
func findPython() string {
	for _, dir := range filepath.SplitList(PythonPath) {
		p := filepath.Join(dir, "python3")
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return "python3"
}

//go:embed python_harness.py
var pythonHarness []byte

// nobody is the user and group a Python element runs as when the server
// runs as root.
const nobody = 65534

// RunPython runs code over the rows of in, in a separate python3 process,
// and returns the rows it produces (see [bitnobi.PythonConfig]). Rows go
// in and out as JSON Lines. The process:
//
//   - gets a clean environment and a new, empty working directory (removed
//     afterwards), and not the server's standard error;
//   - runs under rlimits on CPU time, address space, file size, open
//     files and new processes, set by the harness before the code runs
//     and not raisable by it;
//   - is killed when it runs longer than the wall-time limit or writes
//     more than the output limit;
//   - has no network when the kernel lets the server create a network
//     namespace (root can; other users need unprivileged user namespaces);
//   - runs as user nobody when the server runs as root, so that file
//     permissions keep it out of the data directory;
//   - has an audit hook (PEP 578) that refuses sockets, new processes,
//     ctypes, and paths under opts.Hidden. This is Python's own guard,
//     not a kernel boundary: the kernel layers above are the ones to trust.
func RunPython(ctx context.Context, code string, in Rows, opts *PythonOptions) (Rows, error) {
	lim := opts.PythonSettings.WithDefaults()
	python := opts.Python
	if python == "" {
		python = findPython()
	}
	dir, err := os.MkdirTemp("", "bitnobi-python-")
	if err != nil {
		return nil, fmt.Errorf("python: work directory: %w", err)
	}
	p := &pythonRows{in: in, dir: dir, lim: lim, ownIn: true}
	fail := func(err error) (Rows, error) {
		p.ownIn = false // the caller closes in when this fails
		p.Close()
		return nil, err
	}
	asRoot := os.Geteuid() == 0
	harness, userCode := filepath.Join(dir, "harness.py"), filepath.Join(dir, "element.py")
	for name, data := range map[string][]byte{harness: pythonHarness, userCode: []byte(code)} {
		if err := os.WriteFile(name, data, 0o644); err != nil {
			return fail(fmt.Errorf("python: %w", err))
		}
	}
	if asRoot {
		if err := os.Chown(dir, nobody, nobody); err != nil {
			return fail(fmt.Errorf("python: work directory: %w", err))
		}
	}
	// The harness runs in the work directory: a relative path (the
	// default data directory is ./bitnobi/data) would name a place there.
	hidden := []string{fmt.Sprintf("/proc/%d", os.Getpid())} // the server's environment and open files
	for _, h := range opts.Hidden {
		abs, err := filepath.Abs(h)
		if err != nil {
			return fail(fmt.Errorf("python: hidden path %s: %w", h, err))
		}
		hidden = append(hidden, abs)
	}
	cfg, err := json.Marshal(map[string]any{
		"cpu_seconds":  lim.CPUSeconds,
		"memory_bytes": int64(lim.MemoryMB) << 20,
		"output_bytes": int64(lim.OutputMB) << 20,
		"hidden":       hidden,
		"code":         userCode,
	})
	if err != nil {
		return fail(err)
	}

	wctx, cancel := context.WithTimeout(ctx, time.Duration(lim.WallSeconds)*time.Second)
	p.wctx, p.cancel = wctx, cancel
	start := func(isolate bool) error {
		cmd := exec.CommandContext(wctx, python, "-I", "-B", harness, string(cfg))
		cmd.Dir = dir
		cmd.Env = []string{"PATH=" + PythonPath, "LANG=C.UTF-8", "LC_ALL=C.UTF-8", "HOME=" + dir, "TMPDIR=" + dir}
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		if asRoot {
			cmd.SysProcAttr.Credential = &syscall.Credential{Uid: nobody, Gid: nobody, Groups: []uint32{}}
		}
		if isolate {
			cmd.SysProcAttr.Cloneflags = syscall.CLONE_NEWNET
			if !asRoot {
				uid, gid := os.Getuid(), os.Getgid()
				cmd.SysProcAttr.Cloneflags |= syscall.CLONE_NEWUSER
				cmd.SysProcAttr.UidMappings = []syscall.SysProcIDMap{{ContainerID: uid, HostID: uid, Size: 1}}
				cmd.SysProcAttr.GidMappings = []syscall.SysProcIDMap{{ContainerID: gid, HostID: gid, Size: 1}}
			}
		}
		cmd.Cancel = func() error {
			return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // the whole group
		}
		cmd.WaitDelay = time.Second
		stdin, err := cmd.StdinPipe()
		if err != nil {
			return err
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return err
		}
		cmd.Stderr = &p.stderr
		if err := cmd.Start(); err != nil {
			return err
		}
		p.cmd, p.stdin = cmd, stdin
		p.out = bufio.NewReaderSize(&limitedReader{r: stdout, n: int64(lim.OutputMB) << 20, over: &p.tooMuch}, 64<<10)
		return nil
	}
	if err := start(true); err != nil {
		// No namespaces here (a container without the privilege, or
		// user namespaces turned off): run with the other guards.
		if err2 := start(false); err2 != nil {
			return fail(fmt.Errorf("python: start %s: %w", python, err2))
		}
		p.NetworkIsolated = false
	} else {
		p.NetworkIsolated = true
	}
	p.fed = make(chan struct{})
	go p.feed()

	line, err := p.out.ReadBytes('\n')
	if err != nil {
		return fail(p.failure(err))
	}
	if err := json.Unmarshal(line, &p.cols); err != nil {
		return fail(fmt.Errorf("python: bad header %q: %w", line, err))
	}
	seen := make(map[string]bool, len(p.cols))
	for _, c := range p.cols {
		if c == "" || seen[c] {
			return fail(bitnobi.Errorf(bitnobi.EINVALID, "the Python code's output columns %q must be distinct and not empty.", p.cols))
		}
		seen[c] = true
	}
	return p, nil
}

// pythonRows streams the rows a Python process writes.
type pythonRows struct {
	// NetworkIsolated says whether the process got a network namespace
	// of its own.
	NetworkIsolated bool

	in      Rows
	dir     string
	lim     bitnobi.PythonSettings
	wctx    context.Context
	cancel  context.CancelFunc
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	out     *bufio.Reader
	stderr  tailBuffer
	tooMuch bool
	cols    []string
	fed     chan struct{}
	feedErr error // the input's error, once fed is closed
	waited  bool
	closed  bool
	ownIn   bool // Close closes in
}

// feed writes the input rows to the process's stdin, then closes it.
func (p *pythonRows) feed() {
	defer close(p.fed)
	defer p.stdin.Close()
	w := bufio.NewWriterSize(p.stdin, 64<<10)
	enc := json.NewEncoder(w)
	if err := enc.Encode(p.in.Columns()); err != nil {
		return // the process went away; its end explains why
	}
	for {
		row, err := p.in.Next()
		if err == io.EOF {
			break
		} else if err != nil {
			p.feedErr = err
			p.cancel() // stop the process: the run fails with the input's error
			return
		}
		if err := enc.Encode(row); err != nil {
			var uv *json.UnsupportedValueError
			if errors.As(err, &uv) {
				p.feedErr = bitnobi.Errorf(bitnobi.EINVALID, "an input row holds %s, which Python elements cannot take: filter it out first.", uv.Str)
				p.cancel()
			}
			return
		}
	}
	w.Flush()
}

func (p *pythonRows) Columns() []string { return p.cols }

func (p *pythonRows) Next() ([]any, error) {
	line, err := p.out.ReadBytes('\n')
	if err != nil {
		return nil, p.failure(err)
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var raw []any
	if err := dec.Decode(&raw); err != nil || len(raw) != len(p.cols) {
		return nil, fmt.Errorf("python: bad output line %q: %v", shortText(string(line), 200), err)
	}
	for i, v := range raw {
		if n, ok := v.(json.Number); ok {
			if x, err := n.Int64(); err == nil {
				raw[i] = x
			} else if f, err := n.Float64(); err == nil {
				raw[i] = f
			} else {
				raw[i] = n.String()
			}
		}
	}
	return raw, nil
}

// failure is the error to report when the output ends with readErr:
// io.EOF after a clean exit, otherwise why the process stopped.
func (p *pythonRows) failure(readErr error) error {
	if readErr != io.EOF {
		p.cancel() // the process may still run, blocking the feeder
	}
	<-p.fed
	werr := p.wait()
	if p.feedErr != nil {
		return p.feedErr
	}
	lim := p.lim
	tail := strings.TrimSpace(p.stderr.String())
	var ee *exec.ExitError
	switch {
	case p.tooMuch:
		return bitnobi.Errorf(bitnobi.ETOOLARGE, "the Python code wrote more than its output limit of %d MiB: return fewer or smaller rows (an administrator sets the limit).", lim.OutputMB)
	case errors.Is(p.wctx.Err(), context.DeadlineExceeded):
		return bitnobi.Errorf(bitnobi.EINVALID, "the Python code ran longer than its time limit of %d s and was stopped (an administrator sets the limit).", lim.WallSeconds)
	case p.wctx.Err() != nil:
		return p.wctx.Err()
	case errors.As(werr, &ee) && isSignal(ee, syscall.SIGXCPU, syscall.SIGKILL):
		return bitnobi.Errorf(bitnobi.EINVALID, "the Python code used more than its CPU time limit of %d s and was stopped (an administrator sets the limit).", lim.CPUSeconds)
	case strings.Contains(tail, "MemoryError"):
		return bitnobi.Errorf(bitnobi.EINVALID, "the Python code ran out of memory (its limit is %d MiB; an administrator sets it): %s", lim.MemoryMB, lastLines(tail, 3))
	case werr != nil:
		if tail == "" {
			tail = werr.Error()
		}
		return bitnobi.Errorf(bitnobi.EINVALID, "the Python code failed: %s", lastLines(tail, 6))
	case readErr == io.EOF:
		return io.EOF
	}
	return fmt.Errorf("python: read output: %w", readErr)
}

func isSignal(ee *exec.ExitError, sigs ...syscall.Signal) bool {
	ws, ok := ee.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() {
		return false
	}
	for _, s := range sigs {
		if ws.Signal() == s {
			return true
		}
	}
	return false
}

// wait reaps the process, once.
func (p *pythonRows) wait() error {
	if p.waited || p.cmd == nil {
		return nil
	}
	p.waited = true
	return p.cmd.Wait()
}

// Close stops the process if it still runs, closes the input and removes
// the work directory.
func (p *pythonRows) Close() error {
	if p.closed {
		return nil
	}
	p.closed = true
	if p.cancel != nil {
		p.cancel() // kills the process group if it still runs
	}
	if p.fed != nil {
		<-p.fed
	}
	p.wait()
	var err error
	if p.ownIn {
		err = p.in.Close()
	}
	if rerr := os.RemoveAll(p.dir); rerr != nil && err == nil {
		err = fmt.Errorf("python: remove work directory: %w", rerr)
	}
	return err
}

// limitedReader reads at most n bytes from r, then reports the overrun.
type limitedReader struct {
	r    io.Reader
	n    int64
	over *bool
}

func (l *limitedReader) Read(b []byte) (int, error) {
	if l.n <= 0 {
		*l.over = true
		return 0, errors.New("output limit reached")
	}
	if int64(len(b)) > l.n {
		b = b[:l.n]
	}
	n, err := l.r.Read(b)
	l.n -= int64(n)
	return n, err
}

// tailBuffer keeps the first and the last 4 KiB written to it: enough of a
// traceback to show, however much the code prints.
type tailBuffer struct {
	mu   sync.Mutex
	head []byte
	tail []byte
}

const tailKeep = 4 << 10

func (t *tailBuffer) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(b)
	if room := tailKeep - len(t.head); room > 0 {
		k := min(room, len(b))
		t.head = append(t.head, b[:k]...)
		b = b[k:]
	}
	t.tail = append(t.tail, b...)
	if len(t.tail) > tailKeep {
		t.tail = append([]byte(nil), t.tail[len(t.tail)-tailKeep:]...)
	}
	return n, nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.tail) == 0 {
		return string(t.head)
	}
	return string(t.head) + "\n...\n" + string(t.tail)
}

// lastLines returns the last n lines of s, joined by " | ".
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	return shortText(strings.Join(lines, " | "), 1000)
}

func shortText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
