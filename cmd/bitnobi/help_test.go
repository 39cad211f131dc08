package main

import (
	"strings"
	"testing"
)

// TestHelp checks that every command's --help is its output: on stdout,
// with exit code 0, starting with its usage line; and that a flag error
// puts the usage on stderr with exit code 2.
func TestHelp(t *testing.T) {
	for _, args := range [][]string{
		{"--help"},
		{"serve", "--help"},
		{"backup", "--help"},
		{"restore", "--help"},
		{"backups", "--help"},
		{"backups", "list", "--help"},
		{"backups", "verify", "--help"},
		{"backups", "inspect", "--help"},
		{"backups", "diff", "--help"},
		{"backups", "prune", "--help"},
		{"backups", "export", "--help"},
		{"backups", "import", "--help"},
		{"backups", "push", "--help"},
		{"backups", "pull", "--help"},
		{"audit", "--help"},
		{"audit", "verify", "--help"},
		{"version", "--help"},
		{"dev", "seed", "--help"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, out, errOut := runMain(t, nil, args...)
			if code != 0 {
				t.Fatalf("exit %d, want 0; stderr: %s", code, errOut)
			}
			if !strings.Contains(out, "Usage:") && !strings.Contains(out, "bitnobi COMMAND") {
				t.Fatalf("stdout has no usage:\n%s\nstderr:\n%s", out, errOut)
			}
		})
	}
	// A group's help names its commands and where their flags are, or
	// lists them.
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"audit", "--help"}, []string{"verify", "-data-dir", "-db", "bitnobi audit verify --help"}},
		{[]string{"backups", "--help"}, []string{"list", "verify", "export", "push", "pull", "bitnobi backups COMMAND --help"}},
	} {
		t.Run("Group/"+strings.Join(tt.args, " "), func(t *testing.T) {
			_, out, _ := runMain(t, nil, tt.args...)
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("help does not mention %q:\n%s", w, out)
				}
			}
		})
	}
	t.Run("ErrUsage", func(t *testing.T) {
		code, out, errOut := runMain(t, nil, "restore", "--no-such-flag")
		if code != ExitUsage {
			t.Fatalf("exit %d, want %d", code, ExitUsage)
		}
		if out != "" || !strings.Contains(errOut, "Usage: bitnobi restore") {
			t.Fatalf("stdout %q, stderr %q: want the usage on stderr only", out, errOut)
		}
	})
}
