package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/bitnobi/bitnobi/backup"
	"github.com/bitnobi/bitnobi/backup/backuptest"
	"github.com/bitnobi/bitnobi/backup/format"
	"github.com/bitnobi/bitnobi/internal/datadir"
	"github.com/bitnobi/bitnobi/internal/testutil"
)

func init() {
	// scrypt at age's default cost takes a second, ten under -race.
	scryptWorkFactor = 10
}

// writeIdentity generates an age identity and writes it as age-keygen
// does; it returns the file and the public key.
func writeIdentity(t *testing.T, dir, name string) (path, recipient string) {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(dir, name)
	text := "# public key: " + id.Recipient().String() + "\n" + id.String() + "\n"
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, id.Recipient().String()
}

func TestEncryptedBackupCommands(t *testing.T) {
	root, dataDir := seededDataDir(t)
	idFile, recipient := writeIdentity(t, root, "backup-key.txt")
	otherID, _ := writeIdentity(t, root, "other-key.txt")
	folder := filepath.Join(root, "backup")

	code, out, errOut := runMain(t, nil, "backup", "--data-dir", dataDir, "--encrypt", "--recipient", recipient)
	if code != ExitOK {
		t.Fatalf("backup --encrypt exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	path := testutil.LastLine(out)
	if !strings.Contains(errOut, "encrypted and carries the master key") || strings.Contains(errOut, "off-site") {
		t.Fatalf("the note does not say the backup carries the key:\n%s", errOut)
	}

	// backups list, without any key: versions, sizes, encrypted.
	code, out, errOut = runMain(t, nil, "backups", "list", "--backup-dir", folder, "--json")
	if code != ExitOK {
		t.Fatalf("list exit %d\n%s\n%s", code, out, errOut)
	}
	var entries []struct {
		Name          string `json:"name"`
		AppVersion    string `json:"app_version"`
		SchemaVersion int    `json:"schema_version"`
		Encrypted     bool   `json:"encrypted"`
		Size          int64  `json:"size"`
		Error         string `json:"error"`
	}
	if err := json.Unmarshal([]byte(out), &entries); err != nil {
		t.Fatalf("list --json: %v\n%s", err, out)
	}
	if len(entries) != 1 || !entries[0].Encrypted || entries[0].AppVersion == "" || entries[0].SchemaVersion < 1 || entries[0].Size == 0 || entries[0].Error != "" {
		t.Fatalf("list --json: %+v", entries)
	}
	code, out, _ = runMain(t, nil, "backups", "list", "--backup-dir", folder)
	if code != ExitOK || !strings.Contains(out, filepath.Base(path)) || !strings.Contains(out, "yes") {
		t.Fatalf("list exit %d:\n%s", code, out)
	}

	// verify: without the key the ciphertext only, and it says so.
	code, out, errOut = runMain(t, nil, "backups", "verify", "--backup-dir", folder, filepath.Base(path))
	if code != ExitOK || !strings.Contains(out, "ciphertext only") || !strings.Contains(out, "--identity") {
		t.Fatalf("verify without key exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	code, out, errOut = runMain(t, nil, "backups", "verify", "--backup-dir", folder, filepath.Base(path), "--identity", idFile)
	if code != ExitOK || strings.Contains(out, "ciphertext only") || !strings.Contains(out, "rows") {
		t.Fatalf("verify with key exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	code, _, errOut = runMain(t, nil, "backups", "verify", "--backup-dir", folder, filepath.Base(path), "--identity", otherID)
	if code != ExitUsage || !strings.Contains(errOut, format.SealedName) {
		t.Fatalf("verify with another identity: exit %d, want %d\n%s", code, ExitUsage, errOut)
	}

	// restore on a new machine: no master key anywhere but the backup;
	// the identity from the environment.
	target := filepath.Join(t.TempDir(), "bitnobi-data")
	env := map[string]string{EnvIdentityFile: idFile, EnvKeyFile: filepath.Join(root, "nowhere.key")}
	code, out, errOut = runMain(t, env, "restore", path, "--data-dir", target)
	if code != ExitOK {
		t.Fatalf("restore exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	r := backuptest.Open(t, target)
	var secretID string
	if err := r.DB.Read.QueryRow(`SELECT secret_id FROM email_settings WHERE id = 1`).Scan(&secretID); err != nil {
		t.Fatal(err)
	}
	if got, err := r.DB.RevealSecret(context.Background(), secretID); err != nil || got != "smtp-password" {
		t.Fatalf("SMTP password after restore: %q, %v", got, err)
	}
	r.Close()
}

func TestEncryptedBackupCommands_Passphrase(t *testing.T) {
	root, dataDir := seededDataDir(t)
	pass := filepath.Join(root, "passphrase.txt")
	os.WriteFile(pass, []byte("a long passphrase\n"), 0o600)
	path := mustBackup(t, dataDir, "--encrypt", "--passphrase-file", pass)
	// The passphrase file from the environment, for backup and restore.
	env := map[string]string{EnvPassphraseFile: pass}
	code, out, errOut := runMain(t, env, "backup", "--data-dir", dataDir, "--encrypt")
	// Nothing changed: every file is linked (tables by the link index).
	if code != ExitOK || !strings.Contains(out, "written 0 B in 0 files") || !strings.Contains(out, "files from "+filepath.Base(path)) {
		t.Fatalf("second backup, passphrase from the environment: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	second := testutil.LastLine(out)
	r, err := backup.OpenReader(second, mustLoadKeys(t, "", pass))
	if err != nil {
		t.Fatalf("second backup: %v", err)
	}
	if mf := r.Manifest(); mf.Stats.FilesLinked != int64(len(mf.Files)) || mf.Stats.FilesWritten != 0 {
		t.Fatalf("second backup: stats %+v", mf)
	}
	code, out, errOut = runMain(t, env, "restore", second, "--data-dir", filepath.Join(root, "restored"))
	if code != ExitOK {
		t.Fatalf("restore exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	wrong := filepath.Join(root, "wrong.txt")
	os.WriteFile(wrong, []byte("not the passphrase\n"), 0o600)
	code, _, errOut = runMain(t, nil, "restore", second, "--data-dir", filepath.Join(root, "r2"), "--passphrase-file", wrong)
	if code != ExitUsage || !strings.Contains(errOut, format.SealedName) || !strings.Contains(errOut, "Try: ") {
		t.Fatalf("wrong passphrase: exit %d\n%s", code, errOut)
	}
}

func mustLoadKeys(t *testing.T, identity, passphrase string) *format.Keys {
	t.Helper()
	keys, err := format.LoadKeys(identity, passphrase)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func TestEncryptedRestoreCommand_ExitCodes(t *testing.T) {
	root, dataDir := seededDataDir(t)
	idFile, recipient := writeIdentity(t, root, "key.txt")
	otherID, _ := writeIdentity(t, root, "other.txt")
	path := mustBackup(t, dataDir, "--encrypt", "--recipient", recipient)
	m, err := format.ReadManifest(path)
	if err != nil {
		t.Fatal(err)
	}
	var victim string
	for _, f := range m.Files {
		if strings.HasPrefix(f.Path, "blobs/") {
			victim = f.Path
		}
	}
	tampered := filepath.Join(root, "tampered")
	if err := os.CopyFS(tampered, os.DirFS(path)); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(tampered, filepath.FromSlash(victim))
	data, _ := os.ReadFile(p)
	data[len(data)-3] ^= 1
	os.WriteFile(p, data, 0o600)

	// The target: an existing data directory, which must stay as it is.
	target := filepath.Join(root, "target")
	backuptest.NewDataDir(t, target).Close()
	keyBefore, _ := os.ReadFile(datadir.Dir(target).Key())

	for _, tt := range []struct {
		name   string
		args   []string
		want   int
		naming string
	}{
		{"MissingIdentity", []string{"restore", path}, ExitUsage, "--identity"},
		{"WrongIdentity", []string{"restore", path, "--identity", otherID}, ExitUsage, format.SealedName},
		{"IdentityFileMissing", []string{"restore", path, "--identity", filepath.Join(root, "nope.txt")}, ExitUsage, "nope.txt"},
		{"Tampered", []string{"restore", tampered, "--identity", idFile}, ExitVerify, victim},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runMain(t, nil, append(tt.args, "--data-dir", target)...)
			if code != tt.want {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.want, out, errOut)
			}
			if !strings.Contains(errOut, tt.naming) || !strings.Contains(errOut, "Try: ") {
				t.Fatalf("stderr does not name %q or give a hint:\n%s", tt.naming, errOut)
			}
			if key, _ := os.ReadFile(datadir.Dir(target).Key()); string(key) != string(keyBefore) {
				t.Fatal("the data directory's master key changed")
			}
			if _, err := os.Stat(target + ".restore-staging"); err == nil {
				t.Fatal("staging directory left behind")
			}
		})
	}
}

func TestBackupCommand_EncryptFlags(t *testing.T) {
	root, dataDir := seededDataDir(t)
	idFile, recipient := writeIdentity(t, root, "key.txt")
	identity, _ := os.ReadFile(idFile)
	secretLine := strings.TrimSpace(strings.Split(string(identity), "\n")[1])
	pass := filepath.Join(root, "pass.txt")
	os.WriteFile(pass, []byte("secret words\n"), 0o600)
	for _, tt := range []struct {
		name   string
		args   []string
		naming string
	}{
		{"RecipientWithoutEncrypt", []string{"--recipient", recipient}, "need --encrypt"},
		{"EncryptWithoutKey", []string{"--encrypt"}, "--encrypt needs"},
		{"RecipientAndPassphrase", []string{"--encrypt", "--recipient", recipient, "--passphrase-file", pass}, "not both"},
		{"IdentityAsRecipient", []string{"--encrypt", "--recipient", secretLine}, "not an age public key"},
		{"BadRecipientsFile", []string{"--encrypt", "--recipients-file", pass}, "recipients file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runMain(t, nil, append([]string{"backup", "--data-dir", dataDir}, tt.args...)...)
			if code != ExitUsage || !strings.Contains(errOut, tt.naming) {
				t.Fatalf("exit %d, want %d naming %q\nstdout: %s\nstderr: %s", code, ExitUsage, tt.naming, out, errOut)
			}
			if strings.Contains(errOut, secretLine) {
				t.Fatalf("the error prints the identity:\n%s", errOut)
			}
		})
	}
	if entries, _ := os.ReadDir(filepath.Join(root, "backup")); len(entries) > 1 {
		t.Fatalf("refused backups wrote something: %v", entries)
	}
	// A recipients file works.
	rf := filepath.Join(root, "recipients.txt")
	os.WriteFile(rf, []byte("# team\n"+recipient+"\n"), 0o600)
	path := mustBackup(t, dataDir, "--encrypt", "--recipients-file", rf)
	if _, err := backup.OpenReader(path, mustLoadKeys(t, idFile, "")); err != nil {
		t.Fatal(err)
	}
}
