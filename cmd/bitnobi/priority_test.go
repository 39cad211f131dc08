package main

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// runWithPriority runs one command in-process with lower as the priority
// lowering, and returns its exit code and stderr.
func runWithPriority(t *testing.T, env map[string]string, lower func() error, args ...string) (int, string) {
	t.Helper()
	var out, errb bytes.Buffer
	m := &Main{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] }, lowerPriority: lower}
	code := m.Report(m.Run(context.Background(), args))
	return code, errb.String()
}

// TestPriorityFlag checks which commands lower the priority, for which
// values of --priority and $BITNOBI_BACKUP_PRIORITY. The commands fail on
// a missing data directory or backup after the priority is applied, so
// nothing heavier runs.
func TestPriorityFlag(t *testing.T) {
	root := t.TempDir()
	missing := filepath.Join(root, "missing")
	empty := filepath.Join(root, "backup")
	for _, tt := range []struct {
		name      string
		env       map[string]string
		args      []string
		wantCode  int
		wantLower bool
	}{
		{"Backup/Default", nil, []string{"backup", "--data-dir", missing}, ExitUsage, true},
		{"Backup/Low", nil, []string{"backup", "--data-dir", missing, "--priority", "low"}, ExitUsage, true},
		{"Backup/Normal", nil, []string{"backup", "--data-dir", missing, "--priority", "normal"}, ExitUsage, false},
		{"Backup/EnvNormal", map[string]string{EnvPriority: "normal"}, []string{"backup", "--data-dir", missing}, ExitUsage, false},
		{"Backup/FlagOverridesEnv", map[string]string{EnvPriority: "normal"}, []string{"backup", "--data-dir", missing, "--priority", "low"}, ExitUsage, true},
		{"Backup/ErrUnknown", nil, []string{"backup", "--data-dir", missing, "--priority", "high"}, ExitUsage, false},
		{"Backup/ErrUnknownEnv", map[string]string{EnvPriority: "idle"}, []string{"backup", "--data-dir", missing}, ExitUsage, false},
		{"Verify/Default", nil, []string{"backups", "verify", "--all", "--backup-dir", empty}, ExitOK, true},
		{"Verify/Normal", nil, []string{"backups", "verify", "--all", "--backup-dir", empty, "--priority", "normal"}, ExitOK, false},
		{"Export/Default", nil, []string{"backups", "export", filepath.Join(missing, "b"), filepath.Join(root, "out.tar")}, ExitUsage, true},
		{"Export/Normal", nil, []string{"backups", "export", "--priority", "normal", filepath.Join(missing, "b"), filepath.Join(root, "out.tar")}, ExitUsage, false},
		{"Restore/Never", nil, []string{"restore", filepath.Join(missing, "b"), "--data-dir", filepath.Join(root, "d")}, ExitUsage, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			lowered := false
			code, errOut := runWithPriority(t, tt.env, func() error { lowered = true; return nil }, tt.args...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d\nstderr: %s", code, tt.wantCode, errOut)
			}
			if lowered != tt.wantLower {
				t.Fatalf("priority lowered: %v, want %v\nstderr: %s", lowered, tt.wantLower, errOut)
			}
			if strings.HasPrefix(tt.name, "Backup/ErrUnknown") && !strings.Contains(errOut, "low or normal") {
				t.Fatalf("stderr does not name the values:\n%s", errOut)
			}
		})
	}
}

// TestPriorityFlag_Failure checks that a priority that cannot be lowered
// is a warning, and the backup is made anyway; and that an OS without the
// feature is not even warned about.
func TestPriorityFlag_Failure(t *testing.T) {
	_, dataDir := seededDataDir(t)
	for _, tt := range []struct {
		name        string
		err         error
		wantWarning bool
	}{
		{"Failed", errors.New("set nice 10 (thread 7): operation not permitted"), true},
		{"Unsupported", errors.ErrUnsupported, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, errOut := runWithPriority(t, nil, func() error { return tt.err }, "backup", "--data-dir", dataDir)
			if code != ExitOK {
				t.Fatalf("exit %d, want 0\nstderr: %s", code, errOut)
			}
			if got := strings.Contains(errOut, "Warning: could not lower the priority"); got != tt.wantWarning {
				t.Fatalf("warning shown: %v, want %v\nstderr: %s", got, tt.wantWarning, errOut)
			}
			if tt.wantWarning && !strings.Contains(errOut, "operation not permitted") {
				t.Fatalf("the warning does not say why:\n%s", errOut)
			}
		})
	}
}
