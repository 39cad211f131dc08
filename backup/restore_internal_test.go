package backup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bitnobi/bitnobi/backup/backuptest"
	"github.com/bitnobi/bitnobi/internal/lockfile"
	"github.com/bitnobi/bitnobi/secret"
	"github.com/bitnobi/bitnobi/sqlite"
	"github.com/bitnobi/bitnobi/store"
)

var errCrash = errors.New("simulated crash")

// TestRecoverInterruptedRestore interrupts the switch at each of its
// steps, as a crash would, and checks that recovery leaves the data
// directory with the restored state and the previous state kept.
func TestRecoverInterruptedRestore(t *testing.T) {
	root := t.TempDir()
	src := backuptest.NewDataDir(t, filepath.Join(root, "src"))
	backuptest.Seed(t, src)
	res, err := Create(context.Background(), CreateOptions{Local: sqlite.Local{}, DataDir: src.Dir.Path(), Folder: filepath.Join(root, "backup")})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		inPlace bool
		step    string
		recover func(dataDir string) error
	}{
		{"InPlace/BeforeFirstRename", true, "rename-previous", RecoverInterruptedRestore},
		{"InPlace/BetweenRenames", true, "rename-staging", RecoverInterruptedRestore},
		{"InPlace/BeforeJournalRemoved", true, "remove-journal", RecoverInterruptedRestore},
		{"New/BeforeRemovingEmpty", false, "remove-empty", RecoverInterruptedRestore},
		{"New/BetweenRemoveAndRename", false, "rename-staging", RecoverInterruptedRestore},
		{"InPlace/DataDirRecreatedEmpty", true, "rename-staging", func(dataDir string) error {
			// A process made the data directory anew before recovering.
			if err := os.MkdirAll(dataDir, 0o700); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(dataDir, "bitnobi.lock"), nil, 0o600); err != nil {
				return err
			}
			return RecoverInterruptedRestore(dataDir)
		}},
		{"InPlace/RecoveredByBackup", true, "rename-staging", func(dataDir string) error {
			_, err := Create(context.Background(), CreateOptions{Local: sqlite.Local{}, DataDir: dataDir, Folder: filepath.Join(filepath.Dir(dataDir), "b2")})
			return err
		}},
		{"InPlace/RecoveredByRestore", true, "rename-staging", func(dataDir string) error {
			_, err := Restore(context.Background(), RestoreOptions{Backup: res.Path, DataDir: dataDir, Local: sqlite.Local{}, KeyFile: src.Dir.Key()})
			return err
		}},
		{"InPlace/RecoveredByInterruptedRestore", true, "rename-staging", func(dataDir string) error {
			// Interrupted after recovering: the error must say that it
			// did change the data directory, by finishing the other.
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			_, err := Restore(ctx, RestoreOptions{Backup: res.Path, DataDir: dataDir, Local: sqlite.Local{}, KeyFile: src.Dir.Key(), Progress: func(p Progress) {
				if p.Phase == "verify" {
					cancel()
				}
			}})
			var ie *InterruptedError
			if !errors.As(err, &ie) {
				return fmt.Errorf("interrupted restore after a recovery: %v, want an *InterruptedError", err)
			}
			if ie.Recovered != "completed the earlier restore of "+res.Name ||
				!strings.Contains(err.Error(), "after it completed the earlier restore of "+res.Name) {
				return fmt.Errorf("interrupted restore after a recovery: %v (Recovered %q), want it to say what it completed", err, ie.Recovered)
			}
			return nil
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dataDir := filepath.Join(t.TempDir(), "data")
			if tt.inPlace {
				d := backuptest.NewDataDir(t, dataDir)
				if err := d.DB.WriteTx(context.Background(), func(tx *store.Tx) error { return tx.SetMeta(context.Background(), "marker", "old") }); err != nil {
					t.Fatal(err)
				}
				d.Close()
			}
			switchHook = func(step string) error {
				if step == tt.step {
					return errCrash
				}
				return nil
			}
			_, err := Restore(context.Background(), RestoreOptions{Backup: res.Path, DataDir: dataDir, Local: sqlite.Local{}, KeyFile: src.Dir.Key()})
			switchHook = nil
			if !errors.Is(err, errCrash) {
				t.Fatalf("Restore err=%v, want the simulated crash", err)
			}
			if ok, _ := exists(journalPath(dataDir)); !ok {
				t.Fatal("no journal after a crash during the switch")
			}
			// A restore running now holds the restore lock: recovery
			// must not touch its work.
			l, err := lockfile.Acquire(restoreLockPath(dataDir), "restore")
			if err != nil {
				t.Fatal(err)
			}
			if err := RecoverInterruptedRestore(dataDir); !errors.Is(err, lockfile.ErrLocked) {
				t.Fatalf("recovery during a restore: err=%v, want ErrLocked", err)
			}
			l.Release()

			if err := tt.recover(dataDir); err != nil {
				t.Fatalf("recover: %v", err)
			}
			for _, p := range []string{journalPath(dataDir), stagingPath(dataDir)} {
				if ok, _ := exists(p); ok {
					t.Fatalf("%s left after recovery", p)
				}
			}
			r := backuptest.Open(t, dataDir)
			if got, _ := r.DB.Meta(context.Background(), store.MetaRestoredFrom); got != res.Name {
				t.Fatalf("data directory after recovery: restored_from=%q, want %q", got, res.Name)
			}
			prev, _ := filepath.Glob(dataDir + ".before-restore-*")
			if !tt.inPlace {
				if len(prev) != 0 {
					t.Fatalf("previous state %v kept for a new data directory", prev)
				}
				return
			}
			// A restore that recovers then restores again keeps a second.
			if len(prev) < 1 || (len(prev) > 1 && tt.name != "InPlace/RecoveredByRestore") {
				t.Fatalf("previous states %v, want one", prev)
			}
			old := backuptest.Open(t, prev[0])
			if got, _ := old.DB.Meta(context.Background(), "marker"); got != "old" {
				t.Fatalf("previous state marker=%q, want old", got)
			}
		})
	}
}

// A staging directory left by a restore that crashed before its switch
// is removed by the next restore, and the data directory was untouched.
func TestRestore_StaleStaging(t *testing.T) {
	root := t.TempDir()
	src := backuptest.NewDataDir(t, filepath.Join(root, "src"))
	res, err := Create(context.Background(), CreateOptions{Local: sqlite.Local{}, DataDir: src.Dir.Path(), Folder: filepath.Join(root, "backup")})
	if err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(root, "data")
	if err := os.MkdirAll(filepath.Join(stagingPath(dataDir), "blobs"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := RecoverInterruptedRestore(dataDir); err != nil {
		t.Fatal(err)
	}
	if _, err := Restore(context.Background(), RestoreOptions{Backup: res.Path, DataDir: dataDir, Local: sqlite.Local{}, KeyFile: src.Dir.Key()}); err != nil {
		t.Fatal(err)
	}
	if ok, _ := exists(stagingPath(dataDir)); ok {
		t.Fatal("stale staging directory left")
	}
}

// TestUnusableKeyError checks the restore's error for a master key file
// that is there but cannot be used, for reasons that TestRestore_KeyFileMessages
// cannot produce with real files when the tests run as root (which reads
// any file): the reason is named, with no advice for a server in the
// message, and the hint fits the reason.
func TestUnusableKeyError(t *testing.T) {
	const path, fp = "/keys/master.key", "0123456789abcdef"
	for _, tt := range []struct {
		name    string
		err     error
		want    error
		message string
		hint    string
	}{
		{"PermissionDenied", &secret.KeyFileError{Op: "read", Path: path, Err: fs.ErrPermission}, fs.ErrPermission,
			"restore: master key file unusable: read key file /keys/master.key: permission denied",
			"restore as a user who can read /keys/master.key, or pass a copy of the key that this user can read with --key-file"},
		{"ServerHintDropped", &secret.KeyFileError{Op: "read", Path: path, Err: secret.ErrMalformedKeyFile, Hint: "move it away to create a new key"}, secret.ErrMalformedKeyFile,
			"restore: master key file unusable: read key file /keys/master.key: malformed key file",
			"pass the master key the backup was made with (fingerprint 0123456789abcdef) with --key-file"},
		{"Other", errors.New("disk on fire"), nil,
			"restore: master key file unusable: disk on fire",
			"pass the master key the backup was made with (fingerprint 0123456789abcdef) with --key-file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := unusableKeyError(tt.err, path, fp)
			if !errors.Is(err, ErrKeyUnusable) || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Errorf("err=%v, want it to match ErrKeyUnusable and %v", err, tt.want)
			}
			if got := err.Error(); got != tt.message {
				t.Errorf("err=%q,\nwant %q", got, tt.message)
			}
			if got := Hint(err); got != tt.hint {
				t.Errorf("Hint=%q,\nwant %q", got, tt.hint)
			}
		})
	}
}

func TestBackupKeyError(t *testing.T) {
	const path = "/data/master.key"
	for _, tt := range []struct {
		name    string
		err     error
		message string
		hint    string
	}{
		{"Missing", &secret.KeyFileError{Op: "read", Path: path, Err: fs.ErrNotExist},
			"backup: master key (needed for its fingerprint): read key file /data/master.key: file does not exist",
			"set BITNOBI_MASTER_KEY_FILE to where the server's master key is"},
		{"PermissionDenied", &secret.KeyFileError{Op: "read", Path: path, Err: fs.ErrPermission},
			"backup: master key (needed for its fingerprint): read key file /data/master.key: permission denied",
			"back up as a user who can read /data/master.key (the server's), or set BITNOBI_MASTER_KEY_FILE to a copy this user can read"},
		{"Insecure", &secret.KeyFileError{Op: "read", Path: path, Err: secret.ErrInsecureKeyFile},
			"backup: master key (needed for its fingerprint): read key file /data/master.key: " + secret.ErrInsecureKeyFile.Error(),
			"chmod 600 /data/master.key"},
		// The server's advice for a malformed key (move it away, which
		// makes a new key) must not reach a backup's operator.
		{"MalformedServerHintDropped", &secret.KeyFileError{Op: "read", Path: path, Err: secret.ErrMalformedKeyFile, Hint: "move it away to create a new key"},
			"backup: master key (needed for its fingerprint): read key file /data/master.key: malformed key file",
			"the server's master key file is damaged: put back the copy kept apart from the backups (without it the stored passwords cannot be opened)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := backupKeyError(tt.err, path)
			if !errors.Is(err, tt.err) && !errors.Is(err, errors.Unwrap(tt.err)) {
				t.Errorf("err=%v does not wrap %v", err, tt.err)
			}
			if got := err.Error(); got != tt.message {
				t.Errorf("err=%q,\nwant %q", got, tt.message)
			}
			if got := Hint(err); got != tt.hint {
				t.Errorf("Hint=%q,\nwant %q", got, tt.hint)
			}
		})
	}
}
