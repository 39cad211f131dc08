package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/internal/dbtest"
	"github.com/bitnobi/bitnobi/postgres"
	"github.com/bitnobi/bitnobi/secret"
	"github.com/bitnobi/bitnobi/store"
)

// TestAuditSeal_PostgresDataDir: with --db, the data directory is given
// apart from the database. A wrong one is a usage error (exit 2), never a
// broken chain (exit 4) for "audit verify", and never a place to seal
// into for "audit seal"; a segment file missing from the right one is
// still a broken chain.
func TestAuditSeal_PostgresDataDir(t *testing.T) {
	dsn := dbtest.NewPostgresDatabase(t)
	ctx := context.Background()
	db, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	// Two full segments and a few more.
	es := make([]*bitnobi.AuditEntry, 2*store.DefaultAuditSegmentSize+10)
	for i := range es {
		es[i] = &bitnobi.AuditEntry{At: time.Now(), ActorID: "u", ActorName: "test", Action: bitnobi.ActionSignIn, Detail: `{"i":` + strconv.Itoa(i) + `}`}
	}
	if err := db.WriteTx(ctx, func(tx *store.Tx) error { return tx.AppendAuditBatch(ctx, es) }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	root := t.TempDir()
	data := filepath.Join(root, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(data, "master.key")
	if _, _, err := secret.LoadOrCreateKeyFile(key); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{EnvDB: dsn}
	keyEnv := map[string]string{EnvDB: dsn, EnvKeyFile: key}
	run := func(t *testing.T, env map[string]string, want int, args ...string) string {
		t.Helper()
		code, out, errOut := runMain(t, env, args...)
		if code != want {
			t.Fatalf("%v: exit %d, want %d\nstdout: %s\nstderr: %s", args, code, want, out, errOut)
		}
		return out + errOut
	}
	if out := run(t, env, ExitOK, "audit", "seal", "--data-dir", data); !strings.Contains(out, "sealed 2 segments") {
		t.Fatalf("audit seal printed %q", out)
	}
	run(t, env, ExitOK, "audit", "verify", "--data-dir", data)

	t.Run("VerifyWithoutDataDir", func(t *testing.T) {
		out := run(t, env, ExitUsage, "audit", "verify", "--data-dir", filepath.Join(root, "elsewhere"))
		if !strings.Contains(out, "not the server's data directory") || !strings.Contains(out, "--data-dir") || strings.Contains(out, "restore") {
			t.Fatalf("audit verify in another data directory printed %q", out)
		}
	})
	t.Run("SealIntoMissingDir", func(t *testing.T) {
		other := filepath.Join(root, "missing")
		out := run(t, keyEnv, ExitUsage, "audit", "seal", "--data-dir", other)
		if !strings.Contains(out, "does not exist") {
			t.Fatalf("audit seal into a missing directory printed %q", out)
		}
		if _, err := os.Stat(other); !os.IsNotExist(err) {
			t.Fatalf("audit seal created %s (%v)", other, err)
		}
	})
	t.Run("SealIntoOtherDir", func(t *testing.T) {
		other := filepath.Join(root, "other")
		if err := os.Mkdir(other, 0o700); err != nil {
			t.Fatal(err)
		}
		out := run(t, keyEnv, ExitUsage, "audit", "seal", "--data-dir", other)
		if !strings.Contains(out, "not the server's data directory") {
			t.Fatalf("audit seal into another directory printed %q", out)
		}
	})
	t.Run("SegmentLost", func(t *testing.T) {
		// The right directory, one of two segment files gone: a loss.
		db, err := postgres.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		segs, err := store.AuditSegments(ctx, db.Read)
		db.Close()
		if err != nil || len(segs) != 2 {
			t.Fatalf("segments %v, %v", segs, err)
		}
		id := segs[1].BlobID
		if err := os.Remove(filepath.Join(data, "blobs", id[:2], id)); err != nil {
			t.Fatal(err)
		}
		out := run(t, env, ExitVerify, "audit", "verify", "--data-dir", data)
		if !strings.Contains(out, "missing") {
			t.Fatalf("audit verify of a lost segment printed %q", out)
		}
		out = run(t, env, ExitUsage, "audit", "seal", "--data-dir", data)
		if !strings.Contains(out, "lacks 1 of the 2 sealed audit segments") {
			t.Fatalf("audit seal with a lost segment printed %q", out)
		}
	})
}
