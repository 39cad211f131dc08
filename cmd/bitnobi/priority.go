package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"runtime"
)

// Priority is how much of the machine a command that runs beside a live
// server may take: [PriorityLow] (the default) or [PriorityNormal].
type Priority string

// The values of --priority.
const (
	// PriorityLow lowers the process's CPU priority to nice 19 (and its
	// session's, when it leads its session) and its I/O priority to the
	// lowest of the best-effort class, so that a backup running beside
	// the server slows the server's requests as little as possible. It
	// never raises a priority that is lower already (nice 15, or the
	// idle I/O class of "ionice -c3").
	PriorityLow Priority = "low"
	// PriorityNormal leaves the priorities the process started with.
	PriorityNormal Priority = "normal"
)

// priorityFlagHelp documents --priority for the commands that have it.
const priorityFlagHelp = `CPU and I/O priority: "low" runs at nice 19 and the lowest best-effort I/O priority,
so that a server running beside it stays responsive; "normal" leaves both as they are (env ` + EnvPriority + `)`

// priorityFlag adds --priority to fs, defaulting to $BITNOBI_BACKUP_PRIORITY
// or else [PriorityLow]. The value is checked by [Main.applyPriority].
func (m *Main) priorityFlag(fs *flag.FlagSet) *string {
	def := m.Getenv(EnvPriority)
	if def == "" {
		def = string(PriorityLow)
	}
	return fs.String("priority", def, priorityFlagHelp)
}

// parsePriority checks the value of --priority.
func parsePriority(s string) (Priority, error) {
	switch p := Priority(s); p {
	case PriorityLow, PriorityNormal:
		return p, nil
	}
	return "", fmt.Errorf("unknown priority %q: use low or normal", s)
}

// applyPriority lowers the process's priority when value (from
// [Main.priorityFlag]) is "low". A value that is neither low nor normal
// is a [UsageError]; failing to lower the priority is only a warning on
// stderr (unless quiet), since the command can do its work anyway.
func (m *Main) applyPriority(value string, quiet bool, logger *slog.Logger) error {
	p, err := parsePriority(value)
	if err != nil {
		return usagef("--priority low (or unset "+EnvPriority+")", "--priority: %v", err)
	}
	if p != PriorityLow || m.lowerPriority == nil {
		return nil
	}
	err = m.lowerPriority()
	switch {
	case errors.Is(err, errors.ErrUnsupported):
		logger.Debug("priority left as it is: lowering it is implemented on Linux only", "os", runtime.GOOS)
	case err != nil:
		if !quiet {
			fmt.Fprintf(m.Stderr, "Warning: could not lower the priority (--priority low): %v\n", err)
		}
	default:
		logger.Debug("lowered priority", "nice", lowNice, "io", "best-effort 7")
	}
	return nil
}

// lowNice is the nice value of [PriorityLow].
const lowNice = 19
