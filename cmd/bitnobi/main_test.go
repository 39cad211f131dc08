package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/bitnobi/bitnobi/backup"
	"github.com/bitnobi/bitnobi/internal/lockfile"
)

// TestReport checks the exit codes of errors, those a command classified
// and those it did not.
func TestReport(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		want int
	}{
		{"OK", nil, ExitOK},
		{"Failed", errors.New("disk on fire"), ExitFailed},
		{"Usage", usagef("", "bad flag"), ExitUsage},
		{"Exit", &ExitError{Code: ExitVerify, Err: errors.New("bad")}, ExitVerify},
		{"Interrupted", fmt.Errorf("open: %w", context.Canceled), ExitInterrupted},
		// Unclassified errors of the backup package get their codes.
		{"NotBackup", fmt.Errorf("inspect: %w", backup.ErrNotBackup), ExitUsage},
		{"NewerVersion", fmt.Errorf("diff: %w", backup.ErrNewerVersion), ExitUsage},
		{"Locked", fmt.Errorf("prune: %w", lockfile.ErrLocked), ExitLocked},
		{"Damaged", fmt.Errorf("read: %w", backup.ErrChecksumMismatch), ExitVerify},
		// A command's own classification wins.
		{"ExitOverSentinel", &ExitError{Code: ExitFailed, Err: backup.ErrNotBackup}, ExitFailed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			m := &Main{Stderr: &stderr}
			if got := m.Report(tt.err); got != tt.want {
				t.Fatalf("Report(%v)=%d, want %d; stderr %s", tt.err, got, tt.want, stderr.String())
			}
		})
	}
}
