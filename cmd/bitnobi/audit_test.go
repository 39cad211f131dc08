package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/backup/backuptest"
	"github.com/bitnobi/bitnobi/sqlite"
	"github.com/bitnobi/bitnobi/store"
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

// TestAuditSeal seals a log of more than one segment with "audit seal",
// verifies it with "audit verify", and finds an altered segment file.
func TestAuditSeal(t *testing.T) {
	_, dataDir := seededDataDir(t)
	d := backuptest.NewDataDir(t, dataDir)
	ctx := context.Background()
	es := make([]*bitnobi.AuditEntry, store.DefaultAuditSegmentSize+50)
	for i := range es {
		es[i] = &bitnobi.AuditEntry{At: time.Now(), ActorID: "u", ActorName: "test", Action: bitnobi.ActionSignIn, Detail: `{"i":` + strconv.Itoa(i) + `}`}
	}
	if err := d.DB.WriteTx(ctx, func(tx *store.Tx) error { return tx.AppendAuditBatch(ctx, es) }); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	run := func(want int, args ...string) string {
		t.Helper()
		code, out, errOut := runMain(t, nil, args...)
		if code != want {
			t.Fatalf("%v: exit %d, want %d\nstdout: %s\nstderr: %s", args, code, want, out, errOut)
		}
		return out + errOut
	}
	out := run(ExitOK, "audit", "seal", "--data-dir", dataDir)
	if !regexp.MustCompile(`^sealed 1 segment \(16,?383 entries, .*\) in .*: sealed up to seq 16383\n$`).MatchString(out) {
		t.Fatalf("audit seal printed %q", out)
	}
	if out := run(ExitOK, "audit", "seal", "--data-dir", dataDir); out != "nothing to seal: sealed up to seq 16383\n" {
		t.Fatalf("second audit seal printed %q", out)
	}
	out = run(ExitOK, "audit", "verify", "--data-dir", dataDir)
	m := regexp.MustCompile(`^audit chain OK: ([0-9,]+) entries`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("audit verify printed %q", out)
	}
	n, err := strconv.Atoi(strings.ReplaceAll(m[1], ",", ""))
	if err != nil || n < len(es) {
		t.Fatalf("audit verify printed %q, want at least %d entries", out, len(es))
	}

	// A backup of the sealed log restores (today's format re-exports the
	// index and copies the segment file as a blob) into a log that
	// verifies, with the restore's own entry after the others.
	path := mustBackup(t, dataDir)
	target := filepath.Join(t.TempDir(), "restored")
	run(ExitOK, "restore", path, "--data-dir", target, "--key-file", filepath.Join(dataDir, "master.key"))
	if got, want := run(ExitOK, "audit", "verify", "--data-dir", target), fmt.Sprintf("audit chain OK: %d entries", n+1); !strings.HasPrefix(strings.ReplaceAll(got, ",", ""), want) {
		t.Fatalf("restored: audit verify printed %q, want %q", got, want)
	}

	// Flip a byte of the sealed segment's file.
	db, err := sqlite.Open(ctx, filepath.Join(dataDir, "bitnobi.db"))
	if err != nil {
		t.Fatal(err)
	}
	segs, err := store.AuditSegments(ctx, db.Read)
	db.Close()
	if err != nil || len(segs) != 1 {
		t.Fatalf("segments %v, %v", segs, err)
	}
	seg := filepath.Join(dataDir, "blobs", segs[0].BlobID[:2], segs[0].BlobID)
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	if err := os.WriteFile(seg, b, 0o600); err != nil {
		t.Fatal(err)
	}
	out = run(ExitVerify, "audit", "verify", "--data-dir", dataDir)
	if !strings.Contains(out, "sealed segment seq 1-16383") || !strings.Contains(out, "altered") {
		t.Fatalf("audit verify of an altered segment printed %q", out)
	}
}
