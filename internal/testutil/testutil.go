// Package testutil holds the helpers that the tests of several packages
// share: one copy each, in a non-test file so that any package's tests can
// import it (as Litestream's internal/testingutil). Nothing outside tests
// imports it.
package testutil

import (
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"flag"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bitnobi/bitnobi/backup/format"
)

// Update is the -update flag of every package whose tests have golden
// files or generated test data: set, the tests rewrite them in testdata/
// instead of comparing against them.
var Update = flag.Bool("update", false, "rewrite the golden files and generated test data in testdata/")

// IsLock reports whether the file called name is a lock file: a backup
// folder's .lock, a data directory's bitnobi.lock and gc.lock. Taking a
// lock creates its file, which is no change of state.
func IsLock(name string) bool { return strings.HasSuffix(name, ".lock") }

// Tree records the tree at dir, to tell whether anything changed: every
// entry's path relative to dir (slash-separated, "." for dir itself) maps
// to its mode and, for a regular file, the SHA-256 of its content. Lock
// files (see [IsLock]) are left out when skipLocks is set.
func Tree(tb testing.TB, dir string, skipLocks bool) map[string]string {
	tb.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if skipLocks && IsLock(d.Name()) {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		v := fi.Mode().String()
		if fi.Mode().IsRegular() {
			v += " " + HashFile(tb, p)
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		out[filepath.ToSlash(rel)] = v
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// HashFile returns the SHA-256 of the file at path, in hex.
func HashFile(tb testing.TB, path string) string {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		tb.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// LastLine returns the last line of s, ignoring a final newline: what a
// command prints last, such as the path of the backup it wrote.
func LastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

// CloneBackup makes folder/name a copy of the backup src as if made at t:
// every file hard-linked but the manifest, rewritten with created_at t.
// It returns the copy's path. (For a plain backup: an encrypted one's
// sealed manifest would no longer match.)
func CloneBackup(tb testing.TB, src, folder, name string, t time.Time) string {
	tb.Helper()
	dst := filepath.Join(folder, name)
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o700)
		case rel == format.ManifestName:
			return nil
		}
		return os.Link(p, target)
	})
	if err != nil {
		tb.Fatal(err)
	}
	m, err := format.ReadManifest(src)
	if err != nil {
		tb.Fatal(err)
	}
	m.CreatedAt = t
	data, err := m.Marshal()
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dst, format.ManifestName), data, 0o600); err != nil {
		tb.Fatal(err)
	}
	return dst
}

// Rows runs query on q and returns each row as a JSON object of its
// columns (text as strings, whichever way the driver returns it), in the
// query's order: rows to compare between two databases with go-cmp.
func Rows(tb testing.TB, q *sql.DB, query string) []string {
	tb.Helper()
	rows, err := q.Query(query)
	if err != nil {
		tb.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			tb.Fatal(err)
		}
		m := make(map[string]any, len(cols))
		for i, c := range cols {
			if b, ok := vals[i].([]byte); ok {
				vals[i] = string(b)
			}
			m[c] = vals[i]
		}
		b, err := json.Marshal(m)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, string(b))
	}
	if err := rows.Err(); err != nil {
		tb.Fatalf("%s: %v", query, err)
	}
	return out
}
