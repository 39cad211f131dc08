// Command bitnobi runs the Bitnobi server and protects its state: serve,
// backup, restore, backups (list, verify, inspect, diff, prune, export,
// import, push, pull), audit and version. The list of commands is the table in
// commands.go, which drives the usage text, the dispatch and the help
// tests.
//
// Run "bitnobi COMMAND --help" for a command's flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/bitnobi/bitnobi"
)

// Version is set at build time with -ldflags "-X main.Version=...";
// otherwise it comes from the module's build information.
var Version = ""

// Exit codes, documented in the README. Scripts may rely on them.
const (
	ExitOK          = 0
	ExitFailed      = 1   // the command ran and failed
	ExitUsage       = 2   // bad flags or arguments, or input that is not acceptable
	ExitLocked      = 3   // the data directory is in use by another process
	ExitVerify      = 4   // a backup did not verify
	ExitInterrupted = 130 // stopped by SIGINT or SIGTERM
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	m := NewMain()
	limitMemory(os.Args[1:], os.Getenv)
	err := m.Run(ctx, os.Args[1:])
	stop()
	os.Exit(m.Report(err))
}

// Main is the program: its streams and environment, so tests can run
// commands in-process.
type Main struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string

	// onListen, if set, is called with the server's address once it
	// listens (tests serve on ":0").
	onListen func(addr string)

	// lowerPriority lowers the CPU and I/O priority of the whole process
	// for --priority low (see [lowerProcessPriority]). Nil leaves the
	// priorities alone: tests run commands in the test process, where
	// the change could not be undone.
	lowerPriority func() error

	// childExe is the binary serve runs its scheduled backups with
	// (default: this one, os.Executable); childEnv is added to their
	// environment. Tests point them at the test binary.
	childExe string
	childEnv []string
	// now is serve's clock for its schedule (nil: time.Now).
	now func() time.Time

	// helpAsked is set when the arguments ask for help; the help then goes
	// to Stdout rather than Stderr.
	helpAsked bool

	// legacyNoticed is set once the notice that the data directory of
	// earlier versions is in use has been printed (see defaultDataDir).
	legacyNoticed bool
}

// NewMain returns a Main on the process's streams and environment.
func NewMain() *Main {
	return &Main{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv,
		lowerPriority: lowerProcessPriority}
}

// UsageError is bad input from the operator: flags, arguments, or a backup
// that cannot be accepted. It exits with [ExitUsage].
type UsageError struct {
	Err  error
	Hint string // "Try: ..." line, optional
}

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// usagef returns a [UsageError].
func usagef(hint, format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...), Hint: hint}
}

// ExitError carries a specific exit code and an optional hint.
type ExitError struct {
	Code int
	Err  error
	Hint string
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// interrupted reports whether err ended a command that SIGINT or SIGTERM
// interrupted: err says so, or ctx is done and err is whatever the
// cancellation caused (a database driver's "interrupted", or a wait for
// a lock reported as the lock held).
func interrupted(ctx context.Context, err error) bool {
	return err != nil && (errors.Is(err, context.Canceled) || ctx.Err() != nil)
}

// interruptedf returns the error of a command that SIGINT or SIGTERM
// interrupted, exit code [ExitInterrupted]. Its message says what the
// command did and did not do, in place of the error of whatever was cut
// short, which is seldom more than "context canceled".
func interruptedf(format string, args ...any) error {
	return &ExitError{Code: ExitInterrupted, Err: fmt.Errorf(format, args...)}
}

// Report prints err (if any) as "Error: ..." and "Try: ..." on stderr and
// returns the exit code.
func (m *Main) Report(err error) int {
	if err == nil {
		return ExitOK
	}
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	var ue *UsageError
	var ee *ExitError
	if !errors.As(err, &ee) && !errors.As(err, &ue) {
		// An error no command classified: give the backup package's
		// sentinels (not a backup, locked, does not verify...) their exit
		// codes and hints wherever they come from.
		err = backupError(err)
	}
	code, hint := ExitFailed, ""
	switch {
	case errors.As(err, &ee):
		code, hint = ee.Code, ee.Hint
	case errors.As(err, &ue):
		code, hint = ExitUsage, ue.Hint
	case errors.Is(err, context.Canceled):
		code = ExitInterrupted
	}
	fmt.Fprintf(m.Stderr, "Error: %v\n", err)
	if hint != "" {
		fmt.Fprintf(m.Stderr, "Try: %s\n", hint)
	}
	return code
}

var setVersion sync.Once

// Run runs the command named by args[0].
func (m *Main) Run(ctx context.Context, args []string) error {
	// Once: tests run several commands at a time in one process.
	setVersion.Do(func() { bitnobi.Version = appVersion() })
	m.helpAsked = slices.ContainsFunc(args, isHelpFlag)
	if len(args) == 0 {
		fmt.Fprint(m.Stderr, usage)
		return usagef("bitnobi serve --help", "no command given")
	}
	cmd, rest := args[0], args[1:]
	if c, ok := findCommand(commands, cmd); ok {
		return m.runCommand(ctx, c, rest)
	}
	if cmd == "help" || isHelpFlag(cmd) {
		fmt.Fprint(m.Stdout, usage)
		return nil
	}
	return usagef("bitnobi --help", "unknown command %q", cmd)
}

// appVersion is the -ldflags version, else the module version, else the
// development version.
func appVersion() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return bitnobi.Version
}

// newFlagSet returns a FlagSet for a command whose --help prints the given
// text, then the flags.
func (m *Main) newFlagSet(name, help string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	fs.Usage = func() {
		// Help that was asked for is the command's output (so that
		// "bitnobi restore --help | less" works); help shown because of a
		// flag error goes with the error, to stderr.
		if m.helpAsked {
			fs.SetOutput(m.Stdout)
		}
		fmt.Fprint(fs.Output(), help)
		fmt.Fprintln(fs.Output(), "\nFlags:")
		fs.PrintDefaults()
	}
	return fs
}

// warnLogger returns the logger of the commands other than serve: text on
// stderr, warnings and errors only.
func (m *Main) warnLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(m.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// isHelpFlag reports whether arg asks for help.
func isHelpFlag(arg string) bool {
	switch arg {
	case "-h", "-help", "--help", "--h":
		return true
	}
	return false
}

// parseFlags parses args, turning a flag error into a [UsageError].
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usagef("bitnobi "+fs.Name()+" --help", "%v", err)
	}
	return nil
}
