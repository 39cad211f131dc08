package main

import (
	"strings"
	"testing"
)

// TestHelp checks that every command's --help is its output: on stdout,
// with exit code 0, starting with its usage line; and that a flag error
// puts the usage on stderr with exit code 2.
func TestHelp(t *testing.T) {
	// Every command of the table, and every command of each group.
	all := [][]string{{"--help"}}
	for _, c := range commands {
		all = append(all, []string{c.name, "--help"})
		for _, s := range c.subs {
			all = append(all, []string{c.name, s.name, "--help"})
		}
	}
	if len(all) < 17 {
		t.Fatalf("the command table has %d commands and groups, want at least 17: %v", len(all)-1, all)
	}
	for _, args := range all {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, out, errOut := runMain(t, nil, args...)
			if code != 0 {
				t.Fatalf("exit %d, want 0; stderr: %s", code, errOut)
			}
			if !strings.Contains(out, "Usage:") && !strings.Contains(out, "bitnobi COMMAND") {
				t.Fatalf("stdout has no usage:\n%s\nstderr:\n%s", out, errOut)
			}
			if name := strings.Join(args[:len(args)-1], " "); name != "" && !strings.HasPrefix(out, "Usage: bitnobi "+name+" ") {
				t.Fatalf("stdout does not start with the usage of %q:\n%s", name, out)
			}
		})
	}
	// The usage text lists every command but the hidden ones, and each
	// group's help every command of the group.
	t.Run("Listed", func(t *testing.T) {
		_, out, _ := runMain(t, nil, "--help")
		for _, c := range commands {
			if got := strings.Contains(out, "\n  "+c.name+" "); got == c.hidden {
				t.Errorf("usage lists %s: %v, want %v", c.name, got, !c.hidden)
			}
			if c.subs == nil {
				continue
			}
			_, gout, _ := runMain(t, nil, c.name, "--help")
			for _, s := range c.subs {
				if !strings.Contains(gout, "\n  "+s.name+" ") {
					t.Errorf("%s --help does not list %s:\n%s", c.name, s.name, gout)
				}
			}
		}
	})
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
