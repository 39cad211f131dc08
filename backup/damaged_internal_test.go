package backup

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/bitnobi/bitnobi/postgres"
	"github.com/bitnobi/bitnobi/sqlite"
	"github.com/bitnobi/bitnobi/store"
)

// TestRestore_NoDamageCheckForOtherErrors: a restore into a PostgreSQL
// database that cannot be reached fails with the connection's error, at
// once: the backup, intact, is not read again in full (damaged) to look
// for a damaged file that could not have caused it. Only the files
// restore reads before it connects (the secrets table's) are opened.
func TestRestore_NoDamageCheckForOtherErrors(t *testing.T) {
	root, src, res := seededBackup(t)
	// A port nothing listens on: taken, then freed.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	opened := countOpens(t, res.Path)
	target := &postgres.RestoreTarget{DSN: "postgres://bitnobi@" + addr + "/bitnobi?sslmode=disable&connect_timeout=5"}
	_, err = Restore(context.Background(), RestoreOptions{Backup: res.Path, DataDir: filepath.Join(root, "data"), Local: sqlite.Local{}, KeyFile: src.Dir.Key(), Target: target})
	if err == nil || errors.Is(err, ErrVerify) {
		t.Fatalf("Restore into an unreachable database: err=%v, want the connection's error", err)
	}
	for _, f := range res.Manifest.Files {
		if strings.HasPrefix(f.Path, "tables/secrets.") {
			continue
		}
		if got := opened[f.Path]; got != 0 {
			t.Errorf("%s read %d times after a connection error, want 0 (the backup was checked again)", f.Path, got)
		}
	}
}

// TestMayBeDamage lists which errors before the switch lead to a full
// check of the backup's files.
func TestMayBeDamage(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"Checksum", fmt.Errorf("restore: %w", checksumError("tables/users.0.jsonl.zst", "a", "b")), true},
		{"Malformed", fmt.Errorf("restore: %w: 3 rows, manifest says 4", ErrMalformed), true},
		{"Decode", &FileError{Op: "decode", Path: "tables/users.0.jsonl.zst", Err: errors.New("zstd: invalid input")}, true},
		{"AuditChain", fmt.Errorf("restore: %w at seq 4", store.ErrAuditChain), true},
		{"Constraint", fmt.Errorf("restore: restore table users: %w", fromBackup{errors.New("UNIQUE constraint failed: users.username")}), true},
		{"ConnectionLostLoading", fmt.Errorf("restore: restore table users: %w", fromBackup{&net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}}), false},
		{"ConnectionRefused", fmt.Errorf("restore: %w", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}), false},
		{"Seal", fmt.Errorf("restore: seal the audit log: %w", errors.New("write segment: read-only file system")), false},
		{"Migrate", fmt.Errorf("restore: migrate from schema version 3: %w", errors.New("database is locked")), false},
		{"Space", fmt.Errorf("restore: %w", ErrNoSpace), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := mayBeDamage(c.err); got != c.want {
				t.Fatalf("mayBeDamage(%v)=%v, want %v", c.err, got, c.want)
			}
		})
	}
}
