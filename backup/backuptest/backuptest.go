// Package backuptest builds data directories with known content for the
// tests of package backup and of the commands that use it. It writes
// through the store's transactions and raw SQL, so it does not depend on
// the services.
package backuptest

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/blob"
	"github.com/bitnobi/bitnobi/internal/datadir"
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
	if err := os.MkdirAll(path, 0o700); err != nil {
		tb.Fatal(err)
	}
	dir := datadir.Dir(path)
	key, _, err := secret.LoadOrCreateKeyFile(dir.Key())
	if err != nil {
		tb.Fatal(err)
	}
	return open(tb, dir, key, true)
}

// Open opens an existing data directory, such as a restored one, without
// migrating it. It is closed when the test ends.
func Open(tb testing.TB, path string) *DataDir {
	tb.Helper()
	dir := datadir.Dir(path)
	key, err := secret.ReadKeyFile(dir.Key())
	if err != nil {
		tb.Fatal(err)
	}
	return open(tb, dir, key, false)
}

func open(tb testing.TB, dir datadir.Dir, key secret.Key, migrate bool) *DataDir {
	tb.Helper()
	ctx := context.Background()
	db, err := sqlite.OpenNoMigrate(ctx, dir.DB())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	db.Logger = discardLogger
	db.Key = key
	db.Blobs = blob.NewStore(dir.Blobs())
	if migrate {
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
	Users     []string          // usernames
	Policies  []string          // policy names
	BlobIDs   []string          // blobs referenced by records
	BlobData  map[string][]byte // blob id -> content
	Secrets   map[string]string // secret id -> plain value
	AuditRows int
}

// SampleCSV is the content of the uploaded data source [Seed] creates.
const SampleCSV = "name,organization,department,age\nAlice,Bitnobi,IT,34\nBob,Bitnobi,Research,41\nCarol,Acme,Finance,29\n"

// Seed fills d with a little of everything: users with attributes, an
// admin, policies (one global), an uploaded CSV data source with its blob,
// an SQL data source with a sealed password, a workflow with a policy
// attached and a finished run whose result is a blob, a report, a remote
// server and e-mail settings (both with secrets, both enabled), and an
// audit entry for each change.
func Seed(tb testing.TB, d *DataDir) *Seeded {
	tb.Helper()
	ctx := context.Background()
	s := &Seeded{BlobData: map[string][]byte{}, Secrets: map[string]string{}}
	putBlob := func(data []byte) string {
		id, _, err := d.Blobs.Put(ctx, strings.NewReader(string(data)), 0)
		if err != nil {
			tb.Fatal(err)
		}
		s.BlobData[id] = data
		s.BlobIDs = append(s.BlobIDs, id)
		return id
	}
	csvID := putBlob([]byte(SampleCSV))
	resultID := putBlob([]byte("[[\"Bitnobi\",2],[\"Acme\",1]]\n"))

	err := d.DB.WriteTx(ctx, func(tx *store.Tx) error {
		now := bitnobi.FormatTime(tx.Now())
		exec := func(q string, args ...any) {
			if _, err := tx.Exec(ctx, q, args...); err != nil {
				tb.Fatalf("%s: %v", q, err)
			}
		}
		audit := func(action, typ, id string) {
			actx := bitnobi.NewContextWithActor(ctx, &bitnobi.Actor{UserID: "u-admin", Username: "admin", RemoteAddr: "192.0.2.1"})
			if err := tx.Audit(actx, action, typ, id, map[string]string{"seed": "yes"}); err != nil {
				tb.Fatal(err)
			}
			s.AuditRows++
		}
		users := []struct {
			id, name string
			admin    int
			attrs    map[string]string
		}{
			{"u-admin", "admin", 1, map[string]string{"organization": "Bitnobi", "department": "IT"}},
			{"u-alice", "alice", 0, map[string]string{"organization": "Bitnobi", "department": "Research"}},
			{"u-bob", "bob", 0, map[string]string{"organization": "Acme"}},
		}
		for _, u := range users {
			exec(`INSERT INTO users (id, username, email, password_hash, is_admin, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
				u.id, u.name, u.name+"@example.org", "$argon2id$v=19$m=65536,t=1,p=4$c2FsdA$aGFzaA", u.admin, now, now)
			for k, v := range u.attrs {
				exec(`INSERT INTO user_attributes (user_id, key, value) VALUES (?, ?, ?)`, u.id, k, v)
			}
			s.Users = append(s.Users, u.name)
			audit(bitnobi.ActionSignUp, "user", u.id)
		}
		exec(`INSERT INTO policies (id, owner_id, name, description, global, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			"p-it", "u-admin", "Bitnobi IT", "IT staff of Bitnobi", 1, now, now)
		exec(`INSERT INTO policy_attributes (policy_id, key, value) VALUES (?, ?, ?), (?, ?, ?)`,
			"p-it", "organization", "Bitnobi", "p-it", "department", "IT")
		exec(`INSERT INTO policies (id, owner_id, name, description, global, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			"p-acme", "u-alice", "Acme — «partners»", "unicode, \"quotes\"\nand a newline", 0, now, now)
		exec(`INSERT INTO policy_attributes (policy_id, key, value) VALUES (?, ?, ?)`, "p-acme", "organization", "Acme")
		s.Policies = append(s.Policies, "Bitnobi IT", "Acme — «partners»")
		audit(bitnobi.ActionPolicyCreate, "policy", "p-it")
		audit(bitnobi.ActionPolicyCreate, "policy", "p-acme")

		for _, id := range []string{csvID, resultID} {
			exec(`INSERT INTO blobs (id, size, created_at) VALUES (?, ?, ?)`, id, len(s.BlobData[id]), now)
		}
		exec(`INSERT INTO datasources (id, owner_id, name, kind, format, filename, blob_id, size, created_at, updated_at) VALUES (?, ?, ?, 'file', 'csv', 'people.csv', ?, ?, ?, ?)`,
			"ds-csv", "u-alice", "People", csvID, len(SampleCSV), now, now)
		dbPass, err := tx.PutSecret(ctx, "", "s3cret-db-password")
		if err != nil {
			return err
		}
		s.Secrets[dbPass] = "s3cret-db-password"
		exec(`INSERT INTO datasources (id, owner_id, name, kind, sql_driver, sql_host, sql_port, sql_database, sql_user, sql_query, secret_id, created_at, updated_at) VALUES (?, ?, ?, 'sql', 'postgres', 'db.example.org', 5432, 'hr', 'reader', 'SELECT 1', ?, ?, ?)`,
			"ds-sql", "u-admin", "HR database", dbPass, now, now)
		audit(bitnobi.ActionDataSourceCreate, "datasource", "ds-csv")
		audit(bitnobi.ActionDataSourceCreate, "datasource", "ds-sql")

		exec(`INSERT INTO workflows (id, owner_id, name, graph, exportables, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			"wf-1", "u-alice", "Count by org", `{"elements":[{"id":"in","type":"importer","datasource":"ds-csv"},{"id":"g","type":"group"},{"id":"out","type":"result"}],"edges":[["in","g"],["g","out"]]}`, `["organization"]`, now, now)
		exec(`INSERT INTO workflow_policies (workflow_id, policy_id, attached_at) VALUES (?, ?, ?)`, "wf-1", "p-it", now)
		exec(`INSERT INTO workflow_runs (id, workflow_id, started_by, status, progress, result_blob_id, result_columns, result_rows, started_at, ended_at) VALUES (?, ?, ?, 'succeeded', 1.0, ?, ?, 2, ?, ?)`,
			"run-1", "wf-1", "u-alice", resultID, `["organization","count"]`, now, now)
		exec(`INSERT INTO reports (id, owner_id, workflow_id, name, charts, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			"rep-1", "u-alice", "wf-1", "Orgs", `[{"type":"bar","x":"organization","y":"count"}]`, now, now)
		audit(bitnobi.ActionWorkflowCreate, "workflow", "wf-1")
		audit(bitnobi.ActionWorkflowStart, "workflow", "wf-1")
		audit(bitnobi.ActionWorkflowEnd, "workflow", "wf-1")
		audit(bitnobi.ActionReportCreate, "report", "rep-1")

		remotePass, err := tx.PutSecret(ctx, "", "remote-service-password")
		if err != nil {
			return err
		}
		s.Secrets[remotePass] = "remote-service-password"
		exec(`INSERT INTO remote_servers (id, name, url, service_id, secret_id, enabled, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 1, ?, ?)`,
			"rs-1", "partner", "https://partner.example.org", "svc-1", remotePass, now, now)
		smtpPass, err := tx.PutSecret(ctx, "", "smtp-password")
		if err != nil {
			return err
		}
		s.Secrets[smtpPass] = "smtp-password"
		exec(`INSERT INTO email_settings (id, smtp_from, smtp_host, smtp_port, smtp_user, secret_id, enabled, updated_at) VALUES (1, ?, ?, 587, ?, ?, 1, ?)`,
			"bitnobi@example.org", "smtp.example.org", "bitnobi", smtpPass, now)
		audit(bitnobi.ActionRemoteCreate, "remote", "rs-1")
		audit(bitnobi.ActionSettingsUpdate, "settings", "email")
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// Dump returns every state table of db as sorted JSON lines, table by
// table, for comparing two databases.
func Dump(tb testing.TB, db *store.DB) map[string][]string {
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
var SecretValues = []string{"s3cret-db-password", "remote-service-password", "smtp-password"}

// Secrets returns what must never be shown of d's state: the plain
// values of the secrets [Seed] stores, the secrets' ids and sealed
// values, and password hashes.
func Secrets(tb testing.TB, d *DataDir) []string {
	tb.Helper()
	out := slices.Clone(SecretValues)
	rows, err := d.DB.Read.Query(`SELECT id FROM secrets UNION ALL SELECT sealed FROM secrets UNION ALL SELECT password_hash FROM users`)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
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
