package backup_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/bitnobi/bitnobi/backup"
	"github.com/bitnobi/bitnobi/backup/backuptest"
	"github.com/bitnobi/bitnobi/backup/format"
	"github.com/bitnobi/bitnobi/internal/testutil"
	"github.com/bitnobi/bitnobi/sqlite"
	"github.com/bitnobi/bitnobi/store"
)

// testWorkFactor keeps scrypt fast in tests; real backups use age's
// default.
const testWorkFactor = 10

func newIdentity(tb testing.TB) *age.X25519Identity {
	tb.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

func toRecipients(ids ...*age.X25519Identity) *format.EncryptOptions {
	o := &format.EncryptOptions{}
	for _, id := range ids {
		o.Recipients = append(o.Recipients, id.Recipient())
	}
	return o
}

func withPassphrase(p string) *format.EncryptOptions {
	return &format.EncryptOptions{Passphrase: p, ScryptWorkFactor: testWorkFactor}
}

// passphraseKeys returns the keys a passphrase file would give.
func passphraseKeys(tb testing.TB, p string) *format.Keys {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "passphrase")
	if err := os.WriteFile(path, []byte("  "+p+"  \nignored second line\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
	keys, err := format.LoadKeys("", path)
	if err != nil {
		tb.Fatal(err)
	}
	return keys
}

func mustCreateEncrypted(tb testing.TB, dataDir, folder string, enc *format.EncryptOptions) *backup.Result {
	tb.Helper()
	res, err := backup.Create(context.Background(), backup.CreateOptions{Local: sqlite.Local{}, DataDir: dataDir, Folder: folder, Encrypt: enc})
	if err != nil {
		tb.Fatalf("Create: %v", err)
	}
	return res
}

func TestEncryptedRoundTrip(t *testing.T) {
	id := newIdentity(t)
	for _, c := range []struct {
		name string
		enc  *format.EncryptOptions
		keys func(t *testing.T) *format.Keys
		mode string
	}{
		{"Recipients", toRecipients(newIdentity(t), id), func(*testing.T) *format.Keys { return format.NewKeys(id) }, format.EncryptRecipients},
		{"Passphrase", withPassphrase("correct horse battery staple"),
			func(t *testing.T) *format.Keys { return passphraseKeys(t, "correct horse battery staple") }, format.EncryptPassphrase},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			root := t.TempDir()
			data := backuptest.NewDataDir(t, filepath.Join(root, "data"))
			seeded := backuptest.Seed(t, data)
			res := mustCreateEncrypted(t, data.Dir.Path(), filepath.Join(root, "backup"), c.enc)
			m := res.Manifest
			if m.Format != format.FormatVersion || !m.Encrypted() || m.Locked() || m.Encryption.Mode != c.mode {
				t.Fatalf("manifest format %d, encryption %+v, locked %v", m.Format, m.Encryption, m.Locked())
			}
			if m.MasterKey.Mode != format.KeySealed || m.MasterKey.Fingerprint != data.Key.Fingerprint() {
				t.Fatalf("master key %+v, want sealed with fingerprint %s", m.MasterKey, data.Key.Fingerprint())
			}
			if m.Stats.Blobs != 2 || m.Stats.Rows == 0 {
				t.Fatalf("stats %+v", m.Stats)
			}

			// What anyone can read.
			pub, err := format.ReadManifest(res.Path)
			if err != nil {
				t.Fatal(err)
			}
			if !pub.Locked() || pub.Tables != nil || pub.Host != "" || pub.InstanceID != "" || pub.MasterKey.Fingerprint != "" || pub.Stats.Rows != 0 {
				t.Fatalf("public manifest shows too much: %+v", pub)
			}
			if pub.SchemaVersion != m.SchemaVersion || pub.AppVersion != m.AppVersion || !pub.CreatedAt.Equal(m.CreatedAt) || pub.Stats.BytesWritten != m.Stats.BytesWritten {
				t.Fatalf("public manifest lacks what list shows: %+v", pub)
			}
			for _, f := range pub.Files {
				if f.Blob != "" || f.Encoding != format.EncodingAge {
					t.Fatalf("public entry %+v", f)
				}
			}

			// Verify without the key checks the ciphertext only.
			vm, err := backup.Verify(ctx, res.Path, backup.VerifyOptions{})
			if err != nil || !vm.Locked() {
				t.Fatalf("Verify without key: locked=%v, %v", vm != nil && vm.Locked(), err)
			}
			keys := c.keys(t)
			vm, err = backup.Verify(ctx, res.Path, backup.VerifyOptions{Keys: keys})
			if err != nil || vm.Locked() || len(vm.Tables) == 0 {
				t.Fatalf("Verify with key: %v", err)
			}

			// Restore with the key.
			want := backuptest.Dump(t, data.DB)
			target := filepath.Join(root, "restored")
			rr := mustRestore(t, res.Path, target, backup.RestoreOptions{Local: sqlite.Local{}, Keys: keys})
			if rr.Manifest.InstanceID == "" || rr.InstanceID != rr.Manifest.InstanceID {
				t.Fatalf("restored instance %q, manifest %q", rr.InstanceID, rr.Manifest.InstanceID)
			}
			r := backuptest.Open(t, target)
			got := backuptest.Dump(t, r.DB)
			for name, rows := range want {
				if name == "audit_log" || name == "meta" {
					continue // the restore adds an entry and meta restored_from
				}
				if !slices.Equal(got[name], rows) {
					t.Errorf("table %s differs after restore:\n got %v\nwant %v", name, got[name], rows)
				}
			}
			for id, plain := range seeded.Secrets {
				if v, err := r.DB.RevealSecret(ctx, id); err != nil || v != plain {
					t.Fatalf("secret %s after restore: %q, %v", id, v, err)
				}
			}
			for id, content := range seeded.BlobData {
				f, err := r.Blobs.Open(id)
				if err != nil {
					t.Fatal(err)
				}
				b := make([]byte, len(content)+1)
				n, _ := f.Read(b)
				f.Close()
				if !bytes.Equal(b[:n], content) {
					t.Fatalf("blob %s after restore: %q", id, b[:n])
				}
			}
		})
	}
}

// TestEncryptedRestoreNewMachine restores where no copy of the master key
// exists: the backup carries it.
func TestEncryptedRestoreNewMachine(t *testing.T) {
	ctx := context.Background()
	id := newIdentity(t)
	root := t.TempDir()
	data := backuptest.NewDataDir(t, filepath.Join(root, "data"))
	seeded := backuptest.Seed(t, data)
	res := mustCreateEncrypted(t, data.Dir.Path(), filepath.Join(root, "backup"), toRecipients(id))
	wantKey := data.Key

	// The old machine is gone, key and all; only the backup is left.
	moved := filepath.Join(t.TempDir(), "carried-backup")
	if err := os.CopyFS(moved, os.DirFS(res.Path)); err != nil {
		t.Fatal(err)
	}
	data.Close()
	if err := os.RemoveAll(filepath.Join(root, "data")); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(t.TempDir(), "new-machine", "data")
	mustRestore(t, moved, target, backup.RestoreOptions{Local: sqlite.Local{}, Keys: format.NewKeys(id), KeyFile: filepath.Join(root, "no-such.key")})
	r := backuptest.Open(t, target) // reads the installed master.key
	if r.Key != wantKey {
		t.Fatalf("installed master key %s, want %s", r.Key, wantKey)
	}
	fi, err := os.Stat(r.Dir.Key())
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("installed master.key: %v, %v", fi, err)
	}
	for sid, plain := range seeded.Secrets {
		if v, err := r.DB.RevealSecret(ctx, sid); err != nil || v != plain {
			t.Fatalf("secret %s on the new machine: %q, %v", sid, v, err)
		}
	}
}

// TestEncryptedNoPlaintext reads every byte of every file (and every file
// name) of a folder of encrypted backups and finds none of the data it
// holds.
func TestEncryptedNoPlaintext(t *testing.T) {
	root := t.TempDir()
	data := backuptest.NewDataDir(t, filepath.Join(root, "data"))
	seeded := backuptest.Seed(t, data)
	instance := meta(t, data.DB, store.MetaInstanceID)
	folder := filepath.Join(root, "backup")
	mustCreateEncrypted(t, data.Dir.Path(), folder, toRecipients(newIdentity(t)))
	mustCreateEncrypted(t, data.Dir.Path(), folder, toRecipients(newIdentity(t)))
	mustCreateEncrypted(t, data.Dir.Path(), folder, withPassphrase("hunter2 hunter2"))

	needles := map[string][]byte{
		"user name":              []byte("alice"),
		"e-mail address":         []byte("alice@example.org"),
		"policy name":            []byte("Bitnobi IT"),
		"uploaded file":          []byte(backuptest.SampleCSV),
		"uploaded file's line":   []byte("Carol,Acme,Finance,29"),
		"SMTP password":          []byte("smtp-password"),
		"SMTP host":              []byte("smtp.example.org"),
		"master key (hex)":       []byte(hex.EncodeToString(data.Key[:])),
		"master key (bytes)":     data.Key[:],
		"master key fingerprint": []byte(data.Key.Fingerprint()),
		"instance id":            []byte(instance),
		"passphrase":             []byte("hunter2"),
	}
	for bid := range seeded.BlobData {
		needles["blob id "+bid[:8]] = []byte(bid)
	}
	if host, _ := os.Hostname(); len(host) >= 6 {
		needles["host name"] = []byte(host)
	}
	files := 0
	err := filepath.WalkDir(folder, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		for what, n := range needles {
			if bytes.Contains([]byte(p), n) {
				t.Errorf("the path %s holds the %s", p, what)
			}
		}
		if !d.Type().IsRegular() {
			return nil
		}
		files++
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for what, n := range needles {
			if bytes.Contains(b, n) {
				t.Errorf("%s holds the %s in plain text", p, what)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 3*(2+len(store.NotBackedUp)) {
		t.Fatalf("only %d files looked at", files)
	}

	// The same search finds the uploaded file in a plain backup, so it
	// would find a leak.
	plain := mustCreate(t, data.Dir.Path(), filepath.Join(root, "plain"), nil)
	found := false
	filepath.WalkDir(plain.Path, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			b, _ := os.ReadFile(p)
			found = found || bytes.Contains(b, []byte(backuptest.SampleCSV))
		}
		return nil
	})
	if !found {
		t.Fatal("the search does not find the uploaded file in a plain backup either")
	}
}

// encryptedForErrors is a seeded data directory, an encrypted backup of
// it, and a second data directory with other state, the restore target.
type encryptedForErrors struct {
	backup string
	id     *age.X25519Identity
	target string
	before map[string]string
}

func newEncryptedForErrors(t *testing.T) *encryptedForErrors {
	root := t.TempDir()
	data := backuptest.NewDataDir(t, filepath.Join(root, "data"))
	backuptest.Seed(t, data)
	id := newIdentity(t)
	res := mustCreateEncrypted(t, data.Dir.Path(), filepath.Join(root, "backup"), toRecipients(id))
	target := backuptest.NewDataDir(t, filepath.Join(root, "target"))
	target.Close()
	return &encryptedForErrors{backup: res.Path, id: id, target: target.Dir.Path(), before: testutil.Tree(t, filepath.Join(root, "target"), true)}
}

// restoreFails restores and checks the error, and that the target did
// not change.
func (e *encryptedForErrors) restoreFails(t *testing.T, keys *format.Keys, want error, wantPath string) {
	t.Helper()
	_, err := backup.Restore(context.Background(), backup.RestoreOptions{Backup: e.backup, DataDir: e.target, Local: sqlite.Local{}, Keys: keys})
	if !errors.Is(err, want) {
		t.Fatalf("Restore: %v, want %v", err, want)
	}
	if !strings.Contains(err.Error(), wantPath) {
		t.Fatalf("Restore: %v, does not name %s", err, wantPath)
	}
	var fe *backup.FileError
	if !errors.As(err, &fe) || fe.Path != wantPath {
		t.Fatalf("Restore: %v, want a FileError for %s", err, wantPath)
	}
	if after := testutil.Tree(t, e.target, true); len(after) != len(e.before) {
		t.Fatalf("the data directory changed: %d entries, before %d", len(after), len(e.before))
	} else {
		for p, c := range e.before {
			if after[p] != c {
				t.Fatalf("the data directory changed: %s", p)
			}
		}
	}
	if _, err := os.Stat(e.target + ".restore-staging"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("staging directory left behind: %v", err)
	}
}

func flipByteAt(t *testing.T, path string, at int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if at < 0 {
		at += len(b)
	}
	b[at] ^= 0x01
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func firstBlobFile(t *testing.T, m *format.Manifest) string {
	t.Helper()
	for _, f := range m.Files {
		if strings.HasPrefix(f.Path, "blobs/") {
			return f.Path
		}
	}
	t.Fatal("no blob file")
	return ""
}

func TestEncryptedErrors(t *testing.T) {
	ctx := context.Background()
	t.Run("ErrKeyRequired", func(t *testing.T) {
		e := newEncryptedForErrors(t)
		e.restoreFails(t, nil, backup.ErrKeyRequired, format.SealedName)
		e.restoreFails(t, &format.Keys{}, backup.ErrKeyRequired, format.SealedName)
		if _, err := backup.OpenReader(e.backup, nil); !errors.Is(err, backup.ErrKeyRequired) {
			t.Fatalf("OpenReader: %v", err)
		}
	})
	t.Run("ErrWrongKey", func(t *testing.T) {
		e := newEncryptedForErrors(t)
		e.restoreFails(t, format.NewKeys(newIdentity(t)), backup.ErrWrongKey, format.SealedName)
		e.restoreFails(t, passphraseKeys(t, "not it"), backup.ErrWrongKey, format.SealedName)
		if _, err := backup.Verify(ctx, e.backup, backup.VerifyOptions{Keys: format.NewKeys(newIdentity(t))}); !errors.Is(err, backup.ErrWrongKey) {
			t.Fatalf("Verify: %v", err)
		}
	})
	t.Run("TamperedCiphertext", func(t *testing.T) {
		e := newEncryptedForErrors(t)
		pub, _ := format.ReadManifest(e.backup)
		blobPath := firstBlobFile(t, pub)
		flipByteAt(t, filepath.Join(e.backup, filepath.FromSlash(blobPath)), -20)
		e.restoreFails(t, format.NewKeys(e.id), backup.ErrChecksumMismatch, blobPath)
		// Plain verify, without the key, finds it too.
		if _, err := backup.Verify(ctx, e.backup, backup.VerifyOptions{}); !errors.Is(err, backup.ErrChecksumMismatch) || !strings.Contains(err.Error(), blobPath) {
			t.Fatalf("Verify without key: %v", err)
		}
	})
	t.Run("TamperedCiphertextAndHash", func(t *testing.T) {
		// The attacker also fixes the SHA-256 in manifest.json: the
		// encrypted part's copy gives it away.
		e := newEncryptedForErrors(t)
		pub, _ := format.ReadManifest(e.backup)
		blobPath := firstBlobFile(t, pub)
		p := filepath.Join(e.backup, filepath.FromSlash(blobPath))
		flipByteAt(t, p, -20)
		rewriteManifest(t, e.backup, func(m *format.Manifest) {
			for i := range m.Files {
				if m.Files[i].Path == blobPath {
					b, _ := os.ReadFile(p)
					m.Files[i].SHA256 = sha256hex(b)
				}
			}
		})
		e.restoreFails(t, format.NewKeys(e.id), backup.ErrChecksumMismatch, format.ManifestName)
		if _, err := backup.Verify(ctx, e.backup, backup.VerifyOptions{Keys: format.NewKeys(e.id)}); !errors.Is(err, backup.ErrChecksumMismatch) {
			t.Fatalf("Verify: %v", err)
		}
	})
	t.Run("TamperedSealedPart", func(t *testing.T) {
		e := newEncryptedForErrors(t)
		flipByteAt(t, filepath.Join(e.backup, format.SealedName), -5)
		e.restoreFails(t, format.NewKeys(e.id), backup.ErrChecksumMismatch, format.SealedName)
		// Even with its hash fixed, it does not decrypt.
		rewriteManifest(t, e.backup, func(m *format.Manifest) {
			for i := range m.Files {
				if m.Files[i].Path == format.SealedName {
					b, _ := os.ReadFile(filepath.Join(e.backup, format.SealedName))
					m.Files[i].SHA256 = sha256hex(b)
				}
			}
		})
		e.restoreFails(t, format.NewKeys(e.id), backup.ErrChecksumMismatch, format.SealedName)
	})
	t.Run("TamperedPublicManifest", func(t *testing.T) {
		for _, c := range []struct {
			name string
			edit func(m *format.Manifest)
		}{
			{"AppVersion", func(m *format.Manifest) { m.AppVersion = "9.9.9" }},
			{"CreatedAt", func(m *format.Manifest) { m.CreatedAt = m.CreatedAt.Add(-24 * 3600e9) }},
			{"Stats", func(m *format.Manifest) { m.Stats.BytesWritten++ }},
			{"Mode", func(m *format.Manifest) { m.Encryption.Mode = format.EncryptPassphrase }},
			{"Links", func(m *format.Manifest) { m.Links = otherBase64Char(m.Links[:1]) + m.Links[1:] }},
		} {
			t.Run(c.name, func(t *testing.T) {
				e := newEncryptedForErrors(t)
				rewriteManifest(t, e.backup, c.edit)
				// Without the key, only the checksum can be checked, and
				// it was recomputed: that is the documented trade-off.
				if _, err := backup.Verify(ctx, e.backup, backup.VerifyOptions{}); err != nil {
					t.Fatalf("Verify without key: %v", err)
				}
				e.restoreFails(t, format.NewKeys(e.id), backup.ErrChecksumMismatch, format.ManifestName)
			})
		}
	})
	t.Run("ManifestChecksum", func(t *testing.T) {
		e := newEncryptedForErrors(t)
		p := filepath.Join(e.backup, format.ManifestName)
		b, _ := os.ReadFile(p)
		b = bytes.Replace(b, []byte(`"schema_version": `), []byte(`"schema_version":  `), 1)
		os.WriteFile(p, b, 0o600)
		_, err := backup.Restore(ctx, backup.RestoreOptions{Backup: e.backup, DataDir: e.target, Local: sqlite.Local{}, Keys: format.NewKeys(e.id)})
		if !errors.Is(err, backup.ErrChecksumMismatch) || !strings.Contains(err.Error(), format.ManifestName) {
			t.Fatalf("Restore: %v", err)
		}
	})
}

func TestEncryptedIncremental(t *testing.T) {
	root := t.TempDir()
	data := backuptest.NewDataDir(t, filepath.Join(root, "data"))
	backuptest.Seed(t, data)
	id, other := newIdentity(t), newIdentity(t)
	folder := filepath.Join(root, "backup")
	sameFile := func(a, b *backup.Result) int {
		n := 0
		for _, f := range b.Manifest.Public().Files {
			fa, err1 := os.Stat(filepath.Join(a.Path, filepath.FromSlash(f.Path)))
			fb, err2 := os.Stat(filepath.Join(b.Path, filepath.FromSlash(f.Path)))
			if err1 == nil && err2 == nil && os.SameFile(fa, fb) {
				n++
			}
		}
		return n
	}

	// Every file but the sealed part: the tables, by their link index
	// (TestSegments_Incremental/*/Encrypted links some and not others),
	// and both blobs.
	b1 := mustCreateEncrypted(t, data.Dir.Path(), folder, toRecipients(id, other))
	all := len(b1.Manifest.Files)
	// Same recipients, in another order: linked.
	b2 := mustCreateEncrypted(t, data.Dir.Path(), folder, toRecipients(other, id))
	if b2.Manifest.Stats.FilesLinked != int64(all) || b2.Manifest.Stats.FilesWritten != 0 || b2.Manifest.Previous != b1.Name || sameFile(b1, b2) != all {
		t.Fatalf("second backup to the same recipients: stats %+v, previous %q, %d files shared",
			b2.Manifest.Stats, b2.Manifest.Previous, sameFile(b1, b2))
	}
	mustRestore(t, b2.Path, filepath.Join(root, "r2"), backup.RestoreOptions{Local: sqlite.Local{}, Keys: format.NewKeys(other)})

	// Other recipients: nothing linked, and the old recipients cannot
	// read the new backup.
	b3 := mustCreateEncrypted(t, data.Dir.Path(), folder, toRecipients(id))
	if b3.Manifest.Stats.FilesLinked != 0 || b3.Manifest.Previous != "" || sameFile(b2, b3) != 0 {
		t.Fatalf("backup to other recipients: stats %+v, %d files shared", b3.Manifest.Stats, sameFile(b2, b3))
	}
	if _, err := backup.OpenReader(b3.Path, format.NewKeys(other)); !errors.Is(err, backup.ErrWrongKey) {
		t.Fatalf("OpenReader with a former recipient: %v", err)
	}

	// A plain backup links nothing from an encrypted one, nor the
	// reverse.
	b4 := mustCreate(t, data.Dir.Path(), folder, nil)
	if b4.Manifest.Stats.FilesLinked != 0 {
		t.Fatalf("plain after encrypted: %+v", b4.Manifest.Stats)
	}
	b5 := mustCreateEncrypted(t, data.Dir.Path(), folder, toRecipients(id))
	if b5.Manifest.Stats.FilesLinked != 0 {
		t.Fatalf("encrypted after plain: %+v", b5.Manifest.Stats)
	}

	// Passphrase: the same passphrase links, another does not.
	p1 := mustCreateEncrypted(t, data.Dir.Path(), folder, withPassphrase("one passphrase"))
	p2 := mustCreateEncrypted(t, data.Dir.Path(), folder, withPassphrase("one passphrase"))
	if p2.Manifest.Stats.FilesLinked != int64(all) || sameFile(p1, p2) != all {
		t.Fatalf("same passphrase: %+v", p2.Manifest.Stats)
	}
	p3 := mustCreateEncrypted(t, data.Dir.Path(), folder, withPassphrase("another passphrase"))
	if p3.Manifest.Stats.FilesLinked != 0 || len(p3.Warnings) != 1 || !strings.Contains(p3.Warnings[0], "another passphrase") {
		t.Fatalf("other passphrase: %+v, warnings %q", p3.Manifest.Stats, p3.Warnings)
	}
	for _, c := range []struct {
		res  *backup.Result
		keys *format.Keys
	}{{p2, passphraseKeys(t, "one passphrase")}, {p3, passphraseKeys(t, "another passphrase")}} {
		if _, err := backup.Verify(context.Background(), c.res.Path, backup.VerifyOptions{Keys: c.keys}); err != nil {
			t.Fatalf("Verify %s: %v", c.res.Name, err)
		}
	}
	if _, err := backup.OpenReader(p3.Path, passphraseKeys(t, "one passphrase")); !errors.Is(err, backup.ErrWrongKey) {
		t.Fatalf("OpenReader with the first passphrase: %v", err)
	}

	// The list shows every backup without a key.
	infos, err := backup.Folder{Path: folder}.Backups()
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 8 {
		t.Fatalf("List: %d backups, want 8", len(infos))
	}
	for _, in := range infos {
		if in.Err != nil {
			t.Fatalf("List: %s: %v", in.Name, in.Err)
		}
	}
}

// TestEncryptedLinkedBlobsNotRead: a blob the previous backup holds is
// linked without reading the live blob, encrypted as plain: its encoding
// need not be decided again. The live blobs are made unreadable (their
// shard directories removed) after the first backup: a backup that read
// one would fail.
func TestEncryptedLinkedBlobsNotRead(t *testing.T) {
	for _, c := range encryptionCases(t) {
		enc, _ := c.enc()
		root := t.TempDir()
		data := backuptest.NewDataDir(t, filepath.Join(root, "data"))
		backuptest.Seed(t, data)
		folder := filepath.Join(root, "backup")
		create := func() (*backup.Result, error) {
			return backup.Create(context.Background(), backup.CreateOptions{Local: sqlite.Local{}, DataDir: data.Dir.Path(), Folder: folder, Encrypt: enc})
		}
		b1, err := create()
		if err != nil {
			t.Fatal(err)
		}
		blobs := data.Dir.Blobs()
		if err := os.Rename(blobs, blobs+".away"); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(blobs, 0o700); err != nil {
			t.Fatal(err)
		}
		b2, err := create()
		if err != nil {
			t.Fatalf("encrypted %v: a backup that links every blob read the live store: %v", enc != nil, err)
		}
		if st := b2.Manifest.Stats; st.Blobs != b1.Manifest.Stats.Blobs || st.FilesWritten != 0 {
			t.Fatalf("encrypted %v: second backup %+v, want every blob linked", enc != nil, st)
		}
	}
}

// otherBase64Char returns a base64 character other than c.
func otherBase64Char(c string) string {
	if c == "A" {
		return "B"
	}
	return "A"
}

// TestEncryptedLinksAltered: a previous backup whose link index was
// altered (and its manifest's checksum recomputed) links no table, and
// the new backup is whole.
func TestEncryptedLinksAltered(t *testing.T) {
	root := t.TempDir()
	data := backuptest.NewDataDir(t, filepath.Join(root, "data"))
	backuptest.Seed(t, data)
	id := newIdentity(t)
	folder := filepath.Join(root, "backup")
	b1 := mustCreateEncrypted(t, data.Dir.Path(), folder, toRecipients(id))
	if b1.Manifest.Public().Links == "" {
		t.Fatal("an encrypted backup without a link index")
	}
	rewriteManifest(t, b1.Path, func(m *format.Manifest) {
		m.Links = m.Links[:len(m.Links)/2] + otherBase64Char(m.Links[len(m.Links)/2:len(m.Links)/2+1]) + m.Links[len(m.Links)/2+1:]
	})
	b2 := mustCreateEncrypted(t, data.Dir.Path(), folder, toRecipients(id))
	if got := b2.Manifest.Stats; got.FilesLinked != got.Blobs || got.FilesWritten != int64(len(b2.Manifest.Files))-got.Blobs {
		t.Fatalf("after an altered link index: %+v, want only the %d blobs linked", got, got.Blobs)
	}
	mustRestore(t, b2.Path, filepath.Join(root, "restored"), backup.RestoreOptions{Local: sqlite.Local{}, Keys: format.NewKeys(id)})
}

func TestLoadKeys(t *testing.T) {
	dir := t.TempDir()
	id := newIdentity(t)
	idFile := filepath.Join(dir, "id.txt")
	os.WriteFile(idFile, []byte("# created: today\n# public key: "+id.Recipient().String()+"\n"+id.String()+"\n"), 0o600)
	keys, err := format.LoadKeys(idFile, "")
	if err != nil || len(keys.Identities) != 1 {
		t.Fatalf("LoadKeys(identity): %v", err)
	}
	if keys, err := format.LoadKeys("", ""); keys != nil || err != nil {
		t.Fatalf("LoadKeys of nothing: %v, %v", keys, err)
	}
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\n\n"), 0o600)
	if _, err := format.LoadKeys("", empty); !errors.Is(err, backup.ErrKeyFile) {
		t.Fatalf("empty passphrase: %v", err)
	}
	if _, err := format.LoadKeys(empty, ""); !errors.Is(err, backup.ErrKeyFile) {
		t.Fatalf("identity file without identities: %v", err)
	}
	if _, err := format.LoadKeys(filepath.Join(dir, "missing"), ""); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing identity file: %v", err)
	}
	rs, err := format.LoadRecipients([]string{id.Recipient().String()}, "")
	if err != nil || len(rs) != 1 {
		t.Fatalf("LoadRecipients: %v", err)
	}
	if _, err := format.LoadRecipients([]string{id.String()}, ""); !errors.Is(err, backup.ErrKeyFile) || strings.Contains(err.Error(), id.String()) {
		t.Fatalf("LoadRecipients of an identity: %v (must not echo it)", err)
	}
}

func sha256hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
