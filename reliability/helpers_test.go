package reliability_test

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/backup/backuptest"
	"github.com/bitnobi/bitnobi/internal/testutil"
	"github.com/bitnobi/bitnobi/store"
)

// seedDataDir makes a data directory at path with backuptest's content,
// a policy named marker, and blobMiB MiB of blobs in 1 MiB files (half
// random, half compressible CSV-like text), so that a backup or restore
// of it takes a while. If keyFrom is set, that master key is used.
func seedDataDir(t testing.TB, path string, blobMiB int, marker, keyFrom string) {
	t.Helper()
	if keyFrom != "" {
		backuptest.CopyKey(t, keyFrom, filepath.Join(path, "master.key"))
	}
	d := backuptest.NewDataDir(t, path)
	seeded := backuptest.Seed(t, d)
	ctx := context.Background()
	rnd := rand.New(rand.NewPCG(uint64(len(marker)), uint64(blobMiB)))
	var ids []string
	var sizes []int
	for i := range blobMiB {
		data := make([]byte, 1<<20)
		if i%2 == 0 {
			for j := range data {
				data[j] = byte(rnd.Uint32())
			}
		} else {
			var b bytes.Buffer
			for b.Len() < len(data) {
				fmt.Fprintf(&b, "%s,%d,org-%d,dept-%d,%d\n", marker, rnd.IntN(1e6), rnd.IntN(50), rnd.IntN(9), i)
			}
			copy(data, b.Bytes())
		}
		id, _, err := d.Blobs.Put(ctx, bytes.NewReader(data), 0)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		sizes = append(sizes, len(data))
	}
	err := d.DB.WriteTx(ctx, func(tx *store.Tx) error {
		now := bitnobi.FormatTime(tx.Now())
		for i, id := range ids {
			if _, err := tx.Exec(ctx, `INSERT INTO blobs (id, size, created_at) VALUES (?, ?, ?)`, id, sizes[i], now); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO policies (id, owner_id, name, description, global, created_at, updated_at) VALUES (?, ?, ?, '', 0, ?, ?)`,
			"p-"+marker, seeded.Admin.ID, marker, now, now)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
}

// state is a logical dump of a data directory: every state table's rows
// (sorted JSON lines, without the audit entries of restores, which differ
// between two restores of one backup) and every blob file's SHA-256.
type state struct {
	Tables map[string][]string
	Blobs  map[string]string // path under blobs/ -> sha256
}

func (s *state) equal(o *state) bool {
	if len(s.Tables) != len(o.Tables) || len(s.Blobs) != len(o.Blobs) {
		return false
	}
	for k, v := range s.Tables {
		if !slices.Equal(v, o.Tables[k]) {
			return false
		}
	}
	for k, v := range s.Blobs {
		if o.Blobs[k] != v {
			return false
		}
	}
	return true
}

// marker returns the names of the marker policies (seedDataDir's), to say
// which state a dump is.
func (s *state) marker() string {
	var ms []string
	for _, l := range s.Tables["policies"] {
		if strings.Contains(l, `"p-marker-`) {
			ms = append(ms, l[2:strings.Index(l[2:], `"`)+2])
		}
	}
	return strings.Join(ms, ",")
}

// dump reads the state of the data directory at path. The directory must
// not be in use by a writer.
func dump(t testing.TB, path string) *state {
	t.Helper()
	d := backuptest.Open(t, path)
	defer d.Close()
	s := &state{Blobs: map[string]string{}}
	s.Tables = backuptest.DumpWithout(t, d.DB, func(tb store.Table, row []any) bool {
		if tb.Name != "audit_log" {
			return false
		}
		action := slices.IndexFunc(tb.Columns, func(c store.Column) bool { return c.Name == "action" })
		return action >= 0 && row[action] == bitnobi.ActionRestore
	})
	root := filepath.Join(path, "blobs")
	err := filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if strings.HasPrefix(rel, "tmp") || strings.HasPrefix(rel, ".") {
			return nil // uploads in progress
		}
		s.Blobs[rel] = testutil.HashFile(t, p)
		return nil
	})
	if err != nil {
		t.Fatalf("dump blobs of %s: %v", path, err)
	}
	return s
}

// result is a finished bitnobi process.
type result struct {
	Code           int
	Stdout, Stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
}

// runBin runs bitnobi with args and waits for it (at most two minutes).
func runBin(t testing.TB, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Env = cleanEnv()
	err := cmd.Run()
	r := result{Stdout: out.String(), Stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.Code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run bitnobi %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// mustRun runs bitnobi and fails the test unless it exits 0.
func mustRun(t testing.TB, args ...string) result {
	t.Helper()
	r := runBin(t, args...)
	if r.Code != 0 {
		t.Fatalf("bitnobi %s: %s", strings.Join(args, " "), r)
	}
	return r
}

// cleanEnv is the environment without BITNOBI_ variables, so a
// developer's settings do not leak into the processes.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BITNOBI_") {
			env = append(env, kv)
		}
	}
	return env
}

// killAfter starts bitnobi with args, kills it with SIGKILL after delay
// (unless it ended before), and reports whether it was killed.
func killAfter(t testing.TB, delay time.Duration, args ...string) (killed bool, r result) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Env = cleanEnv()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(delay):
		_ = cmd.Process.Kill() // SIGKILL
		err = <-done
		killed = cmd.ProcessState.ExitCode() == -1
	}
	r = result{Stdout: out.String(), Stderr: errb.String(), Code: cmd.ProcessState.ExitCode()}
	_ = err
	return killed, r
}

// copyTree copies the directory src to dst (regular files and
// directories only), keeping modes.
func copyTree(t testing.TB, src, dst string) { copyTreeAs(t, src, dst, 0, 0) }

// copyTreeAs copies the directory src to dst (regular files and
// directories only), giving files mode file and directories mode dir, or
// keeping the source's mode where that is 0.
func copyTreeAs(t testing.TB, src, dst string, file, dir os.FileMode) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		fi, err := de.Info()
		if err != nil {
			return err
		}
		mode := fi.Mode().Perm()
		if de.IsDir() {
			if dir != 0 {
				mode = dir
			}
			return os.MkdirAll(target, mode)
		}
		if file != 0 {
			mode = file
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, mode)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// entries lists the names in dir that start with prefix.
func entries(t testing.TB, dir, prefix string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		if strings.HasPrefix(de.Name(), prefix) {
			names = append(names, de.Name())
		}
	}
	return names
}
