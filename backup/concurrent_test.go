package backup_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/backup"
	"github.com/bitnobi/bitnobi/backup/backuptest"
	"github.com/bitnobi/bitnobi/internal/dbtest"
	"github.com/bitnobi/bitnobi/postgres"
	"github.com/bitnobi/bitnobi/sqlite"
	"github.com/bitnobi/bitnobi/store"
)

// writer keeps changing a data directory the way a busy server does, and
// keeps two invariants in the same transactions: meta test_users is the
// number of users and meta test_datasources the number of data sources.
type writer struct {
	d      *backuptest.DataDir
	mu     sync.Mutex
	writes int
}

func (w *writer) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.writes
}

func (w *writer) run(ctx context.Context) error {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; ctx.Err() == nil; i++ {
		// Blob content: CSV, sometimes incompressible bytes.
		var buf bytes.Buffer
		n := 16<<10 + rng.IntN(128<<10)
		if i%3 == 0 {
			for buf.Len() < n {
				buf.WriteByte(byte(rng.Uint32()))
			}
		} else {
			for j := 0; buf.Len() < n; j++ {
				fmt.Fprintf(&buf, "%d,row %d of upload %d,%d\n", j, j, i, rng.IntN(1000))
			}
		}
		id, size, err := w.d.Blobs.Put(ctx, &buf, 0)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		err = w.d.DB.WriteTx(ctx, func(tx *store.Tx) error {
			now := bitnobi.FormatTime(tx.Now())
			uid := fmt.Sprintf("cu-%06d", i)
			actx := bitnobi.NewContextWithActor(ctx, &bitnobi.Actor{UserID: uid, Username: uid})
			stmts := []struct {
				q    string
				args []any
			}{
				{`INSERT INTO users (id, username, email, password_hash, created_at, updated_at) VALUES (?, ?, '', '', ?, ?)`, []any{uid, uid, now, now}},
				{`INSERT INTO policies (id, owner_id, name, created_at, updated_at) VALUES (?, ?, 'p', ?, ?)`, []any{"cp-" + uid, uid, now, now}},
				{`INSERT INTO blobs (id, size, created_at) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING`, []any{id, size, now}},
				{`INSERT INTO datasources (id, owner_id, name, kind, blob_id, size, created_at, updated_at) VALUES (?, ?, 'upload', 'file', ?, ?, ?, ?)`, []any{"cd-" + uid, uid, id, size, now, now}},
			}
			for _, s := range stmts {
				if _, err := tx.Exec(ctx, s.q, s.args...); err != nil {
					return err
				}
			}
			if err := tx.Audit(actx, bitnobi.ActionSignUp, "user", uid, nil); err != nil {
				return err
			}
			if err := tx.Audit(actx, bitnobi.ActionDataSourceCreate, "datasource", "cd-"+uid, nil); err != nil {
				return err
			}
			if i%4 == 3 {
				victim := fmt.Sprintf("cd-cu-%06d", i-2)
				if _, err := tx.Exec(ctx, `DELETE FROM datasources WHERE id = ?`, victim); err != nil {
					return err
				}
				if err := tx.Audit(actx, bitnobi.ActionDataSourceDelete, "datasource", victim, nil); err != nil {
					return err
				}
			}
			for key, q := range map[string]string{"test_users": `SELECT COUNT(*) FROM users`, "test_datasources": `SELECT COUNT(*) FROM datasources`} {
				var n int
				if err := tx.QueryRow(ctx, q).Scan(&n); err != nil {
					return err
				}
				if err := tx.SetMeta(ctx, key, strconv.Itoa(n)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		w.mu.Lock()
		w.writes++
		w.mu.Unlock()
	}
	return nil
}

// TestCreate_WhileWriting takes backups while a writer keeps changing
// state, then restores each and checks that it is one consistent
// snapshot: the invariants hold exactly, every reference resolves, every
// blob is present with its hash, and the audit chain verifies.
//
// It runs on each engine: on PostgreSQL the snapshot is one REPEATABLE
// READ, READ ONLY transaction, and each backup is restored into a new
// PostgreSQL database.
func TestCreate_WhileWriting(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	dbtest.Run(t, testCreateWhileWriting)
}

func testCreateWhileWriting(t *testing.T, engine string) {
	root := t.TempDir()
	d, dsn := backuptest.NewDataDirOn(t, filepath.Join(root, "data"), engine)
	backuptest.Seed(t, d)
	folder := filepath.Join(root, "backup")

	ctx, cancel := context.WithCancel(context.Background())
	w := &writer{d: d}
	errc := make(chan error, 1)
	go func() { errc <- w.run(ctx) }()
	stop := sync.OnceValue(func() error { cancel(); return <-errc })
	defer stop()

	var results []*backup.Result
	for i := 0; i < 3; i++ {
		for before := w.count(); w.count() < before+10; {
			time.Sleep(10 * time.Millisecond)
		}
		before := w.count()
		res, err := backup.Create(context.Background(), backup.CreateOptions{Local: sqlite.Local{}, DataDir: d.Dir.Path(), Folder: folder, OpenDB: backuptest.OpenDB(dsn)})
		if err != nil {
			t.Fatalf("Create %d: %v", i, err)
		}
		if res.Manifest.Engine != engine {
			t.Fatalf("manifest engine %q, want %q", res.Manifest.Engine, engine)
		}
		t.Logf("backup %d: %d writes during it, %d rows, %d blobs, %d linked", i, w.count()-before, res.Manifest.Stats.Rows, res.Manifest.Stats.Blobs, res.Manifest.Stats.FilesLinked)
		results = append(results, res)
	}
	if err := stop(); err != nil {
		t.Fatalf("writer: %v", err)
	}

	for i, res := range results {
		if _, err := backup.Verify(context.Background(), res.Path, backup.VerifyOptions{}); err != nil {
			t.Fatalf("Verify %d: %v", i, err)
		}
		target := filepath.Join(root, fmt.Sprintf("restored-%d", i))
		opts := backup.RestoreOptions{Local: sqlite.Local{}, KeyFile: d.Dir.Key()}
		var rdsn string
		if engine == dbtest.Postgres {
			rdsn = dbtest.NewPostgresDatabase(t)
			opts.Target = &postgres.RestoreTarget{DSN: rdsn}
		}
		mustRestore(t, res.Path, target, opts)
		r := backuptest.OpenOn(t, target, rdsn)
		checkInvariants(t, r)
	}
}

func checkInvariants(t *testing.T, r *backuptest.DataDir) {
	t.Helper()
	count := func(q string) int {
		var n int
		if err := r.DB.Read.QueryRow(q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	users, datasources := count(`SELECT COUNT(*) FROM users`), count(`SELECT COUNT(*) FROM datasources`)
	if got := meta(t, r.DB, "test_users"); got != "" && got != strconv.Itoa(users) {
		t.Fatalf("meta test_users=%s, but %d users: not one snapshot", got, users)
	}
	if got := meta(t, r.DB, "test_datasources"); got != "" && got != strconv.Itoa(datasources) {
		t.Fatalf("meta test_datasources=%s, but %d data sources: not one snapshot", got, datasources)
	}
	if n := count(`SELECT COUNT(*) FROM audit_log WHERE action = 'user.signup'`); n != users {
		t.Fatalf("%d sign-up audit entries for %d users", n, users)
	}
	if n := count(`SELECT COUNT(*) FROM datasources d LEFT JOIN blobs b ON b.id = d.blob_id WHERE d.blob_id IS NOT NULL AND b.id IS NULL`); n != 0 {
		t.Fatalf("%d data sources refer to missing blobs rows", n)
	}
	if n := count(`SELECT COUNT(*) FROM policies p LEFT JOIN users u ON u.id = p.owner_id WHERE u.id IS NULL`); n != 0 {
		t.Fatalf("%d policies refer to missing users", n)
	}
	rows, err := r.DB.Read.Query(`SELECT id FROM blobs`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		rows.Scan(&id)
		f, err := r.Blobs.Open(id)
		if err != nil {
			t.Fatalf("blob %s: %v", id, err)
		}
		f.Close()
		if sum, _, err := hashOf(r.Blobs.Path(id)); err != nil || sum != id {
			t.Fatalf("blob %s hashes to %s (%v)", id, sum, err)
		}
	}
	verifyAudit(t, r.DB)
}

// TestGC_WaitsForRunningBackup: the collector can never remove a blob
// that a running backup's snapshot refers to.
func TestGC_WaitsForRunningBackup(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	// An orphan that the collector would remove at once: unreferenced,
	// row and file two days old.
	orphan, _, err := f.data.Blobs.Put(ctx, bytes.NewReader([]byte("orphaned upload")), 0)
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-48 * time.Hour)
	if _, err := f.data.DB.Write.Exec(`INSERT INTO blobs (id, size, created_at) VALUES (?, 15, ?)`, orphan, bitnobi.FormatTime(old)); err != nil {
		t.Fatal(err)
	}
	chtimes(t, f.data.Blobs.Path(orphan), old)

	copying, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	done := make(chan *backup.Result, 1)
	go func() {
		res, err := backup.Create(ctx, backup.CreateOptions{Local: sqlite.Local{}, DataDir: f.data.Dir.Path(), Folder: f.folder,
			Progress: func(p backup.Progress) {
				if p.Phase == "blobs" {
					once.Do(func() { close(copying); <-release })
				}
			}})
		if err != nil {
			t.Errorf("Create: %v", err)
		}
		done <- res
	}()
	<-copying
	gcDone := make(chan store.GCResult, 1)
	go func() {
		res, err := f.data.DB.CollectGarbage(ctx, f.data.Dir.GCLock(), time.Hour)
		if err != nil {
			t.Errorf("CollectGarbage: %v", err)
		}
		gcDone <- res
	}()
	select {
	case <-gcDone:
		t.Fatal("the collector ran while a backup was copying blobs")
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	res := <-done
	gc := <-gcDone
	if gc.RowsDeleted != 1 || gc.FilesRemoved != 1 {
		t.Fatalf("collector after the backup: %+v, want the orphan removed", gc)
	}
	if res == nil {
		t.FailNow()
	}
	found := false
	for _, fl := range res.Manifest.Files {
		found = found || fl.Blob == orphan
	}
	if !found {
		t.Fatal("the backup lacks the orphan its snapshot listed")
	}
	if _, err := backup.Verify(ctx, res.Path, backup.VerifyOptions{}); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}

// writerEnv names the data directory a helper process writes to.
const writerEnv = "BITNOBI_BACKUP_TEST_WRITER"

// TestHelperWriter is not a real test: run by
// TestCreate_WhileAnotherProcessWrites in a child process, it runs the
// writer on the data directory named by writerEnv, prints "writing" after
// its first writes, and stops when stdin is closed.
func TestHelperWriter(t *testing.T) {
	dir := os.Getenv(writerEnv)
	if dir == "" {
		t.Skip("helper process for TestCreate_WhileAnotherProcessWrites")
	}
	w := &writer{d: backuptest.Open(t, dir)}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- w.run(ctx) }()
	for w.count() < 5 {
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Println("writing")
	io.Copy(io.Discard, os.Stdin)
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// TestCreate_WhileAnotherProcessWrites is TestCreate_WhileWriting with
// the writer in another process, as a server is: SQLite's locks and
// snapshots then work across processes.
func TestCreate_WhileAnotherProcessWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	root := t.TempDir()
	d := backuptest.NewDataDir(t, filepath.Join(root, "data"))
	d.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWriter$", "-test.count=1")
	cmd.Env = append(os.Environ(), writerEnv+"="+d.Dir.Path())
	cmd.Stderr = os.Stderr
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("writer process: %v", err)
		}
	}()
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "writing\n" {
		t.Fatalf("writer process said %q, %v", line, err)
	}
	folder := filepath.Join(root, "backup")
	for i := 0; i < 2; i++ {
		res, err := backup.Create(context.Background(), backup.CreateOptions{Local: sqlite.Local{}, DataDir: d.Dir.Path(), Folder: folder})
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		target := filepath.Join(root, fmt.Sprintf("restored-%d", i))
		mustRestore(t, res.Path, target, backup.RestoreOptions{Local: sqlite.Local{}, KeyFile: d.Dir.Key()})
		checkInvariants(t, backuptest.Open(t, target))
	}
}
