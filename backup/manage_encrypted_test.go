package backup_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"

	"filippo.io/age"

	"github.com/bitnobi/bitnobi/backup"
	"github.com/bitnobi/bitnobi/backup/format"
	"github.com/bitnobi/bitnobi/sqlite"
)

// TestManage_Encrypted runs list, inspect, diff, export, import and deep
// verification on an encrypted backup.
func TestManage_Encrypted(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	res, err := backup.Create(ctx, backup.CreateOptions{Local: sqlite.Local{}, DataDir: f.data.Dir.Path(), Folder: filepath.Join(f.root, "encrypted"),
		Encrypt: &format.EncryptOptions{Recipients: []age.Recipient{id.Recipient()}}})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	keys := format.NewKeys(id)

	entries, err := backup.Folder{Path: filepath.Dir(res.Path)}.Entries()
	if err != nil || len(entries) != 1 || !entries[0].Encrypted || entries[0].Kind != backup.KindBackup {
		t.Fatalf("Scan=%+v, %v; want one encrypted backup", entries, err)
	}
	if _, err := backup.OpenReader(res.Path, nil); !errors.Is(err, backup.ErrKeyRequired) {
		t.Fatalf("OpenReader without keys: %v, want ErrKeyRequired", err)
	}
	r, err := backup.OpenReader(res.Path, keys)
	if err != nil {
		t.Fatal(err)
	}
	in, err := backup.Inspect(ctx, r)
	if err != nil || len(in.Users) != 3 || in.InstanceID == "" {
		t.Fatalf("Inspect=%+v, %v", in, err)
	}
	plain, err := backup.OpenReader(f.res.Path, nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := backup.Diff(ctx, plain, r, backup.DiffOptions{Limit: 5})
	if err != nil || d.Changed() {
		t.Fatalf("Diff of a plain and an encrypted backup of one state: %+v, %v", d, err)
	}

	var buf bytes.Buffer
	if _, err := backup.Export(ctx, res.Path, &buf, true); err != nil {
		t.Fatalf("Export: %v", err)
	}
	imp, err := backup.Import(ctx, bytes.NewReader(buf.Bytes()), backup.ImportOptions{
		Folder: filepath.Join(t.TempDir(), "backup"), UnpackOptions: backup.UnpackOptions{Keys: keys}})
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	if _, err := backup.Verify(ctx, imp.Path, backup.VerifyOptions{Deep: true, Local: sqlite.Local{}, Keys: keys, TempDir: t.TempDir()}); err != nil {
		t.Fatalf("Verify --deep of the imported encrypted backup: %v", err)
	}
	other, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := backup.Verify(ctx, imp.Path, backup.VerifyOptions{Deep: true, Local: sqlite.Local{}, Keys: format.NewKeys(other), TempDir: t.TempDir()}); !errors.Is(err, backup.ErrWrongKey) || errors.Is(err, backup.ErrVerify) {
		t.Fatalf("Verify --deep with the wrong identity: %v, want ErrWrongKey and not ErrVerify", err)
	}
}
