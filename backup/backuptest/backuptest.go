// Package backuptest builds data directories with known content for the
// tests of package backup and of the commands that use it. The content
// is written through the services, by package seed (one seeder for
// benchmarks and tests alike).
package backuptest

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/blob"
	"github.com/bitnobi/bitnobi/internal/datadir"
	"github.com/bitnobi/bitnobi/internal/seed"
	"github.com/bitnobi/bitnobi/secret"
	"github.com/bitnobi/bitnobi/sqlite"
	"github.com/bitnobi/bitnobi/store"
)

var discardLogger = slog.New(slog.DiscardHandler)

// DataDir is an open data directory.
type DataDir struct {
	Dir   datadir.Dir
	DB    *store.DB
	Key   secret.Key
	Blobs *blob.Store
}

// NewDataDir creates a data directory at path (made if missing) with a
// master key and a migrated database with an instance ID, the way a
// server's first start does. It is closed when the test ends.
func NewDataDir(tb testing.TB, path string) *DataDir {
	tb.Helper()
	dir, key := newKey(tb, path)
	return setUp(tb, openSQLite(tb, dir), dir, key, true)
}

// Open opens an existing data directory, such as a restored one, without
// migrating it. It is closed when the test ends.
func Open(tb testing.TB, path string) *DataDir {
	tb.Helper()
	dir, key := readKey(tb, path)
	return setUp(tb, openSQLite(tb, dir), dir, key, false)
}

// newKey makes the directory path if missing, with a master key.
func newKey(tb testing.TB, path string) (datadir.Dir, secret.Key) {
	tb.Helper()
	if err := os.MkdirAll(path, 0o700); err != nil {
		tb.Fatal(err)
	}
	dir := datadir.Dir(path)
	key, _, err := secret.LoadOrCreateKeyFile(dir.Key())
	if err != nil {
		tb.Fatal(err)
	}
	return dir, key
}

// readKey reads the master key of the data directory at path.
func readKey(tb testing.TB, path string) (datadir.Dir, secret.Key) {
	tb.Helper()
	dir := datadir.Dir(path)
	key, err := secret.ReadKeyFile(dir.Key())
	if err != nil {
		tb.Fatal(err)
	}
	return dir, key
}

func openSQLite(tb testing.TB, dir datadir.Dir) *store.DB {
	tb.Helper()
	db, err := sqlite.OpenNoMigrate(context.Background(), dir.DB())
	if err != nil {
		tb.Fatal(err)
	}
	return db
}

// setUp gives db, just opened, its key and dir's blob store, closes it
// when the test ends and, if migrate is set, migrates it and gives it an
// instance ID.
func setUp(tb testing.TB, db *store.DB, dir datadir.Dir, key secret.Key, migrate bool) *DataDir {
	tb.Helper()
	tb.Cleanup(func() { db.Close() })
	db.Logger = discardLogger
	db.Key = key
	db.Blobs = blob.NewStore(dir.Blobs())
	if migrate {
		ctx := context.Background()
		if err := db.Migrate(ctx); err != nil {
			tb.Fatal(err)
		}
		if _, err := db.EnsureInstance(ctx); err != nil {
			tb.Fatal(err)
		}
	}
	return &DataDir{Dir: dir, DB: db, Key: key, Blobs: db.Blobs}
}

// Close closes the database.
func (d *DataDir) Close() error { return d.DB.Close() }

// Seeded tells what [Seed] wrote.
type Seeded struct {
	*seed.Known                   // the records, as the services returned them
	Users       []string          // usernames
	Policies    []string          // policy names
	BlobIDs     []string          // blobs referenced by records
	BlobData    map[string][]byte // blob id -> content
	Secrets     map[string]string // secret id -> plain value
}

// SampleCSV is the content of the uploaded data source [Seed] creates.
const SampleCSV = seed.KnownCSV

// Seed fills d with a little of everything through the services (see
// [seed.FillKnown]): users with attributes, an admin, policies (one
// global), an uploaded CSV data source with its blob, an SQL data source
// with a sealed password, a workflow with a policy attached and a
// finished run whose result is a blob, a report, a remote server and
// e-mail settings (both with secrets, both enabled), and the audit
// entries of each change.
func Seed(tb testing.TB, d *DataDir) *Seeded {
	tb.Helper()
	ctx := context.Background()
	k, err := seed.FillKnown(ctx, d.DB)
	if err != nil {
		tb.Fatal(err)
	}
	s := &Seeded{Known: k, BlobData: map[string][]byte{}, Secrets: map[string]string{}}
	for _, u := range []*bitnobi.User{k.Admin, k.Alice, k.Bob} {
		s.Users = append(s.Users, u.Username)
	}
	s.Policies = []string{k.ITPolicy.Name, k.AcmePolicy.Name}
	for _, id := range []string{k.CSVSource.BlobID, k.Run.ResultBlobID} {
		rc, err := d.Blobs.Open(id)
		if err != nil {
			tb.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			tb.Fatal(err)
		}
		s.BlobIDs = append(s.BlobIDs, id)
		s.BlobData[id] = data
	}
	// The services never show a secret's id; the store's table does.
	for _, id := range column(tb, d.DB, `SELECT id FROM secrets`) {
		plain, err := d.DB.RevealSecret(ctx, id)
		if err != nil {
			tb.Fatal(err)
		}
		s.Secrets[id] = plain
	}
	if len(s.Secrets) != len(SecretValues) {
		tb.Fatalf("seeded %d secrets, want %d", len(s.Secrets), len(SecretValues))
	}
	return s
}

// Dump returns every state table of db as sorted JSON lines, table by
// table, for comparing two databases.
func Dump(tb testing.TB, db *store.DB) map[string][]string {
	tb.Helper()
	return DumpWithout(tb, db, nil)
}

// DumpWithout is [Dump] without the rows for which skip, if not nil,
// reports true.
func DumpWithout(tb testing.TB, db *store.DB, skip func(t store.Table, row []any) bool) map[string][]string {
	tb.Helper()
	ctx := context.Background()
	out := map[string][]string{}
	err := db.ReadTx(ctx, func(tx *store.Tx) error {
		tables, err := db.StateTables(ctx, tx)
		if err != nil {
			return err
		}
		for _, t := range tables {
			lines := []string{}
			err := db.ExportRows(ctx, tx, t, func(row []any) error {
				if skip != nil && skip(t, row) {
					return nil
				}
				b, err := json.Marshal(row)
				lines = append(lines, string(b))
				return err
			})
			if err != nil {
				return err
			}
			slices.Sort(lines)
			out[t.Name] = lines
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// CopyKey copies a master key file to dst with mode 0600 (git does not
// keep modes, and key files must not be readable by others).
func CopyKey(tb testing.TB, src, dst string) {
	tb.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.Chmod(dst, 0o600); err != nil {
		tb.Fatal(err)
	}
}

// SecretValues are the plain values of the secrets [Seed] stores.
var SecretValues = []string{seed.KnownSQLPassword, seed.KnownRemotePassword, seed.KnownSMTPPassword}

// Secrets returns what must never be shown of d's state: the plain
// values of the secrets [Seed] stores, the secrets' ids and sealed
// values, and password hashes.
func Secrets(tb testing.TB, d *DataDir) []string {
	tb.Helper()
	out := slices.Clone(SecretValues)
	return append(out, column(tb, d.DB, `SELECT id FROM secrets UNION ALL SELECT sealed FROM secrets UNION ALL SELECT password_hash FROM users`)...)
}

// column returns the values of the one text column query returns.
func column(tb testing.TB, db *store.DB, query string) []string {
	tb.Helper()
	rows, err := db.Read.Query(query)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			tb.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}
