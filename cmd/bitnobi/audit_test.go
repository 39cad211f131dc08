package main

import (
	"path/filepath"
	"regexp"
	"testing"

	"github.com/bitnobi/bitnobi/backup/backuptest"
)

func TestAuditVerify(t *testing.T) {
	root, dataDir := seededDataDir(t)
	for _, tt := range []struct {
		name string
		args []string
		want int
		out  string // a regular expression stdout must match
	}{
		{"OK", []string{"audit", "verify", "--data-dir", dataDir}, ExitOK, `^audit chain OK: \d+ entr(y|ies), head [0-9a-f]{16}\n$`},
		{"Empty", []string{"audit", "verify", "--data-dir", emptyDataDir(t, root)}, ExitOK, `^audit chain OK: 0 entries\n$`},
		{"ErrArgument", []string{"audit", "verify", "--data-dir", dataDir, "extra"}, ExitUsage, `^$`},
		{"ErrNoCommand", []string{"audit"}, ExitUsage, `^$`},
		{"ErrUnknownCommand", []string{"audit", "check"}, ExitUsage, `^$`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runMain(t, nil, tt.args...)
			if code != tt.want {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.want, out, errOut)
			}
			if !regexp.MustCompile(tt.out).MatchString(out) {
				t.Fatalf("stdout %q does not match %s", out, tt.out)
			}
		})
	}
}

// emptyDataDir makes a data directory with a database and no state.
func emptyDataDir(t *testing.T, root string) string {
	t.Helper()
	dir := filepath.Join(root, "empty")
	if err := backuptest.NewDataDir(t, dir).Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}
