package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// The seeding itself is tested in internal/seed on a tiny size; these
// check the command's handling of its input.
func TestDevSeed_BadInput(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"UnknownSize", []string{"dev", "seed", "--data-dir", dir, "--size", "XL"}, `unknown size "XL"`},
		{"MutateNothing", []string{"dev", "seed", "--data-dir", dir, "--mutate"}, "no Bitnobi database"},
		{"NoHistory", []string{"dev", "seed", "--data-dir", dir, "--history", "0"}, "want 1 or more years"},
		{"Argument", []string{"dev", "seed", "--data-dir", dir, "extra"}, "takes no arguments"},
		{"UnknownCommand", []string{"dev", "grow"}, `unknown dev command "grow"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runMain(t, nil, tc.args...)
			if code != ExitUsage || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, stderr, ExitUsage, tc.want)
			}
		})
	}
}

func TestDevSeed_Help(t *testing.T) {
	// Help that is asked for is output: stdout (see TestHelp).
	code, stdout, _ := runMain(t, nil, "dev", "seed", "--help")
	if code != ExitOK || !strings.Contains(stdout, "bitnobi-seed-password") {
		t.Fatalf("exit %d, stdout %q", code, stdout)
	}
}
