package backup_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bitnobi/bitnobi/backup"
	"github.com/bitnobi/bitnobi/backup/backuptest"
	"github.com/bitnobi/bitnobi/backup/format"
	"github.com/bitnobi/bitnobi/sqlite"
)

// sharedBackups returns two backups of one seeded data directory with
// nothing changed between them: every file of the second is a hard link
// to the first's.
func sharedBackups(t *testing.T, enc *format.EncryptOptions) (b1, b2 *backup.Result) {
	t.Helper()
	root := t.TempDir()
	d := backuptest.NewDataDir(t, filepath.Join(root, "data"))
	backuptest.Seed(t, d)
	folder := filepath.Join(root, "backup")
	create := func() *backup.Result {
		res, err := backup.Create(context.Background(), backup.CreateOptions{Local: sqlite.Local{}, DataDir: d.Dir.Path(), Folder: folder, Encrypt: enc})
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		return res
	}
	b1, b2 = create(), create()
	if s := b2.Manifest.Stats; s.FilesWritten != 0 {
		t.Fatalf("second backup wrote %d files, want all linked", s.FilesWritten)
	}
	return b1, b2
}

// TestVerifyCache: verifying two backups that share every file with one
// cache reads the shared files once, and never lets a damaged or changed
// file pass.
func TestVerifyCache(t *testing.T) {
	ctx := context.Background()
	cases := append(encryptionCases(t), encryptionCase{"Passphrase", func() (*format.EncryptOptions, *format.Keys) {
		// Each backup's files are encrypted to a file identity in its
		// sealed part, the same for both here (one series).
		return withPassphrase("verify cache"), passphraseKeys(t, "verify cache")
	}})
	for _, ec := range cases {
		enc, keys := ec.enc()
		t.Run(ec.name, func(t *testing.T) {
			t.Run("SharedReadOnce", func(t *testing.T) {
				b1, b2 := sharedBackups(t, enc)
				cache := backup.NewVerifyCache()
				for _, b := range []*backup.Result{b1, b2} {
					if _, err := backup.Verify(ctx, b.Path, backup.VerifyOptions{Keys: keys, Cache: cache}); err != nil {
						t.Fatalf("Verify %s: %v", b.Name, err)
					}
				}
				var want, bytes int64
				for _, f := range b2.Manifest.Public().Files {
					if f.Path != format.SealedName { // written anew by every backup
						want++
						bytes += f.Size
					}
				}
				if files, n := cache.Reused(); files != want || n != bytes {
					t.Fatalf("Reused() = %d files, %d bytes; want %d, %d (every shared file of the second backup)", files, n, want, bytes)
				}
			})
			t.Run("DamagedSharedFile", func(t *testing.T) {
				b1, b2 := sharedBackups(t, enc)
				// A file both backups hold (one inode), damaged: each
				// verification must read it and fail.
				var blob string
				for _, f := range b1.Manifest.Public().Files {
					if strings.HasPrefix(f.Path, "blobs/") {
						blob = f.Path
					}
				}
				flipByteAt(t, filepath.Join(b1.Path, filepath.FromSlash(blob)), -1)
				cache := backup.NewVerifyCache()
				for _, b := range []*backup.Result{b1, b2} {
					_, err := backup.Verify(ctx, b.Path, backup.VerifyOptions{Keys: keys, Cache: cache})
					if !errors.Is(err, backup.ErrChecksumMismatch) || !strings.Contains(err.Error(), blob) {
						t.Fatalf("Verify %s: %v, want a checksum mismatch naming %s", b.Name, err, blob)
					}
				}
			})
			t.Run("ChangedAfterPassing", func(t *testing.T) {
				b1, b2 := sharedBackups(t, enc)
				cache := backup.NewVerifyCache()
				if _, err := backup.Verify(ctx, b1.Path, backup.VerifyOptions{Keys: keys, Cache: cache}); err != nil {
					t.Fatal(err)
				}
				// Damaged after it passed: the modification time moves, so
				// the second verification reads it again.
				var table string
				for _, f := range b1.Manifest.Public().Files {
					if strings.HasPrefix(f.Path, "tables/") {
						table = f.Path
						break
					}
				}
				p := filepath.Join(b2.Path, filepath.FromSlash(table))
				flipByteAt(t, p, -1)
				later := time.Now().Add(time.Minute) // past the first stat, however coarse the clock
				if err := os.Chtimes(p, later, later); err != nil {
					t.Fatal(err)
				}
				_, err := backup.Verify(ctx, b2.Path, backup.VerifyOptions{Keys: keys, Cache: cache})
				if !errors.Is(err, backup.ErrChecksumMismatch) || !strings.Contains(err.Error(), table) {
					t.Fatalf("Verify after damage: %v, want a checksum mismatch naming %s", err, table)
				}
			})
		})
	}
}
